import { SecretBox } from '../../sync/secrets.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Queryable } from '../../db/database.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { targetDefinition } from '../../sync/registry.ts';
import type { TargetCallContext, TargetInvoice, TargetPayment } from '../../sync/target.ts';
import './index.ts';
import { type WebhookReceiver, type WebhookReceiverOptions, startWebhookReceiver } from './receiver.ts';
import { signatureProblem } from './signature.ts';
import { WebhookTargetSettings, batchKey, createWebhookTarget, fillLookup } from './target.ts';

// The webhook target has no business with the database: any use of it fails the test.
const noDb = new Proxy({} as Queryable, {
  get() {
    throw new Error('the webhook target must not use the database');
  },
});
const ctx: TargetCallContext = { db: noDb, log: pino({ level: 'silent' }), actor: 'test' };

const open: WebhookReceiver[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});
async function receiver(o: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver(o);
  open.push(r);
  return r;
}

function invoice(n: number, more: Partial<TargetInvoice['record']> = {}): TargetInvoice {
  return {
    sourceId: `order-${n}`,
    customerTargetId: 'cus_1',
    productTargetIds: {},
    idempotencyKey: `pl1:invoice:order-${n}:v1`,
    record: {
      kind: 'invoice',
      sourceId: `order-${n}`,
      externalReference: `SO-${n}`,
      customerSourceId: 'c-1',
      invoiceDate: '2026-11-21',
      currency: 'EUR',
      description: '',
      lines: [{ description: 'Compressor', netAmount: `${100 + n}.10`, vatRate: '0.23' }],
      ...more,
    },
  };
}

function payment(n: number, invoiceTargetId: string | null): TargetPayment {
  return {
    sourceId: `pay-${n}`,
    customerTargetId: 'cus_1',
    invoiceTargetId,
    bankAccountCode: 'BANK',
    idempotencyKey: `pl1:payment:pay-${n}:v1`,
    record: {
      kind: 'payment',
      sourceId: `pay-${n}`,
      externalReference: `PAY-${n}`,
      customerSourceId: 'c-1',
      date: '2026-11-22',
      amount: '123.00',
      currency: 'EUR',
      description: '',
    },
  };
}

async function thrown(p: Promise<unknown>): Promise<ConnectorError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectorError);
  return err as ConnectorError;
}

describe('webhook target settings', () => {
  const base = { url: 'https://erp.example/ledgerlink', secret: 'a-secret-of-16-chars' };

  it('refuses a missing url or secret, a short secret and overridden own headers; fills defaults', () => {
    const paths = (v: unknown) => {
      const r = WebhookTargetSettings.safeParse(v);
      return r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
    };
    expect(paths({ secret: base.secret })).toEqual(['url']);
    expect(paths({ url: base.url })).toEqual(['secret']);
    expect(paths({ ...base, secret: 'too-short' })).toEqual(['secret']);
    expect(paths({ ...base, url: 'ftp://erp.example/x' })).toEqual(['url']);
    expect(paths({ ...base, headers: { 'Idempotency-Key': 'x' } })).toEqual(['headers']);
    expect(paths({ ...base, headers: { 'X-Tenant': 'a\r\nInjected: 1' } })).toEqual(['headers.X-Tenant']);
    expect(paths({ ...base, lookupUrl: 'not a url/{reference}' })).toEqual(['lookupUrl']);
    expect(paths({ ...base, lookupUrl: 'ftp://e.example/{reference}' })).toEqual(['lookupUrl']);
    expect(paths({ ...base, lookupUrl: 'https://e.example/{kind}/{reference}' })).toEqual([]);
    expect(paths({ ...base, lookupURL: 'https://typo.example' })).toEqual(['']);
    expect(WebhookTargetSettings.parse({ type: 'webhook', ...base })).toMatchObject({
      batchSize: 100,
      concurrency: 1,
      timeoutMs: 30_000,
    });
    const limits = createWebhookTarget(base).limits;
    expect(limits).toMatchObject({ batchSize: 100, concurrency: 1, callsPerSecond: undefined });
  });

  it('is registered as the "webhook" target, remote, with its capabilities', async () => {
    const def = targetDefinition('webhook');
    expect(def.settings.safeParse({ url: base.url }).success).toBe(false);
    const t = await def.create({
      db: noDb,
      log: ctx.log,
      mapping: {},
      settings: { ...base, batchSize: 5 },
      pipelineName: 'p',
      box: SecretBox.generate(),
      entityId: '1',
      pipelineId: '1',
    });
    expect(t.transactional).toBe(false);
    expect(t.limits.batchSize).toBe(5);
    expect(t.capabilities).toMatchObject({
      customers: true,
      items: true,
      invoices: true,
      payments: true,
      allocations: true,
      refunds: true,
      paymentStatus: false,
      pdf: false,
      drafts: false,
      reconciliation: false,
    });
  });

  it('fills lookup placeholders, or adds query parameters', () => {
    expect(fillLookup('https://e.example/docs/{kind}/{reference}', 'invoice', 'SO 1/2', 'c 1')).toBe(
      'https://e.example/docs/invoice/SO%201%2F2?customerTargetId=c+1',
    );
    expect(fillLookup('https://e.example/find?tenant=9', 'payment', 'P&1')).toBe(
      'https://e.example/find?tenant=9&kind=payment&reference=P%261',
    );
  });
});

describe('webhook target against the receiver', () => {
  it('signs every request as inbound webhooks are signed, with the batch Idempotency-Key', async () => {
    const seen: { signature: string; key: string; body: Buffer }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          signature: String(req.headers['x-ledgerlink-signature']),
          key: String(req.headers['idempotency-key']),
          body: Buffer.concat(chunks),
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ results: [{ id: 'a' }, { id: 'b', number: 7 }] }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const secret = 'the-shared-secret-123';
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`;
      const t = createWebhookTarget({ url, secret, headers: { 'X-Tenant': 'club' } });
      const results = await t.createInvoices(ctx, [invoice(1), invoice(2)]);
      expect(results).toEqual([
        { ok: true, targetId: 'a', number: null, outcome: 'created' },
        { ok: true, targetId: 'b', number: '7', outcome: 'created' },
      ]);
      const [req] = seen;
      expect(signatureProblem(req!.signature, req!.body, secret)).toBeNull();
      expect(signatureProblem(req!.signature, req!.body, 'another-secret-12345')?.message).toMatch(/does not match/);
      expect(req!.key).toBe(batchKey(['pl1:invoice:order-1:v1', 'pl1:invoice:order-2:v1']));
      expect(req!.key).toMatch(/^batch_[0-9a-f]{64}$/);
      const body = JSON.parse(req!.body.toString('utf8'));
      expect(body.kind).toBe('invoice');
      expect(body.items[1]).toMatchObject({
        idempotencyKey: 'pl1:invoice:order-2:v1',
        sourceId: 'order-2',
        document: { externalReference: 'SO-2', customerTargetId: 'cus_1', lines: [{ netAmount: '102.10' }] },
      });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('a receiver with another secret refuses; every item fails, not retryable, and the secret is not in the message', async () => {
    const r = await receiver();
    const t = createWebhookTarget({ url: r.url, secret: 'the-wrong-secret-0000' });
    const results = await t.createInvoices(ctx, [invoice(1), invoice(2)]);
    expect(r.stats.badSignatures).toBe(1);
    expect(r.count('invoice')).toBe(0);
    expect(results).toHaveLength(2);
    for (const res of results) {
      expect(res).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', retryable: false } });
      if (!res.ok) {
        expect(res.error.message).toContain('HTTP 401');
        expect(res.error.message).not.toContain('the-wrong-secret-0000');
      }
    }
  });

  it('one bad document does not sink its neighbours', async () => {
    const r = await receiver({
      rejectWhen: (d) =>
        d.externalReference === 'SO-2' ? { code: 'VAT_RATE_UNKNOWN', message: 'no 23% rate', field: 'lines' } : null,
    });
    const t = createWebhookTarget(r.settings());
    const results = await t.createInvoices(ctx, [invoice(1), invoice(2), invoice(3)]);
    expect(results).toEqual([
      { ok: true, targetId: 'inv_1', number: 'INV-0001', outcome: 'created' },
      {
        ok: false,
        error: {
          code: 'TARGET_REFUSED',
          message: 'Refused by the webhook target (VAT_RATE_UNKNOWN): no 23% rate',
          retryable: false,
          field: 'lines',
        },
      },
      { ok: true, targetId: 'inv_2', number: 'INV-0002', outcome: 'created' },
    ]);
    expect(r.count('invoice')).toBe(2);
    expect(r.stats.badSignatures).toBe(0);
  });

  it('a dropped answer is a retryable ConnectorError, and findByReference finds what was committed', async () => {
    const r = await receiver();
    const t = createWebhookTarget(r.settings());
    r.control.dropNext(1);
    const err = await thrown(t.createInvoices(ctx, [invoice(1), invoice(2)]));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/outcome is unknown/);
    expect(r.stats.dropped).toBe(1);
    expect(r.count('invoice')).toBe(2);

    expect(await t.findByReference(ctx, 'invoice', 'SO-2', 'cus_1')).toEqual({
      targetId: 'inv_2',
      number: 'INV-0002',
      customerTargetId: 'cus_1',
    });
    expect(await t.findByReference(ctx, 'invoice', 'SO-2', 'cus_other')).toBeNull();
    expect(await t.findByReference(ctx, 'invoice', 'SO-3')).toBeNull();
    expect(await t.findByReference(ctx, 'payment', 'SO-1')).toBeNull();
    // The lookups were signed like the writes.
    expect(r.stats.badSignatures).toBe(0);
    expect(r.stats.lookups).toBe(4);
  });

  it('looks up with query parameters when the lookup URL has no placeholders', async () => {
    const r = await receiver();
    const t = createWebhookTarget(r.settings({ lookupUrl: `${r.base}/lookup` }));
    const [res] = await t.createPayments!(ctx, [payment(1, 'inv_9')]);
    expect(res).toMatchObject({ ok: true, targetId: 'pay_1', number: 'PAY-0001' });
    expect(r.documents[0]!.document).toMatchObject({ invoiceTargetId: 'inv_9', bankAccountCode: 'BANK' });
    expect(await t.findByReference(ctx, 'payment', 'PAY-1')).toMatchObject({ targetId: 'pay_1' });
    expect(r.requests.at(-1)!.path).toBe('/lookup');
  });

  it('without a lookup URL, findByReference asks nothing and a resend is replayed by its Idempotency-Key', async () => {
    const r = await receiver();
    const t = createWebhookTarget({ url: r.url, secret: r.secret });
    r.control.dropNext(1);
    await thrown(t.createInvoices(ctx, [invoice(1), invoice(2)]));
    expect(await t.findByReference(ctx, 'invoice', 'SO-1')).toBeNull();
    expect(r.stats.lookups).toBe(0);

    const again = await t.createInvoices(ctx, [invoice(1), invoice(2)]);
    expect(again.map((x) => x.ok && x.targetId)).toEqual(['inv_1', 'inv_2']);
    expect(r.stats.replays).toBe(1);
    expect(r.count('invoice')).toBe(2);
    // Regrouped with a new document, the batch key changes; the item keys still stop a second copy.
    const regrouped = await t.createInvoices(ctx, [invoice(2), invoice(3)]);
    expect(regrouped.map((x) => x.ok && x.targetId)).toEqual(['inv_2', 'inv_3']);
    expect(r.stats.itemReplays).toBe(1);
    expect(r.count('invoice')).toBe(3);
    expect(r.duplicates()).toEqual([]);
    expect(r.stats.duplicates).toBe(0);
    // The same keys with another body are refused, never answered with the first body's results.
    const changed = await t.createInvoices(ctx, [invoice(1, { currency: 'USD' }), invoice(2)]);
    expect(r.stats.keyConflicts).toBe(1);
    expect(changed[0]).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', retryable: false } });
    expect(r.count('invoice')).toBe(3);
  });

  it("the receiver's duplicate detector sees a document created twice (a receiver ignoring item keys)", async () => {
    const r = await receiver({ honourItemKeys: false });
    const t = createWebhookTarget(r.settings());
    await t.createInvoices(ctx, [invoice(1), invoice(2)]);
    await t.createInvoices(ctx, [invoice(2), invoice(3)]);
    expect(r.stats.duplicates).toBe(1);
    expect(r.duplicates().map((g) => g.map((d) => d.id))).toEqual([['inv_2', 'inv_3']]);
  });

  it('maps a 4xx to per-item refusals with the status and error code, never the body text', async () => {
    const r = await receiver();
    const t = createWebhookTarget(r.settings());
    const long = `${'x'.repeat(300)}END`;
    r.control.failNext({
      status: 422,
      times: 1,
      body: { error: { code: 'BAD', message: `tenant closed ${long}` }, debug: 'TOP-SECRET-INTERNAL' },
    });
    const results = await t.createInvoices(ctx, [invoice(1), invoice(2)]);
    expect(r.count('invoice')).toBe(0);
    for (const res of results) {
      expect(res.ok).toBe(false);
      if (res.ok) continue;
      expect(res.error.code).toBe('TARGET_REFUSED');
      expect(res.error.retryable).toBe(false);
      // What a server answers to a refused request is not repeated beyond a code: an address that
      // should not have been called cannot use our errors to show what it serves.
      expect(res.error.message).toBe('The webhook target refused the request (HTTP 422): BAD');
      expect(res.error.message).not.toContain('tenant closed');
      expect(res.error.message).not.toContain('TOP-SECRET-INTERNAL');
    }
    r.control.failNext({ status: 308, times: 1, body: { moved: true } });
    const [redirected] = await t.createInvoices(ctx, [invoice(1)]);
    expect(redirected).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', retryable: false } });
    expect(r.stats.posts).toBe(2);
  });

  it('maps 429 (with Retry-After), 408 and 5xx to retryable errors, before anything is committed', async () => {
    const r = await receiver();
    const t = createWebhookTarget(r.settings());
    r.control.failNext({ status: 429, times: 1, retryAfter: 7 });
    const limited = await thrown(t.createInvoices(ctx, [invoice(1)]));
    expect(limited).toMatchObject({ retryable: true, status: 429, retryAfterMs: 7000 });
    for (const status of [408, 500, 503]) {
      r.control.failNext({ status, times: 1 });
      expect(await thrown(t.createInvoices(ctx, [invoice(1)]))).toMatchObject({ retryable: true, status });
    }
    expect(r.count('invoice')).toBe(0);
    expect((await t.createInvoices(ctx, [invoice(1)]))[0]).toMatchObject({ ok: true, targetId: 'inv_1' });
  });

  it('a timeout or a refused connection is retryable; a 5xx lookup too', async () => {
    const r = await receiver();
    const t = createWebhookTarget(r.settings({ timeoutMs: 300 }));
    r.control.stallNext(1, 5_000);
    const slow = await thrown(t.createInvoices(ctx, [invoice(1)]));
    expect(slow.retryable).toBe(true);
    expect(slow.message).toMatch(/no answer within 300 ms/);
    expect(r.count('invoice')).toBe(1);

    r.control.failNext({ status: 502, times: 1, route: 'lookup' });
    expect(await thrown(t.findByReference(ctx, 'invoice', 'SO-1'))).toMatchObject({ retryable: true, status: 502 });
    expect(await t.findByReference(ctx, 'invoice', 'SO-1')).toMatchObject({ targetId: 'inv_1' });

    const gone = createWebhookTarget({ url: r.url, secret: r.secret });
    await r.close();
    open.splice(open.indexOf(r), 1);
    const refused = await thrown(gone.createInvoices(ctx, [invoice(2)]));
    expect(refused.retryable).toBe(true);
    expect(refused.status).toBeNull();
  });

  it('a malformed 2xx is a ConnectorError that is not retryable', async () => {
    const r = await receiver();
    const t = createWebhookTarget(r.settings());
    for (const body of [{ ok: true }, { results: [{ id: 'a' }] }, { results: [{ id: 'a' }, { nope: 1 }] }]) {
      r.control.failNext({ status: 200, times: 1, body });
      const err = await thrown(t.createInvoices(ctx, [invoice(1), invoice(2)]));
      expect(err.retryable).toBe(false);
    }
    r.control.failNext({ status: 200, times: 1, route: 'lookup', body: { number: 'x' } });
    expect((await thrown(t.findByReference(ctx, 'invoice', 'SO-1'))).retryable).toBe(false);
  });

  it('with batchSize 1 each document is its own request, keyed by its own key, and a bare answer is accepted', async () => {
    const r = await receiver();
    const t = createWebhookTarget(r.settings({ batchSize: 1 }));
    const results = await t.createInvoices(ctx, [invoice(1), invoice(2), invoice(3)]);
    expect(results.map((x) => x.ok && x.number)).toEqual(['INV-0001', 'INV-0002', 'INV-0003']);
    expect(r.requests.map((q) => q.idempotencyKey)).toEqual([
      'pl1:invoice:order-1:v1',
      'pl1:invoice:order-2:v1',
      'pl1:invoice:order-3:v1',
    ]);
    r.control.failNext({ status: 201, times: 1, body: { id: 42, number: 'X-1' } });
    expect(await t.createInvoices(ctx, [invoice(4)])).toEqual([
      { ok: true, targetId: '42', number: 'X-1', outcome: 'created' },
    ]);
  });

  it('splits a larger batch into requests of batchSize and keeps the results in order', async () => {
    const r = await receiver({
      rejectWhen: (d) => (d.externalReference === 'SO-4' ? { code: 'NO', message: 'no' } : null),
    });
    const t = createWebhookTarget(r.settings({ batchSize: 2, concurrency: 2 }));
    const results = await t.createInvoices(
      ctx,
      [1, 2, 3, 4, 5].map((n) => invoice(n)),
    );
    expect(r.stats.posts).toBe(3);
    expect(results.map((x) => (x.ok ? r.documents.find((d) => d.id === x.targetId)!.reference : 'refused'))).toEqual([
      'SO-1',
      'SO-2',
      'SO-3',
      'refused',
      'SO-5',
    ]);
  });

  it('an uncertain chunk stops the next ones and fails the whole call, once the others have settled', async () => {
    const r = await receiver();
    const t = createWebhookTarget(r.settings({ batchSize: 2 }));
    r.control.failNext({ status: 503, times: 1, after: 1, route: 'post' });
    const err = await thrown(
      t.createInvoices(
        ctx,
        [1, 2, 3, 4, 5, 6].map((n) => invoice(n)),
      ),
    );
    expect(err).toMatchObject({ retryable: true, status: 503 });
    expect(r.stats.posts).toBe(2);
    expect(r.documents.map((d) => d.reference)).toEqual(['SO-1', 'SO-2']);
    expect(await t.findByReference(ctx, 'invoice', 'SO-2')).toMatchObject({ targetId: 'inv_2' });
    expect(await t.findByReference(ctx, 'invoice', 'SO-3')).toBeNull();
  });

  it('customers are upserts: the same customer again updates it, a changed one gets a new key', async () => {
    const r = await receiver();
    const t = createWebhookTarget(r.settings());
    const customer = (name: string, targetId: string | null) => ({
      sourceId: 'c-1',
      code: 'ATL001',
      targetId,
      record: { kind: 'customer' as const, sourceId: 'c-1', name },
    });
    const [first] = await t.upsertCustomers(ctx, [customer('Atlantic', null)]);
    expect(first).toMatchObject({ ok: true, targetId: 'cus_1', number: 'ATL001', outcome: 'created' });
    const [same] = await t.upsertCustomers(ctx, [customer('Atlantic', null)]);
    expect(same).toMatchObject({ ok: true, targetId: 'cus_1' });
    expect(r.stats.replays).toBe(1);
    const [renamed] = await t.upsertCustomers(ctx, [customer('Atlantic Compressors', 'cus_1')]);
    expect(renamed).toMatchObject({ ok: true, targetId: 'cus_1', outcome: 'updated' });
    expect(r.count('customer')).toBe(1);
    expect(r.documents[0]).toMatchObject({ version: 2, document: { name: 'Atlantic Compressors' } });
  });

  it('with seeded faults, resending after lookups stores every document exactly once', async () => {
    // A receiver that honours only the request's key: exactly once rests on the lookups.
    const r = await receiver({ seed: 7, dropAfterCommitRate: 0.3, failRate: 0.2, honourItemKeys: false });
    const t = createWebhookTarget(r.settings({ batchSize: 6 }));
    const pending = new Map(Array.from({ length: 60 }, (_, i) => [`SO-${i + 1}`, invoice(i + 1)]));
    let uncertain = 0;
    for (let round = 0; pending.size > 0 && round < 100; round++) {
      // Batches of 2 to 6, so a document sent again rarely travels with the same neighbours (the same request key).
      const batch = [...pending.values()].slice(0, 2 + (round % 5));
      try {
        const results = await t.createInvoices(ctx, batch);
        results.forEach((res, i) => {
          if (res.ok) pending.delete(batch[i]!.record.externalReference);
        });
      } catch (err) {
        if (!(err instanceof ConnectorError) || !err.retryable) throw err;
        uncertain++;
        // What the engine does after an uncertain outcome: look each one up before sending it again.
        for (const doc of batch) {
          const ref = doc.record.externalReference;
          pending.delete(ref);
          // Not found: sent again later, in another batch (so under another request key).
          if (!(await t.findByReference(ctx, 'invoice', ref, doc.customerTargetId))) pending.set(ref, doc);
        }
      }
    }
    expect(pending.size).toBe(0);
    expect(uncertain).toBeGreaterThan(3);
    expect(r.stats.dropped).toBeGreaterThan(0);
    expect(r.stats.lookups).toBeGreaterThan(0);
    expect(r.count('invoice')).toBe(60);
    expect(r.duplicates()).toEqual([]);
    expect(r.stats.duplicates).toBe(0);
  });
});
