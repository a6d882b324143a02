import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { onPostgres } from './helpers/db.ts';
import { invoiceCounts } from './helpers/ledger.ts';
import { createTestApp } from './helpers/app.ts';
import { queuedSync } from './helpers/queue.ts';
import { definePipeline } from './helpers/sync.ts';
import { getRun } from '../src/sync/runs.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import type { Database } from '../src/db/database.ts';
import { type Cli, startCli, waitFor } from './helpers/process.ts';

/*
 * Scale-out (docs/deploy.md): two real `ledgerlink worker` processes share one PostgreSQL queue.
 * Four pipelines' runs are queued at once; one worker is killed with SIGKILL in the middle of its
 * runs. Every run still finishes, every document is in the ledger exactly once (none twice, none
 * lost), and the survivor takes the dead worker's runs over within seconds (its lease, 6 s here).
 * PGlite has one process per data folder, so this needs DATABASE_URL=postgres://…
 */

const KEY = 'ixsim_workers_key';

/** `n` real `ledgerlink worker` processes, resolved once each has said it started. */
async function startWorkers(n: number, env: Record<string, string>, cwd: string): Promise<Cli[]> {
  const workers: Cli[] = [];
  for (let i = 0; i < n; i++) workers.push(startCli(['worker', '--tick', '3600', '--concurrency', '2'], env, cwd));
  for (const w of workers)
    await waitFor(
      () => `a worker to start\n${w.output()}`,
      120_000,
      async () => {
        if (w.child.exitCode !== null) throw new Error(`exited:\n${w.output()}`);
        return w.output().includes('worker started') || undefined;
      },
      200,
    );
  return workers;
}

/** Pipeline id → the pid of the worker process whose lease on it has not lapsed. */
async function leaseHolders(db: Database): Promise<Map<string, number>> {
  const { rows } = await db.query<{ pipeline_id: string; holder: string }>(
    `SELECT pipeline_id, holder FROM pipeline_leases WHERE expires_at > now()`,
  );
  return new Map(rows.map((r) => [r.pipeline_id, Number(r.holder.split(':')[1])]));
}
const PIPELINES = 4;
const INSTALMENTS = 20;
const LEASE_SECONDS = 6;

describe.skipIf(!onPostgres)(
  'two ledgerlink workers on one PostgreSQL queue (needs DATABASE_URL=postgres://…; skipped on PGlite)',
  () => {
    it('work four pipelines; kill -9 of one hands its runs to the other within seconds; every document posted once', async () => {
      const t = await createTestApp();
      const q = await queuedSync(t.db);
      const sims: IxpoleSimulator[] = [];
      const workers: Cli[] = [];
      const cwd = mkdtempSync(join(tmpdir(), 'll-two-workers-'));
      try {
        const pipelines: Pipeline[] = [];
        for (let i = 0; i < PIPELINES; i++) {
          await t.entity(`WORKERS${i}`, 'EUR', { standardTaxRate: '0.21' });
          const sim = await startIxpoleSimulator({
            seed: 100 + i,
            instalments: INSTALMENTS,
            customers: 6,
            apiKey: KEY,
          });
          // Slow pages keep the runs going long enough to kill a worker in the middle of them.
          sim.control.delay({ ms: 300, route: 'instalments' });
          sims.push(sim);
          pipelines.push(
            await definePipeline(t.db, `WORKERS${i}`, {
              name: `ix-${i}`,
              source: { type: 'ixpole', baseUrl: sim.url, apiKey: KEY, backoffBaseMs: 50, backoffMaxMs: 200 },
              options: { pageSize: 4 },
            }),
          );
        }
        const env = {
          DATABASE_URL: process.env.DATABASE_URL!,
          LEDGERLINK_DB_SCHEMA: (t.db as { schema?: string }).schema!,
          LEDGERLINK_QUEUE_SCHEMA: q.schema,
          LEDGERLINK_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'), // the tests' SecretBox
          LEDGERLINK_LEASE_SECONDS: String(LEASE_SECONDS),
          LOG_LEVEL: 'info',
        };
        workers.push(...(await startWorkers(2, env, cwd)));

        const runIds: string[] = [];
        for (const p of pipelines) runIds.push((await q.sync.trigger(p, 'manual', 'test'))!);
        const holders = () => leaseHolders(t.db);
        // A worker holding runs that have fetched a page and are not finished: the victim.
        const victimPid = await waitFor('a worker to be in the middle of its runs', 60_000, async () => {
          const held = await holders();
          for (const [i, p] of pipelines.entries()) {
            const run = await getRun(t.db, runIds[i]!);
            if (held.has(p.id) && run!.counts.fetched >= 4 && !run!.finishedAt) return held.get(p.id);
          }
          return undefined;
        });
        const victim = workers.find((w) => w.child.pid === victimPid)!;
        const survivor = workers.find((w) => w !== victim)!;
        expect(victim, `lease holder pid ${victimPid}`).toBeDefined();
        const orphaned = [...(await holders())].filter(([, pid]) => pid === victimPid).map(([id]) => id);
        await victim.kill9();
        const killed = Date.now();

        // Each run the victim held is taken over by the survivor (or had just finished).
        const takeovers: number[] = [];
        for (const pipelineId of orphaned) {
          const i = pipelines.findIndex((p) => p.id === pipelineId);
          await waitFor(`the survivor to take over ${pipelines[i]!.name}`, 45_000, async () => {
            const pid = (await holders()).get(pipelineId);
            if (pid === survivor.child.pid || (await getRun(t.db, runIds[i]!))!.finishedAt) return true;
            return undefined;
          });
          takeovers.push(Date.now() - killed);
        }
        const finished = await waitFor(
          'every run to finish',
          90_000,
          async () => {
            const runs = await Promise.all(runIds.map((id) => getRun(t.db, id)));
            return runs.every((r) => r?.finishedAt) ? runs : undefined;
          },
          250,
        );
        expect(finished.map((r) => r!.status)).toEqual(runIds.map(() => 'succeeded'));
        const tookOver = Math.max(0, ...takeovers);
        console.log(
          `two workers: ${orphaned.length} run(s) of the killed worker taken over in ${tookOver} ms (lease ${LEASE_SECONDS} s)`,
        );
        // Within seconds: a lease and a sweep (a third of it), with room for a loaded machine.
        expect(tookOver).toBeLessThan(30_000);

        // Exactly once: per entity, as many invoices as instalments, each reference once, each mapped once.
        for (const [i, p] of pipelines.entries()) {
          expect(await invoiceCounts(t.db, p.entityId), p.name).toEqual({
            invoices: sims[i]!.total,
            references: sims[i]!.total,
          });
          const map = await t.db.query<{ n: string }>(
            `SELECT count(*) AS n FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice'`,
            [p.id],
          );
          expect(map.rows[0]!.n, p.name).toBe(String(sims[i]!.total));
          for (let n = 0; n < sims[i]!.total; n++) {
            const code = sims[i]!.instalmentAt(n).InstalmentCode;
            expect(sims[i]!.state(code)?.invoiceNumber, `${p.name} ${code}`).toBeTruthy();
          }
        }
        const open = await t.db.query(`SELECT id FROM runs WHERE status IN ('queued', 'running')`);
        expect(open.rows).toEqual([]);
        const exceptions = await t.db.query(`SELECT reason_code FROM exceptions WHERE status = 'open'`);
        expect(exceptions.rows).toEqual([]);
      } finally {
        for (const w of workers) await w.stop();
        for (const s of sims) await s.close();
        await q.close();
        await t.close();
        rmSync(cwd, { recursive: true, force: true });
      }
    }, 240_000);

    it('SIGTERM hands a run in hand to the other worker at its next page, without waiting out the lease', async () => {
      const t = await createTestApp();
      const q = await queuedSync(t.db);
      const cwd = mkdtempSync(join(tmpdir(), 'll-handoff-'));
      // 20 pages of 0.6 s: longer than the 10 s a stopping worker waits, so it cannot just finish the run.
      const sim = await startIxpoleSimulator({ seed: 7, instalments: 80, customers: 5, apiKey: KEY });
      sim.control.delay({ ms: 600, route: 'instalments' });
      let workers: Cli[] = [];
      try {
        await t.entity('HANDOFF', 'EUR', { standardTaxRate: '0.21' });
        const pipeline = await definePipeline(t.db, 'HANDOFF', {
          name: 'ix-handoff',
          source: { type: 'ixpole', baseUrl: sim.url, apiKey: KEY, backoffBaseMs: 50, backoffMaxMs: 200 },
          options: { pageSize: 4 },
        });
        // A long lease: a takeover within seconds can only be the hand-off, not the lease lapsing.
        const lease = 60;
        workers = await startWorkers(
          2,
          {
            DATABASE_URL: process.env.DATABASE_URL!,
            LEDGERLINK_DB_SCHEMA: (t.db as { schema?: string }).schema!,
            LEDGERLINK_QUEUE_SCHEMA: q.schema,
            LEDGERLINK_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
            LEDGERLINK_LEASE_SECONDS: String(lease),
            LOG_LEVEL: 'info',
          },
          cwd,
        );
        const runId = (await q.sync.trigger(pipeline, 'manual', 'test'))!;
        const victimPid = await waitFor('a worker to be in the middle of the run', 60_000, async () => {
          const run = await getRun(t.db, runId);
          const pid = (await leaseHolders(t.db)).get(pipeline.id);
          return pid && run!.counts.fetched >= 4 && !run!.finishedAt ? pid : undefined;
        });
        const victim = workers.find((w) => w.child.pid === victimPid)!;
        const survivor = workers.find((w) => w !== victim)!;
        const stopped = Date.now();
        await victim.stop();
        const exitedMs = Date.now() - stopped;
        await waitFor(`the other worker to go on with the run\n${survivor.output()}`, 30_000, async () => {
          return (await leaseHolders(t.db)).get(pipeline.id) === survivor.child.pid || undefined;
        });
        const tookOverMs = Date.now() - stopped;
        const run = await waitFor('the run to finish', 60_000, async () => {
          const r = await getRun(t.db, runId);
          return r?.finishedAt ? r : undefined;
        });
        console.log(
          `SIGTERM hand-off: worker exited in ${exitedMs} ms, run going on elsewhere after ${tookOverMs} ms (lease ${lease} s)`,
        );
        expect(exitedMs).toBeLessThan(10_000);
        expect(victim.output()).toContain('run handed back to the queue');
        expect(tookOverMs).toBeLessThan(15_000);
        expect(run.status).toBe('succeeded');
        // Resumed from the page after the last one committed: no page read twice, nothing posted twice.
        expect(run.counts.fetched).toBe(sim.total);
        expect(run.counts.createdInvoices).toBe(sim.total);
        expect(await invoiceCounts(t.db, pipeline.entityId)).toEqual({ invoices: sim.total, references: sim.total });
      } finally {
        for (const w of workers) await w.stop();
        await sim.close();
        await q.close();
        await t.close();
        rmSync(cwd, { recursive: true, force: true });
      }
    }, 180_000);
  },
);
