import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const PREFIX = 'enc:v1:';

/**
 * Credentials for outside systems are encrypted at rest with AES-256-GCM. The key comes from
 * LEDGERLINK_ENCRYPTION_KEY (32 bytes, base64), or from a key file created on first start beside
 * the data (0600). Several machines sharing a PostgreSQL server must share the key by env.
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('The encryption key must be 32 bytes (base64 in LEDGERLINK_ENCRYPTION_KEY)');
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env, dataDir = env.LEDGERLINK_DATA_DIR || './data'): SecretBox {
    if (env.LEDGERLINK_ENCRYPTION_KEY) return new SecretBox(Buffer.from(env.LEDGERLINK_ENCRYPTION_KEY, 'base64'));
    if (dataDir === 'memory') return new SecretBox(randomBytes(32));
    const file = join(dataDir, '.encryption-key');
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    }
    return new SecretBox(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'));
  }

  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
  }

  decrypt(sealed: string): string {
    if (!sealed.startsWith(PREFIX)) return sealed;
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}

/** Config keys whose values are secrets: encrypted in the database, never logged or returned. */
export const SECRET_KEYS = new Set([
  'apiKey',
  'secretKey',
  'secret',
  'webhookSecret',
  'password',
  'token',
  'clientSecret',
  'signingSecret',
]);

export function sealConfig(box: SecretBox, config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [k, SECRET_KEYS.has(k) && typeof v === 'string' ? box.encrypt(v) : v]),
  );
}

export function openConfig(box: SecretBox, config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [k, SECRET_KEYS.has(k) && typeof v === 'string' ? box.decrypt(v) : v]),
  );
}

/** A config as shown to people: secrets replaced by a marker. */
export function redactConfig(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, SECRET_KEYS.has(k) ? '[secret]' : v]));
}

/**
 * Any value with secrets replaced by a marker, however deep they sit: what the audit trail keeps
 * of a configuration. A secret that is set shows as `[secret]`, so a change to it is seen, never its value.
 */
export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => redactSecrets(v)) as T;
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      SECRET_KEYS.has(k) && v !== null && v !== undefined ? '[secret]' : redactSecrets(v),
    ]),
  ) as T;
}
