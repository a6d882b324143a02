import { createHash } from 'node:crypto';
import type { Queryable } from '../../db/database.ts';
import type { SecretBox } from '../secrets.ts';

/*
 * The `oauth_connections` table (migration 0058): one OAuth 2.0 connection per pipeline, its
 * tokens sealed with the server's SecretBox. The token source (oauth.ts) refreshes through it and
 * the connection routes (src/api/routes/connections.ts) store and show it; no token ever leaves
 * this module in clear except to the one that asked for it.
 */

/** A connection as stored, tokens still sealed. */
export interface ConnectionRow {
  access_token: string | null;
  refresh_token: string | null;
  expires_at: Date | null;
  tenant_id: string | null;
  tenant_name: string | null;
  scopes: string | null;
  status: 'active' | 'revoked';
  revoked_reason: string | null;
  revoked_at: Date | null;
  origin: 'oauth' | 'settings';
  settings_token_digest: string | null;
  connected_at: Date;
  refreshed_at: Date | null;
  /** Why the last refresh failed while keeping the grant (cleared by a successful one). */
  last_refresh_error: string | null;
  last_refresh_error_at: Date | null;
  /** Whether a worker holds the refresh claim right now (by the database's clock). */
  claimed: boolean;
}

/** How a refresh token given in a pipeline's settings is recognised again without keeping it in clear. */
export function settingsTokenDigest(refreshToken: string): string {
  return createHash('sha256').update(refreshToken, 'utf8').digest('hex');
}

export async function readConnection(db: Queryable, pipelineId: string): Promise<ConnectionRow | null> {
  const { rows } = await db.query<ConnectionRow>(
    `SELECT access_token, refresh_token, expires_at, tenant_id, tenant_name, scopes, status, revoked_reason, revoked_at,
            origin, settings_token_digest, connected_at, refreshed_at, last_refresh_error, last_refresh_error_at,
            coalesce(refresh_claimed_until > now(), false) AS claimed
       FROM oauth_connections WHERE pipeline_id = $1`,
    [pipelineId],
  );
  return rows[0] ?? null;
}

/**
 * Seeds the connection from the refresh token of the pipeline's settings (the YAML way to
 * connect): when there is none yet, or when the settings hold a refresh token other than the one
 * the connection was last seeded from or connected beside (the user pasted a new one). The same,
 * already used, value never seeds again. Returns whether it seeded.
 */
export async function seedFromSettings(
  db: Queryable,
  box: SecretBox,
  pipelineId: string,
  refreshToken: string,
): Promise<boolean> {
  const digest = settingsTokenDigest(refreshToken);
  const { rowCount } = await db.query(
    `INSERT INTO oauth_connections AS c (pipeline_id, refresh_token, origin, settings_token_digest)
     VALUES ($1, $2, 'settings', $3)
     ON CONFLICT (pipeline_id) DO UPDATE
        SET refresh_token = EXCLUDED.refresh_token, access_token = NULL, expires_at = NULL, tenant_id = NULL,
            tenant_name = NULL, scopes = NULL, status = 'active', revoked_reason = NULL, revoked_at = NULL,
            origin = 'settings', settings_token_digest = EXCLUDED.settings_token_digest, connected_at = now(),
            refreshed_at = NULL, refresh_claimed_until = NULL, last_refresh_error = NULL, last_refresh_error_at = NULL
      WHERE c.settings_token_digest IS DISTINCT FROM EXCLUDED.settings_token_digest`,
    [pipelineId, box.encrypt(refreshToken), digest],
  );
  return rowCount > 0;
}

/** What a completed consent (the callback's code exchange) stores. */
export interface NewConnection {
  pipelineId: string;
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
  tenantId: string;
  tenantName: string | null;
  scopes: string | null;
  /** The refresh token the pipeline's settings hold, if any: it is the old way in, not to seed over this one. */
  settingsRefreshToken: string | null;
}

/** Stores (or replaces) a pipeline's connection after a consent, tokens sealed, in one statement. */
export async function storeConnection(db: Queryable, box: SecretBox, c: NewConnection): Promise<void> {
  await db.query(
    `INSERT INTO oauth_connections AS c (pipeline_id, access_token, refresh_token, expires_at, tenant_id, tenant_name,
            scopes, origin, settings_token_digest)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'oauth', $8)
     ON CONFLICT (pipeline_id) DO UPDATE
        SET access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token,
            expires_at = EXCLUDED.expires_at, tenant_id = EXCLUDED.tenant_id, tenant_name = EXCLUDED.tenant_name,
            scopes = EXCLUDED.scopes, status = 'active', revoked_reason = NULL, revoked_at = NULL, origin = 'oauth',
            settings_token_digest = EXCLUDED.settings_token_digest, connected_at = now(), refreshed_at = NULL,
            refresh_claimed_until = NULL, last_refresh_error = NULL, last_refresh_error_at = NULL`,
    [
      c.pipelineId,
      box.encrypt(c.accessToken),
      box.encrypt(c.refreshToken),
      c.expiresAt,
      c.tenantId,
      c.tenantName,
      c.scopes,
      c.settingsRefreshToken === null ? null : settingsTokenDigest(c.settingsRefreshToken),
    ],
  );
}

/**
 * Forgets a connection's tokens: it reads as revoked with `reason` until it is connected again.
 * With `ifRefreshToken` (the sealed value read), only while the connection still holds that token:
 * a reconnection meanwhile is never undone. Returns whether a row changed.
 */
export async function revokeConnection(
  db: Queryable,
  pipelineId: string,
  reason: string,
  ifRefreshToken?: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE oauth_connections
        SET status = 'revoked', revoked_reason = $2, revoked_at = now(), access_token = NULL, refresh_token = NULL,
            expires_at = NULL, refresh_claimed_until = NULL
      WHERE pipeline_id = $1 AND status = 'active' AND ($3::text IS NULL OR refresh_token = $3)`,
    [pipelineId, reason.slice(0, 500), ifRefreshToken ?? null],
  );
  return rowCount > 0;
}

/**
 * Takes the refresh claim for `claimMs` when no other worker holds it and the connection still
 * holds the refresh token that was read (sealed): nobody refreshed in between.
 */
export async function claimRefresh(
  db: Queryable,
  pipelineId: string,
  sealedRefreshToken: string,
  claimMs: number,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE oauth_connections SET refresh_claimed_until = now() + make_interval(secs => $3::double precision / 1000)
      WHERE pipeline_id = $1 AND status = 'active' AND refresh_token = $2
        AND (refresh_claimed_until IS NULL OR refresh_claimed_until <= now())`,
    [pipelineId, sealedRefreshToken, claimMs],
  );
  return rowCount > 0;
}

/**
 * Gives the claim back without a change to the tokens (the token endpoint failed in a way that keeps
 * the grant), recording why for the dashboard when `error` is given (a message without secrets).
 */
export async function releaseRefresh(
  db: Queryable,
  pipelineId: string,
  sealedRefreshToken: string,
  error?: string,
): Promise<void> {
  await db.query(
    `UPDATE oauth_connections SET refresh_claimed_until = NULL,
            last_refresh_error = coalesce($3, last_refresh_error),
            last_refresh_error_at = CASE WHEN $3::text IS NULL THEN last_refresh_error_at ELSE now() END
      WHERE pipeline_id = $1 AND refresh_token = $2`,
    [pipelineId, sealedRefreshToken, error === undefined ? null : error.slice(0, 500)],
  );
}

/**
 * Stores what a refresh returned, the new access token and the rotated refresh token together,
 * in one statement (its own transaction), and releases the claim. Returns false when the
 * connection no longer holds the refresh token that was sent (it was connected again meanwhile).
 */
export async function saveRefreshed(
  db: Queryable,
  box: SecretBox,
  pipelineId: string,
  sentSealed: string,
  next: { accessToken: string; refreshToken: string; expiresAt: Date; scopes: string | null },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE oauth_connections
        SET access_token = $3, refresh_token = $4, expires_at = $5, scopes = coalesce($6, scopes),
            refreshed_at = now(), refresh_claimed_until = NULL, last_refresh_error = NULL, last_refresh_error_at = NULL
      WHERE pipeline_id = $1 AND status = 'active' AND refresh_token = $2`,
    [
      pipelineId,
      sentSealed,
      box.encrypt(next.accessToken),
      box.encrypt(next.refreshToken),
      next.expiresAt,
      next.scopes,
    ],
  );
  return rowCount > 0;
}
