import type { FastifyReply, FastifyRequest } from 'fastify';
import { checkCsrf, csrfTokenOf, principalFromCookie } from '../api/cookie-auth.ts';
import type { AppServices } from '../api/services.ts';
import { DomainError } from '../domain/errors.ts';
import { activeMemberships } from '../ledger/users.ts';
import { roleAtLeast } from '../domain/roles.ts';
import type { Role, Viewer } from './context.ts';

/**
 * The signed-in viewer of a page request, from the session cookie (src/api/cookie-auth.ts, the same
 * sessions as /v1), or null when there is none or it expired.
 */
export async function viewerOf(request: FastifyRequest, services: AppServices): Promise<Viewer | null> {
  const principal = await principalFromCookie(request, services, services.db);
  if (!principal || principal.kind !== 'entity') return null;
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
