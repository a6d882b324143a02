import type { LosslessNumber } from 'lossless-json';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { SPEC_MISSING, openApiRequestValidator, sharedSpec } from './helpers/openapi-requests.ts';
import { customerRecord, definePipeline, drainTarget, openExceptions, syncService, testBox } from './helpers/sync.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { syncServer, upload } from './helpers/uploads.ts';
import { senderSignature, webhookClient, type WebhookClient } from './helpers/webhooks.ts';
import { startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { createQuickBooksTarget } from '../src/connectors/quickbooks/target.ts';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import type { TokenSource } from '../src/sync/remote/contracts.ts';
import type { SyncService } from '../src/sync/service.ts';
import type { TargetInvoice } from '../src/sync/target.ts';
import type { FastifyInstance } from 'fastify';
import { processScope } from './helpers/scoped.ts';
import { XERO_APP, xeroTarget } from './helpers/xero.ts';

/*
 * Invoice lines with a quantity and a unit price, from the CSV and webhook sources to Xero and
 * QuickBooks: a 4-decimal unit price goes to Xero with unitdp=4 (and a whole-cent batch without
 * it), Xero's own Quantity × UnitAmount is the net to the cent, a net that is not quantity × unit
 * price is parked with both numbers, and QuickBooks gets Qty and UnitPrice checked against its
 * XSD. Every Xero request, its query included, is checked against Xero's OpenAPI contract.
 */

const scope = processScope();
const SPEC = 'xero/xero_accounting.yaml';
const specPath = sharedSpec(SPEC);
if (!specPath) console.warn(`test/line-quantities.test.ts: contract checks ${SPEC_MISSING(SPEC)}`);
const validate = specPath ? openApiRequestValidator(specPath, { closed: true }) : undefined;

const APP = XERO_APP;
const HOOK_SECRET = 'webhook-secret-0123456789abcdef';

let t: TestApp;
let app: FastifyInstance;
let sync: SyncService;
let hooks: WebhookClient;
const closers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  t = await createTestApp();
  app = await syncServer(t);
  sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 5 } } });
  hooks = await webhookClient(t);
  scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40 } });
}, 60_000);
afterAll(async () => {
  await hooks.close();
  for (const c of closers) await c.close();
  if (app !== t.app) await app.close();
  await t.close();
});

async function xero() {
  const sim = await startXeroSimulator({ oauth: APP, validate, limits: { perMinute: 100_000, perDay: 100_000 } });
  closers.push(sim);
  const settings = xeroTarget(sim);
  return { sim, settings };
}

const xeroInvoice = (sim: XeroSimulator, reference: string) =>
  [...sim.tenant().documents.values()].filter((d) => d.Type === 'ACCREC' && d.Reference === reference);

const fixed = (d: { toFixed(n?: number): string }, n: number) => d.toFixed(n);

describe('quantities and unit prices into Xero', () => {
  it('csv → Xero: a 4-decimal unit price is sent with unitdp=4 and booked at Xero’s Quantity × UnitAmount; a net that is not quantity × price is parked with both numbers', async () => {
    const c = await t.entity('QX1', 'EUR', { standardTaxRate: '0.21' });
    const { sim, settings } = await xero();
    const pipeline = await definePipeline(t.db, 'QX1', {
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
    await drainTarget(t.db, sync, pipeline, 'the target');

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
    const parked = await openExceptions(t.db, pipeline);
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
    await t.entity('QX9', 'EUR', { standardTaxRate: '0.21' });
    const { sim, settings } = await xero();
    const pipeline = await definePipeline(t.db, 'QX9', {
      name: 'records-to-xero',
      source: { type: 'records' },
      target: settings,
    });
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
    await sync.processRecords(pipeline, 'import', 'test', [
      { record: customerRecord('K1') },
      { record: invoice('BAD-NET', [line('10.00'), line('10.001')]) },
      { record: invoice('BAD-VAT', [line('10.00', '2.1x')]) },
      { record: invoice('GOOD', [line('10.00')]) },
    ]);
    await drainTarget(t.db, sync, pipeline, 'Xero');
    // Before, such an invoice went to the target as it stood: what Xero made of "10.001" was booked.
    expect(xeroInvoice(sim, 'BAD-NET')).toEqual([]);
    expect(xeroInvoice(sim, 'BAD-VAT')).toEqual([]);
    expect(xeroInvoice(sim, 'GOOD')).toHaveLength(1);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code, p.field])).toEqual([
      ['BAD-NET', 'AMOUNT_INVALID', 'lines[1].netAmount'],
      ['BAD-VAT', 'AMOUNT_INVALID', 'lines[0].vatAmount'],
    ]);
    expect(parked[0]!.message).toContain('Line 2: netAmount "10.001" is not an amount in EUR');
  }, 60_000);

  it('webhook → Xero: whole-cent unit prices go without unitdp; a net left out is computed', async () => {
    await t.entity('QX2', 'EUR', { standardTaxRate: '0.21' });
    const { sim, settings } = await xero();
    const pipeline = await definePipeline(t.db, 'QX2', {
      name: 'qty-hook-to-xero',
      source: { type: 'webhook' },
      webhookSecret: HOOK_SECRET,
      target: settings,
    });
    const body = JSON.stringify({
      id: 'evt-q-1',
      created: Math.floor(Date.now() / 1000),
      type: 'invoice.created',
      data: {
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
      },
    });
    const answer = await hooks.post('/v1/webhooks/qty-hook-to-xero', body, {
      'x-ledgerlink-signature': senderSignature(body, HOOK_SECRET),
    });
    expect(answer.status).toBeLessThan(300);
    await drainTarget(t.db, sync, pipeline, 'the target');
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const [w1] = xeroInvoice(sim, 'W-1');
    expect(w1!.Lines.map((l) => [fixed(l.Quantity, 0), fixed(l.UnitAmount, 2), fixed(l.LineAmount, 2)])).toEqual([
      ['2', '9.95', '19.90'],
      ['1', '-1.00', '-1.00'],
    ]);
    expect(sim.stats.writeQueries['PUT /Invoices']).toEqual(['summarizeErrors=false']);
    expect(sim.stats.specViolations).toEqual([]);
  }, 60_000);

  it('Xero (simulated) keeps 2 decimals of a unit amount without unitdp=4, and refuses the line total it no longer matches', async () => {
    const sim = await startXeroSimulator({});
    closers.push(sim);
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
    const sim = await startQuickBooksSimulator({ seed: 5 });
    closers.push(sim);
    const log = pino({ level: 'silent' });
    const auth: TokenSource = {
      accessToken: () => Promise.resolve(sim.accessToken),
      invalidate: () => {},
      secrets: () => [sim.accessToken],
    };
    const target = createQuickBooksTarget(
      {
        db: t.db,
        log,
        mapping: {},
        settings: {
          type: 'quickbooks',
          clientId: 'app',
          clientSecret: 'secret-0123456789',
          realmId: '9130350000000001',
          baseUrl: sim.url,
        },
        entityId: '1',
        pipelineId: '1',
        pipelineName: 'qbo',
        box: testBox,
      },
      { auth, planner: createRatePlanner(t.db), client: { backoffBaseMs: 5, backoffMaxMs: 20 } },
    );
    const ctx = { db: t.db, log, actor: 'test' };
    const [customer] = await target.upsertCustomers(ctx, [
      {
        sourceId: 'q',
        code: 'QTY',
        targetId: null,
        record: { kind: 'customer', sourceId: 'q', name: 'Quantity Buyer' },
      },
    ]);
    const customerTargetId = (customer as { targetId: string }).targetId;
    const invoice = (ref: string, lines: TargetInvoice['record']['lines']): TargetInvoice => ({
      sourceId: ref,
      idempotencyKey: `key-${ref}`,
      customerTargetId,
      productTargetIds: {},
      record: {
        kind: 'invoice',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: 'q',
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'USD',
        description: '',
        lines,
      },
    });
    const [inv, credit] = await target.createInvoices(ctx, [
      invoice('QB-1', [
        { description: 'Tickets', quantity: '3', unitPrice: '12.3333', netAmount: '37.00', vatRate: '0' },
        { description: 'Fee', netAmount: '1.50', vatRate: '0' },
      ]),
      invoice('QB-2', [
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
    const booked = sim.books().get('Invoice', (inv as { targetId: string }).targetId)!;
    expect(detail(booked)).toEqual([
      ['3', '12.3333', '37.00'],
      [null, null, '1.50'],
    ]);
    expect(String(booked.TotalAmt)).toBe('38.50');
    const memo = sim.books().get('CreditMemo', (credit as { targetId: string }).targetId)!;
    expect(detail(memo)).toEqual([['2', '4.9999', '10.00']]);
    if (sim.validating) expect(sim.violations).toEqual([]);
    else console.warn('QuickBooks XSD checks skipped: ../shared/specs/quickbooks is absent');
  });
});
