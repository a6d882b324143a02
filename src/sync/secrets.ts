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

/** What a secret reads as wherever a pipeline is shown; sent back unchanged, it means "keep the stored one". */
export const REDACTED = '[secret]';

/** What a secret stored with another encryption key reads as; it cannot be kept, only entered again. */
export const UNREADABLE = '[unreadable]';

/** Returned by a {@link mapSecrets} callback to leave the value out. */
const OMIT = Symbol('omit');

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
      const v = walk(obj[key], rest, [...at, key]);
      if (v === OMIT) delete out[key];
      else out[key] = v;
    }
    return out;
  };
  let out: Record<string, unknown> = config;
  for (const path of paths) out = walk(out, path.split('.'), []) as Record<string, unknown>;
  return out;
}

/** The concrete paths (`apiKey`, `headers.X-Api-Key`) of the secrets a config holds at its declared secret paths. */
export function secretPaths(config: Record<string, unknown>, secrets: readonly string[]): string[] {
  const found: string[] = [];
  mapSecrets(config, secrets, (v, path) => {
    found.push(path);
    return v;
  });
  return [...new Set(found)];
}

/** The value at a dot-separated path, if any. */
export function valueAt(config: unknown, path: string): unknown {
  let at: unknown = config;
  for (const key of path.split('.'))
    at =
      at !== null && typeof at === 'object' && Object.hasOwn(at, key)
        ? (at as Record<string, unknown>)[key]
        : undefined;
  return at;
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
 * Opens a stored config without failing on a secret sealed with another key: such a secret is left
 * out and its path listed in `unreadable`, so that only what needs it fails, with a clear reason.
 */
export function openConfigChecked(
  box: SecretBox,
  config: Record<string, unknown>,
  secrets: readonly string[],
): { config: Record<string, unknown>; unreadable: string[] } {
  const unreadable: string[] = [];
  const open = mapSecrets(config, secrets, (v, path) => {
    const plain = box.tryDecrypt(v);
    if (plain !== null) return plain;
    unreadable.push(path);
    return OMIT;
  });
  return { config: open, unreadable: [...new Set(unreadable)] };
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

/** Sets `value` at a dot-separated path of a copy of `config`, creating objects on the way. */
export function withValueAt(config: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const [key, ...rest] = path.split('.') as [string, ...string[]];
  if (rest.length === 0) return { ...config, [key]: value };
  const inner = config[key];
  const obj = inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? inner : {};
  return { ...config, [key]: withValueAt(obj as Record<string, unknown>, rest.join('.'), value) };
}

/**
 * A config sent back as it was shown: each secret that reads {@link REDACTED} takes the stored
 * (open) value at the same path. `kept` lists the paths that took a stored value, so that the
 * caller can refuse to keep them where the settings now send them somewhere else (a secret is
 * never sent to a new address without being given: src/sync/pipelines.ts). `missing` lists the
 * paths that read REDACTED with nothing stored, or {@link UNREADABLE} (a secret stored with
 * another key cannot be kept: it must be entered again).
 */
export function keepRedacted(
  incoming: Record<string, unknown>,
  stored: Record<string, unknown> | null,
  secrets: readonly string[],
): { config: Record<string, unknown>; kept: string[]; missing: string[] } {
  const kept: string[] = [];
  const missing: string[] = [];
  const config = mapSecrets(incoming, secrets, (v, path) => {
    if (v === UNREADABLE) {
      missing.push(path);
      return v;
    }
    if (v !== REDACTED) return v;
    const was = valueAt(stored, path);
    if (typeof was === 'string' && was !== REDACTED) {
      kept.push(path);
      return was;
    }
    missing.push(path);
    return v;
  });
  return { config, kept: [...new Set(kept)], missing };
}
