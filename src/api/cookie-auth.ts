import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { secretsEqual } from '../ledger/secrets.ts';
import { resolveApiKey, resolveUserSession, type SessionLifetime } from '../ledger/user-sessions.ts';
import type { EntityPrincipal, Principal } from './route.ts';
import type { AppServices } from './services.ts';

/** The browser session cookie. */
export const SESSION_COOKIE = 'll_session';

/** The value of one cookie of the request's Cookie header, or undefined. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The session cookie's token as sent, or undefined. */
export function sessionTokenOf(request: FastifyRequest): string | undefined {
  return readCookie(request, SESSION_COOKIE);
}

export function sessionLifetime(services: AppServices): SessionLifetime {
  return { idleSeconds: services.config.sessionIdleSeconds, maxSeconds: services.config.sessionMaxSeconds };
}

/**
 * True when the browser reached the server over HTTPS: the connection itself, the proxy's
 * X-Forwarded-Proto where the server trusts its proxy (fastify's `request.protocol`), or a public
 * URL that is https (the server sits behind a TLS-terminating proxy).
 */
export function isHttps(request: FastifyRequest, services: AppServices): boolean {
  return request.protocol === 'https' || (services.config.publicUrl ?? '').startsWith('https:');
}

/** Sets the session cookie: HttpOnly, SameSite=Strict, Path=/, Secure behind HTTPS. */
export function setSessionCookie(
  reply: FastifyReply,
  request: FastifyRequest,
  services: AppServices,
  token: string,
): void {
  const attrs = [
    `${SESSION_COOKIE}=${token}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${services.config.sessionMaxSeconds}`,
  ];
  if (isHttps(request, services)) attrs.push('Secure');
  reply.header('set-cookie', attrs.join('; '));
}

/** Clears the session cookie in the browser. */
export function clearSessionCookie(reply: FastifyReply, request: FastifyRequest, services: AppServices): void {
  const attrs = [`${SESSION_COOKIE}=`, 'Path=/', 'HttpOnly', 'SameSite=Strict', 'Max-Age=0'];
  if (isHttps(request, services)) attrs.push('Secure');
  reply.header('set-cookie', attrs.join('; '));
}

async function entityPrincipal(
  services: AppServices,
  db: Queryable,
  access: { userId: string; email: string; entityId: string; role: EntityPrincipal['role'] },
  via: 'apiKey' | 'cookie',
  csrfToken?: string,
): Promise<EntityPrincipal | null> {
  const entity = await services.entity(db, access.entityId);
  if (!entity) return null;
  return {
    kind: 'entity',
    entity,
    credentialId: null,
    role: access.role,
    user: { id: access.userId, email: access.email },
    via,
    actor: `user:${access.userId}`,
    ...(csrfToken ? { csrfToken } : {}),
  };
}

/**
 * The principal of the request's session cookie, or null when there is no live session. Page
 * routes (the dashboard) authenticate with this, as /v1 routes do when no bearer token is sent.
 * Changes made with it must pass `checkCsrf`.
 */
export async function principalFromCookie(
  request: FastifyRequest,
  services: AppServices,
  db: Queryable,
): Promise<Principal | null> {
  const token = sessionTokenOf(request);
  if (!token) return null;
  const session = await resolveUserSession(db, token, sessionLifetime(services));
  if (!session) return null;
  return entityPrincipal(services, db, session, 'cookie', session.csrfToken);
}

/** The principal of a user API key (`llk_…`), or null when it is not a live key. */
export async function principalFromApiKey(
  key: string,
  services: AppServices,
  db: Queryable,
): Promise<EntityPrincipal | null> {
  const access = await resolveApiKey(db, key);
  return access ? entityPrincipal(services, db, access, 'apiKey') : null;
}

/** The CSRF token a page embeds in its forms (cookie sessions only). */
export function csrfTokenOf(principal: Principal): string | null {
  return principal.kind === 'entity' && principal.via === 'cookie' ? (principal.csrfToken ?? null) : null;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The origins the server answers as: its public URL, and the host the request was sent to. */
function ownOrigins(request: FastifyRequest, services: AppServices): string[] {
  const origins = [`${request.protocol}://${request.host}`];
  const publicUrl = services.config.publicUrl;
  if (publicUrl) {
    try {
      origins.push(new URL(publicUrl).origin);
    } catch {
      // a public URL that does not parse was refused at start; nothing to add
    }
  }
  return origins;
}

/**
 * Refuses (CSRF_TOKEN_INVALID) a change made with the session cookie unless it carries the
 * session's CSRF token — header `X-CSRF-Token`, or form field `_csrf` of a parsed form body — and,
 * when the browser says where it comes from (`Origin`), comes from this server. Safe methods and
 * bearer-token requests pass: a browser never sends a bearer token by itself.
 */
export function checkCsrf(request: FastifyRequest, principal: Principal, services?: AppServices): void {
  if (SAFE_METHODS.has(request.method)) return;
  if (principal.kind !== 'entity' || principal.via !== 'cookie') return;
  const expected = principal.csrfToken;
  const refuse = (why: string) =>
    new DomainError('CSRF_TOKEN_INVALID', `${why}; send the session's CSRF token in X-CSRF-Token.`, {
      reason: why,
    });
  const origin = request.headers.origin;
  if (origin !== undefined) {
    const own = services ? ownOrigins(request, services) : [`${request.protocol}://${request.host}`];
    if (!own.includes(origin)) throw refuse(`the request comes from another origin (${origin.slice(0, 100)})`);
  }
  const header = request.headers['x-csrf-token'];
  const body = request.body as Record<string, unknown> | null | undefined;
  const given =
    typeof header === 'string'
      ? header
      : body && typeof body === 'object' && typeof body._csrf === 'string'
        ? body._csrf
        : undefined;
  if (given === undefined || given === '') throw refuse('the CSRF token is missing');
  if (!expected || !secretsEqual(given, expected)) throw refuse('the CSRF token does not match the session');
}
