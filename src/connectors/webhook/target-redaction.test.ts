import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Queryable } from '../../db/database.ts';
import type { TargetCallContext, TargetInvoice } from '../../sync/target.ts';
import { type WebhookReceiver, startWebhookReceiver } from './receiver.ts';
import { createWebhookTarget } from './target.ts';

/*
 * A receiver may echo what it was sent. Whatever the webhook target repeats of an answer (the debug
 * log of its body, errors, per-item refusals) has the signing secret and every extra header's value
 * redacted, the token of an "Authorization: Bearer <token>" alone too (test/log-secrets.test.ts
 * found the header's API key in the debug log and an exception).
 */

const open: WebhookReceiver[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

const TOKEN = 'unit-bearer-token-5a1e9c';
const API_KEY = 'unit-header-apikey-0d3f72';

const invoice: TargetInvoice = {
  sourceId: 'order-1',
  customerTargetId: 'cus_1',
  productTargetIds: {},
  idempotencyKey: 'pl1:invoice:order-1:v1',
  record: {
    kind: 'invoice',
    sourceId: 'order-1',
    externalReference: 'SO-1',
    customerSourceId: 'c-1',
    invoiceDate: '2026-11-21',
    currency: 'EUR',
    description: '',
    lines: [{ description: 'Compressor', netAmount: '100.10', vatRate: '0.23' }],
  },
};

describe('webhook target redaction', () => {
  it('never repeats a header value or a bearer token a receiver echoes, in the debug log or the results', async () => {
    const r = await startWebhookReceiver();
    open.push(r);
    let logged = '';
    const log = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _e, done) {
          logged += chunk.toString();
          done();
        },
      }),
    );
    const ctx: TargetCallContext = { db: {} as Queryable, log, actor: 'test' };
    const t = createWebhookTarget(
      { ...r.settings(), headers: { Authorization: `Bearer ${TOKEN}`, 'X-Api-Key': API_KEY } },
      { log },
    );
    const echo = `you sent Authorization: Bearer ${TOKEN}; token ${TOKEN}; X-Api-Key: ${API_KEY}`;
    r.control.failNext({ status: 422, times: 1, body: { error: { code: 'BAD', message: echo } } });
    const results = await t.createInvoices(ctx, [invoice]);
    expect(results).toMatchObject([{ ok: false, error: { code: 'TARGET_REFUSED' } }]);
    // Not vacuous: the answer was logged at debug, with the echo, redacted.
    expect(logged).toContain('webhook target answer');
    expect(logged).toContain('you sent Authorization: [redacted]; token [redacted]; X-Api-Key: [redacted]');
    for (const secret of [TOKEN, API_KEY]) {
      expect(logged).not.toContain(secret);
      expect(JSON.stringify(results)).not.toContain(secret);
    }
  });
});
