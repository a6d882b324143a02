/**
 * `fn` over `items`, at most `limit` at once, the results in the items' order: how a target whose
 * platform takes one document a request, and governs by requests at once (NetSuite, Intacct), fills
 * the slots the platform allows instead of one. After a call throws no new one starts; those under
 * way finish before the first error is thrown, so that the engine's lookups never race a write
 * still in flight (the habit of the Xero target's batches).
 *
 * @example const results = await mapAtMost(items, target.limits.concurrency, (d) => upsert(c, d));
 */
export async function mapAtMost<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
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
  if (failure) throw (failure as { error: unknown }).error;
  return out;
}
