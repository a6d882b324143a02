import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, silentLog } from './helpers/sync.ts';
import { queuedSync } from './helpers/queue.ts';
import { Liveness, leaseSecondsFromEnv } from '../src/sync/engine/liveness.ts';
import { concurrencyFromEnv } from '../src/sync/service.ts';
import { createRun, getRun } from '../src/sync/runs.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';

/*
 * The pieces of crash recovery, in one process: which runs the sweep takes over (and which it
 * must leave alone), and leases held per execution. The end-to-end kill -9 tests are in
 * crash-recovery.test.ts.
 */

let t: TestApp;
let q: Awaited<ReturnType<typeof queuedSync>>;
let pipeline: Pipeline;

beforeAll(async () => {
  t = await createTestApp();
  await t.entity('RECOV', 'EUR', { standardTaxRate: '0.21' });
  pipeline = await definePipeline(t.db, 'RECOV', {
    name: 'recov',
    source: { type: 'webhook' },
    webhookSecret: 'x'.repeat(24),
  });
  q = await queuedSync(t.db, { leaseSeconds: 5 });
}, 120_000);
afterAll(async () => {
  await q?.close();
  await t?.close();
});

/** A run as a worker killed at that moment leaves it: its job taken long ago, its heartbeat old. */
async function leftByDeadWorker(trigger: 'manual' | 'import', status: 'queued' | 'running') {
  const runId = (await createRun(t.db, {
    pipelineId: pipeline.id,
    entityId: pipeline.entityId,
    trigger,
    createdBy: 'test',
  }))!;
  await t.db.transaction((tx) => q.queue.enqueueRun(tx, runId));
  await t.db.query(
    `UPDATE ${q.schema}.job SET state = 'active', started_on = now() - interval '1 hour' WHERE data->>'runId' = $1`,
    [runId],
  );
  await t.db.query(`UPDATE runs SET status = $2, heartbeat_at = now() - interval '1 hour' WHERE id = $1`, [
    runId,
    status,
  ]);
  return runId;
}

async function jobStates(runId: string) {
  const { rows } = await t.db.query<{ state: string }>(
    `SELECT state FROM ${q.schema}.job WHERE data->>'runId' = $1 ORDER BY created_on`,
    [runId],
  );
  return rows.map((r) => r.state);
}

describe('the recovery sweep', () => {
  it('queues again the runs of a dead worker, fails its imports, and leaves live and waiting runs alone', async () => {
    const dead = await leftByDeadWorker('manual', 'running');
    const deadBeforeStart = await leftByDeadWorker('manual', 'queued');
    const deadImport = await leftByDeadWorker('import', 'running');
    // Alive: a heartbeat within the lease.
    const alive = await leftByDeadWorker('manual', 'running');
    await t.db.query(`UPDATE runs SET heartbeat_at = now() WHERE id = $1`, [alive]);
    // Waiting: its job has not been taken yet, whatever its age.
    const waiting = (await createRun(t.db, {
      pipelineId: pipeline.id,
      entityId: pipeline.entityId,
      trigger: 'manual',
      createdBy: 'test',
    }))!;
    await t.db.transaction((tx) => q.queue.enqueueRun(tx, waiting));
    await t.db.query(`UPDATE runs SET created_at = now() - interval '1 hour' WHERE id = $1`, [waiting]);

    const result = await q.sync.recover(false);
    expect(result.resumed.sort()).toEqual([dead, deadBeforeStart].sort());
    expect(result.failed).toEqual([deadImport]);
    for (const id of [dead, deadBeforeStart]) {
      expect((await getRun(t.db, id))!.status).toBe('queued');
      expect(await jobStates(id)).toEqual(['cancelled', 'created']);
    }
    const imp = (await getRun(t.db, deadImport))!;
    expect(imp.status).toBe('failed');
    expect(imp.error).toMatch(/Send them again/);
    expect(await jobStates(deadImport)).toEqual(['cancelled']);
    expect((await getRun(t.db, alive))!.status).toBe('running');
    expect(await jobStates(alive)).toEqual(['active']);
    expect(await jobStates(waiting)).toEqual(['created']);
    const { rows: audit } = await t.db.query<{ action: string; object_id: string }>(
      `SELECT action, object_id FROM audit_log WHERE actor = 'recovery' ORDER BY object_id`,
    );
    expect(audit.map((a) => `${a.action} ${a.object_id}`).sort()).toEqual(
      [`run.resumed ${dead}`, `run.resumed ${deadBeforeStart}`, `run.failed ${deadImport}`].sort(),
    );
    // A second sweep finds nothing more: the resumed runs have a waiting job now.
    expect(await q.sync.recover(false)).toEqual({ resumed: [], failed: [] });
    // At the start of the only process (PGlite), the live-looking one is taken over too, at once.
    const all = await q.sync.recover(true);
    expect(all.resumed).toEqual([alive]);
    await t.db.query(`UPDATE runs SET status = 'failed' WHERE pipeline_id = $1 AND status IN ('queued', 'running')`, [
      pipeline.id,
    ]);
  });
});

describe('pipeline leases', () => {
  it('are held per execution: another process cannot take a live one, takes a lapsed one, and the first learns it lost it', async () => {
    const here = new Liveness(t.db, silentLog, 5);
    const there = new Liveness(t.db, silentLog, 5);
    const run = (await createRun(t.db, {
      pipelineId: pipeline.id,
      entityId: pipeline.entityId,
      trigger: 'manual',
      createdBy: 'test',
    }))!;
    const mine = (await here.takeLease(pipeline.id, run))!;
    expect(mine).not.toBeNull();
    // The same run, in this process or another: refused while the lease lives.
    expect(await here.takeLease(pipeline.id, run)).toBeNull();
    expect(await there.takeLease(pipeline.id, run)).toBeNull();
    expect(await mine.renew()).toBe(true);
    // This process looked dead for longer than the lease.
    await t.db.query(`UPDATE pipeline_leases SET expires_at = now() - interval '1 second' WHERE pipeline_id = $1`, [
      pipeline.id,
    ]);
    const theirs = (await there.takeLease(pipeline.id, run))!;
    expect(theirs).not.toBeNull();
    expect(await mine.renew()).toBe(false);
    expect(mine.lost).toBe(true);
    // Releasing the lost lease does not free the pipeline from its new holder.
    await mine.release();
    const { rows } = await t.db.query(`SELECT 1 FROM pipeline_leases WHERE pipeline_id = $1`, [pipeline.id]);
    expect(rows).toHaveLength(1);
    await theirs.release();
    here.stop();
    there.stop();
  });
});

describe('settings', () => {
  it('refuses a lease or a concurrency that is not a whole number in range, and says which', () => {
    expect(leaseSecondsFromEnv({})).toBe(15);
    expect(leaseSecondsFromEnv({ LEDGERLINK_LEASE_SECONDS: '30' })).toBe(30);
    for (const bad of ['2', '0', '1.5', 'ten', '-5', '99999'])
      expect(() => leaseSecondsFromEnv({ LEDGERLINK_LEASE_SECONDS: bad })).toThrow(/LEDGERLINK_LEASE_SECONDS/);
    expect(concurrencyFromEnv({})).toBe(4);
    expect(concurrencyFromEnv({ LEDGERLINK_WORKER_CONCURRENCY: '1' })).toBe(1);
    for (const bad of ['0', '65', 'all', '2.5', ''])
      expect(() => concurrencyFromEnv({ LEDGERLINK_WORKER_CONCURRENCY: bad })).toThrow(/LEDGERLINK_WORKER_CONCURRENCY/);
  });
});
