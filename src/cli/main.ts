import { Command } from 'commander';
import { registerServe } from './serve.ts';
import { registerEntity } from './entity.ts';
import { registerWorker } from './worker.ts';
import { registerExceptions, registerSync } from './sync.ts';
import { registerImport } from './import.ts';
import { registerReconcile } from './reconcile.ts';
import { registerConfig } from './config.ts';
import { registerKeys } from './keys.ts';
import { registerPipeline } from './pipeline.ts';
import { registerRuns } from './runs.ts';
import { registerUsers } from './users.ts';
import { registerVerify } from './verify.ts';

const program = new Command();
program
  .name('ledgerlink')
  .description('Sales data into accounting, exactly once: an embedded receivables ledger and a sync engine.')
  .version('0.1.0')
  .option('--data-dir <dir>', 'the PGlite data folder (env LEDGERLINK_DATA_DIR, default ./data)')
  .hook('preAction', () => {
    const dir = program.opts<{ dataDir?: string }>().dataDir;
    if (dir !== undefined) process.env.LEDGERLINK_DATA_DIR = dir;
  });
registerServe(program);
registerWorker(program);
registerSync(program);
registerExceptions(program);
registerImport(program);
registerReconcile(program);
registerEntity(program);
registerConfig(program);
registerKeys(program);
registerPipeline(program);
registerRuns(program);
registerUsers(program);
registerVerify(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
