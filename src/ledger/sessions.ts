import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { hashSecret, secretsEqual } from './secrets.ts';

export interface Session {
  entityId: string;
  credentialId: string;
}

/**
 * Logs in with an entity id and its key pair, AccountsIQ style. Any mismatch answers the same
 * INVALID_CREDENTIALS, so a caller learns nothing about which part was wrong.
 */
export async function login(
  db: Queryable,
  input: { entityId: string; partnerKey: string; userKey: string },
  ttlSeconds: number,
): Promise<{ token: string; expiresAt: string }> {
  const invalid = new DomainError('INVALID_CREDENTIALS');
  if (!/^[0-9a-f-]{36}$/i.test(input.entityId)) throw invalid;
  const { rows } = await db.query<{ id: string; partner_key_hash: string }>(
    `SELECT id, partner_key_hash FROM api_credentials
      WHERE entity_id = $1 AND user_key_hash = $2 AND revoked_at IS NULL`,
    [input.entityId, hashSecret(input.userKey)],
  );
  const credential = rows[0];
  if (!credential || !secretsEqual(credential.partner_key_hash, hashSecret(input.partnerKey))) throw invalid;
  const token = 'llt_' + randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
  await db.query(`INSERT INTO sessions (token_hash, entity_id, credential_id, expires_at) VALUES ($1, $2, $3, $4)`, [
    hashSecret(token),
    input.entityId,
    credential.id,
    expiresAt,
  ]);
  // Expired sessions are kept a day for diagnosis, then swept here rather than by a separate job.
  await db.query(`DELETE FROM sessions WHERE expires_at < now() - interval '1 day'`);
  return { token, expiresAt: expiresAt.toISOString() };
}

/** Resolves a bearer token; throws UNAUTHORIZED or TOKEN_EXPIRED. */
export async function authenticate(db: Queryable, token: string): Promise<Session> {
  const { rows } = await db.query<{ entity_id: string; credential_id: string; expired: boolean; revoked: boolean }>(
    `SELECT s.entity_id, s.credential_id, s.expires_at <= now() AS expired, c.revoked_at IS NOT NULL AS revoked
       FROM sessions s JOIN api_credentials c ON c.id = s.credential_id
      WHERE s.token_hash = $1`,
    [hashSecret(token)],
  );
  const s = rows[0];
  if (!s || s.revoked) throw new DomainError('UNAUTHORIZED', 'The bearer token is not valid; log in again.');
  if (s.expired) throw new DomainError('TOKEN_EXPIRED');
  return { entityId: s.entity_id, credentialId: s.credential_id };
}

/** Ends a session at once (logout). */
export async function endSession(db: Queryable, token: string): Promise<void> {
  await db.query('DELETE FROM sessions WHERE token_hash = $1', [hashSecret(token)]);
}

export interface LoginThrottle {
  /** Failed logins allowed per subject within the window. */
  maxFailures: number;
  windowSeconds: number;
}

/**
 * Seconds until a subject (`entity:<id>`, `address:<ip>`) may try to log in again, or 0. A subject
 * with `maxFailures` failures in the last `windowSeconds` waits until the oldest of them leaves
 * the window. The count lives in the database, so every process shares it.
 */
export async function loginRetryAfter(db: Queryable, subjects: string[], throttle: LoginThrottle): Promise<number> {
  const { rows } = await db.query<{ wait: number }>(
    `SELECT ceil(extract(epoch FROM f.failed_at + $2::int * interval '1 second' - now()))::int AS wait
       FROM unnest($1::text[]) AS s(subject)
       CROSS JOIN LATERAL (
         SELECT failed_at FROM login_failures
          WHERE subject = s.subject AND failed_at > now() - $2::int * interval '1 second'
          ORDER BY failed_at DESC OFFSET $3::int - 1 LIMIT 1) f`,
    [subjects, throttle.windowSeconds, throttle.maxFailures],
  );
  return rows.reduce((longest, r) => Math.max(longest, Math.max(1, Number(r.wait))), 0);
}

/** Failed logins older than any window (at most a day) are of no more use. */
export async function purgeLoginFailures(db: Queryable): Promise<void> {
  await db.query(`DELETE FROM login_failures WHERE failed_at < now() - interval '1 day'`);
}
