/*
 * The least time a sequence of calls can take under a platform's published limits: every limit is
 * a rolling window ("no window of `windowMs` holds more than `limit` of the calls it counts"), and
 * each call goes as early as every window allows, in the order the calls were made, taking no time
 * itself. That is the time at which the last call could start; it is the floor a backfill's
 * measured time is divided by. Nothing here depends on how the calls were actually paced.
 *
 * For one limit of L calls a window W, C calls take floor((C − 1) / L) windows: L at once, then L
 * more each window. Several limits bind at once (QuickBooks' 10 a second inside 40 batch calls a
 * minute): the schedule honours all of them, so it is never below any one limit's floor.
 */

/** One published limit; `counts` says which calls it counts (QuickBooks' batch budget counts only batch calls). */
export interface WindowLimit<K extends string = string> {
  name: string;
  limit: number;
  windowMs: number;
  counts: (kind: K) => boolean;
}

/** When the last of `calls` could start at the earliest, in ms from the first (0 for none or one). */
export function minimumMs<K extends string>(calls: readonly K[], limits: readonly WindowLimit<K>[]): number {
  // Per limit, the start times of the calls it counted, oldest first.
  const starts = limits.map(() => [] as number[]);
  let t = 0;
  for (const kind of calls) {
    limits.forEach((l, i) => {
      const s = starts[i]!;
      // The window is full while it holds `limit` calls: the call `limit` places back must leave it first.
      if (l.counts(kind) && s.length >= l.limit) t = Math.max(t, s[s.length - l.limit]! + l.windowMs);
    });
    limits.forEach((l, i) => {
      if (l.counts(kind)) starts[i]!.push(t);
    });
  }
  return t;
}
