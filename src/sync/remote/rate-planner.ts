import { ConnectorError } from '../connector.ts';
import type { Logger } from 'pino';
import { type Queryable, retryConflicts } from '../../db/database.ts';
import { abortableSleep } from './client.ts';
import type { CallKind, RateLimits, RatePermit, RatePlanner, RateScope } from './contracts.ts';

/*
 * The rate planner (docs/connectors/remote-targets.md): the budget of each scope lives in
 * PostgreSQL (migration 0056), so every worker and pipeline using the same database shares it.
 *
 * - Windows are rolling and exact: a call is granted only when, for each limit, fewer than the
 *   limit's calls were granted in the window ending now (`rate_calls`, timestamps from the
 *   database's clock_timestamp(), the one clock every worker agrees on).
 * - The scope's row in `rate_scopes` is locked (SELECT … FOR UPDATE) while a call is checked and
 *   recorded, so two workers can never both take the last slot. Scopes are locked in key order.
 * - Concurrency slots are lease rows with an expiry: `release` deletes them, and a worker killed
 *   mid-call frees its slot when the lease expires.
 * - A refusal computes its exact wait (the call that must leave the window, the pause's end; for
 *   a concurrency slot, a short poll, cut short when a slot of this process is released), and
 *   sleeps outside any transaction: nothing is held while waiting or during the HTTP call.
 * - observe: when the platform reports fewer calls left than our count implies (another app, a
 *   user's script), the difference is recorded as phantom calls at the current time. Our count
 *   spans the window and its margin, as a grant's check does: a call granted just over a window
 *   ago may have reached the platform inside its window, and is no sign of another app. They leave
 *   the window a full window later, which may be later than the platform forgets the real ones:
 *   slower than necessary for at most one window, never faster than allowed.
 */

export interface RatePlannerOptions {
  log?: Logger | undefined;
  /** Replaceable for tests: how a refused acquire waits. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  /** How long a concurrency slot is held when a worker dies without releasing it. Default 120 s. */
  leaseMs?: number | undefined;
  /** How often a caller waiting for a concurrency slot held by another process checks again. Default 50 ms. */
  pollMs?: number | undefined;
  /** The windows' lengths; scaled down only in tests. Default 1 s, 60 s, 24 h. */
  windowsMs?: { second?: number; minute?: number; day?: number } | undefined;
  /**
   * How much longer than its window a call is counted: a call granted here reaches the platform a
   * few milliseconds later, and by a varying delay, so two calls granted exactly a window apart can
   * land inside one window of the platform's clock. Default 5 % of the window, at least 100 ms (a
   * network's delays vary by more than the 50 ms of 5 % of a second: the backfill bench, loaded,
   * saw MYOB's one-second window refuse calls granted 50 ms apart) and at most 250 ms.
   */
  marginMs?: ((windowMs: number) => number) | undefined;
  /**
   * The longest an `acquire` waits for the windows (the minute's, a pause): beyond it (the day's
   * budget spent, a long Retry-After) it fails with a retryable ConnectorError carrying the wait,
   * so the engine sends the documents again then, instead of a worker sleeping for hours. A wait
   * for a concurrency slot is not bounded (slots free within a request's timeout). Default 5 min.
   */
  maxWaitMs?: number | undefined;
}

/** A granted call; `grantedAt` is the database's time of the grant (for diagnostics). */
export interface PlannedPermit extends RatePermit {
  readonly grantedAt: string;
}

const DEFAULT_WRITE_RESERVE = 0.2;

type Window = { limit: keyof RateLimits; ms: number };

function checkLimits(scope: RateScope): void {
  const l = scope.limits;
  for (const k of ['callsPerSecond', 'callsPerMinute', 'callsPerDay', 'concurrent'] as const) {
    const v = l[k];
    if (v !== undefined && !(Number.isInteger(v) && v > 0))
      throw new Error(`rate scope ${scope.key}: ${k} must be a whole number above 0, not ${v}`);
  }
  const r = l.writeReserve;
  if (r !== undefined && !(r >= 0 && r <= 1))
    throw new Error(`rate scope ${scope.key}: writeReserve must be between 0 and 1, not ${r}`);
}

/**
 * The waits of every planner in this process, by platform (the part of a scope key before `:`,
 * a bounded set): how many times an acquire slept and for how long in all. `GET /metrics` reads it.
 */
export const rateWaits = new Map<string, { count: number; seconds: number }>();

function recordWait(keys: string[], ms: number): void {
  for (const system of new Set(keys.map((k) => k.split(':')[0] ?? k))) {
    const tally = rateWaits.get(system) ?? { count: 0, seconds: 0 };
    tally.count += 1;
    tally.seconds += ms / 1000;
    rateWaits.set(system, tally);
  }
}

/** Who an exhausted budget belongs to, for the error: the platform part of the scope keys (`xero`). */
function systemOf(keys: string[]): string {
  return [...new Set(keys.map((k) => k.split(':')[0]))].join(', ') + ' rate planner';
}

/** How much longer than a window of `windowMs` a call is counted, unless told otherwise (`marginMs`). */
export function defaultMarginMs(windowMs: number): number {
  return Math.min(250, Math.max(100, Math.ceil(windowMs * 0.05)));
}

/** Creates a planner whose budget is kept in `db` (which must not be inside a transaction). */
export function createRatePlanner(db: Queryable, opts: RatePlannerOptions = {}): RatePlanner {
  const sleep = opts.sleep ?? abortableSleep;
  const leaseMs = opts.leaseMs ?? 120_000;
  const pollMs = opts.pollMs ?? 50;
  const windows: Window[] = [
    { limit: 'callsPerSecond', ms: opts.windowsMs?.second ?? 1000 },
    { limit: 'callsPerMinute', ms: opts.windowsMs?.minute ?? 60_000 },
    { limit: 'callsPerDay', ms: opts.windowsMs?.day ?? 86_400_000 },
  ];
  const maxWaitMs = opts.maxWaitMs ?? 300_000;
  const margin = opts.marginMs ?? defaultMarginMs;
  const dayMs = windows[2]!.ms;
  const minuteMs = windows[1]!.ms;
  // Scopes whose row exists, and the limits last asked with (observe compares against them).
  const known = new Map<string, RateLimits>();
  // Callers of this process waiting for a concurrency slot: a release here wakes them at once.
  const waiters = new Set<() => void>();

  /** How long the calls of a scope are kept: its longest window (the minute at least, for observe). */
  const keepMs = (l: RateLimits): number =>
    Math.max(minuteMs, ...windows.filter((w) => l[w.limit] !== undefined).map((w) => w.ms + margin(w.ms)));

  async function ensureScopes(keys: string[]): Promise<void> {
    const missing = keys.filter((k) => !known.has(k));
    if (missing.length === 0) return;
    await db.query('INSERT INTO rate_scopes (scope) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT DO NOTHING', [
      missing,
    ]);
  }

  async function lock(tx: Queryable, keys: string[]): Promise<{ now: string; blocked: Map<string, number> }> {
    const { rows } = await tx.query<{ scope: string }>(
      'SELECT scope FROM rate_scopes WHERE scope = ANY($1::text[]) ORDER BY scope FOR UPDATE',
      [keys],
    );
    if (rows.length !== keys.length) throw new Error(`rate scopes missing: ${keys.join(', ')}`);
    // The time is read after the locks are held: a grant is stamped with when it was decided.
    const clock = await tx.query<{ now: string }>('SELECT clock_timestamp()::text AS now');
    const now = clock.rows[0]!.now;
    const b = await tx.query<{ scope: string; blocked_ms: string }>(
      `SELECT scope, (EXTRACT(EPOCH FROM (blocked_until - $2::timestamptz)) * 1000)::text AS blocked_ms
         FROM rate_scopes WHERE scope = ANY($1::text[]) AND blocked_until > $2::timestamptz`,
      [keys, now],
    );
    return { now, blocked: new Map(b.rows.map((r) => [r.scope, Number(r.blocked_ms)])) };
  }

  /** How long before this scope allows one more call of `kind` (0: now), and whether a slot is the reason. */
  async function waitFor(
    tx: Queryable,
    scope: RateScope,
    kind: CallKind,
    now: string,
  ): Promise<{ ms: number; slot: boolean }> {
    let ms = 0;
    for (const w of windows) {
      let limit = scope.limits[w.limit];
      if (limit === undefined) continue;
      if (w.limit === 'callsPerDay' && kind === 'read') {
        limit = Math.floor((1 - (scope.limits.writeReserve ?? DEFAULT_WRITE_RESERVE)) * limit);
        if (limit < 1) throw new Error(`rate scope ${scope.key}: writeReserve leaves no daily calls for reads`);
      }
      // The limit-th most recent call in the window: while it is there, the window is full.
      const { rows } = await tx.query<{ wait_ms: string }>(
        `SELECT (EXTRACT(EPOCH FROM (at + $3 * interval '1 millisecond' - $2::timestamptz)) * 1000)::text AS wait_ms
           FROM rate_calls
          WHERE scope = $1 AND at > $2::timestamptz - $3 * interval '1 millisecond'
          ORDER BY at DESC OFFSET $4 LIMIT 1`,
        [scope.key, now, w.ms + margin(w.ms), limit - 1],
      );
      if (rows[0]) ms = Math.max(ms, Math.ceil(Number(rows[0].wait_ms)));
    }
    const concurrent = scope.limits.concurrent;
    if (concurrent === undefined) return { ms, slot: false };
    await tx.query('DELETE FROM rate_leases WHERE scope = $1 AND expires_at <= $2::timestamptz', [scope.key, now]);
    const { rows } = await tx.query<{ n: number; first_ms: string | null }>(
      `SELECT count(*)::int AS n, (EXTRACT(EPOCH FROM (min(expires_at) - $2::timestamptz)) * 1000)::text AS first_ms
         FROM rate_leases WHERE scope = $1`,
      [scope.key, now],
    );
    const { n, first_ms } = rows[0]!;
    if (n < concurrent) return { ms, slot: false };
    // A slot frees when its holder releases it (any time) or its lease expires: poll until then.
    return { ms: Math.max(ms, Math.min(pollMs, Math.ceil(Number(first_ms ?? pollMs)))), slot: true };
  }

  async function grant(tx: Queryable, scopes: RateScope[], kind: CallKind, now: string): Promise<string[]> {
    const leases: string[] = [];
    for (const s of scopes) {
      await tx.query('INSERT INTO rate_calls (scope, at, kind) VALUES ($1, $2::timestamptz, $3)', [s.key, now, kind]);
      // Bounded: the calls no window of this scope can count any more go as new ones come.
      await tx.query(
        `DELETE FROM rate_calls WHERE scope = $1 AND at <= $2::timestamptz - $3 * interval '1 millisecond'`,
        [s.key, now, keepMs(s.limits)],
      );
      if (s.limits.concurrent !== undefined) {
        const { rows } = await tx.query<{ id: string }>(
          `INSERT INTO rate_leases (scope, expires_at) VALUES ($1, $2::timestamptz + $3 * interval '1 millisecond') RETURNING id`,
          [s.key, now, leaseMs],
        );
        leases.push(rows[0]!.id);
      }
    }
    return leases;
  }

  function permit(leases: string[], grantedAt: string): PlannedPermit {
    let released = false;
    return {
      grantedAt,
      async release() {
        if (released || leases.length === 0) return;
        released = true;
        try {
          await db.query('DELETE FROM rate_leases WHERE id = ANY($1::bigint[])', [leases]);
        } finally {
          for (const wake of [...waiters]) wake();
        }
      },
    };
  }

  /** Sleeps `ms`, or less when a slot of this process is released (only when waiting for one). */
  function wait(ms: number, slot: boolean, signal?: AbortSignal): Promise<void> {
    if (!slot) return sleep(ms, signal);
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    waiters.add(wake);
    return Promise.race([sleep(ms, signal), woken]).finally(() => waiters.delete(wake));
  }

  return {
    async acquire(scopes, kind, signal) {
      // A lock taken inside a caller's transaction would be held until it commits, sleep and HTTP call included.
      if (db.inTransaction) throw new Error('the rate planner runs on the database itself, never inside a transaction');
      const sorted = [...scopes].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const s of sorted) checkLimits(s);
      const keys = sorted.map((s) => s.key);
      if (new Set(keys).size !== keys.length) throw new Error(`rate scopes repeated: ${keys.join(', ')}`);
      await ensureScopes(keys);
      for (const s of sorted) known.set(s.key, s.limits);
      for (;;) {
        if (signal?.aborted) throw signal.reason as Error;
        const decided = await retryConflicts(() =>
          db.transaction(async (tx) => {
            const { now, blocked } = await lock(tx, keys);
            let ms = Math.max(0, ...blocked.values());
            let slot = false;
            for (const s of sorted) {
              const w = await waitFor(tx, s, kind, now);
              ms = Math.max(ms, w.ms);
              slot ||= w.slot;
            }
            if (ms > 0) return { ms, slot, granted: null };
            return { ms, slot, granted: permit(await grant(tx, sorted, kind, now), now) };
          }),
        );
        if (decided.granted) return decided.granted;
        if (!decided.slot && decided.ms > maxWaitMs) {
          throw new ConnectorError(
            systemOf(keys),
            `the call budget of ${keys.join(', ')} is spent: the next call is allowed in ${Math.ceil(decided.ms / 1000)} s; ` +
              'the documents are sent again then',
            { retryable: true, retryAfterMs: decided.ms },
          );
        }
        opts.log?.debug({ scopes: keys, kind, waitMs: decided.ms }, 'rate planner: waiting');
        recordWait(keys, decided.ms);
        await wait(decided.ms, decided.slot, signal);
      }
    },

    async pause(scopeKeys, ms) {
      if (scopeKeys.length === 0 || !(ms > 0)) return;
      const keys = [...new Set(scopeKeys)].sort();
      await ensureScopes(keys);
      // Under the same locks, in the same order, as acquire: a pause never deadlocks with a grant.
      await retryConflicts(() =>
        db.transaction(async (tx) => {
          await lock(tx, keys);
          await tx.query(
            `UPDATE rate_scopes SET blocked_until = GREATEST(COALESCE(blocked_until, '-infinity'),
                    clock_timestamp() + $2 * interval '1 millisecond')
              WHERE scope = ANY($1::text[])`,
            [keys, Math.ceil(ms)],
          );
        }),
      );
      opts.log?.debug({ scopes: keys, ms }, 'rate planner: paused');
    },

    async observe(scopeKey, remaining) {
      const limits = known.get(scopeKey);
      if (!limits) return;
      const checks = [
        // Our calls are counted over the window and its margin, as acquire counts them: a call granted
        // just over a window ago may have reached the platform inside its current window (its answer
        // says so), and counting it missing would add a phantom that slows the next window for nothing.
        { left: remaining.minute, limit: limits.callsPerMinute, ms: minuteMs + margin(minuteMs) },
        { left: remaining.day, limit: limits.callsPerDay, ms: dayMs + margin(dayMs) },
      ].filter((c) => c.left !== undefined && c.limit !== undefined && Number.isFinite(c.left));
      if (checks.length === 0) return;
      await retryConflicts(() =>
        db.transaction(async (tx) => {
          const { now } = await lock(tx, [scopeKey]);
          for (const c of checks) {
            const { rows } = await tx.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM rate_calls
                WHERE scope = $1 AND at > $2::timestamptz - $3 * interval '1 millisecond'`,
              [scopeKey, now, c.ms],
            );
            const used = c.limit! - Math.max(0, Math.floor(c.left!));
            const missing = Math.min(used - rows[0]!.n, c.limit!);
            if (missing <= 0) continue;
            await tx.query(
              `INSERT INTO rate_calls (scope, at, kind) SELECT $1, $2::timestamptz, 'phantom' FROM generate_series(1, $3::int)`,
              [scopeKey, now, missing],
            );
            opts.log?.debug(
              { scope: scopeKey, phantom: missing, windowMs: c.ms },
              'rate planner: platform counts more calls',
            );
          }
        }),
      );
    },
  };
}
