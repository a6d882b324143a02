import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route.ts';
import { BooleanFlag } from '../schemas.ts';
import { DomainError } from '../../domain/errors.ts';
import { importFile } from '../../sync/imports.ts';
import { requirePipeline } from '../../sync/pipelines.ts';
import { importKinds } from '../../sync/registry.ts';
import { scopeOf } from './sync-shared.ts';
import { RunCountsView, RunStatus } from './runs.ts';

/**
 * The import route. Its kinds of file are those of the formats registered (src/sync/registry.ts,
 * `registerFileFormat`), so it is built when the routes are listed, once src/connectors/all.ts has
 * loaded them.
 */
function importRoute(): AnyRoute {
  const kinds = importKinds() as [string, ...string[]];
  const Fields = z.strictObject({
    pipeline: z.string().min(1).max(63).meta({ description: 'A pipeline of source type "file".' }),
    kind: z.enum(kinds).optional().meta({ description: 'The kind of file; told from its header row when absent.' }),
    decimalComma: BooleanFlag.optional().meta({ description: 'Amounts are written 12,50 ("." is then refused).' }),
  });

  const Row = z.object({
    line: z.number(),
    kind: z.string(),
    sourceId: z.string(),
    outcome: z.enum(['created', 'updated', 'skipped', 'parked', 'failed', 'writtenBack', 'ignored']),
    message: z.string().nullable(),
    targetId: z.string().nullable(),
    exceptionId: z.number().nullable(),
  });

  const Result = z.object({
    importId: z.string(),
    runId: z.string(),
    status: RunStatus,
    pipeline: z.string(),
    fileName: z.string(),
    sha256: z.string(),
    kind: z.enum(kinds),
    format: z.enum(['csv', 'xlsx']),
    alreadyImported: z.boolean(),
    previousImport: z.object({ importId: z.string(), runId: z.string().nullable(), importedAt: z.string() }).nullable(),
    counts: RunCountsView,
    failedRows: z.number(),
    ignoredColumns: z.array(z.string()),
    rows: z.array(Row),
  });

  return defineRoute({
    method: 'POST',
    path: '/v1/imports',
    operationId: 'importFile',
    summary:
      'Import a CSV or Excel file (invoices, receipts, customers, GoCardless or SmartDebit payout report) into a file pipeline',
    description:
      'Send `multipart/form-data` with the fields `pipeline` and `file` (and optionally `kind`, `decimalComma`). The file is processed at once as a run ' +
      'of trigger "import": valid documents are posted exactly once, a bad row parks its document as an exception (`IMPORT_ROW_INVALID`) with its line ' +
      'number, and the answer holds a result per row. Importing the same file again posts nothing twice and says `alreadyImported: true`. ' +
      'File formats: docs/imports.md.',
    tags: ['imports'],
    auth: 'entityOrAdmin',
    multipart: {
      fields: Fields.extend({ file: z.string().meta({ format: 'binary', description: 'The .csv or .xlsx file.' }) }),
    },
    // Like a manual run: the run commits its own transactions, so the request must not hold one open.
    write: false,
    success: { status: 200, description: 'The run and a result per row.', schema: Result },
    errors: ['PIPELINE_NOT_FOUND', 'PIPELINE_DISABLED', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'],
    handler: async (ctx) => {
      // The form was read in full before the route ran (src/api/uploads.ts).
      const { fields, file } = ctx.upload ?? { fields: {}, file: null };
      if (file && file.field !== 'file') {
        throw new DomainError('VALIDATION_ERROR', `Send one file, in the field "file" (got "${file.field}")`, [
          { field: file.field, message: 'unexpected file' },
        ]);
      }
      const parsed = Fields.safeParse(fields);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => ({
          field: i.path.map(String).join('.') || 'form',
          message: i.message,
        }));
        throw new DomainError('VALIDATION_ERROR', problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems);
      }
      if (!file)
        throw new DomainError('VALIDATION_ERROR', 'file: the form has no file (send it in the field "file")', [
          { field: 'file', message: 'required' },
        ]);
      const sync = ctx.services.sync;
      const pipeline = await requirePipeline(ctx.db, sync.box, parsed.data.pipeline, scopeOf(ctx), 'pipeline');
      return importFile(
        sync,
        pipeline,
        { fileName: file.name, bytes: file.bytes, kind: parsed.data.kind, decimalComma: parsed.data.decimalComma },
        ctx.principal.actor,
      );
    },
  });
}

let route: AnyRoute | undefined;

/** The import endpoint (one route object, however often it is listed). */
export function importRoutes(): AnyRoute[] {
  return [(route ??= importRoute())];
}
