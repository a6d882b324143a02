import type { Database } from '../src/db/database.ts';
import { rowByRowBatch } from './baseline.ts';
import { setBasedBatch } from './baseline-set.ts';
import {
  type BenchApp,
  type BenchDatabase,
  type DbKind,
  type EntityClient,
  baselineEntity,
  openBenchDatabase,
  startApp,
} from './harness.ts';
import { type Distribution, distribution, progress, rate, round, timed } from './stats.ts';
import { type TableComparison, compare, fingerprint } from './verify.ts';
import { type QuerySpec, batchesOf, queryBody } from './workload.ts';

export type Writer = 'ledgerlink' | 'baseline' | 'setBased';

export const WRITER_LABELS: Record<Writer, string> = {
  ledgerlink: 'ledgerlink bulk API (inject)',
  baseline: 'baseline: row-by-row INSERTs',
  setBased: 'floor: set-based INSERTs',
};

export interface Throughput {
  queries: number;
  /** An invoice and a receipt per query (the allocation is not counted as a document). */
  documents: number;
  totalMs: number;
  documentsPerSecond: number;
  queriesPerSecond: number;
  /** Milliseconds per batch of (up to) 1,000 queries. */
  batchMs: Distribution;
}

export interface ThroughputResult {
  kind: DbKind;
  database: string;
  warmupQueries: number;
  /** Whether every database was ANALYZEd after the warm-up. */
  analyzed: boolean;
  writers: Record<Writer, Throughput>;
  /** ledgerlink ÷ row-by-row baseline throughput: the figure the issue asks for (aim ≥ 0.5). */
  ratio: number;
  /** ledgerlink ÷ set-based floor throughput. */
  ratioToFloor: number;
  /** ledgerlink's rows against each baseline's. */
  verification: { baseline: TableComparison[]; setBased: TableComparison[] };
  identicalRows: boolean;
}

/** The ledgerlink side, kept open so later steps can run on the same database. */
export interface LedgerlinkSide {
  bench: BenchDatabase;
  app: BenchApp;
  client: EntityClient;
}

function summarise(queries: number, samples: number[]): Throughput {
  const totalMs = samples.reduce((s, v) => s + v, 0);
  return {
    queries,
    documents: queries * 2,
    totalMs: round(totalMs, 0),
    documentsPerSecond: rate(queries * 2, totalMs),
    queriesPerSecond: rate(queries, totalMs),
    batchMs: distribution(samples),
  };
}

export async function postBulk(client: EntityClient, batch: QuerySpec[]): Promise<number> {
  const payload = JSON.stringify({ queries: batch.map(queryBody) });
  const [res, ms] = await timed(() => client.request('POST', '/v1/sales/post-pay-allocate/bulk', payload));
  const body = JSON.parse(res.body) as { status?: string; results?: { status: string; errorCode?: string }[] };
  if (res.status !== 200 || body.status !== 'Success' || body.results?.length !== batch.length) {
    const failed = body.results?.find((r) => r.status !== 'Success');
    throw new Error(`bulk post failed (${res.status}): ${failed ? JSON.stringify(failed) : res.body.slice(0, 500)}`);
  }
  return ms;
}

interface RawWriter {
  bench: BenchDatabase;
  warm: string;
  main: string;
  write: (db: Database, entityId: string, actor: string, batch: QuerySpec[]) => Promise<void>;
}

async function rawWriter(kind: DbKind, url: string, write: RawWriter['write']): Promise<RawWriter> {
  const bench = await openBenchDatabase(kind, url);
  try {
    const warm = await baselineEntity(bench.db, 'WARM');
    const main = await baselineEntity(bench.db, 'BENCH');
    return { bench, warm: warm.entityId, main: main.entityId, write };
  } catch (err) {
    await bench.close();
    throw err;
  }
}

/**
 * Posts `queries` post-pay-allocate queries through the HTTP stack on one fresh database, and
 * writes the same rows with the two raw-SQL writers on two more fresh databases of the same
 * kind, batch by batch in turn (so all three see the same machine noise), after a warm-up of
 * each on a separate entity (and, with `analyze`, an ANALYZE of each database). Then checks that
 * all three hold identical rows.
 */
export async function runThroughput(
  kind: DbKind,
  url: string,
  queries: number,
  warmup: number,
  analyze: boolean,
): Promise<{ result: ThroughputResult; ledgerlink: LedgerlinkSide }> {
  const llDb = await openBenchDatabase(kind, url);
  const raw: RawWriter[] = [];
  let app: BenchApp | undefined;
  try {
    app = await startApp(llDb.db);
    const warmClient = await app.entity('WARM');
    const client = await app.entity('BENCH');
    raw.push(await rawWriter(kind, url, rowByRowBatch));
    raw.push(await rawWriter(kind, url, setBasedBatch));
    const [rows, sets] = raw as [RawWriter, RawWriter];
    const actor = 'bench:baseline';

    for (const batch of batchesOf('W', 0, warmup)) {
      await postBulk(warmClient, batch);
      for (const w of raw) await w.write(w.bench.db, w.warm, actor, batch);
    }
    if (analyze) {
      // Statistics taken now are stale for the BENCH entity, as they would be for an entity created
      // after the last ANALYZE (PGlite never analyzes by itself); see docs/performance.md.
      for (const db of [llDb.db, ...raw.map((w) => w.bench.db)]) await db.exec('ANALYZE');
    }
    progress(`${kind}: warm-up done (${warmup} queries for each writer${analyze ? ', then ANALYZE' : ''})`);

    const ms: Record<Writer, number[]> = { ledgerlink: [], baseline: [], setBased: [] };
    let done = 0;
    for (const batch of batchesOf('B', 0, queries)) {
      ms.ledgerlink.push(await postBulk(client, batch));
      ms.baseline.push((await timed(() => rows.write(rows.bench.db, rows.main, actor, batch)))[1]);
      ms.setBased.push((await timed(() => sets.write(sets.bench.db, sets.main, actor, batch)))[1]);
      done += batch.length;
      const last = (w: Writer) => rate(batch.length * 2, ms[w].at(-1)!);
      progress(
        `${kind}: ${done}/${queries} queries — documents/s this batch: ledgerlink ${last('ledgerlink')}, ` +
          `row-by-row ${last('baseline')}, set-based ${last('setBased')}`,
      );
    }

    const mine = await fingerprint(llDb.db, client.entityId);
    const verification = {
      baseline: compare(mine, await fingerprint(rows.bench.db, rows.main)),
      setBased: compare(mine, await fingerprint(sets.bench.db, sets.main)),
    };
    const writers = {
      ledgerlink: summarise(queries, ms.ledgerlink),
      baseline: summarise(queries, ms.baseline),
      setBased: summarise(queries, ms.setBased),
    };
    return {
      result: {
        kind,
        database: llDb.label.replace(/, schema .*/, ''),
        warmupQueries: warmup,
        analyzed: analyze,
        writers,
        ratio: round(writers.ledgerlink.documentsPerSecond / writers.baseline.documentsPerSecond, 2),
        ratioToFloor: round(writers.ledgerlink.documentsPerSecond / writers.setBased.documentsPerSecond, 2),
        verification,
        identicalRows: [...verification.baseline, ...verification.setBased].every((v) => v.identical),
      },
      ledgerlink: { bench: llDb, app, client },
    };
  } catch (err) {
    await app?.close();
    await llDb.close();
    throw err;
  } finally {
    for (const w of raw) await w.bench.close();
  }
}
