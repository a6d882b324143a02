import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { h } from 'preact';
import { isHttps, readCookie, sessionLifetime, setSessionCookie } from '../../api/cookie-auth.ts';
import { OidcClient, randomToken } from '../../api/oidc.ts';
import type { AppServices } from '../../api/services.ts';
import {
  type LoginAttempt,
  accountSubject,
  beginLoginAttempt,
  signInRetryAfter,
  signInSubjects,
  signInThrottle,
  signInThrottled,
} from '../../api/sign-in-throttle.ts';
import { baseUrl } from '../../api/routes/users.ts';
import { DomainError, isDomainError } from '../../domain/errors.ts';
import { recordAudit } from '../../ledger/audit.ts';
import type { Queryable } from '../../db/database.ts';
import { ENTITY_CODE } from '../../ledger/entities.ts';
import {
  OIDC_REQUEST_MINUTES,
  oidcAccountEmail,
  saveOidcSignInRequest,
  takeOidcSignInRequest,
  userForOidcIdentity,
} from '../../ledger/oidc.ts';
import { openUserSession } from '../../ledger/user-sessions.ts';
import { activeMemberships } from '../../ledger/users.ts';
import type { GuardOptions } from '../../sync/http.ts';
import { localeOf } from '../format.ts';
import { SignInPage, SignedInPage, safeNext } from '../pages/sign-in.tsx';
import { sendPage } from '../render.ts';

/**
 * Binds a sign-in in progress to the browser that started it; SameSite=Lax so that it comes back with
 * the provider's redirect. Its value is the random browser token, then `:` and the entity chosen at
 * sign-in when one was (an entity code has no `:`, the token is base64url).
 */
const BROWSER_COOKIE = 'll_oidc';

/** What the browser cookie carries back: the token the attempt is bound to, and the entity chosen. */
function readBrowserCookie(request: FastifyRequest): { browser: string | undefined; entityCode: string | undefined } {
  const value = readCookie(request, BROWSER_COOKIE);
  if (!value) return { browser: undefined, entityCode: undefined };
  const at = value.indexOf(':');
  if (at < 0) return { browser: value, entityCode: undefined };
  return { browser: value.slice(0, at), entityCode: value.slice(at + 1) };
}

/**
 * Refusals that count as failed sign-ins in the throttle (src/api/sign-in-throttle.ts): every one
 * but a provider that could not be reached (not the person's doing), an entity the user is not a
 * member of (the identity was proven; a password sign-in does not count it either) and the throttle's own.
 */
const NOT_COUNTED = new Set(['OIDC_PROVIDER_UNAVAILABLE', 'ENTITY_DOES_NOT_EXIST', 'LOGIN_THROTTLED']);

function browserCookie(request: FastifyRequest, services: AppServices, value: string, maxAge: number): string {
  const attrs = [`${BROWSER_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${maxAge}`];
  if (isHttps(request, services)) attrs.push('Secure');
  return attrs.join('; ');
}

/**
 * GET /sign-in/oidc (to the provider) and its callback (`auth.oidc.redirectPath`): the authorization
 * code flow with PKCE, state and nonce (src/api/oidc.ts). The returning user is the one linked to the
 * provider's (issuer, subject), or the user whose verified e-mail it is, with an active membership:
 * no one is created. The session opens where a password sign-in's would: the entity chosen at sign-in
 * (`?entity=CODE`, as `entityCode` of POST /v1/auth/sign-in), else the user's first by code. Failures
 * count in the password sign-in's throttle, per address, and per account once the provider has vouched
 * for it. As for a password, the return is counted as an attempt under way before its state and code
 * are checked (`beginLoginAttempt`), so a burst of returns is held to the limit. Every refusal is
 * the sign-in page with its code, never a 500.
 */
export function registerOidcPages(app: FastifyInstance, services: AppServices, guard: GuardOptions = {}): void {
  const config = services.config.oidc;
  const db = services.db;
  const client = config ? new OidcClient(config, guard) : null;
  const redirectUri = () => `${baseUrl(services.config)}${config!.redirectPath}`;

  /** LOGIN_THROTTLED with its Retry-After, as the password sign-in answers; logged, neither counted nor audited. */
  const throttled = (request: FastifyRequest, reply: FastifyReply, subjects: string[], wait: number) => {
    request.log.warn({ subjects }, 'OIDC sign-in throttled');
    reply.header('retry-after', String(wait));
    return signInThrottled(wait);
  };

  /** Refuses LOGIN_THROTTLED while any subject has used up its failures. */
  const refuseWhileThrottled = async (
    q: Queryable,
    request: FastifyRequest,
    reply: FastifyReply,
    subjects: string[],
  ) => {
    const wait = await signInRetryAfter(q, services, subjects);
    if (wait > 0) throw throttled(request, reply, subjects, wait);
  };

  const refuse = (request: FastifyRequest, reply: FastifyReply, err: unknown, next = '/') => {
    const domain = isDomainError(err) ? err : null;
    if (!domain) request.log.error({ err }, 'OIDC sign-in failed');
    const error = domain
      ? { code: domain.code, message: domain.message }
      : {
          code: 'OIDC_PROVIDER_UNAVAILABLE',
          message: 'The sign-in through the provider failed on the server; try again.',
        };
    return sendPage(
      reply,
      h(SignInPage, { lang: localeOf(request.headers['accept-language']), next, oidcLabel: config?.label, error }),
      domain?.status ?? 502,
    );
  };

  app.get<{ Querystring: { next?: string; entity?: string } }>('/sign-in/oidc', async (request, reply) => {
    const next = safeNext(request.query.next);
    const entityCode = request.query.entity || undefined;
    try {
      if (!client) throw new DomainError('OIDC_NOT_CONFIGURED');
      if (entityCode !== undefined && (typeof entityCode !== 'string' || !ENTITY_CODE.test(entityCode)))
        throw new DomainError('ENTITY_DOES_NOT_EXIST', 'No entity has this code; check the link you followed.');
      // No trip to the provider for an address that may not sign in now.
      await refuseWhileThrottled(db, request, reply, signInSubjects(request.ip));
      const state = randomToken();
      const nonce = randomToken();
      const codeVerifier = randomToken();
      const browser = randomToken();
      const url = await client.authorizationUrl({ redirectUri: redirectUri(), state, nonce, codeVerifier });
      await saveOidcSignInRequest(db, { state, browser, nonce, codeVerifier, nextPath: next });
      const cookie = entityCode ? `${browser}:${entityCode}` : browser;
      reply.header('set-cookie', browserCookie(request, services, cookie, OIDC_REQUEST_MINUTES * 60));
      return reply.header('cache-control', 'no-store').redirect(url, 303);
    } catch (err) {
      return refuse(request, reply, err, next);
    }
  });

  if (!config || !client) return;

  app.get<{ Querystring: Record<string, string | undefined> }>(config.redirectPath, async (request, reply) => {
    const q = request.query;
    const address = request.ip;
    // The attempt's cookie has served once it comes back, whatever the outcome.
    reply.header('set-cookie', browserCookie(request, services, '', 0));
    const { browser, entityCode } = readBrowserCookie(request);
    const throttle = signInThrottle(services);
    let email: string | null = null;
    // The attempts under way: the address's, then the account's once the provider has vouched for one.
    const attempts: LoginAttempt[] = [];
    /** Ends the attempts before the page goes out: as failures when the refusal counts, else leaving nothing counted. */
    const settle = async (failed: boolean) => {
      for (const attempt of attempts)
        if (failed) await attempt.failed();
        else
          await attempt
            .succeeded()
            .catch((err: unknown) => request.log.warn({ err }, 'could not uncount a sign-in attempt'));
    };
    try {
      // Counted before the state is taken and the code exchanged, so that a burst of parallel returns
      // gets no more checks than the limit; throttled, nothing of the return is looked at.
      const byAddress = signInSubjects(address);
      const begun = await beginLoginAttempt(db, throttle, byAddress);
      if ('wait' in begun) throw throttled(request, reply, byAddress, begun.wait);
      attempts.push(begun.attempt);
      if (typeof q.state !== 'string' || q.state === '' || q.state.length > 200)
        throw new DomainError(
          'OIDC_STATE_INVALID',
          'The provider sent no state back. Start again with the button below.',
        );
      const pending = await takeOidcSignInRequest(db, q.state, browser);
      if (typeof q.error === 'string') {
        const code = /^[a-z_]{1,40}$/.test(q.error) ? q.error : 'error';
        throw new DomainError(
          'OIDC_PROVIDER_ERROR',
          code === 'access_denied'
            ? 'The sign-in was cancelled or refused at the provider.'
            : `The provider answered ${code}.`,
        );
      }
      if (typeof q.code !== 'string' || q.code === '' || q.code.length > 2000)
        throw new DomainError('OIDC_PROVIDER_ERROR', 'The provider sent no authorization code back.');
      const identity = await client.exchange({
        code: q.code,
        redirectUri: redirectUri(),
        codeVerifier: pending.codeVerifier,
        nonce: pending.nonce,
      });
      email = identity.email;
      // The account it signs in (the linked user's, else the token's e-mail: an unknown or disabled
      // user): its failures count against it too, and its throttle holds this sign-in back.
      const byAccount = [accountSubject((await oidcAccountEmail(db, identity)) ?? identity.email)];
      const forAccount = await beginLoginAttempt(db, throttle, byAccount);
      if ('wait' in forAccount) throw throttled(request, reply, byAccount, forAccount.wait);
      attempts.push(forAccount.attempt);
      const session = await db.transaction(async (tx) => {
        const user = await userForOidcIdentity(tx, identity);
        const memberships = user ? await activeMemberships(tx, user.id) : [];
        if (!user || memberships.length === 0)
          throw new DomainError(
            'OIDC_USER_UNKNOWN',
            `No active user has the e-mail ${identity.email}. An owner of your entity adds you first.`,
          );
        const chosen = entityCode ? memberships.find((m) => m.code === entityCode) : memberships[0];
        if (!chosen) throw new DomainError('ENTITY_DOES_NOT_EXIST', `You have no access to an entity ${entityCode}`);
        const opened = await openUserSession(tx, user.id, chosen.entityId, sessionLifetime(services));
        await recordAudit(tx, {
          entityId: chosen.entityId,
          actor: `user:${user.id}`,
          action: 'auth.sign-in',
          objectType: 'user',
          objectId: user.id,
          after: { address, method: 'oidc', issuer: identity.issuer },
          requestId: request.id,
        });
        return opened;
      });
      await settle(false);
      setSessionCookie(reply, request, services, session.token);
      return sendPage(
        reply,
        h(SignedInPage, { lang: localeOf(request.headers['accept-language']), next: pending.nextPath }),
      );
    } catch (err) {
      // Each attempt's record becomes the failure counted against its subject, or goes.
      await settle(isDomainError(err) && !NOT_COUNTED.has(err.code));
      // Throttled attempts are logged, not audited nor counted, so a flood cannot fill the audit trail.
      if (isDomainError(err) && err.code !== 'LOGIN_THROTTLED') {
        await recordAudit(db, {
          entityId: null,
          actor: 'anonymous',
          action: 'auth.sign-in-failed',
          objectType: 'user',
          after: { method: 'oidc', reason: err.code, address, ...(email ? { email } : {}) },
          requestId: request.id,
        });
      }
      return refuse(request, reply, err);
    } finally {
      // Whatever became of the sign-in (a page that could not be sent, a failure not recorded), no
      // attempt stays under way; a no-op for those already ended.
      await settle(false);
    }
  });
}
