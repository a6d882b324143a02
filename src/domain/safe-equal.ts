import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether two secrets (tokens, key hashes, signatures, CSRF tokens, derived password keys) are
 * equal, in time that depends on neither value. Both sides are hashed first, so values of any
 * length compare, and the time does not even tell the lengths apart. The one place in src/ that
 * calls `timingSafeEqual`; test/constant-time.test.ts keeps it so.
 */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
