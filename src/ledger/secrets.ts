import { createHash } from 'node:crypto';
import { safeEqual } from '../domain/safe-equal.ts';

/** Keys and tokens are long random strings, so one SHA-256 is enough to store them safely. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Compares two secrets in constant time (src/domain/safe-equal.ts). */
export function secretsEqual(a: string, b: string): boolean {
  return safeEqual(a, b);
}
