import type { Database, Queryable } from '../db/database.ts';
import { type EntityContext, findEntityById } from '../ledger/entities.ts';
import type { SyncService } from '../sync/service.ts';
import type { OidcConfig } from '../sync/config.ts';
import { DomainError } from '../domain/errors.ts';
import { AppMetrics } from './metrics.ts';
import { choiceSetting, integerSetting, LOG_LEVELS, SettingsError, urlSetting } from '../settings.ts';

export interface AppConfig {
  port: number;
  host: string;
  adminToken: string | undefined;
  tokenTtlSeconds: number;
  logLevel: string;
  bodyLimitBytes: number;
  /** How long a stored idempotent response is replayed before it is purged (default 24 hours). */
  idempotencyTtlSeconds?: number;
  /** Failed logins allowed per entity id, and per client address, within `loginWindowSeconds`. */
  loginMaxFailures?: number;
  loginWindowSeconds?: number;
  /** Failed bearer-token or session authentications allowed per client address within `loginWindowSeconds`. */
  authMaxFailures?: number;
  /** LEDGERLINK_PUBLIC_URL: where browsers and platforms reach the server (OAuth callbacks); null: http://localhost:PORT. */
  publicUrl?: string | null;
  /** A browser session ends this long after its last request (LEDGERLINK_SESSION_IDLE_SECONDS, default 8 hours)… */
  sessionIdleSeconds?: number;
  /** …and at the latest this long after sign-in (LEDGERLINK_SESSION_MAX_SECONDS, default 24 hours). */
  sessionMaxSeconds?: number;
  /**
   * log2 of scrypt's cost N for new password hashes (LEDGERLINK_PASSWORD_SCRYPT_LOG_N, default 17 as
   * OWASP advises). Tests lower it to stay fast; every hash records its own parameters.
   */
  passwordScryptLogN?: number;
  /** Sign-in through an OpenID Connect provider, from `auth.oidc` in the configuration file; null: none. */
  oidc?: OidcConfig | null;
  /** LEDGERLINK_METRICS_TOKEN: the bearer token `GET /metrics` takes; null: /metrics is off. */
  metricsToken?: string | null;
}

export const CONFIG_DEFAULTS = {
  idempotencyTtlSeconds: 24 * 3600,
  loginMaxFailures: 10,
  loginWindowSeconds: 15 * 60,
  authMaxFailures: 100,
  publicUrl: null,
  sessionIdleSeconds: 8 * 3600,
  sessionMaxSeconds: 24 * 3600,
  passwordScryptLogN: 17,
  oidc: null,
  metricsToken: null,
} as const satisfies Partial<AppConfig>;

/**
 * The server's settings from the environment. A variable that does not parse stops the start with
 * a SettingsError naming it (src/settings.ts).
 */
export function appConfigFromEnv(env: NodeJS.ProcessEnv = process.env): Required<AppConfig> {
  return {
    port: integerSetting(env, 'PORT', { default: 3000, min: 0, max: 65535 }),
    host: env.HOST || '0.0.0.0',
    adminToken: env.LEDGERLINK_ADMIN_TOKEN || undefined,
    tokenTtlSeconds: integerSetting(env, 'LEDGERLINK_TOKEN_TTL_SECONDS', { default: 20 * 60, min: 1, max: 7 * 86400 }),
    logLevel: choiceSetting(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    bodyLimitBytes: 20 * 1024 * 1024,
    idempotencyTtlSeconds: integerSetting(env, 'LEDGERLINK_IDEMPOTENCY_TTL_SECONDS', {
      default: CONFIG_DEFAULTS.idempotencyTtlSeconds,
      min: 60,
      max: 30 * 86400,
    }),
    loginMaxFailures: integerSetting(env, 'LEDGERLINK_LOGIN_MAX_FAILURES', {
      default: CONFIG_DEFAULTS.loginMaxFailures,
      min: 1,
      max: 10000,
    }),
    loginWindowSeconds: integerSetting(env, 'LEDGERLINK_LOGIN_WINDOW_SECONDS', {
      default: CONFIG_DEFAULTS.loginWindowSeconds,
      min: 1,
      max: 86400,
    }),
    authMaxFailures: integerSetting(env, 'LEDGERLINK_AUTH_MAX_FAILURES', {
      default: CONFIG_DEFAULTS.authMaxFailures,
      min: 1,
      max: 1_000_000,
    }),
    publicUrl: urlSetting(env, 'LEDGERLINK_PUBLIC_URL') ?? null,
    sessionIdleSeconds: integerSetting(env, 'LEDGERLINK_SESSION_IDLE_SECONDS', {
      default: CONFIG_DEFAULTS.sessionIdleSeconds,
      min: 60,
      max: 7 * 86400,
    }),
    sessionMaxSeconds: integerSetting(env, 'LEDGERLINK_SESSION_MAX_SECONDS', {
      default: CONFIG_DEFAULTS.sessionMaxSeconds,
      min: 60,
      max: 30 * 86400,
    }),
    passwordScryptLogN: integerSetting(env, 'LEDGERLINK_PASSWORD_SCRYPT_LOG_N', {
      default: CONFIG_DEFAULTS.passwordScryptLogN,
      min: 10,
      max: 20,
    }),
    // From the configuration file, not the environment: `serve` sets it once the file is read.
    oidc: null,
    metricsToken: metricsTokenSetting(env),
  };
}

/** LEDGERLINK_METRICS_TOKEN: unset or empty turns /metrics off; a short one is refused, as a guessable secret. */
function metricsTokenSetting(env: NodeJS.ProcessEnv): string | null {
  const token = env.LEDGERLINK_METRICS_TOKEN;
  if (!token) return null;
  if (token.length < 16 || /\s/.test(token))
    throw new SettingsError('LEDGERLINK_METRICS_TOKEN', 'must be at least 16 characters without spaces');
  return token;
}

/** What route handlers share: the database, the configuration and small caches. */
export class AppServices {
  readonly #entities = new Map<string, EntityContext>();
  readonly config: Required<AppConfig>;
  /** Prometheus metrics of this app (src/api/metrics.ts). */
  readonly metrics = new AppMetrics();
  constructor(
    readonly db: Database,
    config: AppConfig,
    private readonly syncService: SyncService | null = null,
  ) {
    this.config = { ...CONFIG_DEFAULTS, ...config };
  }

  /** The sync engine; absent only in a server built without it. */
  get sync(): SyncService {
    if (!this.syncService)
      throw new DomainError('SERVICE_UNAVAILABLE', 'The sync engine is not running in this server');
    return this.syncService;
  }

  /** The durable queue of this process, for readiness: `none` when it runs without one. */
  get queueState(): 'none' | 'running' | 'stopped' {
    return this.syncService?.queueState ?? 'none';
  }

  /** Entities change rarely (never their base currency or roles), so they are cached by id. */
  async entity(db: Queryable, id: string): Promise<EntityContext | null> {
    const cached = this.#entities.get(id);
    if (cached) return cached;
    const found = await findEntityById(db, id);
    if (found) this.#entities.set(id, found);
    return found;
  }

  forgetEntity(id: string): void {
    this.#entities.delete(id);
  }
}
