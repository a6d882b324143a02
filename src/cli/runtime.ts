// Every command works through the registries, so the CLI loads every connector first.
import '../connectors/all.ts';
import pino, { type Logger } from 'pino';
import { type Database, isDatabaseUnavailable } from '../db/database.ts';
import { databaseConfigFromEnv, openDatabase } from '../db/open.ts';
import { createLogger } from '../logger.ts';
import { outboundPolicyFromEnv } from '../sync/http.ts';
import type { SecretBox } from '../sync/secrets.ts';
import { openSecretBox } from '../sync/keys.ts';
import { SyncService } from '../sync/service.ts';
import '../connectors/all.ts';
import { JobQueue } from '../sync/queue.ts';
import { type OidcConfig, applyConfig, loadConfigFile } from '../sync/config.ts';

/**
 * The log of one-shot commands (sync run, import, exceptions, reconcile): warnings and worse, on
 * stderr, so what they print on stdout (including --json) stays clean. A command that prints its
 * work's failures itself, in words (`sync run` prints the run's error), passes `failuresReported`:
 * the engine's errors, with their stack, are then logged at debug (LOG_LEVEL=debug shows them), not
 * printed a second time as a JSON line over the human one.
 */
export function commandLogger(opts: { failuresReported?: boolean } = {}): Logger {
  return pino(
    {
      level: process.env.LOG_LEVEL ?? 'warn',
      ...(opts.failuresReported
        ? {
            hooks: {
              logMethod(this: Logger, args: Parameters<Logger['error']>, method: Logger['error'], level: number) {
                if (level >= pino.levels.values.error! && level < pino.levels.values.fatal!) this.debug(...args);
                else method.apply(this, args);
              },
            },
          }
        : {}),
    },
    pino.destination(2),
  );
}

export interface Runtime {
  db: Database;
  box: SecretBox;
  log: Logger;
  sync: SyncService;
  configPath: string | null;
  /** `auth.oidc` of the configuration file applied, or null. */
  oidc?: OidcConfig | null;
  close(): Promise<void>;
}

/**
 * Opens what every command works with: the database (migrated), the secret box (the database's
 * key, checked against its fingerprint), the sync service (with the durable queue when `queue`).
 * Only `serve` and `worker` pass `applyConfig`: they apply the config file (entities created when
 * missing, pipelines saved); every other command acts on what the database holds, whatever
 * directory it runs in (`ledgerlink config apply` applies a file explicitly).
 */
let outagesTolerated = false;

/**
 * pg-boss 10 does not wait for its own bookkeeping writes after a job (`complete`, `fail`): when
 * the database goes away mid-job they reject with nobody listening, and Node ends the process on an
 * unhandled rejection. A long-running process keeps going through such an outage instead: the job
 * stays active in the queue and is taken up again when its lease expires (runs are leased and
 * resume where they stopped). Any other unhandled rejection still ends the process, as Node would.
 */
export function keepRunningThroughDatabaseOutages(log: Logger): void {
  if (outagesTolerated) return;
  outagesTolerated = true;
  process.on('unhandledRejection', (reason) => {
    if (isDatabaseUnavailable(reason)) {
      log.warn(
        { err: String(reason) },
        'the database is unavailable; the queue takes the job up again when it returns',
      );
      return;
    }
    console.error(reason);
    process.exit(1);
  });
}

export async function openRuntime(opts: {
  queue: boolean;
  applyConfig?: boolean;
  config?: string | undefined;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
}): Promise<Runtime> {
  const log = opts.log ?? createLogger();
  const env = opts.env ?? process.env;
  // A malformed outbound allow list stops the start, rather than failing each request later.
  outboundPolicyFromEnv(env);
  const dbConfig = databaseConfigFromEnv(env);
  const db = await openDatabase(dbConfig);
  try {
    const { box } = await openSecretBox(db, dbConfig, env);
    const loaded = opts.applyConfig ? await loadConfigFile(opts.config, env) : null;
    if (loaded) {
      const applied = await applyConfig(db, box, loaded.config);
      log.info(
        { config: loaded.path, entitiesCreated: applied.entitiesCreated, pipelines: applied.pipelines },
        'configuration applied',
      );
    }
    if (opts.queue) keepRunningThroughDatabaseOutages(log);
    const queue = opts.queue ? await JobQueue.start(db, log) : null;
    const sync = new SyncService({ db, box, log, queue, pdfs: true });
    return {
      db,
      box,
      log,
      sync,
      configPath: loaded?.path ?? null,
      oidc: loaded?.config.auth?.oidc ?? null,
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
