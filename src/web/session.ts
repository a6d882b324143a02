import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FailedAuthThrottle } from '../api/auth-throttle.ts';
import { checkCsrf, csrfTokenOf, principalFromCookie, sessionTokenOf } from '../api/cookie-auth.ts';
import type { AppServices } from '../api/services.ts';
import { DomainError } from '../domain/errors.ts';
import { wasIssued } from '../ledger/issued-credentials.ts';
import { activeMemberships } from '../ledger/users.ts';
import { roleAtLeast } from '../domain/roles.ts';
import type { Role, Viewer } from './context.ts';

/*
 * The throttle /v1 counts refused tokens and cookies in (src/api/auth-throttle.ts), one per server,
 * found by its services: registerDashboard sets it. It is looked up here rather than passed in
 * because every read of a session cookie by the dashboard goes through viewerOf, the sign-in page's
 * "already signed in?" (src/web/routes/auth.ts) too, and each of them must count a guess.
 */
const throttles = new WeakMap<AppServices, FailedAuthThrottle>();

/** Counts the dashboard's refused session cookies in `throttle`, the one of /v1 (src/api/server.ts). */
export function throttleSessionCookies(services: AppServices, throttle: FailedAuthThrottle): void {
  throttles.set(services, throttle);
}

/** Seconds before a session cookie from the request's address is looked at again; 0 when now. */
function throttledFor(request: FastifyRequest, services: AppServices): number {
  if (sessionTokenOf(request) === undefined) return 0;
  return throttles.get(services)?.retryAfter(request.ip) ?? 0;
}

/**
 * Refuses 429 AUTH_THROTTLED a page or action whose session cookie comes from an address past the
 * limit of refused credentials, before the cookie is looked up, even a good one: as /v1 does
 * (src/api/principal.ts), so that the dashboard answers no guess /v1 would not. A request without
 * a cookie is not held back: it goes to the sign-in page, which stays open (as POST
 * /v1/auth/sign-in does, under its own LOGIN_THROTTLED).
 */
export function refuseThrottledSession(request: FastifyRequest, services: AppServices): void {
  const wait = throttledFor(request, services);
  if (wait === 0) return;
  request.log.warn({ address: request.ip }, 'authentication throttled');
  const words = wait >= 90 ? `${Math.ceil(wait / 60)} minutes` : `${wait} seconds`;
  throw new DomainError(
    'AUTH_THROTTLED',
    `Too many requests with a session or token that is not valid came from this address, so it is held back for now. Wait ${words}, then reload the page.`,
    { retryAfterSeconds: wait },
  );
}

/**
 * The signed-in viewer of a page request, from the session cookie (src/api/cookie-auth.ts, the same
 * sessions as /v1), or null when there is none or it expired. A cookie that matches no session this
 * server issued (a guess, not one that has ended) counts against the address in /v1's throttle; from
 * an address past its limit the cookie is not looked at (null).
 */
export async function viewerOf(request: FastifyRequest, services: AppServices): Promise<Viewer | null> {
  const token = sessionTokenOf(request);
  if (token === undefined || throttledFor(request, services) > 0) return null;
  const principal = await principalFromCookie(request, services, services.db);
  if (!principal || principal.kind !== 'entity') {
    const throttle = throttles.get(services);
    if (throttle && !(await wasIssued(services.db, token))) throttle.recordFailure(request.ip);
    return null;
  }
  const entities = principal.user ? await activeMemberships(services.db, principal.user.id) : [];
  return {
    entity: principal.entity,
    role: principal.role,
    user: principal.user,
    actor: principal.actor,
    csrfToken: csrfTokenOf(principal),
    entities: entities.map((m) => ({ code: m.code, name: m.name, role: m.role })),
    principal,
  };
}

/**
 * What a change from the dashboard must pass: a signed-in viewer, the session's CSRF token (field
 * `_csrf` or header `X-CSRF-Token`, and no foreign Origin), then at least `minimum` role. The same
 * checks, with the same error codes, as the /v1 routes make.
 */
export function assertMayChange(request: FastifyRequest, services: AppServices, viewer: Viewer, minimum: Role): void {
  checkCsrf(request, viewer.principal, services);
  if (!roleAtLeast(viewer.role, minimum)) {
    throw new DomainError(
      'FORBIDDEN_ROLE',
      `This needs the ${minimum} role or higher; you are signed in as ${viewer.role} of ${viewer.entity.code}.`,
      { requiredRole: minimum, role: viewer.role },
    );
  }
}

/** Where an unauthenticated page request goes: the sign-in page, then back here. */
export function redirectToSignIn(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const next = request.headers['hx-request'] ? (request.headers['hx-current-url'] ?? '/') : request.url;
  let path = '/';
  try {
    const u = new URL(String(next), 'http://x');
    path = u.pathname + u.search;
  } catch {
    // a header that is not a URL: back to the overview after signing in
  }
  const target = `/sign-in?next=${encodeURIComponent(path)}`;
  // htmx follows HX-Redirect with a full page load; a plain request gets a redirect.
  if (request.headers['hx-request']) return reply.status(401).header('hx-redirect', target).send('');
  return reply.redirect(target, 303);
}
