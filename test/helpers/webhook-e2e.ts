import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import type { IxpoleSimulator } from '../../src/connectors/ixpole/simulator.ts';
import type { Pipeline } from '../../src/sync/pipelines.ts';
import { getRun } from '../../src/sync/runs.ts';
import type { SyncService } from '../../src/sync/service.ts';
import { type TestApp, serverBeside } from './app.ts';
import { instalmentCodes } from './platform-engine.ts';
import { queuedSync } from './queue.ts';

/*
 * A platform's webhooks end to end (test/<platform>-webhook-e2e.test.ts): iXpole → the platform
 * on the engine with its durable queue, as `ledgerlink serve` runs it, the API listening on a port
 * for the platform's deliveries; the backfill worked in the foreground, then the worker started
 * with its schedule an hour away, so that only a webhook can trigger the run that writes a payment
 * back to iXpole.
 */

export interface ListeningApi {
  /** The sync service with the durable queue. */
  sync: SyncService;
  /** The API's origin, `http://127.0.0.1:<port>`. */
  base: string;
  /** Closes the server, then stops the queue. */
  close(): Promise<void>;
}

/** The sync service with its durable queue (PDFs, failed sends retried at once) and the API on a port of 127.0.0.1. */
export async function listeningApi(t: TestApp): Promise<ListeningApi> {
  const q = await queuedSync(t.db, { pdfs: true, engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  const server = await serverBeside(t.db, q.sync);
  await server.listen({ port: 0, host: '127.0.0.1' });
  return {
    sync: q.sync,
    base: `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`,
    close: async () => {
      await server.close();
      await q.close();
    },
  };
}

/**
 * The backfill, worked in the foreground: the run succeeded (or partly), every instalment has the
 * platform's invoice number and none a payment; then the worker, its schedule an hour away. The
 * instalment codes, in iXpole's order.
 */
export async function backfillThenWorker(
  t: TestApp,
  sync: SyncService,
  pipeline: Pipeline,
  ix: IxpoleSimulator,
): Promise<string[]> {
  const first = (await getRun(t.db, (await sync.trigger(pipeline, 'manual', 'test', {}, { inline: true }))!))!;
  expect(['succeeded', 'partial']).toContain(first.status);
  const codes = instalmentCodes(ix);
  for (const code of codes) expect(ix.state(code)!.invoiceNumber).not.toBeNull();
  expect(codes.map((c) => ix.state(c)!.paymentNo)).toEqual(codes.map(() => null));
  await sync.startWorker({ tickSeconds: 3600, concurrency: 2 });
  return codes;
}

/** `probe`'s first value that is not null, asked every 100 ms; fails, naming `what`, after `ms`. */
export async function until<T>(what: string, probe: () => T | null | Promise<T | null>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * After the instalment `paidCode` was paid in the platform: its payment number (`paymentNo`)
 * reaches iXpole, no other instalment is paid, and the pipeline ran twice, the backfill and the
 * one run the webhook triggered.
 */
export async function expectPaidByWebhookRun(
  t: TestApp,
  pipeline: Pipeline,
  ix: IxpoleSimulator,
  o: { codes: string[]; paidCode: string; paymentNo: string },
): Promise<void> {
  expect(await until('the payment write-back', () => ix.state(o.paidCode)!.paymentNo)).toBe(o.paymentNo);
  const others = o.codes.filter((c) => c !== o.paidCode);
  expect(others.map((c) => ix.state(c)!.paymentNo)).toEqual(others.map(() => null));
  const { rows } = await t.db.query<{ trigger: string }>(
    `SELECT trigger FROM runs WHERE pipeline_id = $1 ORDER BY created_at`,
    [pipeline.id],
  );
  expect(rows.map((r) => r.trigger)).toEqual(['manual', 'webhook']);
}
