import type { Command } from 'commander';
import type { Queryable } from '../db/database.ts';
import type { Liveness } from '../sync/engine/liveness.ts';
import { commandLogger, openRuntime } from './runtime.ts';
import { Progress } from './progress.ts';
import { bookedBesides, getRun } from '../sync/runs.ts';
import { requirePipeline } from '../sync/pipelines.ts';
import { assertManualRunAllowed } from '../sync/manual-run.ts';
import { listExceptions, resolveOpenException, retryException } from '../sync/exceptions.ts';
import { ExceptionId, ExceptionListQuery, ResolveBody } from '../api/routes/exceptions.ts';
import { runView } from '../api/routes/runs.ts';
import { auditAs, checkPipelineFilter } from '../sync/pipelines.ts';
import { CliError, parseWithSchema, requireExistingData, runCommand } from './common.ts';
import { DEMO_ELSEWHERE, isDemoPipeline } from './demo.ts';

export function registerSync(program: Command): void {
  const sync = program.command('sync').description('Run pipelines');
  sync
    .command('run <name>')
    .description('Run a pipeline now, in this process, and wait for it to finish')
    .option('--json', 'print the run as JSON, as GET /v1/runs/{runId} answers it')
    .addHelpText(
      'after',
      '\nShows progress (records, rate) on a terminal. Exit code 0 when the run succeeded, 2 when records were parked, 1 when it failed.' +
        '\nRuns the pipeline as the database holds it: a ledgerlink.yaml is not applied (use `ledgerlink config apply`).' +
        '\nCtrl-C stops the run after the page in hand, keeping what it posted (exit code 130); the same command then goes on' +
        '\nwith that run from where it stopped. A second Ctrl-C quits at once: nothing is posted twice, and the same command' +
        '\ngoes on with the run once its lease (LEDGERLINK_LEASE_SECONDS, default 15) has passed.',
    )
    .action((name: string, opts: { json?: boolean }) =>
      runCommand(opts.json, async () => {
        requireExistingData();
        const rt = await openRuntime({ queue: false, log: commandLogger({ failuresReported: true }) });
        let stop: StopOnSignal | null = null;
        try {
          const pipeline = await requirePipeline(rt.db, rt.box, name, undefined, 'NAME');
          if (isDemoPipeline(pipeline))
            throw new CliError(
              'DEMO_RUNS_IN_SERVER',
              `the demo pipeline ${DEMO_ELSEWHERE}, so it cannot run from this command${pipeline.enabled ? '' : ' (and it is paused: the last start had no demo)'}. ` +
                'Start the server: it runs "demo" every minute, and at once with the dashboard\'s "Run now" or POST /v1/pipelines/demo/runs',
            );
          // Refused as POST /v1/pipelines/{name}/runs refuses it (disabled, unreadable secrets, unknown
          // type), going on with a stopped run included: this command works the run itself.
          assertManualRunAllowed(pipeline, 'NAME');
          const progress = new Progress(`sync ${name}`, !opts.json && process.stderr.isTTY);
          const totals = { fetched: 0, created: 0, parked: 0 };
          rt.sync.engine.onPage = (_runId, c) => {
            totals.fetched += c.fetched;
            totals.created += c.created;
            totals.parked += c.parked;
            progress.update(totals);
          };
          stop = stopOnSignal(rt.sync.liveness, () => {
            progress.done();
            process.stderr.write(
              'stopping after the page in hand (what it posted is kept); Ctrl-C again to quit at once\n',
            );
          });
          const stopped = await stoppedRun(rt.db, pipeline.id, rt.sync.liveness.leaseSeconds);
          let runId: string;
          if (stopped) {
            if (!opts.json)
              process.stderr.write(
                `going on with run ${stopped}, which stopped before it finished, from where it stopped\n`,
              );
            runId = stopped;
            await rt.sync.runNow(runId);
          } else runId = (await rt.sync.trigger(pipeline, 'manual', 'cli', {}, { inline: true }))!;
          progress.done();
          // The run as GET /v1/runs/{runId} and `ledgerlink runs list` show it, not the stored row.
          const run = runView((await getRun(rt.db, runId))!);
          const handedBack = stop.stopping && (run.status === 'queued' || run.status === 'running');
          if (opts.json) console.log(JSON.stringify(run));
          else {
            const c = run.counts;
            const k = c.createdByKind;
            console.log(`run ${run.runId}: ${handedBack ? 'stopped (Ctrl-C)' : run.status}`);
            console.log(
              `  fetched ${c.fetched} · created ${c.created} (${k.invoices} invoices, ${k.receipts} receipts, ` +
                `${k.customers} customers, ${k.products} products${k.other ? `, ${k.other} other` : ''})` +
                ` · updated ${c.updated} · skipped ${c.skipped} · parked ${c.parked} · written back ${c.writtenBack}`,
            );
            if (handedBack)
              console.log(
                `  what it posted is kept; \`ledgerlink sync run ${name}\` goes on with it from where it stopped ` +
                  `(so does \`ledgerlink serve\`, or a worker, when it starts); \`ledgerlink runs cancel ${run.runId}\` ends it`,
              );
            // Documents still on their way are not an error: `ledgerlink runs list` shows them go.
            else if (run.error) console.log(run.waiting > 0 ? `  ${run.error}` : `  error: ${run.error}`);
            if (c.parked) console.log(`  see the parked records: ledgerlink exceptions list --pipeline ${name}`);
          }
          if (handedBack) return 130;
          return run.status === 'succeeded' ? 0 : run.status === 'partial' ? 2 : 1;
        } finally {
          await stop?.dispose();
          await rt.close();
        }
      }),
    );
}

interface StopOnSignal {
  readonly stopping: boolean;
  /** Takes the handlers off, after the event loop has run once, so that a signal already received is handled, not lost. */
  dispose(): Promise<void>;
}

/**
 * Ctrl-C (or SIGTERM) while a run works in this process: the first stops it as a stopping worker
 * does, after the page in hand, which is committed with its cursor, and hands the run back; a
 * second quits at once (exit code 130), as a crash would: nothing is posted twice.
 */
function stopOnSignal(liveness: Liveness, onFirst: () => void): StopOnSignal {
  let stopping = false;
  const handler = () => {
    if (stopping) process.exit(130);
    stopping = true;
    onFirst();
    liveness.beginStopping();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    get stopping() {
      return stopping;
    },
    async dispose() {
      // On PGlite the work may not have let the event loop run since the signal came.
      await new Promise<void>((resolve) => setImmediate(resolve));
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/**
 * A run of the pipeline this command started that did not finish and that nobody works: stopped
 * with Ctrl-C (handed back, queued with its cursor), or quit at once or killed (running, its
 * heartbeat older than the lease). Going on with it, rather than starting another, reads the source
 * from where it stopped. A worker that takes it meanwhile (the recovery sweep queues such runs
 * again) is kept from working it twice by the pipeline's lease.
 */
async function stoppedRun(db: Queryable, pipelineId: string, leaseSeconds: number): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM runs
      WHERE pipeline_id = $1 AND trigger = 'manual' AND created_by = 'cli'
        AND ((status = 'queued' AND heartbeat_at IS NULL)
          OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => $2)))
      ORDER BY created_at LIMIT 1`,
    [pipelineId, leaseSeconds],
  );
  return rows[0]?.id ?? null;
}

interface ListOptions {
  pipeline?: string;
  status: string;
  needsPerson?: boolean;
  json?: boolean;
}

export function registerExceptions(program: Command): void {
  const ex = program.command('exceptions').description('Parked records: list, retry, resolve');
  ex.command('list')
    .description('List exceptions')
    .option('--pipeline <name>', 'only this pipeline (a name that is not one is refused, naming the known ones)')
    .option('--status <status>', 'open or resolved', 'open')
    .option(
      '--needs-person',
      'only those a person must act on (not those that run again by themselves once what they need is booked)',
    )
    .option('--json', 'print JSON')
    .action((opts: ListOptions) =>
      runCommand(opts.json, async () => {
        const q = parseWithSchema(
          ExceptionListQuery,
          { pipeline: opts.pipeline, status: opts.status },
          { pipeline: '--pipeline', status: '--status' },
        );
        const status = q.status ?? 'open';
        requireExistingData();
        const rt = await openRuntime({ queue: false, log: commandLogger() });
        try {
          await checkPipelineFilter(rt.db, q.pipeline, undefined, '--pipeline');
          const { items, total } = await listExceptions(rt.db, {
            pipeline: q.pipeline,
            status,
            runsByItself: opts.needsPerson ? false : undefined,
            limit: 500,
            offset: 0,
          });
          if (opts.json) console.log(JSON.stringify({ items, total }));
          else if (items.length === 0)
            console.log(`no ${status} exceptions${q.pipeline ? ` in pipeline ${q.pipeline}` : ''}`);
          else {
            for (const x of items)
              console.log(
                `#${x.id}  ${x.pipeline}  ${x.kind} ${x.sourceId}  ${x.reasonCode}: ${x.message}${x.field ? ` (${x.field})` : ''}`,
              );
            console.log(`${total} ${status}`);
          }
        } finally {
          await rt.close();
        }
      }),
    );
  ex.command('retry <id>')
    .description('Process a parked record again, after its cause is fixed')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nThe same as POST /v1/exceptions/{id}/retry. Exit code 0 when the record went through and the exception is resolved,' +
        '\n2 when it stays open (parked again; its new reason is printed), 1 when the retry is refused' +
        '\n(an exception already resolved: EXCEPTION_ALREADY_RESOLVED; one that holds nothing to send again).',
    )
    .action((id: string, opts: { json?: boolean }) =>
      runCommand(opts.json, async () => {
        const n = parseWithSchema(ExceptionId, { id }, { id: 'ID' }).id;
        requireExistingData();
        const rt = await openRuntime({ queue: false, log: commandLogger({ failuresReported: true }) });
        try {
          const outcome = await retryException(rt.db, rt.sync, n, 'cli', { field: 'ID' });
          const after = outcome.exception;
          if (opts.json) console.log(JSON.stringify(outcome));
          else if (after.status === 'resolved') {
            // What needed it (its customer's invoices, its allocations) ran again in the same run.
            const besides = await bookedBesides(rt.db, outcome.runId, after.kind, after.sourceId);
            console.log(
              `#${n} posted; resolved${besides > 0 ? `; ${besides} other parked record(s) that needed it went with it` : ''}`,
            );
          } else console.log(`#${n} still open: ${after.reasonCode}: ${after.message}`);
          return after.status === 'resolved' ? 0 : 2;
        } finally {
          await rt.close();
        }
      }),
    );
  ex.command('resolve <id>')
    .description('Close an exception by hand')
    .requiredOption('--note <text>', 'why (e.g. "posted manually")')
    .option('--json', 'print the resolved exception as JSON')
    .action((id: string, opts: { note: string; json?: boolean }) =>
      runCommand(opts.json, async () => {
        const n = parseWithSchema(ExceptionId, { id }, { id: 'ID' }).id;
        const { note } = parseWithSchema(ResolveBody, { note: opts.note }, { note: '--note' });
        requireExistingData();
        const rt = await openRuntime({ queue: false, log: commandLogger() });
        try {
          const after = await rt.db.transaction((tx) =>
            resolveOpenException(tx, n, note, { actor: 'cli', field: 'ID', audit: auditAs(tx, 'cli') }),
          );
          console.log(opts.json ? JSON.stringify(after) : `#${n} resolved`);
        } finally {
          await rt.close();
        }
      }),
    );
}
