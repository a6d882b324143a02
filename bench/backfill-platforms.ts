import { LosslessNumber, stringify } from 'lossless-json';
import type { Logger } from 'pino';
import { MINOR_VERSION, PUBLISHED_LIMITS, rateScopes } from '../src/connectors/quickbooks/settings.ts';
import { startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { createQuickBooksTarget } from '../src/connectors/quickbooks/target.ts';
import { XERO } from '../src/connectors/xero/settings.ts';
import { startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { createXeroTarget } from '../src/connectors/xero/target.ts';
import type { Database } from '../src/db/database.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import { allowOutboundHost } from '../src/sync/http.ts';
import { RemoteClient } from '../src/sync/remote/client.ts';
import type { RatePlanner, TokenSource } from '../src/sync/remote/contracts.ts';
import type { TargetCallContext, TargetConnector, TargetInvoice } from '../src/sync/target.ts';
import type { ConcurrencyLimit, WindowLimit } from './backfill-minimum.ts';
import { throughTarget } from './backfill-session.ts';

/*
 * The shape every platform a backfill is measured on has: it starts its simulator on the scaled
 * clock, enforcing the platform's published limits; gives ledgerlink's target paced by the planner
 * it is handed; and sends invoices either as the engine hands them to the target (batches) or one
 * ordinary call per invoice, as the tools a backfill replaces do. Xero and QuickBooks are here
 * (QuickBooks' one-call approach is a client of its own); the other platforms are table entries in
 * bench/backfill-table.ts, run by bench/backfill-session.ts.
 */

/** A call as the limits see it: QuickBooks counts batch calls in a budget of their own. */
export type CallKind = 'call' | 'batch';

export type Approach = 'batched' | 'one-call';

export interface PlatformSession {
  target: TargetConnector;
  ctx: TargetCallContext;
  /** Sends every invoice by `approach`; answers how many the platform refused. */
  sendInvoices(items: TargetInvoice[]): Promise<number>;
  /** The calls the platform admitted, in order. */
  admitted(): CallKind[];
  /** Calls the platform answered 429. */
  rateLimited(): number;
  /** The references of the invoices the platform holds, from its store (one each when all is well). */
  booked(): string[];
  close(): Promise<void>;
}

/** How big a backfill is, and how long a platform minute lasts in real ms. */
export interface BackfillCounts {
  invoices: number;
  customers: number;
  minuteMs: number;
  /** Minutes of the platform's call budget the one-call approach is measured on. */
  sampleMinutes: number;
}

export interface BackfillPlatform {
  name: string;
  currency: string;
  vatRate: string;
  /** A full run's size and clock, and a quick one's (CI). */
  counts: { full: BackfillCounts; quick: BackfillCounts };
  /** The published limits a backfill's calls count against, on a clock whose minute lasts `minuteMs`. */
  limits(minuteMs: number): WindowLimit<CallKind>[];
  /** Platforms governed by calls at once: the slots, and the time each call holds one (the simulator's latency). */
  concurrency?: ((minuteMs: number) => ConcurrencyLimit) | undefined;
  /** Whether the target puts several documents in one call; if not, one call per invoice is what it does already. */
  batchesOnTheWire: boolean;
  /** How the limits read in the report. */
  describeLimits: string;
  open(o: {
    db: Database;
    planner: RatePlanner;
    log: Logger;
    minuteMs: number;
    approach: Approach;
  }): Promise<PlatformSession>;
}

/** Every window of a platform, scaled: a second and a day keep their proportion to the minute. */
export const scaledWindows = (minuteMs: number) => ({ second: minuteMs / 60, minute: minuteMs, day: minuteMs * 1440 });

const all = () => true;
const box = new SecretBox(Buffer.alloc(32, 1));

/** Up to `workers` at once, in order; answers the failures each returned. */
async function inParallel<T>(parts: T[], workers: number, send: (part: T) => Promise<number>): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < parts.length) failed += await send(parts[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(workers, parts.length) }, worker));
  return failed;
}

export const xero: BackfillPlatform = {
  name: 'Xero',
  currency: 'EUR',
  vatRate: '0.21',
  counts: {
    full: { invoices: 10_000, customers: 200, minuteMs: 10_000, sampleMinutes: 2 },
    quick: { invoices: 3500, customers: 20, minuteMs: 2000, sampleMinutes: 1 },
  },
  batchesOnTheWire: true,
  describeLimits: 'per organisation 60 calls a minute, 5 in flight, 5,000 a day; 10,000 a minute per app',
  limits: (minuteMs) => {
    const w = scaledWindows(minuteMs);
    return [
      { name: 'calls a minute', limit: XERO.tenantLimits.callsPerMinute, windowMs: w.minute, counts: all },
      { name: 'calls a day', limit: XERO.tenantLimits.callsPerDay, windowMs: w.day, counts: all },
      { name: 'app calls a minute', limit: XERO.appLimits.callsPerMinute, windowMs: w.minute, counts: all },
    ];
  },
  async open({ db, planner, log, minuteMs, approach }) {
    const w = scaledWindows(minuteMs);
    const sim = await startXeroSimulator({ limits: { minuteMs: w.minute, dayMs: w.day } });
    allowOutboundHost('127.0.0.1', Number(new URL(sim.url).port));
    const auth: TokenSource = {
      accessToken: async () => 'bench-token',
      invalidate: () => undefined,
      secrets: () => [],
    };
    const target = createXeroTarget(
      {
        type: 'xero',
        clientId: 'bench',
        clientSecret: 'bench-secret',
        tenantId: sim.tenantId,
        baseUrl: sim.url,
        accounts: { sales: '200', bank: '090' },
        // One call per invoice is the same target sending batches of one, up to 5 at once.
        limits: { batchSize: approach === 'batched' ? XERO.batchSize : 1 },
      },
      { auth, planner, log },
    );
    const s = { target, ctx: { db, log, actor: 'bench' } as TargetCallContext };
    return {
      ...s,
      sendInvoices: (items) => throughTarget(s, items),
      admitted: () => Array<CallKind>(sim.stats.calls - sim.stats.rateLimited).fill('call'),
      rateLimited: () => sim.stats.rateLimited,
      booked: () => [...sim.tenant().documents.values()].filter((d) => d.Type === 'ACCREC').map((d) => d.Reference),
      close: () => sim.close(),
    };
  },
};

export const quickbooks: BackfillPlatform = {
  name: 'QuickBooks Online',
  currency: 'USD',
  vatRate: '0.0725',
  counts: {
    full: { invoices: 10_000, customers: 200, minuteMs: 10_000, sampleMinutes: 2 },
    quick: { invoices: 3500, customers: 20, minuteMs: 2000, sampleMinutes: 1 },
  },
  batchesOnTheWire: true,
  describeLimits: 'per company 500 calls a minute, 10 a second, and 40 batch calls a minute (30 operations each)',
  limits: (minuteMs) => {
    const w = scaledWindows(minuteMs);
    return [
      { name: 'calls a second', limit: PUBLISHED_LIMITS.callsPerSecond, windowMs: w.second, counts: all },
      { name: 'calls a minute', limit: PUBLISHED_LIMITS.callsPerMinute, windowMs: w.minute, counts: all },
      {
        name: 'batch calls a minute',
        limit: PUBLISHED_LIMITS.batchPerMinute,
        windowMs: w.minute,
        counts: (k) => k === 'batch',
      },
    ];
  },
  async open({ db, planner, log, minuteMs, approach }) {
    const w = scaledWindows(minuteMs);
    const sim = await startQuickBooksSimulator({ limits: { secondMs: w.second, minuteMs: w.minute } });
    allowOutboundHost('127.0.0.1', Number(new URL(sim.url).port));
    const realm = sim.realmIds[0]!;
    const auth: TokenSource = {
      accessToken: () => Promise.resolve(sim.accessToken),
      invalidate: () => undefined,
      secrets: () => [sim.accessToken],
    };
    const target = createQuickBooksTarget(
      {
        db,
        log,
        mapping: {},
        settings: {
          type: 'quickbooks',
          clientId: 'bench',
          clientSecret: 'bench-secret',
          realmId: realm,
          baseUrl: sim.url,
        },
        entityId: '1',
        pipelineId: '1',
        pipelineName: 'bench',
        box,
      },
      { auth, planner },
    );
    const s = { target, ctx: { db, log, actor: 'bench' } as TargetCallContext };
    return {
      ...s,
      sendInvoices: (items) =>
        approach === 'batched'
          ? throughTarget(s, items)
          : oneCallEach(sim.url, realm, salesAccountId(sim.books(realm).all('Account')), auth, planner, log, items),
      admitted: () =>
        sim.log
          .filter((e) => e.status !== 429 && e.status !== 401)
          .map((e): CallKind => (e.path.endsWith('/batch') ? 'batch' : 'call')),
      rateLimited: () => sim.stats.throttled,
      booked: () =>
        sim
          .books(realm)
          .all('Invoice')
          .map((d) => String(d.DocNumber)),
      close: () => sim.close(),
    };
  },
};

/** The id of the company's income account the item sells to (a tool is configured with it). */
function salesAccountId(accounts: { Id: string; AccountType?: unknown }[]): string {
  const income = accounts.find((a) => a.AccountType === 'Income');
  if (!income) throw new Error('the simulated company has no income account');
  return income.Id;
}

/**
 * One ordinary `POST /invoice` per invoice, as a tool without batches sends them: through the same
 * client and planner (the company's budget, not the batch one), 4 at once, each with a requestid;
 * its "Sales" item created first by one `POST /item`. The invoice is the one ledgerlink sends.
 */
async function oneCallEach(
  baseUrl: string,
  realm: string,
  salesAccount: string,
  auth: TokenSource,
  planner: RatePlanner,
  log: Logger,
  items: TargetInvoice[],
): Promise<number> {
  const scopes = rateScopes(realm, undefined);
  const client = new RemoteClient({
    system: 'QuickBooks Online',
    baseUrl,
    auth,
    log,
    rate: { planner, scopes: [scopes.realm] },
  });
  const post = (entity: string, body: Record<string, unknown>, requestid: string) =>
    client.request({
      method: 'POST',
      path: `/v3/company/${realm}/${entity}`,
      query: { minorversion: MINOR_VERSION, requestid },
      body: stringify(body)!,
      headers: { 'content-type': 'application/json' },
      kind: 'write',
      retrySafe: true,
    });
  const item = await post(
    'item',
    { Name: 'Sales', Type: 'Service', IncomeAccountRef: { value: salesAccount } },
    'bench-item',
  );
  const itemId = (JSON.parse(item.text) as { Item: { Id: string } }).Item.Id;
  const amount = (text: string) => new LosslessNumber(text);
  return inParallel(items, PUBLISHED_LIMITS.concurrent, async (d) => {
    const line = d.record.lines[0]!;
    const res = await post(
      'invoice',
      {
        DocNumber: d.record.externalReference,
        TxnDate: d.record.invoiceDate,
        DueDate: d.record.dueDate,
        CustomerRef: { value: d.customerTargetId },
        CurrencyRef: { value: d.record.currency },
        Line: [
          {
            Description: line.description,
            DetailType: 'SalesItemLineDetail',
            Amount: amount(line.netAmount),
            SalesItemLineDetail: { ItemRef: { value: itemId }, TaxCodeRef: { value: 'TAX' } },
          },
        ],
        TxnTaxDetail: { TotalTax: amount(line.vatAmount ?? '0') },
      },
      d.idempotencyKey,
    );
    return res.status === 200 ? 0 : 1;
  });
}
