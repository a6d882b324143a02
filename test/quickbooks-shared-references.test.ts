import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import { DUTCH, directQuickBooksTarget } from './helpers/quickbooks.ts';
import type { Database } from '../src/db/database.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import type { Entity } from '../src/connectors/quickbooks/simulator.ts';
import type {
  ItemResult,
  TargetCallContext,
  TargetConnector,
  TargetCreditNote,
  TargetInvoice,
  TargetRefund,
} from '../src/sync/target.ts';

/*
 * Two customers, one reference, in a company that warns on duplicate numbers (QuickBooks refuses a
 * second document of a DocNumber, 6140, unless the request says include=allowduplicatedocnum). A
 * reference is unique per customer: each customer's invoice, credit memo and refund out of its
 * credit is booked as its own, under the reference as its number, and looked up for that customer
 * only. A number keyed by hand for someone else is not known to be another sale: still refused.
 */

const log = pino({ level: 'silent' });
const REALM = '9130350000000733';
let db: Database;
let sim: QuickBooksSimulator;
let target: TargetConnector;
let ctx: TargetCallContext;
let c: string;
let d: string;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startQuickBooksSimulator({
    realms: { [REALM]: { ...DUTCH, uniqueDocNumbers: true } },
    seed: 7,
    limits: { callsPerSecond: 10_000, callsPerMinute: 100_000, batchPerMinute: 100_000 },
  });
  // One attempt per call: a lost answer reaches the caller as it reaches the engine.
  target = directQuickBooksTarget(db, sim, REALM, {
    settings: { limits: { callsPerMinute: 100_000, callsPerSecond: 10_000 } },
    options: { client: { backoffBaseMs: 5, backoffMaxMs: 20, maxAttempts: 1 } },
  });
  ctx = { db, log, actor: 'test' };
  c = books().write('Customer', 'create', { DisplayName: 'Shop C' }).Id;
  d = books().write('Customer', 'create', { DisplayName: 'Shop D' }).Id;
}, 60_000);
afterAll(async () => {
  await sim.close();
  await db.close();
});

const books = () => sim.books(REALM);
const customerOf = (e: Entity) => (e.CustomerRef as { value: string }).value;
const idOf = (r: ItemResult | undefined) => {
  if (!r?.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r.targetId;
};

let seq = 0;
const invoice = (ref: string, customerTargetId: string, net: string): TargetInvoice => ({
  sourceId: `${ref}-${++seq}`,
  idempotencyKey: `key-${ref}-${seq}`,
  customerTargetId,
  productTargetIds: {},
  record: {
    kind: 'invoice',
    sourceId: `${ref}-${seq}`,
    externalReference: ref,
    customerSourceId: customerTargetId,
    invoiceDate: '2026-11-02',
    dueDate: '2026-12-02',
    currency: 'EUR',
    description: '',
    lines: [{ description: 'Service', netAmount: net, vatRate: '0.21' }],
  },
});

const clean = () => {
  for (const type of ['Invoice', 'CreditMemo', 'Payment', 'JournalEntry', 'RefundReceipt'] as const)
    expect(sim.duplicates(type, REALM), type).toEqual([]);
  if (sim.validating) expect(sim.violations).toEqual([]);
};

describe('QuickBooks target: two customers under one reference, in a company that refuses duplicate numbers', () => {
  it("books the second customer's invoice under the same number as its own, and looks each up for its customer only", async () => {
    const [first] = await target.createInvoices(ctx, [invoice('SH-1', c, '100.00')]);
    const theirs = sim.books(REALM).get('Invoice', idOf(first))!;
    // D's is committed (on the invoice endpoint, the batch having refused the number) and its answer
    // lost: the lookup the engine makes must not take C's for it.
    sim.dropNext(1, (body) => body.includes('"DocNumber":"SH-1"') && !body.includes('BatchItemRequest'));
    await expect(target.createInvoices(ctx, [invoice('SH-1', d, '50.00')])).rejects.toThrow();
    const found = await target.findByReference(ctx, 'invoice', 'SH-1', d);
    expect(found).toMatchObject({ number: 'SH-1', customerTargetId: d });
    expect(found!.targetId).not.toBe(theirs.Id);
    expect(await target.findByReference(ctx, 'invoice', 'SH-1', c)).toMatchObject({ targetId: theirs.Id });
    const held = books()
      .all('Invoice')
      .filter((e) => e.DocNumber === 'SH-1');
    expect(held.map((e) => [customerOf(e), String(e.TotalAmt)]).sort()).toEqual([
      [c, '121.00'],
      [d, '60.50'],
    ]);
    clean();
  });

  it("books the second customer's credit memo under a shared reference as its own", async () => {
    const note = (customerTargetId: string, net: string): TargetCreditNote => ({
      sourceId: `N-${customerTargetId}`,
      idempotencyKey: `key-N-${customerTargetId}`,
      customerTargetId,
      productTargetIds: {},
      invoiceTargetId: null,
      record: {
        kind: 'creditNote',
        sourceId: `N-${customerTargetId}`,
        externalReference: 'SH-N',
        customerSourceId: customerTargetId,
        date: '2026-11-05',
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Returned', netAmount: net, vatRate: '0.21' }],
      },
    });
    const results = await target.createCreditNotes!(ctx, [note(c, '20.00'), note(d, '10.00')]);
    expect(results.map((r) => r.ok && r.outcome)).toEqual(['created', 'created']);
    const held = books()
      .all('CreditMemo')
      .filter((e) => e.DocNumber === 'SH-N');
    expect(held.map((e) => [customerOf(e), String(e.TotalAmt)]).sort()).toEqual([
      [c, '24.20'],
      [d, '12.10'],
    ]);
    expect(await target.findByReference(ctx, 'creditNote', 'SH-N', d)).toMatchObject({ customerTargetId: d });
    clean();
  });

  it("refunds two customers' credit under one reference, each out of its own (journal entries numbered alike)", async () => {
    const overpaid = async (customerTargetId: string, tag: string) => {
      const [inv] = await target.createInvoices(ctx, [invoice(`SH-I${tag}`, customerTargetId, '100.00')]);
      const [pay] = await target.createPayments!(ctx, [
        {
          sourceId: `P${tag}`,
          idempotencyKey: `key-P${tag}`,
          customerTargetId,
          invoiceTargetId: idOf(inv),
          bankAccountCode: '',
          record: {
            kind: 'payment',
            sourceId: `P${tag}`,
            externalReference: 'SH-P',
            customerSourceId: customerTargetId,
            date: '2026-11-10',
            amount: '150.00',
            currency: 'EUR',
            invoiceExternalReference: `SH-I${tag}`,
            description: '',
          },
        },
      ]);
      return idOf(pay);
    };
    const refundOf = (customerTargetId: string, paymentTargetId: string, amount: string): TargetRefund => ({
      sourceId: `R-${customerTargetId}`,
      idempotencyKey: `key-R-${customerTargetId}`,
      customerTargetId,
      paymentTargetId,
      bankAccountCode: '',
      record: {
        kind: 'refund',
        sourceId: `R-${customerTargetId}`,
        externalReference: 'SH-R',
        customerSourceId: customerTargetId,
        date: '2026-11-25',
        amount,
        currency: 'EUR',
        paymentExternalReference: 'SH-P',
        description: '',
      },
    });
    const payC = await overpaid(c, 'C');
    const payD = await overpaid(d, 'D');
    const [rc] = await target.createRefunds!(ctx, [refundOf(c, payC, '10.00')]);
    const [rd] = await target.createRefunds!(ctx, [refundOf(d, payD, '5.00')]);
    expect([rc, rd].map((r) => r?.ok && r.outcome)).toEqual(['created', 'created']);
    const journals = books()
      .all('JournalEntry')
      .filter((e) => e.DocNumber === 'SH-R');
    expect(journals.map((e) => e.Id).sort()).toEqual([idOf(rc), idOf(rd)].sort());
    clean();
  });

  it('still refuses a number keyed by hand for someone else, saying who holds it', async () => {
    const walkIn = books().write('Customer', 'create', { DisplayName: 'Walk-in' }).Id;
    const [typed] = await target.createInvoices(ctx, [invoice('SH-HAND', walkIn, '10.00')]);
    // Keyed by hand: no ledgerlink note.
    const hand = books().get('Invoice', idOf(typed))!;
    delete hand.PrivateNote;
    const [ours] = await target.createInvoices(ctx, [invoice('SH-HAND', d, '30.00')]);
    expect(ours).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', retryable: false } });
    const message = (ours as { error: { message: string } }).error.message;
    expect(message).toMatch(/Duplicate Document Number Error/);
    expect(message).toContain(`held by Invoice ${hand.Id} of customer ${walkIn}`);
    expect(
      books()
        .all('Invoice')
        .filter((e) => e.DocNumber === 'SH-HAND' && customerOf(e) === d),
    ).toEqual([]);
  });
});
