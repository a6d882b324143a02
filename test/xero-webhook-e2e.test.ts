import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/server.ts';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { payInvoiceAndNotify, sendXeroDelivery } from '../src/connectors/xero/simulator-webhooks.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { getRun } from '../src/sync/runs.ts';
import type { SyncService } from '../src/sync/service.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { queuedSync } from './helpers/queue.ts';
import { definePipeline } from './helpers/sync.ts';
import { processScope } from './helpers/scoped.ts';
import { XERO_APP, xeroTarget } from './helpers/xero.ts';

/*
 * iXpole → Xero, with Xero's webhooks registered: an invoice is paid in Xero, the simulated Xero
 * sends its signed delivery to a listening server, and the worker's run it triggers writes the
 * payment back to iXpole, long before the next scheduled run (the schedule is an hour away).
 */

const scope = processScope();
const APP = XERO_APP;
const KEY = 'xero-webhook-key-for-the-e2e-test';

let t: TestApp;
let sync: SyncService;
let server: FastifyInstance;
let closeQueue: () => Promise<void>;
let sim: XeroSimulator;
let ix: IxpoleSimulator;
let pipeline: Pipeline;
let base: string;

beforeAll(async () => {
  t = await createTestApp();
  await t.entity('XWH', 'EUR', { standardTaxRate: '0.21' });
  scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, retryAfterMaxMs: 5000 } });
  sim = await startXeroSimulator({ oauth: APP, limits: { perMinute: 100_000, perDay: 100_000 } });
  ix = await startIxpoleSimulator({ seed: 4, instalments: 6, customers: 3, products: 2 });
  pipeline = await definePipeline(t.db, 'XWH', {
    name: 'ix-to-xero',
    source: { type: 'ixpole', baseUrl: ix.url, apiKey: ix.apiKey, backoffBaseMs: 5, backoffMaxMs: 20, maxAttempts: 4 },
    target: xeroTarget(sim, { webhookKey: KEY }),
  });
  const q = await queuedSync(t.db, { pdfs: true, engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  sync = q.sync;
  closeQueue = () => q.close();
  server = await buildServer({
    db: t.db,
    sync,
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: 'unused-admin-token-0123456789',
      tokenTtlSeconds: 1200,
      logLevel: 'silent',
      bodyLimitBytes: 1024 * 1024,
    },
    logger: false,
  });
  await server.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
}, 120_000);
afterAll(async () => {
  await server?.close();
  await closeQueue?.();
  await sim?.close();
  await ix?.close();
  await t?.close();
});

async function until<T>(what: string, probe: () => T | null | Promise<T | null>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Xero webhooks end to end', () => {
  it('an invoice paid in Xero is written back to iXpole by the run its webhook triggers', async () => {
    // The backfill, worked in the foreground: every instalment invoiced in Xero, Xero's numbers written back.
    const first = (await getRun(t.db, (await sync.trigger(pipeline, 'manual', 'test', {}, { inline: true }))!))!;
    expect(['succeeded', 'partial']).toContain(first.status);
    const codes = [...Array(ix.total).keys()].map((i) => ix.instalmentAt(i).InstalmentCode);
    for (const code of codes) expect(ix.state(code)!.invoiceNumber).not.toBeNull();
    expect(codes.map((c) => ix.state(c)!.paymentNo)).toEqual(codes.map(() => null));
    await sync.startWorker({ tickSeconds: 3600, concurrency: 2 });

    // Another organisation's delivery is acknowledged and runs nothing.
    const url = `${base}/v1/webhooks/ix-to-xero/xero`;
    const foreign = await sendXeroDelivery({ url, key: KEY }, [
      { tenantId: 'another-organisation', category: 'INVOICE', resourceId: '00000000-0000-0000-0000-000000000001' },
    ]);
    expect(foreign).toEqual({ status: 200, body: '' });

    const paidCode = codes[1]!;
    const invoice = [...sim.tenant().documents.values()].find((d) => d.Reference === paidCode)!;
    const { delivery } = await payInvoiceAndNotify(
      sim.tenant(),
      invoice.id,
      { url, key: KEY },
      { reference: 'RCPT-77' },
    );
    expect(delivery).toEqual({ status: 200, body: '' });

    const paymentNo = await until('the payment write-back', () => ix.state(paidCode)!.paymentNo);
    expect(paymentNo).toBe('RCPT-77');
    // Only the paid one; and by one run the webhook triggered (plus the backfill).
    expect(codes.filter((c) => c !== paidCode).map((c) => ix.state(c)!.paymentNo)).toEqual(
      codes.slice(1).map(() => null),
    );
    const { rows } = await t.db.query<{ trigger: string }>(
      `SELECT trigger FROM runs WHERE pipeline_id = $1 ORDER BY created_at`,
      [pipeline.id],
    );
    expect(rows.map((r) => r.trigger)).toEqual(['manual', 'webhook']);
  }, 90_000);
});
