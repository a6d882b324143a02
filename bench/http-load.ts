/**
 * Load over real HTTP with autocannon: N connections on a loopback socket, each sending its next
 * request as soon as the previous answer is in (closed loop). Latencies are taken per response
 * here, so the percentiles are the same nearest-rank ones as the rest of the bench (autocannon's own
 * histogram has no p95).
 */
import autocannon, { type Request } from 'autocannon';
import { type Distribution, distribution, round } from './stats.ts';

export interface LoadOptions {
  url: string;
  connections: number;
  /** The requests, sent in turn on each connection (a request's `setupRequest` can vary it each time). */
  requests: Request[];
  /** Exactly this many requests in all… */
  amount?: number;
  /** …or as many as fit in this many seconds. */
  seconds?: number;
  /** Seconds before one request counts as timed out (a bulk request under load can take a while). */
  timeoutSeconds?: number;
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
  /** Milliseconds from a request's first byte sent to its answer's last byte. */
  ms: Distribution;
}

/** Runs one load and returns what it measured; the caller checks that nothing failed. */
export async function load(o: LoadOptions): Promise<LoadResult> {
  const samples: number[] = [];
  const instance = autocannon({
    url: o.url,
    connections: o.connections,
    requests: o.requests,
    timeout: o.timeoutSeconds ?? 60,
    ...(o.amount === undefined ? { duration: o.seconds ?? 10 } : { amount: o.amount }),
  });
  instance.on('response', (_client, _status, _bytes, ms) => samples.push(ms));
  const started = performance.now();
  const r = await instance;
  const seconds = (performance.now() - started) / 1000;
  return {
    connections: o.connections,
    requests: samples.length,
    seconds: round(seconds, 2),
    requestsPerSecond: round(samples.length / seconds, 1),
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    ms: samples.length > 0 ? distribution(samples) : distribution([0]),
  };
}

/** Why a load's result cannot be trusted, or null. */
export function loadProblem(what: string, r: LoadResult, expected?: number): string | null {
  const wrong: string[] = [];
  if (r.non2xx > 0) wrong.push(`${r.non2xx} answers outside 2xx`);
  if (r.errors > 0) wrong.push(`${r.errors} connection errors`);
  if (r.timeouts > 0) wrong.push(`${r.timeouts} timeouts`);
  if (expected !== undefined && r.requests !== expected) wrong.push(`${r.requests} answers for ${expected} requests`);
  if (r.requests === 0) wrong.push('no answer at all');
  return wrong.length ? `${what}: ${wrong.join(', ')}` : null;
}
