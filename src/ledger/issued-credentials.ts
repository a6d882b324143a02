import type { Queryable } from '../db/database.ts';
import { hashSecret } from './secrets.ts';

/** The table that keeps each kind of bearer credential, by the prefix every one of them carries. */
const ISSUED_IN: ReadonlyArray<readonly [prefix: string, table: string, column: string]> = [
  ['llt_', 'sessions', 'token_hash'],
  ['lls_', 'user_sessions', 'token_hash'],
  ['llk_', 'user_api_keys', 'key_hash'],
];

/**
 * Whether a credential that was just refused is one this server issued (an entity session, a
 * browser session or a user API key that has ended, been revoked or lost its membership) rather
 * than one that matches nothing. Sessions are kept a day past their end and a session cookie lives
 * no longer than its session, so a browser still sending one is found here; revoked keys are kept.
 * Asked only after a refusal: a request that authenticates never pays for it.
 */
export async function wasIssued(db: Queryable, credential: string): Promise<boolean> {
  const where = ISSUED_IN.find(([prefix]) => credential.startsWith(prefix));
  if (!where) return false;
  const [, table, column] = where;
  const { rows } = await db.query(`SELECT 1 FROM ${table} WHERE ${column} = $1`, [hashSecret(credential)]);
  return rows.length > 0;
}
