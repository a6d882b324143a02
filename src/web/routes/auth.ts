import type { FastifyInstance } from 'fastify';
import { h } from 'preact';
import type { AppServices } from '../../api/services.ts';
import { localeOf } from '../format.ts';
import { SetPasswordPage, SignInPage, safeNext } from '../pages/sign-in.tsx';
import { sendPage } from '../render.ts';
import { viewerOf } from '../session.ts';

/**
 * GET /sign-in and /sign-in/set-password: the forms; /assets/app.js posts them to POST
 * /v1/auth/sign-in and /v1/auth/set-password, which set the session cookie and the password.
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
  app.get<{ Querystring: { token?: string } }>('/sign-in/set-password', async (request, reply) => {
    const token = typeof request.query.token === 'string' && request.query.token !== '' ? request.query.token : null;
    // The token is in this page's URL: no other site may see it as a referrer.
    reply.header('referrer-policy', 'no-referrer');
    return sendPage(reply, h(SetPasswordPage, { lang: localeOf(request.headers['accept-language']), token }));
  });
}
