/*
 * The least time a sequence of calls can take under a platform's published limits. Two kinds of
 * limit, and a platform may have both:
 *
 * - A rolling window ("no window of `windowMs` holds more than `limit` of the calls it counts"):
 *   Xero's 60 a minute and 5,000 a day, QuickBooks' 10 a second, Zoho's 100 a minute and 1,000 a
 *   day, MYOB's 8 a second, Business Central's 6,000 in 5 minutes. A daily quota is a window of a
 *   day like any other: the call past it waits until the first of the day leaves it.
 * - Calls at once ("no more than `limit` in flight"), NetSuite's and Intacct's only published
 *   limit. Alone it does not bound time: a call that answered at once would leave the slot at once.
 *   So the model gives each call the time the platform takes to answer it, `serviceMs` (the
 *   simulator's latency, standing for the platform's), during which it holds its slot.
 *
 * Each call goes as early as every window and a free slot allow, in the order the calls were made.
 * The minimum is when the last call could end: its start plus `serviceMs` (0 for windows only, so
 * then the time at which the last call could start). It is the floor a backfill's measured time is
 * divided by; nothing here depends on how the calls were actually paced.
 *
 * For one window of L calls a window W, C calls take floor((C − 1) / L) windows: L at once, then L
 * more each window. For S slots and a service time T alone, C calls take ceil(C / S) · T. Several
 * limits bind at once (QuickBooks' 10 a second inside 40 batch calls a minute): the schedule
 * honours all of them, so it is never below any one limit's floor.
 */

/** One published limit; `counts` says which calls it counts (QuickBooks' batch budget counts only batch calls). */
export interface WindowLimit<K extends string = string> {
  name: string;
  limit: number;
  windowMs: number;
  counts: (kind: K) => boolean;
}

/** Calls the platform lets in flight at once, and how long it takes to answer each (ms). */
export interface ConcurrencyLimit {
  limit: number;
  serviceMs: number;
}

/** When the last of `calls` could end at the earliest, in ms from the first start (0 for none). */
export function minimumMs<K extends string>(
  calls: readonly K[],
  limits: readonly WindowLimit<K>[],
  concurrency?: ConcurrencyLimit,
): number {
  if (calls.length === 0) return 0;
  // Per limit, the start times of the calls it counted, oldest first.
  const starts = limits.map(() => [] as number[]);
  // When each slot is free again; without a concurrency limit, one slot always free.
  const slots = concurrency ? Array<number>(concurrency.limit).fill(0) : [0];
  const serviceMs = concurrency?.serviceMs ?? 0;
  let t = 0;
  for (const kind of calls) {
    const slot = slots.indexOf(Math.min(...slots));
    if (concurrency) t = Math.max(t, slots[slot]!);
    limits.forEach((l, i) => {
      const s = starts[i]!;
      // The window is full while it holds `limit` calls: the call `limit` places back must leave it first.
      if (l.counts(kind) && s.length >= l.limit) t = Math.max(t, s[s.length - l.limit]! + l.windowMs);
    });
    limits.forEach((l, i) => {
      if (l.counts(kind)) starts[i]!.push(t);
    });
    slots[slot] = t + serviceMs;
  }
  return t + serviceMs;
}
