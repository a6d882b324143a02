import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { RatePlanner } from '../../sync/remote/contracts.ts';
import type { TargetDeps } from '../../sync/target.ts';
import { type NetSuiteSimulator, startNetSuiteSimulator, testKeyPair, writes } from './simulator.ts';
import { createNetSuiteTarget } from './target.ts';

/*
 * The connector against the simulated account, without the engine: the connection check, the
 * lookup by external id, an upsert whose answer is lost sent again without a duplicate, a refusal
 * carrying NetSuite's error code, a token asked for again after the account refuses one, and two
 * customers' documents under one reference each booked and found as that customer's own.
 */

const KEYS = testKeyPair();
const CLIENT = { clientId: 'unit-client', certificateId: 'unit-cert' };
const log = pino({ level: 'silent' });
const planner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};
let sim: NetSuiteSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function setup({
  maxAttempts,
  ...more
}: { latencyMs?: number; concurrency?: number; maxAttempts?: number } = {}) {
  const s = await startNetSuiteSimulator({
    accountId: '1234567',
    clients: [{ ...CLIENT, publicKey: KEYS.publicKey }],
    items: ['Sales'],
    ...more,
  });
  sim = s;
  const deps = {
    db: {} as never,
    log,
    mapping: {} as never,
    settings: {
      type: 'netsuite',
      accountId: '1234567',
      ...CLIENT,
      privateKey: KEYS.privateKey,
      currency: 'EUR',
      defaultItemId: [...s.account.items.values()][0]!.id,
      taxRates: { '0.21': s.account.taxCodes.find((t) => t.rate === '21')!.id },
      baseUrl: s.baseUrl,
      tokenUrl: s.tokenUrl,
    },
    entityId: 'e',
    pipelineId: 'p',
    pipelineName: 'unit',
    box: {} as never,
  } satisfies TargetDeps;
  const target = createNetSuiteTarget(deps, {
    planner,
    client: { backoffBaseMs: 1, backoffMaxMs: 5, ...(maxAttempts ? { maxAttempts } : {}) },
  });
  return { s, target, ctx: { db: {} as never, log, actor: 'pipeline:unit' } };
}

const customer = {
  sourceId: 'C1',
  code: 'CUST-1',
  targetId: null,
  record: { kind: 'customer' as const, sourceId: 'C1', name: 'Acme' },
};

describe('the NetSuite target', () => {
  it('checks the connection, upserts a customer through a lost answer once, and finds it by its code', async () => {
    const { s, target, ctx } = await setup();
    await expect(target.checkConnection!(ctx)).resolves.toBe('account 1234567');
    expect(await target.findByReference(ctx, 'customer', 'CUST-1')).toBeNull();
    s.dropNext(1, (r) => r.method === 'PUT');
    const [r] = await target.upsertCustomers(ctx, [customer]);
    const held = [...s.account.customers.values()];
    expect(held).toHaveLength(1);
    expect(r).toEqual({ ok: true, targetId: held[0]!.id, number: held[0]!.entityId, outcome: 'created' });
    expect(await target.findByReference(ctx, 'customer', 'CUST-1')).toEqual({
      targetId: held[0]!.id,
      number: held[0]!.entityId,
      customerTargetId: null,
    });
    expect(s.stats.dropped).toBe(1);
    expect(s.violations).toEqual([]);
  });

  it('refuses an invoice NetSuite refuses with its error code, and asks for a new token after a 401', async () => {
    const { s, target, ctx } = await setup();
    const [c] = await target.upsertCustomers(ctx, [customer]);
    const customerId = c!.ok ? c!.targetId : '';
    s.account.closedUntil = '2001-12-31';
    s.expireAccessTokens();
    const tokens = s.stats.tokens;
    const [r] = await target.createInvoices(ctx, [
      {
        sourceId: 'I1',
        customerTargetId: customerId,
        productTargetIds: {},
        idempotencyKey: 'k',
        record: {
          kind: 'invoice',
          sourceId: 'I1',
          externalReference: 'I1',
          customerSourceId: 'C1',
          invoiceDate: '2001-05-01',
          dueDate: '2001-06-01',
          currency: 'EUR',
          description: '',
          lines: [{ description: 'x', netAmount: '10.00', vatRate: '0.21', vatAmount: '2.10' }],
        },
      },
    ]);
    expect(r).toEqual({
      ok: false,
      error: {
        code: 'TARGET_REFUSED',
        message: expect.stringMatching(/^NetSuite refused invoice I1 \(400 USER_ERROR: The accounting period/),
        retryable: false,
      },
    });
    expect(s.stats.tokens).toBe(tokens + 1);
    expect(s.account.invoices()).toEqual([]);
  });
  it('sends a batch’s customers and invoices up to the account’s concurrency at once, not one by one, each booked once in order', async () => {
    const { target, ctx } = await setup({ latencyMs: 300, concurrency: 5 });
    const s = sim!;
    const more = ['C2', 'C3'].map((code) => ({
      ...customer,
      sourceId: code,
      code,
      record: { ...customer.record, sourceId: code },
    }));
    const [c, ...others] = await target.upsertCustomers(ctx, [customer, ...more]);
    // Customers as well: each its own record, sent at once.
    expect(s.stats.maxInFlight).toBeGreaterThan(1);
    expect(others).toMatchObject([{ ok: true }, { ok: true }]);
    const refs = ['P1', 'P2', 'P3', 'P4', 'P5'];
    const results = await target.createInvoices(
      ctx,
      refs.map((ref) => ({
        sourceId: ref,
        customerTargetId: c!.ok ? c!.targetId : '',
        productTargetIds: {},
        idempotencyKey: ref,
        record: {
          kind: 'invoice' as const,
          sourceId: ref,
          externalReference: ref,
          customerSourceId: 'C1',
          invoiceDate: '2026-11-02',
          dueDate: '2026-12-02',
          currency: 'EUR',
          description: '',
          lines: [{ description: 'x', netAmount: '10.00', vatRate: '0.21', vatAmount: '2.10' }],
        },
      })),
    );
    // One at a time, the account's other four slots would stay idle.
    expect(s.stats.maxInFlight).toBeGreaterThan(1);
    expect(s.stats.rateRefused).toBe(0);
    const held = s.account.invoices();
    expect(held.map((d) => d.externalId).sort()).toEqual(refs);
    expect(results.map((r) => (r.ok ? r.targetId : r.error.code))).toEqual(
      refs.map((ref) => held.find((d) => d.externalId === ref)!.id),
    );
  });

  it('books two customers’ invoices and credit memos under one reference each as its own, and finds each customer’s own after a lost answer', async () => {
    // One attempt a call: a lost answer is the engine's to look up, as in the conformance suite.
    const { target, ctx } = await setup({ latencyMs: 50, concurrency: 5, maxAttempts: 1 });
    const s = sim!;
    const [a, b] = await target.upsertCustomers(ctx, [
      customer,
      { ...customer, sourceId: 'C2', code: 'CUST-2', record: { ...customer.record, sourceId: 'C2', name: 'Bolt' } },
    ]);
    const [ca, cb] = [a!.ok ? a!.targetId : '', b!.ok ? b!.targetId : ''];
    const line = (net: string, vat: string) => [{ description: 'x', netAmount: net, vatRate: '0.21', vatAmount: vat }];
    const sale = (sourceId: string, customerTargetId: string, net: string, vat: string) => ({
      sourceId,
      customerTargetId,
      productTargetIds: {},
      idempotencyKey: sourceId,
      record: {
        kind: 'invoice' as const,
        sourceId,
        externalReference: 'SI',
        customerSourceId: sourceId,
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'EUR',
        description: '',
        lines: line(net, vat),
      },
    });
    // In one batch, sent at once: the second reads what the first wrote, not what was there before.
    const invoices = await target.createInvoices(ctx, [
      sale('I1', ca, '100.00', '21.00'),
      sale('I2', cb, '50.00', '10.50'),
    ]);
    const held = () => s.account.invoices().map((t) => [t.externalId, t.entity, t.total]);
    expect(held()).toEqual([
      ['SI', ca, 12100n],
      [`SI__c${cb}`, cb, 6050n],
    ]);
    const ids = s.account.invoices().map((t) => t.id);
    expect(invoices.map((r) => (r.ok ? r.targetId : r.error.code))).toEqual(ids);
    for (const [k, c] of [ca, cb].entries())
      expect(await target.findByReference(ctx, 'invoice', 'SI', c)).toMatchObject({
        targetId: ids[k],
        customerTargetId: c,
      });
    const read = await target.documents!(ctx, ids);
    expect(ids.map((id) => [read.get(id)?.externalReference, read.get(id)?.customerTargetId])).toEqual([
      ['SI', ca],
      ['SI', cb],
    ]);

    const note = (sourceId: string, customerTargetId: string, net: string, vat: string) => ({
      sourceId,
      customerTargetId,
      productTargetIds: {},
      invoiceTargetId: null,
      idempotencyKey: sourceId,
      record: {
        kind: 'creditNote' as const,
        sourceId,
        externalReference: 'SN',
        customerSourceId: sourceId,
        date: '2026-11-03',
        currency: 'EUR',
        description: '',
        lines: line(net, vat),
      },
    });
    await target.createCreditNotes!(ctx, [note('N1', ca, '20.00', '4.20')]);
    // The second customer's is committed and its answer lost: the lookup that follows takes its own.
    s.dropNext(1, (r) => writes(r, 'creditMemo'));
    await expect(target.createCreditNotes!(ctx, [note('N2', cb, '10.00', '2.10')])).rejects.toThrow();
    const memos = s.account.creditMemos();
    expect(memos.map((t) => [t.externalId, t.entity, t.total])).toEqual([
      ['SN', ca, 2420n],
      [`SN__c${cb}`, cb, 1210n],
    ]);
    expect(await target.findByReference(ctx, 'creditNote', 'SN', cb)).toMatchObject({
      targetId: memos[1]!.id,
      customerTargetId: cb,
    });
    expect(await target.findByReference(ctx, 'creditNote', 'SN', ca)).toMatchObject({ targetId: memos[0]!.id });
    expect(s.duplicates()).toEqual([]);
    expect(s.violations).toEqual([]);
  });
  it('books two customers’ documents under one free reference at the same moment, from two workers, each as its own', async () => {
    // Both read the reference free, then both write: two batches, as two workers or pipelines send them.
    const { target, ctx } = await setup({ latencyMs: 60, concurrency: 5, maxAttempts: 1 });
    const s = sim!;
    const [a, b] = await target.upsertCustomers(ctx, [
      customer,
      { ...customer, sourceId: 'C2', code: 'CUST-2', record: { ...customer.record, sourceId: 'C2', name: 'Bolt' } },
    ]);
    const [ca, cb] = [a!.ok ? a!.targetId : '', b!.ok ? b!.targetId : ''];
    const sale = (sourceId: string, customerTargetId: string, net: string, vat: string) => ({
      sourceId,
      customerTargetId,
      productTargetIds: {},
      idempotencyKey: sourceId,
      record: {
        kind: 'invoice' as const,
        sourceId,
        externalReference: 'RACE',
        customerSourceId: sourceId,
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'EUR',
        description: '',
        lines: [{ description: 'x', netAmount: net, vatRate: '0.21', vatAmount: vat }],
      },
    });
    const [ia, ib] = await Promise.all([
      target.createInvoices(ctx, [sale('I1', ca, '100.00', '21.00')]),
      target.createInvoices(ctx, [sale('I2', cb, '50.00', '10.50')]),
    ]);
    // Both creations were sent after both reads: NetSuite took one and refused the other, which
    // read the reference again and took its customer's external id.
    const creations = s.requests.filter((r) => r.method === 'POST' && r.route === '/invoice');
    expect(creations).toHaveLength(2);
    const invoices = s.account.invoices();
    expect(invoices.map((t) => [t.entity, t.total]).sort()).toEqual(
      [
        [ca, 12100n],
        [cb, 6050n],
      ].sort(),
    );
    const winner = invoices.find((t) => t.externalId === 'RACE')!;
    const loser = invoices.find((t) => t !== winner)!;
    expect(loser.externalId).toBe(`RACE__c${loser.entity}`);
    expect([ia[0], ib[0]].map((r) => (r!.ok ? r!.targetId : r!.error.code)).sort()).toEqual(
      invoices.map((t) => t.id).sort(),
    );
    for (const c of [ca, cb])
      expect(await target.findByReference(ctx, 'invoice', 'RACE', c)).toMatchObject({
        targetId: invoices.find((t) => t.entity === c)!.id,
        customerTargetId: c,
      });

    // Payments the same way, each applied to its own customer's invoice.
    const pay = (n: 1 | 2, customerTargetId: string, invoiceTargetId: string) => ({
      sourceId: `P${n}`,
      customerTargetId,
      invoiceTargetId,
      bankAccountCode: '',
      idempotencyKey: `P${n}`,
      record: {
        kind: 'payment' as const,
        sourceId: `P${n}`,
        customerSourceId: `C${n}`,
        externalReference: 'RACE-P',
        invoiceExternalReference: 'RACE',
        date: '2026-11-05',
        currency: 'EUR',
        amount: n === 1 ? '121.00' : '60.50',
        description: '',
      },
    });
    const idOf = (c: string) => invoices.find((t) => t.entity === c)!.id;
    const paid = await Promise.all([
      target.createPayments!(ctx, [pay(1, ca, idOf(ca))]),
      target.createPayments!(ctx, [pay(2, cb, idOf(cb))]),
    ]);
    expect(paid.flat().map((r) => r.ok)).toEqual([true, true]);
    const payments = [...s.account.payments.values()];
    expect(payments.map((p) => [p.customer, p.payment]).sort()).toEqual(
      [
        [ca, 12100n],
        [cb, 6050n],
      ].sort(),
    );
    for (const t of s.account.invoices()) expect(s.account.remaining(t)).toBe(0n);
    expect(s.duplicates()).toEqual([]);
    expect(s.violations).toEqual([]);
  });

  it('answers NetSuite’s refusal of a new document when the reference is still free, and writes nothing else', async () => {
    const { s, target, ctx } = await setup();
    const [c] = await target.upsertCustomers(ctx, [customer]);
    s.account.closedUntil = '2001-12-31';
    const [r] = await target.createInvoices(ctx, [
      {
        sourceId: 'I1',
        customerTargetId: c!.ok ? c!.targetId : '',
        productTargetIds: {},
        idempotencyKey: 'k',
        record: {
          kind: 'invoice',
          sourceId: 'I1',
          externalReference: 'FREE',
          customerSourceId: 'C1',
          invoiceDate: '2001-05-01',
          dueDate: '2001-06-01',
          currency: 'EUR',
          description: '',
          lines: [{ description: 'x', netAmount: '10.00', vatRate: '0.21', vatAmount: '2.10' }],
        },
      },
    ]);
    expect(r).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', message: /accounting period/ } });
    // One creation, refused; the reference read again and found free; no upsert under any external id.
    expect(s.requests.filter((x) => x.method !== 'GET').map((x) => `${x.method} ${x.route}`)).toEqual([
      'PUT /customer/eid:CUST-1',
      'POST /invoice',
    ]);
    expect(s.account.invoices()).toEqual([]);
  });
});
