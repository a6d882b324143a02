import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { openDatabase } from '../src/db/open.ts';
import { onPostgres, seedPgliteFolder } from './helpers/db.ts';
import { invoiceCounts } from './helpers/ledger.ts';
import { createTestApp } from './helpers/app.ts';
import { queuedSync } from './helpers/queue.ts';
import { definePipeline } from './helpers/sync.ts';
import { getRun } from '../src/sync/runs.ts';
import { type Cli, freePort, seeded, startCli, waitFor } from './helpers/process.ts';

/*
 * Crash recovery with the real command: `ledgerlink serve` on a PGlite folder is killed with
 * SIGKILL at random moments of a run of an iXpole pipeline (a local simulator answering slowly),
 * and started again. The interrupted run must resume at once, without waiting for its lease (set
 * to a minute here, so that waiting for it would show), and finish within 30 seconds of the
 * restart, as must a run requested right after the restart; in the end every instalment is
 * invoiced exactly once and written back with that one invoice's number.
 */

const ADMIN = 'crash-admin-token-0123456789abcdef';
const KEY = 'ixsim_crash_recovery_key';
// Five kills at random moments, each of a run of its own pipeline; `npm run bench:crash` (ten in CI,
// fifty in the full proof) kills one long sync many more times and checks every invariant after.
const CYCLES = 5;
const INSTALMENTS = 24;

const sims: IxpoleSimulator[] = [];
const dirs: string[] = [];
let server: Cli | null = null;
afterAll(async () => {
  await server?.kill9();
  for (const s of sims) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(onPostgres)('kill -9 during a run, on PGlite', () => {
  it(`resumes the interrupted run at once after each of ${CYCLES} kills, and posts every document exactly once`, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
    console.log(`crash-recovery seed ${seed} (replay with CRASH_SEED=${seed})`);
    const random = seeded(seed);
    const dir = mkdtempSync(join(tmpdir(), 'll-crash-'));
    dirs.push(dir);
    for (let i = 0; i < CYCLES; i++) {
      const sim = await startIxpoleSimulator({
        seed: 100 + i,
        instalments: INSTALMENTS,
        customers: 8,
        products: 4,
        apiKey: KEY,
      });
      // Slow listings keep the run going long enough to be killed in the middle of it.
      sim.control.delay({ ms: 100, route: 'instalments' });
      sims.push(sim);
    }
    const config = {
      // An entity per pipeline: the simulators generate the same instalment codes.
      entities: sims.map((_, i) => ({
        code: `CRASH${i}`,
        name: `Club ${i}`,
        baseCurrency: 'EUR',
        standardTaxRate: '0.21',
      })),
      pipelines: sims.map((sim, i) => ({
        name: `ix-${i}`,
        entity: `CRASH${i}`,
        source: { type: 'ixpole', baseUrl: sim.url, apiKey: '${IXSIM_KEY}', backoffBaseMs: 50, backoffMaxMs: 200 },
        options: { pageSize: 6 },
      })),
    };
    writeFileSync(join(dir, 'ledgerlink.json'), JSON.stringify(config));
    // Migrated already: a first start's initdb is not what is tested here (test/log-secrets.test.ts starts on a fresh folder).
    await seedPgliteFolder(join(dir, 'data'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      LEDGERLINK_DATA_DIR: join(dir, 'data'),
      LEDGERLINK_CONFIG: join(dir, 'ledgerlink.json'),
      LEDGERLINK_ADMIN_TOKEN: ADMIN,
      LEDGERLINK_LEASE_SECONDS: '60',
      LEDGERLINK_TICK_SECONDS: '3600',
      IXSIM_KEY: KEY,
      PORT: String(port),
    };
    const api = async (method: string, path: string) => {
      const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${ADMIN}` } });
      return { status: res.status, body: await res.json() };
    };
    const start = async () => {
      const cli = startCli(['serve', '--no-demo'], env);
      await waitFor(
        () => `the server to answer\n${cli.output()}`,
        180_000,
        async () => {
          if (cli.child.exitCode !== null) throw new Error(`exited:\n${cli.output()}`);
          return (await fetch(`${base}/health`)).ok || undefined;
        },
      );
      return cli;
    };
    const run = async (id: string) => (await api('GET', `/v1/runs/${id}`)).body;

    server = await start();
    for (let i = 0; i < CYCLES; i++) {
      const started = await api('POST', `/v1/pipelines/ix-${i}/runs`);
      expect(started.status).toBe(202);
      const runId: string = started.body.runId;
      // A random moment: after a random number of records (0: as soon as it is queued), then a random pause.
      const after = Math.floor(random() * (INSTALMENTS - 4));
      const pause = Math.floor(random() * 150);
      const before = await waitFor(
        `run ${runId} to fetch ${after} records`,
        60_000,
        async () => {
          const r = await run(runId);
          return r.counts.fetched >= after || r.finishedAt ? r : undefined;
        },
        30,
      );
      await new Promise((r) => setTimeout(r, pause));
      await server.kill9();
      expect(before.finishedAt, 'killed in the middle of the run').toBeNull();
      server = await start();
      // Measured from when the new process answers: how long node takes to start is not recovery.
      const restarted = Date.now();
      // A run asked for right after the restart must not wait for anything the dead process held.
      const fresh = await api('POST', `/v1/pipelines/ix-${i}/runs`);
      expect(fresh.status).toBe(202);
      for (const id of [runId, fresh.body.runId as string]) {
        const done = await waitFor(
          `run ${id} to finish after the restart`,
          60_000,
          async () => {
            const r = await run(id);
            return r.finishedAt ? r : undefined;
          },
          100,
        );
        expect(done.status, JSON.stringify(done)).toBe('succeeded');
        expect(Date.parse(done.finishedAt) - restarted, `run ${id} finished too long after the restart`).toBeLessThan(
          30_000,
        );
      }
      console.log(
        `kill ${i + 1}: after ${before.counts.fetched} fetched (+${pause} ms), status ${before.status}; resumed and finished`,
      );
      // Every instalment invoiced, and written back with one number only.
      const sim = sims[i]!;
      for (let n = 0; n < sim.total; n++) {
        const code = sim.instalmentAt(n).InstalmentCode;
        expect(sim.state(code)?.invoiceNumber, code).toBeTruthy();
        const numbers = new Set(
          sim.writes
            .filter((w) => Array.isArray(w.body))
            .flatMap((w) => w.body as { InstalmentCode: string; InvoiceNumber?: string }[])
            .filter((b) => b.InstalmentCode === code && b.InvoiceNumber)
            .map((b) => b.InvoiceNumber),
        );
        expect([...numbers], code).toHaveLength(1);
      }
    }
    await server.stop();
    server = null;

    const db = await openDatabase({ dataDir: env.LEDGERLINK_DATA_DIR });
    try {
      // Per entity (one pipeline each): every instalment once, and no other invoice.
      const { rows } = await db.query<{ code: string; n: string; refs: string }>(
        `SELECT e.code, count(t.id) AS n, count(DISTINCT lower(t.external_reference)) AS refs
           FROM entities e LEFT JOIN transactions t ON t.entity_id = e.id AND t.type = 'SI'
          WHERE e.code LIKE 'CRASH%' GROUP BY e.code ORDER BY e.code`,
      );
      expect(rows).toEqual(
        sims.map((_, i) => ({ code: `CRASH${i}`, n: String(INSTALMENTS), refs: String(INSTALMENTS) })),
      );
      const map = await db.query<{ n: string }>(`SELECT count(*) AS n FROM sync_map WHERE kind = 'invoice'`);
      expect(map.rows[0]!.n).toBe(String(CYCLES * INSTALMENTS));
      const open = await db.query(`SELECT id, status FROM runs WHERE status IN ('queued', 'running')`);
      expect(open.rows).toEqual([]);
      const exceptions = await db.query(`SELECT reason_code, message FROM exceptions WHERE status = 'open'`);
      expect(exceptions.rows).toEqual([]);
    } finally {
      await db.close();
    }
    // Most of the time is node starting the command 6 times; on a loaded 2-core box that is a minute.
  }, 900_000);
});

describe.skipIf(!onPostgres)('kill -9 of one of two workers, on PostgreSQL', () => {
  it('the other worker takes the run over within seconds and finishes it, posting every document once', async () => {
    const t = await createTestApp();
    const q = await queuedSync(t.db);
    const workers: Cli[] = [];
    try {
      await t.entity('PGKILL', 'EUR', { standardTaxRate: '0.21' });
      const sim = await startIxpoleSimulator({ seed: 7, instalments: 36, customers: 8, products: 4, apiKey: KEY });
      sims.push(sim);
      sim.control.delay({ ms: 250, route: 'instalments' });
      const pipeline = await definePipeline(t.db, 'PGKILL', {
        name: 'ix-pg',
        source: { type: 'ixpole', baseUrl: sim.url, apiKey: KEY, backoffBaseMs: 50, backoffMaxMs: 200 },
        options: { pageSize: 6 },
      });
      const cwd = mkdtempSync(join(tmpdir(), 'll-workers-'));
      dirs.push(cwd);
      const env = {
        DATABASE_URL: process.env.DATABASE_URL!,
        LEDGERLINK_DB_SCHEMA: (t.db as { schema?: string }).schema!,
        LEDGERLINK_QUEUE_SCHEMA: q.schema,
        LEDGERLINK_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'), // the tests' SecretBox
        LEDGERLINK_LEASE_SECONDS: '6',
        LOG_LEVEL: 'info',
      };
      for (let n = 0; n < 2; n++) workers.push(startCli(['worker', '--tick', '3600'], env, cwd));
      for (const w of workers)
        await waitFor(
          () => `a worker to start\n${w.output()}`,
          180_000,
          async () => {
            if (w.child.exitCode !== null) throw new Error(`exited:\n${w.output()}`);
            return w.output().includes('worker started') || undefined;
          },
          200,
        );

      const runId = (await q.sync.trigger(pipeline, 'manual', 'test'))!;
      const holderPid = async () => {
        const { rows } = await t.db.query<{ holder: string }>(
          `SELECT holder FROM pipeline_leases WHERE pipeline_id = $1 AND expires_at > now()`,
          [pipeline.id],
        );
        return rows[0] ? Number(rows[0].holder.split(':')[1]) : undefined;
      };
      const fetched = async () => (await getRun(t.db, runId))!.counts.fetched;
      const first = await waitFor('a worker to be in the middle of the run', 120_000, async () =>
        (await fetched()) >= 6 ? holderPid() : undefined,
      );
      const victim = workers.find((w) => w.child.pid === first)!;
      const survivor = workers.find((w) => w !== victim)!;
      expect(victim, `lease holder pid ${first}`).toBeDefined();
      const before = await getRun(t.db, runId);
      expect(before!.status).toBe('running');
      await victim.kill9();
      const killed = Date.now();

      const taker = await waitFor('the other worker to take the run over', 120_000, async () => {
        const pid = await holderPid();
        return pid !== undefined && pid !== first ? pid : undefined;
      });
      const tookOver = Date.now() - killed;
      expect(taker).toBe(survivor.child.pid);
      const done = await waitFor(
        'the run to finish',
        120_000,
        async () => {
          const r = await getRun(t.db, runId);
          return r?.finishedAt ? r : undefined;
        },
        200,
      );
      expect(done.status, JSON.stringify(done)).toBe('succeeded');
      console.log(
        `PostgreSQL: worker ${first} killed after ${before!.counts.fetched} fetched; worker ${taker} took over after ${tookOver} ms (lease 6 s)`,
      );
      // Within seconds: the lease (6 s here) and a sweep (every 2 s), with room for a loaded machine.
      expect(tookOver).toBeLessThan(30_000);

      expect(await invoiceCounts(t.db, pipeline.entityId)).toEqual({ invoices: sim.total, references: sim.total });
      for (let n = 0; n < sim.total; n++) {
        const code = sim.instalmentAt(n).InstalmentCode;
        expect(sim.state(code)?.invoiceNumber, code).toBeTruthy();
      }
    } finally {
      for (const w of workers) await w.stop();
      await q.close();
      await t.close();
    }
  }, 600_000);
});
