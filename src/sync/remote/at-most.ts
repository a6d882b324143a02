import type { Logger } from 'pino';
import { ConnectorError } from '../connector.ts';
import { BatchInterrupted, type ItemResult } from '../target.ts';

/**
 * `fn` over `items`, at most `limit` at once, the results in the items' order: how a target whose
 * platform takes one document a request sends a batch (one at a time, or filling the slots of a
 * platform that governs by requests at once: NetSuite, Intacct). After a call throws no new one
 * starts; those under way finish before the first error is thrown, so that the engine's lookups
 * never race a write still in flight (the habit of the Xero target's batches). When some calls had
 * finished, the error is a BatchInterrupted carrying their results: the engine keeps those.
 *
 * @example const results = await mapAtMost(items, target.limits.concurrency, (d) => upsert(c, d));
 */
export async function mapAtMost<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<ItemResult>,
): Promise<ItemResult[]> {
  const out = new Array<ItemResult | undefined>(items.length);
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (next < items.length && !failure) {
      const n = next++;
      try {
        out[n] = await fn(items[n]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) {
    const { error } = failure as { error: unknown };
    throw out.some((r) => r !== undefined) ? new BatchInterrupted(out, error) : error;
  }
  return out as ItemResult[];
}

/**
 * `write` tried again, up to `attempts` times in all, while it fails with a retryable
 * ConnectorError (a lost answer, a 5xx: its outcome unknown) and the worker is not stopping; then
 * the last error is thrown. Safe only for a write that looks its record up first (by our key, name
 * or code) and links what it finds: the write that was lost is found rather than made again, so
 * nothing is written twice. Waits the Retry-After, or 100 ms times the attempt if longer.
 *
 * @example mapAtMost(items, 1, (c) => retryUnknownOutcome(() => upsertOne(c), { ...o, by: 'code' }));
 */
export async function retryUnknownOutcome<R>(
  write: () => Promise<R>,
  o: {
    attempts: number;
    signal?: AbortSignal | undefined;
    log: Logger;
    system: string;
    what: string;
    /** What the record is looked up by again, for the log: key, name, code. */
    by: string;
  },
): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof ConnectorError) || !err.retryable || attempt >= o.attempts || o.signal?.aborted) throw err;
      o.log.debug({ system: o.system, what: o.what, attempt }, `unknown outcome; looking the ${o.by} up again`);
      await new Promise((resolve) => setTimeout(resolve, Math.max(err.retryAfterMs ?? 0, 100 * attempt)));
    }
  }
}
