import { createHash } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import type { AnyRoute } from './route.ts';

/**
 * What an `Idempotency-Key` does on a POST:
 * - `replay` (the default): the answer is stored and replayed for the same key and request until it expires;
 * - `secret`: the answer holds keys or tokens, so only the fact that it happened is stored and a
 *   replay answers 409 IDEMPOTENCY_REPLAY_OF_SECRET (nothing is issued again);
 * - `{ refuse }`: a key is refused with 400 IDEMPOTENCY_KEY_NOT_SUPPORTED, for the reason given;
 * - `{ ignore }`: the header is not used, for the reason given (webhooks: the sender's event id
 *   is the idempotency key).
 */
export type IdempotencyMode = 'replay' | 'secret' | { refuse: string } | { ignore: string };

/** The mode of a route; null for methods other than POST (PUT and DELETE are idempotent by nature). */
export function idempotencyModeOf(route: AnyRoute): IdempotencyMode | null {
  if (route.method !== 'POST') return null;
  return route.idempotency ?? 'replay';
}

/** What the API reference says about a route's Idempotency-Key. */
export function describeIdempotency(route: AnyRoute): string | null {
  const mode = idempotencyModeOf(route);
  if (mode === null) return null;
  if (mode === 'replay')
    return 'Takes an `Idempotency-Key`: a retry with the same key and request answers the stored response (24 hours by default) and does nothing again.';
  if (mode === 'secret')
    return 'Takes an `Idempotency-Key`, but the answer holds keys that are never stored: a retry with the same key answers 409 IDEMPOTENCY_REPLAY_OF_SECRET and issues nothing.';
  if ('refuse' in mode) return `Refuses an \`Idempotency-Key\` (400 IDEMPOTENCY_KEY_NOT_SUPPORTED): ${mode.refuse}`;
  return `Does not use an \`Idempotency-Key\`: ${mode.ignore}`;
}

/** A claimed key: whose it is, the request it stands for, and whether its answer may be stored. */
export interface IdempotencyClaim {
  scope: string;
  key: string;
  hash: string;
  secret: boolean;
}

export interface StoredOutcome {
  status: number;
  body: unknown;
  /** The `Location` header of the answer, replayed with it (where to follow a 202's work). */
  location?: string | null | undefined;
}

/** The fingerprint of a request: a retry must send the same method, path and body (or upload). */
export function requestHash(method: string, path: string, canonicalBody: string): string {
  return createHash('sha256').update(`${method} ${path} ${canonicalBody}`).digest('hex');
}

// A claim left in progress by a process that died is taken over after this long.
const STALE_CLAIM = "interval '15 minutes'";

/**
 * Claims `claim.key` for this request. Returns null when the request is to run (the key is new,
 * or its earlier use expired), or the earlier answer to replay; throws for a different request
 * under the same key, a request still running, or an answer that held secrets.
 */
export async function claimKey(
  db: Queryable,
  claim: IdempotencyClaim,
  route: { method: string; path: string },
  ttlSeconds: number,
): Promise<StoredOutcome | null> {
  const claimed = await db.query(
    `INSERT INTO idempotency_keys AS k (scope, key, method, path, request_hash, response_status, response_body, holds_secret, expires_at)
     VALUES ($1, $2, $3, $4, $5, 0, 'null', $6, now() + $7::int * interval '1 second')
     ON CONFLICT (scope, key) DO UPDATE
        SET method = EXCLUDED.method, path = EXCLUDED.path, request_hash = EXCLUDED.request_hash,
            response_status = 0, response_body = 'null', holds_secret = EXCLUDED.holds_secret,
            created_at = now(), expires_at = EXCLUDED.expires_at
      WHERE k.expires_at <= now() OR (k.response_status = 0 AND k.created_at < now() - ${STALE_CLAIM})
     RETURNING key`,
    [claim.scope, claim.key, route.method, route.path, claim.hash, claim.secret, ttlSeconds],
  );
  if (claimed.rows.length > 0) return null;
  const { rows } = await db.query<{
    request_hash: string;
    response_status: number;
    response_body: unknown;
    response_location: string | null;
    holds_secret: boolean;
  }>(
    `SELECT request_hash, response_status, response_body, response_location, holds_secret
       FROM idempotency_keys WHERE scope = $1 AND key = $2`,
    [claim.scope, claim.key],
  );
  const prior = rows[0];
  if (!prior) throw new DomainError('IDEMPOTENCY_REQUEST_IN_PROGRESS');
  if (prior.request_hash !== claim.hash) throw new DomainError('IDEMPOTENCY_KEY_REUSED');
  if (prior.response_status === 0) throw new DomainError('IDEMPOTENCY_REQUEST_IN_PROGRESS');
  if (prior.holds_secret) throw new DomainError('IDEMPOTENCY_REPLAY_OF_SECRET');
  return { status: prior.response_status, body: prior.response_body, location: prior.response_location };
}

/**
 * Stores the answer under the claimed key, with its `Location` header; an answer holding secrets is
 * recorded without either.
 */
export async function recordOutcome(db: Queryable, claim: IdempotencyClaim, outcome: StoredOutcome): Promise<void> {
  await db.query(
    `UPDATE idempotency_keys SET response_status = $3, response_body = $4, response_location = $5
      WHERE scope = $1 AND key = $2`,
    [
      claim.scope,
      claim.key,
      outcome.status,
      claim.secret ? 'null' : JSON.stringify(outcome.body ?? null),
      claim.secret ? null : (outcome.location ?? null),
    ],
  );
}

/** Frees a claim whose request failed, so that a retry runs it (a failure is not replayed). */
export async function releaseKey(db: Queryable, claim: IdempotencyClaim): Promise<void> {
  await db.query('DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND response_status = 0', [
    claim.scope,
    claim.key,
  ]);
}

/**
 * Deletes expired idempotency records, a batch at a time so that no statement holds many locks.
 * Returns how many went. (An expired record is never replayed even before it is purged.)
 */
export async function purgeExpired(db: Queryable, batch = 1000): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await db.query(
      `DELETE FROM idempotency_keys WHERE (scope, key) IN
         (SELECT scope, key FROM idempotency_keys WHERE expires_at <= now() LIMIT $1)`,
      [batch],
    );
    total += rowCount;
    if (rowCount < batch) break;
  }
  return total;
}
