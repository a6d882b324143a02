import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { type Command, Option } from 'commander';
import { commandLogger, openRuntime } from './runtime.ts';
import { table } from './table.ts';
import { fileNotReadable, reportError, requireExistingData } from './common.ts';
import { isDomainError } from '../domain/errors.ts';
import { IMPORT_KINDS, type ImportKind, describeColumns } from '../connectors/csv/index.ts';
import { importFile, type ImportResult } from '../sync/imports.ts';
import { auditAs, requirePipeline } from '../sync/pipelines.ts';
import { cancelRun } from '../sync/run-cancel.ts';
import { assertPipelineEnabled } from '../sync/manual-run.ts';
import { Progress } from './progress.ts';

export interface ImportOptions {
  pipeline: string;
  kind?: ImportKind | undefined;
  decimalComma?: boolean | undefined;
  json?: boolean | undefined;
}

/** The per-row report and summary people read. */
export function formatImport(r: ImportResult): string {
  const lines = [
    table([
      ['line', 'kind', 'source id', 'outcome', 'message'],
      ...r.rows.map((x) => [
        String(x.line),
        x.kind,
        x.sourceId,
        x.outcome,
        (x.message ?? '') + (x.exceptionId ? ` [exception #${x.exceptionId}]` : ''),
      ]),
    ]),
    '',
    `${r.fileName} (${r.kind}, ${r.format}) into pipeline ${r.pipeline}: run ${r.runId} ${r.status}`,
    `  created ${r.counts.created} · updated ${r.counts.updated} · skipped ${r.counts.skipped} · parked ${r.counts.parked}` +
      ` · ${r.failedRows} row${r.failedRows === 1 ? '' : 's'} not booked`,
  ];
  if (r.alreadyImported && r.previousImport) {
    lines.push(
      `  this file was imported before (${r.previousImport.importedAt}, run ${r.previousImport.runId ?? '?'}): what was booked then was skipped`,
    );
  }
  if (r.ignoredColumns.length) lines.push(`  columns not read: ${r.ignoredColumns.join(', ')}`);
  if (r.failedRows)
    lines.push(`  fix the rows and import the file again, or see: ledgerlink exceptions list --pipeline ${r.pipeline}`);
  return lines.join('\n');
}

/**
 * The `import` command's work: opens the database from the environment, imports the file into the
 * pipeline and prints the report. Returns the exit code: 0 when every row was booked or skipped,
 * 1 when rows failed or the file was refused.
 */
export async function runImport(file: string, opts: ImportOptions): Promise<number> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    return reportError(fileNotReadable(file, err), opts.json);
  }
  try {
    requireExistingData();
  } catch (err) {
    return reportError(err, opts.json);
  }
  const rt = await openRuntime({ queue: false, log: commandLogger() });
  const progress = new Progress(`import ${basename(file)}`, !opts.json && process.stderr.isTTY);
  const totals = { fetched: 0, created: 0, parked: 0 };
  rt.sync.engine.onPage = (_runId, c) => {
    totals.fetched += c.fetched;
    totals.created += c.created;
    totals.parked += c.parked;
    progress.update(totals, 'rows');
  };
  let runId: string | null = null;
  const stop = stopOnCtrlC(async () => {
    progress.done();
    // Before the run exists nothing is posted: stopping is quitting.
    if (runId === null) process.exit(130);
    const asked = runId;
    try {
      await rt.db.transaction((tx) =>
        cancelRun(tx, asked, { actor: 'cli', leaseSeconds: rt.sync.liveness.leaseSeconds, audit: auditAs(tx, 'cli') }),
      );
    } catch (err) {
      // Ctrl-C as the import ended (its report may be out already): there is nothing left to stop.
      if (isDomainError(err) && err.code === 'RUN_ALREADY_FINISHED') {
        process.stderr.write('the import had finished: there was nothing left to stop\n');
        return;
      }
      throw err;
    }
    process.stderr.write('stopping after the page in hand (what it posted is kept); Ctrl-C again to quit at once\n');
  });
  try {
    const pipeline = await requirePipeline(rt.db, rt.box, opts.pipeline, undefined, '--pipeline');
    // Refused as a run of it is (PIPELINE_DISABLED, saying how to enable it). One that does not read
    // files is left to importFile, whose refusal says so whether it is enabled or not.
    if (pipeline.sourceType === 'file') assertPipelineEnabled(pipeline, '--pipeline');
    const result = await importFile(
      rt.sync,
      pipeline,
      {
        fileName: basename(file),
        bytes,
        kind: opts.kind,
        decimalComma: opts.decimalComma,
        onRun: (id) => (runId = id),
      },
      'cli',
    );
    progress.done();
    console.log(opts.json ? JSON.stringify(result) : formatImport(result));
    if (result.status === 'cancelled') return 130;
    return result.failedRows > 0 || result.status === 'failed' ? 1 : 0;
  } catch (err) {
    if (!isDomainError(err)) throw err;
    if (opts.json)
      console.log(JSON.stringify({ error: { code: err.code, message: err.message, details: err.details } }));
    else console.error(`error: ${err.code}: ${err.message}`);
    return 1;
  } finally {
    await stop();
    await rt.close();
  }
}

/**
 * The first Ctrl-C (or SIGTERM) runs `first`: the import is cancelled and ends after the page in
 * hand, reporting as usual; the second quits at once (what was posted stays posted: each page is a
 * transaction of its own). Returns what takes the handlers off again: it lets the event loop run
 * first, so that a signal already received is handled rather than lost (on PGlite the work may not
 * have let it run since), and waits for `first` to end before the database is closed.
 */
function stopOnCtrlC(first: () => Promise<void>): () => Promise<void> {
  let stopping = false;
  let handling: Promise<void> = Promise.resolve();
  const handler = () => {
    if (stopping) process.exit(130);
    stopping = true;
    handling = first().catch((err: unknown) => {
      process.stderr.write(`could not cancel the import: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return async () => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await handling;
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

export function registerImport(program: Command): void {
  program
    .command('import <file>')
    .description(
      'Import a CSV or Excel (.xlsx) file of invoices, receipts, customers or a payout report into a pipeline, exactly once',
    )
    .requiredOption('--pipeline <name>', 'a pipeline whose source type is "file"')
    .addOption(
      new Option('--kind <kind>', 'the kind of file (default: told from the header row)').choices([...IMPORT_KINDS]),
    )
    .option('--decimal-comma', 'amounts are written with a decimal comma (12,50); "." is then refused')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Prints a line per row (created, updated, skipped, parked with the reason, or ignored) and a summary;
exit code 1 when a row was not booked. Shows progress on a terminal. Ctrl-C stops the import after the
rows in hand (what it posted is kept; the rest are reported not posted, exit code 130): import the
file again for the rest. Ctrl-C twice quits at once. Importing the same file again books nothing twice. Header
names are matched case-insensitively; spaces and dashes count as "_". Dates are YYYY-MM-DD (Excel
date cells too); amounts are decimals with "." (see --decimal-comma). Full reference: docs/imports.md.

${IMPORT_KINDS.map((k) => `${k} (* required):\n${describeColumns(k).replace(/^/gm, '  ')}`).join('\n\n')}`,
    )
    .action(async (file: string, opts: ImportOptions) => {
      process.exitCode = await runImport(file, opts);
    });
}
