import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import type { Role } from '../domain/roles.ts';
import { hashSecret } from './secrets.ts';

/** A user's place in one entity. */
export interface Member {
  id: string;
  email: string;
  role: Role;
  disabled: boolean;
  hasPassword: boolean;
  createdAt: string;
  /** When the user last signed in to this entity (or switched to it), by password or OIDC; null: never. */
  lastSignInAt: string | null;
}

/** E-mail addresses are compared case-insensitively: they are stored lower case. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** How long a sign-in link (set a password) stays valid. */
export const SIGN_IN_LINK_HOURS = 24;

interface MemberRow {
  id: string;
  email: string;
  role: Role;
  disabled_at: Date | null;
  has_password: boolean;
  created_at: Date;
  last_sign_in_at: Date | null;
}

function toMember(r: MemberRow): Member {
  return {
    id: r.id,
    email: r.email,
    role: r.role,
    disabled: r.disabled_at !== null,
    hasPassword: r.has_password,
    createdAt: new Date(r.created_at).toISOString(),
    lastSignInAt: r.last_sign_in_at ? new Date(r.last_sign_in_at).toISOString() : null,
  };
}

const MEMBER_SELECT = `SELECT u.id, u.email, m.role, m.disabled_at, u.password_hash IS NOT NULL AS has_password, m.created_at,
        m.last_sign_in_at
   FROM user_memberships m JOIN users u ON u.id = m.user_id`;

/** The entity's members, by e-mail. */
export async function listMembers(db: Queryable, entityId: string): Promise<Member[]> {
  const { rows } = await db.query<MemberRow>(`${MEMBER_SELECT} WHERE m.entity_id = $1 ORDER BY u.email`, [entityId]);
  return rows.map(toMember);
}

/** One member of the entity, or null. */
export async function findMember(db: Queryable, entityId: string, userId: string): Promise<Member | null> {
  if (!/^[0-9a-f-]{36}$/i.test(userId)) return null;
  const { rows } = await db.query<MemberRow>(`${MEMBER_SELECT} WHERE m.entity_id = $1 AND m.user_id = $2`, [
    entityId,
    userId,
  ]);
  return rows[0] ? toMember(rows[0]) : null;
}

/** A member found by e-mail, or null. */
export async function findMemberByEmail(db: Queryable, entityId: string, email: string): Promise<Member | null> {
  const { rows } = await db.query<MemberRow>(`${MEMBER_SELECT} WHERE m.entity_id = $1 AND u.email = $2`, [
    entityId,
    normalizeEmail(email),
  ]);
  return rows[0] ? toMember(rows[0]) : null;
}

/**
 * Adds a user to an entity with a role, creating the user when the e-mail is new (users are global:
 * one person may belong to several entities). Refuses USER_ALREADY_MEMBER.
 */
export async function addMember(
  db: Queryable,
  entityId: string,
  input: { email: string; role: Role },
): Promise<{ member: Member; userCreated: boolean }> {
  const email = normalizeEmail(input.email);
  const inserted = await db.query<{ id: string }>(
    `INSERT INTO users (email) VALUES ($1) ON CONFLICT (email) DO NOTHING RETURNING id`,
    [email],
  );
  const { rows } = await db.query<{ id: string }>('SELECT id FROM users WHERE email = $1', [email]);
  const userId = rows[0]!.id;
  const added = await db.query(
    `INSERT INTO user_memberships (user_id, entity_id, role) VALUES ($1, $2, $3)
     ON CONFLICT (user_id, entity_id) DO NOTHING`,
    [userId, entityId, input.role],
  );
  if (added.rowCount === 0) throw new DomainError('USER_ALREADY_MEMBER', `${email} already belongs to this entity`);
  return { member: (await findMember(db, entityId, userId))!, userCreated: inserted.rows.length > 0 };
}

/** How long an invitation to join an entity stays open. */
export const INVITATION_DAYS = 7;

/** An existing account asked to join an entity, waiting for its person to accept (migration 0123). */
export interface Invitation {
  userId: string;
  email: string;
  role: Role;
  createdAt: string;
  expiresAt: string;
}

/**
 * What an owner's adding of an e-mail comes to. A new account (or one nobody uses: no password, no
 * entity) joins at once and gets a set-password link. An account that exists is only invited: its
 * password may have been set through a link another entity's owner held, and its person has not
 * agreed, so it joins once the person accepts with the invitation's link and their own password.
 */
export type Addition =
  { kind: 'added'; member: Member; userCreated: boolean } | { kind: 'invited'; invitation: Invitation; token: string };

export async function addOrInvite(
  db: Queryable,
  entityId: string,
  input: { email: string; role: Role },
): Promise<Addition> {
  const email = normalizeEmail(input.email);
  // Created here or found: the insert decides, so two owners adding one new e-mail at once cannot both "create" it.
  const inserted = await db.query<{ id: string }>(
    `INSERT INTO users (email) VALUES ($1) ON CONFLICT (email) DO NOTHING RETURNING id`,
    [email],
  );
  if (inserted.rows.length > 0) return { kind: 'added', ...(await addMember(db, entityId, input)) };
  const { rows } = await db.query<{ id: string; unused: boolean; member: boolean }>(
    `SELECT u.id,
            u.password_hash IS NULL AND NOT EXISTS (SELECT 1 FROM user_oidc_links o WHERE o.user_id = u.id)
              AND NOT EXISTS (SELECT 1 FROM user_memberships m WHERE m.user_id = u.id AND m.entity_id <> $2) AS unused,
            EXISTS (SELECT 1 FROM user_memberships m WHERE m.user_id = u.id AND m.entity_id = $2) AS member
       FROM users u WHERE u.email = $1`,
    [email, entityId],
  );
  const user = rows[0]!;
  if (user.member) throw new DomainError('USER_ALREADY_MEMBER', `${email} already belongs to this entity`);
  if (user.unused) return { kind: 'added', ...(await addMember(db, entityId, input)) };
  const { token, expiresAt } = await inviteUser(db, entityId, user.id, input.role);
  const invitation = (await listInvitations(db, entityId, user.id))[0]!;
  return { kind: 'invited', invitation: { ...invitation, expiresAt }, token };
}

/**
 * Opens (or opens again, with a new link and role) the entity's invitation of an account: the
 * earlier link of the same invitation stops working. Only the token's hash is kept.
 */
export async function inviteUser(
  db: Queryable,
  entityId: string,
  userId: string,
  role: Role,
): Promise<{ token: string; expiresAt: string }> {
  const token = 'lli_' + randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + INVITATION_DAYS * 86_400_000);
  await db.query(
    `INSERT INTO user_invitations (entity_id, user_id, role, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (entity_id, user_id)
       DO UPDATE SET role = excluded.role, token_hash = excluded.token_hash, created_at = now(), expires_at = excluded.expires_at`,
    [entityId, userId, role, hashSecret(token), expiresAt],
  );
  return { token, expiresAt: expiresAt.toISOString() };
}

/** The entity's open invitations (not accepted, not expired), by e-mail; or the one of `userId`. */
export async function listInvitations(db: Queryable, entityId: string, userId?: string): Promise<Invitation[]> {
  const { rows } = await db.query<{ user_id: string; email: string; role: Role; created_at: Date; expires_at: Date }>(
    `SELECT i.user_id, u.email, i.role, i.created_at, i.expires_at
       FROM user_invitations i JOIN users u ON u.id = i.user_id
      WHERE i.entity_id = $1 AND i.expires_at > now() AND ($2::uuid IS NULL OR i.user_id = $2)
      ORDER BY u.email`,
    [entityId, userId ?? null],
  );
  return rows.map((r) => ({
    userId: r.user_id,
    email: r.email,
    role: r.role,
    createdAt: new Date(r.created_at).toISOString(),
    expiresAt: new Date(r.expires_at).toISOString(),
  }));
}

/** An open invitation as its link shows it: who is asked to join which entity, with which role. */
export interface InvitationLink {
  entityId: string;
  entityCode: string;
  entityName: string;
  userId: string;
  email: string;
  role: Role;
  /** Whether the account can sign in with a password (else only through the OIDC provider, or not yet at all). */
  hasPassword: boolean;
}

/** The open invitation of a link token, or null (unknown, accepted, replaced or expired). */
export async function findInvitation(db: Queryable, token: string): Promise<InvitationLink | null> {
  if (!/^lli_[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const { rows } = await db.query<{
    entity_id: string;
    code: string;
    name: string;
    user_id: string;
    email: string;
    role: Role;
    has_password: boolean;
  }>(
    `SELECT i.entity_id, e.code, e.name, i.user_id, u.email, i.role, u.password_hash IS NOT NULL AS has_password
       FROM user_invitations i JOIN users u ON u.id = i.user_id JOIN entities e ON e.id = i.entity_id
      WHERE i.token_hash = $1 AND i.expires_at > now()`,
    [hashSecret(token)],
  );
  const r = rows[0];
  return r
    ? {
        entityId: r.entity_id,
        entityCode: r.code,
        entityName: r.name,
        userId: r.user_id,
        email: r.email,
        role: r.role,
        hasPassword: r.has_password,
      }
    : null;
}

/**
 * Takes an invitation once, for the account it was made for (the caller has checked it is that
 * account's person): the account joins the entity with the invited role. Throws
 * SIGN_IN_LINK_INVALID when the link is no longer open (two concurrent acceptances: one wins).
 */
export async function acceptInvitation(db: Queryable, token: string, userId: string): Promise<Membership> {
  const { rows } = await db.query<{ entity_id: string; role: Role }>(
    `DELETE FROM user_invitations WHERE token_hash = $1 AND user_id = $2 AND expires_at > now()
     RETURNING entity_id, role`,
    [hashSecret(token), userId],
  );
  const taken = rows[0];
  if (!taken) throw new DomainError('SIGN_IN_LINK_INVALID');
  // Added by the operator meanwhile: the membership as it is stands.
  await db.query(
    `INSERT INTO user_memberships (user_id, entity_id, role) VALUES ($1, $2, $3) ON CONFLICT (user_id, entity_id) DO NOTHING`,
    [userId, taken.entity_id, taken.role],
  );
  const joined = (await activeMemberships(db, userId)).find((m) => m.entityId === taken.entity_id);
  if (!joined) throw new DomainError('ENTITY_DOES_NOT_EXIST', 'Your access to this entity is disabled');
  return joined;
}

/** A one-time link token to set the user's password, valid SIGN_IN_LINK_HOURS; only its hash is kept. */
export async function issueSignInToken(
  db: Queryable,
  userId: string,
  entityId: string | null,
  /** `owner`: an entity's owner holds it, and it works only while the account is that entity's alone. */
  by: 'owner' | 'operator' = 'owner',
): Promise<{ token: string; expiresAt: string }> {
  const token = 'llp_' + randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + SIGN_IN_LINK_HOURS * 3600 * 1000);
  await db.query(
    `INSERT INTO user_sign_in_tokens (token_hash, user_id, entity_id, expires_at, by_operator) VALUES ($1, $2, $3, $4, $5)`,
    [hashSecret(token), userId, entityId, expiresAt, by === 'operator'],
  );
  await db.query(`DELETE FROM user_sign_in_tokens WHERE expires_at < now() - interval '7 days'`);
  return { token, expiresAt: expiresAt.toISOString() };
}

/** The path of the page that takes an invitation (served by the dashboard). */
export function invitationLinkPath(token: string): string {
  return `/sign-in/accept?token=${encodeURIComponent(token)}`;
}

/** The path of the page that takes a sign-in token (served by the dashboard). */
export function signInLinkPath(token: string): string {
  return `/sign-in/set-password?token=${encodeURIComponent(token)}`;
}

/** A set-password link that can still be used, looked at without using it: whose, and made in which entity. */
export async function findSignInToken(
  db: Queryable,
  token: string,
): Promise<{ email: string; entityId: string | null } | null> {
  const { rows } = await db.query<{ email: string; entity_id: string | null }>(
    `SELECT u.email, t.entity_id FROM user_sign_in_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()`,
    [hashSecret(token)],
  );
  const r = rows[0];
  return r ? { email: r.email, entityId: r.entity_id } : null;
}

/**
 * Takes a sign-in token once: returns its user and marks it used, or throws SIGN_IN_LINK_INVALID.
 * The row is locked, so two concurrent uses cannot both succeed.
 */
export async function consumeSignInToken(db: Queryable, token: string): Promise<{ userId: string; email: string }> {
  const { rows } = await db.query<{ user_id: string; email: string; elsewhere: boolean }>(
    `UPDATE user_sign_in_tokens t SET used_at = now()
       FROM users u
      WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now() AND u.id = t.user_id
      RETURNING t.user_id, u.email,
                NOT t.by_operator AND EXISTS (
                  SELECT 1 FROM user_memberships m WHERE m.user_id = t.user_id AND m.entity_id IS DISTINCT FROM t.entity_id
                ) AS elsewhere`,
    [hashSecret(token)],
  );
  const r = rows[0];
  if (!r) throw new DomainError('SIGN_IN_LINK_INVALID');
  // An owner's link sets the password of an account that is their entity's alone, when used as when
  // issued: once the account works in another entity too, its owner could otherwise get into that one.
  if (r.elsewhere)
    throw new DomainError(
      'SIGN_IN_LINK_NOT_ALLOWED',
      'This link was made by an owner of one entity, and the account now belongs to another entity too, so it cannot set its password. Ask the operator for a link (`ledgerlink user link`).',
    );
  return { userId: r.user_id, email: r.email };
}

/** Stores a new password hash; the user's other sessions end and unused sign-in links lapse. */
export async function setPasswordHash(db: Queryable, userId: string, hash: string): Promise<void> {
  await db.query('UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1', [userId, hash]);
  await db.query('DELETE FROM user_sessions WHERE user_id = $1', [userId]);
  await db.query('UPDATE user_sign_in_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL', [userId]);
}

/** Replaces an outdated hash (older parameters) after a successful sign-in; sessions stay. */
export async function rehashPassword(db: Queryable, userId: string, hash: string): Promise<void> {
  await db.query('UPDATE users SET password_hash = $2 WHERE id = $1', [userId, hash]);
}

/** A user's account for signing in: id, e-mail and password hash. */
export async function findUserByEmail(
  db: Queryable,
  email: string,
): Promise<{ id: string; email: string; passwordHash: string | null } | null> {
  const { rows } = await db.query<{ id: string; email: string; password_hash: string | null }>(
    'SELECT id, email, password_hash FROM users WHERE email = $1',
    [normalizeEmail(email)],
  );
  const r = rows[0];
  return r ? { id: r.id, email: r.email, passwordHash: r.password_hash } : null;
}

export interface Membership {
  entityId: string;
  code: string;
  name: string;
  role: Role;
}

/** The entities a user may act in (memberships not disabled), by entity code. */
export async function activeMemberships(db: Queryable, userId: string): Promise<Membership[]> {
  const { rows } = await db.query<{ entity_id: string; code: string; name: string; role: Role }>(
    `SELECT m.entity_id, e.code, e.name, m.role
       FROM user_memberships m JOIN entities e ON e.id = m.entity_id
      WHERE m.user_id = $1 AND m.disabled_at IS NULL
      ORDER BY e.code`,
    [userId],
  );
  return rows.map((r) => ({ entityId: r.entity_id, code: r.code, name: r.name, role: r.role }));
}

/**
 * Changes a member's role or disables/enables them. Refuses LAST_OWNER when the entity would be left
 * without an active owner. The entity's memberships are locked first, so two owners demoting each
 * other at once cannot both succeed.
 */
export async function updateMember(
  db: Queryable,
  entityId: string,
  userId: string,
  change: { role?: Role | undefined; disabled?: boolean | undefined },
): Promise<{ before: Member; after: Member } | null> {
  await db.query('SELECT user_id FROM user_memberships WHERE entity_id = $1 ORDER BY user_id FOR UPDATE', [entityId]);
  const before = await findMember(db, entityId, userId);
  if (!before) return null;
  const role = change.role ?? before.role;
  const disabled = change.disabled ?? before.disabled;
  const wasActiveOwner = before.role === 'owner' && !before.disabled;
  if (wasActiveOwner && (role !== 'owner' || disabled)) {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM user_memberships
        WHERE entity_id = $1 AND user_id <> $2 AND role = 'owner' AND disabled_at IS NULL`,
      [entityId, userId],
    );
    if (rows[0]!.n === 0) throw new DomainError('LAST_OWNER');
  }
  await db.query(
    `UPDATE user_memberships
        SET role = $3,
            disabled_at = CASE WHEN $4::boolean THEN coalesce(disabled_at, now()) ELSE NULL END,
            updated_at = now()
      WHERE entity_id = $1 AND user_id = $2`,
    [entityId, userId, role, disabled],
  );
  if (disabled && !before.disabled) {
    // Sessions and keys are refused at once by the membership check; ending the sessions also
    // keeps a re-enabled user from finding an old browser session alive.
    await db.query('DELETE FROM user_sessions WHERE user_id = $1 AND entity_id = $2', [userId, entityId]);
  }
  return { before, after: (await findMember(db, entityId, userId))! };
}
