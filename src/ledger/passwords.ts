import { randomBytes, scrypt as scryptCallback, type ScryptOptions } from 'node:crypto';
import { safeEqual } from '../domain/safe-equal.ts';
import { DomainError } from '../domain/errors.ts';

/**
 * Passwords are hashed with scrypt (memory-hard; Node's built-in binding of OpenSSL's
 * implementation, maintained with Node itself). The stored text names the algorithm and its
 * parameters — `scrypt$ln=17,r=8,p=1$<salt>$<hash>` — so a hash made with other parameters still
 * verifies, and is replaced at the next sign-in.
 */
export interface PasswordHashParams {
  /** log2 of the CPU/memory cost N. OWASP: N = 2^17 (128 MiB with r = 8). */
  logN: number;
  r: number;
  p: number;
}

export const DEFAULT_PASSWORD_PARAMS: PasswordHashParams = { logN: 17, r: 8, p: 1 };

const KEY_LENGTH = 32;

function scrypt(password: string, salt: Buffer, params: PasswordHashParams): Promise<Buffer> {
  const N = 2 ** params.logN;
  // scrypt needs 128 * N * r bytes; Node's default ceiling (32 MiB) is below OWASP's parameters.
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scryptCallback(password.normalize('NFC'), salt, KEY_LENGTH, options, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** A new hash of `password` with `params`, as stored. */
export async function hashPassword(password: string, params: PasswordHashParams): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, params);
  return `scrypt$ln=${params.logN},r=${params.r},p=${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

function parseHash(stored: string): { params: PasswordHashParams; salt: Buffer; key: Buffer } | null {
  const m = /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m) return null;
  const params = { logN: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.logN < 1 || params.logN > 22 || params.r < 1 || params.p < 1) return null;
  return { params, salt: Buffer.from(m[4]!, 'base64'), key: Buffer.from(m[5]!, 'base64') };
}

/**
 * Checks `password` against a stored hash. With no hash (an unknown e-mail, a user who has not set a
 * password yet) a hash is still computed, so the answer takes as long either way.
 */
export async function verifyPassword(
  password: string,
  stored: string | null,
  current: PasswordHashParams,
): Promise<{ ok: boolean; outdated: boolean }> {
  const parsed = stored ? parseHash(stored) : null;
  if (!parsed) {
    await scrypt(password, randomBytes(16), current);
    return { ok: false, outdated: false };
  }
  const key = await scrypt(password, parsed.salt, parsed.params);
  const ok = safeEqual(key, parsed.key);
  const p = parsed.params;
  return { ok, outdated: p.logN !== current.logN || p.r !== current.r || p.p !== current.p };
}

// The most used passwords of 12 characters or more in public breach lists, and obvious patterns.
const COMMON = new Set([
  '123456789012',
  '1234567890123',
  '12345678901234',
  '123456789123',
  'qwertyuiop12',
  'qwertyuiopasdfgh',
  '1q2w3e4r5t6y',
  '1qaz2wsx3edc',
  'password1234',
  'password12345',
  'password123456',
  'passwordpassword',
  'iloveyou1234',
  'letmein12345',
  'welcome12345',
  'administrator',
  'changeme1234',
  'qwerty123456',
  'abcdefghijkl',
  'abc123456789',
  'aaaaaaaaaaaa',
  '111111111111',
  '000000000000',
  'football1234',
  'baseball1234',
  'sunshine1234',
  'princess1234',
  'monkey123456',
  'trustno1trustno1',
  'ledgerlink123',
  'ledgerlink1234',
  'accounting123',
  'accountant123',
]);

/** At least 12 characters, not a commonly used password, not containing the e-mail address or its name part. */
export function checkPasswordPolicy(password: string, email: string): void {
  const weak = (message: string) =>
    new DomainError('PASSWORD_TOO_WEAK', `password: ${message}`, [{ field: 'body.password', message }]);
  if ([...password].length < 12) throw weak('at least 12 characters');
  const lower = password.toLowerCase();
  if (COMMON.has(lower) || /^(.)\1+$/.test(password)) throw weak('a commonly used password; choose another');
  const local = email.toLowerCase().split('@')[0] ?? '';
  if (lower.includes(email.toLowerCase()) || (local.length >= 4 && lower.includes(local)))
    throw weak('must not contain the e-mail address');
}

/** A strong random password for `ledgerlink user create --password` (shown once). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
