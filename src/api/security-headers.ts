import type { FastifyReply, FastifyRequest } from 'fastify';
import { isHttps } from './cookie-auth.ts';
import type { AppServices } from './services.ts';

/**
 * The policy of every page: only our own scripts, styles, images and forms, never an inline script
 * (an injected <script> does not run), no plugins, framed only by ourselves.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "frame-src 'self'",
  "frame-ancestors 'self'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

const PERMISSIONS_POLICY = 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()';

/** Nothing served is to be sniffed into another type, framed by others, or (from /v1) kept in a cache. */
export function setSecurityHeaders(request: FastifyRequest, reply: FastifyReply, services: AppServices): void {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'SAMEORIGIN');
  // A page whose address holds a one-time token says no-referrer itself: kept, never loosened.
  if (!reply.hasHeader('referrer-policy')) reply.header('referrer-policy', 'same-origin');
  reply.header('cross-origin-opener-policy', 'same-origin');
  reply.header('permissions-policy', PERMISSIONS_POLICY);
  if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
  if (isHttps(request, services)) reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
  // Tokens, keys and customer data: no shared or browser cache keeps a copy.
  if (request.url.startsWith('/v1/') || request.url === '/v1') reply.header('cache-control', 'no-store');
}
