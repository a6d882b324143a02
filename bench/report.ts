import { type DashboardResult, dashboardReport } from './dashboard.ts';
import { type BackfillResult, backfillReport } from './backfill.ts';
import { type HttpResults, httpReport } from './http-report.ts';
import type { BreakdownResult } from './breakdown.ts';
import type { LatencyResult } from './latency.ts';
import type { StatementResult } from './statement.ts';
import { type MemoryResult, memoryReport } from './memory.ts';
import { table } from './stats.ts';
import { type ThroughputResult, WRITER_LABELS, type Writer } from './throughput.ts';
import { type WorkersResult, formatWorkers } from './workers.ts';

/** Everything one run measured: what `bench/results/latest.json` holds. */
export interface Results {
  date: string;
  quick: boolean;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    node: string;
    platform: string;
    /** The 1-minute load average as each step started (and at the end): other processes skew the figures. */
    loadAverage: { step: string; load1: number }[];
  };
  code: { commit: string; uncommittedChangesInSrc: boolean };
  counts: Record<string, number>;
  throughput: { pglite: ThroughputResult; postgres: ThroughputResult | { skipped: string } };
  latency: LatencyResult;
  statement: StatementResult;
  breakdown: BreakdownResult[];
  memory: MemoryResult | { skipped: string };
  /** Absent in results written before the backfills were part of the run. */
  backfill?: BackfillResult[] | { skipped: string };
  /** Absent in results written before the dashboard section was part of the run. */
  dashboard?: DashboardResult | { skipped: string };
  /** Absent in results written before the two-workers section was part of the run. */
  workers?: WorkersResult | { skipped: string };
  /** Absent in results written before the HTTP sections (9–10) were part of the run. */
  http?: HttpResults | { skipped: string };
  totalSeconds: number;
}

const WRITERS: Writer[] = ['ledgerlink', 'baseline', 'setBased'];

/** The human-readable report of a run. */
export function report(r: Results): string {
  const out: string[] = [];
  const print = (s = '') => out.push(s);
  const m = r.machine;
  print(`ledgerlink bench, ${r.date.slice(0, 10)}: ${m.cpus} × ${m.cpuModel}, Node ${m.node}`);
  print(
    `code ${r.code.commit}${r.code.uncommittedChangesInSrc ? ' + uncommitted changes in src/' : ''}; ` +
      `${r.quick ? 'QUICK run, small counts' : 'full run'}; took ${r.totalSeconds} s`,
  );
  print(`1-min load average as each step started: ${m.loadAverage.map((x) => x.load1).join(', ')} (2 cores)`);
  print();

  const pg = r.throughput.postgres;
  const runs = [r.throughput.pglite, ...('skipped' in pg ? [] : [pg])];
  print(
    '1–2. Bulk post-pay-allocate in batches of 1,000 queries; a query = invoice + receipt + allocation = 2 documents',
  );
  print(
    table([
      ['database', 'writer', 'queries', 'seconds', 'documents/s', 'queries/s', 'batch p50 ms', 'batch max ms'],
      ...runs.flatMap((t) =>
        WRITERS.map((w) => {
          const x = t.writers[w];
          const row: (string | number)[] = [t.kind, WRITER_LABELS[w], x.queries, (x.totalMs / 1000).toFixed(1)];
          return [...row, x.documentsPerSecond, x.queriesPerSecond, x.batchMs.p50.toFixed(0), x.batchMs.max.toFixed(0)];
        }),
      ),
    ]),
  );
  print();
  for (const t of runs) {
    print(
      `${t.kind}: ledgerlink / row-by-row baseline = ${t.ratio.toFixed(2)} (aim ≥ 0.50); ` +
        `ledgerlink / set-based floor = ${t.ratioToFloor.toFixed(2)}`,
    );
  }
  if ('skipped' in pg) print(pg.skipped);
  print();
  for (const t of runs) {
    print(`Identical rows on ${t.kind} (entity BENCH: counts, sums, and an md5 over every meaningful column):`);
    print(
      table([
        ['table', 'sum of', 'rows', 'sum ledgerlink', 'sum row-by-row', 'sum set-based', 'identical'],
        ...t.verification.baseline.map((v, i) => {
          const f = t.verification.setBased[i]!;
          const rows = [...new Set([v.ledgerlink.rows, v.baseline.rows, f.baseline.rows])].join(' ≠ ');
          const same = v.identical && f.identical ? 'yes' : 'NO';
          return [v.table, v.sumLabel, rows, v.ledgerlink.sum, v.baseline.sum, f.baseline.sum, same];
        }),
      ]),
    );
    print();
  }

  const l = r.latency.ms;
  print(
    `3. Single post-pay-allocate on PGlite: ${l.count} sequential requests after ${r.latency.warmupRequests} warm-up`,
  );
  print(
    table([
      ['mean ms', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
      [l.mean, l.p50, l.p95, l.p99, l.max].map((v) => v.toFixed(2)),
    ]),
  );
  print(`p95 ${l.p95.toFixed(2)} ms (aim < 20 ms)`);
  print();

  const s = r.statement;
  print(`4. Statement of a customer with ${s.openItems} open items on PGlite (seeded in ${s.seedMs} ms)`);
  if (s.measured) {
    print(
      table([
        ['requests', 'response KiB', 'p50 ms', 'p95 ms', 'max ms'],
        [s.ms.count, Math.round(s.responseBytes / 1024), s.ms.p50.toFixed(1), s.ms.p95.toFixed(1), s.ms.max.toFixed(1)],
      ]),
    );
    print(`median ${s.ms.p50.toFixed(1)} ms (aim < 100 ms)`);
  } else {
    print(`not measured: ${s.reason}`);
  }
  print();

  for (const b of r.breakdown) {
    const what = b.mode === 'bulk' ? 'a query of a bulk request' : 'a single post-pay-allocate request';
    print(
      `Where the time of ${what} goes on ${b.kind} (${b.queries} queries, timed run: ${b.msPerQuery} ms/query, ` +
        `${b.statementsPerQuery} SQL statements/query)`,
    );
    print(
      table([
        ['statement kind', 'per query', 'ms/query', '% of request'],
        ...b.rows.map((x) => [x.kind, x.perQuery || '', x.msPerQuery.toFixed(3), x.percent.toFixed(1)]),
      ]),
    );
    print();
  }

  print('5. Memory of the embedded server (PGlite), each measure in a process of its own');
  print('skipped' in r.memory ? `not measured: ${r.memory.skipped}` : memoryReport(r.memory));
  print();

  print(
    '6. Connector backfills under the published limits, on a scaled clock; ratio = seconds / minimum the limits allow',
  );
  if (!r.backfill) print('not measured');
  else if ('skipped' in r.backfill) print(`not measured: ${r.backfill.skipped}`);
  else
    print(`${backfillReport(r.backfill)}\n(aim: ledgerlink's ratio at most 1.1; * measured on a sample, extrapolated)`);
  print();

  print("7. Dashboard pages' data at scale (bench/dashboard.ts); ratio = median / one primary-key lookup");
  if (!r.dashboard) print('not measured');
  else if ('skipped' in r.dashboard) print(`not measured: ${r.dashboard.skipped}`);
  else print(dashboardReport(r.dashboard));
  print();

  print('8. Two `ledgerlink worker` processes against one on PostgreSQL, same workload (bench/workers.ts)');
  if (!r.workers) print('not measured');
  else if ('skipped' in r.workers) print(`not measured: ${r.workers.skipped}`);
  else print(formatWorkers(r.workers));
  print();

  if (!r.http) print('9–10. Posting and reading over real HTTP: not measured');
  else if ('skipped' in r.http) print(`9–10. Posting and reading over real HTTP: not measured: ${r.http.skipped}`);
  else print(httpReport(r.http, runs));
  print();
  return out.join('\n');
}
