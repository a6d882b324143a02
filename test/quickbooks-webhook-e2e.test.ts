import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/server.ts';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { quickbooksTarget } from '../src/connectors/quickbooks/index.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { createQuickBooksTarget } from '../src/connectors/quickbooks/target.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { processScope } from './helpers/scoped.ts';
import { OAuthSimulator } from '../src/sync/remote/oauth-simulator.ts';
import { getRun } from '../src/sync/runs.ts';
import type { SyncService } from '../src/sync/service.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { queuedSync } from './helpers/queue.ts';
import { definePipeline } from './helpers/sync.ts';

/*
 * iXpole → QuickBooks Online with its webhooks registered: a payment is recorded in QuickBooks, its
 * signed notification (`intuit-signature`, computed here from Intuit's documented rule) reaches a
 * listening server, and the worker's run it triggers writes the payment back to iXpole without
 * waiting for a schedule.
 */

const CLIENT = { clientId: 'ledgerlink-test-app', clientSecret: 'qbo-client-secret-0123456789' };
const TOKEN_PATH = '/oauth2/v1/tokens/bearer';
const REALM = '9130350000000077';
const VERIFIER = 'qbo-verifier-token-for-the-e2e-test';

let t: TestApp;
let sync: SyncService;
let server: FastifyInstance;
let closeQueue: () => Promise<void>;
let qbo: QuickBooksSimulator;
let ix: IxpoleSimulator;
let pipeline: Pipeline;
let base: string;

const scope = processScope();

beforeAll(async () => {
  t = await createTestApp();
  await t.entity('QWH', 'EUR', { standardTaxRate: '0.21' });
  const oauth = new OAuthSimulator({
    ...CLIENT,
    callbackTenantParam: 'realmId',
    tenants: [{ tenantId: REALM }],
    accessTokenSeconds: 3600,
    paths: { token: TOKEN_PATH },
  });
  qbo = await startQuickBooksSimulator({
    realms: {
      [REALM]: {
        country: 'NL',
        currency: 'EUR',
        vatRates: [
          ['21% S', '21'],
          ['9% R', '9'],
          ['0% Z', '0'],
        ],
      },
    },
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
    source: { type: 'ixpole', baseUrl: ix.url, apiKey: ix.apiKey, backoffBaseMs: 5, backoffMaxMs: 20, maxAttempts: 4 },
    target: {
      type: 'quickbooks',
      ...CLIENT,
      refreshToken: oauth.issueGrant().refreshToken,
      realmId: REALM,
      baseUrl: qbo.url,
      tokenUrl: `${qbo.url}${TOKEN_PATH}`,
      verifierToken: VERIFIER,
    },
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
  const res = await fetch(`${base}/v1/webhooks/ix-to-qbo/quickbooks`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'intuit-signature': createHmac('sha256', VERIFIER).update(Buffer.from(body, 'utf8')).digest('base64'),
    },
    body,
  });
  return res.status;
}

async function until<T>(what: string, probe: () => T | null, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('QuickBooks Online webhooks end to end', () => {
  it('a payment recorded in QuickBooks is written back to iXpole by the run its notification triggers', async () => {
    const first = (await getRun(t.db, (await sync.trigger(pipeline, 'manual', 'test', {}, { inline: true }))!))!;
    expect(['succeeded', 'partial']).toContain(first.status);
    const codes = [...Array(ix.total).keys()].map((i) => ix.instalmentAt(i).InstalmentCode);
    for (const code of codes) expect(ix.state(code)!.invoiceNumber).not.toBeNull();
    await sync.startWorker({ tickSeconds: 3600, concurrency: 2 });

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

    expect(await until('the payment write-back', () => ix.state(paidCode)!.paymentNo)).toBe('QB-RCPT-9');
    expect(codes.filter((c) => c !== paidCode).map((c) => ix.state(c)!.paymentNo)).toEqual(
      codes.slice(1).map(() => null),
    );
    const runs = await t.db.query<{ trigger: string }>(
      `SELECT trigger FROM runs WHERE pipeline_id = $1 ORDER BY created_at`,
      [pipeline.id],
    );
    expect(runs.rows.map((r) => r.trigger)).toEqual(['manual', 'webhook']);
  }, 90_000);
});
