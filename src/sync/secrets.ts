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

/** What a secret reads as wherever a pipeline is shown; sent back unchanged, it means "keep the stored one". */
export const REDACTED = '[secret]';

/**
 * Applies `fn` to every string at one of the declared secret paths (dot-separated keys, `*` for
 * any key: `apiKey`, `auth.apiKey`, `headers.*`), leaving everything else as it is.
 */
function mapSecrets(
  config: Record<string, unknown>,
  paths: readonly string[],
  fn: (value: string, path: string) => unknown,
): Record<string, unknown> {
  const walk = (value: unknown, steps: string[], at: string[]): unknown => {
    if (steps.length === 0) return typeof value === 'string' ? fn(value, at.join('.')) : value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    const [step, ...rest] = steps as [string, ...string[]];
    const obj = value as Record<string, unknown>;
    const out: Record<string, unknown> = { ...obj };
    for (const key of step === '*' ? Object.keys(obj) : Object.hasOwn(obj, step) ? [step] : []) {
      out[key] = walk(obj[key], rest, [...at, key]);
    }
    return out;
  };
  let out: Record<string, unknown> = config;
  for (const path of paths) out = walk(out, path.split('.'), []) as Record<string, unknown>;
  return out;
}

/** Whether a stored value is a sealed secret (whatever the version of the box that sealed it). */
function isSealed(value: unknown): boolean {
  return typeof value === 'string' && /^enc:v\d+:/.test(value);
}

/** Encrypts the connector's declared secrets before a config is stored. */
export function sealConfig(
  box: SecretBox,
  config: Record<string, unknown>,
  secrets: readonly string[],
): Record<string, unknown> {
  return mapSecrets(config, secrets, (v) => (isSealed(v) ? v : box.encrypt(v)));
}

/** Decrypts the connector's declared secrets of a stored config (a value stored before it was declared secret reads as it is). */
export function openConfig(
  box: SecretBox,
  config: Record<string, unknown>,
  secrets: readonly string[],
): Record<string, unknown> {
  return mapSecrets(config, secrets, (v) => box.decrypt(v));
}

/**
 * A config as shown to people (API, audit): the declared secrets replaced by {@link REDACTED},
 * and any value still sealed (a connector no longer loaded) too, so no ciphertext is shown either.
 */
export function redactConfig(config: Record<string, unknown>, secrets: readonly string[]): Record<string, unknown> {
  const declared = mapSecrets(config, secrets, () => REDACTED);
  const hideSealed = (value: unknown): unknown => {
    if (isSealed(value)) return REDACTED;
    if (Array.isArray(value)) return value.map(hideSealed);
    if (value !== null && typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hideSealed(v)]));
    return value;
  };
  return hideSealed(declared) as Record<string, unknown>;
}

/**
 * A config sent back as it was shown: each secret that reads {@link REDACTED} takes the stored
 * (open) value at the same path. `missing` lists the paths that read REDACTED with nothing stored.
 */
export function keepRedacted(
  incoming: Record<string, unknown>,
  stored: Record<string, unknown> | null,
  secrets: readonly string[],
): { config: Record<string, unknown>; missing: string[] } {
  const missing: string[] = [];
  const config = mapSecrets(incoming, secrets, (v, path) => {
    if (v !== REDACTED) return v;
    let was: unknown = stored;
    for (const key of path.split('.')) {
      was =
        was !== null && typeof was === 'object' && Object.hasOwn(was, key)
          ? (was as Record<string, unknown>)[key]
          : undefined;
    }
    if (typeof was === 'string' && was !== REDACTED) return was;
    missing.push(path);
    return v;
  });
  return { config, missing };
}
