import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import '../src/connectors/all.ts';
import { startDemo } from '../src/cli/demo.ts';
import type { Runtime } from '../src/cli/runtime.ts';
import type { Database } from '../src/db/database.ts';
import { createEntity } from '../src/ledger/entities.ts';
import { parkRecords } from '../src/sync/exceptions.ts';
import { allowOutboundHost } from '../src/sync/http.ts';
import { openSecretBox } from '../src/sync/keys.ts';
import { PipelineDefinition, savePipeline } from '../src/sync/pipelines.ts';
import type { SecretBox } from '../src/sync/secrets.ts';
import { SyncService } from '../src/sync/service.ts';
import { cliPlace, type CliPlace } from './helpers/cli.ts';

/*
 * The command line on what the demo leaves behind, as a newcomer runs it after stopping the server:
 * `reconcile demo` works as the README and the demo's log say, `sync run demo` says where the demo
 * runs, the engine's stack traces stay out of what a command prints, a missing configuration file
 * and an import row's retry are said with what to do.
 */
let place: CliPlace;
let exceptionId = 0;

/** The database as the command finds it, with the key the command is given (helpers/cli.ts). */
async function withRuntime<T>(fn: (rt: Runtime, db: Database, box: SecretBox) => Promise<T>): Promise<T> {
  const db = await place.open();
  try {
    const config = process.env.DATABASE_URL
      ? { databaseUrl: process.env.DATABASE_URL, schema: place.env.LEDGERLINK_DB_SCHEMA }
      : { dataDir: join(place.dir, 'data') };
    const { box } = await openSecretBox(db, config, place.env);
    const log = pino({ level: 'silent' });
    const sync = new SyncService({ db, box, log });
    const rt: Runtime = { db, box, log, sync, configPath: null, close: async () => sync.stop() };
    try {
      return await fn(rt, db, box);
    } finally {
      await sync.stop();
    }
  } finally {
    await db.close();
  }
}

beforeAll(async () => {
  place = await cliPlace();
  await withRuntime(async (rt, db, box) => {
    // A demo start that synced the sample system once, then the server stopped.
    const stop = await startDemo(rt, 3000);
    await stop();
    // A user's pipeline whose source this process may call over http, but no other process may.
    const shop = await db.transaction((tx) => createEntity(tx, { code: 'SHOP', name: 'Shop', baseCurrency: 'EUR' }));
    const disallow = allowOutboundHost('127.0.0.1', 9);
    try {
      const def = PipelineDefinition.parse({
        name: 'local',
        entity: 'SHOP',
        source: { type: 'ixpole', baseUrl: 'http://127.0.0.1:9/', apiKey: 'k' },
      });
      await db.transaction((tx) => savePipeline(tx, box, shop.entity.id, def, 'api'));
    } finally {
      disallow();
    }
    // A file pipeline with a row of an import that could not be read.
    const files = PipelineDefinition.parse({ name: 'files', entity: 'SHOP', source: { type: 'file' } });
    const { pipeline } = await db.transaction((tx) => savePipeline(tx, box, shop.entity.id, files, 'api'));
    await parkRecords(db, pipeline.id, shop.entity.id, null, [
      {
        kind: 'invoice',
        sourceId: 'INV-9',
        reasonCode: 'IMPORT_ROW_INVALID',
        message: 'net_amount: "12,50" uses a decimal comma',
        payload: {},
      },
    ]);
    const { rows } = await db.query<{ id: string }>(`SELECT id FROM exceptions WHERE source_id = 'INV-9'`);
    exceptionId = Number(rows[0]!.id);
  });
}, 600_000);
afterAll(async () => place?.close());

/** A line a logger wrote (pino's JSON), as opposed to what the command says to people. */
const LOG_LINE = /^\{"level":/m;

describe('the demo, from the command line once the server is stopped', () => {
  it('reconcile demo works as the README says: the source is never called, so its address is not in the way', async () => {
    const r = await place.run(['reconcile', 'demo']);
    expect(r.stderr).not.toContain('PIPELINE_URL_REFUSED');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^demo from \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d: \d+ documents match, 0 mismatches/);
  }, 120_000);

  it("reconciling a user pipeline never checks its source's address (it never calls it); running it still does", async () => {
    const r = await place.run(['reconcile', 'local']);
    expect(r.stderr).not.toContain('PIPELINE_URL_REFUSED');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^local from \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d: 0 documents match, 0 mismatches/);
    const run = await place.run(['sync', 'run', 'local']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: PIPELINE_URL_REFUSED: source.baseUrl');
  }, 120_000);

  it('sync run demo says that the sample system runs in the server, without a log line or a stack', async () => {
    const r = await place.run(['sync', 'run', 'demo']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: DEMO_RUNS_IN_SERVER: the demo pipeline reads the built-in sample iXpole system');
    expect(r.stderr).toContain('Start the server');
    expect(r.stderr).not.toMatch(LOG_LINE);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 120_000);
});

describe('what a command prints is for people', () => {
  it('sync run refuses a source address it may not call before any run starts, once, in words, without a log line or a stack', async () => {
    const runs = async () => {
      const db = await place.open();
      try {
        return (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM runs`)).rows[0]!.n;
      } finally {
        await db.close();
      }
    };
    const before = await runs();
    const r = await place.run(['sync', 'run', 'local']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: PIPELINE_URL_REFUSED: source.baseUrl: must be an https URL');
    expect(r.stderr.match(/PIPELINE_URL_REFUSED/g)).toHaveLength(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(LOG_LINE);
    expect(r.stderr).not.toContain('"stack"');
    expect(await runs()).toBe(before);
  }, 120_000);

  it('serve with a configuration file that cannot be read says so, and what to do', async () => {
    const named = await place.run(['serve', '--config', 'nope.yaml']);
    expect(named.code).toBe(1);
    expect(named.stderr).toMatch(/^error: cannot read nope\.yaml: ENOENT: no such file or directory/);
    expect(named.stderr).toContain('Name a file that exists with --config');
    const env = await place.run(['worker'], { LEDGERLINK_CONFIG: 'nope.yaml' });
    expect(env.code).toBe(1);
    expect(env.stderr).toMatch(/^error: cannot read nope\.yaml: ENOENT/);
    expect(env.stderr).toContain('unset LEDGERLINK_CONFIG');
    // A file that can be read but is not valid is refused as `error: CODE: …`, never a bare message.
    writeFileSync(join(place.dir, 'bad.yaml'), 'pipelines: 3\n');
    const bad = await place.run(['serve', '--config', 'bad.yaml']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: VALIDATION_ERROR: Invalid configuration:/);
  }, 180_000);

  it('exceptions retry of an import row says to import the corrected file again', async () => {
    const r = await place.run(['exceptions', 'retry', String(exceptionId)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Exception ${exceptionId} is a row of an imported file that could not be read`);
    expect(r.stderr).toContain('import the file again into pipeline files');
    expect(r.stderr).toContain('`ledgerlink import FILE --pipeline files`');
    expect(r.stderr).not.toContain('run the pipeline again');
  }, 120_000);
});
