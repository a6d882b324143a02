import { z } from 'zod';
import { defineRoute, type EntityPrincipal, type RouteContext } from '../route.ts';
import { DomainError } from '../../domain/errors.ts';
import { recordAudit } from '../../ledger/audit.ts';
import { checkPasswordPolicy, DEFAULT_PASSWORD_PARAMS, hashPassword, verifyPassword } from '../../ledger/passwords.ts';
import {
  acceptInvitation,
  activeMemberships,
  consumeSignInToken,
  findInvitation,
  findSignInToken,
  findUserByEmail,
  normalizeEmail,
  rehashPassword,
  setPasswordHash,
} from '../../ledger/users.ts';
import { endUserSession, openUserSession, switchSessionEntity } from '../../ledger/user-sessions.ts';
import { hashSecret } from '../../ledger/secrets.ts';
import type { AppServices } from '../services.ts';
import { beginLoginAttempt, signInSubjects, signInThrottle, signInThrottled } from '../sign-in-throttle.ts';
import {
  clearSessionCookie,
  sessionLifetime,
  sessionTokenOf,
  setSessionCookie,
  principalFromCookie,
  checkCsrf,
} from '../cookie-auth.ts';

const RoleSchema = z.enum(['owner', 'accountant', 'viewer']);

/** Who is signed in, where, and what they may do: the answer of sign-in, me and entity switch. */
export const SignedInSchema = z.object({
  user: z.object({ id: z.string(), email: z.string() }).nullable(),
  entity: z.object({ code: z.string(), name: z.string() }),
  role: RoleSchema,
  entities: z.array(z.object({ code: z.string(), name: z.string(), role: RoleSchema })),
  csrfToken: z
    .string()
    .nullable()
    .describe('Send it as X-CSRF-Token (or form field _csrf) with every change made with the cookie.'),
  expiresAt: z.string().nullable(),
});
type SignedIn = z.infer<typeof SignedInSchema>;

/** The scrypt parameters for new hashes: OWASP's, with the cost from the configuration. */
export function passwordParams(services: AppServices) {
  return { ...DEFAULT_PASSWORD_PARAMS, logN: services.config.passwordScryptLogN };
}

const Email = z
  .string()
  .trim()
  .min(3)
  .max(254)
  .regex(/^[^\s@]+@[^\s@]+$/, 'an e-mail address');

async function signedIn(
  ctx: Pick<RouteContext<unknown, unknown, unknown>, 'db'>,
  principal: EntityPrincipal,
  expiresAt: string | null,
): Promise<SignedIn> {
  const entities = principal.user
    ? (await activeMemberships(ctx.db, principal.user.id)).map((m) => ({ code: m.code, name: m.name, role: m.role }))
    : [{ code: principal.entity.code, name: principal.entity.name, role: principal.role }];
  return {
    user: principal.user,
    entity: { code: principal.entity.code, name: principal.entity.name },
    role: principal.role,
    entities,
    csrfToken: principal.csrfToken ?? null,
    expiresAt,
  };
}

export const signInRoute = defineRoute({
  method: 'POST',
  path: '/v1/auth/sign-in',
  operationId: 'signIn',
  summary: 'Sign in with e-mail and password; the session is a cookie',
  description:
    'Sets the cookie `ll_session` (HttpOnly, SameSite=Strict, Path=/, Secure behind HTTPS) and answers who is signed in ' +
    'and the CSRF token every change made with the cookie must carry. Without `entityCode`, the session opens in the ' +
    "first of the user's entities by code. A session ends 8 hours after its last request " +
    '(LEDGERLINK_SESSION_IDLE_SECONDS) and 24 hours after sign-in at the latest (LEDGERLINK_SESSION_MAX_SECONDS). ' +
    'An unknown e-mail, a wrong password and a disabled user all answer INVALID_CREDENTIALS; after 10 failures for one ' +
    'e-mail, or from one address, within 15 minutes, every sign-in for it answers 429 LOGIN_THROTTLED with `Retry-After`; ' +
    'failed sign-ins through the OIDC provider count in the same throttle.',
  tags: ['auth'],
  auth: 'none',
  idempotency: { refuse: 'each sign-in opens a session of its own; retry without the header.' },
  write: false,
  body: z.strictObject({
    email: Email,
    password: z.string().min(1).max(1024),
    entityCode: z.string().min(1).max(50).optional(),
  }),
  example: { email: 'ann@example.com', password: 'correct horse battery staple' },
  success: { status: 200, description: 'Signed in; the cookie is set.', schema: SignedInSchema },
  errors: ['INVALID_CREDENTIALS', 'LOGIN_THROTTLED', 'ENTITY_DOES_NOT_EXIST', 'IDEMPOTENCY_KEY_NOT_SUPPORTED'],
  handler: async ({ db, body, services, request, reply, requestId, log }) => {
    const email = normalizeEmail(body.email);
    const address = request.ip;
    const subjects = signInSubjects(address, email);
    // Counted before the password is checked, so that a burst of parallel guesses is held to the limit too.
    const begun = await beginLoginAttempt(db, signInThrottle(services), subjects);
    if ('wait' in begun) {
      log.warn({ address, email }, 'sign-in throttled');
      reply.header('retry-after', String(begun.wait));
      throw signInThrottled(begun.wait);
    }
    const { attempt } = begun;
    try {
      return await signIn();
    } finally {
      // No-op once the attempt was counted as a failure; otherwise its record goes.
      await attempt.succeeded().catch((err: unknown) => log.warn({ err }, 'could not uncount a sign-in attempt'));
    }

    async function signIn(): Promise<SignedIn> {
      const params = passwordParams(services);
      const user = await findUserByEmail(db, email);
      const check = await verifyPassword(body.password, user?.passwordHash ?? null, params);
      const memberships = user && check.ok ? await activeMemberships(db, user.id) : [];
      if (!user || !check.ok || memberships.length === 0) {
        // The attempt's record is the failure counted; the audit says who tried, from where.
        await attempt.failed();
        await recordAudit(db, {
          entityId: null,
          actor: 'anonymous',
          action: 'auth.sign-in-failed',
          objectType: 'user',
          // Who tried, from where; never the password tried.
          after: { email, address },
          requestId,
        });
        throw new DomainError('INVALID_CREDENTIALS');
      }
      const chosen = body.entityCode ? memberships.find((m) => m.code === body.entityCode) : memberships[0];
      if (!chosen) throw new DomainError('ENTITY_DOES_NOT_EXIST', `You have no access to an entity ${body.entityCode}`);
      if (check.outdated) await rehashPassword(db, user.id, await hashPassword(body.password, params));
      const session = await db.transaction(async (tx) => {
        const opened = await openUserSession(tx, user.id, chosen.entityId, sessionLifetime(services));
        await recordAudit(tx, {
          entityId: chosen.entityId,
          actor: `user:${user.id}`,
          action: 'auth.sign-in',
          objectType: 'user',
          objectId: user.id,
          after: { address },
          requestId,
        });
        return opened;
      });
      setSessionCookie(reply, request, services, session.token);
      return {
        user: { id: user.id, email: user.email },
        entity: { code: chosen.code, name: chosen.name },
        role: chosen.role,
        entities: memberships.map((m) => ({ code: m.code, name: m.name, role: m.role })),
        csrfToken: session.csrfToken,
        expiresAt: session.expiresAt,
      } satisfies SignedIn;
    }
  },
});

function cookiePrincipal(principal: RouteContext<unknown, unknown, unknown>['principal']): EntityPrincipal {
  if (principal.kind !== 'entity' || principal.via !== 'cookie')
    throw new DomainError(
      'USER_REQUIRED',
      'This endpoint acts on a browser session: sign in with POST /v1/auth/sign-in.',
    );
  return principal;
}

export const signOutRoute = defineRoute({
  method: 'POST',
  path: '/v1/auth/sign-out',
  operationId: 'signOut',
  summary: 'End the browser session at once',
  description: 'The cookie is cleared and the session refused from this moment on. Needs the CSRF token.',
  tags: ['auth'],
  auth: 'entity',
  role: 'viewer',
  idempotency: { ignore: 'the session ends on the first call.' },
  success: { status: 204, description: 'The session has ended.' },
  errors: ['USER_REQUIRED', 'CSRF_TOKEN_INVALID'],
  handler: async ({ db, request, reply, services, principal, audit }) => {
    const p = cookiePrincipal(principal);
    await endUserSession(db, sessionTokenOf(request) ?? '');
    clearSessionCookie(reply, request, services);
    await audit({ action: 'auth.sign-out', objectType: 'user', objectId: p.user?.id ?? null });
    return undefined;
  },
});

export const meRoute = defineRoute({
  method: 'GET',
  path: '/v1/auth/me',
  operationId: 'getMe',
  summary: 'Who is calling: user, entity, role, entities and (for a cookie) the CSRF token',
  description:
    'For the entity key pair, `user` is null and the role is owner. `expiresAt` is the cookie session’s; null otherwise.',
  tags: ['auth'],
  auth: 'entity',
  success: { status: 200, description: 'The caller.', schema: SignedInSchema },
  handler: async (ctx) => {
    const p = ctx.principal as EntityPrincipal;
    let expiresAt: string | null = null;
    if (p.via === 'cookie') {
      const { rows } = await ctx.db.query<{ expires_at: Date; last_seen_at: Date }>(
        'SELECT expires_at, last_seen_at FROM user_sessions WHERE token_hash = $1',
        [hashSecret(sessionTokenOf(ctx.request) ?? '')],
      );
      const r = rows[0];
      if (r) {
        const idle = new Date(r.last_seen_at).getTime() + ctx.services.config.sessionIdleSeconds * 1000;
        expiresAt = new Date(Math.min(idle, new Date(r.expires_at).getTime())).toISOString();
      }
    }
    return signedIn(ctx, p, expiresAt);
  },
});

export const switchEntityRoute = defineRoute({
  method: 'POST',
  path: '/v1/auth/entity',
  operationId: 'switchEntity',
  summary: "Move the browser session to another of the user's entities",
  description: 'The user must be an active member of that entity; the role becomes their role there.',
  tags: ['auth'],
  auth: 'entity',
  role: 'viewer',
  idempotency: { ignore: 'switching to the same entity twice changes nothing.' },
  body: z.strictObject({ entityCode: z.string().min(1).max(50) }),
  example: { entityCode: 'CLUB' },
  success: { status: 200, description: 'The session now acts in that entity.', schema: SignedInSchema },
  errors: ['USER_REQUIRED', 'ENTITY_DOES_NOT_EXIST', 'CSRF_TOKEN_INVALID'],
  handler: async (ctx) => {
    const p = cookiePrincipal(ctx.principal);
    const target = (await activeMemberships(ctx.db, p.user!.id)).find((m) => m.code === ctx.body.entityCode);
    if (!target)
      throw new DomainError('ENTITY_DOES_NOT_EXIST', `You have no access to an entity ${ctx.body.entityCode}`);
    const token = sessionTokenOf(ctx.request) ?? '';
    await switchSessionEntity(ctx.db, token, target.entityId);
    await ctx.audit({
      action: 'auth.entity-switched',
      objectType: 'user',
      objectId: p.user!.id,
      before: { entity: p.entity.code },
      after: { entity: target.code },
      entityId: target.entityId,
    });
    const moved = (await principalFromCookie(ctx.request, ctx.services, ctx.db)) as EntityPrincipal | null;
    if (!moved) throw new DomainError('UNAUTHORIZED');
    return signedIn(ctx, moved, null);
  },
});

export const setPasswordRoute = defineRoute({
  method: 'POST',
  path: '/v1/auth/set-password',
  operationId: 'setPassword',
  summary: 'Set a password with a one-time sign-in link token',
  description:
    'The token comes from the link an owner (POST /v1/users) or the operator (`ledgerlink user create`) handed out; ' +
    'it works once, within 24 hours. The password: at least 12 characters, not a commonly used one, not containing ' +
    "the e-mail address. The user's other sessions end. Then sign in with POST /v1/auth/sign-in.",
  tags: ['auth'],
  auth: 'none',
  idempotency: { refuse: 'the token works once; retry without the header.' },
  // The password hash is computed outside the transaction; the token is taken in one of its own.
  write: false,
  body: z.strictObject({ token: z.string().min(1).max(200), password: z.string().min(1).max(1024) }),
  example: { token: 'llp_…', password: 'a long passphrase of your own' },
  success: {
    status: 200,
    description: 'The password is set.',
    schema: z.object({ user: z.object({ id: z.string(), email: z.string() }) }),
  },
  errors: ['SIGN_IN_LINK_INVALID', 'PASSWORD_TOO_WEAK', 'LOGIN_THROTTLED', 'IDEMPOTENCY_KEY_NOT_SUPPORTED'],
  handler: async ({ db, body, services, requestId, request, log }) => {
    // A link token that is not valid counts as a failed sign-in from the address, in the same
    // throttle as passwords: guessing links and passwords from one address adds up.
    const subjects = signInSubjects(request.ip);
    const begun = await beginLoginAttempt(db, signInThrottle(services), subjects);
    if ('wait' in begun) {
      log.warn({ address: request.ip }, 'set-password throttled');
      throw signInThrottled(begun.wait);
    }
    const { attempt } = begun;
    // Looked at first, without using it: a refused password leaves the link usable. A lookup that
    // fails (the database unavailable) says nothing of the token: the attempt is not left under way.
    const pending = await findSignInToken(db, body.token).then(
      (found) => found,
      async (err: unknown) => {
        await attempt.succeeded().catch(() => undefined);
        throw err;
      },
    );
    if (!pending) {
      await attempt.failed();
      throw new DomainError('SIGN_IN_LINK_INVALID');
    }
    // A link that works is no guess, whatever becomes of the password.
    await attempt.succeeded();
    checkPasswordPolicy(body.password, pending.email);
    const hash = await hashPassword(body.password, passwordParams(services));
    // The slow hash is computed before the transaction, which then only takes the token and stores it.
    const user = await db.transaction(async (tx) => {
      const taken = await consumeSignInToken(tx, body.token);
      await setPasswordHash(tx, taken.userId, hash);
      await recordAudit(tx, {
        entityId: pending.entityId,
        actor: `user:${taken.userId}`,
        action: 'user.password-set',
        objectType: 'user',
        objectId: taken.userId,
        requestId,
      });
      return taken;
    });
    return { user: { id: user.userId, email: user.email } };
  },
});

export const acceptInvitationRoute = defineRoute({
  method: 'POST',
  path: '/v1/auth/accept-invitation',
  operationId: 'acceptInvitation',
  summary: 'Accept an invitation to join an entity with your own account; signs you in there',
  description:
    'The token comes from the invitation link an owner was given when they added the e-mail of an account that ' +
    'already exists (POST /v1/users: `/sign-in/accept?token=lli_…`, valid 7 days, used once). The invitation is ' +
    "accepted by the account's person: with the account's `password`, or, without one, from a browser session of that " +
    'same account (the cookie and its CSRF token: an account that signs in only through the OIDC provider). The ' +
    "account then belongs to the entity with the invited role, and the answer is a session there, as sign-in's. " +
    'An unknown, used or expired link answers SIGN_IN_LINK_INVALID; a wrong password INVALID_CREDENTIALS; both count ' +
    'in the sign-in throttle (429 LOGIN_THROTTLED).',
  tags: ['auth'],
  auth: 'none',
  idempotency: { refuse: 'the link works once; retry without the header.' },
  write: false,
  body: z.strictObject({ token: z.string().min(1).max(200), password: z.string().min(1).max(1024).optional() }),
  example: { token: 'lli_…', password: 'correct horse battery staple' },
  success: { status: 200, description: 'Joined; signed in there, the cookie set.', schema: SignedInSchema },
  errors: [
    'SIGN_IN_LINK_INVALID',
    'INVALID_CREDENTIALS',
    'LOGIN_THROTTLED',
    'CSRF_TOKEN_INVALID',
    'IDEMPOTENCY_KEY_NOT_SUPPORTED',
  ],
  handler: async ({ db, body, services, request, reply, requestId, log }) => {
    const address = request.ip;
    const invitation = await findInvitation(db, body.token);
    // A link that is not one counts as a failed attempt from the address; a password tried, for the account too.
    const subjects = signInSubjects(address, invitation?.email);
    const begun = await beginLoginAttempt(db, signInThrottle(services), subjects);
    if ('wait' in begun) {
      log.warn({ address }, 'invitation acceptance throttled');
      reply.header('retry-after', String(begun.wait));
      throw signInThrottled(begun.wait);
    }
    const { attempt } = begun;
    try {
      if (!invitation) {
        await attempt.failed();
        throw new DomainError(
          'SIGN_IN_LINK_INVALID',
          'The invitation link is unknown, was used or replaced, or has expired; ask the owner who invited you for a new one.',
        );
      }
      if (!(await isInvitedPerson(invitation.userId))) {
        await attempt.failed();
        await recordAudit(db, {
          entityId: invitation.entityId,
          actor: 'anonymous',
          action: 'auth.sign-in-failed',
          objectType: 'user',
          objectId: invitation.userId,
          after: { email: invitation.email, address, invitation: true },
          requestId,
        });
        throw new DomainError('INVALID_CREDENTIALS');
      }
      const session = await db.transaction(async (tx) => {
        const joined = await acceptInvitation(tx, body.token, invitation.userId);
        const actor = `user:${invitation.userId}`;
        await recordAudit(tx, {
          entityId: joined.entityId,
          actor,
          action: 'user.invitation-accepted',
          objectType: 'user',
          objectId: invitation.userId,
          after: { email: invitation.email, role: joined.role },
          requestId,
        });
        const opened = await openUserSession(tx, invitation.userId, joined.entityId, sessionLifetime(services));
        await recordAudit(tx, {
          entityId: joined.entityId,
          actor,
          action: 'auth.sign-in',
          objectType: 'user',
          objectId: invitation.userId,
          after: { address },
          requestId,
        });
        return { opened, joined };
      });
      setSessionCookie(reply, request, services, session.opened.token);
      const memberships = await activeMemberships(db, invitation.userId);
      return {
        user: { id: invitation.userId, email: invitation.email },
        entity: { code: session.joined.code, name: session.joined.name },
        role: session.joined.role,
        entities: memberships.map((m) => ({ code: m.code, name: m.name, role: m.role })),
        csrfToken: session.opened.csrfToken,
        expiresAt: session.opened.expiresAt,
      } satisfies SignedIn;
    } finally {
      await attempt.succeeded().catch((err: unknown) => log.warn({ err }, 'could not uncount a sign-in attempt'));
    }

    /** Whether the caller is the invited account's person: its password, or a session of it with its CSRF token. */
    async function isInvitedPerson(userId: string): Promise<boolean> {
      if (body.password !== undefined) {
        const user = await findUserByEmail(db, invitation!.email);
        const check = await verifyPassword(body.password, user?.passwordHash ?? null, passwordParams(services));
        return user?.id === userId && check.ok;
      }
      const principal = await principalFromCookie(request, services, db);
      if (principal?.kind !== 'entity' || principal.user?.id !== userId) return false;
      checkCsrf(request, principal, services);
      return true;
    }
  },
});
