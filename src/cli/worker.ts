import type { Command } from 'commander';
import { openRuntime } from './runtime.ts';
import { concurrencyFromEnv, parseConcurrency } from '../sync/service.ts';
import { parseInteger } from '../settings.ts';
import { retentionFromEnv } from '../sync/retention.ts';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('Work queued pipeline runs, schedules and write-back, without the HTTP API')
    .option('-c, --config <file>', 'pipelines and entities (env LEDGERLINK_CONFIG, default ./ledgerlink.yaml)')
    .option('--tick <seconds>', 'how often to check schedules and pending write-back', '30')
    .option(
      '--concurrency <n>',
      'runs worked at once, each of another pipeline (env LEDGERLINK_WORKER_CONCURRENCY, default 4)',
    )
    .addHelpText(
      'after',
      `
Run several workers against one PostgreSQL server (DATABASE_URL) to share the work: runs are taken
from a durable queue, one run per pipeline at a time, and a crashed worker's run is resumed by another.
With embedded PGlite only one process may open the data folder: \`ledgerlink serve\` already includes a worker.
Every worker also removes finished reconciliations, run records and processed webhook events older
than their retention (LEDGERLINK_RECONCILIATION_RETENTION_DAYS, LEDGERLINK_RUN_RECORDS_RETENTION_DAYS,
LEDGERLINK_WEBHOOK_EVENTS_RETENTION_DAYS, default 90 days each).`,
    )
    .action(async (opts: { config?: string; tick: string; concurrency?: string }) => {
      const tick = parseInteger('--tick', opts.tick, { min: 1, max: 86400 });
      const concurrency = opts.concurrency ? parseConcurrency(opts.concurrency, '--concurrency') : concurrencyFromEnv();
      const retention = retentionFromEnv();
      const rt = await openRuntime({ queue: true, applyConfig: true, config: opts.config });
      await rt.sync.startWorker({ tickSeconds: tick, concurrency, retention });
      rt.log.info({ database: rt.db.description }, 'worker started');
      const shutdown = async () => {
        // Runs in hand stop at their next page boundary and go back to the queue, where another
        // worker takes them at once; the queue waits up to 10 s for that (docs/deploy.md, "Stopping a worker").
        rt.log.info('worker stopping: runs in hand stop at their next page and go on in another worker');
        await rt.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown());
      process.once('SIGTERM', () => void shutdown());
    });
}
