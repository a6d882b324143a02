/**
 * Bulk post-pay-allocate over real HTTP (issue #14): the workload of bench/throughput.ts, the app
 * listening on a loopback port, autocannon sending the bulk requests on N connections at once, each
 * request a distinct slice of the workload. In the same run and on the same kind of database: the
 * set-based raw-SQL floor, and the same requests one at a time through `inject` (no socket). Every
 * writer has its own fresh database; afterwards each ledgerlink database must hold exactly the
 * floor's rows, so the bench cannot pass by posting nothing.
 */
import type { Request } from 'autocannon';
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
import { type LoadResult, load, loadProblem } from './http-load.ts';
import { type Distribution, distribution, progress, rate, round, timed } from './stats.ts';
import { postBulk } from './throughput.ts';
import { type TableComparison, compare, fingerprint } from './verify.ts';
import { type QuerySpec, queryBody, querySpec } from './workload.ts';

const BULK_PATH = '/v1/sales/post-pay-allocate/bulk';

export interface HttpPostingOptions {
  queries: number;
  /** Queries per bulk request: small enough that every connection has several requests to send. */
  batch: number;
  warmup: number;
  connections: number[];
}

export interface WriterFigures {
  documentsPerSecond: number;
  seconds: number;
  /** ÷ the set-based floor's documents/s in the same run. */
  ratioToFloor: number;
}

export interface HttpWriterResult extends WriterFigures {
  connections: number;
  /** ÷ the same requests one at a time through `inject`. */
  ratioToInject: number;
  /** Milliseconds per bulk request, as the client saw it (queueing behind the other connections included). */
  ms: Distribution;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Answers that were 200 but not `Success` for every query of the request. */
  failedAnswers: number;
  verification: TableComparison[];
  identicalRows: boolean;
}

export interface HttpPostingResult {
  kind: DbKind;
  database: string;
  queries: number;
  documents: number;
  batchQueries: number;
  warmupQueries: number;
  floor: WriterFigures;
  inject: WriterFigures & { ms: Distribution; verification: TableComparison[]; identicalRows: boolean };
  http: HttpWriterResult[];
  /** Everything that makes a figure untrustworthy: non-2xx, errors, differing rows. Must be empty. */
  problems: string[];
}

/** The database, app and client of the last HTTP writer, kept open for the read load (bench/http-reads.ts). */
export interface HttpSide {
  bench: BenchDatabase;
  app: BenchApp;
  client: EntityClient;
  baseUrl: string;
}

function batches(tag: string, count: number, size: number): QuerySpec[][] {
  const out: QuerySpec[][] = [];
  for (let start = 0; start < count; start += size) {
    out.push(Array.from({ length: Math.min(size, count - start) }, (_, k) => querySpec(tag, start + k)));
  }
  return out;
}

const body = (batch: QuerySpec[]) => JSON.stringify({ queries: batch.map(queryBody) });

function figures(documents: number, ms: number, floor: number): WriterFigures {
  const documentsPerSecond = rate(documents, ms);
  return {
    documentsPerSecond,
    seconds: round(ms / 1000, 2),
    ratioToFloor: floor > 0 ? round(documentsPerSecond / floor, 2) : 0,
  };
}

/**
 * Sends every body once over `connections` connections and counts the answers that are not a full
 * `Success` (a 200 whose queries failed would otherwise pass as fast).
 */
async function postOverHttp(baseUrl: string, client: EntityClient, bodies: string[], connections: number) {
  let next = 0;
  let failedAnswers = 0;
  const request: Request = {
    method: 'POST',
    path: BULK_PATH,
    headers: { ...client.headers, 'content-type': 'application/json' },
    setupRequest: (req) => ({ ...req, body: bodies[next++]! }),
    onResponse: (status, text) => {
      if (status !== 200) return; // counted as non-2xx by autocannon
      const answer = JSON.parse(text) as { status?: string };
      if (answer.status !== 'Success') failedAnswers++;
    },
  };
  const result = await load({
    url: baseUrl,
    connections: Math.min(connections, bodies.length),
    requests: [request],
    amount: bodies.length,
    timeoutSeconds: 300,
  });
  return { result, failedAnswers, sent: next };
}

async function ledgerlinkDatabase(kind: DbKind, url: string) {
  const bench = await openBenchDatabase(kind, url);
  try {
    const app = await startApp(bench.db);
    return { bench, app, warm: await app.entity('WARM'), client: await app.entity('BENCH') };
  } catch (err) {
    await bench.close();
    throw err;
  }
}

/** Floor, inject, then HTTP at each connection count, each on a fresh database of `kind`. */
export async function runHttpPosting(
  kind: DbKind,
  url: string,
  o: HttpPostingOptions,
): Promise<{ result: HttpPostingResult; side: HttpSide }> {
  const work = batches('H', o.queries, o.batch);
  const warm = batches('HW', o.warmup, o.batch);
  const bodies = work.map(body);
  const warmBodies = warm.map(body);
  const documents = o.queries * 2;
  const problems: string[] = [];

  // The floor: the same rows, set-based, batch by batch.
  const floorDb = await openBenchDatabase(kind, url);
  let floorPrint;
  let floorMs = 0;
  try {
    const warmEntity = await baselineEntity(floorDb.db, 'WARM');
    const main = await baselineEntity(floorDb.db, 'BENCH');
    for (const b of warm) await setBasedBatch(floorDb.db, warmEntity.entityId, 'bench:baseline', b);
    for (const b of work)
      floorMs += (await timed(() => setBasedBatch(floorDb.db, main.entityId, 'bench:baseline', b)))[1];
    floorPrint = await fingerprint(floorDb.db, main.entityId, 'reference');
  } finally {
    await floorDb.close();
  }
  const floor = figures(documents, floorMs, 0);
  floor.ratioToFloor = 1;
  progress(`${kind}: floor, set-based in batches of ${o.batch}: ${floor.documentsPerSecond} documents/s`);

  // The same requests, one at a time, through inject: the stack without a socket.
  const inj = await ledgerlinkDatabase(kind, url);
  let inject: HttpPostingResult['inject'];
  try {
    for (const b of warm) await postBulk(inj.warm, b);
    const samples: number[] = [];
    for (const b of work) samples.push(await postBulk(inj.client, b));
    const ms = samples.reduce((s, v) => s + v, 0);
    const verification = compare(await fingerprint(inj.bench.db, inj.client.entityId, 'reference'), floorPrint);
    const identicalRows = verification.every((v) => v.identical);
    if (!identicalRows) problems.push(`${kind}: inject wrote rows that differ from the floor's`);
    inject = {
      ...figures(documents, ms, floor.documentsPerSecond),
      ms: distribution(samples),
      verification,
      identicalRows,
    };
  } finally {
    await inj.app.close();
    await inj.bench.close();
  }
  progress(`${kind}: inject, one request at a time: ${inject.documentsPerSecond} documents/s`);

  const http: HttpWriterResult[] = [];
  let side: HttpSide | undefined;
  for (const [i, connections] of o.connections.entries()) {
    const ll = await ledgerlinkDatabase(kind, url);
    try {
      const baseUrl = await ll.app.listen();
      const warmup = await postOverHttp(baseUrl, ll.warm, warmBodies, connections);
      const warmProblem = loadProblem(`${kind}: HTTP warm-up, ${connections} connections`, warmup.result, warm.length);
      if (warmProblem) throw new Error(warmProblem);
      const run = await postOverHttp(baseUrl, ll.client, bodies, connections);
      const r: LoadResult = run.result;
      const problem = loadProblem(`${kind}: HTTP, ${connections} connections`, r, bodies.length);
      if (problem) problems.push(problem);
      if (run.failedAnswers > 0)
        problems.push(`${kind}: HTTP, ${connections} connections: ${run.failedAnswers} answers not Success`);
      const verification = compare(await fingerprint(ll.bench.db, ll.client.entityId, 'reference'), floorPrint);
      const identicalRows = verification.every((v) => v.identical);
      if (!identicalRows) problems.push(`${kind}: HTTP, ${connections} connections: rows differ from the floor's`);
      const f = figures(documents, r.seconds * 1000, floor.documentsPerSecond);
      http.push({
        ...f,
        connections,
        ratioToInject: round(f.documentsPerSecond / inject.documentsPerSecond, 2),
        ms: r.ms,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        failedAnswers: run.failedAnswers,
        verification,
        identicalRows,
      });
      progress(`${kind}: HTTP, ${connections} connections: ${f.documentsPerSecond} documents/s`);
      if (i === o.connections.length - 1) side = { bench: ll.bench, app: ll.app, client: ll.client, baseUrl };
    } finally {
      if (!side) {
        await ll.app.close();
        await ll.bench.close();
      }
    }
  }
  if (!side) throw new Error('runHttpPosting needs at least one connection count');
  return {
    result: {
      kind,
      database: side.bench.label.replace(/, schema .*/, ''),
      queries: o.queries,
      documents,
      batchQueries: o.batch,
      warmupQueries: o.warmup,
      floor,
      inject,
      http,
      problems,
    },
    side,
  };
}
