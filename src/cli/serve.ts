import type { Command } from 'commander';
import { buildServer } from '../api/server.ts';
import { appConfigFromEnv } from '../api/services.ts';
import { createLogger } from '../logger.ts';
import { integerSetting, parseInteger } from '../settings.ts';
import { databaseConfigFromEnv } from '../db/open.ts';
import { openRuntime } from './runtime.ts';
import { demoStorage, demoWanted, pauseDemoPipeline, startDemo } from './demo.ts';
import { listPipelines } from '../sync/pipelines.ts';
import { concurrencyFromEnv } from '../sync/service.ts';
import { retentionFromEnv } from '../sync/retention.ts';

/**
 * The environment of `serve --help`: every variable the server reads, which test/cli-serve-help.test.ts
 * checks against the names read anywhere under src/, so that a new setting cannot be left out.
 */
export const SERVE_ENVIRONMENT = `  PORT                         port (default 3000)
  HOST                         address to listen on (default 0.0.0.0: every interface)
  DATABASE_URL                 postgres://... to use a PostgreSQL server instead of PGlite
  LEDGERLINK_DB_SCHEMA         PostgreSQL: the schema ledgerlink's tables live in (default: the search path, public)
  LEDGERLINK_DB_POOL           PostgreSQL: connections per process (default 10)
  LEDGERLINK_QUEUE_SCHEMA      the job queue's schema (default pgboss)
  LEDGERLINK_DATA_DIR          PGlite folder (default ./data; "memory" keeps nothing)
  LEDGERLINK_CHECK_TRANSACTIONS  PGlite: "stall" (default) or "exact", how a call beside an open transaction is caught
  LEDGERLINK_CONFIG            the YAML configuration (default ./ledgerlink.yaml when present)
  LEDGERLINK_ADMIN_TOKEN       enables the admin endpoints (entities, keys) and admin access to pipelines
  LEDGERLINK_METRICS_TOKEN     enables GET /metrics (Prometheus) for this bearer token; off when unset
  LEDGERLINK_ENCRYPTION_KEY    32 bytes, base64: encrypts credentials at rest; required with DATABASE_URL
                               (PGlite default: the key file data/.encryption-key); see: ledgerlink keys --help
  LEDGERLINK_ALLOW_PRIVATE_NETWORKS  true: pipelines may call loopback/private/link-local addresses (docs/security.md)
  LEDGERLINK_OUTBOUND_ALLOW    host,host:port,... pipelines may call over http and at any address
  LEDGERLINK_PUBLIC_URL        where browsers and platforms reach this server: OAuth redirect URLs are built
                               from it (default http://localhost:PORT; see docs/connectors/oauth.md)
  LEDGERLINK_TOKEN_TTL_SECONDS session token lifetime (default 1200)
  LEDGERLINK_WORKER_CONCURRENCY runs worked at once, each of another pipeline (default 4)
  LEDGERLINK_LEASE_SECONDS     heartbeat lease: a run silent this long is taken over (default 15)
  LEDGERLINK_TICK_SECONDS      how often schedules are looked at and waiting write-back is sent (default 30)
  LEDGERLINK_IDEMPOTENCY_TTL_SECONDS  how long idempotent responses are replayed (default 86400)
  LEDGERLINK_RECONCILIATION_RETENTION_DAYS  days finished reconciliations are kept, each pipeline's newest
                               always (default 90; "forever" keeps all); workers remove older ones
  LEDGERLINK_RUN_RECORDS_RETENTION_DAYS  days the per-document records of finished runs are kept; runs and
                               their counts stay (default 90; "forever" keeps all)
  LEDGERLINK_WEBHOOK_EVENTS_RETENTION_DAYS  days received webhook events are kept once processed; unprocessed
                               ones always (default 90; "forever" keeps all)
  LEDGERLINK_LOGIN_MAX_FAILURES       failed logins per entity and per address in the window (default 10)
  LEDGERLINK_LOGIN_WINDOW_SECONDS     the window of the login throttle (default 900)
  LEDGERLINK_AUTH_MAX_FAILURES        bad tokens or session cookies per address in the window (default 100)
  LEDGERLINK_SESSION_IDLE_SECONDS     a browser session ends after this long idle (default 28800)
  LEDGERLINK_SESSION_MAX_SECONDS      and this long after sign-in at the latest (default 86400)
  LEDGERLINK_PASSWORD_SCRYPT_LOG_N    scrypt cost of new password hashes, log2 N (default 17)
  LOG_LEVEL                    pino level (default info)
  LOG_JSON                     1: JSON log lines on a terminal too (they are JSON whenever stdout is not one)`;

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Start the HTTP API and a worker (PGlite in ./data unless DATABASE_URL is set)')
    .option('-p, --port <port>', 'port to listen on (env PORT, default 3000)')
    .option('-c, --config <file>', 'pipelines and entities (env LEDGERLINK_CONFIG, default ./ledgerlink.yaml)')
    .option('--no-worker', 'serve the API only; run `ledgerlink worker` processes separately (PostgreSQL)')
    .option('--no-demo', 'do not start the built-in demo when nothing is configured')
    .addHelpText('after', `\nEnvironment (every variable the server reads):\n${SERVE_ENVIRONMENT}`)
    .action(async (opts: { port?: string; config?: string; worker: boolean; demo: boolean }) => {
      // Every setting is parsed before anything starts: a bad one stops here, naming its variable.
      const config = appConfigFromEnv();
      if (opts.port) config.port = parseInteger('--port', opts.port, { min: 0, max: 65535 });
      const tickSeconds = integerSetting(process.env, 'LEDGERLINK_TICK_SECONDS', { default: 30, min: 1, max: 86400 });
      const retention = retentionFromEnv();
      const storage = demoStorage(databaseConfigFromEnv());
      const log = createLogger(config.logLevel);
      const concurrency = opts.worker ? concurrencyFromEnv() : 1;
      const rt = await openRuntime({ queue: true, applyConfig: true, config: opts.config, log });
      log.info({ database: rt.db.description }, 'database ready');
      let stopDemo: (() => Promise<void>) | null = null;
      // Also on a second start: the demo's pipeline needs its sample system running again.
      if (opts.demo && demoWanted(rt.configPath, await listPipelines(rt.db, rt.box))) {
        stopDemo = await startDemo(rt, config.port, storage);
      } else {
        // Without the demo its sample system is not there: its pipeline, if an earlier start left one, pauses.
        await pauseDemoPipeline(
          rt,
          rt.configPath
            ? `the configuration ${rt.configPath} is in use`
            : !opts.demo
              ? 'started with --no-demo'
              : 'other entities have pipelines: the demo starts only while it has the only ones',
        );
      }
      config.oidc = rt.oidc ?? null;
      const app = await buildServer({ db: rt.db, config, logger: log, sync: rt.sync });
      if (opts.worker) await rt.sync.startWorker({ tickSeconds, concurrency, retention });
      const shutdown = async (signal: string) => {
        log.info({ signal }, 'shutting down');
        await app.close();
        await stopDemo?.();
        await rt.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown('SIGINT'));
      process.once('SIGTERM', () => void shutdown('SIGTERM'));
      await app.listen({ port: config.port, host: config.host });
      log.info(
        `ledgerlink API on http://localhost:${config.port} (reference at /docs)${opts.worker ? ', worker running' : ''}`,
      );
      if (!config.adminToken) {
        log.warn(
          'LEDGERLINK_ADMIN_TOKEN is not set: admin endpoints are disabled; use `ledgerlink entity create` instead',
        );
      }
    });
}
