/**
 * A backfill of invoices into each simulated platform (Xero, QuickBooks Online and the nine of
 * bench/backfill-table.ts) under its published limits, on a scaled clock, as a ratio to the minimum
 * time those limits allow; where the target batches, beside one call per invoice, as the tools a
 * backfill replaces send them, measured the same way (docs/performance.md, "Connector backfills").
 * Part of `npm run bench`; on its own:
 *
 *   node bin/run-ts.js bench/backfill.ts                          every platform, at its full counts
 *   node bin/run-ts.js bench/backfill.ts --platform xero,myob     some of them (names: PLATFORMS below)
 *   node bin/run-ts.js bench/backfill.ts --quick                  small counts on a shorter minute
 *   node bin/run-ts.js bench/backfill.ts --invoices 2000 --minute-ms 5000 --sample 300
 *
 * The clock: a platform "minute" lasts `--minute-ms` (default: the platform's, 10,000 ms for most) in
 * the simulator and in the rate planner alike, its second and day in proportion; each call keeps its real duration. What is
 * measured goes through the target itself (its batches, idempotency keys, the planner on PGlite),
 * handed the invoices as the engine hands them, not the whole engine: how close the calls come to
 * the limits. The one-call approach is measured on its first `--sample` invoices (default two
 * minutes of the platform's budget) and extrapolated at the ratio it reached.
 */
import { benchArgs, positiveInt, usageError } from './cli-args.ts';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import type { Database } from '../src/db/database.ts';
import { openDatabase } from '../src/db/open.ts';
import type { RatePermit, RatePlanner } from '../src/sync/remote/contracts.ts';
import { createRatePlanner, defaultMarginMs } from '../src/sync/remote/rate-planner.ts';
import type { TargetInvoice } from '../src/sync/target.ts';
import { minimumMs } from './backfill-minimum.ts';
import {
  type Approach,
  type BackfillCounts,
  type BackfillPlatform,
  type CallKind,
  quickbooks,
  scaledWindows,
  xero,
} from './backfill-platforms.ts';
import { MORE_PLATFORMS } from './backfill-table.ts';
import { table } from './stats.ts';

export const PLATFORMS: Record<string, BackfillPlatform> = { xero, quickbooks, ...MORE_PLATFORMS };
export type PlatformName = string;

export interface BackfillOptions extends BackfillCounts {
  /** Invoices the one-call approach is measured on; default `sampleMinutes` of the platform's call budget. */
  oneCallSample?: number | undefined;
  /**
   * Opens the fresh database each approach is measured on (default: a new in-memory PGlite, which
   * runs initdb and the migrations, seconds each). The tests start theirs from the suite's saved cluster.
   */
  openDb?: (() => Promise<Database>) | undefined;
}

/** One approach's backfill of all the invoices (the one-call approach: extrapolated from its sample). */
export interface ApproachResult {
  approach: Approach;
  invoices: number;
  /** The invoices actually sent, and how many the platform then held. */
  measuredInvoices: number;
  booked: number;
  /** Invoices held more than once (by reference): 0 when each was booked exactly once. */
  duplicates: number;
  /** Calls for all the invoices, customers and settings included (extrapolated for a sample). */
  calls: number;
  /** Measured calls that carried invoices. */
  invoiceCalls: number;
  ms: number;
  minimumMs: number;
  /** ms / minimumMs; null when the limits allow every call at once (minimum 0). */
  ratio: number | null;
  failed: number;
  rateLimited: number;
  /** The most calls holding a permit at once (between the planner's grant and the answer). */
  maxInFlight: number;
}

export interface BackfillResult {
  platform: string;
  limits: string;
  minuteMs: number;
  customers: number;
  batched: ApproachResult;
  /** Null where the target has no batch call: it sends one call per invoice already. */
  oneCall: ApproachResult | null;
}

/** The planner, counting the permits held at once. */
function countingPlanner(inner: RatePlanner): { planner: RatePlanner; maxInFlight: () => number } {
  let inFlight = 0;
  let max = 0;
  const planner: RatePlanner = {
    pause: (keys, ms) => inner.pause(keys, ms),
    observe: (key, remaining) => inner.observe(key, remaining),
    async acquire(scopes, kind, signal) {
      const permit = await inner.acquire(scopes, kind, signal);
      max = Math.max(max, ++inFlight);
      let released = false;
      const counted: RatePermit = {
        release() {
          if (!released) inFlight--;
          released = true;
          return permit.release();
        },
      };
      return counted;
    },
  };
  return { planner, maxInFlight: () => max };
}

function invoicesFor(p: BackfillPlatform, count: number, customerIds: string[]): TargetInvoice[] {
  const net = '100.00';
  const vat = p.vatRate === '0.21' ? '21.00' : '7.25';
  return Array.from({ length: count }, (_, i) => ({
    sourceId: `i${i}`,
    customerTargetId: customerIds[i % customerIds.length]!,
    productTargetIds: {},
    idempotencyKey: `ll-bench-${i}`,
    record: {
      kind: 'invoice',
      sourceId: `i${i}`,
      externalReference: `B-${i}`,
      customerSourceId: `c${i % customerIds.length}`,
      invoiceDate: '2026-11-02',
      dueDate: '2026-12-02',
      currency: p.currency,
      description: '',
      lines: [{ description: 'Ticket', netAmount: net, vatAmount: vat, vatRate: p.vatRate }],
    },
  }));
}

/** One approach, measured: customers, then the invoices, on a fresh database and simulator. */
async function measure(p: BackfillPlatform, approach: Approach, invoices: number, o: BackfillOptions) {
  const db = await (o.openDb ?? (() => openDatabase({ dataDir: 'memory' })))();
  const log = pino({ level: 'silent' });
  // The planner's margin covers calls delayed in transit and on this machine: real milliseconds,
  // not scaled ones. So each window gets the margin production gives the window it stands for
  // (5% of it, at least 100 ms, at most 250 ms: defaultMarginMs); scaled with the clock, a 1 s window
  // would get 9 ms, less than the delays of a loaded machine, and the platform would refuse calls it
  // was right to refuse. (Until 2026-12-04 this left out production's 100 ms floor, giving a 1 s
  // window 50 ms: AccountsIQ's simulator, on a 100 ms second, once refused a call under a loaded suite.)
  const realMs = (scaledMs: number) => (scaledMs * 60_000) / o.minuteMs;
  const { planner, maxInFlight } = countingPlanner(
    createRatePlanner(db, {
      log,
      windowsMs: scaledWindows(o.minuteMs),
      marginMs: (w) => defaultMarginMs(realMs(w)),
    }),
  );
  const session = await p.open({ db, planner, log, minuteMs: o.minuteMs, approach });
  try {
    const started = performance.now();
    const ids: string[] = [];
    // As the engine hands them over: the target's batch at a time (QuickBooks takes 30 in one call).
    for (let i = 0; i < o.customers; i += session.target.limits.batchSize) {
      const part = Array.from({ length: Math.min(session.target.limits.batchSize, o.customers - i) }, (_, k) => {
        const n = i + k;
        return {
          sourceId: `c${n}`,
          code: `C${n}`,
          targetId: null,
          record: { kind: 'customer' as const, sourceId: `c${n}`, name: `Customer ${n}` },
        };
      });
      for (const r of await session.target.upsertCustomers(session.ctx, part)) ids.push(r.ok ? r.targetId : '');
    }
    if (ids.some((id) => id === '')) throw new Error(`${p.name}: a bench customer was refused`);
    const before = session.admitted().length;
    const failed = await session.sendInvoices(invoicesFor(p, invoices, ids));
    const ms = performance.now() - started;
    const admitted = session.admitted();
    const references = session.booked();
    return {
      admitted,
      ms,
      failed,
      invoiceCalls: admitted.length - before,
      booked: references.length,
      duplicates: references.length - new Set(references).size,
      rateLimited: session.rateLimited(),
      maxInFlight: maxInFlight(),
    };
  } finally {
    await session.close();
    await db.close();
  }
}

/** Both approaches on one platform (the batched one alone where the target has no batch call). */
export async function runBackfill(name: PlatformName, o: BackfillOptions): Promise<BackfillResult> {
  const p = PLATFORMS[name];
  if (!p) throw new Error(`no platform ${name}: ${Object.keys(PLATFORMS).join(', ')}`);
  const limits = p.limits(o.minuteMs);
  const concurrency = p.concurrency?.(o.minuteMs);
  // The budget a minute of plain calls has: the smallest per-minute limit counting them (Xero's 60, QuickBooks' 500).
  const perMinute = Math.min(
    ...limits.filter((l) => l.windowMs === o.minuteMs && l.counts('call')).map((l) => l.limit),
  );
  const result = (approach: Approach, m: Awaited<ReturnType<typeof measure>>, calls: CallKind[], ms: number) => {
    const minimum = minimumMs(calls, limits, concurrency);
    return {
      approach,
      invoices: o.invoices,
      measuredInvoices: 0,
      booked: m.booked,
      duplicates: m.duplicates,
      calls: calls.length,
      invoiceCalls: m.invoiceCalls,
      ms,
      minimumMs: minimum,
      ratio: minimum > 0 ? ms / minimum : null,
      failed: m.failed,
      rateLimited: m.rateLimited,
      maxInFlight: m.maxInFlight,
    };
  };

  const b = await measure(p, 'batched', o.invoices, o);
  const batched = { ...result('batched', b, b.admitted, b.ms), measuredInvoices: o.invoices };
  const base = { platform: p.name, limits: p.describeLimits, minuteMs: o.minuteMs, customers: o.customers, batched };
  if (!p.batchesOnTheWire) return { ...base, oneCall: null };

  const sample = Math.min(o.invoices, o.oneCallSample ?? Math.ceil(o.sampleMinutes * perMinute));
  const s = await measure(p, 'one-call', sample, o);
  const measured = result('one-call', s, s.admitted, s.ms);
  // All the invoices: the sample's calls, then one more of the same kind per invoice left, at the sample's ratio.
  const all = [...s.admitted, ...Array<CallKind>(o.invoices - sample).fill(s.admitted.at(-1) ?? 'call')];
  const full = result('one-call', s, all, 0);
  const oneCall = {
    ...full,
    measuredInvoices: sample,
    ms: (measured.ratio ?? 1) * full.minimumMs,
    ratio: measured.ratio,
  };
  return { ...base, oneCall };
}

/** A duration on the platform's real clock: what the scaled one stands for. */
function realClock(ms: number, minuteMs: number): string {
  const s = Math.round((ms * 60_000) / minuteMs / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h ${m} min`;
  if (h > 0) return `${h} h ${m} min`;
  return m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}

const approaches = (r: BackfillResult) => (r.oneCall ? [r.batched, r.oneCall] : [r.batched]);

/** Whether a run did what it must: every invoice booked, none refused, no 429. */
export function backfillProblems(results: BackfillResult[]): string[] {
  return results.flatMap((r) =>
    approaches(r).flatMap((a) => {
      const what = `${r.platform}, ${a.approach}`;
      const out: string[] = [];
      if (a.booked !== a.measuredInvoices) out.push(`${what}: ${a.booked} of ${a.measuredInvoices} invoices booked`);
      if (a.duplicates > 0) out.push(`${what}: ${a.duplicates} invoices booked twice`);
      if (a.failed > 0) out.push(`${what}: ${a.failed} invoices refused`);
      if (a.rateLimited > 0) out.push(`${what}: ${a.rateLimited} calls answered 429`);
      return out;
    }),
  );
}

/** The report's table and notes. */
export function backfillReport(results: BackfillResult[]): string {
  const out: string[] = [];
  const rows: (string | number)[][] = [
    [
      'platform',
      'approach',
      'invoices',
      'calls',
      'seconds',
      'minimum s',
      'ratio',
      '429s',
      'failed',
      'max in flight',
      'real clock',
    ],
  ];
  for (const r of results) {
    for (const a of approaches(r)) {
      const sampled = a.measuredInvoices < a.invoices;
      rows.push([
        r.platform,
        a.approach === 'one-call'
          ? `one call per invoice${sampled ? '*' : ''}`
          : r.oneCall
            ? 'ledgerlink, batches'
            : 'ledgerlink (a call per invoice)',
        a.invoices,
        a.calls,
        (a.ms / 1000).toFixed(1),
        (a.minimumMs / 1000).toFixed(1),
        a.ratio === null ? '—' : a.ratio.toFixed(2),
        a.rateLimited,
        a.failed,
        a.maxInFlight,
        realClock(a.ms, r.minuteMs),
      ]);
    }
  }
  out.push(table(rows));
  for (const r of results) {
    const { batched: b, oneCall: c } = r;
    if (!c) {
      out.push(
        `${r.platform} (${r.limits}; a minute = ${r.minuteMs} ms, ${r.customers} customers): ` +
          `no call takes several invoices, so ledgerlink sends one per invoice too; ${b.invoiceCalls} calls carried them.`,
      );
      continue;
    }
    out.push(
      `${r.platform} (${r.limits}; a minute = ${r.minuteMs} ms, ${r.customers} customers): ` +
        `${b.invoiceCalls} calls carried the invoices; one call per invoice* measured on ${c.measuredInvoices} ` +
        `invoices (${c.invoiceCalls} calls, ratio ${c.ratio === null ? '—' : c.ratio.toFixed(2)}), extrapolated: ` +
        `${(c.ms / b.ms).toFixed(0)}× ledgerlink's time, and at least ${(c.minimumMs / b.ms).toFixed(0)}× at its minimum.`,
    );
  }
  return out.join('\n');
}

/**
 * A platform's counts for a full or a quick run (its table entry's; why each: docs/performance.md).
 * Quick: enough invoices that each window-limited platform needs more than one window of its
 * budget (else the minimum is 0), on a shorter minute, and one minute's sample.
 */
export function backfillCounts(quick: boolean, name: PlatformName): BackfillOptions {
  const p = PLATFORMS[name];
  if (!p) throw new Error(`no platform ${name}: ${Object.keys(PLATFORMS).join(', ')}`);
  return { ...p.counts[quick ? 'quick' : 'full'] };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values: args } = benchArgs(
    {
      options: {
        platform: { type: 'string', default: 'all' },
        quick: { type: 'boolean', default: false },
        invoices: { type: 'string' },
        customers: { type: 'string' },
        'minute-ms': { type: 'string' },
        sample: { type: 'string' },
      },
    },
    `Usage: node bin/run-ts.js bench/backfill.ts [--platform a,b] [--quick] [--invoices N] [--customers N] [--minute-ms MS] [--sample N]

A backfill of invoices into each simulated platform under its published limits, on a scaled clock,
as a ratio to the minimum time those limits allow (docs/performance.md, "Connector backfills").

  --platform a,b     some platforms (${Object.keys(PLATFORMS).join(', ')}), or all (default)
  --quick            small counts on a shorter minute
  --invoices N       invoices per platform (default: the platform's)
  --customers N      customers they are spread over (default: the platform's)
  --minute-ms MS     how long a platform minute lasts (default: the platform's, 10,000 for most)
  --sample N         invoices the one-call approach is measured on (default: two minutes' budget)
  -h, --help         this help`,
  );
  const names = args.platform === 'all' ? Object.keys(PLATFORMS) : args.platform.split(',');
  const unknown = names.filter((n) => !(n in PLATFORMS));
  if (unknown.length > 0)
    usageError(`--platform ${unknown.join(',')}: one or more of ${Object.keys(PLATFORMS).join(', ')}, or all`);
  const results: BackfillResult[] = [];
  for (const n of names) {
    const defaults = backfillCounts(args.quick, n);
    const o: BackfillOptions = {
      invoices: positiveInt(args.invoices, defaults.invoices, 'invoices'),
      customers: positiveInt(args.customers, defaults.customers, 'customers'),
      minuteMs: positiveInt(args['minute-ms'], defaults.minuteMs, 'minute-ms'),
      oneCallSample: args.sample === undefined ? undefined : positiveInt(args.sample, 1, 'sample'),
      sampleMinutes: defaults.sampleMinutes,
    };
    process.stderr.write(`  … ${n}: ${o.invoices} invoices on a ${o.minuteMs} ms minute\n`);
    results.push(await runBackfill(n, o));
    process.stderr.write(`${JSON.stringify(results.at(-1))}\n`);
  }
  process.stdout.write(`${backfillReport(results)}\n`);
  const problems = backfillProblems(results);
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n`);
    process.exitCode = 1;
  }
}
