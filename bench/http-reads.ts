/**
 * Read API throughput under concurrent load (issue #14): autocannon against a mix of GET endpoints
 * on the database the HTTP posting left (bench/http-posting.ts), at 1, 8 and 32 connections, and
 * `GET /health` (one `SELECT 1`: the framework's floor) at the same counts in the same run. Every
 * answer must be 2xx; the figures are requests/s and per-request latencies as the client saw them.
 */
import type { DbKind } from './harness.ts';
import type { HttpSide } from './http-posting.ts';
import { type LoadRequest, type LoadResult, load, loadProblem } from './http-load.ts';
import { progress, round } from './stats.ts';
import { CUSTOMER_COUNT, customerCode } from './workload.ts';

export interface ReadsOptions {
  connections: number[];
  /** Seconds of load per mix and connection count. */
  seconds: number;
}

export interface ReadLoad extends LoadResult {
  /** ÷ the same mix's requests/s on one connection: how it scales. */
  scaling: number;
  /** ÷ `GET /health` at the same connection count (reads mix only). */
  ratioToHealth: number | null;
}

export interface ReadsResult {
  kind: DbKind;
  /** The endpoints of the mix, sent in turn on each connection. */
  endpoints: string[];
  /** Transactions of the entity read (what the posting wrote). */
  transactions: number;
  seconds: number;
  health: ReadLoad[];
  mix: ReadLoad[];
  problems: string[];
}

/** Distinct paths per endpoint of the mix, sent in turn (then again from the first). */
const PATHS_PER_ENDPOINT = 2000;

/** The mix: each request varies its customer or transaction, so no answer is the same one twice in a row. */
function mix(
  headers: Record<string, string>,
  firstId: number,
  count: number,
): { names: string[]; requests: LoadRequest[] } {
  const customers = (k: number) => customerCode(k % CUSTOMER_COUNT);
  const get = (name: string, path: (k: number) => string): [string, LoadRequest] => [
    name,
    { method: 'GET', headers, paths: Array.from({ length: PATHS_PER_ENDPOINT }, (_, k) => path(k)) },
  ];
  const entries = [
    get("customer's statement", (k) => `/v1/customers/${customers(k)}/statement`),
    get('customer list, page 1 of 50', () => '/v1/customers?pageSize=50'),
    get('one transaction', (k) => `/v1/transactions/${firstId + ((k * 7919) % count)}`),
    get("customer's transactions, page 1 of 50", (k) => `/v1/transactions?customerCode=${customers(k)}&pageSize=50`),
    get('aged debtors, whole ledger', () => '/v1/customers/statements'),
    get('trial balance', () => '/v1/reports/trial-balance'),
  ];
  return { names: entries.map(([name]) => name), requests: entries.map(([, r]) => r) };
}

/** Loads `side`'s server with the mix and with `/health`, at each connection count. */
export async function runReads(kind: DbKind, side: HttpSide, o: ReadsOptions): Promise<ReadsResult> {
  const { rows } = await side.bench.db.query<{ first: string; n: string }>(
    'SELECT min(id) AS first, count(*) AS n FROM transactions WHERE entity_id = $1',
    [side.client.entityId],
  );
  const firstId = Number(rows[0]!.first);
  const transactions = Number(rows[0]!.n);
  const problems: string[] = [];
  const { names, requests } = mix(side.client.headers, firstId, transactions);
  const health: LoadRequest[] = [{ method: 'GET', paths: ['/health'] }];

  const run = async (what: string, reqs: LoadRequest[], connections: number) => {
    // A second's warm-up at this count (connections opened, statements planned), not counted.
    await load({ url: side.baseUrl, connections, requests: reqs, seconds: 1 });
    const r = await load({ url: side.baseUrl, connections, requests: reqs, seconds: o.seconds });
    const problem = loadProblem(`${kind}: ${what}, ${connections} connections`, r);
    if (problem) problems.push(problem);
    progress(`${kind}: ${what}, ${connections} connections: ${r.requestsPerSecond} requests/s, p95 ${r.ms.p95} ms`);
    return r;
  };
  const healthLoads: LoadResult[] = [];
  const mixLoads: LoadResult[] = [];
  for (const c of o.connections) {
    healthLoads.push(await run('GET /health', health, c));
    mixLoads.push(await run('reads mix', requests, c));
  }
  const scaled = (loads: LoadResult[], floor: LoadResult[] | null): ReadLoad[] =>
    loads.map((r, i) => ({
      ...r,
      scaling: round(r.requestsPerSecond / loads[0]!.requestsPerSecond, 2),
      ratioToHealth: floor ? round(r.requestsPerSecond / floor[i]!.requestsPerSecond, 3) : null,
    }));
  return {
    kind,
    endpoints: names,
    transactions,
    seconds: o.seconds,
    health: scaled(healthLoads, null),
    mix: scaled(mixLoads, healthLoads),
    problems,
  };
}
