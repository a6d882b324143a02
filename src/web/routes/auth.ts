import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { h } from 'preact';
import type { RouteContext } from '../../api/route.ts';
import { signInRoute } from '../../api/routes/user-auth.ts';
import type { AppServices } from '../../api/services.ts';
import { assertStorableText } from '../../api/text-guard.ts';
import { DomainError, isDomainError } from '../../domain/errors.ts';
import { recordAudit } from '../../ledger/audit.ts';
import { localeOf } from '../format.ts';
import { SetPasswordPage, SignInPage, safeNext } from '../pages/sign-in.tsx';
import { sendPage } from '../render.ts';
import { viewerOf } from '../session.ts';

/** What the API takes from an anonymous caller (ANONYMOUS_BODY_LIMIT_BYTES): a sign-in form is far smaller. */
const SIGN_IN_BODY_LIMIT_BYTES = 16 * 1024;

/**
 * Whether a sign-in form was posted from one of this server's own pages. Without it, another site
 * could sign a visitor in to an account of its choosing (login CSRF): a page of ours always says so
 * (`Sec-Fetch-Site: same-origin`, or an `Origin` of ours); a browser that sends neither, or a person
 * who typed the address (`none`), passes, as the API's own check lets requests without `Origin` pass.
 */
export function postedFromOwnPage(request: FastifyRequest, services: AppServices): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  const own = [`${request.protocol}://${request.host}`];
  try {
    if (services.config.publicUrl) own.push(new URL(services.config.publicUrl).origin);
  } catch {
    // a public URL that does not parse was refused at start; nothing to add
  }
  return own.includes(origin);
}

/** A refusal of the sign-in as the page shows it: in words for a person, with its code. */
function signInError(err: DomainError): { code: string; message: string } {
  const wait = (err.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  const message =
    err.code === 'INVALID_CREDENTIALS'
      ? 'The email or password is not right. Check them and try again.'
      : err.code === 'LOGIN_THROTTLED'
        ? `Too many failed attempts. For your security, signing in is paused: try again in ${
            typeof wait === 'number' && wait >= 90 ? `${Math.ceil(wait / 60)} minutes` : `${String(wait)} seconds`
          }.`
        : err.code === 'VALIDATION_ERROR'
          ? 'Enter your email address and your password.'
          : err.message;
  return { code: err.code, message };
}

/**
 * POST /sign-in: the sign-in form as a browser posts it without JavaScript (or before /assets/app.js
 * has loaded), urlencoded. It runs the JSON sign-in's own handler (POST /v1/auth/sign-in: the same
 * throttle, the same constant-time password check, the same audit and the same SameSite=Strict
 * session cookie), then goes on to `next` (303), or shows the form again with the refusal: never JSON.
 */
async function signInWithForm(request: FastifyRequest, reply: FastifyReply, services: AppServices) {
  const form = (request.body && typeof request.body === 'object' ? request.body : {}) as Record<string, unknown>;
  const text = (name: string) => (typeof form[name] === 'string' ? form[name] : undefined);
  const next = safeNext((request.query as { next?: unknown }).next);
  const email = text('email');
  const entityCode = text('entityCode') || undefined;
  const again = (err: DomainError) => {
    if (err.code === 'LOGIN_THROTTLED') {
      const wait = (err.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
      if (typeof wait === 'number') reply.header('retry-after', String(wait));
    }
    return sendPage(
      reply,
      h(SignInPage, {
        lang: localeOf(request.headers['accept-language']),
        next,
        entity: entityCode?.slice(0, 50),
        email: email?.slice(0, 254),
        oidcLabel: services.config.oidc?.label,
        error: signInError(err),
      }),
      err.status,
    );
  };
  try {
    if (!postedFromOwnPage(request, services))
      throw new DomainError(
        'CSRF_TOKEN_INVALID',
        'This sign-in was sent from another site, so it was refused. Open this page yourself and sign in here.',
      );
    const body = { email, password: text('password'), ...(entityCode ? { entityCode } : {}) };
    assertStorableText(body, 'body');
    const parsed = signInRoute.body!.safeParse(body);
    if (!parsed.success) throw new DomainError('VALIDATION_ERROR', 'email and password are required');
    // The JSON route's handler itself, given what the API's router would give it (sign-in is not a
    // write: it commits its own transactions; it answers with the cookie set on `reply`).
    const ctx: RouteContext<unknown, unknown, unknown> = {
      params: undefined,
      query: undefined,
      body: parsed.data,
      db: services.db,
      principal: { kind: 'anonymous', actor: 'anonymous' },
      get entity(): never {
        throw new DomainError('UNAUTHORIZED', 'This endpoint needs an entity token.');
      },
      services,
      log: request.log as unknown as Logger,
      requestId: request.id,
      request,
      reply,
      setStatus: () => undefined,
      audit: (entry) =>
        recordAudit(services.db, {
          ...entry,
          entityId: entry.entityId ?? null,
          actor: 'anonymous',
          requestId: request.id,
        }),
    };
    await signInRoute.handler(ctx);
  } catch (err) {
    if (!isDomainError(err)) throw err;
    return again(err);
  }
  return reply.redirect(next, 303);
}

/**
 * GET /sign-in and /sign-in/set-password: the forms; /assets/app.js posts them to POST
 * /v1/auth/sign-in and /v1/auth/set-password, which set the session cookie and the password.
 * POST /sign-in takes the sign-in form without JavaScript (signInWithForm).
 * `/sign-in?entity=CODE` signs in to that entity, by password or through the OIDC provider.
 */
export function registerAuthPages(app: FastifyInstance, services: AppServices): void {
  app.get<{ Querystring: { next?: string; password?: string; entity?: string } }>(
    '/sign-in',
    async (request, reply) => {
      const next = safeNext(request.query.next);
      // Passed on as it is: the sign-in refuses an entity the user is not in (ENTITY_DOES_NOT_EXIST).
      const entity =
        typeof request.query.entity === 'string' && request.query.entity !== ''
          ? request.query.entity.slice(0, 50)
          : undefined;
      if (await viewerOf(request, services)) return reply.redirect(next, 303);
      const notice = request.query.password === 'set' ? 'Your password is set. Sign in with it.' : undefined;
      return sendPage(
        reply,
        h(SignInPage, {
          lang: localeOf(request.headers['accept-language']),
          next,
          entity,
          notice,
          oidcLabel: services.config.oidc?.label,
        }),
      );
    },
  );
  app.post('/sign-in', { bodyLimit: SIGN_IN_BODY_LIMIT_BYTES }, (request, reply) =>
    signInWithForm(request, reply, services),
  );
  app.get<{ Querystring: { token?: string } }>('/sign-in/set-password', async (request, reply) => {
    const token = typeof request.query.token === 'string' && request.query.token !== '' ? request.query.token : null;
    // The token is in this page's URL: no other site may see it as a referrer.
    reply.header('referrer-policy', 'no-referrer');
    return sendPage(reply, h(SetPasswordPage, { lang: localeOf(request.headers['accept-language']), token }));
  });
}
