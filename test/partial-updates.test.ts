import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { postInvoice } from './helpers/ledger.ts';
import { definePipeline, testBox } from './helpers/sync.ts';
import { syncServer, upload } from './helpers/uploads.ts';
import { webhookClient, type WebhookClient } from './helpers/webhooks.ts';
import { StripeSimulator, signedStripeDelivery } from '../src/connectors/stripe/simulator.ts';
import { type WebhookReceiver, startWebhookReceiver } from '../src/connectors/webhook/receiver.ts';
import type { SourceItem } from '../src/sync/connector.ts';
import { findPipeline } from '../src/sync/pipelines.ts';

/*
 * Issue #8, "no silent data loss": a source that knows only some fields of a customer changes only
 * those; an empty value clears a field only where the pipeline is authoritative for it.
 */

let t: TestApp;
let app: FastifyInstance;
let c: Client;

const FULL = {
  name: 'Acme Trading',
  email: 'billing@acme.example',
  phone: '+353 1 555 0100',
  address: { street: '1 Dock Road', city: 'Dublin', postalCode: 'D01', country: 'IE' },
  vatNumber: 'IE1234567T',
};

async function customer(code: string) {
  const r = await c.get(`/v1/customers/${code}`);
  expect(r.status).toBe(200);
  return r.body;
}

/** A customer as a user keeps it in the ledger: every field filled in through the API. */
async function existingCustomer(code: string) {
  const r = await c.put(`/v1/customers/${code}`, FULL);
  expect(r.status).toBe(201);
}

async function pipeline(name: string) {
  return (await findPipeline(t.db, testBox, name))!;
}

function csv(lines: string[]) {
  return Buffer.from(lines.join('\n') + '\n');
}

async function importInvoices(pipeline: string, name: string, content: Buffer) {
  const r = await upload(app, c.token, { pipeline }, { name, content });
  expect(r.status).toBe(200);
  expect(r.body.status).toBe('succeeded');
  return r.body;
}

beforeAll(async () => {
  t = await createTestApp();
  app = await syncServer(t);
  c = await t.entity('PUP', 'EUR', { standardTaxRate: '0.21' });
  await definePipeline(t.db, 'PUP', { name: 'files', source: { type: 'file' } });
  await definePipeline(t.db, 'PUP', {
    name: 'files-authoritative',
    source: { type: 'file' },
    options: { customers: { authoritative: ['email', 'phone'] } },
  });
  await definePipeline(t.db, 'PUP', { name: 'payments', source: { type: 'records' } });
});
afterAll(async () => {
  if (app !== t.app) await app.close();
  await t.close();
});

describe('a source that knows only some fields of a customer', () => {
  it('an invoices CSV with only customer_id and customer_name renames the customer and keeps its email, phone, address and VAT number', async () => {
    await existingCustomer('ACME');
    await importInvoices(
      'files',
      'names-only.csv',
      csv([
        'invoice_reference,customer_id,customer_name,invoice_date,currency,net_amount,vat_rate',
        'PU-1,ACME,Acme Trading Ltd,2026-11-02,EUR,100.00,0.21',
      ]),
    );
    expect(await customer('ACME')).toMatchObject({ ...FULL, name: 'Acme Trading Ltd' });
  });

  it('a blank customer_email cell is ignored by a pipeline not authoritative for email', async () => {
    await existingCustomer('BLANK');
    await importInvoices(
      'files',
      'blank-email.csv',
      csv([
        'invoice_reference,customer_id,customer_name,customer_email,invoice_date,currency,net_amount,vat_rate',
        'PU-2,BLANK,Acme Trading,,2026-11-02,EUR,100.00,0.21',
      ]),
    );
    expect(await customer('BLANK')).toMatchObject(FULL);
  });

  it('a blank customer_email cell clears the email where the pipeline is authoritative for it, and nothing else', async () => {
    await existingCustomer('AUTH');
    await importInvoices(
      'files-authoritative',
      'blank-email.csv',
      csv([
        'invoice_reference,customer_id,customer_name,customer_email,invoice_date,currency,net_amount,vat_rate',
        'PU-3,AUTH,Acme Trading,,2026-11-02,EUR,100.00,0.21',
      ]),
    );
    // phone is authoritative too, but the file has no phone column: it says nothing about it.
    expect(await customer('AUTH')).toMatchObject({ ...FULL, email: null });
  });

  it('a customers CSV changes only the columns it has', async () => {
    await existingCustomer('COLS');
    await importInvoices('files', 'customers.csv', csv(['customer_id,name,city', 'COLS,Acme Trading,Cork']));
    expect(await customer('COLS')).toMatchObject({ ...FULL, address: { ...FULL.address, city: 'Cork' } });
  });

  it("the demo's payments pipeline (customer by code and name only) keeps every customer's email", async () => {
    await existingCustomer('DEMO1');
    const inv = await postInvoice(c, 'DEMO1', '10.00', { externalReference: 'DEMO-INV-1' });
    const items: SourceItem[] = [
      { record: { kind: 'customer', sourceId: 'DEMO1', code: 'DEMO1', name: 'Acme Trading' } },
      {
        record: {
          kind: 'payment',
          sourceId: 'PAY-DEMO-INV-1',
          externalReference: 'PAY-DEMO-INV-1',
          customerSourceId: 'DEMO1',
          date: '2026-11-03',
          amount: inv.grossAmount,
          currency: 'EUR',
          invoiceExternalReference: 'DEMO-INV-1',
          description: 'Demo payment',
        },
      },
    ];
    await t.sync.processRecords(await pipeline('payments'), 'import', 'demo', items);
    expect(await customer('DEMO1')).toMatchObject(FULL);
  });

  it('refuses an authoritative field that is not a clearable customer field, naming it', async () => {
    for (const bad of ['emial', 'name', 'currency']) {
      const r = await c.put('/v1/pipelines/bad-authority', {
        source: { type: 'file' },
        options: { customers: { authoritative: ['email', bad] } },
      });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
      expect(JSON.stringify(r.body.error.details)).toContain('options.customers.authoritative.1');
    }
    expect((await c.get('/v1/pipelines/bad-authority')).status).toBe(404);
  });
});

describe('Stripe payments against an existing customer', () => {
  const SIGNING = 'whsec_partial_updates_0123456789';
  let sim: StripeSimulator;
  let hooks: WebhookClient;

  beforeAll(async () => {
    sim = await new StripeSimulator().start();
    hooks = await webhookClient(t);
    await definePipeline(t.db, 'PUP', { name: 'stripe', source: sim.sourceConfig(SIGNING) });
  });
  afterAll(async () => {
    await hooks.close();
    await sim.close();
  });

  async function pay(customerId: string, invoiceReference: string, amount: number) {
    const p = sim.addPayment({ amount, customer: customerId, metadata: { invoice_reference: invoiceReference } });
    const { body, header } = signedStripeDelivery(sim.event('payment_intent.succeeded', p.paymentIntent), SIGNING);
    const r = await hooks.post('/v1/webhooks/stripe/stripe', body, { 'stripe-signature': header });
    expect(r.status).toBe(202);
  }

  it('keeps the email, phone and VAT number of the customer a Stripe customer without them pays for', async () => {
    await existingCustomer('STRIPE1');
    await postInvoice(c, 'STRIPE1', '100.00', { externalReference: 'ST-INV-1' });
    const cus = sim.addCustomer({ name: 'Acme (Stripe)', email: null, metadata: { customer_code: 'STRIPE1' } });
    await pay(cus.id, 'ST-INV-1', 12100);
    expect(await customer('STRIPE1')).toMatchObject(FULL);
    await postInvoice(c, 'STRIPE1', '10.00', { externalReference: 'ST-INV-2' });
    await pay(cus.id, 'ST-INV-2', 1210);
    expect(await customer('STRIPE1')).toMatchObject(FULL);
  });
});

describe('a remote target receives only the fields a source carries', () => {
  let r: WebhookReceiver;
  beforeAll(async () => {
    r = await startWebhookReceiver({ seed: 5 });
  });
  afterAll(async () => {
    await r.close();
  });

  it('sends the fields present, an empty one only where the pipeline is authoritative, and nothing it was not given', async () => {
    await definePipeline(t.db, 'PUP', { name: 'to-erp', source: { type: 'records' }, target: r.settings() });
    await definePipeline(t.db, 'PUP', {
      name: 'to-erp-authoritative',
      source: { type: 'records' },
      target: r.settings(),
      options: { customers: { authoritative: ['email'] } },
    });
    const record = (sourceId: string) => ({
      record: { kind: 'customer' as const, sourceId, name: 'Partial Knowledge', email: null, city: 'Gent' },
    });
    await t.sync.processRecords(await pipeline('to-erp'), 'import', 'test', [record('W-1')]);
    await t.sync.processRecords(await pipeline('to-erp-authoritative'), 'import', 'test', [record('W-2')]);
    const sent = (code: string) => r.find('customer', code).map((d) => d.document);
    const [plain] = sent('W-1');
    expect(plain).toMatchObject({ name: 'Partial Knowledge', city: 'Gent' });
    expect(Object.keys(plain!)).not.toContain('email');
    expect(Object.keys(plain!)).not.toContain('phone');
    const [authoritative] = sent('W-2');
    expect(authoritative).toMatchObject({ name: 'Partial Knowledge', city: 'Gent', email: null });
    expect(Object.keys(authoritative!)).not.toContain('phone');
  });
});

describe('the audit trail keeps before and after of exactly what changed', () => {
  async function audit(query: string) {
    const r = await c.get(`/v1/audit?${query}`);
    expect(r.status).toBe(200);
    return r.body.items as { action: string; actor: string; before: unknown; after: unknown }[];
  }

  it('a customer changed by a sync: the fields it changed, by the pipeline', async () => {
    await existingCustomer('SYNCED');
    await importInvoices(
      'files',
      'rename.csv',
      csv([
        'invoice_reference,customer_id,customer_name,customer_email,invoice_date,currency,net_amount,vat_rate',
        'PU-A1,SYNCED,Acme Renamed,new@acme.example,2026-11-02,EUR,100.00,0.21',
      ]),
    );
    const [latest] = await audit('objectType=customer&objectId=SYNCED');
    expect(latest).toMatchObject({
      action: 'customer.updated',
      actor: 'pipeline:files',
      before: { name: FULL.name, email: FULL.email },
      after: { name: 'Acme Renamed', email: 'new@acme.example' },
    });
    expect(Object.keys(latest!.after as object).sort()).toEqual(['email', 'name']);
    // The same file again changes nothing, and adds nothing to the trail.
    await importInvoices(
      'files',
      'rename-again.csv',
      csv([
        'invoice_reference,customer_id,customer_name,customer_email,invoice_date,currency,net_amount,vat_rate',
        'PU-A2,SYNCED,Acme Renamed,new@acme.example,2026-11-02,EUR,100.00,0.21',
      ]),
    );
    expect(await audit('objectType=customer&objectId=SYNCED')).toHaveLength(2);
  });

  it('a pipeline: the changed fields, a changed secret as [secret], and no secret anywhere in GET /v1/audit', async () => {
    const first = 'ixk_first_secret_value_0001';
    const second = 'ixk_second_secret_value_0002';
    const hook = 'whs_pipeline_hook_secret_0003';
    const put = (apiKey: string, schedule: string | null) =>
      c.put('/v1/pipelines/audited', {
        source: { type: 'ixpole', baseUrl: 'https://club.example/', apiKey },
        schedule,
        webhookSecret: hook,
      });
    expect((await put(first, null)).status).toBe(201);
    expect((await put(second, '*/5 * * * *')).status).toBe(200);
    const entries = await audit('objectType=pipeline&objectId=audited');
    expect(entries.map((e) => e.action)).toEqual(['pipeline.updated', 'pipeline.created']);
    expect(entries[0]).toMatchObject({
      before: { schedule: null, source: { apiKey: '[secret]' } },
      after: { schedule: '*/5 * * * *', source: { apiKey: '[secret]' } },
    });
    expect(Object.keys(entries[0]!.after as object).sort()).toEqual(['schedule', 'source']);
    expect(entries[1]!.after).toMatchObject({ webhookSecret: '[secret]', source: { apiKey: '[secret]' } });
    const everything = JSON.stringify((await c.get('/v1/audit?pageSize=200')).body);
    for (const secret of [first, second, hook]) expect(everything).not.toContain(secret);
  });

  it('a pipeline from ledgerlink.yaml: its target secret never reaches the audit trail', async () => {
    const { applyConfig, ConfigFile } = await import('../src/sync/config.ts');
    const secret = 'erp_target_secret_0123456789';
    const config = ConfigFile.parse({
      pipelines: [
        {
          name: 'from-yaml',
          entity: 'PUP',
          // What users write may not name the engine's internal sources (records).
          source: { type: 'webhook' },
          target: { type: 'webhook', url: 'https://erp.example/in', secret },
        },
      ],
    });
    await applyConfig(t.db, testBox, config);
    await applyConfig(t.db, testBox, config);
    const entries = await audit('objectType=pipeline&objectId=from-yaml');
    // Applied twice, changed once.
    expect(entries.map((e) => e.action)).toEqual(['pipeline.created']);
    expect(entries[0]!.after).toMatchObject({ target: { type: 'webhook', secret: '[secret]' } });
    expect(JSON.stringify(entries)).not.toContain(secret);
  });
});
