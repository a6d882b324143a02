import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { h } from 'preact';
import { isHttps, readCookie, sessionLifetime, setSessionCookie } from '../../api/cookie-auth.ts';
import { OidcClient, randomToken } from '../../api/oidc.ts';
import type { AppServices } from '../../api/services.ts';
import { baseUrl } from '../../api/routes/users.ts';
import { DomainError, isDomainError } from '../../domain/errors.ts';
import { recordAudit } from '../../ledger/audit.ts';
import {
  OIDC_REQUEST_MINUTES,
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

/** Binds a sign-in in progress to the browser that started it; SameSite=Lax so that it comes back with the provider's redirect. */
const BROWSER_COOKIE = 'll_oidc';

function browserCookie(request: FastifyRequest, services: AppServices, value: string, maxAge: number): string {
  const attrs = [`${BROWSER_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${maxAge}`];
  if (isHttps(request, services)) attrs.push('Secure');
  return attrs.join('; ');
}

/**
 * GET /sign-in/oidc (to the provider) and its callback (`auth.oidc.redirectPath`): the authorization
 * code flow with PKCE, state and nonce (src/api/oidc.ts). The returning user is the one linked to the
 * provider's (issuer, subject), or the user whose verified e-mail it is, with an active membership:
 * no one is created. Every refusal is the sign-in page with an OIDC_* code, never a 500.
 */
export function registerOidcPages(app: FastifyInstance, services: AppServices, guard: GuardOptions = {}): void {
  const config = services.config.oidc;
  const db = services.db;
  const client = config ? new OidcClient(config, guard) : null;
  const redirectUri = () => `${baseUrl(services.config)}${config!.redirectPath}`;

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

  app.get<{ Querystring: { next?: string } }>('/sign-in/oidc', async (request, reply) => {
    const next = safeNext(request.query.next);
    try {
      if (!client) throw new DomainError('OIDC_NOT_CONFIGURED');
      const state = randomToken();
      const nonce = randomToken();
      const codeVerifier = randomToken();
      const browser = randomToken();
      const url = await client.authorizationUrl({ redirectUri: redirectUri(), state, nonce, codeVerifier });
      await saveOidcSignInRequest(db, { state, browser, nonce, codeVerifier, nextPath: next });
      reply.header('set-cookie', browserCookie(request, services, browser, OIDC_REQUEST_MINUTES * 60));
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
    let email: string | null = null;
    try {
      if (typeof q.state !== 'string' || q.state === '' || q.state.length > 200)
        throw new DomainError(
          'OIDC_STATE_INVALID',
          'The provider sent no state back. Start again with the button below.',
        );
      const pending = await takeOidcSignInRequest(db, q.state, readCookie(request, BROWSER_COOKIE));
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
      const session = await db.transaction(async (tx) => {
        const user = await userForOidcIdentity(tx, identity);
        const memberships = user ? await activeMemberships(tx, user.id) : [];
        if (!user || memberships.length === 0)
          throw new DomainError(
            'OIDC_USER_UNKNOWN',
            `No active user has the e-mail ${identity.email}. An owner of your entity adds you first.`,
          );
        const opened = await openUserSession(tx, user.id, memberships[0]!.entityId, sessionLifetime(services));
        await recordAudit(tx, {
          entityId: memberships[0]!.entityId,
          actor: `user:${user.id}`,
          action: 'auth.sign-in',
          objectType: 'user',
          objectId: user.id,
          after: { address, method: 'oidc', issuer: identity.issuer },
          requestId: request.id,
        });
        return opened;
      });
      setSessionCookie(reply, request, services, session.token);
      return sendPage(
        reply,
        h(SignedInPage, { lang: localeOf(request.headers['accept-language']), next: pending.nextPath }),
      );
    } catch (err) {
      if (isDomainError(err)) {
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
    }
  });
}
