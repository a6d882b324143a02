import type { Command } from 'commander';
import { openDatabase, databaseConfigFromEnv } from '../db/open.ts';
import { buildServer } from '../api/server.ts';
import { appConfigFromEnv } from '../api/services.ts';
import { createLogger } from '../logger.ts';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Start the HTTP API (PGlite in ./data unless DATABASE_URL is set)')
    .option('-p, --port <port>', 'port to listen on (env PORT, default 3000)')
    .addHelpText(
      'after',
      `
Environment:
  PORT                         port (default 3000)
  DATABASE_URL                 postgres://... to use a PostgreSQL server instead of PGlite
  LEDGERLINK_DATA_DIR          PGlite folder (default ./data; "memory" keeps nothing)
  LEDGERLINK_ADMIN_TOKEN       enables the admin endpoints (entity creation, keys)
  LEDGERLINK_TOKEN_TTL_SECONDS session token lifetime (default 1200)
  LOG_LEVEL                    pino level (default info)`,
    )
    .action(async (opts: { port?: string }) => {
      const log = createLogger();
      const config = appConfigFromEnv();
      if (opts.port) config.port = Number(opts.port);
      const dbConfig = databaseConfigFromEnv();
      const db = await openDatabase(dbConfig);
      log.info({ database: db.description }, 'database ready');
      const app = await buildServer({ db, config, logger: log });
      const shutdown = async (signal: string) => {
        log.info({ signal }, 'shutting down');
        await app.close();
        await db.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown('SIGINT'));
      process.once('SIGTERM', () => void shutdown('SIGTERM'));
      await app.listen({ port: config.port, host: config.host });
      log.info(`ledgerlink API on http://localhost:${config.port} (reference at /docs)`);
      if (!config.adminToken) {
        log.warn(
          'LEDGERLINK_ADMIN_TOKEN is not set: admin endpoints are disabled; use `ledgerlink entity create` instead',
        );
      }
    });
}
