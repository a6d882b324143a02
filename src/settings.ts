/**
 * The one parser of settings read from the environment. A value that does not parse, or is out of
 * its range, stops the process at start with a message naming the variable: never a silent
 * default, never a NaN that surfaces hours later as a timer firing at once.
 */
export class SettingsError extends Error {
  readonly code = 'SETTING_INVALID';
  readonly variable: string;
  /** The variable or option at fault, as every refusal names its field. */
  readonly details: { field: string; message: string }[];
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'SettingsError';
    this.variable = variable;
    this.details = [{ field: variable, message }];
  }
}

export interface IntegerSetting {
  default: number;
  min: number;
  max?: number;
}

/**
 * A whole number from `env[name]`, or `spec.default` when the variable is unset or empty.
 *
 * @example integerSetting(process.env, 'PORT', { default: 3000, min: 0, max: 65535 })
 */
export function integerSetting(env: NodeJS.ProcessEnv, name: string, spec: IntegerSetting): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return spec.default;
  return parseInteger(name, raw, spec);
}

/** Parses a whole number given for `name` (an environment variable or a command-line option). */
export function parseInteger(name: string, raw: string, spec: Omit<IntegerSetting, 'default'>): number {
  const text = raw.trim();
  const range = spec.max === undefined ? `at least ${spec.min}` : `between ${spec.min} and ${spec.max}`;
  if (!/^-?\d{1,15}$/.test(text)) {
    throw new SettingsError(name, `"${printable(raw)}" is not a whole number (expected ${range})`);
  }
  const n = Number(text);
  if (n < spec.min || (spec.max !== undefined && n > spec.max)) {
    throw new SettingsError(name, `${n} is out of range (expected ${range})`);
  }
  return n;
}

/** One of `allowed`, or `fallback` when unset or empty. */
export function choiceSetting<T extends string>(
  env: NodeJS.ProcessEnv,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = raw.trim() as T;
  if (!allowed.includes(value)) {
    throw new SettingsError(name, `"${printable(raw)}" is not one of ${allowed.join(', ')}`);
  }
  return value;
}

/** How long something is kept: a whole number of days, or `forever` (nothing is removed). */
export type RetentionDays = number | 'forever';

/** The longest retention given in days (a hundred years); beyond it, say `forever`. */
export const MAX_RETENTION_DAYS = 36_500;

/**
 * A retention from `env[name]`: a whole number of days from 1 to 36500, or the word `forever`;
 * `fallback` when unset or empty. 0 is refused rather than read as "keep everything" or "remove
 * everything": either reading would surprise someone, so keeping everything is said in words.
 *
 * @example retentionSetting(process.env, 'LEDGERLINK_RUN_RECORDS_RETENTION_DAYS', 90) // 90, or 'forever'
 */
export function retentionSetting(env: NodeJS.ProcessEnv, name: string, fallback: RetentionDays): RetentionDays {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const text = raw.trim();
  if (text === 'forever') return 'forever';
  const expected = `expected a whole number of days from 1 to ${MAX_RETENTION_DAYS}, or "forever" to keep everything`;
  if (!/^-?\d{1,15}$/.test(text))
    throw new SettingsError(name, `"${printable(raw)}" is not a number of days (${expected})`);
  const n = Number(text);
  if (n === 0)
    throw new SettingsError(
      name,
      `0 is not a retention: some read it as "keep nothing", others as "keep everything" (${expected})`,
    );
  if (n < 1 || n > MAX_RETENTION_DAYS) throw new SettingsError(name, `${n} is out of range (${expected})`);
  return n;
}

/** Setting values are echoed in error messages; keep them short and on one line. */
function printable(raw: string): string {
  const oneLine = raw.replace(/[^\x20-\x7e]/g, '?');
  return oneLine.length > 40 ? `${oneLine.slice(0, 40)}…` : oneLine;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * An http(s) base URL (no credentials, query or fragment; a trailing slash dropped), or undefined
 * when `env[name]` is unset or empty.
 *
 * @example urlSetting(process.env, 'LEDGERLINK_PUBLIC_URL') // 'https://ledgerlink.example.com'
 */
export function urlSetting(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new SettingsError(
      name,
      `"${printable(raw)}" is not a URL (expected for example https://ledgerlink.example.com)`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new SettingsError(name, `"${printable(raw)}" is not an http or https URL`);
  if (url.username || url.password) throw new SettingsError(name, 'must not carry credentials (user:password@)');
  if (url.search || url.hash) throw new SettingsError(name, `"${printable(raw)}" must not have a query or a fragment`);
  return url.href.replace(/\/+$/, '');
}

/**
 * Where people and platforms reach this server (the OAuth callback is built from it):
 * LEDGERLINK_PUBLIC_URL, by default `http://localhost:PORT`.
 */
export function publicBaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (
    urlSetting(env, 'LEDGERLINK_PUBLIC_URL') ??
    `http://localhost:${integerSetting(env, 'PORT', { default: 3000, min: 0, max: 65535 })}`
  );
}
