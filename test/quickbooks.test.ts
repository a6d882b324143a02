import type { FastifyInstance } from 'fastify';
import { LosslessNumber } from 'lossless-json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, drainTarget, openExceptions, syncService, testBox } from './helpers/sync.ts';
import { syncServer, upload } from './helpers/uploads.ts';
import { webhookClient, type WebhookClient } from './helpers/webhooks.ts';
import { quickbooksTarget } from '../src/connectors/quickbooks/index.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { createQuickBooksTarget } from '../src/connectors/quickbooks/target.ts';
import { StripeSimulator, signedStripeDelivery } from '../src/connectors/stripe/simulator.ts';
import { OAuthSimulator, type SimulatedGrant } from '../src/sync/remote/oauth-simulator.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import { processScope } from './helpers/scoped.ts';
import { type Pipeline, findPipelineById } from '../src/sync/pipelines.ts';
import type { SyncService } from '../src/sync/service.ts';

/*
 * The QuickBooks Online target end to end, through the engine, against the simulator with its
 * limits scaled down (a "second" of 100 ms, a "minute" of 1 s) and 5% of write answers dropped
 * after committing: zero duplicates, zero missing documents, no call refused for its rate, every
 * entity checked against the official XSD types. Connected through OAuth (helper simulator
 * mounted in the QuickBooks one), each pipeline with its own grant.
 */

const REALM = '4620816365000000001';
const CLIENT = { clientId: 'ledgerlink-test-app', clientSecret: 'qbo-client-secret-0123456789' };
const TOKEN_PATH = '/oauth2/v1/tokens/bearer';
const SIGNING = 'whsec_ledgerlink_qbo_0123456789';
const PUBLIC = 'https://ll.example.com';
const LIMITS = { callsPerSecond: 10, callsPerMinute: 100 };

let t: TestApp;
let app: FastifyInstance;
let sync: SyncService;
let hooks: WebhookClient;
let oauth: OAuthSimulator;
let qbo: QuickBooksSimulator;
let stripe: StripeSimulator;

const scope = processScope();

beforeAll(async () => {
  t = await createTestApp({ publicUrl: PUBLIC });
  app = await syncServer(t);
  hooks = await webhookClient(t);
  sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  oauth = new OAuthSimulator({
    ...CLIENT,
    callbackTenantParam: 'realmId',
    tenants: [{ tenantId: REALM }],
    accessTokenSeconds: 3600,
    paths: { token: TOKEN_PATH },
  });
  qbo = await startQuickBooksSimulator({
    realms: {
      [REALM]: {
        country: 'IE',
        currency: 'EUR',
        vatRates: [
          ['23% S', '23'],
          ['13.5% R', '13.5'],
          ['0% Z', '0'],
        ],
      },
    },
    oauth,
    seed: 7,
    dropAfterCommitRate: 0.05,
    // And some 503s before anything is committed.
    failRate: 0.03,
    // Scaled: the same counts in windows ten and sixty times shorter; the batch budget scaled as the target scales it.
    limits: { ...LIMITS, batchPerMinute: 8, secondMs: 100, minuteMs: 1000 },
  });
  stripe = await new StripeSimulator().start();
  // The planner on the same scaled clock as the simulator; retries quick. Its margin is the one
  // production gives the window each scaled one stands for, in real milliseconds (100 ms for a
  // second, 250 ms for a minute: the planner's default): it covers the delay between a grant and
  // the platform's clock, which does not shrink with the clock (5 % of a 100 ms "second" is 5 ms,
  // less than a busy machine's scheduling delay; 50 ms was once too little on a loaded CI machine).
  scope.target({
    ...quickbooksTarget,
    create: (deps) =>
      Promise.resolve(
        createQuickBooksTarget(deps, {
          planner: createRatePlanner(t.db, {
            windowsMs: { second: 100, minute: 1000 },
            marginMs: (w) => (w === 100 ? 100 : 250),
          }),
          client: { backoffBaseMs: 5, backoffMaxMs: 50 },
        }),
      ),
  });
}, 60_000);
afterAll(async () => {
  await qbo.close();
  await stripe.close();
  await hooks.close();
  if (app !== t.app) await app.close();
  await t.close();
});

function target(grant: SimulatedGrant, extra: Record<string, unknown> = {}) {
  return {
    type: 'quickbooks',
    ...CLIENT,
    refreshToken: grant.refreshToken,
    realmId: REALM,
    baseUrl: qbo.url,
    tokenUrl: `${qbo.url}${TOKEN_PATH}`,
    limits: LIMITS,
    ...extra,
  };
}

/** QuickBooks documents of a type by the reference they carry (whole in PrivateNote). */
function byReference(type: 'Invoice' | 'Payment' | 'RefundReceipt' | 'CreditMemo' | 'Purchase', reference: string) {
  return qbo
    .books(REALM)
    .all(type)
    .filter((e) => String(e.PrivateNote).split('\n').at(-1) === `ledgerlink reference: ${reference}`);
}

const HEADER =
  'invoice_reference,customer_id,customer_name,customer_email,invoice_date,due_date,currency,description,product_code,line_description,net_amount,vat_rate,vat_amount,gl_account,tax_code,department';
const LONG = (i: number) => `SHOP-2026-11-WEB-ORDER-${String(i).padStart(6, '0')}`;
const refs = [...Array(60).keys()].map((i) => (i % 5 === 0 ? LONG(i) : `CSV-${String(i + 1).padStart(3, '0')}`));

describe('QuickBooks Online target, end to end', () => {
  let csv: { id: string };
  let owner: { token: string };

  it('csv → quickbooks: every invoice exactly once through dropped answers, paced under the limits, an unmatched VAT rate parked', async () => {
    const c = await t.entity('QBO1', 'EUR', { standardTaxRate: '0.23' });
    owner = c;
    // Small batches make many write calls, so that 5% of their answers is several dropped answers; two more for certain.
    await definePipeline(t.db, 'QBO1', {
      name: 'csv-to-qbo',
      source: { type: 'file' },
      target: target(oauth.issueGrant(), { limits: { ...LIMITS, batchSize: 3 } }),
    });
    qbo.dropNext(2);
    const rows = refs.map(
      (ref, i) =>
        `${ref},K-${i % 8},Customer ${i % 8},k${i % 8}@example.com,2026-11-0${(i % 9) + 1},2026-12-01,EUR,Tickets,,Ticket,${10 + i}.00,0.23,,,,`,
    );
    rows.push(`CSV-ODD,K-1,Customer 1,k1@example.com,2026-11-03,,EUR,Books,,Book,10.00,0.06,,,,`);
    const res = await upload(
      app,
      c.token,
      { pipeline: 'csv-to-qbo' },
      { name: 'invoices.csv', content: [HEADER, ...rows].join('\n') + '\n' },
    );
    expect(res.status).toBeLessThan(300);
    csv = (await t.db.query<{ id: string }>(`SELECT id FROM pipelines WHERE name = 'csv-to-qbo'`)).rows[0]!;
    await drainTarget(t.db, sync, csv, 'QuickBooks');

    const books = qbo.books(REALM);
    const missing = refs.filter((r) => byReference('Invoice', r).length === 0);
    const twice = refs.filter((r) => byReference('Invoice', r).length > 1);
    expect({ missing, twice }).toEqual({ missing: [], twice: [] });
    expect(books.all('Invoice')).toHaveLength(60);
    expect(qbo.duplicates('Invoice', REALM)).toEqual([]);
    // The faults happened and were survived, not avoided.
    expect(qbo.stats.dropped).toBeGreaterThan(0);
    expect(qbo.stats.failed).toBeGreaterThan(0);
    // Long references: a stable 21-character digest in DocNumber, the whole reference kept in PrivateNote.
    const long = byReference('Invoice', LONG(5))[0]!;
    expect(String(long.DocNumber)).toHaveLength(21);
    expect(String(long.DocNumber).startsWith('SHOP-2026-11')).toBe(true);
    // VAT matched by rate, totals to the cent: 10.00 + 23% = 12.30.
    const first = byReference('Invoice', refs[0]!)[0]!;
    expect(String(first.TotalAmt)).toBe('12.30');
    // Customers once each, with our code.
    expect(
      books
        .all('Customer')
        .map((c) => c.AcctNum)
        .sort(),
    ).toEqual([...Array(8).keys()].map((i) => `K-${i}`).sort());
    // Paced under the (scaled) limits: nothing refused for its rate.
    expect(qbo.stats.throttledBy).toEqual({ second: 0, minute: 0, batch: 0 });
    expect(qbo.stats.throttled).toBe(0);
    expect(qbo.stats.maxPerSecond).toBeLessThanOrEqual(LIMITS.callsPerSecond);
    expect(qbo.stats.maxPerMinute).toBeLessThanOrEqual(LIMITS.callsPerMinute);
    expect(qbo.stats.maxBatchPerMinute).toBeLessThanOrEqual(8);
    if (qbo.validating) expect(qbo.violations).toEqual([]);
    else console.warn('QuickBooks XSD checks skipped: ../shared/specs/quickbooks is absent');
    // The one invoice at 6% is parked, naming the setting to add.
    const parked = await openExceptions(t.db, csv);
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ reason_code: 'TARGET_SETTING_MISSING' });
    expect(parked[0]!.message).toContain('taxRates');
    expect(byReference('Invoice', 'CSV-ODD')).toEqual([]);

    // Reconciled against what QuickBooks holds (read back by id): the parked invoice is the only difference.
    const rec = await app.inject({
      method: 'GET',
      url: '/v1/pipelines/csv-to-qbo/reconciliation?from=2026-11-01&to=2026-11-30',
      headers: { authorization: `Bearer ${c.token}` },
    });
    expect(rec.statusCode).toBe(200);
    const body = rec.json<{
      mismatches: { externalReference: string | null; reason: string; sourceAmount: string; targetAmount: string }[];
      summary: { matched: number };
    }>();
    // And its customer's balance: the source says it owes the parked 10.60 too, QuickBooks does not hold it.
    expect(
      body.mismatches.map((m) =>
        m.reason === 'balance'
          ? [m.reason, Math.round((Number(m.sourceAmount) - Number(m.targetAmount)) * 100)]
          : [m.externalReference, m.reason],
      ),
    ).toEqual([
      ['CSV-ODD', 'parked'],
      ['balance', 1060],
    ]);
    expect(body.summary.matched).toBe(60);
    // Someone changes an invoice in QuickBooks: the read-back sees it.
    const edited = byReference('Invoice', refs[2]!)[0]!;
    const total = edited.TotalAmt;
    edited.TotalAmt = new LosslessNumber('1.00');
    const again = await app.inject({
      method: 'GET',
      url: '/v1/pipelines/csv-to-qbo/reconciliation?from=2026-11-01&to=2026-11-30',
      headers: { authorization: `Bearer ${c.token}` },
    });
    const differs = again.json<{ mismatches: { externalReference: string; reason: string }[] }>().mismatches;
    expect(differs.map((m) => m.externalReference)).toContain(refs[2]);
    edited.TotalAmt = total;
    // An invoice typed into QuickBooks by hand for one of the pipeline's customers is found too.
    const k0 = books.all('Customer').find((x) => x.AcctNum === 'K-0')!;
    const item = (first.Line as { SalesItemLineDetail?: { ItemRef: { value: string } } }[])[0]!.SalesItemLineDetail!
      .ItemRef;
    const taxCode = (first.Line as { SalesItemLineDetail?: { TaxCodeRef: { value: string } } }[])[0]!
      .SalesItemLineDetail!.TaxCodeRef;
    books.write('Invoice', 'create', {
      DocNumber: 'HAND-1',
      TxnDate: '2026-11-15',
      CustomerRef: { value: k0.Id },
      Line: [
        {
          Amount: new LosslessNumber('5.00'),
          DetailType: 'SalesItemLineDetail',
          SalesItemLineDetail: { ItemRef: item, TaxCodeRef: taxCode },
        },
      ],
    });
    const third = await app.inject({
      method: 'GET',
      url: '/v1/pipelines/csv-to-qbo/reconciliation?from=2026-11-01&to=2026-11-30',
      headers: { authorization: `Bearer ${c.token}` },
    });
    const unlinked = third.json<{ mismatches: { externalReference: string; reason: string }[] }>().mismatches;
    expect(unlinked.map((m) => [m.externalReference, m.reason])).toContainEqual(['HAND-1', 'posted-outside-pipeline']);
  }, 60_000);

  it('stripe → quickbooks: payments applied to the invoices they name, each Stripe fee once under dropped answers, a refund as a RefundReceipt at the invoice rates', async () => {
    await definePipeline(t.db, 'QBO1', {
      name: 'stripe-to-qbo',
      source: stripe.sourceConfig(SIGNING),
      target: target(oauth.issueGrant()),
    });
    const pipeline = (await t.db.query<{ id: string }>(`SELECT id FROM pipelines WHERE name = 'stripe-to-qbo'`))
      .rows[0]!;
    const paid = refs.slice(1, 13);
    const payments = paid.map((ref) => {
      const inv = byReference('Invoice', ref)[0]!;
      const cents = Number(String(inv.TotalAmt).replace('.', ''));
      return {
        ref,
        invoice: inv,
        pay: stripe.addPayment({ amount: cents, customer: null, fee: 30, metadata: { invoice_reference: ref } }),
      };
    });
    // The first writes' answers are lost after committing (fees and payments alike), besides the 5% at random.
    const droppedBefore = qbo.stats.dropped;
    qbo.dropNext(3);
    for (const p of payments) {
      const { body, header } = signedStripeDelivery(stripe.event('charge.succeeded', p.pay.charge), SIGNING);
      expect((await hooks.post('/v1/webhooks/stripe-to-qbo/stripe', body, { 'stripe-signature': header })).status).toBe(
        202,
      );
    }
    await drainTarget(t.db, sync, pipeline, 'QuickBooks');
    const refunded = payments[0]!;
    const refund = stripe.addRefund(refunded.pay.charge.id, 500);
    const { body, header } = signedStripeDelivery(stripe.event('refund.created', refund), SIGNING);
    expect((await hooks.post('/v1/webhooks/stripe-to-qbo/stripe', body, { 'stripe-signature': header })).status).toBe(
      202,
    );
    await drainTarget(t.db, sync, pipeline, 'QuickBooks');

    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const books = qbo.books(REALM);
    for (const p of payments) {
      const found = byReference('Payment', p.pay.paymentIntent.id);
      expect(found).toHaveLength(1);
      expect(found[0]!.Line).toMatchObject([{ LinkedTxn: [{ TxnId: p.invoice.Id, TxnType: 'Invoice' }] }]);
      expect(String(books.get('Invoice', p.invoice.Id)!.Balance)).toBe('0.00');
      // The customer is the invoice's, linked, not a new one.
      expect((found[0]!.CustomerRef as { value: string }).value).toBe(
        (p.invoice.CustomerRef as { value: string }).value,
      );
    }
    // Each Stripe fee exactly once: a cash purchase of 0.30 out of the bank to Bank Charges, with the payment's reference.
    const account = (ref: unknown) => String(books.get('Account', (ref as { value: string }).value)?.Name);
    for (const p of payments) {
      const fees = byReference('Purchase', p.pay.paymentIntent.id);
      expect(fees.map((f) => String(f.TotalAmt))).toEqual(['0.30']);
      const line = (f: Record<string, unknown>) =>
        (f.Line as { AccountBasedExpenseLineDetail: { AccountRef: unknown } }[])[0]!.AccountBasedExpenseLineDetail;
      expect([account(fees[0]!.AccountRef), account(line(fees[0]!).AccountRef)]).toEqual(['Checking', 'Bank Charges']);
    }
    expect(qbo.stats.dropped).toBeGreaterThanOrEqual(droppedBefore + 3);
    expect(books.all('Purchase')).toHaveLength(payments.length);
    expect(qbo.duplicates('Purchase', REALM)).toEqual([]);
    expect(books.all('Customer')).toHaveLength(8);
    const receipts = byReference('RefundReceipt', refund.id);
    expect(receipts).toHaveLength(1);
    // 5.00 of an invoice at 23%: 4.07 net + 0.93 VAT, on the invoice's own tax code.
    expect(String(receipts[0]!.TotalAmt)).toBe('5.00');
    expect(String((receipts[0]!.TxnTaxDetail as { TotalTax: unknown }).TotalTax)).toBe('0.93');
    expect(qbo.duplicates('Payment', REALM)).toEqual([]);
    // Reconciled: the payments as QuickBooks holds them, gross; the fees are no customer's documents.
    const dates = payments.map((p) => String(byReference('Payment', p.pay.paymentIntent.id)[0]!.TxnDate)).sort();
    const rec = await app.inject({
      method: 'GET',
      url: `/v1/pipelines/stripe-to-qbo/reconciliation?from=${dates[0]}&to=${dates[dates.length - 1]}`,
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(rec.statusCode).toBe(200);
    const recBody = rec.json<{
      summary: { matched: number; mismatched: number };
      mismatches: { kind: string; customerCode: string; sourceAmount: string; targetAmount: string }[];
    }>();
    // And the refund, compared with the RefundReceipt it was booked as; each payment's Stripe fee
    // with the Purchase carrying its reference. The only differences are the customers' balances:
    // in QuickBooks they owe the invoices the CSV pipeline booked, which the Stripe source never held
    // (the refund receipt adds nothing on either side).
    const balances = recBody.mismatches.filter((m) => m.kind === 'open-balance-difference');
    expect(recBody.summary).toMatchObject({
      matched: payments.length + 1,
      mismatched: balances.length,
      fees: { compared: payments.length, notCompared: 0 },
    });
    expect(balances.length).toBe(recBody.mismatches.length);
    const cents = (v: unknown) => BigInt(String(v).replace('.', ''));
    const invoiced = (customer: string) =>
      books
        .all('Invoice')
        .filter((e) => (e.CustomerRef as { value: string }).value === customer && String(e.TxnDate) <= dates.at(-1)!)
        .reduce((sum, e) => sum + cents(e.TotalAmt), 0n);
    expect(balances.map((m) => cents(m.targetAmount) - cents(m.sourceAmount))).toEqual(
      balances.map((m) => invoiced(m.customerCode)),
    );
    expect(balances.length).toBeGreaterThan(0);
    // The planner paces by its own clock; a request that arrives a few ms late at the edge of a
    // scaled 100 ms window may still be refused, and is then retried by the client: never a failure.
    expect(qbo.stats.throttled).toBeLessThanOrEqual(Math.ceil(qbo.stats.calls * 0.05));
    if (qbo.validating) expect(qbo.violations).toEqual([]);
  }, 60_000);

  it('re-reads a customer whose SyncToken went stale and retries the update once', async () => {
    await t.entity('QBO2', 'EUR', { standardTaxRate: '0.23' });
    const pipeline: Pipeline = await definePipeline(t.db, 'QBO2', {
      name: 'records-to-qbo',
      source: { type: 'records' },
      target: target(oauth.issueGrant()),
    });
    const customer = (email: string) => ({
      record: { kind: 'customer', sourceId: 'S-1', name: 'Stale Example', email } as never,
    });
    await sync.processRecords(pipeline, 'import', 'test', [customer('old@example.com')]);
    await drainTarget(t.db, sync, pipeline, 'QuickBooks');
    const created = qbo
      .books(REALM)
      .all('Customer')
      .find((c) => c.DisplayName === 'Stale Example')!;
    // Someone edits the customer in QuickBooks meanwhile.
    qbo.books(REALM).touch('Customer', created.Id);
    const before = qbo.log.length;
    await sync.processRecords(pipeline, 'import', 'test', [customer('new@example.com')]);
    await drainTarget(t.db, sync, pipeline, 'QuickBooks');
    const after = qbo.books(REALM).get('Customer', created.Id)!;
    expect(after.PrimaryEmailAddr).toEqual({ Address: 'new@example.com' });
    expect(after.SyncToken).toBe('2');
    // One update refused as stale, then read again and retried: three batch calls (read, stale, retry) and a read.
    expect(qbo.log.slice(before).filter((l) => l.path.endsWith('/batch')).length).toBeGreaterThanOrEqual(3);
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
  }, 60_000);

  it('parks documents with TARGET_AUTH_REVOKED when the connection is revoked, saying how to reconnect', async () => {
    await t.entity('QBO3', 'EUR', { standardTaxRate: '0.23' });
    const grant = oauth.issueGrant();
    const pipeline: Pipeline = await definePipeline(t.db, 'QBO3', {
      name: 'revoked-to-qbo',
      source: { type: 'records' },
      target: target(grant),
    });
    oauth.revoke(grant);
    await sync.processRecords(pipeline, 'import', 'test', [
      { record: { kind: 'customer', sourceId: 'R-1', name: 'Revoked Example' } as never },
    ]);
    await drainTarget(t.db, sync, pipeline, 'QuickBooks');
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((p) => p.reason_code)).toEqual(['TARGET_AUTH_REVOKED']);
    expect(parked[0]!.message).toContain('/oauth/start');
    expect(
      qbo
        .books(REALM)
        .all('Customer')
        .some((c) => c.DisplayName === 'Revoked Example'),
    ).toBe(false);
  }, 60_000);

  it('connects through the OAuth flow without a realmId: the callback names the company, and writes go to it', async () => {
    const c = await t.entity('QBO4', 'EUR', { standardTaxRate: '0.23' });
    const { refreshToken: _none, realmId: _realm, ...settings } = target(oauth.issueGrant());
    const saved = await c.put('/v1/pipelines/connected-qbo', {
      source: { type: 'webhook' },
      webhookSecret: 'connected-qbo-secret-0123456789',
      target: { ...settings, authorizeUrl: `${qbo.url}/authorize` },
    });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const started = await c.get('/v1/connections/connected-qbo/oauth/start');
    expect(started.status, JSON.stringify(started.body)).toBe(302);
    const consent = new URL(String(started.headers.location));
    expect(consent.searchParams.get('scope')).toBe('com.intuit.quickbooks.accounting');
    // The user consents at Intuit, which sends the browser back with code, state and realmId.
    const back = await fetch(consent, { redirect: 'manual' });
    const callback = new URL(back.headers.get('location')!);
    expect(callback.searchParams.get('realmId')).toBe(REALM);
    const done = await t.request('GET', callback.pathname + callback.search);
    expect(done.status, JSON.stringify(done.body)).toBeLessThan(400);
    const pipeline = (await t.db.query<{ id: string }>(`SELECT id FROM pipelines WHERE name = 'connected-qbo'`))
      .rows[0]!;
    const { rows } = await t.db.query<{ tenant_id: string }>(
      `SELECT tenant_id FROM oauth_connections WHERE pipeline_id = $1`,
      [pipeline.id],
    );
    expect(rows).toEqual([{ tenant_id: REALM }]);
    const p = (await findPipelineById(t.db, testBox, pipeline.id))!;
    await sync.processRecords(p, 'import', 'test', [
      { record: { kind: 'customer', sourceId: 'F-1', name: 'Flow Example' } as never },
    ]);
    await drainTarget(t.db, sync, p, 'QuickBooks');
    expect(await openExceptions(t.db, p)).toEqual([]);
    expect(
      qbo
        .books(REALM)
        .all('Customer')
        .some((x) => x.DisplayName === 'Flow Example'),
    ).toBe(true);
  }, 60_000);
});
