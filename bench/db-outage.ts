/**
 * Database outage proof (issue 14): PostgreSQL goes away at random moments of one long sync and
 * comes back, while `ledgerlink serve` keeps running; the run must complete by itself, with every
 * document in the ledger exactly once, every instalment written back with its one number, and every
 * invariant of the ledger holding (src/ledger/verify.ts).
 *
 *   npm run bench:outage                         10 outages of 1–8 s during an 8,000-instalment sync
 *   npm run bench:outage -- --quick              3 outages of 1–4 s during 1,000 instalments
 *   npm run bench:outage -- --trials N --instalments N --seed S --down-max-ms N
 *
 * An outage is what a restart of the server does to its clients: every backend of the server's
 * connections is ended with `pg_terminate_backend` (the client reads FATAL 57P01, "terminating
 * connection due to administrator command"), the connections drop, and new ones are refused until
 * the server is back. The server is reached through a TCP proxy (bench/tcp-proxy.ts) so that only
 * this bench's connections are affected, never another process using the same PostgreSQL. Each
 * recovery is timed: from the database answering again to the interrupted run's next committed page.
 * Writes bench/results/db-outage.json; exits 1 when the server dies, the run does not finish by
 * itself, or anything is duplicated, missing or out of balance. Figures: docs/performance.md.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { openDatabase } from '../src/db/open.ts';
import { seeded } from '../src/sync/seeded.ts';
import { freePort } from '../test/helpers/process.ts';
import { ADMIN, KEY, PIPELINE, type Server, benchConfig, check, sleep, startServe } from './crash.ts';
import { DEFAULT_POSTGRES_URL, postgresUnavailable } from './harness.ts';
import { type Distribution, distribution, progress, round } from './stats.ts';
import { type TcpProxy, startTcpProxy } from './tcp-proxy.ts';
import { benchArgs, positiveInt } from './cli-args.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

export interface OutageOptions {
  trials: number;
  instalments: number;
  seed: number;
  pageSize: number;
  postgres: string;
  /** The longest outage; each lasts between 1 s and this. */
  downMaxMs: number;
}

export type OutageResult = Awaited<ReturnType<typeof check>> & {
  outages: number;
  /** How long the database was away, each time. */
  down: Distribution | null;
  /** Milliseconds from the database answering again to the interrupted run's next committed page. */
  recover: Distribution | null;
  /** Backends ended with pg_terminate_backend, over all outages. */
  terminated: number;
  seconds: number;
  seed: number;
};

export async function runOutage(o: OutageOptions): Promise<OutageResult> {
  const random = seeded(o.seed);
  const dir = await mkdtemp(join(tmpdir(), 'll-outage-bench-'));
  const schema = `bench_outage_${Date.now().toString(36)}`;
  const upstream = new URL(o.postgres);
  let sim: IxpoleSimulator | undefined;
  let server: Server | undefined;
  let proxy: TcpProxy | undefined;
  const admin = await openDatabase({ databaseUrl: o.postgres });
  try {
    await admin.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
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
    proxy = await startTcpProxy({ host: upstream.hostname, port: Number(upstream.port || 5432) });
    const viaProxy = new URL(o.postgres);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
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
      DATABASE_URL: viaProxy.toString(),
      LEDGERLINK_DB_SCHEMA: schema,
      // A queue of its own: never another process's jobs on the same server.
      LEDGERLINK_QUEUE_SCHEMA: `${schema}_queue`,
      LEDGERLINK_LEASE_SECONDS: '5',
    };
    const api = async (method: string, path: string) => {
      const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${ADMIN}` } });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };
    /** The run as the API shows it; null while the API cannot answer (the database is away). */
    const runState = async (id: string) => {
      try {
        const r = await api('GET', `/v1/runs/${id}`);
        return r.status === 200 ? r.body : null;
      } catch {
        return null;
      }
    };
    const alive = (s: Server) => {
      if (s.child.exitCode !== null || s.child.signalCode !== null)
        throw new Error(
          `the server died during the outage (${s.child.exitCode ?? s.child.signalCode}):\n${s.output()}`,
        );
    };

    const t0 = performance.now();
    [server] = await startServe(env, base);
    const started = await api('POST', `/v1/pipelines/${PIPELINE}/runs`);
    if (started.status !== 202) throw new Error(`could not start the run: ${JSON.stringify(started.body)}`);
    const runId = String(started.body.runId);
    const down: number[] = [];
    const recover: number[] = [];
    let terminated = 0;
    const done = () => sim!.total - sim!.listed();
    let worked = { ms: 0, docs: 0 };
    for (let k = 0; k < o.trials; k++) {
      const done0 = done();
      const perMs = worked.docs > 0 ? worked.docs / worked.ms : 0.5;
      const mean = (0.5 * (o.instalments - done0)) / perMs / (o.trials - k + 1);
      const w0 = performance.now();
      await sleep(Math.floor(random() * 2 * Math.min(mean, 30_000)));
      const before = await runState(runId);
      if (!before || before.finishedAt) {
        progress(
          `the sync finished after ${down.length} outages, before the ${o.trials} asked for: raise --instalments`,
        );
        break;
      }
      worked = { ms: worked.ms + (performance.now() - w0), docs: worked.docs + (done() - done0) };
      const committed = Number(before.counts.fetched);
      // The restart: every backend of ours told to terminate (FATAL 57P01), then the connections
      // dropped and new ones refused for the length of the outage.
      const ports = proxy.upstreamPorts();
      const { rows } = await admin.query<{ n: string }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::text AS n
           FROM pg_stat_activity WHERE client_port = ANY($1::int[]) AND pid <> pg_backend_pid()`,
        [ports],
      );
      terminated += Number(rows[0]!.n);
      await sleep(50);
      await proxy.cut();
      const length = 1000 + Math.floor(random() * Math.max(0, o.downMaxMs - 1000));
      await sleep(length);
      alive(server);
      await proxy.restore();
      down.push(length);
      const from = performance.now();
      for (;;) {
        alive(server);
        const r = await runState(runId);
        if (r && (r.finishedAt || Number(r.counts.fetched) > committed)) {
          recover.push(performance.now() - from);
          break;
        }
        if (performance.now() - from > 120_000)
          throw new Error(`run ${runId} did not go on within 120 s of the database's return:\n${server.output()}`);
        await sleep(25);
      }
      progress(
        `outage ${down.length}/${o.trials} of ${length} ms: ${done()}/${o.instalments} written back; went on ${Math.round(recover.at(-1)!)} ms after the database returned`,
      );
    }
    for (;;) {
      alive(server);
      const r = await runState(runId);
      if (r?.finishedAt) {
        if (r.status !== 'succeeded') throw new Error(`run ${runId} ended ${r.status}: ${JSON.stringify(r)}`);
        break;
      }
      if (performance.now() - t0 > 30 * 60_000) throw new Error(`run ${runId} did not finish within 30 minutes`);
      await sleep(200);
    }
    const again = await api('POST', `/v1/pipelines/${PIPELINE}/runs`);
    while (!(await runState(String(again.body.runId)))?.finishedAt) await sleep(100);
    const seconds = (performance.now() - t0) / 1000;
    server.child.kill('SIGTERM');
    await server.exited;
    server = undefined;

    const db = await openDatabase({ databaseUrl: o.postgres, schema });
    try {
      return {
        ...(await check(db, sim, o)),
        outages: down.length,
        down: down.length ? distribution(down) : null,
        recover: recover.length ? distribution(recover) : null,
        terminated,
        seconds: round(seconds, 1),
        seed: o.seed,
      };
    } finally {
      await db.close();
    }
  } finally {
    if (server) await (server.child.kill('SIGKILL'), server.exited);
    await proxy?.close();
    await sim?.close();
    await admin.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await admin.exec(`DROP SCHEMA IF EXISTS "${schema}_queue" CASCADE`).catch(() => undefined);
    await admin.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatOutage(r: OutageResult): string {
  const d = (x: Distribution | null) =>
    x ? `p50 ${Math.round(x.p50)} ms, p95 ${Math.round(x.p95)} ms, max ${Math.round(x.max)} ms` : 'n/a';
  return [
    `database outage proof on PostgreSQL: ${r.outages} outages (${r.terminated} backends terminated) in a sync of ${r.instalments} instalments, ${r.seconds} s, seed ${r.seed}`,
    `  database away:                ${d(r.down)}`,
    `  went on (next page committed): ${d(r.recover)}`,
    `  invoices ${r.invoices}: duplicates ${r.duplicates}, missing ${r.missing}; written back with one number: ${r.writeBackWithOneNumber}`,
    `  open exceptions ${r.openExceptions}, unfinished runs ${r.unfinishedRuns}`,
    ...r.verification.checks.map(
      (c) =>
        `  ${c.problems.length ? '✗' : '✓'} ${c.description}${c.problems.length ? `: ${c.problems.join('; ')}` : ''}`,
    ),
    r.ok ? 'OK: the run finished by itself; nothing duplicated, nothing missing, every invariant holds' : 'FAILED',
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
        'down-max-ms': { type: 'string' },
      },
    },
    `Usage: npm run bench:outage -- [--quick] [--trials N] [--instalments N] [--seed S] [--page-size N] [--down-max-ms N]

Take PostgreSQL away at random moments of one sync (its backends terminated, its connections
dropped and refused for 1 s to --down-max-ms), while the server keeps running; then check that the
run finished by itself, every document is in the ledger exactly once and every invariant holds.
Default: 10 outages of up to 8 s during 8,000 instalments; --quick: 3 of up to 4 s, 1,000 instalments.
Runs on BENCH_DATABASE_URL (default ${DEFAULT_POSTGRES_URL}) in a schema of its own, dropped afterwards;
only this bench's connections are affected. Exit code 1 on any failure.`,
  );
  const url = process.env.BENCH_DATABASE_URL || DEFAULT_POSTGRES_URL;
  const why = await postgresUnavailable(url);
  if (why) {
    console.error(`error: PostgreSQL is not reachable at ${url}: ${why}`);
    process.exit(1);
  }
  const result = await runOutage({
    trials: positiveInt(args.trials, args.quick ? 3 : 10, 'trials'),
    instalments: positiveInt(args.instalments, args.quick ? 1000 : 8000, 'instalments'),
    seed: positiveInt(args.seed, Date.now() % 1_000_000, 'seed'),
    pageSize: positiveInt(args['page-size'], 100, 'page-size'),
    downMaxMs: positiveInt(args['down-max-ms'], args.quick ? 4000 : 8000, 'down-max-ms'),
    postgres: url,
  });
  console.log(formatOutage(result));
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, 'bench/results/db-outage.json'), JSON.stringify(result, null, 2));
  process.exit(result.ok ? 0 : 1);
}
