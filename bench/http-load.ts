/**
 * Load over real HTTP with autocannon: N connections on a loopback socket, each sending its next
 * request as soon as the previous answer is in (closed loop). autocannon runs in a process of its
 * own (bench/http-load-client.ts), as a real client would, so its request building and response
 * parsing do not share the server's event loop. Latencies are taken per response there, so the
 * percentiles are the same nearest-rank ones as the rest of the bench (autocannon's own histogram
 * has no p95).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Distribution, distribution, round } from './stats.ts';

/** One kind of request in the load; plain data, so that it can cross into the client's process. */
export interface LoadRequest {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** The paths this request is sent to, in turn (one path: always that one). */
  paths: string[];
  /** The bodies it carries, in turn (`amount` = their number sends each exactly once). */
  bodies?: string[];
}

export interface LoadOptions {
  url: string;
  connections: number;
  /** The requests, sent in turn on each connection. */
  requests: LoadRequest[];
  /** Exactly this many requests in all… */
  amount?: number;
  /** …or as many as fit in this many seconds. */
  seconds?: number;
  /** Seconds before one request counts as timed out (a bulk request under load can take a while). */
  timeoutSeconds?: number;
  /** Count the 200 answers whose JSON `status` is not `Success` (a bulk answer whose queries failed). */
  countNotSuccess?: boolean;
}

export interface LoadResult {
  connections: number;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Answers with a status outside 2xx, connection errors, timeouts: all must be 0. */
  non2xx: number;
  errors: number;
  timeouts: number;
  /** 200 answers that were not `Success` (only counted with `countNotSuccess`). */
  notSuccess: number;
  /** Milliseconds from a request's first byte sent to its answer's last byte. */
  ms: Distribution;
}

/** What the client process sends back. */
export interface ClientReport {
  samples: number[];
  seconds: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  notSuccess: number;
}

const CLIENT = fileURLToPath(new URL('./http-load-client.ts', import.meta.url));
const RUN_TS = fileURLToPath(new URL('../bin/run-ts.js', import.meta.url));

/** Runs one load in a client process of its own and returns what it measured; the caller checks that nothing failed. */
export async function load(o: LoadOptions): Promise<LoadResult> {
  return summarise(o.connections, [await runClient(o)]);
}

/** Runs one load in a client process of its own and returns its raw report (see `summarise`). */
export async function runClient(o: LoadOptions): Promise<ClientReport> {
  const child = fork(RUN_TS, [CLIENT], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const report = await new Promise<ClientReport>((resolve, reject) => {
    let answered = false;
    child.once('message', (m) => {
      answered = true;
      resolve(m as ClientReport);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (!answered) reject(new Error(`the load client exited (${signal ?? code}) without a report`));
    });
    child.send(o);
  });
  child.disconnect();
  return report;
}

/** One result from the reports of loads at the same connection count (their seconds and answers added up). */
export function summarise(connections: number, reports: ClientReport[]): LoadResult {
  const samples = reports.flatMap((r) => r.samples);
  const seconds = reports.reduce((s, r) => s + r.seconds, 0);
  const sum = (k: 'non2xx' | 'errors' | 'timeouts' | 'notSuccess') => reports.reduce((s, r) => s + r[k], 0);
  return {
    connections,
    requests: samples.length,
    seconds: round(seconds, 2),
    requestsPerSecond: round(samples.length / seconds, 1),
    non2xx: sum('non2xx'),
    errors: sum('errors'),
    timeouts: sum('timeouts'),
    notSuccess: sum('notSuccess'),
    ms: samples.length > 0 ? distribution(samples) : distribution([0]),
  };
}

/** Why a load's result cannot be trusted, or null. */
export function loadProblem(what: string, r: LoadResult, expected?: number): string | null {
  const wrong: string[] = [];
  if (r.non2xx > 0) wrong.push(`${r.non2xx} answers outside 2xx`);
  if (r.errors > 0) wrong.push(`${r.errors} connection errors`);
  if (r.timeouts > 0) wrong.push(`${r.timeouts} timeouts`);
  if (r.notSuccess > 0) wrong.push(`${r.notSuccess} answers not Success`);
  if (expected !== undefined && r.requests !== expected) wrong.push(`${r.requests} answers for ${expected} requests`);
  if (r.requests === 0) wrong.push('no answer at all');
  return wrong.length ? `${what}: ${wrong.join(', ')}` : null;
}
