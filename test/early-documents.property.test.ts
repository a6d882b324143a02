/**
 * Property test of documents that arrive in any order (webhooks come in no guaranteed order):
 * random groups of an invoice, a payment that names it (or names nothing), and a refund of that
 * payment, any of them possibly missing, are sent through a webhook pipeline into the embedded
 * ledger in a random order. Whatever the order, the books must be those of the natural one
 * (invoice, payment, refund): the payment pays its invoice first, up to what the invoice asks, and
 * the refund is set against what the payment has left. A payment waiting for an invoice that never
 * came keeps its refund waiting too, and nothing else is left waiting. Some events are sent twice
 * (a sender re-sending them as new events): nothing is booked or allocated twice. FC_SEED /
 * FC_RUNS replay or lengthen it; the seed is logged.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants } from './helpers/ledger.ts';
import { definePipeline } from './helpers/sync.ts';
import { webhookClient, type WebhookClient } from './helpers/webhooks.ts';
import { type OrderGroup, groupEvents } from './helpers/any-order.ts';

const SECRET = 'order-webhook-secret-0123456789';
let t: TestApp;
let c: Client;
let hooks: WebhookClient;

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('ORDER', 'EUR', { standardTaxRate: '0.21' });
  hooks = await webhookClient(t);
  await definePipeline(t.db, 'ORDER', { name: 'any-order', source: { type: 'webhook' }, webhookSecret: SECRET });
});
afterAll(async () => {
  await hooks.close();
  await t.close();
});

type Group = OrderGroup;

const cents = fc.integer({ min: 100, max: 60_000 });
const group: fc.Arbitrary<Group> = fc.record({
  invoice: fc.option(fc.record({ net: fc.integer({ min: 100, max: 40_000 }) }), { freq: 4 }),
  payment: fc.option(fc.record({ cents, namesInvoice: fc.boolean() }), { freq: 6 }),
  refund: fc.option(fc.record({ cents }), { freq: 2 }),
});

const customer = { sourceId: 'cust-order', name: 'Customer in any order' };
let seq = 0;
const events = (prefix: string, g: Group) =>
  groupEvents(prefix, g, { customer, vatRate: '0.21', nextId: () => `evt-${++seq}` });

async function send(event: object): Promise<void> {
  const res = await hooks.deliver('any-order', event, SECRET);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

/** What the ledger holds of one group: the documents' ids and gross, allocations between them, what waits. */
async function booked(prefix: string) {
  const { rows: docs } = await t.db.query<{ id: string; type: string; gross: string }>(
    `SELECT id, type, gross FROM transactions WHERE entity_id = $1 AND external_reference = ANY($2::text[])`,
    [c.entityId, [`SO-${prefix}`, `PAY-${prefix}`, `RF-${prefix}`]],
  );
  const doc = (type: string) => docs.find((d) => d.type === type);
  const between = async (debit: string | undefined, credit: string | undefined) => {
    if (!debit || !credit) return 0n;
    const { rows } = await t.db.query<{ amount: string | null }>(
      `SELECT sum(a.amount)::text AS amount FROM allocations a
        WHERE a.debit_transaction_id = $1 AND a.credit_transaction_id = $2
          AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)`,
      [debit, credit],
    );
    return BigInt(rows[0]?.amount ?? '0');
  };
  const inv = doc('SI');
  const pay = doc('SR');
  const ref = doc('SD');
  const waits = async (table: string, column: string, id: string | undefined) =>
    id !== undefined && (await t.db.query(`SELECT 1 FROM ${table} WHERE ${column} = $1`, [id])).rows.length > 0;
  return {
    counts: { SI: docs.filter((d) => d.type === 'SI').length, SR: docs.filter((d) => d.type === 'SR').length },
    invoiceGross: inv ? BigInt(inv.gross) : null,
    invoicePaid: await between(inv?.id, pay?.id),
    refundSet: await between(ref?.id, pay?.id),
    paymentWaits: await waits('payments_awaiting_invoice', 'receipt_id', pay?.id),
    refundWaits: await waits('refunds_awaiting_payment', 'refund_id', ref?.id),
  };
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);

describe('documents in any order', () => {
  it(
    'books what the natural order books: the payment pays its invoice first, the refund takes what it leaves',
    async () => {
      const numRuns = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 12;
      const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
      console.log(`early documents property: seed ${seed}, ${numRuns} runs (replay with FC_SEED=${seed})`);
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(group, { minLength: 1, maxLength: 4 }),
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 24, maxLength: 24 }),
          fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
          async (groups, order, again) => {
            run++;
            const prefixes = groups.map((_, k) => `${seed}-${run}-${k}`);
            const once = groups.flatMap((g, k) => events(prefixes[k]!, g));
            // Some sent again as new events (a sender that re-sends): linked, never booked twice.
            const all = [
              ...once,
              ...once.flatMap((e, i) => (again[i] ? [{ ...e, event: { ...e.event, id: `evt-${++seq}` } }] : [])),
            ];
            // A random order of every event of every group (the doubles are sort keys).
            const shuffled = all.map((e, i) => ({ e, key: order[i % order.length]! + i * 1e-9 }));
            shuffled.sort((a, b) => a.key - b.key);
            for (const { e } of shuffled) await send(e.event);

            for (const [k, g] of groups.entries()) {
              const got = await booked(prefixes[k]!);
              const label = `group ${k} ${JSON.stringify(g)} order ${shuffled.map((s) => s.e.kind).join(',')}`;
              expect(got.counts, label).toEqual({ SI: g.invoice ? 1 : 0, SR: g.payment ? 1 : 0 });
              const p = g.payment ? BigInt(g.payment.cents) : 0n;
              const paysInvoice = g.payment?.namesInvoice === true && g.invoice !== null;
              const invoicePaid = paysInvoice ? min(got.invoiceGross!, p) : 0n;
              // The payment has paid what it will pay: it names no invoice, or its invoice is booked.
              const settled = g.payment !== null && (!g.payment.namesInvoice || g.invoice !== null);
              const refundSet = g.refund && settled ? min(BigInt(g.refund.cents), p - invoicePaid) : 0n;
              expect(
                {
                  invoicePaid: got.invoicePaid,
                  refundSet: got.refundSet,
                  paymentWaits: got.paymentWaits,
                  refundWaits: got.refundWaits,
                },
                label,
              ).toEqual({
                invoicePaid,
                refundSet,
                paymentWaits: g.payment !== null && g.payment.namesInvoice && g.invoice === null,
                refundWaits: g.refund !== null && !settled,
              });
            }
          },
        ),
        { seed, numRuns },
      );
      await checkInvariants(t.db, c.entityId);
    },
    Math.max(120_000, Number(process.env.FC_RUNS ?? 12) * 10_000),
  );
});
