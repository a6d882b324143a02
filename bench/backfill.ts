/**
 * A backfill of invoices into a simulated Xero and QuickBooks Online under their published limits,
 * on a scaled clock, as a ratio to the minimum time those limits allow; beside one call per
 * invoice, as the tools a backfill replaces send them, measured the same way (docs/performance.md,
 * "Connector backfills"). Part of `npm run bench`; on its own:
 *
 *   node bin/run-ts.js bench/backfill.ts                          both platforms, 10,000 invoices each
 *   node bin/run-ts.js bench/backfill.ts --platform xero          one of them (xero, quickbooks)
 *   node bin/run-ts.js bench/backfill.ts --quick                  small counts on a 2-second minute
 *   node bin/run-ts.js bench/backfill.ts --invoices 2000 --minute-ms 5000 --sample 300
 *
 * The clock: a platform "minute" lasts `--minute-ms` (default 10,000 ms) in the simulator and in the
 * rate planner alike, its second and day in proportion; each call keeps its real duration. What is
 * measured goes through the target itself (its batches, idempotency keys, the planner on PGlite),
 * handed the invoices as the engine hands them, not the whole engine: how close the calls come to
 * the limits. The one-call approach is measured on its first `--sample` invoices (default two
 * minutes of the platform's budget) and extrapolated at the ratio it reached.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { openDatabase } from '../src/db/open.ts';
import type { RatePermit, RatePlanner } from '../src/sync/remote/contracts.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import type { TargetInvoice } from '../src/sync/target.ts';
import { minimumMs } from './backfill-minimum.ts';
import {
  type Approach,
  type BackfillPlatform,
  type CallKind,
  quickbooks,
  scaledWindows,
  xero,
} from './backfill-platforms.ts';
import { table } from './stats.ts';

export const PLATFORMS = { xero, quickbooks } as const;
export type PlatformName = keyof typeof PLATFORMS;

export interface BackfillOptions {
  invoices: number;
  customers: number;
  /** How long a platform minute lasts, in real ms. */
  minuteMs: number;
  /** Invoices the one-call approach is measured on; default `sampleMinutes` of the platform's call budget. */
  oneCallSample?: number | undefined;
  sampleMinutes: number;
}

/** One approach's backfill of all the invoices (the one-call approach: extrapolated from its sample). */
export interface ApproachResult {
  approach: Approach;
  invoices: number;
  /** The invoices actually sent, and how many the platform then held. */
  measuredInvoices: number;
  booked: number;
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
  oneCall: ApproachResult;
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
  const db = await openDatabase({ dataDir: 'memory' });
  const log = pino({ level: 'silent' });
  // The planner's margin covers calls delayed in transit and on this machine: real milliseconds,
  // not scaled ones. So each window gets the margin production gives the window it stands for
  // (5% of it, at most 250 ms); scaled with the clock, a 1 s window would get 9 ms, less than the
  // delays of a loaded machine, and the platform would refuse calls it was right to refuse.
  const realMs = (scaledMs: number) => (scaledMs * 60_000) / o.minuteMs;
  const { planner, maxInFlight } = countingPlanner(
    createRatePlanner(db, {
      log,
      windowsMs: scaledWindows(o.minuteMs),
      marginMs: (w) => Math.min(250, Math.ceil(0.05 * realMs(w))),
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
    return {
      admitted,
      ms,
      failed,
      invoiceCalls: admitted.length - before,
      booked: session.booked(),
      rateLimited: session.rateLimited(),
      maxInFlight: maxInFlight(),
    };
  } finally {
    await session.close();
    await db.close();
  }
}

/** Both approaches on one platform. */
export async function runBackfill(name: PlatformName, o: BackfillOptions): Promise<BackfillResult> {
  const p = PLATFORMS[name];
  const limits = p.limits(o.minuteMs);
  // The budget a minute of plain calls has: the smallest per-minute limit counting them (Xero's 60, QuickBooks' 500).
  const perMinute = Math.min(
    ...limits.filter((l) => l.windowMs === o.minuteMs && l.counts('call')).map((l) => l.limit),
  );
  const result = (approach: Approach, m: Awaited<ReturnType<typeof measure>>, calls: CallKind[], ms: number) => {
    const minimum = minimumMs(calls, limits);
    return {
      approach,
      invoices: o.invoices,
      measuredInvoices: 0,
      booked: m.booked,
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

  const sample = Math.min(o.invoices, o.oneCallSample ?? o.sampleMinutes * perMinute);
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
  return { platform: p.name, limits: p.describeLimits, minuteMs: o.minuteMs, customers: o.customers, batched, oneCall };
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

/** Whether a run did what it must: every invoice booked, none refused, no 429. */
export function backfillProblems(results: BackfillResult[]): string[] {
  return results.flatMap((r) =>
    [r.batched, r.oneCall].flatMap((a) => {
      const what = `${r.platform}, ${a.approach}`;
      const out: string[] = [];
      if (a.booked !== a.measuredInvoices) out.push(`${what}: ${a.booked} of ${a.measuredInvoices} invoices booked`);
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
    for (const a of [r.batched, r.oneCall]) {
      const sampled = a.measuredInvoices < a.invoices;
      rows.push([
        r.platform,
        a.approach === 'batched' ? 'ledgerlink, batches' : `one call per invoice${sampled ? '*' : ''}`,
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
    out.push(
      `${r.platform} (${r.limits}; a minute = ${r.minuteMs} ms, ${r.customers} customers): ` +
        `${b.invoiceCalls} calls carried the invoices; one call per invoice* measured on ${c.measuredInvoices} ` +
        `invoices (${c.invoiceCalls} calls, ratio ${c.ratio === null ? '—' : c.ratio.toFixed(2)}), extrapolated: ` +
        `${(c.ms / b.ms).toFixed(0)}× ledgerlink's time, and at least ${(c.minimumMs / b.ms).toFixed(0)}× at its minimum.`,
    );
  }
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values: args } = parseArgs({
    options: {
      platform: { type: 'string', default: 'both' },
      quick: { type: 'boolean', default: false },
      invoices: { type: 'string' },
      customers: { type: 'string' },
      'minute-ms': { type: 'string' },
      sample: { type: 'string' },
    },
  });
  const names: PlatformName[] = args.platform === 'both' ? ['xero', 'quickbooks'] : [args.platform as PlatformName];
  if (names.some((n) => !(n in PLATFORMS))) throw new Error('--platform must be xero, quickbooks or both');
  const number = (v: string | undefined, fallback: number, what: string) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive integer`);
    return n;
  };
  const defaults = backfillCounts(args.quick);
  const o: BackfillOptions = {
    invoices: number(args.invoices, defaults.invoices, '--invoices'),
    customers: number(args.customers, defaults.customers, '--customers'),
    minuteMs: number(args['minute-ms'], defaults.minuteMs, '--minute-ms'),
    oneCallSample: args.sample === undefined ? undefined : number(args.sample, 1, '--sample'),
    sampleMinutes: defaults.sampleMinutes,
  };
  const results: BackfillResult[] = [];
  for (const n of names) {
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

/**
 * The counts of a full and of a quick run. Full: 10,000 invoices on a 10-second minute (why that
 * scale: docs/performance.md). Quick: enough invoices that each platform needs more than one
 * minute of its budget (else the minimum is 0), on a 2-second minute, and one minute's sample.
 */
export function backfillCounts(quick: boolean): BackfillOptions {
  return quick
    ? { invoices: 3500, customers: 20, minuteMs: 2000, sampleMinutes: 1 }
    : { invoices: 10_000, customers: 200, minuteMs: 10_000, sampleMinutes: 2 };
}
