import type { Database, Queryable } from '../db/database.ts';
import { type EntityContext, findEntityById } from '../ledger/entities.ts';
import type { SyncService } from '../sync/service.ts';
import { DomainError } from '../domain/errors.ts';

export interface AppConfig {
  port: number;
  host: string;
  adminToken: string | undefined;
  tokenTtlSeconds: number;
  logLevel: string;
  bodyLimitBytes: number;
}

export function appConfigFromEnv(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return {
    port: env.PORT ? Number(env.PORT) : 3000,
    host: env.HOST ?? '0.0.0.0',
    adminToken: env.LEDGERLINK_ADMIN_TOKEN || undefined,
    tokenTtlSeconds: env.LEDGERLINK_TOKEN_TTL_SECONDS ? Number(env.LEDGERLINK_TOKEN_TTL_SECONDS) : 20 * 60,
    logLevel: env.LOG_LEVEL ?? 'info',
    bodyLimitBytes: 20 * 1024 * 1024,
  };
}

/** What route handlers share: the database, the configuration and small caches. */
export class AppServices {
  readonly #entities = new Map<string, EntityContext>();
  constructor(
    readonly db: Database,
    readonly config: AppConfig,
    private readonly syncService: SyncService | null = null,
  ) {}

  /** The sync engine; absent only in a server built without it. */
  get sync(): SyncService {
    if (!this.syncService)
      throw new DomainError('SERVICE_UNAVAILABLE', 'The sync engine is not running in this server');
    return this.syncService;
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
