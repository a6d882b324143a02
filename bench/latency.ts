import type { EntityClient } from './harness.ts';
import { type Distribution, distribution, progress, timed } from './stats.ts';
import { queryBody, querySpec } from './workload.ts';

export interface LatencyResult {
  warmupRequests: number;
  /** Milliseconds per request, measured around `inject` (routing, JSON, zod, posting, commit, reply). */
  ms: Distribution;
}

/** Sequential single `POST /v1/sales/post-pay-allocate` requests, each waiting for the previous. */
export async function runLatency(client: EntityClient, warmup: number, count: number): Promise<LatencyResult> {
  const samples: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const payload = JSON.stringify(queryBody(querySpec('L', i)));
    const [res, ms] = await timed(() => client.request('POST', '/v1/sales/post-pay-allocate', payload));
    if (res.status !== 201) throw new Error(`post-pay-allocate failed (${res.status}): ${res.body.slice(0, 500)}`);
    if (i >= warmup) samples.push(ms);
    if ((i + 1) % 100 === 0) progress(`latency: ${i + 1}/${warmup + count} requests`);
  }
  return { warmupRequests: warmup, ms: distribution(samples) };
}
