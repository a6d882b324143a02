import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/connectors/all.ts';
import { demoWanted, pauseDemoPipeline, startDemo } from '../src/cli/demo.ts';
import type { Runtime } from '../src/cli/runtime.ts';
import type { Database } from '../src/db/database.ts';
import { findPipeline } from '../src/sync/pipelines.ts';
import { findEntityByCode, issueKeys, listKeys } from '../src/ledger/entities.ts';
import { listRuns } from '../src/sync/runs.ts';
import { reconcile } from '../src/sync/reconcile.ts';
import { authenticate, login } from '../src/ledger/sessions.ts';
import { createTestDatabase } from './helpers/db.ts';
import { syncService, testBox } from './helpers/sync.ts';

/*
 * `npm start` a second time on the same data works as the first: the sample system runs again,
 * the demo pipeline points at its new port and is told what was invoiced, keys are printed again,
 * and the printed login command is a complete shell command.
 */
let db: Database;
let lines: { msg: string; level: number; loginCommand?: string }[] = [];
let rt: Runtime;

beforeAll(async () => {
  db = await createTestDatabase();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  const log = pino({ level: 'info' }, sink);
  rt = { db, box: testBox, log, sync: syncService(db), configPath: null, close: async () => {} };
});
afterAll(async () => db?.close());

const keysIn = (msgs: typeof lines) => {
  const m = msgs.map((l) => /entityId (\S+) partnerKey (\S+) userKey (\S+)/.exec(l.msg)).find(Boolean);
  return m ? { entityId: m[1]!, partnerKey: m[2]!, userKey: m[3]! } : null;
};

describe('the demo', () => {
  it('starts only without a configuration and with no pipelines but its own', () => {
    expect(demoWanted(null, [])).toBe(true);
    expect(demoWanted(null, [{ entityCode: 'DEMO' }, { entityCode: 'DEMO' }])).toBe(true);
    expect(demoWanted(null, [{ entityCode: 'DEMO' }, { entityCode: 'CLUB' }])).toBe(false);
    expect(demoWanted('./ledgerlink.yaml', [])).toBe(false);
  });

  it('a second start works as the first', async () => {
    const stop1 = await startDemo(rt, 3000);
    const first = await findPipeline(db, testBox, 'demo');
    const keys1 = keysIn(lines)!;
    expect(keys1).not.toBeNull();
    await stop1();
    lines = [];

    const stop2 = await startDemo(rt, 3000);
    try {
      const second = (await findPipeline(db, testBox, 'demo'))!;
      expect(second.id).toBe(first!.id);
      expect(second.sourceConfig.baseUrl).not.toBe(first!.sourceConfig.baseUrl);
      // Fresh keys that log in, and the login command carries them, whole and pasteable.
      const keys2 = keysIn(lines)!;
      expect(keys2.partnerKey).not.toBe(keys1.partnerKey);
      const session = await login(db, keys2, 1200);
      expect((await authenticate(db, session.token)).entityId).toBe(keys2.entityId);
      // The pair the first start printed (the entity's first) no longer logs in: old logs hold no live keys.
      await expect(login(db, keys1, 1200)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
      expect(lines.some((l) => /the pairs earlier starts printed stop working: 1 revoked now/.test(l.msg))).toBe(true);
      const cmd = lines.find((l) => l.loginCommand)!;
      expect(cmd.msg).toBe(cmd.loginCommand);
      expect(cmd.msg).toBe(
        `curl -s localhost:3000/v1/auth/login -H 'Content-Type: application/json' -d '${JSON.stringify(keys2)}'`,
      );
      expect(lines.some((l) => /Pipelines of entity DEMO: "demo"/.test(l.msg))).toBe(true);
      expect(lines.some((l) => /delete the data folder/.test(l.msg))).toBe(true);
      // Both starts ran the pipeline against a live sample system; the second booked nothing twice.
      const runs = (await listRuns(db, { pipeline: 'demo', limit: 10, offset: 0 })).items;
      expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
      expect(runs[0]!.counts.created).toBe(0);
      // Documents are counted apart from the customers they brought along.
      const c = runs[1]!.counts;
      expect(c.createdInvoices).toBe(120);
      expect(c.createdCustomers).toBeGreaterThan(0);
      expect(c.created).toBe(
        c.createdInvoices + c.createdReceipts + c.createdCustomers + c.createdProducts + c.createdOther,
      );
      const r = await reconcile(db, second, '2000-01-01', new Date().toISOString().slice(0, 10), rt.log, rt.box);
      expect(r.mismatches).toEqual([]);
    } finally {
      await stop2();
    }
  }, 300_000);

  it("revokes only the demo's own earlier key pairs, never one a person issued", async () => {
    const entity = (await findEntityByCode(db, 'DEMO'))!;
    const mine = await issueKeys(db, entity.id, 'demo start'); // a person's pair, whatever its label
    lines = [];
    const stop = await startDemo(rt, 3000);
    await stop();
    const now = keysIn(lines)!;
    const active = (await listKeys(db, entity.id)).filter((k) => k.revokedAt === null).map((k) => k.keyId);
    expect(active).toHaveLength(2);
    expect(active).toContain(mine.credentialId);
    await login(db, { entityId: entity.id, partnerKey: mine.partnerKey, userKey: mine.userKey }, 1200);
    await login(db, now, 1200);
  }, 300_000);

  it('a start without the demo pauses its pipeline, saying why and what to do; the next demo start resumes it', async () => {
    lines = [];
    await pauseDemoPipeline(rt, 'the configuration ./ledgerlink.yaml is in use');
    expect((await findPipeline(db, testBox, 'demo'))!.enabled).toBe(false);
    const said = lines.filter((l) => /demo pipeline/.test(l.msg));
    expect(said).toHaveLength(1);
    expect(said[0]!.level).toBe(40);
    expect(said[0]!.msg).toContain('is now paused (disabled), since this start has no demo (the configuration');
    expect(said[0]!.msg).toContain('`ledgerlink pipeline delete demo --entity DEMO`');
    // The scheduler passes it by: no run against a sample system that is not there.
    const before = (await listRuns(db, { pipeline: 'demo', limit: 100, offset: 0 })).total;
    await rt.sync.tick(new Date());
    expect((await listRuns(db, { pipeline: 'demo', limit: 100, offset: 0 })).total).toBe(before);
    // A second such start says it once again, quietly, and changes nothing.
    lines = [];
    await pauseDemoPipeline(rt, 'started with --no-demo');
    expect(lines.map((l) => [l.level, /is still paused/.test(l.msg)])).toEqual([[30, true]]);

    lines = [];
    const stop = await startDemo(rt, 3000, 'memory');
    try {
      expect((await findPipeline(db, testBox, 'demo'))!.enabled).toBe(true);
      // Nothing is kept in memory: no talk of data folders or of commands run after the server stops.
      const last = lines.at(-1)!.msg;
      expect(last).toContain('LEDGERLINK_DATA_DIR=memory keeps nothing');
      expect(last).not.toContain('delete the data folder');
      expect(last).not.toContain('stop the server and run');
    } finally {
      await stop();
    }
  }, 300_000);
});
