/**
 * Bulk post-pay-allocate over real HTTP (issue #14): the workload of bench/throughput.ts, the app
 * listening on a loopback port, autocannon sending the bulk requests on N connections at once, each
 * request a distinct slice of the workload. In the same run and on the same kind of database: the
 * set-based raw-SQL floor, and the same requests one at a time through `inject` (no socket). Every
 * writer has its own fresh database; afterwards each ledgerlink database must hold exactly the
 * floor's rows, so the bench cannot pass by posting nothing.
 */
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
import { type ClientReport, type LoadResult, loadProblem, runClient, summarise } from './http-load.ts';
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
  /** The writers take turns: each sends 1/turns of the work, then the next writer. */
  turns: number;
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
  /** How many turns the writers took. */
  turns: number;
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
function postOverHttp(baseUrl: string, client: EntityClient, bodies: string[], connections: number) {
  return runClient({
    url: baseUrl,
    connections: Math.min(connections, bodies.length),
    requests: [
      {
        method: 'POST',
        paths: [BULK_PATH],
        headers: { ...client.headers, 'content-type': 'application/json' },
        bodies,
      },
    ],
    amount: bodies.length,
    timeoutSeconds: 300,
    countNotSuccess: true,
  });
}

async function ledgerlinkDatabase(kind: DbKind, url: string) {
  const bench = await openBenchDatabase(kind, url);
  try {
    const app = await startApp(bench.db);
    const close = async () => {
      await app.close();
      await bench.close();
    };
    return { bench, app, close, warm: await app.entity('WARM'), client: await app.entity('BENCH') };
  } catch (err) {
    await bench.close();
    throw err;
  }
}

/** The writers' order in turn `t`: each starts a turn once, so none always runs first after the others. */
function rotated<T>(writers: T[], t: number): T[] {
  const k = t % writers.length;
  return [...writers.slice(k), ...writers.slice(0, k)];
}

/**
 * Floor, inject, then HTTP at each connection count, each on a fresh database of `kind`. The
 * writers take turns, each turn sending its share of the work (`o.turns`), so a slow or a quiet
 * minute of a shared machine falls on all of them and not on one.
 */
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
  const turns = Math.max(1, Math.min(o.turns, work.length));
  if (o.connections.length === 0) throw new Error('runHttpPosting needs at least one connection count');

  const open: { close: () => Promise<void> }[] = [];
  try {
    // The floor: the same rows, set-based, batch by batch.
    const floorDb = await openBenchDatabase(kind, url);
    open.push(floorDb);
    const floorWarm = await baselineEntity(floorDb.db, 'WARM');
    const floorMain = await baselineEntity(floorDb.db, 'BENCH');
    for (const b of warm) await setBasedBatch(floorDb.db, floorWarm.entityId, 'bench:baseline', b);

    // The same requests, one at a time, through inject: the stack without a socket.
    const inj = await ledgerlinkDatabase(kind, url);
    open.push(inj);
    for (const b of warm) await postBulk(inj.warm, b);

    // The app listening on loopback, one database per connection count.
    const listeners: { connections: number; ll: Awaited<ReturnType<typeof ledgerlinkDatabase>>; baseUrl: string }[] =
      [];
    for (const connections of o.connections) {
      const ll = await ledgerlinkDatabase(kind, url);
      open.push(ll);
      const baseUrl = await ll.app.listen();
      const warmup = await postOverHttp(baseUrl, ll.warm, warmBodies, connections);
      const warmProblem = loadProblem(
        `${kind}: HTTP warm-up, ${connections} connections`,
        summarise(connections, [warmup]),
        warm.length,
      );
      if (warmProblem) throw new Error(warmProblem);
      listeners.push({ connections, ll, baseUrl });
    }

    let floorMs = 0;
    const injectSamples: number[] = [];
    const reports = listeners.map((): ClientReport[] => []);
    /** A writer sends the requests `from` … `to` - 1 of the work. */
    type Writer = (from: number, to: number) => Promise<void>;
    const writers: Writer[] = [
      async (from, to) => {
        for (const b of work.slice(from, to))
          floorMs += (await timed(() => setBasedBatch(floorDb.db, floorMain.entityId, 'bench:baseline', b)))[1];
      },
      async (from, to) => {
        for (const b of work.slice(from, to)) injectSamples.push(await postBulk(inj.client, b));
      },
      ...listeners.map((l, i): Writer => async (from, to) => {
        reports[i]!.push(await postOverHttp(l.baseUrl, l.ll.client, bodies.slice(from, to), l.connections));
      }),
    ];
    for (let turn = 0; turn < turns; turn++) {
      const from = Math.floor((turn * work.length) / turns);
      const to = Math.floor(((turn + 1) * work.length) / turns);
      for (const w of rotated(writers, turn)) await w(from, to);
      progress(`${kind}: posting over HTTP, turn ${turn + 1} of ${turns} done`);
    }

    const floorPrint = await fingerprint(floorDb.db, floorMain.entityId, 'reference');
    const floor = figures(documents, floorMs, 0);
    floor.ratioToFloor = 1;
    const injectVerification = compare(await fingerprint(inj.bench.db, inj.client.entityId, 'reference'), floorPrint);
    const injectIdentical = injectVerification.every((v) => v.identical);
    if (!injectIdentical) problems.push(`${kind}: inject wrote rows that differ from the floor's`);
    const inject: HttpPostingResult['inject'] = {
      ...figures(
        documents,
        injectSamples.reduce((sum, v) => sum + v, 0),
        floor.documentsPerSecond,
      ),
      ms: distribution(injectSamples),
      verification: injectVerification,
      identicalRows: injectIdentical,
    };
    progress(
      `${kind}: floor, set-based in batches of ${o.batch}: ${floor.documentsPerSecond} documents/s; ` +
        `inject, one request at a time: ${inject.documentsPerSecond} documents/s`,
    );

    const http: HttpWriterResult[] = [];
    for (const [i, l] of listeners.entries()) {
      const r: LoadResult = summarise(l.connections, reports[i]!);
      const problem = loadProblem(`${kind}: HTTP, ${l.connections} connections`, r, bodies.length);
      if (problem) problems.push(problem);
      const verification = compare(await fingerprint(l.ll.bench.db, l.ll.client.entityId, 'reference'), floorPrint);
      const identicalRows = verification.every((v) => v.identical);
      if (!identicalRows) problems.push(`${kind}: HTTP, ${l.connections} connections: rows differ from the floor's`);
      const f = figures(documents, r.seconds * 1000, floor.documentsPerSecond);
      http.push({
        ...f,
        connections: l.connections,
        ratioToInject: round(f.documentsPerSecond / inject.documentsPerSecond, 2),
        ms: r.ms,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        failedAnswers: r.notSuccess,
        verification,
        identicalRows,
      });
      progress(`${kind}: HTTP, ${l.connections} connections: ${f.documentsPerSecond} documents/s`);
    }

    // The last HTTP writer's database stays open for the read load.
    const last = listeners[listeners.length - 1]!;
    const side: HttpSide = { bench: last.ll.bench, app: last.ll.app, client: last.ll.client, baseUrl: last.baseUrl };
    open.pop();
    return {
      result: {
        kind,
        database: side.bench.label.replace(/, schema .*/, ''),
        queries: o.queries,
        documents,
        batchQueries: o.batch,
        warmupQueries: o.warmup,
        turns,
        floor,
        inject,
        http,
        problems,
      },
      side,
    };
  } finally {
    for (const w of open.reverse()) await w.close();
  }
}
