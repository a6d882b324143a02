import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { startWebhookReceiver } from '../src/connectors/webhook/receiver.ts';
import { getRun } from '../src/sync/runs.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, syncService } from './helpers/sync.ts';

/*
 * The workers' timer sends what waits for a target (`SyncService.flushAll`) under the pipeline's
 * lease, like a run. Before, it only looked whether a run held the lease: a run that started while
 * the timer was sending read the same waiting documents from the outbox and sent them too, and a
 * target that keeps no idempotency keys booked them twice. The receiver here is such a target:
 * it ignores every key (request and item), stores a second document under a reference it has, and holds each answer
 * a while, so that the two senders overlap.
 */

let t: TestApp;
const closers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  for (const c of closers) await c.close();
  await t.close();
});

/**
 * A pipeline to a receiver that keeps no keys, whose invoices all wait in the outbox, due now: the
 * customers and products went through (four requests), then the receiver answered 503 with an
 * hour's Retry-After, and the hour has passed. Each answer from now on is held 150 ms.
 */
async function invoicesWaiting(code: string) {
  await t.entity(code, 'EUR', { standardTaxRate: '0.21' });
  const r = await startWebhookReceiver({
    honourItemKeys: false,
    honourRequestKeys: false,
    duplicateReferences: 'create',
  });
  closers.push(r);
  const sim = await startIxpoleSimulator({ seed: 21, instalments: 8, customers: 2, products: 2 });
  closers.push(sim);
  const sync = syncService(t.db);
  const pipeline = await definePipeline(t.db, code, {
    name: `flush-race-${code.toLowerCase()}`,
    source: { type: 'ixpole', baseUrl: sim.url, apiKey: sim.apiKey },
    target: r.settings({ batchSize: 1 }),
    options: { pageSize: 50 },
  });
  r.control.failNext({ status: 503, times: 1, after: 4, route: 'post', retryAfter: 3600 });
  const first = (await sync.trigger(pipeline, 'manual', 'test'))!;
  expect((await getRun(t.db, first))!.counts).toMatchObject({ createdCustomers: 2, createdInvoices: 0 });
  const waiting = await t.db.query(
    `UPDATE outbox SET next_attempt_at = now() WHERE pipeline_id = $1 AND kind = 'invoice' AND status = 'pending' RETURNING 1`,
    [pipeline.id],
  );
  expect(waiting.rows.length).toBe(sim.total);
  r.control.stallNext(1000, 150);
  return { r, sim, sync, pipeline };
}

describe("the workers' timer", () => {
  it('and a run of the same pipeline never send one waiting document both: each invoice is booked once', async () => {
    const { r, sim, sync, pipeline } = await invoicesWaiting('FLUSHRACE');
    await Promise.all([sync.flushAll(), sync.trigger(pipeline, 'manual', 'test')]);
    await sync.flushAll();
    expect(r.duplicates()).toEqual([]);
    expect(r.count('invoice')).toBe(sim.total);
  }, 60_000);

  it('of two workers at once never send one waiting document both', async () => {
    const { r, sim, sync } = await invoicesWaiting('FLUSHTWO');
    const other = syncService(t.db);
    await Promise.all([sync.flushAll(), other.flushAll()]);
    await sync.flushAll();
    expect(r.duplicates()).toEqual([]);
    expect(r.count('invoice')).toBe(sim.total);
  }, 60_000);
});
