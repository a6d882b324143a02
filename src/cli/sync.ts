import type { Command } from 'commander';
import { commandLogger, openRuntime } from './runtime.ts';
import { Progress } from './progress.ts';
import { getRun } from '../sync/runs.ts';
import { requirePipeline } from '../sync/pipelines.ts';
import { listExceptions, requireException, resolveException, retryException } from '../sync/exceptions.ts';
import { isDomainError } from '../domain/errors.ts';

function fail(err: unknown): never {
  console.error(
    `error: ${isDomainError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err)}`,
  );
  process.exit(1);
}

export function registerSync(program: Command): void {
  const sync = program.command('sync').description('Run pipelines');
  sync
    .command('run <name>')
    .description('Run a pipeline now, in this process, and wait for it to finish')
    .option('--json', 'print the run as JSON')
    .addHelpText(
      'after',
      '\nShows progress (records, rate) on a terminal. Exit code 0 when the run succeeded, 2 when records were parked, 1 when it failed.' +
        '\nRuns the pipeline as the database holds it: a ledgerlink.yaml is not applied (use `ledgerlink config apply`).',
    )
    .action(async (name: string, opts: { json?: boolean }) => {
      const rt = await openRuntime({ queue: false, log: commandLogger() }).catch(fail);
      try {
        const pipeline = await requirePipeline(rt.db, rt.box, name);
        const progress = new Progress(`sync ${name}`, !opts.json && process.stderr.isTTY);
        const totals = { fetched: 0, created: 0, parked: 0 };
        rt.sync.engine.onPage = (_runId, c) => {
          totals.fetched += c.fetched;
          totals.created += c.created;
          totals.parked += c.parked;
          progress.update(totals);
        };
        const runId = await rt.sync.trigger(pipeline, 'manual', 'cli', {}, { inline: true });
        progress.done();
        const run = (await getRun(rt.db, runId!))!;
        if (opts.json) console.log(JSON.stringify(run));
        else {
          const c = run.counts;
          console.log(`run ${run.runId}: ${run.status}`);
          console.log(
            `  fetched ${c.fetched} · created ${c.created} · updated ${c.updated} · skipped ${c.skipped} · parked ${c.parked} · written back ${c.writtenBack}`,
          );
          if (run.error) console.log(`  error: ${run.error}`);
          if (c.parked) console.log(`  see the parked records: ledgerlink exceptions list --pipeline ${name}`);
        }
        process.exitCode = run.status === 'succeeded' ? 0 : run.status === 'partial' ? 2 : 1;
      } catch (err) {
        fail(err);
      } finally {
        await rt.close();
      }
    });
}

export function registerExceptions(program: Command): void {
  const ex = program.command('exceptions').description('Parked records: list, retry, resolve');
  ex.command('list')
    .description('List exceptions')
    .option('--pipeline <name>', 'only this pipeline')
    .option('--status <status>', 'open or resolved', 'open')
    .option('--json', 'print JSON')
    .action(async (opts: { pipeline?: string; status: 'open' | 'resolved'; json?: boolean }) => {
      const rt = await openRuntime({ queue: false, log: commandLogger() }).catch(fail);
      try {
        const { items, total } = await listExceptions(rt.db, {
          pipeline: opts.pipeline,
          status: opts.status,
          limit: 500,
          offset: 0,
        });
        if (opts.json) console.log(JSON.stringify({ items, total }));
        else if (items.length === 0) console.log(`no ${opts.status} exceptions`);
        else {
          for (const x of items)
            console.log(
              `#${x.id}  ${x.pipeline}  ${x.kind} ${x.sourceId}  ${x.reasonCode}: ${x.message}${x.field ? ` (${x.field})` : ''}`,
            );
          console.log(`${total} ${opts.status}`);
        }
      } finally {
        await rt.close();
      }
    });
  ex.command('retry <id>')
    .description('Process a parked record again, after its cause is fixed')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const rt = await openRuntime({ queue: false, log: commandLogger() }).catch(fail);
      try {
        const n = Number(id);
        if (!Number.isSafeInteger(n) || n <= 0) fail(new Error(`${id} is not an exception id`));
        const outcome = await retryException(rt.db, rt.sync, n, 'cli');
        const after = outcome.exception;
        if (opts.json) console.log(JSON.stringify(outcome));
        else
          console.log(
            after.status === 'resolved'
              ? `#${id} posted; resolved`
              : `#${id} still open: ${after.reasonCode}: ${after.message}`,
          );
        process.exitCode = after.status === 'resolved' ? 0 : 2;
      } catch (err) {
        fail(err);
      } finally {
        await rt.close();
      }
    });
  ex.command('resolve <id>')
    .description('Close an exception by hand')
    .requiredOption('--note <text>', 'why (e.g. "posted manually")')
    .action(async (id: string, opts: { note: string }) => {
      const rt = await openRuntime({ queue: false, log: commandLogger() }).catch(fail);
      try {
        const x = await requireException(rt.db, Number(id));
        await resolveException(rt.db, x.id, opts.note, 'cli');
        console.log(`#${id} resolved`);
      } catch (err) {
        fail(err);
      } finally {
        await rt.close();
      }
    });
}
