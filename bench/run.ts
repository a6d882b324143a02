/**
 * `npm run bench`: ledgerlink's measured speed in one run (method and figures: docs/performance.md).
 *
 *   npm run bench                       the full run (a few minutes on 2 cores)
 *   npm run bench -- --quick            a smoke run with small counts
 *   npm run bench -- --queries 5000     bulk queries per database and writer (default 10,000)
 *   npm run bench -- --skip-postgres    PGlite only
 *   npm run bench -- --analyze          ANALYZE every database after the warm-up (stale statistics, see the doc)
 *   npm run bench -- --skip-memory      without the memory measures (idle server, peak of a 100,000-instalment sync)
 *   npm run bench -- --skip-backfill    without the connector backfills (11 platforms; bench/backfill.ts)
 *   npm run bench -- --skip-dashboard   without the dashboard pages' data at scale (bench/dashboard.ts)
 *   npm run bench -- --dashboard-full   the dashboard section at 1,000,000 transactions (default 200,000; about 8 minutes more)
 *   npm run bench -- --skip-workers     without two workers against one (bench/workers.ts; needs PostgreSQL)
 *   npm run bench -- --skip-http        without posting and reading over real HTTP (bench/http-posting.ts, http-reads.ts)
 *   BENCH_DATABASE_URL=postgres://…     another server (default postgres://postgres@127.0.0.1:5432/test)
 *
 * Prints a table on stdout, progress on stderr, and writes bench/results/latest.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  type BackfillResult,
  PLATFORMS as BACKFILL_PLATFORMS,
  backfillCounts,
  backfillProblems,
  runBackfill,
} from './backfill.ts';
import { type BreakdownResult, runBreakdown } from './breakdown.ts';
import { type DashboardResult, runDashboard } from './dashboard.ts';
import { runHttpPosting } from './http-posting.ts';
import { runReads } from './http-reads.ts';
import type { HttpResults } from './http-report.ts';
import { benchArgs, positiveInt } from './cli-args.ts';
import { DEFAULT_POSTGRES_URL, postgresUnavailable } from './harness.ts';
import { type LatencyResult, runLatency } from './latency.ts';
import { type MemoryResult, runMemory } from './memory.ts';
import { type Results, report } from './report.ts';
import { type StatementResult, runStatement } from './statement.ts';
import { progress, round } from './stats.ts';
import { type ThroughputResult, runThroughput } from './throughput.ts';
import { type WorkersResult, runWorkers, workersCounts } from './workers.ts';

const { values: args } = benchArgs(
  {
    options: {
      quick: { type: 'boolean', default: false },
      queries: { type: 'string' },
      'skip-postgres': { type: 'boolean', default: false },
      'skip-breakdown': { type: 'boolean', default: false },
      analyze: { type: 'boolean', default: false },
      'skip-memory': { type: 'boolean', default: false },
      'skip-backfill': { type: 'boolean', default: false },
      'skip-dashboard': { type: 'boolean', default: false },
      'dashboard-full': { type: 'boolean', default: false },
      'skip-workers': { type: 'boolean', default: false },
      'skip-http': { type: 'boolean', default: false },
    },
  },
  `Usage: npm run bench -- [options]

ledgerlink's measured speed in one run; method and figures in docs/performance.md.

  --quick            a smoke run with small counts (what CI runs)
  --queries N        bulk queries per database and writer (default 10,000)
  --skip-postgres    PGlite only
  --analyze          ANALYZE every database after the warm-up (stale statistics, see the doc)
  --skip-breakdown   without the statement-by-statement timing runs
  --skip-memory      without the memory measures
  --skip-backfill    without the connector backfills (bench/backfill.ts)
  --skip-dashboard   without the dashboard pages' data at scale (bench/dashboard.ts)
  --dashboard-full   the dashboard section at 1,000,000 transactions (default 200,000)
  --skip-workers     without two workers against one (needs PostgreSQL)
  --skip-http        without posting and reading over real HTTP
  -h, --help         this help

PostgreSQL at BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test). Prints a table
on stdout, progress on stderr, and writes bench/results/latest.json.`,
);

const quick = args.quick;
const queries = positiveInt(args.queries, quick ? 1000 : 10_000, 'queries');
const COUNTS = {
  bulkQueries: queries,
  warmupQueries: quick ? 200 : 1000,
  latencyWarmup: quick ? 10 : 50,
  latencyRequests: quick ? 50 : 500,
  statementOpenItems: quick ? 1000 : 10_000,
  statementWarmup: 3,
  statementRequests: quick ? 5 : 20,
  breakdownQueries: quick ? 500 : 2000,
  memorySyncInstalments: quick ? 5000 : 100_000,
  memorySettleSeconds: quick ? 10 : 30,
  dashboardTransactions: args['dashboard-full'] ? 1_000_000 : quick ? 20_000 : 200_000,
  dashboardWarmup: quick ? 1 : 3,
  dashboardRuns: quick ? 5 : 20,
  workersPipelines: workersCounts(quick).pipelines,
  workersInstalments: workersCounts(quick).instalments,
  workersConcurrency: workersCounts(quick).concurrency,
  httpQueries: quick ? 1000 : 10_000,
  httpBatchQueries: quick ? 50 : 100,
  httpWarmupQueries: quick ? 200 : 1000,
  httpTurns: quick ? 2 : 5,
  readSeconds: quick ? 2 : 10,
};
/** Connection counts of the HTTP sections (issue #14). */
const HTTP_POST_CONNECTIONS = [4, 16];
const READ_CONNECTIONS = [1, 8, 32];
const url = process.env.BENCH_DATABASE_URL || DEFAULT_POSTGRES_URL;
const redactedUrl = url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

/** Which code was measured (read-only git queries; figures for a dirty tree say so). */
function codeState(): Results['code'] {
  const git = (...a: string[]) =>
    execFileSync('git', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return {
      commit: git('rev-parse', '--short', 'HEAD'),
      uncommittedChangesInSrc: git('status', '--porcelain', 'src', 'migrations') !== '',
    };
  } catch {
    return { commit: 'unknown (not a git checkout)', uncommittedChangesInSrc: false };
  }
}

const started = performance.now();
const machine: Results['machine'] = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
  loadAverage: [],
};
const code = codeState();

/** Announces a step on stderr and notes the load: other processes on the machine skew the figures. */
function step(name: string): void {
  machine.loadAverage.push({ step: name, load1: round(os.loadavg()[0]!) });
  if (name !== 'end') progress(name);
}
process.stderr.write(`ledgerlink bench — ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}\n`);

// 1–2 on PGlite; 3 and 4 then run on the same ledgerlink database (it holds the bulk run's rows).
step(`pglite: ${queries} queries for each writer`);
const analyze = args.analyze;
const pglite = await runThroughput('pglite', url, queries, COUNTS.warmupQueries, analyze);
let latency: LatencyResult;
let statement: StatementResult;
try {
  step(`pglite: latency, ${COUNTS.latencyWarmup} + ${COUNTS.latencyRequests} sequential requests`);
  latency = await runLatency(pglite.ledgerlink.client, COUNTS.latencyWarmup, COUNTS.latencyRequests);
  step(`pglite: statement of a customer with ${COUNTS.statementOpenItems} open items`);
  const { bench, client } = pglite.ledgerlink;
  const n = COUNTS.statementOpenItems;
  statement = await runStatement(bench.db, client, n, COUNTS.statementWarmup, COUNTS.statementRequests);
} finally {
  await pglite.ledgerlink.app.close();
  await pglite.ledgerlink.bench.close();
}

let postgres: ThroughputResult | { skipped: string };
const unavailable = args['skip-postgres'] ? 'skipped with --skip-postgres' : await postgresUnavailable(url);
if (unavailable) {
  postgres = { skipped: `PostgreSQL at ${redactedUrl} not measured: ${unavailable}` };
  process.stderr.write(`${postgres.skipped}\n`);
} else {
  step(`postgres: ${queries} queries for each writer`);
  const run = await runThroughput('postgres', url, queries, COUNTS.warmupQueries, analyze);
  await run.ledgerlink.app.close();
  await run.ledgerlink.bench.close();
  postgres = run.result;
}

// 9–10: posting over real HTTP, then the read load on the database the last posting left.
let http: HttpResults | { skipped: string };
if (args['skip-http']) {
  http = { skipped: 'skipped with --skip-http' };
} else {
  const httpStarted = performance.now();
  http = { posting: [], reads: [], seconds: 0 };
  for (const kind of unavailable ? (['pglite'] as const) : (['pglite', 'postgres'] as const)) {
    step(`${kind}: ${COUNTS.httpQueries} queries over HTTP at ${HTTP_POST_CONNECTIONS.join(' and ')} connections`);
    const posted = await runHttpPosting(kind, url, {
      queries: COUNTS.httpQueries,
      batch: COUNTS.httpBatchQueries,
      warmup: COUNTS.httpWarmupQueries,
      connections: HTTP_POST_CONNECTIONS,
      turns: COUNTS.httpTurns,
    });
    http.posting.push(posted.result);
    try {
      step(`${kind}: read API at ${READ_CONNECTIONS.join(', ')} connections, ${COUNTS.readSeconds} s each`);
      http.reads.push(
        await runReads(kind, posted.side, { connections: READ_CONNECTIONS, seconds: COUNTS.readSeconds }),
      );
    } finally {
      await posted.side.app.close();
      await posted.side.bench.close();
    }
  }
  http.seconds = Math.round((performance.now() - httpStarted) / 1000);
}

const breakdown: BreakdownResult[] = [];
if (!args['skip-breakdown']) {
  for (const kind of unavailable ? (['pglite'] as const) : (['pglite', 'postgres'] as const)) {
    step(`${kind}: statement-by-statement timing of ${COUNTS.breakdownQueries} bulk queries`);
    breakdown.push(await runBreakdown(kind, 'bulk', url, COUNTS.breakdownQueries, COUNTS.warmupQueries, analyze));
  }
  step(`pglite: statement-by-statement timing of ${COUNTS.latencyRequests} single requests`);
  breakdown.push(await runBreakdown('pglite', 'single', url, COUNTS.latencyRequests, COUNTS.latencyWarmup, analyze));
}

let memory: MemoryResult | { skipped: string };
if (args['skip-memory']) {
  memory = { skipped: 'skipped with --skip-memory' };
} else {
  step(`memory: idle server, and a sync of ${COUNTS.memorySyncInstalments} instalments`);
  memory = await runMemory({
    instalments: COUNTS.memorySyncInstalments,
    settleSeconds: COUNTS.memorySettleSeconds,
  });
}

let backfill: BackfillResult[] | { skipped: string };
if (args['skip-backfill']) {
  backfill = { skipped: 'skipped with --skip-backfill' };
} else {
  backfill = [];
  for (const platform of Object.keys(BACKFILL_PLATFORMS)) {
    const counts = backfillCounts(quick, platform);
    step(`${platform}: backfill of ${counts.invoices} invoices on a ${counts.minuteMs} ms minute`);
    backfill.push(await runBackfill(platform, counts));
  }
}

// On PostgreSQL when the server is there (a million rows is a server's job), else on PGlite.
let dashboard: DashboardResult | { skipped: string };
if (args['skip-dashboard']) {
  dashboard = { skipped: 'skipped with --skip-dashboard' };
} else {
  const kind = unavailable ? 'pglite' : 'postgres';
  step(`${kind}: dashboard pages' data with ${COUNTS.dashboardTransactions} transactions`);
  dashboard = await runDashboard(kind, url, {
    transactions: COUNTS.dashboardTransactions,
    warmup: COUNTS.dashboardWarmup,
    runs: COUNTS.dashboardRuns,
  });
}

// Several worker processes need a server: PGlite has one process per data folder.
let workers: WorkersResult | { skipped: string };
if (args['skip-workers']) {
  workers = { skipped: 'skipped with --skip-workers' };
} else if (unavailable) {
  workers = { skipped: `needs PostgreSQL (${unavailable})` };
  process.stderr.write(`two workers against one not measured: ${workers.skipped}\n`);
} else {
  const w = workersCounts(quick);
  step(`postgres: two workers against one, ${w.pipelines} pipelines × ${w.instalments} instalments`);
  workers = await runWorkers({ postgres: url, ...w, pageSize: 200 });
}

step('end');
const results: Results = {
  date: new Date().toISOString(),
  quick,
  machine,
  code,
  counts: COUNTS,
  throughput: { pglite: pglite.result, postgres },
  latency,
  statement,
  breakdown,
  memory,
  backfill,
  dashboard,
  workers,
  http,
  totalSeconds: Math.round((performance.now() - started) / 1000),
};

const dir = fileURLToPath(new URL('./results/', import.meta.url));
await mkdir(dir, { recursive: true });
await writeFile(`${dir}latest.json`, JSON.stringify(results, null, 2) + '\n');
process.stdout.write(`\n${report(results)}\nFigures written to bench/results/latest.json\n`);

const measured = [pglite.result, ...('skipped' in postgres ? [] : [postgres])];
const differing = measured.filter((t) => !t.identicalRows);
const backfillFailures = 'skipped' in backfill ? [] : backfillProblems(backfill);
if (backfillFailures.length > 0) {
  process.stderr.write(`${backfillFailures.join('\n')}\n`);
  process.exitCode = 1;
}
if (!('skipped' in dashboard) && dashboard.problems.length > 0) {
  process.stderr.write(`the dashboard bench's seeded books are not coherent: ${dashboard.problems.join('; ')}\n`);
  process.exitCode = 1;
}
if (!('skipped' in workers) && !workers.ok) {
  process.stderr.write(`two workers against one: work was duplicated or lost (see section 8)\n`);
  process.exitCode = 1;
}
const httpProblems =
  'skipped' in http ? [] : [...http.posting.flatMap((x) => x.problems), ...http.reads.flatMap((x) => x.problems)];
if (httpProblems.length > 0) {
  process.stderr.write(`over HTTP: ${httpProblems.join('; ')}\n`);
  process.exitCode = 1;
}
if (differing.length > 0) {
  process.stderr.write(`the writers did not write identical rows on ${differing.map((t) => t.kind).join(', ')}\n`);
  process.exitCode = 1;
}
