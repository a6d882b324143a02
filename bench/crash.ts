/**
 * Crash proof (issue 14): `ledgerlink serve` is killed with SIGKILL at random moments of one long
 * sync and started again each time; afterwards every document is in the ledger exactly once, every
 * instalment is written back with its one invoice number, and every invariant of the ledger holds
 * (src/ledger/verify.ts). Each restart's resumption is timed: from the moment the new process
 * answers to the moment the interrupted run commits its next page.
 *
 *   npm run bench:crash                          50 kills during a 10,000-instalment sync, on PGlite
 *   npm run bench:crash -- --quick               10 kills during a 2,000-instalment sync
 *   npm run bench:crash -- --trials N --instalments N --seed S
 *   npm run bench:crash -- --postgres            on PostgreSQL (BENCH_DATABASE_URL, a fresh schema)
 *
 * The moments are random but replayable (`--seed`). About one kill in five lands while the new
 * process is still recovering (before its first page), so crashes during recovery are covered too.
 * The rest land at a random point of the work, spread so that every kill falls inside the sync.
 * Writes bench/results/crash.json; exits 1 when anything is duplicated, missing or out of balance.
 * Method and figures: docs/performance.md, "Crash proof".
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { openDatabase } from '../src/db/open.ts';
import type { Database } from '../src/db/database.ts';
import { findEntityByCode } from '../src/ledger/entities.ts';
import { type LedgerVerification, verifyLedger } from '../src/ledger/verify.ts';
import { DEFAULT_POSTGRES_URL, postgresUnavailable } from './harness.ts';
import { type Distribution, distribution, progress, round, serverNodeFlags } from './stats.ts';
import { seeded } from '../src/sync/seeded.ts';
import { freePort } from '../test/helpers/process.ts';
import { benchArgs, positiveInt } from './cli-args.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
export const ADMIN = 'crash-bench-admin-token-0123456789abcdef';
export const KEY = 'ixsim_crash_bench_key';
const ENTITY = 'CRASH';
export const PIPELINE = 'crash';

export interface CrashOptions {
  trials: number;
  instalments: number;
  seed: number;
  /** PostgreSQL URL; PGlite in a temporary folder when absent. */
  postgres?: string | undefined;
  pageSize: number;
}

export interface CrashResult {
  database: 'pglite' | 'postgres';
  instalments: number;
  seed: number;
  kills: { total: number; duringRecovery: number; duringWork: number };
  /** Milliseconds from the restarted process answering to the interrupted run's next committed page. */
  resume: Distribution | null;
  /** Milliseconds for the new process to answer after a kill (node start, database open, migrations checked). */
  restart: Distribution;
  seconds: number;
  invoices: number;
  duplicates: number;
  missing: number;
  writeBackWithOneNumber: number;
  openExceptions: number;
  unfinishedRuns: number;
  verification: LedgerVerification;
  ok: boolean;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Server {
  child: ChildProcess;
  output: () => string;
  exited: Promise<unknown>;
}

/** Starts `ledgerlink serve` with `env` and waits until `base`/health answers: the process, and milliseconds to answer. */
export async function startServe(env: Record<string, string>, base: string): Promise<[Server, number]> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...serverNodeFlags(root), 'bin/ledgerlink.js', 'serve', '--no-demo'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (b: Buffer) => (out = (out + b.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const s = { child, output: () => out, exited: new Promise((r) => child.once('exit', r)) };
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}):\n${out}`);
    if (performance.now() - t0 > 180_000) throw new Error(`the server did not answer within 180 s:\n${out}`);
    try {
      if ((await fetch(`${base}/health`)).ok) return [s, performance.now() - t0];
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
}

/** The bench's configuration: its entity, and one pipeline from the iXpole simulator at `simUrl`. */
export function benchConfig(simUrl: string, pageSize: number): string {
  return JSON.stringify({
    entities: [{ code: ENTITY, name: 'Crash Club', baseCurrency: 'EUR', standardTaxRate: '0.21' }],
    pipelines: [
      {
        name: PIPELINE,
        entity: ENTITY,
        source: { type: 'ixpole', baseUrl: simUrl, apiKey: '${IXSIM_KEY}', backoffBaseMs: 50, backoffMaxMs: 500 },
        options: { pageSize },
      },
    ],
  });
}

export async function runCrash(o: CrashOptions): Promise<CrashResult> {
  const random = seeded(o.seed);
  const dir = await mkdtemp(join(tmpdir(), 'll-crash-bench-'));
  const schema = `bench_crash_${Date.now().toString(36)}`;
  let sim: IxpoleSimulator | undefined;
  let server: Server | undefined;
  try {
    sim = await startIxpoleSimulator({
      seed: o.seed,
      instalments: o.instalments,
      customers: Math.max(20, Math.round(o.instalments / 50)),
      products: 12,
      apiKey: KEY,
      recordPdf: false,
    });
    const simUrl = new URL(sim.url);
    await writeFile(join(dir, 'ledgerlink.json'), benchConfig(sim.url, o.pageSize));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env: Record<string, string> = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'DATABASE_URL') as [string, string][]),
      LEDGERLINK_CONFIG: join(dir, 'ledgerlink.json'),
      LEDGERLINK_ADMIN_TOKEN: ADMIN,
      LEDGERLINK_TICK_SECONDS: '3600',
      LEDGERLINK_OUTBOUND_ALLOW: `${simUrl.hostname}:${simUrl.port}`,
      LEDGERLINK_ENCRYPTION_KEY: process.env.LEDGERLINK_ENCRYPTION_KEY ?? Buffer.alloc(32, 7).toString('base64'),
      IXSIM_KEY: KEY,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      ...(o.postgres
        ? // Another process cannot tell a dead worker from a slow one but by its lease: keep it short.
          {
            DATABASE_URL: o.postgres,
            LEDGERLINK_DB_SCHEMA: schema,
            LEDGERLINK_QUEUE_SCHEMA: `${schema}_queue`,
            LEDGERLINK_LEASE_SECONDS: '5',
          }
        : { LEDGERLINK_DATA_DIR: join(dir, 'data') }),
    };
    if (o.postgres) {
      const admin = await openDatabase({ databaseUrl: o.postgres });
      await admin.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await admin.close();
    }
    const api = async (method: string, path: string) => {
      const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${ADMIN}` } });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };
    const start = () => startServe(env, base);
    const kill9 = async (s: Server) => {
      s.child.kill('SIGKILL');
      await s.exited;
    };
    const runState = async (id: string) => (await api('GET', `/v1/runs/${id}`)).body;

    const t0 = performance.now();
    [server] = await start();
    const started = await api('POST', `/v1/pipelines/${PIPELINE}/runs`);
    if (started.status !== 202) throw new Error(`could not start the run: ${JSON.stringify(started.body)}`);
    const runId = String(started.body.runId);
    const resume: number[] = [];
    const restart: number[] = [];
    let duringRecovery = 0;
    let kills = 0;
    // Instalments written back per millisecond of work, measured as it goes, to spread the kills over
    // the whole sync (the simulator stops listing an instalment once its invoice number is back).
    const done = () => sim!.total - sim!.listed();
    let worked = { ms: 0, docs: 0 };
    for (let k = 0; k < o.trials; k++) {
      const before = await runState(runId);
      if (before.finishedAt) {
        progress(`the sync finished after ${kills} kills, before the ${o.trials} asked for: raise --instalments`);
        break;
      }
      const done0 = done();
      const recovering = k > 0 && random() < 0.2;
      let pause: number;
      if (recovering) {
        // Kill it again before its first page: a crash during recovery.
        pause = Math.floor(random() * 300);
        duringRecovery++;
      } else {
        const perMs = worked.docs > 0 ? worked.docs / worked.ms : 0.5;
        // Half the even share of what is left: write-back lags the posting, and every kill loses a page.
        const mean = (0.5 * (o.instalments - done0)) / perMs / (o.trials - k + 1);
        pause = Math.floor(random() * 2 * Math.min(mean, 60_000));
      }
      const w0 = performance.now();
      await sleep(pause);
      const at = await runState(runId);
      if (at.finishedAt) {
        progress(`the sync finished after ${kills} kills, before the ${o.trials} asked for: raise --instalments`);
        break;
      }
      await kill9(server);
      kills++;
      if (!recovering)
        worked = {
          ms: worked.ms + (performance.now() - w0),
          docs: worked.docs + (done() - done0),
        };
      const [next, answered] = await start();
      server = next;
      restart.push(answered);
      const from = performance.now();
      const committed = Number((await runState(runId)).counts.fetched);
      // Resumed: the interrupted run has committed a page since the restart (or has finished).
      for (;;) {
        const r = await runState(runId);
        if (r.finishedAt || Number(r.counts.fetched) > committed) {
          resume.push(performance.now() - from);
          break;
        }
        if (performance.now() - from > 120_000)
          throw new Error(`run ${runId} did not resume within 120 s:\n${server.output()}`);
        await sleep(25);
      }
      progress(
        `kill ${kills}/${o.trials}${recovering ? ' (during recovery)' : ''}: ${done()}/${o.instalments} written back; answered in ${Math.round(answered)} ms, resumed in ${Math.round(resume.at(-1)!)} ms`,
      );
    }
    // Let it finish, then a run asked for afterwards must find nothing left to do.
    for (;;) {
      const r = await runState(runId);
      if (r.finishedAt) {
        if (r.status !== 'succeeded') throw new Error(`run ${runId} ended ${r.status}: ${JSON.stringify(r)}`);
        break;
      }
      await sleep(200);
    }
    const again = await api('POST', `/v1/pipelines/${PIPELINE}/runs`);
    for (;;) {
      const r = await runState(String(again.body.runId));
      if (r.finishedAt) break;
      await sleep(100);
    }
    const seconds = (performance.now() - t0) / 1000;
    server.child.kill('SIGTERM');
    await server.exited;
    server = undefined;

    const db = await openDatabase(o.postgres ? { databaseUrl: o.postgres, schema } : { dataDir: join(dir, 'data') });
    try {
      return {
        ...(await check(db, sim, o)),
        kills: { total: kills, duringRecovery, duringWork: kills - duringRecovery },
        resume: resume.length ? distribution(resume) : null,
        restart: distribution(restart),
        seconds: round(seconds, 1),
        seed: o.seed,
      };
    } finally {
      await db.close();
    }
  } finally {
    if (server) await (server.child.kill('SIGKILL'), server.exited);
    await sim?.close();
    if (o.postgres) {
      const admin = await openDatabase({ databaseUrl: o.postgres });
      await admin.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
      await admin.exec(`DROP SCHEMA IF EXISTS "${schema}_queue" CASCADE`).catch(() => undefined);
      await admin.close();
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every instalment once in the ledger and written back with one number; the ledger in balance. */
export async function check(
  db: Database,
  sim: IxpoleSimulator,
  o: Pick<CrashOptions, 'instalments' | 'postgres'>,
): Promise<Omit<CrashResult, 'kills' | 'resume' | 'restart' | 'seconds' | 'seed'>> {
  const entity = (await findEntityByCode(db, ENTITY))!;
  const { rows } = await db.query<{ n: string; refs: string }>(
    `SELECT count(*)::text AS n, count(DISTINCT lower(external_reference))::text AS refs
       FROM transactions WHERE entity_id = $1 AND type = 'SI'`,
    [entity.id],
  );
  const invoices = Number(rows[0]!.n);
  const refs = Number(rows[0]!.refs);
  const numbers = new Map<string, Set<string>>();
  for (const w of sim.writes) {
    if (!Array.isArray(w.body)) continue;
    for (const b of w.body as { InstalmentCode: string; InvoiceNumber?: string }[])
      if (b.InvoiceNumber)
        numbers.set(b.InstalmentCode, (numbers.get(b.InstalmentCode) ?? new Set()).add(b.InvoiceNumber));
  }
  let writeBackWithOneNumber = 0;
  for (let n = 0; n < sim.total; n++) {
    const code = sim.instalmentAt(n).InstalmentCode;
    if (numbers.get(code)?.size === 1 && sim.state(code)?.invoiceNumber) writeBackWithOneNumber++;
  }
  const count = async (sql: string) => Number((await db.query<{ n: string }>(sql)).rows[0]!.n);
  const openExceptions = await count(`SELECT count(*)::text AS n FROM exceptions WHERE status = 'open'`);
  const unfinishedRuns = await count(`SELECT count(*)::text AS n FROM runs WHERE status IN ('queued', 'running')`);
  const verification = await verifyLedger(db, { id: entity.id, code: ENTITY });
  const duplicates = invoices - refs;
  const missing = o.instalments - refs;
  return {
    database: o.postgres ? 'postgres' : 'pglite',
    instalments: o.instalments,
    invoices,
    duplicates,
    missing,
    writeBackWithOneNumber,
    openExceptions,
    unfinishedRuns,
    verification,
    ok:
      duplicates === 0 &&
      missing === 0 &&
      writeBackWithOneNumber === o.instalments &&
      openExceptions === 0 &&
      unfinishedRuns === 0 &&
      verification.ok,
  };
}

export function formatCrash(r: CrashResult): string {
  const d = (x: Distribution | null) =>
    x ? `p50 ${Math.round(x.p50)} ms, p95 ${Math.round(x.p95)} ms, max ${Math.round(x.max)} ms` : 'n/a';
  return [
    `crash proof on ${r.database}: ${r.kills.total} kill -9 (${r.kills.duringRecovery} during recovery) in a sync of ${r.instalments} instalments, ${r.seconds} s, seed ${r.seed}`,
    `  restart (process answers):   ${d(r.restart)}`,
    `  resume (next page committed): ${d(r.resume)}`,
    `  invoices ${r.invoices}: duplicates ${r.duplicates}, missing ${r.missing}; written back with one number: ${r.writeBackWithOneNumber}`,
    `  open exceptions ${r.openExceptions}, unfinished runs ${r.unfinishedRuns}`,
    ...r.verification.checks.map(
      (c) =>
        `  ${c.problems.length ? '✗' : '✓'} ${c.description}${c.problems.length ? `: ${c.problems.join('; ')}` : ''}`,
    ),
    r.ok ? 'OK: nothing duplicated, nothing missing, every invariant holds' : 'FAILED',
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values: args } = benchArgs(
    {
      options: {
        quick: { type: 'boolean', default: false },
        trials: { type: 'string' },
        instalments: { type: 'string' },
        seed: { type: 'string' },
        'page-size': { type: 'string' },
        postgres: { type: 'boolean', default: false },
      },
    },
    `Usage: npm run bench:crash -- [--quick] [--trials N] [--instalments N] [--seed S] [--page-size N] [--postgres]

kill -9 the server at random moments of one sync, restart it each time, then check that every
document is in the ledger exactly once and every invariant holds. Default: 50 kills during a sync of
10,000 instalments on PGlite; --quick: 10 kills, 2,000 instalments. --postgres runs on
BENCH_DATABASE_URL (default ${DEFAULT_POSTGRES_URL}) in a schema of its own, dropped afterwards.
Exit code 1 when anything is duplicated, missing or out of balance.`,
  );
  const url = process.env.BENCH_DATABASE_URL || DEFAULT_POSTGRES_URL;
  if (args.postgres) {
    const why = await postgresUnavailable(url);
    if (why) {
      console.error(`error: PostgreSQL is not reachable at ${url}: ${why}`);
      process.exit(1);
    }
  }
  const options: CrashOptions = {
    trials: positiveInt(args.trials, args.quick ? 10 : 50, 'trials'),
    instalments: positiveInt(args.instalments, args.quick ? 2000 : 10_000, 'instalments'),
    seed: positiveInt(args.seed, Date.now() % 1_000_000, 'seed'),
    pageSize: positiveInt(args['page-size'], 100, 'page-size'),
    postgres: args.postgres ? url : undefined,
  };
  const result = await runCrash(options);
  console.log(formatCrash(result));
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, 'bench/results/crash.json'), JSON.stringify(result, null, 2));
  process.exit(result.ok ? 0 : 1);
}
