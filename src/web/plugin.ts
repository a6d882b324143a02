import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { h } from 'preact';
import type { FailedAuthThrottle } from '../api/auth-throttle.ts';
import type { AppServices } from '../api/services.ts';
import { DomainError, isDomainError } from '../domain/errors.ts';
import { findUnstorable } from '../domain/storable.ts';
import { registerAssets } from './assets.ts';
import { ErrorNotice } from './components/common.tsx';
import type { PageContext, Viewer } from './context.ts';
import { localeOf } from './format.ts';
import { ErrorPage } from './pages/error.tsx';
import { PlainErrorPage } from './pages/sign-in.tsx';
import { sendFragment, sendPage } from './render.ts';
import { registerAuditPage } from './routes/audit.ts';
import { registerAuthPages } from './routes/auth.ts';
import { registerFavicon } from './routes/favicon.ts';
import { registerConnectionPages } from './routes/connections.ts';
import { registerCustomerPages } from './routes/customers.ts';
import { registerExceptionPages } from './routes/exceptions.ts';
import { registerOidcPages } from './routes/oidc.ts';
import { registerOverview } from './routes/overview.ts';
import { registerReconciliationPages } from './routes/reconciliation.ts';
import { registerRunPages } from './routes/runs.ts';
import { registerTransactionPages } from './routes/transactions.ts';
import { registerSettingsPages } from './routes/settings.ts';
import { redirectToSignIn, refuseThrottledSession, throttleSessionCookies, viewerOf } from './session.ts';

/** A urlencoded form as an object; a name given more than once becomes an array. */
function parseForm(text: string): Record<string, string | string[]> {
  const form: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const prior = form[key];
    form[key] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
  }
  return form;
}

/**
 * Refuses 400 VALIDATION_ERROR a path parameter or a posted field (urlencoded or JSON, names
 * included) holding what no stored text can (a NUL, half a surrogate pair: src/domain/storable.ts),
 * before the handler runs, so that it never reaches the database: the guard the /v1 routes get from
 * src/api/text-guard.ts. The query is left to each page's reader (src/web/components/filters.tsx),
 * which shows a filter holding one as matching nothing, and says so.
 */
function refuseUnstorable(request: FastifyRequest): void {
  const inPath = findUnstorable(request.params, ['params']);
  const found = inPath ?? findUnstorable(request.body, ['form']);
  if (!found) return;
  const message = inPath
    ? `The address holds a character no stored text has (${found.field}: ${found.message}), so there is nothing under it.`
    : `The form holds a character no stored text has (${found.field}: ${found.message}), so nothing was changed. Remove it and try again.`;
  throw new DomainError('VALIDATION_ERROR', message, [found]);
}

/** How the dashboard's routes are declared: the viewer is settled before the handler runs. */
export interface Dashboard {
  services: AppServices;
  /** A page for signed-in viewers; anyone else is sent to /sign-in and back. */
  page(
    path: string,
    handler: (ctx: PageContext, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
  ): void;
  /**
   * A change (POST) by a signed-in viewer; it answers a fragment. A refusal it throws is shown in the
   * page's flash area (emptied by /assets/app.js when the next change is sent); one about a field of
   * its form, or one that replaces its region's notice, the handler answers in its region itself.
   */
  action(
    path: string,
    handler: (ctx: PageContext, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
  ): void;
}

function pageContext(request: FastifyRequest, viewer: Viewer): PageContext {
  return { viewer, locale: localeOf(request.headers['accept-language']), now: new Date(), url: request.url };
}

const TITLES: Record<number, string> = { 403: 'Not allowed', 404: 'Not found', 429: 'Please wait' };

/** What a person is told instead of the API's wording, where that speaks of headers. */
const FRIENDLY: Partial<Record<string, string>> = {
  CSRF_TOKEN_INVALID:
    'The page was out of date or the request did not come from it (its security token was missing or wrong), so nothing was changed. Reload the page and try again.',
};

/**
 * The web dashboard: server-rendered pages at `/`, their htmx fragments and static assets, in a
 * plugin scope of its own (its own form parser and error pages; the /v1 API is untouched). Pages
 * read through the same src/ledger and src/sync functions as the API's routes.
 */
export async function registerDashboard(
  app: FastifyInstance,
  services: AppServices,
  authThrottle: FailedAuthThrottle,
): Promise<void> {
  throttleSessionCookies(services, authThrottle);
  await app.register(async (scope) => {
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 64 * 1024 },
      (_request, body, done) => done(null, parseForm(typeof body === 'string' ? body : body.toString('utf8'))),
    );
    registerAssets(scope);

    const fail = (request: FastifyRequest, reply: FastifyReply, viewer: Viewer | null, err: unknown) => {
      const domain = isDomainError(err) ? err : null;
      if (!domain) request.log.error({ err }, 'dashboard page failed');
      const status = domain?.status ?? 500;
      const message =
        (domain && FRIENDLY[domain.code]) ??
        domain?.message ??
        'Something went wrong on the server. Try again; if it persists, see the server log.';
      const code = domain?.code;
      // A throttle says when to come back, as /v1's answers do.
      const wait = (domain?.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
      if (status === 429 && typeof wait === 'number') reply.header('retry-after', String(wait));
      if (request.headers['hx-request']) {
        // Shown in the page's flash area, whatever the element that asked (app.js empties it when the
        // next change is sent, so it never stands above a newer result).
        return sendFragment(
          reply.header('hx-retarget', '#flash').header('hx-reswap', 'innerHTML'),
          h(ErrorNotice, { code, message }),
          status,
        );
      }
      const title = TITLES[status] ?? (status >= 500 ? 'Something went wrong' : 'Could not do that');
      if (!viewer) {
        return sendPage(
          reply,
          h(PlainErrorPage, { lang: localeOf(request.headers['accept-language']), title, message }),
          status,
        );
      }
      return sendPage(reply, h(ErrorPage, { ctx: pageContext(request, viewer), title, code, message }), status);
    };

    const route =
      (change: boolean) =>
      (
        path: string,
        handler: (ctx: PageContext, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
      ): void => {
        scope.route({
          method: change ? 'POST' : 'GET',
          url: path,
          handler: async (request, reply) => {
            let viewer: Viewer | null = null;
            try {
              // Who is asking comes first, as on /v1: a throttled address, then the sign-in, then the input.
              refuseThrottledSession(request, services);
              viewer = await viewerOf(request, services);
              if (!viewer) return redirectToSignIn(request, reply);
              refuseUnstorable(request);
              return await handler(pageContext(request, viewer), request, reply);
            } catch (err) {
              return fail(request, reply, viewer, err);
            }
          },
        });
      };
    const dashboard: Dashboard = { services, page: route(false), action: route(true) };

    // Served without a session, like the sign-in pages: the icon a browser asks for on its first page.
    registerFavicon(scope);
    registerAuthPages(scope, services);
    registerOidcPages(scope, services);
    registerOverview(dashboard);
    registerRunPages(dashboard);
    registerExceptionPages(dashboard);
    registerCustomerPages(dashboard);
    registerTransactionPages(dashboard);
    registerAuditPage(dashboard);
    registerConnectionPages(dashboard);
    registerReconciliationPages(dashboard);
    registerSettingsPages(dashboard);
  });
}
