import type { Command } from 'commander';
import { type Runtime, commandLogger, openRuntime } from './runtime.ts';
import { Progress } from './progress.ts';
import { table } from './table.ts';
import { CliError, parseWithSchema, reportError, requireExistingData } from './common.ts';
import { ReconcileQuery } from '../api/routes/reconciliation.ts';
import { type Pipeline, requirePipeline } from '../sync/pipelines.ts';
import { type ReconcileProgress, type Reconciliation, reconcile, reconcileWindow } from '../sync/reconcile.ts';

export interface ReconcileOptions {
  from?: string | undefined;
  to?: string | undefined;
  json?: boolean | undefined;
}

/** The report people read: days that differ, balances that differ, then every mismatch. */
export function formatReconciliation(r: Reconciliation): string {
  const out = [
    `${r.pipeline} from ${r.from} to ${r.to}: ${r.summary.matched} documents match, ${r.summary.mismatched} mismatches`,
  ];
  // What could not be compared (provider fees a target cannot tell): said, never read as agreement.
  for (const note of r.notes ?? []) out.push(`note: ${note}`);
  const days = r.days.filter((d) => !d.matched);
  out.push('', `days (${r.days.length}, ${days.length} differ; ledger less source):`);
  if (days.length) {
    out.push(
      table([
        [
          'date',
          'customer',
          'ccy',
          'source inv',
          'ledger inv',
          'source cn',
          'ledger cn',
          'source pay',
          'ledger pay',
          'difference',
        ],
        ...days.map((d) => [
          d.date,
          d.customerCode ?? `(source ${d.customerSourceId ?? '?'})`,
          d.currency,
          `${d.source.invoices.count} / ${d.source.invoices.total}`,
          `${d.target.invoices.count} / ${d.target.invoices.total}`,
          `${d.source.creditNotes.count} / ${d.source.creditNotes.total}`,
          `${d.target.creditNotes.count} / ${d.target.creditNotes.total}`,
          `${d.source.payments.count} / ${d.source.payments.total}`,
          `${d.target.payments.count} / ${d.target.payments.total}`,
          `inv ${d.difference.invoices.total}, cn ${d.difference.creditNotes.total}, pay ${d.difference.payments.total}`,
        ]),
      ]).replace(/^/gm, '  '),
    );
  }
  const balances = r.openBalances.filter((b) => !b.matched);
  out.push('', `open balances at ${r.to} (${r.openBalances.length} customers, ${balances.length} differ):`);
  if (balances.length) {
    out.push(
      table([
        ['customer', 'ccy', 'source', 'ledger', 'difference'],
        ...balances.map((b) => [b.customerCode, b.currency, b.source, b.target, b.difference]),
      ]).replace(/^/gm, '  '),
    );
  }
  out.push('', 'mismatches:');
  if (r.mismatches.length === 0) out.push('  none');
  for (const m of r.mismatches) {
    const refs = [
      m.exceptionId ? `exception #${m.exceptionId}` : null,
      m.transactionId ? `transaction ${m.transactionId}` : null,
      m.feeTargetId ? `fee ${m.feeTargetId}` : null,
    ]
      .filter(Boolean)
      .join(', ');
    out.push(
      `  ${m.kind} (${m.reason})${m.date ? ` ${m.date}` : ''}${m.customerCode ? ` ${m.customerCode}` : ''}: ${m.message}${refs ? ` [${refs}]` : ''}`,
    );
  }
  return out.join('\n');
}

const PHASE: Record<ReconcileProgress['phase'], string> = {
  source: 'reading what the source sent',
  target: 'reading the target',
  unlinked: 'looking for documents no pipeline booked',
  comparing: 'comparing',
  balances: 'comparing open balances',
};

/**
 * Runs the reconciliation with its progress on stderr when that is a terminal and there is no
 * --json: the phase, the source's documents and the target's read so far.
 */
async function reconcileShowingProgress(
  rt: Runtime,
  pipeline: Pipeline,
  window: { from: string; to: string },
  opts: ReconcileOptions,
): Promise<Reconciliation> {
  const onTerminal = !opts.json && Boolean(process.stderr.isTTY);
  const progress = new Progress(`reconcile ${pipeline.name}`, onTerminal);
  let last: ReconcileProgress | null = null;
  const show = (p: ReconcileProgress, force: boolean) => {
    progress.setPhase(PHASE[p.phase]);
    progress.update({ source: p.sourceDocuments, fetched: [p.fetched, p.toFetch] }, 'documents', force);
  };
  // One page of a remote target can take minutes: the line's clock keeps going meanwhile.
  const tick = onTerminal ? setInterval(() => last && show(last, true), 1000) : null;
  try {
    return await reconcile(rt.db, pipeline, window.from, window.to, rt.log, rt.box, {
      onProgress: (p) => {
        // A new phase is always drawn; pages within one at most every 100 ms.
        show(p, p.phase !== last?.phase);
        last = p;
      },
    });
  } finally {
    if (tick) clearInterval(tick);
    progress.done();
  }
}

/** The `reconcile` command's work; returns the exit code (1 when anything does not match). */
export async function runReconcile(name: string, opts: ReconcileOptions): Promise<number> {
  let window: { from: string; to: string };
  try {
    // The dates are checked as GET /v1/pipelines/{name}/reconciliation checks them.
    const q = parseWithSchema(ReconcileQuery, { from: opts.from, to: opts.to }, { from: '--from', to: '--to' });
    const checked = reconcileWindow(q.from, q.to);
    if (!checked)
      throw new CliError('VALIDATION_ERROR', '--from: must not be after --to', [
        { field: '--from', message: 'after --to' },
      ]);
    window = checked;
    requireExistingData();
  } catch (err) {
    return reportError(err, opts.json);
  }
  const rt = await openRuntime({ queue: false, log: commandLogger() });
  try {
    // Reconciling reads the ledger and what the source sent, never the source itself (so a source
    // whose address only the server may call, such as the demo's sample system, is not checked).
    const pipeline = await requirePipeline(rt.db, rt.box, name, undefined, 'PIPELINE');
    const result = await reconcileShowingProgress(rt, pipeline, window, opts);
    console.log(opts.json ? JSON.stringify(result) : formatReconciliation(result));
    return result.mismatches.length ? 1 : 0;
  } catch (err) {
    return reportError(err, opts.json);
  } finally {
    await rt.close();
  }
}

export function registerReconcile(program: Command): void {
  program
    .command('reconcile <pipeline>')
    .description(
      "Compare a pipeline's source with the ledger: totals per day, customer and currency, open balances, every mismatch",
    )
    .option('--from <date>', 'first document date (default: 30 days before --to)')
    .option('--to <date>', 'last document date, and the date of the open balances (default: today)')
    .option('--json', 'print the reconciliation as JSON')
    .addHelpText(
      'after',
      `
Mismatches: missing-in-ledger (parked, with the exception to fix and retry; or never posted),
not-from-source (in the ledger for the pipeline's customers but not posted by it), amount-difference
(reason rounding when within one minor unit per line), date-difference, fee-difference (a payment's
provider fee missing from the target, of another amount, or extra there), open-balance-difference.
A line "note:" says what could not be compared (fees a target cannot tell).

Prints the report, or with --json only the reconciliation as JSON, on stdout; errors and warnings
on stderr. On a terminal, stderr also shows progress on one line: the phase, the source's documents
in the window (read from this database: the source itself is not called) and the target's documents
read so far (the long part with a remote target such as Xero); nothing with --json or on a pipe.
Exit code 0 when everything matches, 1 otherwise.`,
    )
    .action(async (name: string, opts: ReconcileOptions) => {
      process.exitCode = await runReconcile(name, opts);
    });
}
