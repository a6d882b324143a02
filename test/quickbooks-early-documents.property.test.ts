/**
 * Property test of documents that reach QuickBooks in any order: random groups of an invoice, a
 * payment that names it (or names nothing) and a refund of that payment, any of them possibly
 * missing, some events sent twice as new events, go through one webhook pipeline into one
 * QuickBooks company in a random order, and through another pipeline into a second company in the
 * natural order (invoice, payment, refund). The second company is the oracle: whatever the order,
 * the first must hold the same books (each invoice's balance, what each payment applies and leaves
 * unapplied, each refund receipt and its tax, each refund's cash out of a payment's unapplied
 * money) and the same documents waiting or parked, for the
 * same reasons. The invoices of some groups come through a third pipeline into the first company
 * (a shop's orders and a provider's payments). FC_SEED / FC_RUNS replay or lengthen it; the seed
 * is logged.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, drainTarget, syncService } from './helpers/sync.ts';
import { webhookClient, type WebhookClient } from './helpers/webhooks.ts';
import { type OrderGroup, groupEvents } from './helpers/any-order.ts';
import { processScope } from './helpers/scoped.ts';
import { scaledQuickBooks } from './helpers/quickbooks.ts';
import type { QuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import type { SyncService } from '../src/sync/service.ts';

const ANY = '4620816365000000101';
const NATURAL = '4620816365000000102';
const SECRET = 'order-webhook-secret-0123456789';

let t: TestApp;
let sync: SyncService;
let hooks: WebhookClient;
let qbo: QuickBooksSimulator;
/** Into the first company in any order, the orders of some groups apart; into the second in the natural order. */
let anyOrder: Pipeline;
let orders: Pipeline;
let natural: Pipeline;

const scope = processScope();

beforeAll(async () => {
  t = await createTestApp();
  await t.entity('ANYQBO', 'EUR', { standardTaxRate: '0.23' });
  // The oracle is another entity's: a pipeline of the same entity into another company would be
  // taken for one into the same (a refund whose payment another pipeline booked is sent, not held).
  await t.entity('NATQBO', 'EUR', { standardTaxRate: '0.23' });
  hooks = await webhookClient(t);
  sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  const company = await scaledQuickBooks(t.db, scope, { realms: [ANY, NATURAL], seed: 13 });
  qbo = company.qbo;
  const pipeline = (name: string, realmId: string, entity = 'ANYQBO') =>
    definePipeline(t.db, entity, {
      name,
      source: { type: 'webhook' },
      webhookSecret: SECRET,
      target: company.target(realmId),
    });
  anyOrder = await pipeline('any-order', ANY);
  orders = await pipeline('orders', ANY);
  natural = await pipeline('natural-order', NATURAL, 'NATQBO');
}, 60_000);
afterAll(async () => {
  await qbo.close();
  await hooks.close();
  await t.close();
});

interface Group extends OrderGroup {
  invoice: { net: number; elsewhere: boolean } | null;
}

const group: fc.Arbitrary<Group> = fc.record({
  invoice: fc.option(fc.record({ net: fc.integer({ min: 100, max: 40_000 }), elsewhere: fc.boolean() }), {
    freq: 4,
  }),
  payment: fc.option(fc.record({ cents: fc.integer({ min: 100, max: 60_000 }), namesInvoice: fc.boolean() }), {
    freq: 6,
  }),
  refund: fc.option(fc.record({ cents: fc.integer({ min: 100, max: 20_000 }) }), { freq: 2 }),
});

const customer = { sourceId: 'cust-any', name: 'Customer in any order' };
let seq = 0;
const events = (prefix: string, g: Group) =>
  groupEvents(prefix, g, { customer, vatRate: '0.23', nextId: () => `evt-${++seq}` });

async function send(pipeline: Pipeline, event: object): Promise<void> {
  const res = await hooks.deliver(pipeline.name, event, SECRET);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

/** What a company holds of one group, and what its pipelines keep waiting or parked. */
async function state(realm: string, pipelines: Pipeline[], prefix: string) {
  const books = qbo.books(realm);
  const mine = (type: 'Invoice' | 'Payment' | 'RefundReceipt' | 'JournalEntry', reference: string) =>
    books.all(type).filter((e) => String(e.PrivateNote).endsWith(`ledgerlink reference: ${reference}`));
  const invoices = mine('Invoice', `SO-${prefix}`);
  const payments = mine('Payment', `PAY-${prefix}`);
  const receipts = mine('RefundReceipt', `RF-${prefix}`);
  // A refund's cash out of what its payment held unapplied: the journal entry's lines.
  const journals = mine('JournalEntry', `RF-${prefix}`);
  const pay = payments[0];
  const { rows: exceptions } = await t.db.query<{ kind: string; reason_code: string }>(
    `SELECT kind, reason_code FROM exceptions
      WHERE pipeline_id = ANY($1::uuid[]) AND status = 'open' AND source_id = ANY($2::text[]) ORDER BY kind`,
    [pipelines.map((p) => p.id), [`order-${prefix}`, `pay-${prefix}`, `ref-${prefix}`]],
  );
  const { rows: noted } = await t.db.query(
    `SELECT 1 FROM payments_before_invoice WHERE pipeline_id = ANY($1::uuid[]) AND payment_source_id = $2`,
    [pipelines.map((p) => p.id), `pay-${prefix}`],
  );
  return {
    counts: [invoices.length, payments.length, receipts.length, journals.length],
    invoiceBalance: invoices[0] ? String(invoices[0].Balance) : null,
    paymentUnapplied: pay ? String(pay.UnappliedAmt) : null,
    paymentApplies: ((pay?.Line ?? []) as { Amount: unknown }[]).map((l) => String(l.Amount)),
    refund: receipts[0]
      ? [String(receipts[0].TotalAmt), String((receipts[0].TxnTaxDetail as { TotalTax: unknown }).TotalTax)]
      : null,
    refundInCash: journals[0]
      ? (journals[0].Line as { Amount: unknown; JournalEntryLineDetail: { PostingType: string } }[]).map(
          (l) => `${l.JournalEntryLineDetail.PostingType} ${String(l.Amount)}`,
        )
      : null,
    exceptions: exceptions.map((x) => `${x.kind} ${x.reason_code}`),
    paymentWaitsForInvoice: noted.length > 0,
  };
}

describe('documents in any order, into QuickBooks', () => {
  it(
    'hold the books the natural order holds, through one pipeline or two',
    async () => {
      const numRuns = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 5;
      const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
      console.log(`QuickBooks early documents property: seed ${seed}, ${numRuns} runs (replay with FC_SEED=${seed})`);
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(group, { minLength: 1, maxLength: 3 }),
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 18, maxLength: 18 }),
          fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }),
          async (groups, order, again) => {
            run++;
            const prefixes = groups.map((_, k) => `${seed}-${run}-${k}`);
            const once = groups.flatMap((g, k) =>
              events(prefixes[k]!, g).map((e) => ({ ...e, elsewhere: e.kind === 'invoice' && g.invoice!.elsewhere })),
            );
            // The oracle: the natural order, one pipeline.
            for (const e of once) await send(natural, e.event);
            // Some sent again as new events (a sender that re-sends): linked, never booked twice.
            const all = [
              ...once,
              ...once.flatMap((e, i) => (again[i] ? [{ ...e, event: { ...e.event, id: `evt-${++seq}` } }] : [])),
            ];
            const shuffled = all.map((e, i) => ({ e, key: order[i % order.length]! + i * 1e-9 }));
            shuffled.sort((a, b) => a.key - b.key);
            for (const { e } of shuffled) await send(e.elsewhere ? orders : anyOrder, e.event);
            for (const p of [natural, orders, anyOrder]) await drainTarget(t.db, sync, p, 'QuickBooks');
            // The workers' timer: the payments' pipeline applies what another pipeline's invoices let it.
            await sync.flushAll();

            for (const [k, g] of groups.entries()) {
              const label = `group ${k} ${JSON.stringify(g)} order ${shuffled.map((s) => s.e.kind).join(',')}`;
              const want = await state(NATURAL, [natural], prefixes[k]!);
              expect(await state(ANY, [anyOrder, orders], prefixes[k]!), label).toEqual(want);
            }
          },
        ),
        { seed, numRuns },
      );
      expect(qbo.duplicates('Payment', ANY)).toEqual([]);
      expect(qbo.duplicates('Invoice', ANY)).toEqual([]);
      expect(qbo.duplicates('JournalEntry', ANY)).toEqual([]);
    },
    Math.max(180_000, Number(process.env.FC_RUNS ?? 5) * 30_000),
  );
});
