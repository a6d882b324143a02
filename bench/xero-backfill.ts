/**
 * A backfill of invoices into the simulated Xero under its published limits (60 calls a minute, 5 in
 * flight, per organisation), on a scaled clock, as a ratio to the minimum time those limits allow;
 * beside the one-call-per-invoice approach of today's tools measured the same way.
 *
 *   node bin/run-ts.js bench/xero-backfill.ts                  10,000 invoices (about a minute)
 *   node bin/run-ts.js bench/xero-backfill.ts --invoices 2000  fewer
 *
 * The clock: a Xero "minute" lasts `--minute-ms` (default 3,000 ms) in the simulator and in the rate
 * planner alike, so 60 calls a minute is 20 a second; each call keeps its real duration. The minimum
 * time for C calls is floor((C − 1) / 60) minutes: 60 at once, then 60 more each minute. The
 * one-call approach is measured on its first 600 invoices (10 minutes of budget) and extrapolated.
 * Goes through the Xero target itself (batches of 50, Idempotency-Keys, the planner on PGlite),
 * not the whole engine: what is measured is how close the calls come to the limits.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { openDatabase } from '../src/db/open.ts';
import { startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { createXeroTarget } from '../src/connectors/xero/target.ts';
import { allowOutboundHost } from '../src/sync/http.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import type { TargetCallContext, TargetInvoice } from '../src/sync/target.ts';

const { values: args } = parseArgs({
  options: {
    invoices: { type: 'string', default: '10000' },
    customers: { type: 'string', default: '200' },
    'minute-ms': { type: 'string', default: '3000' },
  },
});
const INVOICES = Number(args.invoices);
const CUSTOMERS = Number(args.customers);
const MINUTE = Number(args['minute-ms']);
const PER_MINUTE = 60;

const minimumMs = (calls: number) => Math.floor((calls - 1) / PER_MINUTE) * MINUTE;

async function run(batchSize: number, invoices: number) {
  const db = await openDatabase({ dataDir: 'memory' });
  const sim = await startXeroSimulator({ limits: { minuteMs: MINUTE, perDay: 1_000_000 } });
  // This process's own simulator, and nothing else (as the demo does).
  allowOutboundHost('127.0.0.1', Number(new URL(sim.url).port));
  const log = pino({ level: 'silent' });
  try {
    const auth = { accessToken: async () => 'bench-token', invalidate: () => undefined, secrets: () => [] };
    const target = createXeroTarget(
      {
        type: 'xero',
        clientId: 'bench',
        clientSecret: 'bench-secret',
        tenantId: sim.tenantId,
        baseUrl: sim.url,
        accounts: { sales: '200', bank: '090' },
        limits: { batchSize, callsPerDay: 1_000_000 },
      },
      { auth, planner: createRatePlanner(db, { log, windowsMs: { minute: MINUTE }, pollMs: 5 }), log },
    );
    const ctx = { db, log, actor: 'bench' } as TargetCallContext;
    const started = performance.now();
    const customers = await target.upsertCustomers(
      ctx,
      [...Array(CUSTOMERS).keys()].map((i) => ({
        sourceId: `c${i}`,
        code: `C${i}`,
        targetId: null,
        record: { kind: 'customer' as const, sourceId: `c${i}`, name: `Customer ${i}` },
      })),
    );
    const ids = customers.map((r) => (r.ok ? r.targetId : ''));
    const items: TargetInvoice[] = [...Array(invoices).keys()].map((i) => ({
      sourceId: `i${i}`,
      customerTargetId: ids[i % CUSTOMERS]!,
      productTargetIds: {},
      idempotencyKey: `ll-bench-${i}`,
      record: {
        kind: 'invoice',
        sourceId: `i${i}`,
        externalReference: `B-${i}`,
        customerSourceId: `c${i % CUSTOMERS}`,
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Ticket', netAmount: '100.00', vatAmount: '21.00', vatRate: '0.21' }],
      },
    }));
    // As the engine hands them over: the target's batch (one request per slot) at a time.
    const step = target.limits.batchSize;
    let failed = 0;
    for (let i = 0; i < items.length; i += step)
      failed += (await target.createInvoices(ctx, items.slice(i, i + step))).filter((r) => !r.ok).length;
    const ms = performance.now() - started;
    return {
      calls: sim.stats.calls,
      ms,
      failed,
      rateLimited: sim.stats.rateLimited,
      maxInFlight: sim.maxConcurrency(),
    };
  } finally {
    await sim.close();
    await db.close();
  }
}

const batched = await run(50, INVOICES);
const sample = Math.min(INVOICES, 600);
const single = await run(1, sample);
// The one-call approach for all the invoices: its sample's pace, over every call it would make.
const singleCalls = single.calls + (INVOICES - sample);
const singleMs = (single.ms / single.calls) * singleCalls;

const line = (name: string, calls: number, ms: number, extra: string) =>
  `| ${name} | ${calls} | ${(ms / 1000).toFixed(1)} | ${(minimumMs(calls) / 1000).toFixed(1)} | ${(ms / minimumMs(calls)).toFixed(2)} | ${extra} |`;
console.log(`Xero backfill of ${INVOICES} invoices to ${CUSTOMERS} customers; a Xero minute = ${MINUTE} ms\n`);
console.log('| approach | calls | seconds | minimum the limits allow (s) | ratio | notes |');
console.log('|---|---|---|---|---|---|');
console.log(
  line(
    'ledgerlink: batches of 50',
    batched.calls,
    batched.ms,
    `${batched.failed} failed, ${batched.rateLimited} answered 429, at most ${batched.maxInFlight} in flight`,
  ),
);
console.log(
  line(
    'one call per invoice',
    singleCalls,
    singleMs,
    `measured on ${sample} invoices, extrapolated; ${(singleMs / batched.ms).toFixed(0)}× ledgerlink's time`,
  ),
);
