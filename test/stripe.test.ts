import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, postInvoice, seedCustomer } from './helpers/ledger.ts';
import { definePipeline } from './helpers/sync.ts';
import { webhookClient, type WebhookClient } from './helpers/webhooks.ts';
import { StripeSimulator, signedStripeDelivery } from '../src/connectors/stripe/simulator.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';

const SIGNING = 'whsec_ledgerlink_test_0123456789';
let t: TestApp;
let c: Client;
let hooks: WebhookClient;
let sim: StripeSimulator;
let stripe: Pipeline;
let acmeInvoice: { transactionId: number; number: number; grossAmount: string };

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('STR', 'EUR', { standardTaxRate: '0.21' });
  hooks = await webhookClient(t);
  sim = await new StripeSimulator().start();
  stripe = await definePipeline(t.db, 'STR', { name: 'stripe', source: sim.sourceConfig(SIGNING) });
  await definePipeline(t.db, 'STR', {
    name: 'shop',
    source: { type: 'webhook' },
    webhookSecret: 'shop-webhook-secret-0123456789',
  });
  await seedCustomer(t.db, c.entityId, 'ACME');
  acmeInvoice = await postInvoice(c, 'ACME', '100.00', { externalReference: 'INV-100' });
});
afterAll(async () => {
  await hooks.close();
  await sim.close();
  await t.close();
});

async function deliver(
  event: Record<string, unknown>,
  opts: { secret?: string; timestamp?: number; tamper?: (body: string) => string; pipeline?: string } = {},
) {
  const { body, header } = signedStripeDelivery(event, opts.secret ?? SIGNING, opts.timestamp);
  return hooks.post(`/v1/webhooks/${opts.pipeline ?? 'stripe'}/stripe`, opts.tamper ? opts.tamper(body) : body, {
    'stripe-signature': header,
  });
}

async function state() {
  const { rows } = await t.db.query<{ events: string; runs: string; tx: string; customers: string }>(
    `SELECT (SELECT count(*) FROM webhook_events) AS events, (SELECT count(*) FROM runs) AS runs,
            (SELECT count(*) FROM transactions WHERE entity_id = $1) AS tx, (SELECT count(*) FROM customers WHERE entity_id = $1) AS customers`,
    [c.entityId],
  );
  return rows[0]!;
}

async function byReference(type: string, ref: string) {
  const { rows } = await t.db.query<{ id: string; gross: string; customer_code: string }>(
    `SELECT id, gross::text AS gross, customer_code FROM transactions WHERE entity_id = $1 AND type = $2 AND external_reference = $3`,
    [c.entityId, type, ref],
  );
  return rows;
}

async function lastRecords(kind: string) {
  const { rows } = await t.db.query<{ source_id: string; outcome: string; message: string | null }>(
    `SELECT source_id, outcome, message FROM run_records WHERE kind = $1 ORDER BY id`,
    [kind],
  );
  return rows;
}

describe('Stripe', () => {
  let second: ReturnType<StripeSimulator['addPayment']>;

  it('books a succeeded payment as a receipt allocated to the invoice in its metadata, and the Stripe fee to bank charges', async () => {
    const cus = sim.addCustomer({ name: 'Acme (Stripe)', email: 'billing@acme.example' });
    const pay = sim.addPayment({
      amount: 12100,
      customer: cus.id,
      fee: 206,
      metadata: { invoice_reference: 'INV-100' },
    });
    const r1 = await deliver(sim.event('payment_intent.succeeded', pay.paymentIntent));
    expect(r1.status).toBe(202);
    expect(r1.body.duplicate).toBe(false);
    // The same payment's other event names the same charge: posted once.
    expect((await deliver(sim.event('charge.succeeded', pay.charge))).status).toBe(202);

    const receipts = await byReference('SR', pay.paymentIntent.id);
    expect(receipts).toHaveLength(1);
    // Stripe identified the invoice, and so the customer: the receipt is ACME's, not a new customer's.
    expect(receipts[0]).toMatchObject({ gross: '12100', customer_code: 'ACME' });
    const { rows: alloc } = await t.db.query<any>(
      `SELECT debit_transaction_id, credit_transaction_id, amount::text AS amount FROM allocations WHERE entity_id = $1`,
      [c.entityId],
    );
    expect(alloc).toEqual([
      {
        debit_transaction_id: String(acmeInvoice.transactionId),
        credit_transaction_id: receipts[0]!.id,
        amount: '12100',
      },
    ]);
    const { rows: fee } = await t.db.query<any>(
      `SELECT j.gl_account_code, j.amount::text AS amount FROM transactions t JOIN journal_lines j ON j.transaction_id = t.id
        WHERE t.entity_id = $1 AND t.type = 'GJ' AND t.external_reference = $2 ORDER BY j.amount DESC`,
      [c.entityId, pay.paymentIntent.id],
    );
    expect(fee).toEqual([
      { gl_account_code: '7700', amount: '206' },
      { gl_account_code: '1200', amount: '-206' },
    ]);
    expect(await lastRecords('payment')).toEqual([
      { source_id: pay.charge.id, outcome: 'created', message: `allocated to Invoice ${acmeInvoice.number} (INV-100)` },
      { source_id: pay.charge.id, outcome: 'skipped', message: 'already posted' },
    ]);
    // Fetched through the API: the customer once, the charge with its balance transaction and payment intent.
    expect(sim.requests.filter((r) => r.path === `/v1/customers/${cus.id}`)).toHaveLength(1);
    expect(sim.requests.find((r) => r.path === `/v1/charges/${pay.charge.id}`)!.query).toContain('balance_transaction');
    await checkInvariants(t.db, c.entityId);
  });

  it('leaves a payment without invoice_reference unallocated and says so, creating its customer from Stripe', async () => {
    const cus = sim.addCustomer({ name: 'New Shop Ltd', email: 'hello@newshop.example' });
    second = sim.addPayment({ amount: 5000, customer: cus.id, fee: 100 });
    expect((await deliver(sim.event('charge.succeeded', second.charge))).status).toBe(202);
    const [receipt] = await byReference('SR', second.paymentIntent.id);
    const code = cus.id.toUpperCase();
    expect(receipt).toMatchObject({ gross: '5000', customer_code: code });
    const { rows: customer } = await t.db.query<any>(
      `SELECT name, email FROM customers WHERE entity_id = $1 AND code = $2`,
      [c.entityId, code],
    );
    expect(customer).toEqual([{ name: 'New Shop Ltd', email: 'hello@newshop.example' }]);
    const { rows: alloc } = await t.db.query<any>(
      `SELECT count(*) AS n FROM allocations WHERE credit_transaction_id = $1`,
      [receipt!.id],
    );
    expect(alloc[0].n).toBe('0');
    expect((await lastRecords('payment')).at(-1)).toEqual({
      source_id: second.charge.id,
      outcome: 'created',
      message: 'unallocated: the payment names no invoice',
    });
    const { rows: runs } = await t.db.query<any>(
      `SELECT status FROM runs WHERE pipeline_id = $1 ORDER BY created_at DESC LIMIT 1`,
      [stripe.id],
    );
    expect(runs[0].status).toBe('succeeded');
  });

  it('books a refund as a debit journal allocated against the receipt, once for both of its events', async () => {
    const refund = sim.addRefund(second.charge.id, 2000);
    expect((await deliver(sim.event('refund.created', refund))).status).toBe(202);
    expect((await deliver(sim.event('charge.refunded', sim.charges.get(second.charge.id)!))).status).toBe(202);
    const journals = await byReference('SD', refund.id);
    expect(journals).toHaveLength(1);
    expect(journals[0]).toMatchObject({
      gross: '2000',
      customer_code: String(second.charge.customer as string).toUpperCase(),
    });
    const [receipt] = await byReference('SR', second.paymentIntent.id);
    const { rows } = await t.db.query<any>(
      `SELECT debit_transaction_id, credit_transaction_id, amount::text AS amount FROM allocations WHERE debit_transaction_id = $1`,
      [journals[0]!.id],
    );
    expect(rows).toEqual([
      { debit_transaction_id: journals[0]!.id, credit_transaction_id: receipt!.id, amount: '2000' },
    ]);
    await checkInvariants(t.db, c.entityId);
  });

  it('books a guest payment to the customer of the invoice it names', async () => {
    await postInvoice(c, 'ACME', '10.00', { externalReference: 'INV-101' });
    const guest = sim.addPayment({
      amount: 1210,
      customer: null,
      fee: 30,
      chargeMetadata: { invoice_reference: 'INV-101' },
    });
    expect((await deliver(sim.event('charge.succeeded', guest.charge))).status).toBe(202);
    expect(await byReference('SR', guest.paymentIntent.id)).toMatchObject([{ customer_code: 'ACME', gross: '1210' }]);
    expect((await lastRecords('payment')).at(-1)!.message).toMatch(/^allocated to Invoice \d+ \(/);
  });

  it('refuses a bad signature, a tampered body and a stale or future timestamp with 401, storing nothing', async () => {
    const before = await state();
    const pay = sim.addPayment({ amount: 700, customer: null, metadata: { invoice_reference: 'INV-100' } });
    const event = sim.event('charge.succeeded', pay.charge);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<{ status: number; body: any }>, string][] = [
      ['wrong secret', deliver(event, { secret: 'whsec_someone_else_0123456789' }), 'WEBHOOK_SIGNATURE_INVALID'],
      [
        'tampered',
        deliver(event, { tamper: (b) => b.replace('"amount":700', '"amount":70000') }),
        'WEBHOOK_SIGNATURE_INVALID',
      ],
      ['stale', deliver(event, { timestamp: now - 600 }), 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE'],
      ['future', deliver(event, { timestamp: now + 600 }), 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE'],
      ['no header', hooks.post('/v1/webhooks/stripe/stripe', JSON.stringify(event), {}), 'WEBHOOK_SIGNATURE_INVALID'],
    ];
    for (const [name, pending, code] of cases) {
      const res = await pending;
      expect(res.status, name).toBe(401);
      expect(res.body.error.code, name).toBe(code);
    }
    // A canonical-webhook pipeline has no Stripe endpoint, and the answer does not say why.
    expect((await deliver(event, { pipeline: 'shop' })).status).toBe(404);
    expect((await deliver(event, { pipeline: 'nope' })).status).toBe(404);
    expect(await state()).toEqual(before);
  });

  it('answers a replayed event as a duplicate and changes nothing; acknowledges event types it does not book', async () => {
    const pay = sim.addPayment({ amount: 900, customer: null, metadata: { invoice_reference: 'INV-100' } });
    const event = sim.event('payment_intent.succeeded', pay.paymentIntent);
    expect((await deliver(event)).body).toEqual({ eventId: event.id, duplicate: false });
    const before = await state();
    expect((await deliver(event)).body).toEqual({ eventId: event.id, duplicate: true });
    const other = sim.event('customer.created', sim.addCustomer({ name: 'x' }));
    expect((await deliver(other)).body).toEqual({ eventId: other.id, duplicate: false, ignored: true });
    expect(await state()).toEqual(before);
  });

  it('rides out Stripe rate limits without losing the event', async () => {
    const pay = sim.addPayment({ amount: 4400, customer: null, metadata: { invoice_reference: 'INV-100' } });
    sim.failNext(3, 429); // more than the client's own two retries: the run is retried
    expect((await deliver(sim.event('charge.succeeded', pay.charge))).status).toBe(202);
    expect(await byReference('SR', pay.paymentIntent.id)).toMatchObject([{ gross: '4400', customer_code: 'ACME' }]);
    // Three refusals, then the retried run's request that went through.
    expect(sim.requests.filter((r) => r.path === `/v1/charges/${pay.charge.id}`)).toHaveLength(4);
    const { rows: run } = await t.db.query<any>(
      `SELECT status, attempts FROM runs WHERE pipeline_id = $1 ORDER BY created_at DESC LIMIT 1`,
      [stripe.id],
    );
    expect(run[0]).toEqual({ status: 'succeeded', attempts: 2 });
    const { rows } = await t.db.query<any>(
      `SELECT count(*) AS n FROM webhook_events WHERE pipeline_id = $1 AND processed_at IS NULL`,
      [stripe.id],
    );
    expect(rows[0].n).toBe('0');
    await checkInvariants(t.db, c.entityId);
  });

  // Found by npm run fuzz (issue #14): such an id failed the request as a connection error, the
  // run was retried without end and every later event of the pipeline waited behind it.
  it('parks an event whose charge id no Stripe object can have, and books the next event', async () => {
    const hostile = { ...sim.event('charge.succeeded', { id: 'x'.repeat(70_000), object: 'charge' }) };
    expect((await deliver(hostile)).status).toBe(202);
    const pay = sim.addPayment({ amount: 1300, customer: null, metadata: { invoice_reference: 'INV-100' } });
    expect((await deliver(sim.event('charge.succeeded', pay.charge))).status).toBe(202);
    expect(await byReference('SR', pay.paymentIntent.id)).toMatchObject([{ gross: '1300' }]);
    const { rows: pending } = await t.db.query<any>(
      `SELECT count(*) AS n FROM webhook_events WHERE pipeline_id = $1 AND processed_at IS NULL`,
      [stripe.id],
    );
    expect(pending[0].n).toBe('0');
    const { rows: parked } = await t.db.query<any>(
      `SELECT reason_code, message FROM exceptions WHERE pipeline_id = $1 AND source_id = $2 AND status = 'open'`,
      [stripe.id, 'x'.repeat(70_000)],
    );
    expect(parked).toHaveLength(1);
    expect(parked[0].reason_code).toBe('STRIPE_API_ERROR');
    expect(parked[0].message).toMatch(/not a Stripe id/);
    expect(parked[0].message.length).toBeLessThan(500);
    await checkInvariants(t.db, c.entityId);
  });
});

describe('Stripe pipelines of one name in several entities', () => {
  it('answers a delivery by the pipeline whose signing secret verified it, not by the first pipeline of the name', async () => {
    // AAS's pipeline `stripe` is tried first (pipelines of a name are tried in the order of their entity codes).
    await t.entity('AAS', 'EUR');
    await definePipeline(t.db, 'AAS', {
      name: 'stripe',
      source: sim.sourceConfig('whsec_another_entity_0123456789'),
      enabled: false,
    });
    const before = await state();
    const pay = sim.addPayment({ amount: 800, customer: null, metadata: { invoice_reference: 'INV-100' } });
    const event = sim.event('charge.succeeded', pay.charge);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<{ status: number; body: any }>, number, string][] = [
      ['stale', deliver(event, { timestamp: now - 600 }), 401, 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE'],
      ['future', deliver(event, { timestamp: now + 600 }), 401, 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE'],
      ['not an event', deliver({ ...event, id: '' }), 400, 'VALIDATION_ERROR'],
      ['neither secret', deliver(event, { secret: 'whsec_someone_else_0123456789' }), 401, 'WEBHOOK_SIGNATURE_INVALID'],
    ];
    for (const [name, pending, status, code] of cases) {
      const res = await pending;
      expect({ name, status: res.status, code: res.body.error.code }).toEqual({ name, status, code });
    }
    expect(await state()).toEqual(before);
  });
});
