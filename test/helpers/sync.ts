// Loads every connector into the registries, as the CLI and the server do.
import '../../src/connectors/all.ts';
import pino from 'pino';
import type { Database } from '../../src/db/database.ts';
import type { CanonicalPayment, CanonicalRecord } from '../../src/sync/canonical.ts';
import { SecretBox } from '../../src/sync/secrets.ts';
import { SyncService } from '../../src/sync/service.ts';
import { findEntityByCode } from '../../src/ledger/entities.ts';
import { type Pipeline, PipelineDefinition, savePipeline } from '../../src/sync/pipelines.ts';
import { createTarget, sourceDeps } from '../../src/sync/engine/run.ts';

export const testBox = new SecretBox(Buffer.alloc(32, 7));
export const silentLog = pino({ level: 'silent' });

export function syncService(db: Database, extra: Partial<ConstructorParameters<typeof SyncService>[0]> = {}) {
  return new SyncService({ db, box: testBox, log: silentLog, ...extra });
}

export async function definePipeline(db: Database, entityCode: string, def: Record<string, unknown>) {
  const entity = (await findEntityByCode(db, entityCode))!;
  const parsed = PipelineDefinition.parse({ entity: entityCode, ...def });
  return db.transaction(async (tx) => (await savePipeline(tx, testBox, entity.id, parsed, 'api')).pipeline);
}

/** What the engine gives a pipeline's source (its target lookups included), for tests that wrap a source. */
export async function sourceDepsOf(db: Database, pipeline: Pipeline, params: Record<string, unknown> = {}) {
  const deps = { db, log: silentLog, box: testBox };
  return sourceDeps(deps, pipeline, await createTarget(deps, pipeline), params, null);
}

/**
 * Flushes the pipeline's outbox until no document waits for the target, as the worker would,
 * and fails when something still waits after 20 rounds (a target that never settles is a bug).
 */
export async function drainTarget(
  db: Database,
  sync: Pick<SyncService, 'flushAll'>,
  pipeline: Pick<Pipeline, 'id'>,
  target: string,
) {
  for (let i = 0; i < 20; i++) {
    // Documents sent and waiting for a retry, and those held behind one (src/sync/engine/waiting.ts).
    const { rows } = await db.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM outbox WHERE pipeline_id = $1 AND direction = 'target' AND status = 'pending')
            + (SELECT count(*) FROM held_records WHERE pipeline_id = $1) AS n`,
      [pipeline.id],
    );
    if (rows[0]!.n === '0') return;
    await sync.flushAll();
  }
  throw new Error(`documents still wait for ${target} after 20 flushes`);
}

/** Runs the engine over these records (as an import), then drains what waits for the target; the import's run id. */
export async function sendRecords(
  db: Database,
  sync: Pick<SyncService, 'processRecords' | 'flushAll'>,
  pipeline: Pipeline,
  records: CanonicalRecord[],
  target: string,
): Promise<string> {
  const runId = await sync.processRecords(
    pipeline,
    'import',
    'test',
    records.map((record) => ({ record })),
  );
  await drainTarget(db, sync, pipeline, target);
  return runId;
}

/** The pipeline's open exceptions, by source id. */
export async function openExceptions(db: Database, pipeline: Pick<Pipeline, 'id'>) {
  const { rows } = await db.query<{ source_id: string; reason_code: string; message: string; field: string | null }>(
    `SELECT source_id, reason_code, message, field FROM exceptions WHERE pipeline_id = $1 AND status = 'open' ORDER BY source_id`,
    [pipeline.id],
  );
  return rows;
}

/** A customer record as a source sends it. */
export const customerRecord = (id: string): CanonicalRecord => ({
  kind: 'customer',
  sourceId: id,
  name: `Customer ${id}`,
});

/** A payment record of customer K1 in EUR, dated 2026-11-03, its reference its source id. */
export const paymentRecord = (id: string, amount: string, extra: Partial<CanonicalPayment> = {}): CanonicalPayment => ({
  kind: 'payment',
  sourceId: id,
  externalReference: id,
  customerSourceId: 'K1',
  date: '2026-11-03',
  amount,
  currency: 'EUR',
  description: '',
  ...extra,
});

/** An invoice record of one line, 100.00 at 21 % VAT, dated 2026-11-02. */
export const invoiceRecord = (id: string, customerSourceId: string): CanonicalRecord => ({
  kind: 'invoice',
  sourceId: id,
  externalReference: id,
  customerSourceId,
  invoiceDate: '2026-11-02',
  currency: 'EUR',
  description: '',
  lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
});

/** Brings a pipeline's retry times forward (a test does not wait out a Retry-After). */
export async function dueNow(db: Database, pipelineId: string) {
  await db.query(`UPDATE outbox SET next_attempt_at = now() WHERE pipeline_id = $1 AND status = 'pending'`, [
    pipelineId,
  ]);
}
