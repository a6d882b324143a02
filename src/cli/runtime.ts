// Every command works through the registries, so the CLI loads every connector first.
import '../connectors/all.ts';
import pino, { type Logger } from 'pino';
import type { Database } from '../db/database.ts';
import { databaseConfigFromEnv, openDatabase } from '../db/open.ts';
import { createLogger } from '../logger.ts';
import { outboundPolicyFromEnv } from '../sync/http.ts';
import { SecretBox } from '../sync/secrets.ts';
import { SyncService } from '../sync/service.ts';
import '../connectors/all.ts';
import { JobQueue } from '../sync/queue.ts';
import { applyConfig, loadConfigFile } from '../sync/config.ts';

/**
 * The log of one-shot commands (sync run, import, exceptions, reconcile): warnings and worse, on
 * stderr, so what they print on stdout (including --json) stays clean.
 */
export function commandLogger(): Logger {
  return pino({ level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2));
}

export interface Runtime {
  db: Database;
  box: SecretBox;
  log: Logger;
  sync: SyncService;
  configPath: string | null;
  close(): Promise<void>;
}

/**
 * Opens what every command works with: the database (migrated), the secret box, the sync service
 * (with the durable queue when `queue`), after applying the config file (entities created when
 * missing, pipelines saved).
 */
export async function openRuntime(opts: {
  queue: boolean;
  config?: string | undefined;
  log?: Logger;
}): Promise<Runtime> {
  const log = opts.log ?? createLogger();
  // A malformed outbound allow list stops the start, rather than failing each request later.
  outboundPolicyFromEnv();
  const db = await openDatabase(databaseConfigFromEnv());
  try {
    const box = SecretBox.fromEnv();
    const loaded = await loadConfigFile(opts.config);
    if (loaded) {
      const applied = await applyConfig(db, box, loaded.config);
      log.info(
        { config: loaded.path, entitiesCreated: applied.entitiesCreated, pipelines: applied.pipelines },
        'configuration applied',
      );
    }
    const queue = opts.queue ? await JobQueue.start(db, log) : null;
    const sync = new SyncService({ db, box, log, queue, pdfs: true });
    return {
      db,
      box,
      log,
      sync,
      configPath: loaded?.path ?? null,
      close: async () => {
        await sync.stop();
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}
