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
