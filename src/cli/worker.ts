import type { Command } from 'commander';
import { openRuntime } from './runtime.ts';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('Work queued pipeline runs, schedules and write-back, without the HTTP API')
    .option('-c, --config <file>', 'pipelines and entities (env LEDGERLINK_CONFIG, default ./ledgerlink.yaml)')
    .option('--tick <seconds>', 'how often to check schedules and pending write-back', '30')
    .addHelpText(
      'after',
      `
Run several workers against one PostgreSQL server (DATABASE_URL) to share the work: runs are taken
from a durable queue, one run per pipeline at a time, and a crashed worker's run is resumed by another.
With embedded PGlite only one process may open the data folder: \`ledgerlink serve\` already includes a worker.`,
    )
    .action(async (opts: { config?: string; tick: string }) => {
      const rt = await openRuntime({ queue: true, applyConfig: true, config: opts.config });
      await rt.sync.startWorker(Number(opts.tick));
      rt.log.info({ database: rt.db.description }, 'worker started');
      const shutdown = async () => {
        rt.log.info('worker stopping (finishing the current job)');
        await rt.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown());
      process.once('SIGTERM', () => void shutdown());
    });
}
