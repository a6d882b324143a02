import { describe, expect, it } from 'vitest';
import { startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { getRun } from '../src/sync/runs.ts';
import { invoiceCounts } from './helpers/ledger.ts';
import { createTestApp } from './helpers/app.ts';
import { queuedSync } from './helpers/queue.ts';
import { definePipeline } from './helpers/sync.ts';
import { waitFor } from './helpers/process.ts';

/*
 * A worker that stops (SIGTERM, `SyncService.stop`) in the middle of a run stops at the next page
 * boundary and hands the run back to the queue: the run is queued with its cursor, its lease is
 * released and a new job waits for it, so another worker (or this process's next start, on
 * PGlite) goes on from the next page at once. The two-process form on PostgreSQL is in
 * workers.test.ts.
 */

const KEY = 'ixsim_stop_key';

describe('a stopping worker hands its run back at a page boundary', () => {
  it('leaves the run queued with its cursor, no lease and a new job; the next worker finishes it exactly once', async () => {
    const t = await createTestApp();
    const sim = await startIxpoleSimulator({ seed: 11, instalments: 40, customers: 4, apiKey: KEY });
    sim.control.delay({ ms: 200, route: 'instalments' });
    // A lease far longer than the test: nothing here may depend on a lease lapsing.
    let first = await queuedSync(t.db, { leaseSeconds: 600 });
    try {
      await t.entity('STOPPING', 'EUR', { standardTaxRate: '0.21' });
      const pipeline = await definePipeline(t.db, 'STOPPING', {
        name: 'ix-stopping',
        source: { type: 'ixpole', baseUrl: sim.url, apiKey: KEY, backoffBaseMs: 50, backoffMaxMs: 200 },
        options: { pageSize: 4 },
      });
      await first.sync.startWorker({ tickSeconds: 3600, concurrency: 1 });
      const runId = (await first.sync.trigger(pipeline, 'manual', 'test'))!;
      await waitFor('the run to be past its first page', 60_000, async () => {
        const run = await getRun(t.db, runId);
        return run!.counts.fetched >= 4 || undefined;
      });
      await first.sync.stop();

      const handedBack = (await getRun(t.db, runId))!;
      expect(handedBack.status).toBe('queued');
      expect(handedBack.finishedAt).toBeNull();
      expect(handedBack.counts.fetched).toBeGreaterThanOrEqual(4);
      expect(handedBack.counts.fetched).toBeLessThan(sim.total);
      expect(handedBack.cursor).not.toBeNull();
      const leases = await t.db.query(`SELECT 1 FROM pipeline_leases WHERE pipeline_id = $1`, [pipeline.id]);
      expect(leases.rows).toEqual([]);
      const jobs = await t.db.query<{ state: string }>(
        `SELECT state FROM ${first.schema}.job WHERE data->>'runId' = $1 ORDER BY created_on`,
        [runId],
      );
      expect(jobs.rows.map((r) => r.state)).toEqual(['completed', 'created']);
      const audit = await t.db.query<{ actor: string; before: unknown }>(
        `SELECT actor, before FROM audit_log WHERE action = 'run.handed-back' AND object_id = $1`,
        [runId],
      );
      expect(audit.rows).toEqual([{ actor: 'worker', before: { status: 'running' } }]);

      // The next worker: no recovery sweep needed (the lease is 600 s), the job is simply there.
      first = await queuedSync(t.db, { leaseSeconds: 600 });
      await first.sync.startWorker({ tickSeconds: 3600, concurrency: 1 });
      const done = await waitFor('the run to finish in the next worker', 60_000, async () => {
        const run = await getRun(t.db, runId);
        return run?.finishedAt ? run : undefined;
      });
      expect(done.status).toBe('succeeded');
      // It went on from the next page: no page read twice, no invoice posted twice.
      expect(done.counts.fetched).toBe(sim.total);
      expect(done.counts.createdInvoices).toBe(sim.total);
      expect(await invoiceCounts(t.db, pipeline.entityId)).toEqual({ invoices: sim.total, references: sim.total });
    } finally {
      await first.close();
      await sim.close();
      await t.close();
    }
  }, 120_000);
});
