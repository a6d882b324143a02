import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { endSession, login } from '../../ledger/sessions.ts';
import { beginLoginAttempt, signInThrottle } from '../sign-in-throttle.ts';
import { recordAudit } from '../../ledger/audit.ts';
import { DomainError, isDomainError } from '../../domain/errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const loginRoute = defineRoute({
  method: 'POST',
  path: '/v1/auth/login',
  operationId: 'login',
  summary: 'Exchange an entity id and its key pair for a bearer token',
  description:
    'The token is valid for 20 minutes (LEDGERLINK_TOKEN_TTL_SECONDS) and sees only its own entity. ' +
    'Failed logins are audited (never the keys tried) and throttled: after 10 failures (LEDGERLINK_LOGIN_MAX_FAILURES) ' +
    'for one entity id, or from one address, within 15 minutes (LEDGERLINK_LOGIN_WINDOW_SECONDS), every login for it ' +
    'answers 429 LOGIN_THROTTLED with `Retry-After` until the oldest failure leaves the window.',
  tags: ['auth'],
  auth: 'none',
  idempotency: { refuse: 'each login opens a session of its own; retry a login without the header.' },
  // The failure must be counted and audited even though the login itself is refused: no one request transaction.
  write: false,
  body: z.strictObject({
    entityId: z.string().min(1).max(100),
    partnerKey: z.string().min(1).max(200),
    userKey: z.string().min(1).max(200),
  }),
  example: { entityId: '6f1c…', partnerKey: 'pk_…', userKey: 'uk_…' },
  success: {
    status: 200,
    description: 'A bearer token and when it expires.',
    schema: z.object({ token: z.string(), expiresAt: z.string() }),
  },
  errors: ['INVALID_CREDENTIALS', 'LOGIN_THROTTLED', 'IDEMPOTENCY_KEY_NOT_SUPPORTED'],
  handler: async ({ db, body, services, request, reply, requestId, log }) => {
    const { tokenTtlSeconds } = services.config;
    const address = request.ip;
    const subjects = [`entity:${body.entityId.toLowerCase()}`, `address:${address}`];
    // Counted before the keys are checked, so that a burst of parallel guesses is held to the limit too.
    const begun = await beginLoginAttempt(db, signInThrottle(services), subjects);
    if ('wait' in begun) {
      const { wait } = begun;
      log.warn({ address, entityId: body.entityId }, 'login throttled');
      reply.header('retry-after', String(wait));
      throw new DomainError('LOGIN_THROTTLED', `Too many failed logins; retry in ${wait} seconds.`, {
        retryAfterSeconds: wait,
      });
    }
    const { attempt } = begun;
    const entityId = UUID.test(body.entityId) ? body.entityId : null;
    try {
      const session = await db.transaction(async (tx) => {
        const session = await login(tx, body, tokenTtlSeconds);
        await recordAudit(tx, {
          entityId,
          actor: 'anonymous',
          action: 'auth.login',
          objectType: 'session',
          after: { address },
          requestId,
        });
        return session;
      });
      await attempt.succeeded();
      return session;
    } catch (err) {
      if (isDomainError(err) && err.code === 'INVALID_CREDENTIALS') {
        // The attempt's record is the failure counted; the audit says who tried, from where.
        await attempt.failed();
        await recordAudit(db, {
          entityId,
          actor: 'anonymous',
          action: 'auth.login-failed',
          objectType: 'session',
          // Who tried, from where; never the keys tried.
          after: { entityId: body.entityId, address },
          requestId,
        });
      } else {
        await attempt.succeeded().catch(() => undefined);
      }
      throw err;
    }
  },
});

export const logoutRoute = defineRoute({
  method: 'POST',
  path: '/v1/auth/logout',
  operationId: 'logout',
  summary: 'End the session of the bearer token at once',
  description: 'The token is refused (401 UNAUTHORIZED) from this moment on.',
  tags: ['auth'],
  auth: 'entity',
  role: 'viewer',
  idempotency: { ignore: 'the session ends on the first call; the token is refused (401) after it.' },
  success: { status: 204, description: 'The session has ended.' },
  handler: async ({ db, request, audit, principal }) => {
    const token = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim() ?? '';
    await endSession(db, token);
    await audit({
      action: 'auth.logout',
      objectType: 'credential',
      objectId: principal.kind === 'entity' ? principal.credentialId : null,
    });
    return undefined;
  },
});
