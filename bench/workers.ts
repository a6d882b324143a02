/**
 * Two workers against one (issue 14): the same workload on PostgreSQL, worked once by one
 * `ledgerlink worker` process and once by two, on one queue. Reports documents per second for each,
 * the ratio 2:1, and checks that adding a worker neither loses nor doubles anything: every instalment
 * in the ledger once and written back with one invoice number, every run succeeded, no open
 * exception, and every invariant of each entity's ledger holding (src/ledger/verify.ts).
 *
 *   npm run bench:workers                        8 pipelines × 1,500 instalments, 4 runs per worker
 *   npm run bench:workers -- --quick             4 pipelines × 300 instalments, 2 runs per worker
 *   npm run bench:workers -- --pipelines N --instalments N --concurrency N --page-size N
 *
 * Each round gets a fresh schema on BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
 * with a queue schema of its own beside it, both dropped afterwards; one iXpole simulator per pipeline
 * in this process, the same seeds in both rounds. The workers are started and ready before the runs
 * are queued (directly, in one transaction per run, as the API does); the clock runs from the first
 * run queued to the last one finished. CPU is read from /proc: each worker's, this process's (the
 * simulators), the PostgreSQL processes' and the whole machine's. Writes bench/results/workers.json;
 * exits 1 on any duplicate, loss, failed run or broken invariant. Method and figures:
 * docs/performance.md, "Two workers against one".
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pino from 'pino';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { openDatabase } from '../src/db/open.ts';
import type { Database } from '../src/db/database.ts';
import { findEntityByCode } from '../src/ledger/entities.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import { openSecretBox } from '../src/sync/keys.ts';
import { findPipelinesNamed } from '../src/sync/pipelines.ts';
import { JobQueue } from '../src/sync/queue.ts';
import { getRun } from '../src/sync/runs.ts';
import { SyncService } from '../src/sync/service.ts';
import { DEFAULT_POSTGRES_URL, postgresUnavailable } from './harness.ts';
import { progress, round, serverNodeFlags } from './stats.ts';
import { benchArgs, positiveInt } from './cli-args.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const KEY = 'ixsim_workers_bench_key';
const TICK = 100; // clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux)

export interface WorkersOptions {
  postgres: string;
  pipelines: number;
  instalments: number;
  /** Runs each worker works at once (`--concurrency`). */
  concurrency: number;
  pageSize: number;
}

export interface RoundResult {
  workers: number;
  /** Pipelines whose run each worker held at some point (a run taken over counts for both). */
  runsByWorker: number[];
  documents: number;
  seconds: number;
  docsPerSecond: number;
  /** CPU seconds over the timed part: each worker, this process (simulators), PostgreSQL's processes. */
  cpu: { workers: number[]; bench: number; postgres: number; machineBusyCores: number };
  /** The workers' CPU per document, in milliseconds: the cost that the machine's cores must pay. */
  workerCpuMsPerDocument: number;
  duplicates: number;
  missing: number;
  writeBackWithOneNumber: number;
  runsSucceeded: number;
  openExceptions: number;
  invariantsHold: boolean;
  problems: string[];
  ok: boolean;
}

export interface WorkersResult {
  pipelines: number;
  instalments: number;
  concurrency: number;
  cpus: number;
  rounds: RoundResult[];
  ratio: number;
  ok: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** user + system clock ticks of a process, or 0 when it is gone. */
function ticksOf(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** Ticks of every process named `postgres` now, by pid (every client's backends, not only ours). */
function postgresTicks(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres') out.set(pid, ticksOf(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Busy and total ticks of the whole machine. */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((s, v) => s + v, 0);
  return { busy: total - f[3]! - (f[4] ?? 0), total };
}

interface Worker {
  child: ChildProcess;
  output: () => string;
  exited: Promise<unknown>;
}

function startWorker(env: Record<string, string>, concurrency: number): Worker {
  const args = ['bin/ledgerlink.js', 'worker', '--tick', '3600', '--concurrency', String(concurrency)];
  const child = spawn(process.execPath, [...serverNodeFlags(root), ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (b: Buffer) => (out = (out + b.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, output: () => out, exited: new Promise((r) => child.once('exit', r)) };
}

async function ready(w: Worker): Promise<void> {
  const t0 = performance.now();
  while (!w.output().includes('worker started')) {
    if (w.child.exitCode !== null) throw new Error(`a worker exited (${w.child.exitCode}):\n${w.output()}`);
    if (performance.now() - t0 > 180_000) throw new Error(`a worker did not start within 180 s:\n${w.output()}`);
    await sleep(100);
  }
}

function config(sims: IxpoleSimulator[], pageSize: number): string {
  return JSON.stringify({
    entities: sims.map((_, i) => ({
      code: `WB${i}`,
      name: `Workers Bench ${i}`,
      baseCurrency: 'EUR',
      standardTaxRate: '0.21',
    })),
    pipelines: sims.map((s, i) => ({
      name: `wb-${i}`,
      entity: `WB${i}`,
      source: { type: 'ixpole', baseUrl: s.url, apiKey: '${IXSIM_KEY}', backoffBaseMs: 50, backoffMaxMs: 500 },
      options: { pageSize },
    })),
  });
}

/** One round: a fresh schema and simulators, `n` workers, every pipeline's run queued at once. */
export async function runRound(o: WorkersOptions, n: number): Promise<RoundResult> {
  const dir = await mkdtemp(join(tmpdir(), 'll-workers-bench-'));
  const schema = `bench_workers_${Date.now().toString(36)}_${n}`;
  const queueSchema = `${schema}_boss`;
  const sims: IxpoleSimulator[] = [];
  const workers: Worker[] = [];
  let db: Database | undefined;
  let queue: JobQueue | undefined;
  try {
    for (let i = 0; i < o.pipelines; i++)
      sims.push(
        await startIxpoleSimulator({
          seed: 300 + i,
          instalments: o.instalments,
          customers: Math.max(10, Math.round(o.instalments / 50)),
          products: 12,
          apiKey: KEY,
          recordPdf: false,
        }),
      );
    await writeFile(join(dir, 'ledgerlink.json'), config(sims, o.pageSize));
    const env: Record<string, string> = {
      ...(Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'DATABASE_URL')) as Record<
        string,
        string
      >),
      DATABASE_URL: o.postgres,
      LEDGERLINK_DB_SCHEMA: schema,
      LEDGERLINK_QUEUE_SCHEMA: queueSchema,
      LEDGERLINK_CONFIG: join(dir, 'ledgerlink.json'),
      LEDGERLINK_OUTBOUND_ALLOW: sims.map((s) => new URL(s.url).host).join(','),
      LEDGERLINK_ENCRYPTION_KEY: process.env.LEDGERLINK_ENCRYPTION_KEY ?? Buffer.alloc(32, 7).toString('base64'),
      IXSIM_KEY: KEY,
      LOG_LEVEL: 'info',
    };
    // The first worker migrates the fresh schema and applies the configuration, as an operator's
    // would; the second starts once it is up. This process then queues the runs.
    const admin = await openDatabase({ databaseUrl: o.postgres });
    await admin.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await admin.close();
    for (let k = 0; k < n; k++) {
      workers.push(startWorker(env, o.concurrency));
      await ready(workers[k]!);
    }
    const dbConfig = { databaseUrl: o.postgres, schema };
    db = await openDatabase(dbConfig);
    const { box } = await openSecretBox(db, dbConfig, env);
    const log = pino({ level: 'warn' });
    queue = await JobQueue.start(db, log, queueSchema);
    const sync = new SyncService({ db, box, log, queue });
    const pipelines = [];
    for (let i = 0; i < o.pipelines; i++) pipelines.push((await findPipelinesNamed(db, box, `wb-${i}`))[0]!);

    const pids = workers.map((w) => w.child.pid!);
    const cpu0 = { workers: pids.map(ticksOf), bench: process.cpuUsage(), pg: postgresTicks(), m: machineTicks() };
    const t0 = performance.now();
    const runIds: string[] = [];
    for (const p of pipelines) runIds.push((await sync.trigger(p, 'manual', 'bench'))!);
    // Which worker works which pipeline's run: the lease holders (host:pid), sampled while it goes.
    const heldBy = new Map<number, Set<string>>(pids.map((pid) => [pid, new Set()]));
    let finished;
    for (;;) {
      const { rows: held } = await db.query<{ pipeline_id: string; holder: string }>(
        `SELECT pipeline_id, holder FROM pipeline_leases WHERE expires_at > now()`,
      );
      for (const h of held) heldBy.get(Number(h.holder.split(':')[1]))?.add(h.pipeline_id);
      const runs = await Promise.all(runIds.map((id) => getRun(db!, id)));
      if (runs.every((r) => r?.finishedAt)) {
        finished = runs;
        break;
      }
      for (const w of workers)
        if (w.child.exitCode !== null) throw new Error(`a worker exited (${w.child.exitCode}):\n${w.output()}`);
      if (performance.now() - t0 > 1_800_000) throw new Error('the runs did not finish within 30 minutes');
      await sleep(100);
    }
    const ms = performance.now() - t0;
    const pg1 = postgresTicks();
    let pgTicks = 0;
    for (const [pid, t] of pg1) pgTicks += t - (cpu0.pg.get(pid) ?? 0);
    const m1 = machineTicks();
    const benchCpu = process.cpuUsage(cpu0.bench);
    const cpu = {
      workers: pids.map((pid, k) => round((ticksOf(pid) - cpu0.workers[k]!) / TICK, 1)),
      bench: round((benchCpu.user + benchCpu.system) / 1e6, 1),
      postgres: round(pgTicks / TICK, 1),
      machineBusyCores: round(((m1.busy - cpu0.m.busy) / (m1.total - cpu0.m.total)) * os.cpus().length, 2),
    };
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    workers.length = 0;

    const problems: string[] = [];
    let duplicates = 0;
    let missing = 0;
    let writeBackWithOneNumber = 0;
    let invariantsHold = true;
    for (const [i, sim] of sims.entries()) {
      const entity = (await findEntityByCode(db, `WB${i}`))!;
      const { rows } = await db.query<{ n: string; refs: string }>(
        `SELECT count(*)::text AS n, count(DISTINCT lower(external_reference))::text AS refs
           FROM transactions WHERE entity_id = $1 AND type = 'SI'`,
        [entity.id],
      );
      duplicates += Number(rows[0]!.n) - Number(rows[0]!.refs);
      missing += sim.total - Number(rows[0]!.refs);
      const numbers = new Map<string, Set<string>>();
      for (const w of sim.writes) {
        if (!Array.isArray(w.body)) continue;
        for (const b of w.body as { InstalmentCode: string; InvoiceNumber?: string }[])
          if (b.InvoiceNumber)
            numbers.set(b.InstalmentCode, (numbers.get(b.InstalmentCode) ?? new Set()).add(b.InvoiceNumber));
      }
      for (let k = 0; k < sim.total; k++) {
        const code = sim.instalmentAt(k).InstalmentCode;
        if (numbers.get(code)?.size === 1 && sim.state(code)?.invoiceNumber) writeBackWithOneNumber++;
      }
      const v = await verifyLedger(db, { id: entity.id, code: `WB${i}` });
      if (!v.ok) {
        invariantsHold = false;
        for (const c of v.checks) if (c.problems.length) problems.push(`WB${i} ${c.description}: ${c.problems[0]}`);
      }
    }
    const count = async (sql: string) => Number((await db!.query<{ n: string }>(sql)).rows[0]!.n);
    const openExceptions = await count(`SELECT count(*)::text AS n FROM exceptions WHERE status = 'open'`);
    const runsSucceeded = finished.filter((r) => r!.status === 'succeeded').length;
    const documents = o.pipelines * o.instalments;
    if (duplicates) problems.push(`${duplicates} duplicate invoice(s)`);
    if (missing) problems.push(`${missing} instalment(s) missing from the ledger`);
    if (writeBackWithOneNumber !== documents)
      problems.push(`${documents - writeBackWithOneNumber} instalment(s) not written back with exactly one number`);
    if (runsSucceeded !== runIds.length) problems.push(`${runIds.length - runsSucceeded} run(s) did not succeed`);
    if (openExceptions) problems.push(`${openExceptions} open exception(s)`);
    const runsByWorker = pids.map((pid) => heldBy.get(pid)!.size);
    if (n > 1 && runsByWorker.some((c) => c === 0))
      problems.push(
        `a worker worked no run (${runsByWorker.join(' + ')}): the ratio measures nothing; queue more pipelines`,
      );
    return {
      workers: n,
      runsByWorker,
      documents,
      seconds: round(ms / 1000, 1),
      docsPerSecond: Math.round((documents * 1000) / ms),
      cpu,
      workerCpuMsPerDocument: round((cpu.workers.reduce((a, b) => a + b, 0) * 1000) / documents, 2),
      duplicates,
      missing,
      writeBackWithOneNumber,
      runsSucceeded,
      openExceptions,
      invariantsHold,
      problems,
      ok: problems.length === 0,
    };
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await queue?.stop().catch(() => undefined);
    await db?.close();
    const admin = await openDatabase({ databaseUrl: o.postgres });
    for (const s of [queueSchema, schema])
      await admin.exec(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
    await admin.close();
    for (const s of sims) await s.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runWorkers(o: WorkersOptions): Promise<WorkersResult> {
  const rounds: RoundResult[] = [];
  for (const n of [1, 2]) {
    progress(`${n} worker(s): ${o.pipelines} pipelines × ${o.instalments} instalments on PostgreSQL`);
    rounds.push(await runRound(o, n));
    progress(`${n} worker(s): ${rounds.at(-1)!.docsPerSecond} documents/s`);
  }
  return {
    pipelines: o.pipelines,
    instalments: o.instalments,
    concurrency: o.concurrency,
    cpus: os.cpus().length,
    rounds,
    ratio: round(rounds[1]!.docsPerSecond / rounds[0]!.docsPerSecond, 2),
    ok: rounds.every((r) => r.ok),
  };
}

export function formatWorkers(r: WorkersResult): string {
  const lines = [
    `two workers against one on PostgreSQL: ${r.pipelines} pipelines × ${r.instalments} instalments, up to ${r.concurrency} runs per worker, ${r.cpus} CPUs`,
  ];
  for (const x of r.rounds)
    lines.push(
      `  ${x.workers} worker${x.workers > 1 ? 's' : ' '} (runs ${x.runsByWorker.join(' + ')}): ${x.documents} documents in ${x.seconds} s = ${x.docsPerSecond} documents/s; ` +
        `CPU s: worker(s) ${x.cpu.workers.join(' + ')}, simulators ${x.cpu.bench}, postgres ${x.cpu.postgres}; machine busy ${x.cpu.machineBusyCores} of ${r.cpus} cores; ` +
        `worker CPU ${x.workerCpuMsPerDocument} ms/document`,
      `    duplicates ${x.duplicates}, missing ${x.missing}, written back with one number ${x.writeBackWithOneNumber}/${x.documents}, ` +
        `runs succeeded ${x.runsSucceeded}/${r.pipelines}, open exceptions ${x.openExceptions}, invariants ${x.invariantsHold ? 'hold' : 'BROKEN'}`,
      ...x.problems.map((p) => `    ✗ ${p}`),
    );
  lines.push(`  ratio 2:1 = ${r.ratio}`, r.ok ? 'OK: nothing duplicated, nothing lost' : 'FAILED');
  return lines.join('\n');
}

export const workersCounts = (quick: boolean) =>
  quick ? { pipelines: 4, instalments: 300, concurrency: 2 } : { pipelines: 8, instalments: 1500, concurrency: 4 };

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values: args } = benchArgs(
    {
      options: {
        quick: { type: 'boolean', default: false },
        pipelines: { type: 'string' },
        instalments: { type: 'string' },
        concurrency: { type: 'string' },
        'page-size': { type: 'string' },
      },
    },
    `Usage: npm run bench:workers -- [--quick] [--pipelines N] [--instalments N] [--concurrency N] [--page-size N]

The same workload on PostgreSQL, once with one \`ledgerlink worker\` and once with two: documents per
second for each, the ratio 2:1, and a check that nothing is duplicated or lost. Default: 8 pipelines
× 1,500 instalments, 4 runs per worker; --quick: 4 × 300, 2 runs per worker (twice as many
pipelines as one worker takes at once, so that the second worker has work). BENCH_DATABASE_URL (default
${DEFAULT_POSTGRES_URL}); fresh schemas, dropped afterwards. Exit code 1 on any duplicate or loss.`,
  );
  const url = process.env.BENCH_DATABASE_URL || DEFAULT_POSTGRES_URL;
  const why = await postgresUnavailable(url);
  if (why) {
    console.error(`error: PostgreSQL is not reachable at ${url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')}: ${why}`);
    process.exit(1);
  }
  const counts = workersCounts(args.quick);
  const result = await runWorkers({
    postgres: url,
    pipelines: positiveInt(args.pipelines, counts.pipelines, 'pipelines'),
    instalments: positiveInt(args.instalments, counts.instalments, 'instalments'),
    concurrency: positiveInt(args.concurrency, counts.concurrency, 'concurrency'),
    pageSize: positiveInt(args['page-size'], 200, 'page-size'),
  });
  console.log(formatWorkers(result));
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, 'bench/results/workers.json'), JSON.stringify(result, null, 2) + '\n');
  process.exit(result.ok ? 0 : 1);
}
