import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { customerRecord, definePipeline, dueNow, invoiceRecord, openExceptions, syncService } from './helpers/sync.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';
import { type WebhookReceiver, startWebhookReceiver } from '../src/connectors/webhook/receiver.ts';
import { getRun, listRunRecords } from '../src/sync/runs.ts';
import { migrate } from '../src/db/migrate.ts';
import type { SyncService } from '../src/sync/service.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';

/*
 * A run that ends with documents still on their way to a remote target is `partial`, "N
 * document(s) wait". What becomes of them later, on the workers' timer or at the end of another
 * run of the pipeline, is reported to the run that sent them: its records, its counts, the
 * exceptions it parks; and once none waits, the run settles (migration 0111).
 */

let t: TestApp;
let owner: Client;
let anna: Browser;
let sync: SyncService;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 12 });
  owner = await t.entity('RW1', 'EUR', { standardTaxRate: '0.21' });
  const user = await addUser(t, owner, 'anna@example.com', 'viewer');
  anna = await signIn(t, user.email, user.password);
  // Retries without waiting, so that the test drives them; the third attempt is the last.
  sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 3 } } });
});
afterAll(async () => {
  for (const r of receivers) await r.close();
  await t.close();
});

async function pipelineTo(name: string) {
  const r = await startWebhookReceiver({ seed: 3 });
  receivers.push(r);
  const pipeline = await definePipeline(t.db, 'RW1', { name, source: { type: 'records' }, target: r.settings() });
  return { r, pipeline };
}

const run = async (runId: string) => (await getRun(t.db, runId))!;
const outcomes = async (runId: string) =>
  (await listRunRecords(t.db, runId, 100, 0)).map((r) => [r.sourceId, r.outcome]);

describe('documents a run left waiting', () => {
  it('go through on the workers’ timer as that run’s: its counts and records grow, and it settles as succeeded', async () => {
    const { r, pipeline } = await pipelineTo('timer');
    // The invoice is refused 503 with a Retry-After of a minute: it waits; its customer goes through.
    r.control.failNext({ status: 503, times: 1, retryAfter: 60, after: 1, route: 'post' });
    const runId = await sync.processRecords(pipeline, 'import', 'test', [
      { record: customerRecord('C1') },
      { record: invoiceRecord('I1', 'C1') },
    ]);
    expect(await run(runId)).toMatchObject({
      status: 'partial',
      waiting: 1,
      error: expect.stringMatching(/^1 document\(s\) wait for the webhook target/),
      counts: { fetched: 2, created: 1, createdInvoices: 0, parked: 0 },
    });
    // The API and the dashboard say so, and the dashboard looks again while it waits.
    const api = await owner.get(`/v1/runs/${runId}`);
    expect(api.body).toMatchObject({ status: 'partial', waiting: 1 });
    const waitingHtml = String((await anna.request('GET', `/runs/${runId}/progress`)).body);
    expect(waitingHtml).toMatch(/<dt>Waiting<\/dt>\s*<dd class="num">1<\/dd>/);
    expect(waitingHtml).toContain('hx-trigger="every 10s"');
    expect(waitingHtml).toContain('role="status"');

    // A flush by the workers' timer (no run of its own) while it still fails: the run is told when
    // it is tried next, and still waits.
    r.control.failNext({ status: 503, times: 1, retryAfter: 60, route: 'post' });
    await dueNow(t.db, pipeline.id);
    await sync.flushAll();
    expect(await run(runId)).toMatchObject({ status: 'partial', waiting: 1 });
    expect(
      (await listRunRecords(t.db, runId, 100, 0)).filter((x) => x.sourceId === 'I1').map((x) => x.message),
    ).toEqual([expect.stringMatching(/attempt 1 of 3/), expect.stringMatching(/attempt 2 of 3/)]);

    // The next goes through: the run counts it, lists it, and settles.
    await dueNow(t.db, pipeline.id);
    await sync.flushAll();
    const [booked] = r.find('invoice', 'I1');
    expect(booked).toBeDefined();
    expect(await run(runId)).toMatchObject({
      status: 'succeeded',
      waiting: 0,
      error: null,
      counts: { fetched: 2, created: 2, createdInvoices: 1, parked: 0 },
    });
    expect((await outcomes(runId)).filter(([, o]) => o !== 'failed')).toEqual([
      ['C1', 'created'],
      ['I1', 'created'],
    ]);
    const { rows } = await t.db.query<{ target_id: string }>(
      `SELECT target_id FROM run_records WHERE run_id = $1 AND source_id = 'I1' AND outcome = 'created'`,
      [runId],
    );
    expect(rows.map((x) => x.target_id)).toEqual([booked!.id]);
    const settledHtml = String((await anna.request('GET', `/runs/${runId}/progress`)).body);
    expect(settledHtml).not.toContain('hx-trigger');
    expect(settledHtml).not.toContain('<dt>Waiting</dt>');
    // The timer does nothing more to a settled run.
    await sync.flushAll();
    expect((await run(runId)).counts.created).toBe(2);
  });

  it('given up on the timer: parked as that run’s, which stays partial without saying it waits', async () => {
    const { r, pipeline } = await pipelineTo('given-up');
    r.control.failNext({ status: 503, times: 1, retryAfter: 60, after: 1, route: 'post' });
    const runId = await sync.processRecords(pipeline, 'import', 'test', [
      { record: customerRecord('C2') },
      { record: invoiceRecord('I2', 'C2') },
    ]);
    expect(await run(runId)).toMatchObject({ status: 'partial', waiting: 1 });
    // Every send fails from now on: the timer's flush tries it twice more, the third attempt the last, and parks it.
    r.control.failNext({ status: 500, times: 10, route: 'post' });
    for (let i = 0; i < 3 && (await run(runId)).waiting > 0; i++) {
      await dueNow(t.db, pipeline.id);
      await sync.flushAll();
    }
    expect(await run(runId)).toMatchObject({
      status: 'partial',
      waiting: 0,
      error: null,
      counts: { fetched: 2, created: 1, parked: 1 },
    });
    expect((await openExceptions(t.db, pipeline)).map((x) => [x.source_id, x.reason_code])).toEqual([
      ['I2', 'TARGET_UNAVAILABLE'],
    ]);
    const { rows } = await t.db.query<{ run_id: string }>(
      `SELECT run_id FROM exceptions WHERE pipeline_id = $1 AND source_id = 'I2'`,
      [pipeline.id],
    );
    expect(rows).toEqual([{ run_id: runId }]);
    expect(await outcomes(runId)).toContainEqual(['I2', 'parked']);
  });

  it('sent by a later run: reported to the run that left it, not to the later one', async () => {
    const { r, pipeline } = await pipelineTo('later-run');
    r.control.failNext({ status: 503, times: 1, retryAfter: 60, route: 'post' });
    const first = await sync.processRecords(pipeline, 'import', 'test', [{ record: customerRecord('C3') }]);
    expect(await run(first)).toMatchObject({ status: 'partial', waiting: 1 });

    await dueNow(t.db, pipeline.id);
    const second = await sync.processRecords(pipeline, 'import', 'test', [{ record: customerRecord('C4') }]);
    expect(r.find('customer', 'C3')).toHaveLength(1);
    expect(await run(second)).toMatchObject({ status: 'succeeded', waiting: 0, counts: { fetched: 1, created: 1 } });
    expect(await outcomes(second)).toEqual([['C4', 'created']]);
    expect(await run(first)).toMatchObject({ status: 'succeeded', waiting: 0, error: null, counts: { created: 1 } });
    expect(await outcomes(first)).toEqual([
      ['C3', 'failed'],
      ['C3', 'created'],
    ]);
  });

  it('fetched and sent again by a later run: the later run takes it over and reports it', async () => {
    const { r, pipeline } = await pipelineTo('taken-over');
    r.control.failNext({ status: 503, times: 1, retryAfter: 60, route: 'post' });
    const first = await sync.processRecords(pipeline, 'import', 'test', [{ record: customerRecord('C8') }]);
    expect(await run(first)).toMatchObject({ status: 'partial', waiting: 1 });

    // Not due yet: only the second run's own send of it goes out.
    const second = await sync.processRecords(pipeline, 'import', 'test', [{ record: customerRecord('C8') }]);
    expect(r.find('customer', 'C8')).toHaveLength(1);
    expect(await run(second)).toMatchObject({ status: 'succeeded', waiting: 0, counts: { fetched: 1, created: 1 } });
    expect(await outcomes(second)).toEqual([['C8', 'created']]);
    // The first no longer waits for it, and does not count it.
    expect(await run(first)).toMatchObject({ status: 'succeeded', waiting: 0, counts: { created: 0 } });
    expect(await outcomes(first)).toEqual([['C8', 'failed']]);
  });

  it('held behind a document that waits: run again as that run’s once it has gone through', async () => {
    const { r, pipeline } = await pipelineTo('held');
    // The customer waits; the invoice is held behind it (not parked).
    r.control.failNext({ status: 503, times: 1, retryAfter: 60, route: 'post' });
    const runId = await sync.processRecords(pipeline, 'import', 'test', [
      { record: customerRecord('C5') },
      { record: invoiceRecord('I5', 'C5') },
    ]);
    expect(await run(runId)).toMatchObject({ status: 'partial', waiting: 2, counts: { created: 0 } });
    await dueNow(t.db, pipeline.id);
    await sync.flushAll();
    expect(r.find('invoice', 'I5')).toHaveLength(1);
    expect(await run(runId)).toMatchObject({
      status: 'succeeded',
      waiting: 0,
      counts: { fetched: 2, created: 2, createdCustomers: 1, createdInvoices: 1 },
    });
  });

  it('held behind a customer that goes through before the run ends: booked by the same run, fetched counted once', async () => {
    const { r, pipeline } = await pipelineTo('held-same-run');
    // Retries due at once and more of them: the customer fails its page's three tries, and goes
    // through when the run sends what waits at its end; the invoice held behind it runs again then.
    const patient = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
    r.control.failNext({ status: 503, times: 3, route: 'post' });
    const runId = await patient.processRecords(pipeline, 'import', 'test', [
      { record: customerRecord('C7') },
      { record: invoiceRecord('I7', 'C7') },
    ]);
    expect(r.find('invoice', 'I7')).toHaveLength(1);
    // Run again, the held invoice is not fetched again.
    expect(await run(runId)).toMatchObject({
      status: 'succeeded',
      waiting: 0,
      counts: { fetched: 2, created: 2, createdCustomers: 1, createdInvoices: 1 },
    });
  });

  it('parked behind a customer that went through on the timer: run again as the run that sent the customer’s', async () => {
    const { r, pipeline } = await pipelineTo('released');
    // The target refuses the customer for good: the invoice is parked for it (not held).
    let refuse = true;
    r.control.rejectWhen = (_doc, kind) =>
      refuse && kind === 'customer' ? { code: 'VAT_NUMBER_INVALID', message: 'the VAT number is not valid' } : null;
    const first = await sync.processRecords(pipeline, 'import', 'test', [
      { record: customerRecord('C9') },
      { record: invoiceRecord('I9', 'C9') },
    ]);
    expect((await openExceptions(t.db, pipeline)).map((x) => [x.source_id, x.reason_code])).toEqual([
      ['C9', 'TARGET_REFUSED'],
      ['I9', 'CUSTOMER_NOT_SYNCED'],
    ]);
    // Mended in the source and sent again by a later run, while the target answers 503: it waits.
    refuse = false;
    r.control.failNext({ status: 503, times: 1, retryAfter: 60, route: 'post' });
    const second = await sync.processRecords(pipeline, 'import', 'test', [
      { record: { ...customerRecord('C9'), name: 'Customer C9 Ltd' } as CanonicalRecord },
    ]);
    expect(await run(second)).toMatchObject({ status: 'partial', waiting: 1 });
    // The workers' timer sends it, and the invoice that needed it runs again and is booked: the
    // run whose customer freed it lists it and counts it (before, no run did).
    await dueNow(t.db, pipeline.id);
    await sync.flushAll();
    const [booked] = r.find('invoice', 'I9');
    expect(booked).toBeDefined();
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    expect((await outcomes(second)).filter(([, o]) => o !== 'failed')).toEqual([
      ['C9', 'created'],
      ['I9', 'created'],
    ]);
    expect(await run(second)).toMatchObject({
      status: 'succeeded',
      waiting: 0,
      counts: { fetched: 1, created: 2, createdCustomers: 1, createdInvoices: 1, parked: 0 },
    });
    // The run that parked it keeps what it said then.
    expect(await outcomes(first)).toEqual([
      ['C9', 'parked'],
      ['I9', 'parked'],
    ]);
  });

  it('left waiting before the upgrade (migration 0112): given back to the run that said so, which then settles', async () => {
    const { r, pipeline } = await pipelineTo('upgraded');
    r.control.failNext({ status: 503, times: 1, retryAfter: 60, route: 'post' });
    const runId = await sync.processRecords(pipeline, 'import', 'test', [
      { record: customerRecord('C6') },
      { record: invoiceRecord('I6', 'C6') },
    ]);
    // As a run of an earlier version left it: its documents name no run, and it counts none.
    await t.db.query(`UPDATE outbox SET run_id = NULL WHERE pipeline_id = $1`, [pipeline.id]);
    await t.db.query(`UPDATE held_records SET run_id = NULL WHERE pipeline_id = $1`, [pipeline.id]);
    await t.db.query(`UPDATE runs SET waiting = 0 WHERE id = $1`, [runId]);
    await t.db.query(`DELETE FROM ledgerlink_migrations WHERE id = 112`);
    expect(await migrate(t.db)).toEqual(['0112_run_waiting_backfill']);
    expect(await run(runId)).toMatchObject({ status: 'partial', waiting: 2 });
    // Once more changes nothing.
    await t.db.query(`DELETE FROM ledgerlink_migrations WHERE id = 112`);
    await migrate(t.db);
    expect((await run(runId)).waiting).toBe(2);

    await dueNow(t.db, pipeline.id);
    await sync.flushAll();
    expect(await run(runId)).toMatchObject({
      status: 'succeeded',
      waiting: 0,
      error: null,
      counts: { fetched: 2, created: 2, createdCustomers: 1, createdInvoices: 1 },
    });
  });
});
