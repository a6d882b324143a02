import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import { lesserRole, type Role } from '../domain/roles.ts';
import { hashSecret } from './secrets.ts';

/** How long a browser session lives: `idleSeconds` after its last request, never past `maxSeconds`. */
export interface SessionLifetime {
  idleSeconds: number;
  maxSeconds: number;
}

/** A signed-in user acting in one entity, with the role their membership gives now. */
export interface UserAccess {
  userId: string;
  email: string;
  entityId: string;
  role: Role;
}

/** A live browser session. */
export interface UserSession extends UserAccess {
  expiresAt: string;
  csrfToken: string;
}

/**
 * The session's CSRF token, derived from the session token itself: nothing more to store, it changes
 * with every session, and reading the database does not reveal it.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHash('sha256').update('ledgerlink-csrf\0').update(sessionToken).digest('base64url');
}

/** Opens a browser session for the user in an entity; the token goes into the cookie. */
export async function openUserSession(
  db: Queryable,
  userId: string,
  entityId: string,
  lifetime: SessionLifetime,
): Promise<{ token: string; expiresAt: string; csrfToken: string }> {
  const token = 'lls_' + randomBytes(32).toString('base64url');
  const max = new Date(Date.now() + lifetime.maxSeconds * 1000);
  await db.query(`INSERT INTO user_sessions (token_hash, user_id, entity_id, expires_at) VALUES ($1, $2, $3, $4)`, [
    hashSecret(token),
    userId,
    entityId,
    max,
  ]);
  await db.query('UPDATE users SET last_sign_in_at = now() WHERE id = $1', [userId]);
  await markSignedIn(db, userId, entityId);
  // Sessions past their end are kept a day for diagnosis, then swept here.
  await db.query(`DELETE FROM user_sessions WHERE expires_at < now() - interval '1 day'`);
  const idle = new Date(Date.now() + lifetime.idleSeconds * 1000);
  return { token, expiresAt: (idle < max ? idle : max).toISOString(), csrfToken: csrfTokenFor(token) };
}

/**
 * The session of a cookie token, or null when it is unknown, idle too long, past its end, or its
 * membership is disabled. A live session's idle clock restarts (at most once a minute, to spare writes).
 */
export async function resolveUserSession(
  db: Queryable,
  token: string,
  lifetime: SessionLifetime,
): Promise<UserSession | null> {
  if (!/^lls_[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const { rows } = await db.query<{
    user_id: string;
    email: string;
    entity_id: string;
    role: Role;
    expires_at: Date;
    stale: boolean;
  }>(
    `SELECT s.user_id, u.email, s.entity_id, m.role, s.expires_at,
            s.last_seen_at < now() - interval '60 seconds' AS stale
       FROM user_sessions s
       JOIN users u ON u.id = s.user_id
       JOIN user_memberships m ON m.user_id = s.user_id AND m.entity_id = s.entity_id AND m.disabled_at IS NULL
      WHERE s.token_hash = $1 AND s.expires_at > now()
        AND s.last_seen_at > now() - $2::int * interval '1 second'`,
    [hashSecret(token), lifetime.idleSeconds],
  );
  const s = rows[0];
  if (!s) return null;
  if (s.stale)
    await db.query('UPDATE user_sessions SET last_seen_at = now() WHERE token_hash = $1', [hashSecret(token)]);
  const idle = Date.now() + lifetime.idleSeconds * 1000;
  const max = new Date(s.expires_at).getTime();
  return {
    userId: s.user_id,
    email: s.email,
    entityId: s.entity_id,
    role: s.role,
    expiresAt: new Date(Math.min(idle, max)).toISOString(),
    csrfToken: csrfTokenFor(token),
  };
}

/** Ends a browser session at once (sign-out). */
export async function endUserSession(db: Queryable, token: string): Promise<void> {
  await db.query('DELETE FROM user_sessions WHERE token_hash = $1', [hashSecret(token)]);
}

/** Moves a session to another entity of its user (the membership is checked by the caller). */
export async function switchSessionEntity(db: Queryable, token: string, entityId: string): Promise<void> {
  const { rows } = await db.query<{ user_id: string }>(
    'UPDATE user_sessions SET entity_id = $2, last_seen_at = now() WHERE token_hash = $1 RETURNING user_id',
    [hashSecret(token), entityId],
  );
  if (rows[0]) await markSignedIn(db, rows[0].user_id, entityId);
}

/** Notes the user's sign-in to one entity: what that entity's owner sees, never their sign-ins elsewhere. */
async function markSignedIn(db: Queryable, userId: string, entityId: string): Promise<void> {
  await db.query('UPDATE user_memberships SET last_sign_in_at = now() WHERE user_id = $1 AND entity_id = $2', [
    userId,
    entityId,
  ]);
}

export interface ApiKeyInfo {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Issues a user API key in an entity; the key (`llk_…`) is returned once and only its hash kept. */
export async function createApiKey(
  db: Queryable,
  input: { userId: string; entityId: string; name: string; role: Role },
): Promise<{ key: string; info: ApiKeyInfo }> {
  const key = 'llk_' + randomBytes(32).toString('base64url');
  const { rows } = await db.query<{ id: string; created_at: Date }>(
    `INSERT INTO user_api_keys (user_id, entity_id, name, role, key_hash) VALUES ($1, $2, $3, $4, $5)
     RETURNING id, created_at`,
    [input.userId, input.entityId, input.name, input.role, hashSecret(key)],
  );
  const r = rows[0]!;
  return {
    key,
    info: {
      id: r.id,
      name: input.name,
      role: input.role,
      createdAt: new Date(r.created_at).toISOString(),
      lastUsedAt: null,
      revokedAt: null,
    },
  };
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

/** A user's API keys in an entity (never the keys), newest first. */
export async function listApiKeys(db: Queryable, userId: string, entityId: string): Promise<ApiKeyInfo[]> {
  const { rows } = await db.query<{
    id: string;
    name: string;
    role: Role;
    created_at: Date;
    last_used_at: Date | null;
    revoked_at: Date | null;
  }>(
    `SELECT id, name, role, created_at, last_used_at, revoked_at FROM user_api_keys
      WHERE user_id = $1 AND entity_id = $2 ORDER BY created_at DESC, id`,
    [userId, entityId],
  );
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    role: r.role,
    createdAt: iso(r.created_at)!,
    lastUsedAt: iso(r.last_used_at),
    revokedAt: iso(r.revoked_at),
  }));
}

/** Revokes one of the user's keys; null when the user has no such key in the entity. */
export async function revokeApiKey(
  db: Queryable,
  userId: string,
  entityId: string,
  keyId: string,
): Promise<{ revokedAt: string; already: boolean } | null> {
  if (!/^[0-9a-f-]{36}$/i.test(keyId)) return null;
  const { rows } = await db.query<{ revoked_at: Date; already: boolean }>(
    `UPDATE user_api_keys k SET revoked_at = coalesce(k.revoked_at, now())
       FROM (SELECT id, revoked_at IS NOT NULL AS already FROM user_api_keys WHERE id = $1 FOR UPDATE) was
      WHERE k.id = was.id AND k.user_id = $2 AND k.entity_id = $3 RETURNING k.revoked_at, was.already`,
    [keyId, userId, entityId],
  );
  const r = rows[0];
  // Revoked before: the same answer (a retry is harmless), and `already` says nothing changed now.
  return r ? { revokedAt: iso(r.revoked_at)!, already: r.already } : null;
}

/**
 * The access an API key gives, or null when it is unknown, revoked or its membership disabled. Its
 * role is the lesser of the key's and the user's current role, so demoting a user limits their keys.
 */
export async function resolveApiKey(db: Queryable, key: string): Promise<(UserAccess & { keyId: string }) | null> {
  if (!/^llk_[A-Za-z0-9_-]{43}$/.test(key)) return null;
  const { rows } = await db.query<{
    id: string;
    user_id: string;
    email: string;
    entity_id: string;
    key_role: Role;
    member_role: Role;
    stale: boolean;
  }>(
    `SELECT k.id, k.user_id, u.email, k.entity_id, k.role AS key_role, m.role AS member_role,
            (k.last_used_at IS NULL OR k.last_used_at < now() - interval '60 seconds') AS stale
       FROM user_api_keys k
       JOIN users u ON u.id = k.user_id
       JOIN user_memberships m ON m.user_id = k.user_id AND m.entity_id = k.entity_id AND m.disabled_at IS NULL
      WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
    [hashSecret(key)],
  );
  const k = rows[0];
  if (!k) return null;
  if (k.stale) await db.query('UPDATE user_api_keys SET last_used_at = now() WHERE id = $1', [k.id]);
  return {
    keyId: k.id,
    userId: k.user_id,
    email: k.email,
    entityId: k.entity_id,
    role: lesserRole(k.key_role, k.member_role),
  };
}
