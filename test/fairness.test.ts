import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline } from './helpers/sync.ts';
import { type ListeningApi, listeningApi } from './helpers/webhook-e2e.ts';
import { invoiceEvent, signedDelivery } from './helpers/webhooks.ts';

/*
 * Fairness between tenants: a burst of webhook events on one entity's pipeline must not queue
 * another entity's single event behind it. Before, every event made its own run and job, and one
 * worker took them one at a time in arrival order: B's event waited for 150 runs of A's.
 */

const SECRET = 'fair-webhook-secret-0123456789';
let t: TestApp;
let api: ListeningApi;

beforeAll(async () => {
  t = await createTestApp();
  await t.entity('FAIRA', 'EUR', { standardTaxRate: '0.21' });
  await t.entity('FAIRB', 'EUR', { standardTaxRate: '0.21' });
  for (const [name, entity] of [
    ['shop-a', 'FAIRA'],
    ['shop-b', 'FAIRB'],
  ] as const)
    await definePipeline(t.db, entity, { name, source: { type: 'webhook' }, webhookSecret: SECRET });
  // The engine with its durable queue and the API on a port, as `ledgerlink serve` runs them.
  api = await listeningApi(t);
  await api.sync.startWorker({ tickSeconds: 3600, concurrency: 4 });
}, 120_000);
afterAll(async () => {
  await api?.close();
  await t?.close();
});

const customer = { sourceId: 'cust-1', name: 'Customer 1', email: 'cust-1@example.org' };
/** An event of one 10.00 ticket. */
const ticketEvent = (id: string, ref: string) => invoiceEvent(id, ref, { customer, description: 'Ticket' });

async function send(pipeline: string, event: { id: string }) {
  const res = await fetch(`${api.base}/v1/webhooks/${pipeline}`, { method: 'POST', ...signedDelivery(event, SECRET) });
  expect(res.status, await res.text()).toBe(202);
}

describe('fairness between entities', () => {
  it("posts B's single event while A's burst of 150 is still being worked, and A's burst makes a few runs, not 150", async () => {
    const burst = Array.from({ length: 150 }, (_, n) => ticketEvent(`a-${n}`, `A-${n}`));
    let next = 0;
    const sender = async () => {
      while (next < burst.length) {
        const n = next++;
        await send('shop-a', burst[n]!);
        // B's one event arrives in the middle of A's burst.
        if (n === 75) await send('shop-b', ticketEvent('b-1', 'B-1'));
        // Paced like a real sender (the report: 150 events in 8.5 s), so A's burst lasts a while.
        await new Promise((r) => setTimeout(r, 150));
      }
    };
    await Promise.all(Array.from({ length: 5 }, sender));

    // Everything is posted in the end (no absolute time limit: the box may be slow).
    for (let i = 0; i < 600; i++) {
      // A run queued for an event that an earlier run then took finds nothing to do: still, it must end.
      const { rows } = await t.db.query<{ n: string }>(
        `SELECT (SELECT count(*) FROM webhook_events WHERE processed_at IS NULL)
              + (SELECT count(*) FROM runs WHERE status IN ('queued', 'running')) AS n`,
      );
      if (rows[0]!.n === '0') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const { rows: events } = await t.db.query<{ event_id: string; processed_at: Date | null }>(
      `SELECT event_id, processed_at FROM webhook_events ORDER BY processed_at`,
    );
    expect(events).toHaveLength(151);
    expect(events.every((e) => e.processed_at !== null)).toBe(true);
    const b = events.find((e) => e.event_id === 'b-1')!;
    const aDone = Math.max(...events.filter((e) => e.event_id !== 'b-1').map((e) => e.processed_at!.getTime()));
    const aAfterB = events.filter((e) => e.event_id !== 'b-1' && e.processed_at!.getTime() > b.processed_at!.getTime());
    // B did not wait for A's burst to be worked off: it was posted while A still had events to post.
    expect(b.processed_at!.getTime()).toBeLessThan(aDone);
    expect(aAfterB.length).toBeGreaterThan(0);

    // Each document exactly once.
    const { rows: docs } = await t.db.query<{ code: string; n: string; refs: string }>(
      `SELECT e.code, count(*) AS n, count(DISTINCT t.external_reference) AS refs FROM transactions t
         JOIN entities e ON e.id = t.entity_id WHERE t.type = 'SI' AND e.code IN ('FAIRA', 'FAIRB') GROUP BY e.code ORDER BY e.code`,
    );
    expect(docs).toEqual([
      { code: 'FAIRA', n: '150', refs: '150' },
      { code: 'FAIRB', n: '1', refs: '1' },
    ]);
    // A's events were taken by a few runs, each reading every pending event, not one run per event.
    const { rows: runs } = await t.db.query<{ pipeline: string; n: string; unfinished: string }>(
      `SELECT p.name AS pipeline, count(*) AS n, count(*) FILTER (WHERE r.status NOT IN ('succeeded', 'partial')) AS unfinished
         FROM runs r JOIN pipelines p ON p.id = r.pipeline_id GROUP BY p.name ORDER BY p.name`,
    );
    expect(runs.find((r) => r.pipeline === 'shop-a')!.n).toSatisfy((n: string) => Number(n) <= 50);
    expect(runs.every((r) => r.unfinished === '0')).toBe(true);
    console.log(
      `fairness: A's 150 events in ${runs.find((r) => r.pipeline === 'shop-a')!.n} runs; ${aAfterB.length} of A's were posted after B's`,
    );
  }, 300_000);
});
