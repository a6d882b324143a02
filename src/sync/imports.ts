import { createHash } from 'node:crypto';
import { DomainError, isDomainError } from '../domain/errors.ts';
import { recordAudit } from '../ledger/audit.ts';
import { PipelineBusyError } from './engine/run.ts';
import type { Pipeline } from './pipelines.ts';
import { ImportFileError, type ImportedRow, parseImportFile } from './registry.ts';
import { type PublicCounts, type RunRecord, type RunStatus, getRun, listRunRecords, publicCounts } from './runs.ts';
import type { SyncService } from './service.ts';
import { assertPipelineEnabled } from './manual-run.ts';

export type ImportRowOutcome = RunRecord['outcome'] | 'ignored';

/** What became of one row of the file. */
export interface ImportRowResult {
  line: number;
  kind: string;
  sourceId: string;
  outcome: ImportRowOutcome;
  message: string | null;
  targetId: string | null;
  /** The open exception a parked row's document is waiting in. */
  exceptionId: number | null;
}

export interface ImportResult {
  importId: string;
  runId: string;
  status: RunStatus;
  pipeline: string;
  fileName: string;
  sha256: string;
  /** The kind of file (invoices, receipts, a payout report; see the formats in src/sync/registry.ts). */
  kind: string;
  /** How it was read, e.g. csv or xlsx. */
  format: string;
  /** The same bytes were imported into this pipeline before; nothing already posted is posted again. */
  alreadyImported: boolean;
  previousImport: { importId: string; runId: string | null; importedAt: string } | null;
  counts: PublicCounts;
  /** Rows whose document was not booked (parked or failed). */
  failedRows: number;
  ignoredColumns: string[];
  rows: ImportRowResult[];
}

export interface ImportInput {
  fileName: string;
  bytes: Uint8Array;
  kind?: string | undefined;
  decimalComma?: boolean | undefined;
  /** Told the import's run as soon as it exists (the CLI cancels it on Ctrl-C). */
  onRun?: ((runId: string) => void) | undefined;
}

function rowMessage(row: ImportedRow): string | null {
  if (row.problems?.length)
    return `IMPORT_ROW_INVALID: ${row.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`;
  if (row.refusedWith?.length) {
    const lines = row.refusedWith;
    return `IMPORT_ROW_INVALID: refused with its ${row.kind} ${row.sourceId}, whose line${lines.length > 1 ? 's' : ''} ${lines.join(', ')} ${lines.length > 1 ? 'are' : 'is'} invalid`;
  }
  return row.ignored ?? null;
}

async function allRunRecords(sync: SyncService, runId: string) {
  const out: Awaited<ReturnType<typeof listRunRecords>> = [];
  for (let offset = 0; ; offset += 5000) {
    const page = await listRunRecords(sync.db, runId, 5000, offset);
    out.push(...page);
    if (page.length < 5000) return out;
  }
}

/**
 * Imports a file into a pipeline of source type `file`, synchronously, as one run: parses it,
 * posts what is valid exactly once (documents are keyed by their references, so a re-import of
 * the same or an overlapping file skips what is already booked), parks bad rows as exceptions
 * with their line numbers, records the file's hash, and answers a result per row.
 */
export async function importFile(
  sync: SyncService,
  pipeline: Pipeline,
  input: ImportInput,
  actor: string,
): Promise<ImportResult> {
  if (pipeline.sourceType !== 'file') {
    throw new DomainError(
      'VALIDATION_ERROR',
      `Pipeline ${pipeline.name} reads from "${pipeline.sourceType}"; imports need a pipeline with source type "file"`,
      [{ field: 'pipeline', message: 'not a file pipeline' }],
    );
  }
  assertPipelineEnabled(pipeline, 'pipeline');
  const sha256 = createHash('sha256').update(input.bytes).digest('hex');
  let parsed;
  try {
    parsed = await parseImportFile(input.bytes, input.fileName, { kind: input.kind, decimalComma: input.decimalComma });
  } catch (err) {
    if (err instanceof ImportFileError)
      throw new DomainError('VALIDATION_ERROR', `${input.fileName}: ${err.message}`, [
        { field: 'file', message: err.message },
      ]);
    throw err;
  }
  const db = sync.db;
  const { rows: previous } = await db.query<{ id: string; run_id: string | null; created_at: Date }>(
    `SELECT id, run_id, created_at FROM imports WHERE pipeline_id = $1 AND sha256 = $2 ORDER BY created_at, id LIMIT 1`,
    [pipeline.id, sha256],
  );
  const params = {
    fileName: input.fileName,
    sha256,
    kind: parsed.kind,
    format: parsed.format,
    rows: parsed.rows.length,
  };
  // Checked before anything is posted: every cell (a NUL, a lone surrogate, an amount beyond the
  // ledger's range is a row problem, parked with its line and column). Should the run still fail
  // unexpectedly half-way, the answer says which rows were posted, never that nothing changed.
  let started: string | null = null;
  let interrupted = false;
  try {
    await sync.processRecords(pipeline, 'import', actor, parsed.items, params, {
      ...(parsed.sourceParams ? { sourceParams: parsed.sourceParams } : {}),
      onRun: (id) => {
        started = id;
        input.onRun?.(id);
      },
    });
  } catch (err) {
    if (started === null || isDomainError(err) || err instanceof PipelineBusyError) throw err;
    sync.log.error({ err, pipeline: pipeline.name, runId: started }, 'import interrupted by an unexpected error');
    interrupted = true;
  }
  const runId: string = started!;
  const run = (await getRun(db, runId))!;

  // The run's last word on each record (a document appears once per run; customers and products it refers to have their own).
  const byRecord = new Map<
    string,
    { outcome: RunRecord['outcome']; message: string | null; targetId: string | null }
  >();
  for (const r of await allRunRecords(sync, runId)) {
    if (r.outcome !== 'writtenBack') byRecord.set(`${r.kind}\u0000${r.sourceId}`, { ...r, outcome: r.outcome });
  }
  if (interrupted) {
    // The run may have lost its records of documents it did post (they are saved after booking):
    // the source map, written in the posting transaction, says what this run booked.
    const { rows: mapped } = await db.query<{ kind: string; source_id: string; target_id: string; fresh: boolean }>(
      `SELECT kind, source_id, target_id, created_at >= $3 AS fresh FROM sync_map
        WHERE pipeline_id = $1 AND (kind, source_id) IN (SELECT * FROM unnest($2::text[], $4::text[]))`,
      [pipeline.id, parsed.rows.map((r) => r.kind), run.createdAt, parsed.rows.map((r) => r.sourceId)],
    );
    for (const m of mapped) {
      const key = `${m.kind}\u0000${m.source_id}`;
      if (byRecord.has(key)) continue;
      byRecord.set(key, {
        outcome: m.fresh ? 'created' : 'skipped',
        message: m.fresh ? 'posted by this import before it stopped' : 'already posted',
        targetId: m.target_id,
      });
    }
  }
  const { rows: open } = await db.query<{ id: string; kind: string; source_id: string }>(
    `SELECT id, kind, source_id FROM exceptions WHERE pipeline_id = $1 AND run_id = $2 AND status = 'open'`,
    [pipeline.id, runId],
  );
  const exceptionOf = new Map(open.map((x) => [`${x.kind}\u0000${x.source_id}`, Number(x.id)]));
  const rows: ImportRowResult[] = parsed.rows.map((row) => {
    const key = `${row.kind}\u0000${row.sourceId}`;
    const base = { line: row.line, kind: row.kind, sourceId: row.sourceId, exceptionId: exceptionOf.get(key) ?? null };
    if (row.ignored) return { ...base, outcome: 'ignored', message: row.ignored, targetId: null };
    if (row.problems?.length || row.refusedWith?.length)
      return { ...base, outcome: 'parked', message: rowMessage(row), targetId: null };
    const rec = byRecord.get(key);
    if (!rec)
      return {
        ...base,
        outcome: 'failed',
        message: interrupted
          ? 'Not posted: the import stopped on an unexpected error (logged on the server) before this row was booked. ' +
            'Rows marked created were posted; import the file again once the cause is fixed (posted rows are not posted twice).'
          : run.status === 'cancelled'
            ? `Not posted: the import was cancelled by ${run.cancelledBy ?? 'someone'} before this row was booked. ` +
              'Rows marked created were posted; import the file again to post the rest (posted rows are not posted twice).'
            : (run.error ?? 'the run gave no result for this row'),
        targetId: null,
      };
    return { ...base, outcome: rec.outcome, message: rec.message, targetId: rec.targetId };
  });

  const importId = await db.transaction(async (tx) => {
    const { rows: created } = await tx.query<{ id: string }>(
      `INSERT INTO imports (pipeline_id, file_name, sha256, run_id) VALUES ($1, $2, $3, $4) RETURNING id`,
      [pipeline.id, input.fileName.slice(0, 255), sha256, runId],
    );
    const id = created[0]!.id;
    await recordAudit(tx, {
      entityId: pipeline.entityId,
      actor,
      action: 'import.completed',
      objectType: 'import',
      objectId: id,
      after: {
        pipeline: pipeline.name,
        ...params,
        runId,
        status: run.status,
        counts: publicCounts(run.counts),
        alreadyImported: previous.length > 0,
      },
    });
    return id;
  });
  const prev = previous[0];
  return {
    importId,
    runId,
    status: run.status,
    pipeline: pipeline.name,
    fileName: input.fileName,
    sha256,
    kind: parsed.kind,
    format: parsed.format,
    alreadyImported: prev !== undefined,
    previousImport: prev ? { importId: prev.id, runId: prev.run_id, importedAt: prev.created_at.toISOString() } : null,
    counts: publicCounts(run.counts),
    failedRows: rows.filter((r) => r.outcome === 'parked' || r.outcome === 'failed').length,
    ignoredColumns: parsed.ignoredColumns,
    rows,
  };
}
