import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { hashSecret, secretsEqual } from './secrets.ts';
import { normalizeEmail } from './users.ts';

/** How long a sign-in may take between the redirect to the provider and its return. */
export const OIDC_REQUEST_MINUTES = 10;

/** What the start of a sign-in keeps for its return: the nonce, the PKCE verifier and where to go next. */
export interface OidcSignInRequest {
  nonce: string;
  codeVerifier: string;
  nextPath: string;
}

/** Records a sign-in in progress under the hash of its state and of the browser's cookie. */
export async function saveOidcSignInRequest(
  db: Queryable,
  input: OidcSignInRequest & { state: string; browser: string },
): Promise<void> {
  await db.query(`DELETE FROM oidc_sign_in_requests WHERE expires_at < now() - interval '1 day'`);
  await db.query(
    `INSERT INTO oidc_sign_in_requests (state_hash, browser_hash, nonce, code_verifier, next_path, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + $6::int * interval '1 minute')`,
    [
      hashSecret(input.state),
      hashSecret(input.browser),
      input.nonce,
      input.codeVerifier,
      input.nextPath,
      OIDC_REQUEST_MINUTES,
    ],
  );
}

/**
 * Takes a sign-in in progress once, by its state: a second use (a replay), an expired one, or one
 * started in another browser (its cookie's hash differs) is refused OIDC_STATE_INVALID. The row is
 * marked used in the same statement, so two concurrent returns cannot both take it.
 */
export async function takeOidcSignInRequest(
  db: Queryable,
  state: string,
  browser: string | undefined,
): Promise<OidcSignInRequest> {
  const { rows } = await db.query<{ browser_hash: string; nonce: string; code_verifier: string; next_path: string }>(
    `UPDATE oidc_sign_in_requests SET used_at = now()
      WHERE state_hash = $1 AND used_at IS NULL AND expires_at > now()
      RETURNING browser_hash, nonce, code_verifier, next_path`,
    [hashSecret(state)],
  );
  const r = rows[0];
  if (!r) {
    throw new DomainError(
      'OIDC_STATE_INVALID',
      'This sign-in has expired or was already used. Start again with the button below.',
    );
  }
  if (!browser || !secretsEqual(hashSecret(browser), r.browser_hash)) {
    throw new DomainError(
      'OIDC_STATE_INVALID',
      'This sign-in was started in another browser (or its cookie was lost). Start again with the button below.',
    );
  }
  return { nonce: r.nonce, codeVerifier: r.code_verifier, nextPath: r.next_path };
}

/**
 * The e-mail of the user `userForOidcIdentity` would sign this identity in as, without linking or
 * touching anything; null when there is none. The sign-in throttle counts the attempt against
 * that account before the sign-in's own transaction, which may then link it.
 */
export async function oidcAccountEmail(
  db: Queryable,
  identity: { issuer: string; subject: string; email: string },
): Promise<string | null> {
  const { rows } = await db.query<{ email: string }>(
    `SELECT email FROM (
       SELECT u.email, 1 AS rank FROM user_oidc_links l JOIN users u ON u.id = l.user_id
        WHERE l.issuer = $1 AND l.subject = $2
       UNION ALL
       SELECT u.email, 2 FROM users u
        WHERE u.email = $3
          AND EXISTS (SELECT 1 FROM user_memberships m WHERE m.user_id = u.id AND m.disabled_at IS NULL)
     ) found ORDER BY rank LIMIT 1`,
    [identity.issuer, identity.subject, normalizeEmail(identity.email)],
  );
  return rows[0]?.email ?? null;
}

/**
 * The user a provider's identity signs in: the one linked to (issuer, subject) by an earlier sign-in,
 * else the user with this verified e-mail (then linked, so a later change of e-mail at the provider
 * still finds them). Null when neither exists: there is no self sign-up.
 */
export async function userForOidcIdentity(
  db: Queryable,
  identity: { issuer: string; subject: string; email: string },
): Promise<{ id: string; email: string } | null> {
  const linked = await db.query<{ id: string; email: string }>(
    `UPDATE user_oidc_links l SET last_used_at = now() FROM users u
      WHERE l.issuer = $1 AND l.subject = $2 AND u.id = l.user_id
      RETURNING u.id, u.email`,
    [identity.issuer, identity.subject],
  );
  if (linked.rows[0]) return linked.rows[0];
  // Only a user who may sign in somewhere is linked: a disabled or removed one gets no link to keep.
  const { rows } = await db.query<{ id: string; email: string }>(
    `SELECT u.id, u.email FROM users u
      WHERE u.email = $1
        AND EXISTS (SELECT 1 FROM user_memberships m WHERE m.user_id = u.id AND m.disabled_at IS NULL)`,
    [normalizeEmail(identity.email)],
  );
  const user = rows[0];
  if (!user) return null;
  await db.query(
    `INSERT INTO user_oidc_links (issuer, subject, user_id) VALUES ($1, $2, $3) ON CONFLICT (issuer, subject) DO NOTHING`,
    [identity.issuer, identity.subject, user.id],
  );
  return user;
}
