import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { executeRun } from '../src/sync/engine/run.ts';
import { createRun, getRun, settleWaitingRuns } from '../src/sync/runs.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { invoiceCounts } from './helpers/ledger.ts';
import { queuedSync } from './helpers/queue.ts';
import { definePipeline } from './helpers/sync.ts';
import { waitFor } from './helpers/process.ts';

/*
 * Cancelling a run (POST /v1/runs/{runId}/cancel). A queued run ends `cancelled` at once and the
 * job that later takes it does nothing; a running one is asked to stop and ends `cancelled` after
 * the page in hand, keeping what it posted, and the next run posts the rest exactly once. A finished
 * run, a live import and another entity's run are refused; `cancelled` is never written over.
 */

const KEY = 'ixsim_cancel_key';

let t: TestApp;
let sim: IxpoleSimulator;
let shop: Client;
let pipeline: Pipeline;
let worker: Awaited<ReturnType<typeof queuedSync>> | null = null;

beforeAll(async () => {
  t = await createTestApp();
  sim = await startIxpoleSimulator({ seed: 21, instalments: 40, customers: 5, apiKey: KEY });
  shop = await t.entity('CANCEL', 'EUR', { standardTaxRate: '0.21' });
  pipeline = await definePipeline(t.db, 'CANCEL', {
    name: 'ix-cancel',
    source: { type: 'ixpole', baseUrl: sim.url, apiKey: KEY, backoffBaseMs: 50, backoffMaxMs: 200 },
    options: { pageSize: 4 },
  });
});
afterAll(async () => {
  await worker?.close();
  await sim?.close();
  await t?.close();
});

const cancel = (c: Client, runId: string) => c.post(`/v1/runs/${runId}/cancel`, undefined);

describe('cancelling a run', () => {
  it('ends a queued run at once; the job that takes it later does nothing', async () => {
    worker = await queuedSync(t.db, { leaseSeconds: 600 });
    const runId = (await worker.sync.trigger(pipeline, 'manual', 'test'))!;
    const r = await cancel(shop, runId);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      runId,
      status: 'cancelled',
      cancelledBy: expect.stringMatching(/^credential:/),
      error: expect.stringMatching(/^Cancelled by credential:.* before it started$/),
    });
    expect(r.body.finishedAt).not.toBeNull();
    expect(r.body.cancelRequestedAt).not.toBeNull();

    await worker.sync.startWorker({ tickSeconds: 3600, concurrency: 1 });
    await waitFor('the job to be worked', 30_000, async () => {
      const jobs = await t.db.query<{ state: string }>(
        `SELECT state FROM ${worker!.schema}.job WHERE data->>'runId' = $1`,
        [runId],
      );
      return jobs.rows.every((j) => j.state === 'completed') && jobs.rows.length > 0 ? true : undefined;
    });
    const after = (await getRun(t.db, runId))!;
    expect(after.status).toBe('cancelled');
    expect(after.startedAt).toBeNull();
    expect(after.counts.fetched).toBe(0);
    expect(sim.control.stats.requests.instalments).toBe(0);
    expect((await invoiceCounts(t.db, pipeline.entityId)).invoices).toBe(0);
    const audit = await t.db.query<{ action: string; before: unknown; after: unknown }>(
      `SELECT action, before, after FROM audit_log WHERE object_type = 'run' AND object_id = $1 AND action LIKE 'run.cancel%'`,
      [runId],
    );
    expect(audit.rows).toEqual([
      { action: 'run.cancelled', before: { status: 'queued' }, after: { status: 'cancelled' } },
    ]);
  }, 60_000);

  it('asks a running run to stop: it ends after the page in hand, keeping what it posted; the next run posts the rest once', async () => {
    sim.control.delay({ ms: 250, route: 'instalments' });
    const runId = (await worker!.sync.trigger(pipeline, 'manual', 'test'))!;
    await waitFor('the run to be past its first page', 60_000, async () => {
      const run = await getRun(t.db, runId);
      return run!.counts.fetched >= 4 || undefined;
    });
    const asked = await cancel(shop, runId);
    expect(asked.status, JSON.stringify(asked.body)).toBe(202);
    expect(asked.body).toMatchObject({ status: 'running', finishedAt: null });
    expect(asked.body.cancelRequestedAt).not.toBeNull();
    // Asked again while it stops: the same answer; or, when the page in hand ended in between (the
    // run checks at each page, which can be at once), the run as it is now. No second request
    // recorded either way (the audit below).
    const twice = await cancel(shop, runId);
    expect([twice.status, twice.body.status]).toEqual(twice.status === 202 ? [202, 'running'] : [200, 'cancelled']);

    const done = await waitFor('the run to stop', 30_000, async () => {
      const run = await getRun(t.db, runId);
      return run?.finishedAt ? run : undefined;
    });
    sim.control.reset();
    expect(done.status).toBe('cancelled');
    expect(done.error).toMatch(
      /^Cancelled by credential:.*: what it posted is kept; the next run of the pipeline reads on$/,
    );
    expect(done.counts.fetched).toBeGreaterThanOrEqual(4);
    expect(done.counts.fetched).toBeLessThan(sim.total);
    // What it posted is there, once.
    const kept = await invoiceCounts(t.db, pipeline.entityId);
    expect(kept.invoices).toBe(done.counts.createdInvoices);
    expect(kept.references).toBe(kept.invoices);
    const audit = await t.db.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE object_type = 'run' AND object_id = $1 AND action LIKE 'run.cancel%'`,
      [runId],
    );
    expect(audit.rows.map((a) => a.action)).toEqual(['run.cancel-requested']);
    // Cancelled is final: cancelling again answers it as it is.
    const again = await cancel(shop, runId);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('cancelled');

    const next = (await worker!.sync.trigger(pipeline, 'manual', 'test'))!;
    const finished = await waitFor('the next run to finish', 60_000, async () => {
      const run = await getRun(t.db, next);
      return run?.finishedAt ? run : undefined;
    });
    expect(finished.status).toBe('succeeded');
    expect(await invoiceCounts(t.db, pipeline.entityId)).toEqual({ invoices: sim.total, references: sim.total });
  }, 120_000);

  it('refuses a finished run, a live exception retry, a run of another entity and an id that is not one', async () => {
    const { rows } = await t.db.query<{ id: string }>(
      `SELECT id FROM runs WHERE pipeline_id = $1 AND status = 'succeeded' LIMIT 1`,
      [pipeline.id],
    );
    const finished = await cancel(shop, rows[0]!.id);
    expect(finished.status).toBe(409);
    expect(finished.body.error).toMatchObject({
      code: 'RUN_ALREADY_FINISHED',
      details: [{ field: 'runId', message: 'succeeded' }],
    });

    // A retry works its one record in the request that asked for it: refused while it is alive.
    const retryRun = (await createRun(t.db, {
      pipelineId: pipeline.id,
      entityId: pipeline.entityId,
      trigger: 'retry',
      createdBy: 'test',
    }))!;
    await t.db.query(`UPDATE runs SET status = 'running', heartbeat_at = now() WHERE id = $1`, [retryRun]);
    const live = await cancel(shop, retryRun);
    expect(live.status).toBe(409);
    expect(live.body.error.code).toBe('RUN_NOT_CANCELLABLE');
    expect((await getRun(t.db, retryRun))!.status).toBe('running');
    // Its process gone (the heartbeat old, no lease): cancelled, so that it holds nothing up.
    await t.db.query(`UPDATE runs SET heartbeat_at = now() - interval '1 hour' WHERE id = $1`, [retryRun]);
    const dead = await cancel(shop, retryRun);
    expect(dead.status).toBe(200);
    expect(dead.body.status).toBe('cancelled');

    const other = await t.entity('CANCEL2', 'EUR');
    expect((await cancel(other, rows[0]!.id)).status).toBe(404);
    expect((await cancel(shop, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const bad = await cancel(shop, 'not-a-run');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('params.runId');
  }, 60_000);

  it('is never written over: a worker claiming the run, or its waiting documents settling, leave it cancelled', async () => {
    const runId = (await createRun(t.db, {
      pipelineId: pipeline.id,
      entityId: pipeline.entityId,
      trigger: 'manual',
      createdBy: 'test',
    }))!;
    expect((await cancel(shop, runId)).body.status).toBe('cancelled');
    // A job taken after the cancel (the worker read the run before it): nothing is fetched or posted.
    const listed = sim.control.stats.requests.instalments;
    await executeRun(worker!.sync.engine, runId);
    expect((await getRun(t.db, runId))!.status).toBe('cancelled');
    expect(sim.control.stats.requests.instalments).toBe(listed);
    // Documents it left waiting go through later: its count comes down, its status stays.
    await t.db.query(`UPDATE runs SET waiting = 2 WHERE id = $1`, [runId]);
    await settleWaitingRuns(t.db, pipeline.id, 'ledger', null);
    const settled = (await getRun(t.db, runId))!;
    expect(settled.status).toBe('cancelled');
    expect(settled.waiting).toBe(0);
    expect(settled.error).toMatch(/^Cancelled by /);
  }, 60_000);
});
