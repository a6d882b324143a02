import type { LosslessNumber } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { callContext, directCustomer, targetIdOf } from './helpers/direct-target.ts';
import { platformEngine } from './helpers/platform-engine.ts';
import { directQuickBooksTarget, usInvoice } from './helpers/quickbooks.ts';
import { customerRecord, definePipeline, openExceptions } from './helpers/sync.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { syncServer, upload } from './helpers/uploads.ts';
import { webhookClient, webhookEvent, type WebhookClient } from './helpers/webhooks.ts';
import { startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { XERO_APP, xeroTarget, xeroContract } from './helpers/xero.ts';

/*
 * Invoice lines with a quantity and a unit price, from the CSV and webhook sources to Xero and
 * QuickBooks: a 4-decimal unit price goes to Xero with unitdp=4 (and a whole-cent batch without
 * it), Xero's own Quantity × UnitAmount is the net to the cent, a net that is not quantity × unit
 * price is parked with both numbers, and QuickBooks gets Qty and UnitPrice checked against its
 * XSD. Every Xero request, its query included, is checked against Xero's OpenAPI contract.
 */

const validate = xeroContract('test/line-quantities.test.ts');

const HOOK_SECRET = 'webhook-secret-0123456789abcdef';

let app: FastifyInstance;
let hooks: WebhookClient;

const e2e = platformEngine({
  name: 'Xero',
  start: async (e) => {
    e.scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40 } });
    // The test app's server when it serves the sync routes (it does), else one beside it.
    app = await syncServer(e.t);
    if (app !== e.t.app) e.closeLater(app);
    hooks = e.closeLater(await webhookClient(e.t));
  },
});

async function xero() {
  const sim = e2e.closeLater(
    await startXeroSimulator({ oauth: XERO_APP, validate, limits: { perMinute: 100_000, perDay: 100_000 } }),
  );
  return { sim, settings: xeroTarget(sim) };
}

const xeroInvoice = (sim: XeroSimulator, reference: string) =>
  [...sim.tenant().documents.values()].filter((d) => d.Type === 'ACCREC' && d.Reference === reference);

const fixed = (d: { toFixed(n?: number): string }, n: number) => d.toFixed(n);

describe('quantities and unit prices into Xero', () => {
  it('csv → Xero: a 4-decimal unit price is sent with unitdp=4 and booked at Xero’s Quantity × UnitAmount; a net that is not quantity × price is parked with both numbers', async () => {
    const c = await e2e.entity('QX1');
    const { sim, settings } = await xero();
    const pipeline = await definePipeline(e2e.db, 'QX1', {
      name: 'qty-csv-to-xero',
      source: { type: 'file' },
      target: settings,
    });
    const csv = [
      'invoice_reference,customer_id,customer_name,invoice_date,due_date,currency,line_description,quantity,unit_price,net_amount,vat_rate',
      // 3 × 12.3333 = 36.9999: the net left out is computed, 37.00.
      'Q-1,K1,Kim Jansen,2026-11-02,2026-12-02,EUR,Ticket,3,12.3333,,0.21',
      // A line without a quantity goes as before: 1 × its net.
      'Q-1,K1,Kim Jansen,2026-11-02,2026-12-02,EUR,Booking fee,,,1.50,0.21',
      'Q-2,K1,Kim Jansen,2026-11-03,2026-12-03,EUR,Hours,1.5,80,120.00,0.21',
      // The net given is not 3 × 12.3333 rounded: parked, never booked as either number.
      'Q-3,K1,Kim Jansen,2026-11-04,2026-12-04,EUR,Tickets,3,12.3333,36.99,0.21',
      // A fifth decimal is refused by the import itself, naming the column.
      'Q-4,K1,Kim Jansen,2026-11-04,2026-12-04,EUR,Tickets,3,12.33333,,0.21',
    ].join('\n');
    const res = await upload(app, c.token, { pipeline: 'qty-csv-to-xero' }, { name: 'invoices.csv', content: csv });
    expect(res.status).toBeLessThan(300);
    await e2e.drain(pipeline);

    const [q1] = xeroInvoice(sim, 'Q-1');
    expect(q1).toBeDefined();
    expect(
      q1!.Lines.map((l) => [
        fixed(l.Quantity, 4),
        fixed(l.UnitAmount, 4),
        fixed(l.LineAmount, 2),
        fixed(l.TaxAmount, 2),
      ]),
    ).toEqual([
      ['3.0000', '12.3333', '37.00', '7.77'],
      ['1.0000', '1.5000', '1.50', '0.32'],
    ]);
    expect(fixed(q1!.SubTotal, 2)).toBe('38.50');
    expect(fixed(xeroInvoice(sim, 'Q-2')[0]!.Lines[0]!.LineAmount, 2)).toBe('120.00');
    // One PUT for the batch, asking for four decimals because one of its unit prices has them.
    expect(sim.stats.batches['PUT /Invoices']).toEqual([2]);
    expect(sim.stats.writeQueries['PUT /Invoices']).toEqual(['summarizeErrors=false&unitdp=4']);
    // Its body and query as Xero's contract has them.
    expect(sim.stats.specViolations).toEqual([]);

    expect(xeroInvoice(sim, 'Q-3')).toEqual([]);
    expect(xeroInvoice(sim, 'Q-4')).toEqual([]);
    const parked = await openExceptions(e2e.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code])).toEqual([
      ['Q-3', 'LINE_AMOUNT_MISMATCH'],
      ['Q-4', 'IMPORT_ROW_INVALID'],
    ]);
    expect(parked[0]!.field).toBe('lines[0].netAmount');
    expect(parked[0]!.message).toContain('netAmount 36.99');
    expect(parked[0]!.message).toContain('3 × 12.3333 = 36.9999, 37.00 EUR');
    expect(parked[1]!.message).toContain('unit_price');
    expect(parked[1]!.message).toContain('at most 4');
  }, 60_000);

  it('records → Xero: a line amount that does not parse for the currency is parked before Xero sees it, naming the line', async () => {
    const { sim, settings } = await xero();
    const pipeline = await e2e.recordsPipeline('QX9', 'records-to-xero', settings);
    const line = (netAmount: string, vatAmount?: string) => ({
      description: 'Seats',
      netAmount,
      vatRate: '0.21',
      ...(vatAmount ? { vatAmount } : {}),
    });
    const invoice = (id: string, lines: ReturnType<typeof line>[]): CanonicalRecord => ({
      kind: 'invoice',
      sourceId: id,
      externalReference: id,
      customerSourceId: 'K1',
      invoiceDate: '2026-11-02',
      currency: 'EUR',
      description: '',
      lines,
    });
    await e2e.send(pipeline, [
      customerRecord('K1'),
      invoice('BAD-NET', [line('10.00'), line('10.001')]),
      invoice('BAD-VAT', [line('10.00', '2.1x')]),
      invoice('GOOD', [line('10.00')]),
    ]);
    // Before, such an invoice went to the target as it stood: what Xero made of "10.001" was booked.
    expect(xeroInvoice(sim, 'BAD-NET')).toEqual([]);
    expect(xeroInvoice(sim, 'BAD-VAT')).toEqual([]);
    expect(xeroInvoice(sim, 'GOOD')).toHaveLength(1);
    const parked = await openExceptions(e2e.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code, p.field])).toEqual([
      ['BAD-NET', 'AMOUNT_INVALID', 'lines[1].netAmount'],
      ['BAD-VAT', 'AMOUNT_INVALID', 'lines[0].vatAmount'],
    ]);
    expect(parked[0]!.message).toContain('Line 2: netAmount "10.001" is not an amount in EUR');
  }, 60_000);

  it('webhook → Xero: whole-cent unit prices go without unitdp; a net left out is computed', async () => {
    await e2e.entity('QX2');
    const { sim, settings } = await xero();
    const pipeline = await definePipeline(e2e.db, 'QX2', {
      name: 'qty-hook-to-xero',
      source: { type: 'webhook' },
      webhookSecret: HOOK_SECRET,
      target: settings,
    });
    const event = webhookEvent('evt-q-1', 'invoice.created', {
      sourceId: 'W-1',
      externalReference: 'W-1',
      customerSourceId: 'c1',
      customer: { sourceId: 'c1', name: 'Webhook customer' },
      invoiceDate: '2026-11-21',
      currency: 'EUR',
      lines: [
        { description: 'Coffee', quantity: 2, unitPrice: '9.95', vatRate: '0.21' },
        { description: 'Discount', quantity: '1', unitPrice: '-1.00', netAmount: '-1.00', vatRate: '0.21' },
      ],
    });
    const answer = await hooks.deliver('qty-hook-to-xero', event, HOOK_SECRET);
    expect(answer.status).toBeLessThan(300);
    await e2e.drain(pipeline);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    const [w1] = xeroInvoice(sim, 'W-1');
    expect(w1!.Lines.map((l) => [fixed(l.Quantity, 0), fixed(l.UnitAmount, 2), fixed(l.LineAmount, 2)])).toEqual([
      ['2', '9.95', '19.90'],
      ['1', '-1.00', '-1.00'],
    ]);
    expect(sim.stats.writeQueries['PUT /Invoices']).toEqual(['summarizeErrors=false']);
    expect(sim.stats.specViolations).toEqual([]);
  }, 60_000);

  it('Xero (simulated) keeps 2 decimals of a unit amount without unitdp=4, and refuses the line total it no longer matches', async () => {
    const sim = e2e.closeLater(await startXeroSimulator({}));
    const contact = await fetch(`${sim.url}/Contacts`, {
      method: 'PUT',
      headers: { authorization: 'Bearer t', 'xero-tenant-id': sim.tenantId, 'content-type': 'application/json' },
      body: JSON.stringify({ Contacts: [{ Name: 'Precise', ContactNumber: 'P1' }] }),
    }).then((r) => r.json() as Promise<{ Contacts: { ContactID: string }[] }>);
    const put = (query: string) =>
      fetch(`${sim.url}/Invoices?summarizeErrors=false${query}`, {
        method: 'PUT',
        headers: { authorization: 'Bearer t', 'xero-tenant-id': sim.tenantId, 'content-type': 'application/json' },
        // Written by hand so that 12.3333 is the literal Xero reads.
        body: `{"Invoices":[{"Type":"ACCREC","Contact":{"ContactID":"${contact.Contacts[0]!.ContactID}"},"Date":"2026-11-02","DueDate":"2026-12-02","Status":"AUTHORISED","LineAmountTypes":"Exclusive","LineItems":[{"Description":"x","Quantity":3,"UnitAmount":12.3333,"LineAmount":37.00,"AccountCode":"200","TaxType":"OUTPUT2"}]}]}`,
      }).then((r) => r.text());
    const rounded = await put('');
    expect(rounded).toContain('does not match the expected line total 36.99');
    const kept = await put('&unitdp=4');
    expect(kept).not.toContain('ValidationErrors');
    expect(kept).toContain('"UnitAmount":12.3333');
    expect(kept).toContain('"LineAmount":37');
  });

  it('the contract check reads the query too: unitdp where Xero declares it, as an integer', () => {
    if (!validate) return;
    const invoices = { Invoices: [] };
    expect(
      validate({ method: 'PUT', path: '/Invoices', query: { summarizeErrors: 'false', unitdp: '4' }, body: invoices }),
    ).toEqual([]);
    const wrongType = validate({ method: 'PUT', path: '/Invoices', query: { unitdp: 'four' }, body: invoices });
    expect(wrongType).toHaveLength(1);
    expect(wrongType[0]).toMatch(/^PUT \/Invoices: .*unitdp=four .*integer/);
    const undeclared = validate({ method: 'PUT', path: '/Payments', query: { unitdp: '4' }, body: { Payments: [] } });
    expect(undeclared).toHaveLength(1);
    expect(undeclared[0]).toMatch(/^PUT \/Payments: .*unitdp/);
  });
});

describe('quantities and unit prices into QuickBooks', () => {
  it('sends Qty and UnitPrice with Amount the net, within the XSD; a credit memo turns the unit price positive', async () => {
    const sim = e2e.closeLater(await startQuickBooksSimulator({ seed: 5 }));
    const target = directQuickBooksTarget(e2e.db, sim, '9130350000000001');
    const ctx = callContext(e2e.db);
    const [customer] = await target.upsertCustomers(ctx, [directCustomer('QTY', 'Quantity Buyer')]);
    const customerTargetId = targetIdOf(customer);
    const [inv, credit] = await target.createInvoices(ctx, [
      usInvoice('QB-1', customerTargetId, [
        { description: 'Tickets', quantity: '3', unitPrice: '12.3333', netAmount: '37.00', vatRate: '0' },
        { description: 'Fee', netAmount: '1.50', vatRate: '0' },
      ]),
      usInvoice('QB-2', customerTargetId, [
        { description: 'Return', quantity: '2', unitPrice: '-4.9999', netAmount: '-10.00', vatRate: '0' },
      ]),
    ]);
    expect(inv).toMatchObject({ ok: true });
    expect(credit).toMatchObject({ ok: true });
    // The sales lines as QuickBooks keeps them (it adds a subtotal line of its own).
    type SalesLine = { Amount: unknown; SalesItemLineDetail?: { Qty?: LosslessNumber; UnitPrice?: LosslessNumber } };
    const detail = (e: Record<string, unknown>) =>
      (e.Line as SalesLine[]).flatMap((l) =>
        l.SalesItemLineDetail
          ? [
              [
                l.SalesItemLineDetail.Qty === undefined ? null : String(l.SalesItemLineDetail.Qty),
                l.SalesItemLineDetail.UnitPrice === undefined ? null : String(l.SalesItemLineDetail.UnitPrice),
                String(l.Amount),
              ],
            ]
          : [],
      );
    const booked = sim.books().get('Invoice', targetIdOf(inv))!;
    expect(detail(booked)).toEqual([
      ['3', '12.3333', '37.00'],
      [null, null, '1.50'],
    ]);
    expect(String(booked.TotalAmt)).toBe('38.50');
    const memo = sim.books().get('CreditMemo', targetIdOf(credit))!;
    expect(detail(memo)).toEqual([['2', '4.9999', '10.00']]);
    if (sim.validating) expect(sim.violations).toEqual([]);
    else console.warn('QuickBooks XSD checks skipped: ../shared/specs/quickbooks is absent');
  });
});
