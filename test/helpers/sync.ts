// Loads every connector into the registries, as the CLI and the server do.
import '../../src/connectors/all.ts';
import pino from 'pino';
import type { Database } from '../../src/db/database.ts';
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
 * Waits until every transaction open now has ended. The ledger source reads only below the
 * server's oldest open transaction (pg_snapshot_xmin), so on a PostgreSQL shared with other test
 * files what was just committed can wait a moment behind someone else's transaction; after this,
 * a run sees all of it. On PGlite nobody else is there and it returns at once.
 */
export async function ledgerSettled(db: Database, timeoutMs = 30_000): Promise<void> {
  const { rows } = await db.query<{ next: string }>(`SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS next`);
  const next = rows[0]!.next;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { rows: r } = await db.query<{ done: boolean }>(
      `SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 AS done`,
      [next],
    );
    if (r[0]!.done) return;
    if (Date.now() > until)
      throw new Error(`transactions open before xid ${next} still had not ended after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
