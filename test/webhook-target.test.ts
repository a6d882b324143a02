import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { definePipeline, drainTarget, syncService } from './helpers/sync.ts';
import { syncServer, upload } from './helpers/uploads.ts';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { type WebhookReceiver, startWebhookReceiver } from '../src/connectors/webhook/receiver.ts';
import { getRun, listRunRecords } from '../src/sync/runs.ts';
import type { SyncService } from '../src/sync/service.ts';

/*
 * The `webhook` target end to end, through the engine: a receiver (src/connectors/webhook/
 * receiver.ts) that commits and then drops 5% of its answers and fails 5% before committing, with
 * item idempotency keys ignored, so that nothing but the engine's protocol (intent, attempt on
 * record, lookup by reference before any resend) stands between a dropped answer and a duplicate.
 */

let t: TestApp;
let app: FastifyInstance;
let sync: SyncService;
const closers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  t = await createTestApp();
  app = await syncServer(t);
  // Retries without waiting, so that the test drives them instead of the clock.
  sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
});
afterAll(async () => {
  for (const c of closers) await c.close();
  if (app !== t.app) await app.close();
  await t.close();
});

async function receiver(options: Parameters<typeof startWebhookReceiver>[0]) {
  const r = await startWebhookReceiver({ honourItemKeys: false, ...options });
  closers.push(r);
  return r;
}

async function ledgerTransactions(c: Client) {
  const { rows } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM transactions WHERE entity_id = $1`, [
    c.entityId,
  ]);
  return Number(rows[0]!.n);
}

function expectEachOnce(r: WebhookReceiver, kind: 'invoice' | 'payment' | 'customer', references: string[]) {
  const missing = references.filter((ref) => r.find(kind, ref).length === 0);
  const twice = references.filter((ref) => r.find(kind, ref).length > 1);
  expect({ missing, twice }).toEqual({ missing: [], twice: [] });
}

describe('the webhook target, end to end', () => {
  it('iXpole → webhook: every instalment exactly once through dropped answers and 503s, numbers written back', async () => {
    const c = await t.entity('WHT1', 'EUR', { standardTaxRate: '0.21' });
    const r = await receiver({ seed: 11, dropAfterCommitRate: 0.05, failRate: 0.05 });
    const sim: IxpoleSimulator = await startIxpoleSimulator({ seed: 5, instalments: 120, customers: 15, products: 4 });
    closers.push(sim);
    // One document per request makes 5% of answers many dropped answers.
    const pipeline = await definePipeline(t.db, 'WHT1', {
      name: 'ix-to-erp',
      source: {
        type: 'ixpole',
        baseUrl: sim.url,
        apiKey: sim.apiKey,
        backoffBaseMs: 5,
        backoffMaxMs: 20,
        maxAttempts: 4,
      },
      target: r.settings({ batchSize: 1 }),
      options: { pageSize: 40 },
    });
    const runId = (await sync.trigger(pipeline, 'manual', 'test'))!;
    const run = (await getRun(t.db, runId))!;
    expect(['succeeded', 'partial']).toContain(run.status);
    await drainTarget(t.db, sync, pipeline, 'the target');
    await sync.flushAll();

    // The faults happened, and were looked up rather than resent blind.
    expect(r.stats.dropped).toBeGreaterThan(3);
    expect(r.stats.lookups).toBeGreaterThan(0);
    const codes = [...Array(sim.total).keys()].map((i) => sim.instalmentAt(i).InstalmentCode);
    expectEachOnce(r, 'invoice', codes);
    expect(r.count('invoice')).toBe(codes.length);
    expect(r.duplicates()).toEqual([]);
    expect(r.stats.duplicates).toBe(0);
    // Never a silent substitute: nothing was booked in the embedded ledger.
    expect(await ledgerTransactions(c)).toBe(0);

    // Write-back carries the target's own numbers.
    const told = new Map<string, string>();
    for (const w of sim.writes)
      if (w.method === 'PUT')
        for (const u of w.body as { InstalmentCode: string; InvoiceNumber?: string }[])
          if (u.InvoiceNumber !== undefined) told.set(u.InstalmentCode, u.InvoiceNumber);
    for (const code of codes) expect(told.get(code)).toBe(r.find('invoice', code)[0]!.number);

    // A second run books nothing again.
    const before = r.stats.created;
    const again = (await getRun(t.db, (await sync.trigger(pipeline, 'manual', 'test'))!))!;
    expect(again.status).toBe('succeeded');
    expect(r.stats.created).toBe(before);
  });

  it('CSV → webhook: one refused invoice is parked alone, the rest go through drops exactly once', async () => {
    const c = await t.entity('WHT2', 'EUR', { standardTaxRate: '0.21' });
    const r = await receiver({
      seed: 23,
      dropAfterCommitRate: 0.05,
      rejectWhen: (doc, kind) =>
        kind === 'invoice' && doc.externalReference === 'CSV-013'
          ? { code: 'PERIOD_CLOSED', message: 'November is closed in the ERP' }
          : null,
    });
    await definePipeline(t.db, 'WHT2', { name: 'csv-to-erp', source: { type: 'file' }, target: r.settings() });
    const header =
      'invoice_reference,customer_id,customer_name,customer_email,invoice_date,due_date,currency,description,product_code,line_description,net_amount,vat_rate,vat_amount,gl_account,tax_code,department';
    const refs = [...Array(40).keys()].map((i) => `CSV-${String(i + 1).padStart(3, '0')}`);
    const rows = refs.map(
      (ref, i) =>
        `${ref},K-${i % 7},Customer ${i % 7},,2026-11-0${(i % 9) + 1},,EUR,Tickets,,Ticket,${10 + i}.00,0.21,,,,`,
    );
    const res = await upload(
      app,
      c.token,
      { pipeline: 'csv-to-erp' },
      {
        name: 'invoices.csv',
        content: [header, ...rows].join('\n') + '\n',
      },
    );
    expect(res.status).toBeLessThan(300);
    const pipeline = (await t.db.query<{ id: string }>(`SELECT id FROM pipelines WHERE name = 'csv-to-erp'`)).rows[0]!;
    await drainTarget(t.db, sync, pipeline, 'the target');

    const booked = refs.filter((ref) => ref !== 'CSV-013');
    expectEachOnce(r, 'invoice', booked);
    expect(r.find('invoice', 'CSV-013')).toEqual([]);
    expect(r.count('invoice')).toBe(39);
    expect(r.count('customer')).toBe(7);
    expect(r.duplicates()).toEqual([]);
    const { rows: parked } = await t.db.query<{ source_id: string; reason_code: string; message: string }>(
      `SELECT source_id, reason_code, message FROM exceptions WHERE pipeline_id = $1 AND status = 'open'`,
      [pipeline.id],
    );
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ reason_code: 'TARGET_REFUSED' });
    expect(parked[0]!.message).toContain('November is closed in the ERP');
    expect(await ledgerTransactions(c)).toBe(0);

    // Reconciled against what the target acknowledged: the one parked invoice is the only difference.
    const rec = await app.inject({
      method: 'GET',
      url: '/v1/pipelines/csv-to-erp/reconciliation?from=2026-11-01&to=2026-11-30',
      headers: { authorization: `Bearer ${c.token}` },
    });
    expect(rec.statusCode).toBe(200);
    const body = rec.json();
    expect(
      body.mismatches.map((m: { externalReference: string; reason: string }) => [m.externalReference, m.reason]),
    ).toEqual([['CSV-013', 'parked']]);
    expect(body.summary.matched).toBe(39);
  });

  it('sends a changed customer to a remote target again, as an update, and an unchanged one not at all', async () => {
    await t.entity('WHT4', 'EUR', { standardTaxRate: '0.21' });
    const r = await receiver({ seed: 31 });
    const pipeline = await definePipeline(t.db, 'WHT4', {
      name: 'customers-to-erp',
      source: { type: 'records' },
      target: r.settings(),
    });
    const customer = (email: string) => ({
      record: { kind: 'customer', sourceId: 'K-1', name: 'Ann Example', email } as never,
    });
    await sync.processRecords(pipeline, 'import', 'test', [customer('ann@old.example')]);
    await sync.processRecords(pipeline, 'import', 'test', [customer('ann@old.example')]);
    expect(r.find('customer', 'K-1')).toMatchObject([{ version: 1, document: { email: 'ann@old.example' } }]);
    await sync.processRecords(pipeline, 'import', 'test', [customer('ann@new.example')]);
    expect(r.find('customer', 'K-1')).toMatchObject([{ version: 2, document: { email: 'ann@new.example' } }]);
    expect(r.count('customer')).toBe(1);
  });

  it('parks a payment whose fee has more decimals than its currency instead of skipping the fee', async () => {
    const c = await t.entity('WHT3', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'WHT3', { name: 'fees', source: { type: 'records' } });
    const customer = { kind: 'customer', sourceId: 'cus_1', name: 'Fee Payer' };
    const payment = (id: string, fee: string) => ({
      kind: 'payment',
      sourceId: id,
      externalReference: id,
      customerSourceId: 'cus_1',
      date: '2026-11-02',
      amount: '50.00',
      currency: 'EUR',
      fee,
      description: '',
    });
    const runId = await sync.processRecords(pipeline, 'import', 'test', [
      { record: customer as never },
      { record: payment('ch_good', '1.23') as never },
      { record: payment('ch_bad', '1.234') as never },
    ]);
    const run = (await getRun(t.db, runId))!;
    expect(run.status).toBe('partial');
    const records = await listRunRecords(t.db, runId, 100, 0);
    const bad = records.find((x) => x.sourceId === 'ch_bad');
    expect(bad).toMatchObject({ outcome: 'parked' });
    expect(bad!.message).toMatch(/^AMOUNT_INVALID: fee "1.234"/);
    // The good one is booked with its fee; the bad one left nothing behind.
    const { rows } = await t.db.query<{ type: string; external_reference: string }>(
      `SELECT type, external_reference FROM transactions WHERE entity_id = $1 ORDER BY id`,
      [c.entityId],
    );
    expect(rows).toEqual([
      { type: 'SR', external_reference: 'ch_good' },
      { type: 'GJ', external_reference: 'ch_good' },
    ]);
  });
});
