import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dec } from '../src/domain/money.ts';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import type { Reconciliation } from '../src/sync/reconcile.ts';
import type { SyncService } from '../src/sync/service.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, drainTarget, syncService } from './helpers/sync.ts';
import { syncServer } from './helpers/uploads.ts';
import { webhookClient, webhookEvent, type WebhookClient } from './helpers/webhooks.ts';
import { processScope } from './helpers/scoped.ts';
import { XERO_APP, xeroTarget, xeroContract } from './helpers/xero.ts';

/*
 * Reconciliation of a pipeline into Xero, end to end, on PGlite (PostgreSQL with DATABASE_URL):
 * invoices, payments and a refund booked through the engine into the simulated Xero, then read
 * back through Xero's API by the reconciliation route. Then what people do in Xero: an invoice's
 * amount changed, an invoice typed in by hand for one of the pipeline's customers, and a payment of
 * it; the reconciliation must show exactly those, per day, customer and currency, and the balances
 * that follow from them. Every request, reads included, is checked against Xero's OpenAPI contract.
 */

const scope = processScope();
const validate = xeroContract('test/xero-reconcile.test.ts');

const APP = XERO_APP;
const HOOK_SECRET = 'webhook-secret-0123456789abcdef';

let t: TestApp;
let app: FastifyInstance;
let sync: SyncService;
let hooks: WebhookClient;
let sim: XeroSimulator;

beforeAll(async () => {
  t = await createTestApp();
  app = await syncServer(t);
  sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  hooks = await webhookClient(t);
  scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, retryAfterMaxMs: 5000 } });
  sim = await startXeroSimulator({ oauth: APP, validate, seed: 11, limits: { perMinute: 100_000, perDay: 100_000 } });
}, 60_000);
afterAll(async () => {
  await sim.close();
  await hooks.close();
  if (app !== t.app) await app.close();
  await t.close();
});

// Three customers, six invoices of one line at 21% on 2 to 7 November.
const INVOICES = [...Array(6).keys()].map((i) => ({
  ref: `SO-${i}`,
  customer: `cust-${i % 3}`,
  date: `2026-11-0${i + 2}`,
  net: `${100 + i * 10}.00`,
  vat: new Dec(100 + i * 10).mul('0.21').toFixed(2),
}));
const grossOf = (i: number) => new Dec(INVOICES[i]!.net).add(INVOICES[i]!.vat).toFixed(2);

/** An entity whose webhook pipeline books into the simulated Xero, with a sender and a reconciliation. */
async function shopToXero(code: string, name: string) {
  const c = await t.entity(code, 'EUR', { standardTaxRate: '0.21' });
  const pipeline = await definePipeline(t.db, code, {
    name,
    source: { type: 'webhook' },
    webhookSecret: HOOK_SECRET,
    target: xeroTarget(sim),
  });
  let seq = 0;
  const send = async (type: string, data: Record<string, unknown>) => {
    const res = await hooks.deliver(name, webhookEvent(`evt-${code}-${++seq}`, type, data), HOOK_SECRET);
    expect(res.status).toBeLessThan(300);
  };
  const reconcile = async (to = '2026-11-30') => {
    const res = await app.inject({
      method: 'GET',
      url: `/v1/pipelines/${name}/reconciliation?from=2026-11-01&to=${to}`,
      headers: { authorization: `Bearer ${c.token}` },
    });
    expect(res.statusCode).toBe(200);
    return res.json<Reconciliation>();
  };
  /** Sends everything waiting for Xero; nothing may have been parked on the way. */
  const drain = async () => {
    await drainTarget(t.db, sync, pipeline, 'Xero');
    const { rows } = await t.db.query(`SELECT source_id, message FROM exceptions WHERE pipeline_id = $1`, [
      pipeline.id,
    ]);
    expect(rows).toEqual([]);
  };
  return { c, pipeline, send, drain, reconcile };
}

describe('reconciling a pipeline into Xero', () => {
  it('reads back what Xero holds: an edit made in Xero, an invoice typed in by hand and its payment are exactly the differences', async () => {
    const { send, drain, reconcile } = await shopToXero('XR1', 'shop-to-xero');
    for (const inv of INVOICES)
      await send('invoice.created', {
        sourceId: inv.ref,
        externalReference: inv.ref,
        customerSourceId: inv.customer,
        customer: { sourceId: inv.customer, name: `Shop ${inv.customer}`, email: `${inv.customer}@example.org` },
        invoiceDate: inv.date,
        dueDate: '2026-12-31',
        currency: 'EUR',
        lines: [{ description: 'Compressor', netAmount: inv.net, vatAmount: inv.vat, vatRate: '0.21' }],
      });
    // SO-0 and SO-1 paid in full on the 10th, SO-3 in part; then 30.00 of SO-0's payment refunded.
    for (const [i, amount] of [
      [0, grossOf(0)],
      [1, grossOf(1)],
      [3, '50.00'],
    ] as const)
      await send('payment.received', {
        sourceId: `pay-${i}`,
        externalReference: `PAY-${i}`,
        customerSourceId: INVOICES[i]!.customer,
        date: '2026-11-10',
        amount,
        currency: 'EUR',
        invoiceExternalReference: INVOICES[i]!.ref,
      });
    await send('refund.created', {
      sourceId: 'ref-0',
      externalReference: 'RF-0',
      customerSourceId: 'cust-0',
      date: '2026-11-12',
      amount: '30.00',
      currency: 'EUR',
      paymentExternalReference: 'PAY-0',
    });
    await drain();
    const tenant = sim.tenant();
    // The refund went in at the invoice's rate: 30.00 is 24.79 + 5.21 VAT at 21%.
    const note = [...tenant.documents.values()].find((d) => d.Reference === 'RF-0')!;
    expect([note.SubTotal.toFixed(2), note.TotalTax.toFixed(2), note.Lines[0]!.TaxType]).toEqual([
      '24.79',
      '5.21',
      'OUTPUT2',
    ]);

    const callsBefore = sim.stats.calls;
    const clean = await reconcile();
    expect(clean.mismatches).toEqual([]);
    // Nine invoices and payments, and the refund, compared with the credit note it was booked as.
    expect(clean.summary).toMatchObject({
      matched: 10,
      mismatched: 0,
      sourceDocuments: 10,
      ledgerDocuments: 10,
      // The payments carried no fee, and Xero holds none for them: compared, and agreeing.
      fees: { compared: 3, notCompared: 0 },
    });
    expect(clean.days.every((d) => d.matched)).toBe(true);
    // Balances read from Xero as at the 30th, per customer: the refund took nothing off (credit note and cash refund).
    const contactOf = (customer: string) =>
      [...tenant.contacts.values()].find((x) => x.Name === `Shop ${customer}`)!.ContactID;
    const ids = ['cust-0', 'cust-1', 'cust-2'].map(contactOf);
    const balances = Object.fromEntries(clean.openBalances.map((b) => [b.customerCode, [b.target, b.matched]]));
    // cust-0: SO-0 paid, SO-3 157.30 less 50.00; cust-1: SO-1 paid, SO-4 169.40; cust-2: SO-2 145.20 and SO-5 181.50.
    expect(balances).toEqual({
      [ids[0]!]: ['107.30', true],
      [ids[1]!]: ['169.40', true],
      [ids[2]!]: ['326.70', true],
    });
    // A handful of list reads, not one per document or per customer (one of them for the refunds'
    // cash out of an overpayment, under their references: none here; one for the payments' fees,
    // the spend money under their references: 25 payments a read). The refunds are read twice:
    // by id to compare each with the source's, and for the balances (two reads more). Invoices are
    // read apart from payments and refunds (reconciliation asks a kind at a time: one read more).
    const readCalls = sim.stats.calls - callsBefore;
    expect(readCalls).toBeLessThanOrEqual(19);

    // In Xero: SO-2's line raised by 10.00 (its VAT left as it was), an invoice typed in by hand for
    // cust-1 on the 15th, and 20.00 of it paid on the 20th.
    const so2 = [...tenant.documents.values()].find((d) => d.Reference === 'SO-2')!;
    so2.Lines[0]!.LineAmount = so2.Lines[0]!.LineAmount.add(10);
    so2.Lines[0]!.UnitAmount = so2.Lines[0]!.UnitAmount.add(10);
    so2.SubTotal = so2.SubTotal.add(10);
    so2.Total = so2.Total.add(10);
    const hand = tenant.createDocument(
      {
        Type: 'ACCREC',
        Contact: { ContactID: ids[1] },
        Date: '2026-11-15',
        DueDate: '2026-12-15',
        Reference: 'HAND-1',
        Status: 'AUTHORISED',
        LineItems: [
          { Description: 'Typed in', Quantity: '1', UnitAmount: '40.00', AccountCode: '200', TaxType: 'OUTPUT2' },
        ],
      },
      'ACCREC',
      2,
    );
    expect(hand.problems).toEqual([]);
    const paid = tenant.createPayment({
      Invoice: { InvoiceID: hand.saved!.id },
      Account: { Code: '090' },
      Date: '2026-11-20',
      Amount: '20.00',
      Reference: 'HAND-PAY-1',
    });
    expect(paid.problems).toEqual([]);

    const after = await reconcile();
    const rows = (list: unknown[][]) => list.map((r) => JSON.stringify(r)).sort();
    expect(
      rows(
        after.mismatches.map((m) => [
          m.kind,
          m.reason,
          m.documentKind,
          m.externalReference,
          m.customerCode,
          m.currency,
          m.date,
          m.sourceAmount,
          m.targetAmount,
        ]),
      ),
    ).toEqual(
      rows([
        ['amount-difference', 'amount', 'invoice', 'SO-2', ids[2], 'EUR', '2026-11-04', '145.20', '155.20'],
        ['not-from-source', 'posted-outside-pipeline', 'invoice', 'HAND-1', ids[1], 'EUR', '2026-11-15', null, '48.40'],
        [
          'not-from-source',
          'posted-outside-pipeline',
          'payment',
          'HAND-PAY-1',
          ids[1],
          'EUR',
          '2026-11-20',
          null,
          '20.00',
        ],
        ['open-balance-difference', 'balance', null, null, ids[1], 'EUR', '2026-11-30', '169.40', '197.80'],
        ['open-balance-difference', 'balance', null, null, ids[2], 'EUR', '2026-11-30', '326.70', '336.70'],
      ]),
    );
    // Per day, customer and currency: exactly those three days differ, by those amounts.
    expect(
      after.days
        .filter((d) => !d.matched)
        .map((d) => [d.date, d.customerCode, d.currency, d.difference.invoices, d.difference.payments]),
    ).toEqual([
      ['2026-11-04', ids[2], 'EUR', { count: 0, total: '10.00' }, { count: 0, total: '0.00' }],
      ['2026-11-15', ids[1], 'EUR', { count: 1, total: '48.40' }, { count: 0, total: '0.00' }],
      ['2026-11-20', ids[1], 'EUR', { count: 0, total: '0.00' }, { count: 1, total: '20.00' }],
    ]);
    expect(after.days.filter((d) => d.matched)).toHaveLength(clean.days.length - 1);
    // As at a day before the hand-typed invoice, its customer's balance agrees again.
    const earlyBalances = (await reconcile('2026-11-14')).openBalances;
    expect(earlyBalances.find((b) => b.customerCode === ids[1])).toMatchObject({ target: '169.40', matched: true });
    expect(sim.stats.specViolations).toEqual([]);
  }, 60_000);

  it('a refund of a receipt that paid too much counts what left the overpayment: the balances agree', async () => {
    const { send, drain, reconcile } = await shopToXero('XR2', 'shop-to-xero-2');
    await send('invoice.created', {
      sourceId: 'OV-1',
      externalReference: 'OV-1',
      customerSourceId: 'over-1',
      customer: { sourceId: 'over-1', name: 'Over One', email: 'over-1@example.org' },
      invoiceDate: '2026-11-02',
      dueDate: '2026-12-31',
      currency: 'EUR',
      lines: [{ description: 'Compressor', netAmount: '100.00', vatAmount: '21.00', vatRate: '0.21' }],
    });
    // 150.00 for 121.00: an overpayment allocated 121.00, 29.00 left; 40.00 refunded, 29.00 of it
    // out of the overpayment and 11.00 by a credit note refunded in cash.
    await send('payment.received', {
      sourceId: 'ov-pay-1',
      externalReference: 'OV-PAY-1',
      customerSourceId: 'over-1',
      date: '2026-11-10',
      amount: '150.00',
      currency: 'EUR',
      invoiceExternalReference: 'OV-1',
    });
    await send('refund.created', {
      sourceId: 'ov-ref-1',
      externalReference: 'OV-RF-1',
      customerSourceId: 'over-1',
      date: '2026-11-12',
      amount: '40.00',
      currency: 'EUR',
      paymentExternalReference: 'OV-PAY-1',
    });
    await drain();
    const tenant = sim.tenant();
    const refunded = [...tenant.payments.values()].filter((p) => p.Reference === 'OV-RF-1');
    expect(refunded.map((p) => [p.PaymentType, p.Amount.toFixed(2)]).sort()).toEqual([
      ['ARCREDITPAYMENT', '11.00'],
      ['AROVERPAYMENTPAYMENT', '29.00'],
    ]);
    // The source says 121.00 - 150.00 = -29.00, and the refund put back what it took out of the
    // overpayment (29.00; the credit note refunded in full adds nothing): 0.00, as Xero holds.
    const report = await reconcile();
    expect(report.mismatches).toEqual([]);
    expect(report.openBalances.map((b) => [b.source, b.target, b.matched])).toEqual([['0.00', '0.00', true]]);
    expect(sim.stats.specViolations).toEqual([]);
  }, 60_000);

  it('compares a credit note booked in Xero as one, though Xero keeps credit notes and refunds as one kind; one voided in Xero is missing', async () => {
    const c = await t.entity('XR3', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'XR3', {
      name: 'notes-to-xero',
      source: { type: 'records' },
      target: xeroTarget(sim),
    });
    const line = (net: string, vat: string) => [
      { description: 'Seat', netAmount: net, vatRate: '0.21', vatAmount: vat },
    ];
    await sync.processRecords(
      pipeline,
      'import',
      'test',
      [
        { kind: 'customer' as const, sourceId: 'cn-cust', name: 'Credited Ltd' },
        {
          kind: 'invoice' as const,
          sourceId: 'CN-INV-1',
          externalReference: 'CN-INV-1',
          customerSourceId: 'cn-cust',
          invoiceDate: '2026-11-02',
          dueDate: '2026-12-02',
          currency: 'EUR',
          description: '',
          lines: line('100.00', '21.00'),
        },
        {
          kind: 'creditNote' as const,
          sourceId: 'CN-1',
          externalReference: 'CN-1',
          customerSourceId: 'cn-cust',
          date: '2026-11-04',
          currency: 'EUR',
          description: 'Returned',
          lines: line('10.00', '2.10'),
        },
      ].map((record) => ({ record })),
    );
    await drainTarget(t.db, sync, pipeline, 'Xero');
    const reconcile = async () => {
      const res = await app.inject({
        method: 'GET',
        url: '/v1/pipelines/notes-to-xero/reconciliation?from=2026-11-01&to=2026-11-30',
        headers: { authorization: `Bearer ${c.token}` },
      });
      expect(res.statusCode).toBe(200);
      return res.json<Reconciliation>();
    };
    const clean = await reconcile();
    expect(clean.mismatches).toEqual([]);
    expect(clean.summary).toMatchObject({ matched: 2, sourceDocuments: 2, ledgerDocuments: 2 });
    const day = clean.days.find((d) => d.date === '2026-11-04')!;
    expect([day.source.creditNotes, day.target.creditNotes]).toEqual([
      { count: 1, total: '12.10' },
      { count: 1, total: '12.10' },
    ]);

    // Voided in Xero by hand: reconciliation names it, by kind (and the balance moves with it).
    const note = [...sim.tenant().documents.values()].find((d) => d.Reference === 'CN-1')!;
    note.Status = 'VOIDED';
    const after = await reconcile();
    expect(
      after.mismatches
        .filter((m) => m.kind !== 'open-balance-difference')
        .map((m) => [m.kind, m.reason, m.documentKind, m.externalReference, m.sourceAmount]),
    ).toEqual([['missing-in-ledger', 'not-posted', 'creditNote', 'CN-1', '12.10']]);
  }, 60_000);
});
