import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { payInvoiceAndNotify, sendXeroDelivery } from '../src/connectors/xero/simulator-webhooks.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { ixpoleSource } from './helpers/platform-engine.ts';
import { definePipeline } from './helpers/sync.ts';
import { processScope } from './helpers/scoped.ts';
import { type ListeningApi, backfillThenWorker, expectPaidByWebhookRun, listeningApi } from './helpers/webhook-e2e.ts';
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
let api: ListeningApi;
let sim: XeroSimulator;
let ix: IxpoleSimulator;
let pipeline: Pipeline;

beforeAll(async () => {
  t = await createTestApp();
  await t.entity('XWH', 'EUR', { standardTaxRate: '0.21' });
  scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, retryAfterMaxMs: 5000 } });
  sim = await startXeroSimulator({ oauth: APP, limits: { perMinute: 100_000, perDay: 100_000 } });
  ix = await startIxpoleSimulator({ seed: 4, instalments: 6, customers: 3, products: 2 });
  pipeline = await definePipeline(t.db, 'XWH', {
    name: 'ix-to-xero',
    source: ixpoleSource(ix),
    target: xeroTarget(sim, { webhookKey: KEY }),
  });
  api = await listeningApi(t);
}, 120_000);
afterAll(async () => {
  await api?.close();
  await sim?.close();
  await ix?.close();
  await t?.close();
});

describe('Xero webhooks end to end', () => {
  it('an invoice paid in Xero is written back to iXpole by the run its webhook triggers', async () => {
    // The backfill, worked in the foreground: every instalment invoiced in Xero, Xero's numbers written back.
    const codes = await backfillThenWorker(t, api.sync, pipeline, ix);

    // Another organisation's delivery is acknowledged and runs nothing.
    const url = `${api.base}/v1/webhooks/ix-to-xero/xero`;
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

    // Only the paid one; and by one run the webhook triggered (plus the backfill).
    await expectPaidByWebhookRun(t, pipeline, ix, { codes, paidCode, paymentNo: 'RCPT-77' });
  }, 90_000);
});
