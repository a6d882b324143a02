import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import { directQuickBooksTarget } from './helpers/quickbooks.ts';
import type { Database } from '../src/db/database.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import type { Entity } from '../src/connectors/quickbooks/simulator.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type {
  ItemResult,
  TargetCallContext,
  TargetConnector,
  TargetPayment,
  TargetRefund,
} from '../src/sync/target.ts';

/*
 * A refund of a payment that holds money unapplied (the customer paid more than the invoice owed,
 * a credit on the customer in QuickBooks): what it holds is refunded first, in cash with no VAT
 * touched (a JournalEntry debiting the customer's Accounts Receivable and crediting the bank,
 * linked to the payment by a line with LinkedTxn TxnType JournalEntry), the rest as a
 * RefundReceipt at the invoice's rates. Against the simulator (every entity checked against the
 * official XSD types), one attempt per call so that a lost answer reaches the caller as it reaches
 * the engine: a refund cut between its writes is completed by the next attempt, never doubled.
 */

const log = pino({ level: 'silent' });
const REALM = '9130350000000519';
let db: Database;
let sim: QuickBooksSimulator;
let target: TargetConnector;
let ctx: TargetCallContext;
let customerId: string;
/** Run once at the next write request, before QuickBooks handles it. */
let beforeNextWrite: (() => void) | null = null;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startQuickBooksSimulator({
    realms: { [REALM]: { country: 'IE', currency: 'EUR', vatRates: [['23% S', '23']] } },
    seed: 5,
    // Far more calls than a test makes: pacing is not what this file tests.
    limits: { callsPerSecond: 10_000, callsPerMinute: 100_000, batchPerMinute: 100_000 },
    mount: (req, _res, url) => {
      if (req.method === 'POST' && url.searchParams.get('requestid') && beforeNextWrite) {
        const hook = beforeNextWrite;
        beforeNextWrite = null;
        hook();
      }
      return false;
    },
  });
  target = directQuickBooksTarget(db, sim, REALM, {
    settings: { limits: { callsPerMinute: 100_000, callsPerSecond: 10_000 } },
    options: { client: { backoffBaseMs: 5, backoffMaxMs: 20, maxAttempts: 1 } },
  });
  ctx = { db, log, actor: 'test' };
  customerId = books().write('Customer', 'create', { DisplayName: 'Ann Overpaid' }).Id;
}, 60_000);
afterAll(async () => {
  await sim.close();
  await db.close();
});
beforeEach(() => {
  beforeNextWrite = null;
});

const books = () => sim.books(REALM);
const NOTE = 'ledgerlink reference: ';
/** The documents of a type carrying a reference. */
const byReference = (type: 'Payment' | 'RefundReceipt' | 'JournalEntry' | 'Invoice', reference: string) =>
  books()
    .all(type)
    .filter((e) => e.PrivateNote === `${NOTE}${reference}`);
const one = (type: 'Payment' | 'RefundReceipt' | 'JournalEntry' | 'Invoice', reference: string) => {
  const found = byReference(type, reference);
  expect(found, `${type} ${reference}`).toHaveLength(1);
  return found[0]!;
};
const accountName = (id: unknown) => String(books().get('Account', (id as { value: string }).value)?.Name);

/** A journal entry's lines as: posting, account, customer, amount, and whether any carries a tax code. */
function journalShape(je: Entity) {
  type Line = {
    Amount: unknown;
    JournalEntryLineDetail: {
      PostingType: string;
      AccountRef: unknown;
      Entity?: { EntityRef: { value: string } };
      TaxCodeRef?: unknown;
    };
  };
  return (je.Line as Line[]).map((l) => {
    const d = l.JournalEntryLineDetail;
    return [
      d.PostingType,
      accountName(d.AccountRef),
      d.Entity?.EntityRef.value ?? null,
      String(l.Amount),
      'TaxCodeRef' in d,
    ];
  });
}
/** What a payment's lines link: type and amount. */
const links = (p: Entity) =>
  (p.Line as { Amount: unknown; LinkedTxn: { TxnType: string }[] }[]).map(
    (l) => `${l.LinkedTxn[0]!.TxnType} ${String(l.Amount)}`,
  );

let seq = 0;
/** An invoice of `net` at 23 % and a payment of `paid` naming it (or nothing), booked through the target. */
async function sale(tag: string, net: string | null, paid: string): Promise<Entity> {
  let invoiceTargetId: string | null = null;
  if (net) {
    const [inv] = await target.createInvoices(ctx, [
      {
        sourceId: `SO-${tag}`,
        idempotencyKey: `key-SO-${tag}`,
        customerTargetId: customerId,
        productTargetIds: {},
        record: {
          kind: 'invoice',
          sourceId: `SO-${tag}`,
          externalReference: `SO-${tag}`,
          customerSourceId: 'c',
          invoiceDate: '2026-11-02',
          dueDate: '2026-12-02',
          currency: 'EUR',
          description: '',
          lines: [{ description: 'Compressor service', netAmount: net, vatRate: '0.23' }],
        },
      },
    ]);
    expect(inv, JSON.stringify(inv)).toMatchObject({ ok: true });
    invoiceTargetId = (inv as { targetId: string }).targetId;
  }
  const payment: TargetPayment = {
    sourceId: `PAY-${tag}`,
    idempotencyKey: `key-PAY-${tag}`,
    customerTargetId: customerId,
    invoiceTargetId,
    bankAccountCode: '',
    record: {
      kind: 'payment',
      sourceId: `PAY-${tag}`,
      externalReference: `PAY-${tag}`,
      customerSourceId: 'c',
      date: '2026-11-10',
      amount: paid,
      currency: 'EUR',
      invoiceExternalReference: net ? `SO-${tag}` : null,
      description: '',
    },
  };
  const [pay] = await target.createPayments!(ctx, [payment]);
  expect(pay).toMatchObject({ ok: true });
  return one('Payment', `PAY-${tag}`);
}

const refund = (ref: string, amount: string, payment: Entity): TargetRefund => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}-${++seq}`,
  customerTargetId: customerId,
  paymentTargetId: payment.Id,
  bankAccountCode: '',
  record: {
    kind: 'refund',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    date: '2026-11-25',
    amount,
    currency: 'EUR',
    paymentExternalReference: String(payment.PaymentRefNum),
    description: '',
  },
});

/** What the engine does with a refund whose answer was lost: looks it up, and sends it again only when not found. */
async function afterLostAnswer(item: TargetRefund): Promise<ItemResult> {
  const found = await target.findByReference(ctx, 'refund', item.record.externalReference, item.customerTargetId);
  if (found) return { ok: true, targetId: found.targetId, number: found.number, outcome: 'linked' };
  const [again] = await target.createRefunds!(ctx, [item]);
  return again!;
}

const clean = () => {
  for (const type of ['RefundReceipt', 'JournalEntry', 'Payment', 'Invoice'] as const)
    expect(sim.duplicates(type, REALM), type).toEqual([]);
  if (sim.validating) expect(sim.violations).toEqual([]);
};

describe('QuickBooks target: a refund of a payment that holds money unapplied', () => {
  it("refunds what the payment holds unapplied first, in cash with no VAT (a journal entry linked to the payment), the rest as a refund receipt at the invoice's rates", async () => {
    // 123.00 owed (100.00 + 23 % VAT), 150.00 paid: 27.00 stays on the customer, unapplied.
    const pay = await sale('A', '100.00', '150.00');
    expect(String(pay.UnappliedAmt)).toBe('27.00');
    const [first] = await target.createRefunds!(ctx, [refund('RF-A1', '10.00', pay)]);
    const je = one('JournalEntry', 'RF-A1');
    expect(first).toEqual({
      ok: true,
      targetId: je.Id,
      number: 'RF-A1',
      outcome: 'created',
      message: `EUR 10.00 refunded out of what payment PAY-A held unapplied (QuickBooks JournalEntry ${je.Id}, no tax, linked to the payment)`,
    });
    expect(journalShape(je)).toEqual([
      ['Debit', 'Accounts Receivable (A/R)', customerId, '10.00', false],
      ['Credit', 'Checking', null, '10.00', false],
    ]);
    expect(byReference('RefundReceipt', 'RF-A1')).toEqual([]);
    const linked = one('Payment', 'PAY-A');
    expect(links(linked)).toEqual(['Invoice 123.00', 'JournalEntry 10.00']);
    expect((linked.Line as { LinkedTxn: { TxnId: string }[] }[])[1]!.LinkedTxn[0]!.TxnId).toBe(je.Id);
    expect([String(linked.TotalAmt), String(linked.UnappliedAmt)]).toEqual(['150.00', '17.00']);
    expect(String(one('Invoice', 'SO-A').Balance)).toBe('0.00');

    // 110.00 more: the 17.00 left unapplied in cash, 93.00 reversing the sale at 23 % (17.39 VAT).
    const [second] = await target.createRefunds!(ctx, [refund('RF-A2', '110.00', pay)]);
    const receipt = one('RefundReceipt', 'RF-A2');
    const je2 = one('JournalEntry', 'RF-A2');
    expect(second).toMatchObject({ ok: true, targetId: receipt.Id, number: 'RF-A2', outcome: 'created' });
    expect((second as { message: string }).message).toBe(
      `EUR 17.00 refunded out of what payment PAY-A held unapplied (QuickBooks JournalEntry ${je2.Id}, no tax, linked to the payment); the rest as a refund receipt at the invoice's rates`,
    );
    expect(journalShape(je2).map((l) => l[3])).toEqual(['17.00', '17.00']);
    expect([String(receipt.TotalAmt), String((receipt.TxnTaxDetail as { TotalTax: unknown }).TotalTax)]).toEqual([
      '93.00',
      '17.39',
    ]);
    expect(links(one('Payment', 'PAY-A'))).toEqual(['Invoice 123.00', 'JournalEntry 10.00', 'JournalEntry 17.00']);
    expect(String(one('Payment', 'PAY-A').UnappliedAmt)).toBe('0.00');

    // Reconciliation: each refund in full, and what it added to the customer's receivable (the
    // cash taken off the credit; a refund receipt does not touch the receivable).
    const docs = await target.documents!(ctx, [je.Id, receipt.Id]);
    expect(docs.get(je.Id)).toMatchObject({
      kind: 'refund',
      customerTargetId: customerId,
      externalReference: 'RF-A1',
      currency: 'EUR',
      gross: 1000n,
      balanceEffect: 1000n,
    });
    expect(docs.get(receipt.Id)).toMatchObject({
      kind: 'refund',
      externalReference: 'RF-A2',
      gross: 11000n,
      balanceEffect: 1700n,
    });

    // The engine's lookup finds the receipt; a refund all in cash is sent again and found done, nothing written.
    expect(await target.findByReference(ctx, 'refund', 'RF-A2', customerId)).toMatchObject({ targetId: receipt.Id });
    expect(await target.findByReference(ctx, 'refund', 'RF-A1', customerId)).toBeNull();
    const writes = sim.stats.writes;
    const [again] = await target.createRefunds!(ctx, [refund('RF-A1', '10.00', pay)]);
    expect(again).toMatchObject({ ok: true, targetId: je.Id, outcome: 'linked' });
    expect(sim.stats.writes).toBe(writes);
    clean();
  });

  it('completes a refund cut after any of its writes, never doubling one', async () => {
    const writesTo = (entity: string) => (body: string) => body.includes(entity);
    for (const [tag, cut] of [
      ['B', writesTo('"JournalEntry":{')],
      ['C', writesTo('"TxnType":"JournalEntry"')],
      ['D', writesTo('"RefundReceipt":{')],
    ] as const) {
      const pay = await sale(tag, '100.00', '150.00');
      const item = refund(`RF-${tag}`, '60.00', pay);
      sim.dropNext(1, cut);
      await expect(target.createRefunds!(ctx, [item]), tag).rejects.toBeInstanceOf(ConnectorError);
      const done = await afterLostAnswer(item);
      expect(done, tag).toMatchObject({ ok: true, targetId: one('RefundReceipt', `RF-${tag}`).Id });
      expect(
        journalShape(one('JournalEntry', `RF-${tag}`)).map((l) => l[3]),
        tag,
      ).toEqual(['27.00', '27.00']);
      expect(String(one('RefundReceipt', `RF-${tag}`).TotalAmt), tag).toBe('33.00');
      expect(links(one('Payment', `PAY-${tag}`)), tag).toEqual(['Invoice 123.00', 'JournalEntry 27.00']);
      expect(String(one('Payment', `PAY-${tag}`).UnappliedAmt), tag).toBe('0.00');
    }
    // All in cash, cut after its link: found done when sent again.
    const pay = await sale('E', '100.00', '150.00');
    const item = refund('RF-E', '5.00', pay);
    sim.dropNext(1, writesTo('"TxnType":"JournalEntry"'));
    await expect(target.createRefunds!(ctx, [item])).rejects.toBeInstanceOf(ConnectorError);
    expect(await afterLostAnswer(item)).toMatchObject({
      ok: true,
      targetId: one('JournalEntry', 'RF-E').Id,
      outcome: 'linked',
    });
    expect(links(one('Payment', 'PAY-E'))).toEqual(['Invoice 123.00', 'JournalEntry 5.00']);
    clean();
  });

  it('shares what one payment holds between its refunds in order; a refund whose rest cannot be split is refused whole, nothing written', async () => {
    // Taken on account: no invoice, 40.00 unapplied.
    const pay = await sale('F', null, '40.00');
    const results = await target.createRefunds!(ctx, [refund('RF-F1', '25.00', pay), refund('RF-F2', '20.00', pay)]);
    expect(results[0]).toMatchObject({ ok: true, targetId: one('JournalEntry', 'RF-F1').Id });
    expect(results[1]).toEqual({
      ok: false,
      error: {
        code: 'TARGET_REFUSED',
        message:
          'the refunded payment PAY-F paid no invoice this pipeline booked in QuickBooks, so the refund of EUR 5.00 beyond what the payment holds unapplied cannot be split by tax rate: book it by hand',
        retryable: false,
        field: 'paymentExternalReference',
      },
    });
    expect(byReference('JournalEntry', 'RF-F2')).toEqual([]);
    expect(links(one('Payment', 'PAY-F'))).toEqual(['JournalEntry 25.00']);
    expect(String(one('Payment', 'PAY-F').UnappliedAmt)).toBe('15.00');
    // What it holds is refunded in cash in full, without an invoice to split anything by.
    const [rest] = await target.createRefunds!(ctx, [refund('RF-F3', '15.00', pay)]);
    expect(rest).toMatchObject({ ok: true, targetId: one('JournalEntry', 'RF-F3').Id, outcome: 'created' });
    expect(String(one('Payment', 'PAY-F').UnappliedAmt)).toBe('0.00');
    clean();
  });

  it('links the journal entry again when someone edited the payment meanwhile (stale SyncToken)', async () => {
    const pay = await sale('G', '100.00', '130.00');
    const token = Number(pay.SyncToken);
    // Someone edits the payment in QuickBooks between the connector's read and its update.
    beforeNextWrite = () => books().touch('Payment', pay.Id);
    const logged = sim.log.length;
    const [result] = await target.createRefunds!(ctx, [refund('RF-G', '7.00', pay)]);
    expect(result).toMatchObject({ ok: true, targetId: one('JournalEntry', 'RF-G').Id });
    const after = one('Payment', 'PAY-G');
    expect(links(after)).toEqual(['Invoice 123.00', 'JournalEntry 7.00']);
    // Touched once, updated once: the first update was refused stale, read again and retried.
    expect([after.SyncToken, String(after.UnappliedAmt)]).toEqual([String(token + 2), '0.00']);
    expect(sim.log.slice(logged).filter((l) => l.requestid !== null)).toHaveLength(3);
    clean();
  });

  it('a refund of no more than the invoice its payment paid in full is a refund receipt alone, as before', async () => {
    const pay = await sale('H', '10.00', '12.30');
    const [result] = await target.createRefunds!(ctx, [refund('RF-H', '6.15', pay)]);
    const receipt = one('RefundReceipt', 'RF-H');
    expect(result).toMatchObject({ ok: true, targetId: receipt.Id, message: null });
    expect(byReference('JournalEntry', 'RF-H')).toEqual([]);
    expect(links(one('Payment', 'PAY-H'))).toEqual(['Invoice 12.30']);
    // The sale reversed: the customer's receivable untouched.
    expect((await target.documents!(ctx, [receipt.Id])).get(receipt.Id)).toMatchObject({
      gross: 615n,
      balanceEffect: 0n,
    });
    clean();
  });
});
