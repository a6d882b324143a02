import type { Command } from 'commander';
import { RunId, RunListQuery, runView } from '../api/routes/runs.ts';
import { auditAs, checkPipelineFilter } from '../sync/pipelines.ts';
import { cancelRun } from '../sync/run-cancel.ts';
import { listRuns } from '../sync/runs.ts';
import { parseWithSchema, requireExistingData, runCommand } from './common.ts';
import { entityOption } from './pipeline.ts';
import { commandLogger, openRuntime } from './runtime.ts';
import { table } from './table.ts';

interface RunsOptions {
  pipeline?: string;
  entity?: string;
  status?: string;
  limit: string;
  json?: boolean;
}

export function registerRuns(program: Command): void {
  const runs = program.command('runs').description('Runs of pipelines');
  runs
    .command('list')
    .description('Runs, newest first: pipeline, trigger, status, when, counts')
    .option('--pipeline <name>', 'only this pipeline (a name that is not one is refused, naming the known ones)')
    .option('--entity <code>', 'only this entity')
    .option('--status <status>', 'queued, running, succeeded, partial, failed or cancelled')
    .option('--limit <n>', 'at most this many (1 to 500)', '20')
    .option('--json', 'print JSON')
    .action((opts: RunsOptions) =>
      runCommand(opts.json, async () => {
        const q = parseWithSchema(
          RunListQuery,
          { pipeline: opts.pipeline, status: opts.status, pageSize: opts.limit },
          { pipeline: '--pipeline', status: '--status', pageSize: '--limit' },
        );
        requireExistingData();
        const rt = await openRuntime({ queue: false, log: commandLogger() });
        try {
          const entityId = await entityOption(rt.db, opts.entity);
          await checkPipelineFilter(rt.db, q.pipeline, entityId, '--pipeline');
          const r = await listRuns(rt.db, {
            entityId,
            pipeline: q.pipeline,
            status: q.status,
            limit: q.pageSize,
            offset: 0,
          });
          const items = r.items.map(runView);
          if (opts.json) console.log(JSON.stringify({ items, total: r.total }));
          else if (items.length === 0) console.log('no runs');
          else {
            console.log(
              table([
                [
                  'run',
                  'pipeline',
                  'trigger',
                  'status',
                  'at',
                  'fetched',
                  'invoices',
                  'receipts',
                  'customers',
                  'products',
                  'updated',
                  'skipped',
                  'parked',
                  'waiting',
                ],
                ...items.map((x) => [
                  x.runId,
                  x.pipeline,
                  x.trigger,
                  x.status,
                  x.createdAt.slice(0, 19).replace('T', ' '),
                  String(x.counts.fetched),
                  String(x.counts.createdByKind.invoices),
                  String(x.counts.createdByKind.receipts),
                  String(x.counts.createdByKind.customers),
                  String(x.counts.createdByKind.products),
                  String(x.counts.updated),
                  String(x.counts.skipped),
                  String(x.counts.parked),
                  String(x.waiting),
                ]),
              ]),
            );
            if (r.total > items.length) console.log(`${items.length} of ${r.total} (see --limit)`);
          }
        } finally {
          await rt.close();
        }
      }),
    );
  runs
    .command('cancel <runId>')
    .description('Cancel a run: at once if nobody works it, else after the page in hand')
    .option('--json', 'print the run as JSON')
    .addHelpText(
      'after',
      '\nThe same as POST /v1/runs/{runId}/cancel. What the run posted is kept; the next run of the pipeline reads on.' +
        '\nA run a worker works stops at its next page boundary: exit code 0 once it is cancelled, 3 while it is still asked to stop' +
        '\n(follow it with `ledgerlink runs list`). A finished run, or an import or exception retry while it works, is refused.',
    )
    .action((runId: string, opts: { json?: boolean }) =>
      runCommand(opts.json, async () => {
        const id = parseWithSchema(RunId, { runId }, { runId: 'RUNID' }).runId;
        requireExistingData();
        const rt = await openRuntime({ queue: false, log: commandLogger() });
        try {
          const { run, requested } = await rt.db.transaction((tx) =>
            cancelRun(tx, id, { actor: 'cli', leaseSeconds: rt.sync.liveness.leaseSeconds, audit: auditAs(tx, 'cli') }),
          );
          if (opts.json) console.log(JSON.stringify(runView(run)));
          else if (requested)
            console.log(`run ${run.runId} (${run.pipeline}): asked to stop; it ends cancelled after the page in hand`);
          else console.log(`run ${run.runId} (${run.pipeline}): cancelled${run.error ? ` (${run.error})` : ''}`);
          return requested ? 3 : 0;
        } finally {
          await rt.close();
        }
      }),
    );
}
