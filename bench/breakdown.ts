import { type DbKind, type EntityClient, openBenchDatabase, startApp } from './harness.ts';
import { StatementStats, instrument } from './instrument.ts';
import { round, timed } from './stats.ts';
import { postBulk } from './throughput.ts';
import { batchesOf, queryBody, querySpec } from './workload.ts';

export type BreakdownMode = 'bulk' | 'single';

export interface BreakdownRow {
  kind: string;
  perQuery: number;
  msPerQuery: number;
  /** Share of the measured request time. */
  percent: number;
}

export interface BreakdownResult {
  kind: DbKind;
  /** `bulk`: batches of 1,000 queries; `single`: one `POST /v1/sales/post-pay-allocate` per query. */
  mode: BreakdownMode;
  queries: number;
  msPerQuery: number;
  statementsPerQuery: number;
  rows: BreakdownRow[];
}

async function postSingle(client: EntityClient, tag: string, index: number): Promise<number> {
  const payload = JSON.stringify(queryBody(querySpec(tag, index)));
  const [res, ms] = await timed(() => client.request('POST', '/v1/sales/post-pay-allocate', payload));
  if (res.status !== 201) throw new Error(`post-pay-allocate failed (${res.status}): ${res.body.slice(0, 300)}`);
  return ms;
}

/**
 * Where a request's time goes: the workload on a fresh database wrapped so that every statement
 * is timed by kind. What is left of the request time is outside SQL: HTTP injection, JSON
 * parsing, zod, building documents, serialising the reply. The timing wrapper adds a little; the
 * throughput and latency figures come from the unwrapped runs.
 */
export async function runBreakdown(
  kind: DbKind,
  mode: BreakdownMode,
  url: string,
  queries: number,
  warmup: number,
  analyze: boolean,
): Promise<BreakdownResult> {
  const bench = await openBenchDatabase(kind, url);
  const stats = new StatementStats();
  const app = await startApp(instrument(bench.db, stats));
  try {
    const warm = await app.entity('WARM');
    const client = await app.entity('BENCH');
    let total = 0;
    if (mode === 'bulk') {
      for (const batch of batchesOf('W', 0, warmup)) await postBulk(warm, batch);
      if (analyze) await bench.db.exec('ANALYZE');
      stats.reset();
      for (const batch of batchesOf('B', 0, queries)) total += await postBulk(client, batch);
    } else {
      for (let i = 0; i < warmup; i++) await postSingle(warm, 'W', i);
      if (analyze) await bench.db.exec('ANALYZE');
      stats.reset();
      for (let i = 0; i < queries; i++) total += await postSingle(client, 'S', i);
    }
    const rows: BreakdownRow[] = [...stats.byKind]
      .map(([k, s]) => ({
        kind: k,
        perQuery: round(s.count / queries, 3),
        msPerQuery: round(s.ms / queries, 3),
        percent: round((100 * s.ms) / total, 1),
      }))
      .sort((a, b) => b.msPerQuery - a.msPerQuery);
    const outside = total - stats.totalMs;
    rows.push({
      kind: 'outside SQL: HTTP, JSON, zod, domain, reply',
      perQuery: 0,
      msPerQuery: round(outside / queries, 3),
      percent: round((100 * outside) / total, 1),
    });
    // BEGIN + COMMIT and SAVEPOINT + RELEASE are recorded once per pair but are two statements.
    const statements = [...stats.byKind].reduce((n, [k, s]) => n + s.count * (k.includes(' + ') ? 2 : 1), 0);
    return {
      kind,
      mode,
      queries,
      msPerQuery: round(total / queries, 3),
      statementsPerQuery: round(statements / queries, 2),
      rows,
    };
  } finally {
    await app.close();
    await bench.close();
  }
}
