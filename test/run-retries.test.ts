import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { addCounts, getRun } from '../src/sync/runs.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { invoiceCounts } from './helpers/ledger.ts';
import { queuedSync } from './helpers/queue.ts';
import { definePipeline } from './helpers/sync.ts';
import { waitFor } from './helpers/process.ts';

/*
 * A queued run whose source keeps failing is tried again with a growing delay and then fails,
 * saying why, also when it waits behind another run of its pipeline between attempts: each wait
 * offers it again by a new job, whose own retry count starts afresh, so until 2026-12-07 two runs
 * of an unreachable source took turns forever. Its failures are counted on the run, in a row: a
 * committed page starts the count again.
 */

const KEY = 'ixsim_retries_key';
const failures = async (t: TestApp, runId: string) =>
  (await t.db.query<{ failures: number }>(`SELECT failures FROM runs WHERE id = $1`, [runId])).rows[0]!.failures;

let t: TestApp;
let sim: IxpoleSimulator;
let pipeline: Pipeline;
let worker: Awaited<ReturnType<typeof queuedSync>> | null = null;

beforeAll(async () => {
  t = await createTestApp();
  sim = await startIxpoleSimulator({ seed: 5, instalments: 6, customers: 2, apiKey: KEY });
  await t.entity('RETRIES', 'EUR', { standardTaxRate: '0.21' });
  pipeline = await definePipeline(t.db, 'RETRIES', {
    name: 'ix-retries',
    source: { type: 'ixpole', baseUrl: sim.url, apiKey: KEY, backoffBaseMs: 5, backoffMaxMs: 10 },
    options: { pageSize: 4 },
  });
});
afterAll(async () => {
  await worker?.close();
  await sim?.close();
  await t?.close();
});

describe('a queued run whose source keeps failing', () => {
  it('fails after its retries, even when two runs of the pipeline take turns between attempts; then a run posts everything once', async () => {
    worker = await queuedSync(t.db, { runRetries: { limit: 3, baseSeconds: 1, maxSeconds: 1 } });
    sim.control.fail({ route: 'instalments', status: 503, times: Number.POSITIVE_INFINITY });
    const first = (await worker.sync.trigger(pipeline, 'manual', 'test'))!;
    const second = (await worker.sync.trigger(pipeline, 'manual', 'test'))!;
    await worker.sync.startWorker({ tickSeconds: 3600, concurrency: 2 });

    const [a, b] = await waitFor('both runs to give up', 90_000, async () => {
      const runs = await Promise.all([getRun(t.db, first), getRun(t.db, second)]);
      return runs.every((r) => r?.finishedAt) ? runs : undefined;
    });
    for (const run of [a!, b!]) {
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/^Gave up after 4 attempts in a row: iXpole: .*503/);
    }
    expect(await failures(t, first)).toBe(4);
    // Each run asked the source four times (each ask its client's own retries), and no more: none is offered again.
    const asked = sim.control.stats.requests.instalments;
    await new Promise((r) => setTimeout(r, 2500));
    expect(sim.control.stats.requests.instalments).toBe(asked);
    const jobs = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${worker.schema}.job WHERE data->>'runId' IN ($1, $2) AND state IN ('created', 'retry', 'active')`,
      [first, second],
    );
    expect(jobs.rows[0]!.n).toBe(0);

    sim.control.reset();
    const next = (await worker.sync.trigger(pipeline, 'manual', 'test'))!;
    const done = await waitFor('the next run to finish', 60_000, async () => {
      const run = await getRun(t.db, next);
      return run?.finishedAt ? run : undefined;
    });
    expect(done.status).toBe('succeeded');
    expect(await invoiceCounts(t.db, pipeline.entityId)).toEqual({ invoices: sim.total, references: sim.total });
  }, 120_000);

  it('counts failures in a row: a committed page starts the count again', async () => {
    const { rows } = await t.db.query<{ id: string }>(
      `UPDATE runs SET failures = 3 WHERE pipeline_id = $1 AND status = 'succeeded' RETURNING id`,
      [pipeline.id],
    );
    const runId = rows[0]!.id;
    await addCounts(t.db, runId, { writtenBack: 1 });
    expect(await failures(t, runId)).toBe(3);
    await addCounts(t.db, runId, { fetched: 0 }, 'page-2');
    expect(await failures(t, runId)).toBe(0);
  });
});
