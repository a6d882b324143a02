import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import {
  customerRecord,
  definePipeline,
  drainTarget,
  dueNow,
  invoiceRecord,
  openExceptions,
  syncService,
} from './helpers/sync.ts';
import {
  type WebhookReceiver,
  type WebhookReceiverOptions,
  startWebhookReceiver,
} from '../src/connectors/webhook/receiver.ts';
import { getException, retryException } from '../src/sync/exceptions.ts';
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

async function receiver(options: Omit<WebhookReceiverOptions, 'seed'> = {}): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver({ seed: 1, ...options });
  closers.push(r);
  return r;
}

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

const allocation = (id: string, customerSourceId: string, invoice: string, payment: string): CanonicalRecord => ({
  kind: 'allocation',
  sourceId: id,
  customerSourceId,
  date: '2026-11-04',
  currency: 'EUR',
  amount: '121.00',
  invoiceExternalReference: invoice,
  from: 'payment',
  fromExternalReference: payment,
});

/** The open exception of a source record, with what it needs booked to run again by itself. */
async function exceptionOf(pipelineId: string, sourceId: string) {
  const { rows } = await t.db.query<{
    id: string;
    status: string;
    reason_code: string;
    message: string;
    needs_kind: string | null;
    needs_source_id: string | null;
    needs_reference: string | null;
  }>(
    `SELECT id, status, reason_code, message, needs_kind, needs_source_id, needs_reference FROM exceptions
      WHERE pipeline_id = $1 AND source_id = $2 ORDER BY id DESC LIMIT 1`,
    [pipelineId, sourceId],
  );
  return rows[0];
}

async function held(pipelineId: string) {
  const { rows } = await t.db.query<{ kind: string; source_id: string; waits_for_kind: string; waits_for: string }>(
    `SELECT kind, source_id, waits_for_kind, waits_for FROM held_records WHERE pipeline_id = $1 ORDER BY kind, source_id`,
    [pipelineId],
  );
  return rows;
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
      { record: customerRecord('C1') },
      { record: invoiceRecord('I1', 'C1') },
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
    await dueNow(t.db, pipeline.id);
    await drainTarget(t.db, sync, pipeline, 'the receiver');
    expect(await held(pipeline.id)).toEqual([]);
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const [inv] = r.find('invoice', 'I1');
    expect(r.find('invoice', 'I1')).toHaveLength(1);
    expect(r.find('payment', 'P1')).toMatchObject([{ document: { invoiceTargetId: inv!.id } }]);
  });

  it('a payment waits for its invoice; once the invoice fails for good it is parked with it, and goes with it once a person retries it', async () => {
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
      { record: customerRecord('C2') },
      { record: invoiceRecord('I2', 'C2') },
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

    // The next flush's three sends fail too, past the last attempt: the invoice is parked, and the
    // payment runs again. It is not sent without its invoice (booked unallocated, it would stay so
    // once the invoice is booked): it is parked, needing the invoice.
    r.control.failNext({ status: 500, times: 3, route: 'post' });
    await dueNow(t.db, pipeline.id);
    await sync.flushAll();
    expect(await held(pipeline.id)).toEqual([]);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((x) => [x.source_id, x.reason_code])).toEqual([
      ['I2', 'TARGET_UNAVAILABLE'],
      ['P2', 'ALLOCATION_DOCUMENT_NOT_SYNCED'],
    ]);
    expect(await exceptionOf(pipeline.id, 'P2')).toMatchObject({
      message:
        'The invoice I2 it settles is parked by this pipeline, not booked in the webhook target; ' +
        'runs again by itself once invoice I2 is booked',
      needs_kind: 'invoice',
      needs_reference: 'I2',
    });
    expect(r.find('payment', 'P2')).toEqual([]);

    // A person retries the invoice once the target is back: the payment goes with it, paying it.
    const retried = await retryException(t.db, sync, Number((await exceptionOf(pipeline.id, 'I2'))!.id), 'test');
    expect(retried.exception.status).toBe('resolved');
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const [inv] = r.find('invoice', 'I2');
    expect(r.find('payment', 'P2')).toMatchObject([{ document: { invoiceTargetId: inv!.id } }]);
  });
});

/*
 * A document parked for want of something not in the target at all (a customer never sent, an
 * invoice parked for good) names it in its exception, and runs again by itself once the pipeline
 * has booked it (`releaseNeeded`, src/sync/engine/deliveries.ts): the person who fixes the one
 * document does not retry its dependants.
 */
describe('parked dependants run again once what they need is booked', () => {
  it('embedded ledger: an invoice, a payment and its allocation parked for a customer never sent are booked when it comes', async () => {
    await t.entity('DW3', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'DW3', { name: 'needs', source: { type: 'records' } });
    const payOnAccount = { ...payment('P3', 'C3', ''), invoiceExternalReference: undefined } as CanonicalRecord;
    await sync.processRecords(pipeline, 'import', 'test', [
      { record: invoiceRecord('I3', 'C3') },
      { record: payOnAccount },
      { record: allocation('A3', 'C3', 'I3', 'P3') },
    ]);
    for (const id of ['I3', 'P3', 'A3'])
      expect(await exceptionOf(pipeline.id, id)).toMatchObject({
        status: 'open',
        reason_code: 'CUSTOMER_NOT_SYNCED',
        message: expect.stringMatching(/runs again by itself once customer C3 is booked$/),
        needs_kind: 'customer',
        needs_source_id: 'C3',
      });

    // The customer comes: the run that books it runs the three again, and they are booked.
    const runId = await sync.processRecords(pipeline, 'import', 'test', [{ record: customerRecord('C3') }]);
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    for (const id of ['I3', 'P3', 'A3'])
      expect(await exceptionOf(pipeline.id, id)).toMatchObject({ status: 'resolved' });
    const run = (await getRun(t.db, runId))!;
    expect(run.status).toBe('succeeded');
    expect(run.counts).toMatchObject({ created: 4, parked: 0 });
    // The allocation settled the invoice: nothing is left outstanding, and it is allocated once.
    const { rows } = await t.db.query<{ outstanding: string; allocations: string }>(
      `SELECT t.gross - (SELECT coalesce(sum(a.amount), 0) FROM allocations a WHERE a.debit_transaction_id = t.id) AS outstanding,
              (SELECT count(*) FROM allocations a WHERE a.debit_transaction_id = t.id) AS allocations
         FROM transactions t JOIN entities e ON e.id = t.entity_id
        WHERE e.code = 'DW3' AND t.external_reference = 'I3'`,
    );
    expect(rows).toEqual([{ outstanding: '0', allocations: '1' }]);
  });

  it('embedded ledger: an allocation sent before its documents runs again as each is booked, and goes with the last', async () => {
    const c = await t.entity('DW6', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'DW6', { name: 'needs', source: { type: 'records' } });
    await sync.processRecords(pipeline, 'import', 'test', [
      { record: customerRecord('C6') },
      { record: allocation('A6', 'C6', 'I6', 'P6') },
    ]);
    expect(await exceptionOf(pipeline.id, 'A6')).toMatchObject({
      reason_code: 'ALLOCATION_DOCUMENT_NOT_SYNCED',
      message: expect.stringMatching(/runs again by itself once invoice I6 is booked$/),
      needs_kind: 'invoice',
      needs_reference: 'I6',
    });
    // As the API and the dashboard show it, and how a person finds what is theirs to act on.
    const view = await getException(t.db, Number((await exceptionOf(pipeline.id, 'A6'))!.id));
    expect(view!.needs).toEqual({ kind: 'invoice', customerTargetId: 'C6', reference: 'I6' });
    const list = async (runsByItself: boolean) => {
      const res = await c.get(`/v1/exceptions?status=open&runsByItself=${runsByItself}`);
      expect(res.status).toBe(200);
      return (res.body as { items: { sourceId: string; needs: unknown }[] }).items;
    };
    expect(await list(true)).toEqual([
      expect.objectContaining({
        sourceId: 'A6',
        needs: { kind: 'invoice', customerTargetId: 'C6', reference: 'I6' },
        runsByItself: true,
      }),
    ]);
    expect(await list(false)).toEqual([]);
    // The invoice comes: the allocation runs again, and now lacks its payment.
    await sync.processRecords(pipeline, 'import', 'test', [{ record: invoiceRecord('I6', 'C6') }]);
    expect(await exceptionOf(pipeline.id, 'A6')).toMatchObject({
      status: 'open',
      message: expect.stringMatching(/runs again by itself once payment P6 is booked$/),
      needs_kind: 'payment',
      needs_reference: 'P6',
    });
    const payOnAccount = { ...payment('P6', 'C6', ''), invoiceExternalReference: undefined } as CanonicalRecord;
    await sync.processRecords(pipeline, 'import', 'test', [{ record: payOnAccount }]);
    expect(await exceptionOf(pipeline.id, 'A6')).toMatchObject({ status: 'resolved' });
    const { rows } = await t.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM allocations a JOIN transactions t ON t.id = a.debit_transaction_id
         JOIN entities e ON e.id = t.entity_id WHERE e.code = 'DW6' AND t.external_reference = 'I6' AND a.amount = 12100`,
    );
    expect(rows[0]!.n).toBe('1');
  });

  it('embedded ledger: a payment and its refund parked behind a refused invoice are booked, allocated, when the invoice is', async () => {
    const c = await t.entity('DW7', 'EUR', { standardTaxRate: '0.21' });
    // The books are closed to 10 November: the invoice of the 2nd is refused, the payment of the 20th would not be.
    expect((await c.put('/v1/settings', { lockDate: '2026-11-10' })).status).toBe(200);
    const pipeline = await definePipeline(t.db, 'DW7', { name: 'needs', source: { type: 'records' } });
    const late = (r: CanonicalRecord, date: string) => ({ ...r, date }) as CanonicalRecord;
    const refund: CanonicalRecord = {
      kind: 'refund',
      sourceId: 'R7',
      externalReference: 'R7',
      customerSourceId: 'C7',
      date: '2026-11-22',
      amount: '21.00',
      currency: 'EUR',
      paymentExternalReference: 'P7',
      description: '',
    };
    await sync.processRecords(pipeline, 'import', 'test', [
      { record: customerRecord('C7') },
      { record: invoiceRecord('I7', 'C7') },
      // Paid 21.00 too much, which the refund gives back.
      { record: { ...late(payment('P7', 'C7', 'I7'), '2026-11-20'), amount: '142.00' } as CanonicalRecord },
      { record: refund },
    ]);
    const invoiceException = await exceptionOf(pipeline.id, 'I7');
    expect(invoiceException).toMatchObject({ status: 'open', needs_kind: null });
    expect(await exceptionOf(pipeline.id, 'P7')).toMatchObject({
      status: 'open',
      reason_code: 'ALLOCATION_DOCUMENT_NOT_SYNCED',
      message: expect.stringMatching(
        /^The invoice I7 it settles is parked by this pipeline, not booked in the ledger target; runs again by itself once invoice I7 is booked$/,
      ),
      needs_kind: 'invoice',
      needs_reference: 'I7',
    });
    expect(await exceptionOf(pipeline.id, 'R7')).toMatchObject({
      status: 'open',
      message: expect.stringMatching(/runs again by itself once payment P7 is booked$/),
      needs_kind: 'payment',
      needs_reference: 'P7',
    });
    // Nothing of the three is in the books: no receipt on account, no refund of it.
    const books = async () =>
      (
        await t.db.query<{ type: string; external_reference: string; open: string }>(
          `SELECT t.type, t.external_reference,
                  (t.gross - (SELECT coalesce(sum(a.amount), 0) FROM allocations a
                               WHERE a.debit_transaction_id = t.id OR a.credit_transaction_id = t.id))::text AS open
             FROM transactions t JOIN entities e ON e.id = t.entity_id WHERE e.code = 'DW7' ORDER BY t.id`,
        )
      ).rows;
    expect(await books()).toEqual([]);

    // The accountant reopens the period and retries the invoice: the payment goes with it, then the refund.
    expect((await c.put('/v1/settings', { lockDate: null })).status).toBe(200);
    const retried = await retryException(t.db, sync, Number(invoiceException!.id), 'test');
    expect(retried.exception.status).toBe('resolved');
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    // The receipt pays the invoice in full; the refund (a sales debit journal) takes what it paid over.
    expect(await books()).toEqual([
      { type: 'SI', external_reference: 'I7', open: '0' },
      { type: 'SR', external_reference: 'P7', open: '0' },
      { type: expect.any(String), external_reference: 'R7', open: '0' },
    ]);
  });

  it('remote target: an invoice parked behind a customer the target refused is booked once a person retries the customer', async () => {
    await t.entity('DW4', 'EUR', { standardTaxRate: '0.21' });
    let refuse = true;
    const r = await receiver({
      rejectWhen: (doc, kind) =>
        refuse && kind === 'customer' ? { code: 'VAT_NUMBER_INVALID', message: 'the VAT number is not valid' } : null,
    });
    const pipeline = await definePipeline(t.db, 'DW4', {
      name: 'needs',
      source: { type: 'records' },
      target: r.settings(),
    });
    await sync.processRecords(pipeline, 'import', 'test', [
      { record: customerRecord('C4') },
      { record: invoiceRecord('I4', 'C4') },
    ]);
    expect(await exceptionOf(pipeline.id, 'C4')).toMatchObject({
      status: 'open',
      message: expect.stringMatching(/VAT number is not valid/),
    });
    expect(await exceptionOf(pipeline.id, 'I4')).toMatchObject({
      status: 'open',
      reason_code: 'CUSTOMER_NOT_SYNCED',
      message: expect.stringMatching(/runs again by itself once customer C4 is booked$/),
      needs_kind: 'customer',
      needs_source_id: 'C4',
    });
    // Flushes and runs without the customer leave the invoice alone.
    await sync.flushAll();
    expect(await exceptionOf(pipeline.id, 'I4')).toMatchObject({ status: 'open' });
    expect(r.find('invoice', 'I4')).toEqual([]);

    // The target is put right (the VAT check mended) and a person retries the customer. The
    // target answered its first key with a refusal, and would give that back for the same key:
    // the customer goes under a new one, and the invoice that needed it goes with it.
    refuse = false;
    const retried = await retryException(t.db, sync, Number((await exceptionOf(pipeline.id, 'C4'))!.id), 'test');
    expect(retried.exception.status).toBe('resolved');
    const runId = retried.runId;
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    expect(await exceptionOf(pipeline.id, 'I4')).toMatchObject({ status: 'resolved' });
    const [c] = r.find('customer', 'C4');
    expect(r.find('invoice', 'I4')).toMatchObject([{ document: { customerTargetId: c!.id } }]);
    // The run counts the invoice it booked.
    expect((await getRun(t.db, runId))!.counts).toMatchObject({ created: 2, parked: 0 });
  });

  it('a parked record retried by a person that now only waits says so in its exception, and is booked when its customer is', async () => {
    await t.entity('DW5', 'EUR', { standardTaxRate: '0.21' });
    const r = await receiver();
    const pipeline = await definePipeline(t.db, 'DW5', {
      name: 'needs',
      source: { type: 'records' },
      target: r.settings(),
    });
    await sync.processRecords(pipeline, 'import', 'test', [{ record: invoiceRecord('I5', 'C5') }]);
    const parked = (await exceptionOf(pipeline.id, 'I5'))!;
    expect(parked).toMatchObject({ reason_code: 'CUSTOMER_NOT_SYNCED', needs_source_id: 'C5' });
    // The customer comes, but the target asks for a minute: it waits in the outbox. The invoice
    // stays parked (its customer is not booked), and retried by hand it waits behind it.
    r.control.failNext({ status: 503, times: 1, retryAfter: 60, route: 'post' });
    await sync.processRecords(pipeline, 'import', 'test', [{ record: customerRecord('C5') }]);
    expect(await exceptionOf(pipeline.id, 'I5')).toMatchObject({ status: 'open', message: parked.message });
    await retryException(t.db, sync, Number(parked.id), 'test');
    expect(await exceptionOf(pipeline.id, 'I5')).toMatchObject({
      status: 'open',
      message: expect.stringMatching(/^waiting: Customer C5 waits for a retry in the webhook target/),
      needs_kind: null,
    });
    expect(await held(pipeline.id)).toEqual([
      { kind: 'invoice', source_id: 'I5', waits_for_kind: 'customer', waits_for: 'C5' },
    ]);
    await dueNow(t.db, pipeline.id);
    await drainTarget(t.db, sync, pipeline, 'the receiver');
    expect(await exceptionOf(pipeline.id, 'I5')).toMatchObject({ status: 'resolved' });
    expect(r.find('invoice', 'I5')).toHaveLength(1);
  });
});
