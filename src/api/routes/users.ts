import { z } from 'zod';
import { defineRoute, type EntityPrincipal, type Principal, type AnyRoute, type RouteContext } from '../route.ts';
import { DomainError } from '../../domain/errors.ts';
import { roleAtLeast } from '../../domain/roles.ts';
import type { Queryable } from '../../db/database.ts';
import {
  addOrInvite,
  findMember,
  type Invitation,
  invitationLinkPath,
  inviteUser,
  issueSignInToken,
  type Member,
  listInvitations,
  listMembers,
  signInLinkPath,
  updateMember,
} from '../../ledger/users.ts';
import { type ApiKeyInfo, createApiKey, listApiKeys, revokeApiKey } from '../../ledger/user-sessions.ts';

const RoleSchema = z.enum(['owner', 'accountant', 'viewer']);
const Uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'a UUID');

const MemberSchema = z.object({
  id: z.string(),
  email: z.string(),
  role: RoleSchema,
  disabled: z.boolean(),
  hasPassword: z.boolean().describe('false until the user has set a password with their sign-in link'),
  createdAt: z.string(),
  lastSignInAt: z
    .string()
    .nullable()
    .describe('when the user last signed in to this entity (password or OIDC); null: never'),
});

const InvitationSchema = z.object({
  userId: z.string(),
  email: z.string(),
  role: RoleSchema,
  createdAt: z.string(),
  expiresAt: z.string().describe('the link works until then, once'),
});

const ApiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  role: RoleSchema,
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});

/** The named user behind the request; the entity key pair has none (USER_REQUIRED). */
function userOf(principal: Principal): EntityPrincipal & { user: { id: string; email: string } } {
  if (principal.kind !== 'entity' || !principal.user) throw new DomainError('USER_REQUIRED');
  return principal as EntityPrincipal & { user: { id: string; email: string } };
}

/** The server's address for links people open: LEDGERLINK_PUBLIC_URL, else http://localhost:PORT. */
export function baseUrl(config: { publicUrl: string | null; port: number }): string {
  return (config.publicUrl ?? `http://localhost:${config.port}`).replace(/\/+$/, '');
}

/**
 * An owner may hand out a set-password link only for a user who has no password yet and belongs to
 * no other entity: otherwise the link would let the owner of one entity take over an account that
 * works in another.
 */
async function ownerMayIssueLink(db: Queryable, entityId: string, member: Member): Promise<boolean> {
  if (member.hasPassword) return false;
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM user_memberships WHERE user_id = $1 AND entity_id <> $2',
    [member.id, entityId],
  );
  return rows[0]!.n === 0;
}

/** What adding a user takes (POST /v1/users and the dashboard's form). */
export const AddUserBody = z.strictObject({
  email: z
    .string()
    .trim()
    .min(3)
    .max(254)
    .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'an e-mail address'),
  role: RoleSchema,
});

/** A change of a member: absent fields stay as they are. */
export const UpdateUserBody = z.strictObject({ role: RoleSchema.optional(), disabled: z.boolean().optional() });

/** A new API key: its name, and a role no higher than the user's own (default: theirs). */
export const CreateApiKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(100),
  role: RoleSchema.optional(),
});

/** How a user operation records itself: the route's `audit`, or the dashboard's. */
type AuditFn = RouteContext<unknown, unknown, unknown>['audit'];
type LinkConfig = { publicUrl: string | null; port: number };

/** What adding a user answers: the member, or the invitation of an existing account, and the link to hand over. */
export interface UserAdded {
  user: Member | null;
  invitation: Invitation | null;
  /** A new account's set-password link, or an invitation's link; shown once. */
  signInLink: string | null;
  signInLinkExpiresAt: string | null;
}

/**
 * Adds a user with a role. A new account (or one nobody uses yet) joins at once and gets a
 * one-time set-password link. An account that already exists is invited instead: it joins when
 * its person opens the invitation's link and accepts with their own password (addOrInvite).
 */
export async function addUser(
  db: Queryable,
  entityId: string,
  body: z.output<typeof AddUserBody>,
  config: LinkConfig,
  audit: AuditFn,
): Promise<UserAdded> {
  const added = await addOrInvite(db, entityId, body);
  if (added.kind === 'invited') {
    const { invitation, token } = added;
    await audit({
      action: 'user.invited',
      objectType: 'user',
      objectId: invitation.userId,
      after: { email: invitation.email, role: invitation.role, expiresAt: invitation.expiresAt },
    });
    return {
      user: null,
      invitation,
      signInLink: `${baseUrl(config)}${invitationLinkPath(token)}`,
      signInLinkExpiresAt: invitation.expiresAt,
    };
  }
  const { member, userCreated } = added;
  const mayIssue = userCreated || (await ownerMayIssueLink(db, entityId, member));
  const link = mayIssue ? await issueSignInToken(db, member.id, entityId) : null;
  await audit({
    action: 'user.added',
    objectType: 'user',
    objectId: member.id,
    after: { email: member.email, role: member.role, userCreated, signInLinkIssued: link !== null },
  });
  return {
    user: member,
    invitation: null,
    signInLink: link ? `${baseUrl(config)}${signInLinkPath(link.token)}` : null,
    signInLinkExpiresAt: link?.expiresAt ?? null,
  };
}

/** Changes a member's role or disables / enables them (LAST_OWNER, NOT_FOUND), audited. */
export async function changeUser(
  db: Queryable,
  entityId: string,
  userId: string,
  body: z.output<typeof UpdateUserBody>,
  audit: AuditFn,
): Promise<Member> {
  const changed = await updateMember(db, entityId, userId, body);
  if (!changed) throw new DomainError('NOT_FOUND', `No user ${userId} in this entity`);
  await audit({
    action: 'user.updated',
    objectType: 'user',
    objectId: userId,
    before: { role: changed.before.role, disabled: changed.before.disabled },
    after: { role: changed.after.role, disabled: changed.after.disabled },
  });
  return changed.after;
}

/** A new one-time sign-in link for a member who may have one (SIGN_IN_LINK_NOT_ALLOWED otherwise). */
export async function reissueUserLink(
  db: Queryable,
  entityId: string,
  userId: string,
  config: LinkConfig,
  audit: AuditFn,
): Promise<{ signInLink: string; signInLinkExpiresAt: string }> {
  const member = await findMember(db, entityId, userId);
  if (!member) {
    // An invitation not yet accepted: a new link replaces the one before (lost, or not received).
    const [invited] = /^[0-9a-f-]{36}$/i.test(userId) ? await listInvitations(db, entityId, userId) : [];
    if (!invited) throw new DomainError('NOT_FOUND', `No user ${userId} in this entity`);
    const link = await inviteUser(db, entityId, userId, invited.role);
    await audit({ action: 'user.invited', objectType: 'user', objectId: userId, after: { expiresAt: link.expiresAt } });
    return { signInLink: `${baseUrl(config)}${invitationLinkPath(link.token)}`, signInLinkExpiresAt: link.expiresAt };
  }
  if (!(await ownerMayIssueLink(db, entityId, member))) throw new DomainError('SIGN_IN_LINK_NOT_ALLOWED');
  const link = await issueSignInToken(db, member.id, entityId);
  await audit({ action: 'user.sign-in-link-issued', objectType: 'user', objectId: member.id });
  return { signInLink: `${baseUrl(config)}${signInLinkPath(link.token)}`, signInLinkExpiresAt: link.expiresAt };
}

/** Creates an API key for the signed-in user (from a browser session only; never above their role). */
export async function createUserApiKey(
  db: Queryable,
  principal: Principal,
  body: z.output<typeof CreateApiKeyBody>,
  audit: AuditFn,
): Promise<ApiKeyInfo & { key: string }> {
  const p = userOf(principal);
  if (p.via !== 'cookie')
    throw new DomainError('USER_REQUIRED', 'API keys are created from a signed-in session, not with another key.');
  const role = body.role ?? p.role;
  if (!roleAtLeast(p.role, role))
    throw new DomainError('API_KEY_ROLE_TOO_HIGH', `role: at most ${p.role}, your own role`, [
      { field: 'body.role', message: `at most ${p.role}` },
    ]);
  await refuseTooManyApiKeys(db, p.user.id);
  const created = await createApiKey(db, { userId: p.user.id, entityId: p.entity.id, name: body.name, role });
  await audit({
    action: 'user.api-key-created',
    objectType: 'api-key',
    objectId: created.info.id,
    after: { name: body.name, role },
  });
  return { ...created.info, key: created.key };
}

/** How many API keys one user may create within an hour, in all their entities together. */
export const API_KEYS_PER_HOUR = 20;

/**
 * Refuses 429 API_KEYS_THROTTLED once the user created API_KEYS_PER_HOUR keys in the last hour: a
 * stolen session cannot mint keys by the thousand. Counted from the keys themselves (revoked ones
 * too), so every process agrees.
 */
async function refuseTooManyApiKeys(db: Queryable, userId: string): Promise<void> {
  const { rows } = await db.query<{ n: number; wait: number | null }>(
    `SELECT count(*)::int AS n,
            ceil(extract(epoch FROM min(created_at) + interval '1 hour' - now()))::int AS wait
       FROM (SELECT created_at FROM user_api_keys
              WHERE user_id = $1 AND created_at > now() - interval '1 hour'
              ORDER BY created_at DESC LIMIT $2) AS recent`,
    [userId, API_KEYS_PER_HOUR],
  );
  const { n, wait } = rows[0] ?? { n: 0, wait: null };
  if (n < API_KEYS_PER_HOUR) return;
  const seconds = Math.max(1, wait ?? 1);
  throw new DomainError(
    'API_KEYS_THROTTLED',
    `You created ${API_KEYS_PER_HOUR} API keys in the last hour; retry in ${seconds} seconds.`,
    { retryAfterSeconds: seconds },
  );
}

/** The signed-in user's API keys in the entity, newest first (never the keys). */
export async function listUserApiKeys(db: Queryable, principal: Principal): Promise<ApiKeyInfo[]> {
  const p = userOf(principal);
  return listApiKeys(db, p.user.id, p.entity.id);
}

/** Revokes one of the signed-in user's API keys (NOT_FOUND when it is not theirs). */
export async function revokeUserApiKey(
  db: Queryable,
  principal: Principal,
  keyId: string,
  audit: AuditFn,
): Promise<{ id: string; revokedAt: string }> {
  const p = userOf(principal);
  const r = await revokeApiKey(db, p.user.id, p.entity.id, keyId);
  if (!r) throw new DomainError('NOT_FOUND', `You have no API key ${keyId} in this entity`);
  // Revoking it again changes nothing, so the trail gets nothing.
  if (!r.already)
    await audit({
      action: 'user.api-key-revoked',
      objectType: 'api-key',
      objectId: keyId,
      after: { revokedAt: r.revokedAt },
    });
  return { id: keyId, revokedAt: r.revokedAt };
}

export const listUsersRoute = defineRoute({
  method: 'GET',
  path: '/v1/users',
  operationId: 'listUsers',
  summary: "The entity's users and their roles",
  tags: ['users'],
  auth: 'entity',
  role: 'owner',
  success: {
    status: 200,
    description: 'The members, by e-mail, and the invitations of existing accounts not yet accepted.',
    schema: z.object({ items: z.array(MemberSchema), invitations: z.array(InvitationSchema) }),
  },
  errors: ['FORBIDDEN_ROLE'],
  handler: async ({ db, entity }) => ({
    items: await listMembers(db, entity.id),
    invitations: await listInvitations(db, entity.id),
  }),
});

export const addUserRoute = defineRoute({
  method: 'POST',
  path: '/v1/users',
  operationId: 'addUser',
  summary: 'Add a user to the entity with a role; an e-mail that already has an account is invited',
  description:
    'Users are global (one e-mail, case-insensitive, across entities). A new e-mail joins at once (`user`), and ' +
    '`signInLink` sets its password (`/sign-in/set-password?token=…`, valid 24 hours, shown once). An e-mail that ' +
    'already has an account (a password, a sign-in through the OIDC provider, or another entity) is not added: it is ' +
    'invited (`invitation`, `user` null), and `signInLink` is the invitation (`/sign-in/accept?token=…`, valid 7 days, ' +
    'shown once), which its person opens and accepts with their own password (POST /v1/auth/accept-invitation). Until ' +
    'then it has no access, and an owner of one entity never sets or learns the password of an account of another. ' +
    'Adding an invited e-mail again makes a new link. With an Idempotency-Key, a replay is refused: the link is never stored.',
  tags: ['users'],
  auth: 'entity',
  role: 'owner',
  idempotency: 'secret',
  body: AddUserBody,
  example: { email: 'ann@example.com', role: 'accountant' },
  success: {
    status: 201,
    description: 'The user belongs to the entity, or the existing account is invited.',
    schema: z.object({
      user: MemberSchema.nullable(),
      invitation: InvitationSchema.nullable(),
      signInLink: z.string().nullable(),
      signInLinkExpiresAt: z.string().nullable(),
    }),
  },
  errors: ['USER_ALREADY_MEMBER', 'FORBIDDEN_ROLE'],
  handler: async ({ db, entity, body, services, audit }) => addUser(db, entity.id, body, services.config, audit),
});

export const updateUserRoute = defineRoute({
  method: 'PUT',
  path: '/v1/users/{id}',
  operationId: 'updateUser',
  summary: "Change a user's role in the entity, or disable / enable them",
  description:
    'A disabled user’s sessions and API keys in this entity are refused at once. The entity keeps at least one ' +
    'active owner: a change that would leave none answers 409 LAST_OWNER. Absent fields stay as they are.',
  tags: ['users'],
  auth: 'entity',
  role: 'owner',
  params: z.object({ id: Uuid }),
  body: UpdateUserBody,
  example: { role: 'viewer' },
  success: { status: 200, description: 'The member as it now is.', schema: MemberSchema },
  errors: ['NOT_FOUND', 'LAST_OWNER', 'FORBIDDEN_ROLE'],
  handler: async ({ db, entity, params, body, audit }) => changeUser(db, entity.id, params.id, body, audit),
});

export const reissueLinkRoute = defineRoute({
  method: 'POST',
  path: '/v1/users/{id}/sign-in-link',
  operationId: 'reissueSignInLink',
  summary: 'A new one-time link for a user who has not set a password yet, or an invitation not yet accepted',
  description:
    'For a new user whose link was lost or expired: a new set-password link (valid 24 hours, shown once); earlier ' +
    'unused links keep working until they expire. Refused (409 SIGN_IN_LINK_NOT_ALLOWED) for a user who already has ' +
    'a password or belongs to another entity: the operator resets those (`ledgerlink user link`). For an invited ' +
    'account (`invitations` of GET /v1/users): a new invitation link, valid 7 days; the earlier one stops working.',
  tags: ['users'],
  auth: 'entity',
  role: 'owner',
  idempotency: 'secret',
  params: z.object({ id: Uuid }),
  success: {
    status: 201,
    description: 'The link, shown this once.',
    schema: z.object({ signInLink: z.string(), signInLinkExpiresAt: z.string() }),
  },
  errors: ['NOT_FOUND', 'SIGN_IN_LINK_NOT_ALLOWED', 'FORBIDDEN_ROLE'],
  handler: async ({ db, entity, params, services, audit }) =>
    reissueUserLink(db, entity.id, params.id, services.config, audit),
});

export const createApiKeyRoute = defineRoute({
  method: 'POST',
  path: '/v1/users/me/api-keys',
  operationId: 'createApiKey',
  summary: 'Create an API key for scripts, acting as you in this entity',
  description:
    'The key (`llk_…`) is shown once and only its hash kept; send it as `Authorization: Bearer llk_…`, no login needed. ' +
    'Its role (default: yours) cannot be above yours, and it never acts above your current role: demoting or ' +
    'disabling you limits or stops your keys at once. Created from a signed-in session only, at most 20 an hour per ' +
    'user (429 API_KEYS_THROTTLED).',
  tags: ['users'],
  auth: 'entity',
  role: 'viewer',
  idempotency: 'secret',
  body: CreateApiKeyBody,
  example: { name: 'nightly export', role: 'viewer' },
  success: {
    status: 201,
    description: 'The key, shown this once.',
    schema: ApiKeySchema.extend({ key: z.string() }),
  },
  errors: ['USER_REQUIRED', 'API_KEY_ROLE_TOO_HIGH', 'API_KEYS_THROTTLED', 'CSRF_TOKEN_INVALID'],
  handler: async ({ db, principal, body, audit }) => createUserApiKey(db, principal, body, audit),
});

export const listApiKeysRoute = defineRoute({
  method: 'GET',
  path: '/v1/users/me/api-keys',
  operationId: 'listApiKeys',
  summary: 'Your API keys in this entity (never the keys themselves)',
  tags: ['users'],
  auth: 'entity',
  success: { status: 200, description: 'Newest first.', schema: z.object({ items: z.array(ApiKeySchema) }) },
  errors: ['USER_REQUIRED'],
  handler: async ({ db, principal }) => ({ items: await listUserApiKeys(db, principal) }),
});

export const revokeApiKeyRoute = defineRoute({
  method: 'DELETE',
  path: '/v1/users/me/api-keys/{id}',
  operationId: 'revokeApiKey',
  summary: 'Revoke one of your API keys: it is refused from this moment on',
  tags: ['users'],
  auth: 'entity',
  role: 'viewer',
  params: z.object({ id: Uuid }),
  success: {
    status: 200,
    description: 'The key as it now is.',
    schema: z.object({ id: z.string(), revokedAt: z.string() }),
  },
  errors: ['USER_REQUIRED', 'NOT_FOUND'],
  handler: async ({ db, principal, params, audit }) => revokeUserApiKey(db, principal, params.id, audit),
});

export const userRoutes: AnyRoute[] = [
  listUsersRoute,
  addUserRoute,
  updateUserRoute,
  reissueLinkRoute,
  createApiKeyRoute,
  listApiKeysRoute,
  revokeApiKeyRoute,
];
