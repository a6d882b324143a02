import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { quickbooksTarget } from '../src/connectors/quickbooks/index.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { createQuickBooksTarget } from '../src/connectors/quickbooks/target.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { processScope } from './helpers/scoped.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { ixpoleSource } from './helpers/platform-engine.ts';
import { DUTCH, quickbooksOAuth, quickbooksTargetSettings } from './helpers/quickbooks.ts';
import { definePipeline } from './helpers/sync.ts';
import { type ListeningApi, backfillThenWorker, expectPaidByWebhookRun, listeningApi } from './helpers/webhook-e2e.ts';

/*
 * iXpole → QuickBooks Online with its webhooks registered: a payment is recorded in QuickBooks, its
 * signed notification (`intuit-signature`, computed here from Intuit's documented rule) reaches a
 * listening server, and the worker's run it triggers writes the payment back to iXpole without
 * waiting for a schedule.
 */

const REALM = '9130350000000077';
const VERIFIER = 'qbo-verifier-token-for-the-e2e-test';

let t: TestApp;
let api: ListeningApi;
let qbo: QuickBooksSimulator;
let ix: IxpoleSimulator;
let pipeline: Pipeline;

const scope = processScope();

beforeAll(async () => {
  t = await createTestApp();
  await t.entity('QWH', 'EUR', { standardTaxRate: '0.21' });
  const oauth = quickbooksOAuth([REALM]);
  qbo = await startQuickBooksSimulator({
    realms: { [REALM]: DUTCH },
    oauth,
    seed: 5,
  });
  scope.target({
    ...quickbooksTarget,
    create: (deps) => Promise.resolve(createQuickBooksTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 50 } })),
  });
  ix = await startIxpoleSimulator({ seed: 6, instalments: 5, customers: 3, products: 2 });
  pipeline = await definePipeline(t.db, 'QWH', {
    name: 'ix-to-qbo',
    source: ixpoleSource(ix),
    target: quickbooksTargetSettings(qbo, oauth, REALM, { verifierToken: VERIFIER }),
  });
  api = await listeningApi(t);
}, 120_000);
afterAll(async () => {
  await api?.close();
  await qbo?.close();
  await ix?.close();
  await t?.close();
});

/** Intuit's notification of a created payment, in either of its formats, signed with the verifier token. */
async function notify(realmId: string, paymentId: string, format: 'cloudevents' | 'legacy') {
  const body =
    format === 'cloudevents'
      ? JSON.stringify([
          {
            specversion: '1.0',
            id: `payment-${realmId}-${paymentId}`,
            source: 'intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=',
            type: 'qbo.payment.created.v1',
            datacontenttype: 'application/json',
            time: new Date().toISOString(),
            intuitentityid: paymentId,
            intuitaccountid: realmId,
            data: {},
          },
        ])
      : JSON.stringify({
          eventNotifications: [
            {
              realmId,
              dataChangeEvent: {
                entities: [
                  { name: 'Payment', id: paymentId, operation: 'Create', lastUpdated: new Date().toISOString() },
                ],
              },
            },
          ],
        });
  const res = await fetch(`${api.base}/v1/webhooks/ix-to-qbo/quickbooks`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'intuit-signature': createHmac('sha256', VERIFIER).update(Buffer.from(body, 'utf8')).digest('base64'),
    },
    body,
  });
  return res.status;
}

describe('QuickBooks Online webhooks end to end', () => {
  it('a payment recorded in QuickBooks is written back to iXpole by the run its notification triggers', async () => {
    const codes = await backfillThenWorker(t, api.sync, pipeline, ix);

    // Another company's notification runs nothing, in either format.
    expect(await notify('1234', '1', 'legacy')).toBe(200);
    expect(await notify('1234', '1', 'cloudevents')).toBe(200);

    const paidCode = codes[2]!;
    const { rows } = await t.db.query<{ target_id: string }>(
      `SELECT target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice' AND source_id = $2`,
      [pipeline.id, paidCode],
    );
    const invoice = qbo.books(REALM).get('Invoice', rows[0]!.target_id)!;
    // As a user receiving the payment in QuickBooks.
    const payment = qbo.books(REALM).write('Payment', 'create', {
      CustomerRef: invoice.CustomerRef,
      TotalAmt: invoice.Balance,
      PaymentRefNum: 'QB-RCPT-9',
      TxnDate: new Date().toISOString().slice(0, 10),
      Line: [{ Amount: invoice.Balance, LinkedTxn: [{ TxnId: invoice.Id, TxnType: 'Invoice' }] }],
    });
    // Intuit's current format (CloudEvents); the legacy one is covered in test/target-webhooks.test.ts.
    expect(await notify(REALM, payment.Id, 'cloudevents')).toBe(200);

    await expectPaidByWebhookRun(t, pipeline, ix, { codes, paidCode, paymentNo: 'QB-RCPT-9' });
  }, 90_000);
});
