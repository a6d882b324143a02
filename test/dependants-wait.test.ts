import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, drainTarget, openExceptions, syncService } from './helpers/sync.ts';
import { type WebhookReceiver, startWebhookReceiver } from '../src/connectors/webhook/receiver.ts';
import { getRun, listRunRecords } from '../src/sync/runs.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import type { SyncService } from '../src/sync/service.ts';

/*
 * A document whose customer, or whose invoice, only waits for a retry in a remote target waits
 * behind it (src/sync/engine/waiting.ts): it is not parked for a person to retry, and it is not
 * sent without what it settles. Once what it waits for has gone through it is booked on its own;
 * once that has failed for good, it gets the reason of the moment.
 */

let t: TestApp;
let sync: SyncService;
const closers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  t = await createTestApp();
  // Retries without waiting, so that the test drives them; the fourth attempt is the last.
  sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 4 } } });
});
afterAll(async () => {
  for (const c of closers) await c.close();
  await t.close();
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver({ seed: 1 });
  closers.push(r);
  return r;
}

const customer = (id: string): CanonicalRecord => ({ kind: 'customer', sourceId: id, name: `Customer ${id}` });
const invoice = (id: string, customerSourceId: string): CanonicalRecord => ({
  kind: 'invoice',
  sourceId: id,
  externalReference: id,
  customerSourceId,
  invoiceDate: '2026-11-02',
  currency: 'EUR',
  description: '',
  lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
});
const payment = (id: string, customerSourceId: string, invoiceExternalReference: string): CanonicalRecord => ({
  kind: 'payment',
  sourceId: id,
  externalReference: id,
  customerSourceId,
  invoiceExternalReference,
  date: '2026-11-03',
  amount: '121.00',
  currency: 'EUR',
  description: '',
});

async function held(pipelineId: string) {
  const { rows } = await t.db.query<{ kind: string; source_id: string; waits_for_kind: string; waits_for: string }>(
    `SELECT kind, source_id, waits_for_kind, waits_for FROM held_records WHERE pipeline_id = $1 ORDER BY kind, source_id`,
    [pipelineId],
  );
  return rows;
}

/** Brings the pipeline's retry times forward (the test does not wait out a Retry-After). */
async function dueNow(pipelineId: string) {
  await t.db.query(`UPDATE outbox SET next_attempt_at = now() WHERE pipeline_id = $1 AND status = 'pending'`, [
    pipelineId,
  ]);
}

describe('dependants wait for what they depend on', () => {
  it('an invoice and its payment wait for a customer the target has not taken yet, then go through on their own', async () => {
    await t.entity('DW1', 'EUR', { standardTaxRate: '0.21' });
    const r = await receiver();
    const pipeline = await definePipeline(t.db, 'DW1', {
      name: 'dependants',
      source: { type: 'records' },
      target: r.settings(),
    });
    // The customer is refused 503 with a Retry-After of a minute: it waits in the outbox.
    r.control.failNext({ status: 503, times: 1, retryAfter: 60, route: 'post' });
    const runId = await sync.processRecords(pipeline, 'import', 'test', [
      { record: customer('C1') },
      { record: invoice('I1', 'C1') },
      { record: payment('P1', 'C1', 'I1') },
    ]);

    // Nothing parked: the customer waits in the outbox, the invoice and the payment behind it.
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    expect(await held(pipeline.id)).toEqual([
      { kind: 'invoice', source_id: 'I1', waits_for_kind: 'customer', waits_for: 'C1' },
      { kind: 'payment', source_id: 'P1', waits_for_kind: 'customer', waits_for: 'C1' },
    ]);
    const run = (await getRun(t.db, runId))!;
    expect(run.status).toBe('partial');
    expect(run.counts.parked).toBe(0);
    expect(run.error).toMatch(/^3 document\(s\) wait for the webhook target/);
    const records = await listRunRecords(t.db, runId, 100, 0);
    expect(records.find((x) => x.sourceId === 'I1')).toMatchObject({
      outcome: 'failed',
      message: expect.stringMatching(/^waiting: Customer C1 waits for a retry in the webhook target/),
    });
    expect(r.find('invoice', 'I1')).toEqual([]);

    // Its time come, the next flush sends the customer, then runs the two again: booked, the
    // payment with its invoice.
    await dueNow(pipeline.id);
    await drainTarget(t.db, sync, pipeline, 'the receiver');
    expect(await held(pipeline.id)).toEqual([]);
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const [inv] = r.find('invoice', 'I1');
    expect(r.find('invoice', 'I1')).toHaveLength(1);
    expect(r.find('payment', 'P1')).toMatchObject([{ document: { invoiceTargetId: inv!.id } }]);
  });

  it('a payment waits for its invoice; once the invoice fails for good it is booked as any payment whose invoice is not', async () => {
    await t.entity('DW2', 'EUR', { standardTaxRate: '0.21' });
    const r = await receiver();
    const pipeline = await definePipeline(t.db, 'DW2', {
      name: 'dependants',
      source: { type: 'records' },
      target: r.settings(),
    });
    // The customer goes through; the invoice is refused 503 with a Retry-After of a minute.
    r.control.failNext({ status: 503, times: 1, retryAfter: 60, after: 1, route: 'post' });
    const runId = await sync.processRecords(pipeline, 'import', 'test', [
      { record: customer('C2') },
      { record: invoice('I2', 'C2') },
      { record: payment('P2', 'C2', 'I2') },
    ]);
    expect(await held(pipeline.id)).toEqual([
      { kind: 'payment', source_id: 'P2', waits_for_kind: 'invoice', waits_for: 'I2' },
    ]);
    const records = await listRunRecords(t.db, runId, 100, 0);
    expect(records.find((x) => x.sourceId === 'P2')!.message).toMatch(
      /^waiting: The invoice I2 it settles is on its way to the webhook target; this is sent once it is booked/,
    );
    expect(r.find('payment', 'P2')).toEqual([]);

    // The next flush's three sends fail too, past the last attempt: the invoice is parked and the
    // payment runs again. Without its invoice it is booked unallocated, as one that names none is.
    r.control.failNext({ status: 500, times: 3, route: 'post' });
    await dueNow(pipeline.id);
    await sync.flushAll();
    expect(await held(pipeline.id)).toEqual([]);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((x) => [x.source_id, x.reason_code])).toEqual([['I2', 'TARGET_UNAVAILABLE']]);
    expect(r.find('payment', 'P2')).toMatchObject([{ document: { invoiceTargetId: null } }]);
  });
});
