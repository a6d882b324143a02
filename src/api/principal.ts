import type { FastifyRequest } from 'fastify';
import type { Queryable } from '../db/database.ts';
import { DomainError, isDomainError } from '../domain/errors.ts';
import { wasIssued } from '../ledger/issued-credentials.ts';
import { secretsEqual } from '../ledger/secrets.ts';
import { authenticate } from '../ledger/sessions.ts';
import type { FailedAuthThrottle } from './auth-throttle.ts';
import { principalFromApiKey, principalFromCookie, sessionTokenOf } from './cookie-auth.ts';
import { type AnyRoute, minimumRole, type Principal, roleAtLeast } from './route.ts';
import type { AppServices } from './services.ts';

/** Who calls a route that needs no credential. */
export const ANONYMOUS: Principal = { kind: 'anonymous', actor: 'anonymous' };

/** The token of an `Authorization: Bearer …` header, if the request sent one. */
function bearerTokenOf(request: FastifyRequest): string | undefined {
  return /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim() || undefined;
}

/**
 * Who is calling a route: an admin (the admin token), an entity principal (a user API key, a
 * browser session cookie, or an entity key pair's session token) or anonymous. Refuses
 * UNAUTHORIZED, TOKEN_EXPIRED, ADMIN_TOKEN_REQUIRED or ADMIN_API_DISABLED.
 */
async function resolvePrincipal(
  route: AnyRoute,
  request: FastifyRequest,
  services: AppServices,
  db: Queryable,
): Promise<Principal> {
  if (route.auth === 'none') return ANONYMOUS;
  const header = request.headers.authorization;
  const token = bearerTokenOf(request);
  const { adminToken } = services.config;
  if (route.auth === 'admin' && !adminToken) throw new DomainError('ADMIN_API_DISABLED');
  if (!token) {
    // A browser sends no Authorization header: its session cookie speaks for it on entity routes.
    if (header === undefined && route.auth !== 'admin' && sessionTokenOf(request) !== undefined) {
      const principal = await principalFromCookie(request, services, db);
      if (principal) return principal;
      throw new DomainError('UNAUTHORIZED', 'The session has ended or is not valid; sign in again.');
    }
    throw new DomainError(route.auth === 'admin' ? 'ADMIN_TOKEN_REQUIRED' : 'UNAUTHORIZED', undefined);
  }
  if ((route.auth === 'admin' || route.auth === 'entityOrAdmin') && adminToken && secretsEqual(token, adminToken)) {
    return { kind: 'admin', actor: 'admin' };
  }
  if (route.auth === 'admin') throw new DomainError('ADMIN_TOKEN_REQUIRED');
  if (token.startsWith('llk_')) {
    const principal = await principalFromApiKey(token, services, db);
    if (!principal) throw new DomainError('UNAUTHORIZED', 'The API key is not valid or has been revoked.');
    return principal;
  }
  const session = await authenticate(db, token);
  const entity = await services.entity(db, session.entityId);
  if (!entity) throw new DomainError('UNAUTHORIZED');
  // The entity key pair is the entity's own login: it stays an owner, as before roles existed.
  return {
    kind: 'entity',
    entity,
    credentialId: session.credentialId,
    role: 'owner',
    user: null,
    via: 'keyPair',
    actor: `credential:${session.credentialId}`,
  };
}

/**
 * resolvePrincipal behind the throttle of failed authentications (src/api/auth-throttle.ts): a
 * request carrying a token or a session cookie from an address past the limit is refused 429
 * before the credential is looked up. A refused credential counts against its address only when
 * it matches nothing this server issued: a guess. One that did exist (a cookie kept past its
 * session's end, a revoked API key still in a script) is refused all the same but not counted,
 * or one stale browser tab behind an office's shared address would lock the whole office out.
 */
export async function principalOf(
  route: AnyRoute,
  request: FastifyRequest,
  services: AppServices,
  throttle: FailedAuthThrottle,
): Promise<Principal> {
  const presented = request.headers.authorization !== undefined || sessionTokenOf(request) !== undefined;
  if (!presented) return resolvePrincipal(route, request, services, services.db);
  const wait = throttle.retryAfter(request.ip);
  if (wait > 0) {
    request.log.warn({ address: request.ip }, 'authentication throttled');
    throw new DomainError(
      'AUTH_THROTTLED',
      `Too many requests with a token that is not valid came from this address; retry in ${wait} seconds.`,
      { retryAfterSeconds: wait },
    );
  }
  try {
    return await resolvePrincipal(route, request, services, services.db);
  } catch (err) {
    if (isDomainError(err) && (err.code === 'UNAUTHORIZED' || err.code === 'ADMIN_TOKEN_REQUIRED')) {
      const credential = bearerTokenOf(request) ?? sessionTokenOf(request);
      if (credential === undefined || !(await wasIssued(services.db, credential))) throttle.recordFailure(request.ip);
    }
    throw err;
  }
}

/** Refuses FORBIDDEN_ROLE when an entity principal's role is below the route's. */
export function checkRole(route: AnyRoute, principal: Principal): void {
  if (principal.kind !== 'entity') return;
  const needed = minimumRole(route);
  if (roleAtLeast(principal.role, needed)) return;
  throw new DomainError(
    'FORBIDDEN_ROLE',
    `${route.method} ${route.path} needs the role ${needed}; this ${principal.via === 'apiKey' ? 'API key' : 'user'} is ${principal.role}.`,
    { requiredRole: needed, role: principal.role },
  );
}
