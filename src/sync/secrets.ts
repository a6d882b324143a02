import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const PREFIX = 'enc:v1:';

/** Whether a stored value is sealed by a SecretBox. */
export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(PREFIX);
}

/**
 * Credentials for outside systems are encrypted at rest with AES-256-GCM. The key comes from
 * LEDGERLINK_ENCRYPTION_KEY (32 bytes, base64), or from a key file created on first start beside
 * the data (0600). Several machines sharing a PostgreSQL server must share the key by env.
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('The encryption key must be 32 bytes (base64 in LEDGERLINK_ENCRYPTION_KEY)');
  }

  /** A key written as base64 (LEDGERLINK_ENCRYPTION_KEY, --new-key, the key file); `what` names where it came from. */
  static fromBase64(text: string, what: string): SecretBox {
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== 32)
      throw new Error(
        `${what} is not an encryption key: it must be 32 random bytes written as base64 (make one with: openssl rand -base64 32)`,
      );
    return new SecretBox(key);
  }

  static generate(): SecretBox {
    return new SecretBox(randomBytes(32));
  }

  /** The key as base64, for the key file or to print once when it is generated. */
  exportKey(): string {
    return this.key.toString('base64');
  }

  /**
   * What identifies the key without revealing it: an HMAC of a fixed label under the key. Stored in
   * the database so that a process started with another key is refused before it writes anything.
   */
  get fingerprint(): string {
    return (
      'hmac-sha256:' + createHmac('sha256', this.key).update('ledgerlink encryption key fingerprint').digest('hex')
    );
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

  /** The clear text, or null when the value was sealed with another key (or is damaged). */
  tryDecrypt(sealed: string): string | null {
    try {
      return this.decrypt(sealed);
    } catch {
      return null;
    }
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

/**
 * Opens a stored config without failing on a secret sealed with another key: such a secret is left
 * out and its key listed in `unreadable`, so that only what needs it fails, with a clear reason.
 */
export function openConfigChecked(
  box: SecretBox,
  config: Record<string, unknown>,
): { config: Record<string, unknown>; unreadable: string[] } {
  const out: Record<string, unknown> = {};
  const unreadable: string[] = [];
  for (const [k, v] of Object.entries(config)) {
    if (!SECRET_KEYS.has(k) || typeof v !== 'string') out[k] = v;
    else {
      const plain = box.tryDecrypt(v);
      if (plain === null) unreadable.push(k);
      else out[k] = plain;
    }
  }
  return { config: out, unreadable };
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
