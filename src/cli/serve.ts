import type { Command } from 'commander';
import { buildServer } from '../api/server.ts';
import { appConfigFromEnv } from '../api/services.ts';
import { createLogger } from '../logger.ts';
import { openRuntime } from './runtime.ts';
import { startDemo } from './demo.ts';
import { listPipelines } from '../sync/pipelines.ts';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Start the HTTP API and a worker (PGlite in ./data unless DATABASE_URL is set)')
    .option('-p, --port <port>', 'port to listen on (env PORT, default 3000)')
    .option('-c, --config <file>', 'pipelines and entities (env LEDGERLINK_CONFIG, default ./ledgerlink.yaml)')
    .option('--no-worker', 'serve the API only; run `ledgerlink worker` processes separately (PostgreSQL)')
    .option('--no-demo', 'do not start the built-in demo when nothing is configured')
    .addHelpText(
      'after',
      `
Environment:
  PORT                         port (default 3000)
  DATABASE_URL                 postgres://... to use a PostgreSQL server instead of PGlite
  LEDGERLINK_DATA_DIR          PGlite folder (default ./data; "memory" keeps nothing)
  LEDGERLINK_CONFIG            the YAML configuration (default ./ledgerlink.yaml when present)
  LEDGERLINK_ADMIN_TOKEN       enables the admin endpoints (entities, keys) and admin access to pipelines
  LEDGERLINK_ENCRYPTION_KEY    32 bytes, base64: encrypts credentials at rest; required with DATABASE_URL
                               (PGlite default: the key file data/.encryption-key); see: ledgerlink keys --help
  LEDGERLINK_ALLOW_PRIVATE_NETWORKS  true: pipelines may call loopback/private/link-local addresses (docs/security.md)
  LEDGERLINK_OUTBOUND_ALLOW    host,host:port,... pipelines may call over http and at any address
  LEDGERLINK_TOKEN_TTL_SECONDS session token lifetime (default 1200)
  LOG_LEVEL                    pino level (default info)`,
    )
    .action(async (opts: { port?: string; config?: string; worker: boolean; demo: boolean }) => {
      const log = createLogger();
      const config = appConfigFromEnv();
      if (opts.port) config.port = Number(opts.port);
      const rt = await openRuntime({ queue: true, applyConfig: true, config: opts.config, log });
      log.info({ database: rt.db.description }, 'database ready');
      let stopDemo: (() => Promise<void>) | null = null;
      if (opts.demo && !rt.configPath && (await listPipelines(rt.db, rt.box)).length === 0) {
        stopDemo = await startDemo(rt, config.port);
      }
      const app = await buildServer({ db: rt.db, config, logger: log, sync: rt.sync });
      if (opts.worker)
        await rt.sync.startWorker(
          process.env.LEDGERLINK_TICK_SECONDS ? Number(process.env.LEDGERLINK_TICK_SECONDS) : 30,
        );
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
