import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../db/database.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { RatePlanner } from '../../sync/remote/contracts.ts';
import { SecretBox } from '../../sync/secrets.ts';
import type {
  TargetAllocation,
  TargetCallContext,
  TargetConnector,
  TargetCreditNote,
  TargetInvoice,
  TargetPayment,
  TargetRefund,
} from '../../sync/target.ts';
import { accountsiqTarget } from './index.ts';
import { AccountsIqSettings } from './settings.ts';
import { type AccountsIqSimulator, startAccountsIqSimulator } from './simulator.ts';
import { createAccountsIqTarget } from './target.ts';
import { OPERATIONS, faultEnvelope, parseEnvelope, requestEnvelope, text } from './wsdl.ts';

const noDb = new Proxy({} as Queryable, {
  get() {
    throw new Error('the AccountsIQ target must not use the database in these tests');
  },
});
const ctx: TargetCallContext = { db: noDb, log: pino({ level: 'silent' }), actor: 'test' };
const planner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};
const CLIENT = { clientId: 'aiq-app-1', clientSecret: 'aiq-secret-0123456789abcdef' };
const LEGACY = { partnerKey: 'partner-key-9876543210', userKey: 'user-key-5555-4444' };

let sim: AccountsIqSimulator;
beforeAll(async () => {
  sim = await startAccountsIqSimulator({
    entityId: 'ACME',
    ...CLIENT,
    ...LEGACY,
    closedBefore: '2025-01-01',
    seed: 3,
  });
});
afterAll(() => sim.close());

function target(extra: Record<string, unknown> = {}, url = sim.url): TargetConnector {
  return createAccountsIqTarget(
    {
      db: noDb,
      log: ctx.log,
      mapping: { defaultGlAccountCode: '4000' },
      settings: { type: 'accountsiq', url, entityId: 'ACME', ...CLIENT, ...extra },
      entityId: 'e1',
      pipelineId: 'p1',
      pipelineName: 'test',
      box: new SecretBox(Buffer.alloc(32, 1)),
    },
    { planner, client: { maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 2 } },
  );
}

function invoice(ref: string, customer: string, more: Partial<TargetInvoice['record']> = {}): TargetInvoice {
  return {
    sourceId: ref,
    customerTargetId: customer,
    productTargetIds: {},
    idempotencyKey: `p1:invoice:${ref}`,
    record: {
      kind: 'invoice',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: customer,
      invoiceDate: '2026-11-02',
      dueDate: '2026-12-02',
      currency: 'EUR',
      description: 'Tickets',
      lines: [{ description: 'Ticket', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
      ...more,
    },
  };
}

function payment(ref: string, customer: string, invoiceTargetId: string | null, amount: string): TargetPayment {
  return {
    sourceId: ref,
    customerTargetId: customer,
    invoiceTargetId,
    bankAccountCode: 'BANK',
    idempotencyKey: `p1:payment:${ref}`,
    record: {
      kind: 'payment',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: customer,
      date: '2026-11-05',
      amount,
      currency: 'EUR',
      description: '',
    },
  };
}

async function customer(t: TargetConnector, code: string, name = `Customer ${code}`) {
  const [r] = await t.upsertCustomers(ctx, [
    { sourceId: code, code, targetId: null, record: { kind: 'customer', sourceId: code, name } },
  ]);
  expect(r).toMatchObject({ ok: true, targetId: code.toUpperCase() });
}

describe('settings', () => {
  it('refuses what is missing or unknown, by name', () => {
    const problems = (s: Record<string, unknown>) => {
      const r = AccountsIqSettings.safeParse(s);
      return r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
    };
    expect(problems({ entityId: 'E', ...CLIENT })).toEqual(['region']);
    expect(problems({ entityId: 'E', region: 'eu1', clientId: 'x' })).toEqual(['clientSecret']);
    expect(problems({ entityId: 'E', region: 'eu1', api: '1.1', partnerKey: 'p' })).toEqual(['userKey']);
    expect(problems({ entityId: 'E', region: 'xx1', ...CLIENT })).toEqual(['region']);
    expect(problems({ entityId: 'E', region: 'eu1', ...CLIENT, clientSecrets: 'typo' })).toEqual(['']);
    expect(problems({ entityId: 'E', region: 'eu1', ...CLIENT, limits: { batchSize: 500 } })).toEqual([
      'limits.batchSize',
    ]);
    expect(problems({ entityId: 'E', region: 'uk1', ...CLIENT })).toEqual([]);
  });

  it('declares its credentials and the endpoint it calls', () => {
    expect(accountsiqTarget.secrets).toEqual(['clientSecret', 'partnerKey', 'userKey']);
    expect(accountsiqTarget.outbound!({ entityId: 'E', region: 'uk1', ...CLIENT })).toEqual([
      { field: 'region', url: 'https://uk1.accountsiq.com/system/dashboard/integration/integration_2_0.asmx' },
    ]);
    expect(
      accountsiqTarget.outbound!({ entityId: 'E', region: 'us1', api: '1.1', partnerKey: 'p', userKey: 'u' }),
    ).toEqual([
      { field: 'region', url: 'https://us1.accountsiq.com/system/dashboard/integration/integration_1_1.asmx' },
    ]);
  });
});

describe('envelopes', () => {
  it('escapes values through the builder and reads them back as sent', () => {
    const nasty = `<&>"' ]]> <!-- x -->`;
    const xml = requestEnvelope('GetCustomer', { token: '', customerCode: nasty });
    expect(xml).not.toContain('<&>');
    const env = parseEnvelope(xml)!;
    expect(text((env.body.GetCustomer as Record<string, string>).customerCode)).toBe(nasty);
  });

  it('refuses to build an element the contract does not declare', () => {
    expect(() => requestEnvelope('GetCustomer', { token: '', code: 'X' })).toThrow(/no element code/);
  });

  it('the simulator answers an undeclared element with a soap:Client fault and records the violation', async () => {
    const before = sim.violations.length;
    const body = requestEnvelope('GetCurrencyList', { token: '' }).replace(
      '<token></token>',
      '<token></token><Extra>1</Extra>',
    );
    const res = await fetch(sim.url, {
      method: 'POST',
      headers: {
        'content-type': 'text/xml',
        soapaction: `"http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/GetCurrencyList"`,
      },
      body,
    });
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('soap:Client');
    expect(sim.violations.slice(before)).toEqual([
      { operation: 'GetCurrencyList', errors: ['GetCurrencyList: unknown element Extra'] },
    ]);
    sim.violations.splice(before);
    expect(Object.keys(OPERATIONS)).toContain('PostPayAndAllocateSalesInvoices');
  });
});

describe('the AccountsIQ target against the simulator', () => {
  it('creates a customer from the defaults, updates only what changed, keeps <&>"\' as written', async () => {
    const t = target();
    await customer(t, 'k-1', `Smith <&> "Sons" 'Ltd'`);
    const held = sim.books.customers.get('K-1')!;
    expect(held).toMatchObject({ Name: `Smith <&> "Sons" 'Ltd'`, AreaID: 'DEFAULT', RowVersionNumber: '1' });
    const record = { kind: 'customer' as const, sourceId: 'k-1', name: `Smith <&> "Sons" 'Ltd'`, email: 'a@b.c' };
    const [u] = await t.upsertCustomers(ctx, [{ sourceId: 'k-1', code: 'K-1', targetId: 'K-1', record }]);
    expect(u).toMatchObject({ ok: true, outcome: 'updated' });
    const [same] = await t.upsertCustomers(ctx, [{ sourceId: 'k-1', code: 'K-1', targetId: 'K-1', record }]);
    expect(same).toMatchObject({ ok: true, outcome: 'unchanged' });
    expect(sim.books.customers.get('K-1')).toMatchObject({ Email: 'a@b.c', RowVersionNumber: '2' });
    expect(await t.findByReference(ctx, 'customer', 'K-1')).toEqual({ targetId: 'K-1', number: 'K-1' });
    expect(await t.customer!(ctx, 'K-1', 'k-1')).toMatchObject({ name: `Smith <&> "Sons" 'Ltd'`, email: 'a@b.c' });
  });

  it('one bad invoice does not sink its neighbours: each answered in order, refusals in AccountsIQ’s words', async () => {
    const t = target();
    await customer(t, 'K-2');
    const results = await t.createInvoices(ctx, [
      invoice('B-1', 'K-2'),
      invoice('B-2', 'K-2', { invoiceDate: '2024-06-01' }),
      invoice('B-3', 'K-2', { lines: [{ description: 'Odd', netAmount: '10.00', vatRate: '0.06' }] }),
      invoice('B-4', 'K-2'),
    ]);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual([
      'ok',
      'TARGET_REFUSED',
      'MAPPING_NO_TAX_CODE_FOR_RATE',
      'ok',
    ]);
    expect(results[1]).toMatchObject({
      ok: false,
      error: { retryable: false, message: expect.stringMatching(/DATE_IS_OUT_OF_RANGE/) },
    });
    const [first, , , fourth] = results;
    expect(first).toMatchObject({ ok: true, number: expect.stringMatching(/^\d+$/) });
    const docs = await t.documents!(ctx, [first!.ok ? first!.targetId : '', fourth!.ok ? fourth!.targetId : '']);
    expect([...docs.values()].map((d) => [d.externalReference, d.gross, d.customerTargetId, d.dueDate])).toEqual([
      ['B-1', 12100n, 'K-2', '2026-12-02'],
      ['B-4', 12100n, 'K-2', '2026-12-02'],
    ]);
  });

  it('a lost answer is a retryable error; findByReference finds what was committed; AccountsIQ refuses it twice', async () => {
    const t = target();
    await customer(t, 'K-3');
    sim.dropNext(1, 'PostPayAndAllocateSalesInvoices');
    const err = await t.createInvoices(ctx, [invoice('L-1', 'K-3')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as ConnectorError).retryable).toBe(true);
    expect((err as ConnectorError).message).not.toContain(CLIENT.clientSecret);
    const found = await t.findByReference(ctx, 'invoice', 'L-1', 'K-3');
    expect(found).toMatchObject({ targetId: expect.stringMatching(/^\d+$/), customerTargetId: 'K-3' });
    // Exact: another case, or another customer, is not ours.
    expect(await t.findByReference(ctx, 'invoice', 'l-1', 'K-3')).toBeNull();
    expect(await t.findByReference(ctx, 'invoice', 'L-1', 'K-2')).toBeNull();
    const [again] = await t.createInvoices(ctx, [invoice('L-1', 'K-3')]);
    expect(again).toMatchObject({ ok: false, error: { message: expect.stringMatching(/ALREADY_EXISTS/) } });
    expect(sim.duplicates()).toEqual([]);
  });

  it('503 is retryable (a write is not resent by the client; a read is)', async () => {
    const t = target();
    await customer(t, 'K-4');
    sim.failNext(503, 1, 'PostPayAndAllocateSalesInvoices');
    const err = await t.createInvoices(ctx, [invoice('F-1', 'K-4')]).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: true, status: 503 });
    sim.failNext(503, 1, 'GetTransactionsByExternalReference');
    expect(await t.findByReference(ctx, 'invoice', 'F-1', 'K-4')).toBeNull();
    expect((await t.createInvoices(ctx, [invoice('F-1', 'K-4')]))[0]).toMatchObject({ ok: true });
  });

  it('429 on a read: waited out and sent again; every call paced through one scope of the entity', async () => {
    const scopes: string[] = [];
    const counting: RatePlanner = {
      ...planner,
      acquire: (s) => {
        scopes.push(...s.map((x) => x.key));
        return Promise.resolve({ release: () => Promise.resolve() });
      },
    };
    const t = createAccountsIqTarget(
      {
        db: noDb,
        log: ctx.log,
        mapping: {},
        settings: { type: 'accountsiq', url: sim.url, entityId: 'ACME', ...CLIENT, limits: { callsPerSecond: 3 } },
        entityId: 'e1',
        pipelineId: 'p1',
        pipelineName: 'test',
        box: new SecretBox(Buffer.alloc(32, 1)),
      },
      {
        planner: counting,
        client: { maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 2, sleep: () => Promise.resolve() },
      },
    );
    expect(t.limits).toMatchObject({ callsPerSecond: 3, callsPerMinute: 200, concurrency: 2, batchSize: 50 });
    sim.failNext(429, 1, 'GetCurrencyList');
    expect(await t.checkConnection!(ctx)).toBe('entity ACME (EUR)');
    const host = new URL(sim.url).host;
    // TokenGet, the 429, the call again.
    expect(scopes).toEqual([0, 1, 2].map(() => `accountsiq:entity:${host}:ACME`));
  });

  it('a simulator given limits answers 429 past them (the bench stands it in for a server at our pace)', async () => {
    for (const limits of [
      { perMinute: 2, minuteMs: 60_000 },
      // A second of 10 real seconds: the calls of one check cannot outlast it.
      { perSecond: 2, minuteMs: 600_000 },
    ]) {
      const limited = await startAccountsIqSimulator({ entityId: 'ACME', ...CLIENT, limits });
      try {
        const t = createAccountsIqTarget(
          {
            db: noDb,
            log: ctx.log,
            mapping: {},
            settings: { type: 'accountsiq', url: limited.url, entityId: 'ACME', ...CLIENT },
            entityId: 'e1',
            pipelineId: 'p1',
            pipelineName: 'test',
            box: new SecretBox(Buffer.alloc(32, 1)),
          },
          { planner, client: { maxAttempts: 1 } },
        );
        // TokenGet and GetCurrencyList: the 2 allowed; the next check's GetCurrencyList is one too many.
        expect(await t.checkConnection!(ctx)).toBe('entity ACME (EUR)');
        const err = await t.checkConnection!(ctx).catch((e: unknown) => e);
        expect(err).toMatchObject({ retryable: true, status: 429 });
        expect(limited.stats).toMatchObject({ calls: 3, rateLimited: 1 });
      } finally {
        await limited.close();
      }
    }
  });

  it('an answer that is not AccountsIQ’s is not retryable', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>maintenance</body></html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const t = target({}, `http://127.0.0.1:${(server.address() as AddressInfo).port}/x.asmx`);
      const err = await t.checkConnection!(ctx).catch((e: unknown) => e);
      expect(err).toMatchObject({ retryable: false, message: expect.stringMatching(/TokenGetResponse/) });
    } finally {
      server.close();
    }
  });

  it('a soap:Client fault (HTTP 500) is refused at once; a soap:Server fault is retried as an unknown outcome', async () => {
    let hits = 0;
    let code: 'Client' | 'Server' = 'Client';
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(500, { 'content-type': 'text/xml; charset=utf-8' });
      res.end(faultEnvelope(code, 'Server was unable to read request.'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x.asmx`;
      const refused = await target({}, url).checkConnection!(ctx).catch((e: unknown) => e);
      expect(refused).toMatchObject({ retryable: false, status: 500, message: expect.stringMatching(/soap:Client/) });
      expect(hits).toBe(1);
      code = 'Server';
      hits = 0;
      const unknown = await target({}, url).checkConnection!(ctx).catch((e: unknown) => e);
      // The sign-in is a read: asked again up to maxAttempts (2 here), then retryable.
      expect(unknown).toMatchObject({ retryable: true, status: 500 });
      expect(hits).toBe(2);
    } finally {
      server.close();
    }
  });

  it('wrong credentials: refused, not retryable, and no secret in the message', async () => {
    const t = target({ clientSecret: 'wrong-secret-value-123456' });
    const err = (await t.checkConnection!(ctx).catch((e: unknown) => e)) as ConnectorError;
    expect(err).toMatchObject({ retryable: false, code: 'TARGET_AUTH_REVOKED' });
    expect(err.message).toMatch(/INVALID_CLIENT/);
    expect(err.message).not.toContain('wrong-secret-value-123456');
  });

  it('an expired token is refreshed (both tokens rotated) and the call goes again', async () => {
    const t = target();
    expect(await t.checkConnection!(ctx)).toBe('entity ACME (EUR)');
    const issued = sim.stats.tokensIssued;
    sim.expireTokens();
    expect(await t.checkConnection!(ctx)).toBe('entity ACME (EUR)');
    expect(sim.stats.tokensIssued).toBe(issued + 1);
    expect(sim.stats.byOperation.TokenRefresh).toBeGreaterThan(0);
  });

  it('legacy 1.1: Login, and Login again when the session expires', async () => {
    const t = target({ api: '1.1', clientId: undefined, clientSecret: undefined, ...LEGACY });
    const logins = sim.stats.logins;
    expect(await t.checkConnection!(ctx)).toBe('entity ACME (EUR)');
    sim.expireTokens();
    await customer(t, 'K-5');
    expect(sim.stats.logins).toBe(logins + 2);
    const bad = target({ api: '1.1', clientId: undefined, clientSecret: undefined, ...LEGACY, userKey: 'nope-1234' });
    expect(await bad.checkConnection!(ctx).catch((e: unknown) => e)).toMatchObject({ code: 'TARGET_AUTH_REVOKED' });
  });

  it('payments: a receipt allocated to the invoice it names; sent again it is linked, not booked twice', async () => {
    const t = target();
    await customer(t, 'K-6');
    const [i1, i2] = await t.createInvoices(ctx, [invoice('P-I1', 'K-6'), invoice('P-I2', 'K-6')]);
    const id2 = i2!.ok ? i2!.targetId : '';
    const [p] = await t.createPayments!(ctx, [payment('P-P1', 'K-6', id2, '50.00')]);
    expect(p).toMatchObject({ ok: true, outcome: 'created' });
    expect(sim.books.transactions.get(Number(id2))!.outstanding.toFixed(2)).toBe('71.00');
    expect(sim.books.transactions.get(Number(i1!.ok ? i1!.targetId : 0))!.outstanding.toFixed(2)).toBe('121.00');
    expect(await t.findByReference(ctx, 'payment', 'P-P1', 'K-6')).toMatchObject({
      targetId: p!.ok ? p!.targetId : '',
    });
    // The allocation's answer is lost: the receipt is found unallocated, so it is sent again, linked and allocated.
    sim.dropNext(1, 'AllocateTransactions');
    const lost = await t.createPayments!(ctx, [payment('P-P2', 'K-6', id2, '21.00')]).catch((e: unknown) => e);
    expect(lost).toMatchObject({ retryable: true });
    expect(await t.findByReference(ctx, 'payment', 'P-P2', 'K-6')).not.toBeNull();
    // A receipt whose allocation never happened: found by createPayments, linked and allocated.
    sim.failNext(503, 1, 'AllocateTransactions');
    await t.createPayments!(ctx, [payment('P-P3', 'K-6', i1!.ok ? i1!.targetId : '', '21.00')]).catch(() => null);
    expect(await t.findByReference(ctx, 'payment', 'P-P3', 'K-6')).toBeNull();
    const [again] = await t.createPayments!(ctx, [payment('P-P3', 'K-6', i1!.ok ? i1!.targetId : '', '21.00')]);
    expect(again).toMatchObject({ ok: true, outcome: 'linked' });
    expect(sim.books.transactions.get(Number(i1!.ok ? i1!.targetId : 0))!.outstanding.toFixed(2)).toBe('100.00');
    // Paid in full (50 + 71): written back with the receipt that settled it last.
    const [i3] = await t.createInvoices(ctx, [invoice('P-I3', 'K-6')]);
    const id3 = i3!.ok ? i3!.targetId : '';
    await t.createPayments!(ctx, [payment('P-P4', 'K-6', id3, '100.00'), payment('P-P5', 'K-6', id3, '21.00')]);
    expect(await t.paidInvoices!(ctx, [id3, id2])).toEqual(new Map([[id3, 'P-P5']]));
    expect(sim.duplicates()).toEqual([]);
  });

  it('credit notes and allocations: booked once, set against the invoice, found again by what they are', async () => {
    const t = target();
    await customer(t, 'K-7');
    const [inv] = await t.createInvoices(ctx, [invoice('C-I1', 'K-7')]);
    const note: TargetCreditNote = {
      sourceId: 'C-N1',
      customerTargetId: 'K-7',
      productTargetIds: {},
      invoiceTargetId: inv!.ok ? inv!.targetId : null,
      idempotencyKey: 'p1:creditNote:C-N1',
      record: {
        kind: 'creditNote',
        sourceId: 'C-N1',
        externalReference: 'C-N1',
        customerSourceId: 'K-7',
        date: '2026-11-04',
        currency: 'EUR',
        description: 'Returned',
        lines: [{ description: 'Returned', netAmount: '20.00', vatRate: '0.21', vatAmount: '4.20' }],
      },
    };
    const [n] = await t.createCreditNotes!(ctx, [note]);
    expect(n).toMatchObject({ ok: true, number: '1' });
    expect(await t.findByReference(ctx, 'creditNote', 'C-N1', 'K-7')).toMatchObject({
      targetId: n!.ok ? n!.targetId : '',
    });
    const allocation: TargetAllocation = {
      sourceId: 'C-A1',
      customerTargetId: 'K-7',
      invoiceTargetId: inv!.ok ? inv!.targetId : '',
      fromTargetId: n!.ok ? n!.targetId : '',
      idempotencyKey: 'p1:allocation:C-A1',
      record: {
        kind: 'allocation',
        sourceId: 'C-A1',
        customerSourceId: 'K-7',
        date: '2026-11-04',
        currency: 'EUR',
        amount: '24.20',
        invoiceExternalReference: 'C-I1',
        from: 'creditNote',
        fromExternalReference: 'C-N1',
      },
    };
    const [a] = await t.createAllocations!(ctx, [allocation]);
    expect(a).toMatchObject({ ok: true });
    expect(await t.findAllocation!(ctx, allocation, new Set())).toMatchObject({ targetId: a!.ok ? a!.targetId : '' });
    expect(await t.findAllocation!(ctx, allocation, new Set([a!.ok ? a!.targetId : '']))).toBeNull();
    // Allocated twice: AccountsIQ refuses (fully allocated), in its words.
    const [twice] = await t.createAllocations!(ctx, [allocation]);
    expect(twice).toMatchObject({ ok: false, error: { message: expect.stringMatching(/FULLY_ALLOCATED/) } });
    expect(sim.books.transactions.get(Number(inv!.ok ? inv!.targetId : 0))!.outstanding.toFixed(2)).toBe('96.80');
  });

  it('products are stock items: their GL account and tax code book the lines that name them', async () => {
    const t = target();
    await customer(t, 'K-9');
    const [p] = await t.upsertProducts!(ctx, [
      {
        sourceId: 'prod-1',
        code: 'gear',
        targetId: null,
        record: {
          kind: 'product',
          sourceId: 'prod-1',
          code: 'gear',
          name: 'Gear <&>',
          glAccountCode: '4100',
          taxCode: 'R',
        },
      },
    ]);
    expect(p).toMatchObject({ ok: true, targetId: 'GEAR', outcome: 'created' });
    expect(sim.books.stockItems.get('GEAR')).toMatchObject({ Description: 'Gear <&>', SalesGLAccountCode: '4100' });
    expect(await t.findByReference(ctx, 'product', 'GEAR')).toEqual({ targetId: 'GEAR', number: 'GEAR' });
    const line = { description: 'Gear', netAmount: '10.00', vatRate: '0.09', productSourceId: 'prod-1' };
    const [inv] = await t.createInvoices(ctx, [
      { ...invoice('G-1', 'K-9', { lines: [line] }), productTargetIds: { 'prod-1': 'GEAR' } },
    ]);
    expect(inv).toMatchObject({ ok: true });
    expect(sim.books.transactions.get(Number(inv!.ok ? inv!.targetId : 0))!.gross.toFixed(2)).toBe('10.90');
    const [refused] = await t.upsertProducts!(ctx, [
      {
        sourceId: 'prod-2',
        code: 'BAD',
        targetId: null,
        record: { kind: 'product', sourceId: 'prod-2', code: 'BAD', name: 'Bad', glAccountCode: '9999' },
      },
    ]);
    expect(refused).toMatchObject({ ok: false, error: { message: expect.stringMatching(/GLACCOUNT/) } });
  });

  it('refunds: a sales debit journal allocated to the receipt it refunds, once through a lost answer', async () => {
    const t = target();
    await customer(t, 'K-10');
    const [p] = await t.createPayments!(ctx, [payment('R-P1', 'K-10', null, '50.00')]);
    const receiptId = p!.ok ? p!.targetId : '';
    const refund = (ref: string, amount: string): TargetRefund => ({
      sourceId: ref,
      customerTargetId: 'K-10',
      paymentTargetId: receiptId,
      bankAccountCode: 'BANK',
      idempotencyKey: `p1:refund:${ref}`,
      record: {
        kind: 'refund',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: 'K-10',
        date: '2026-11-06',
        amount,
        currency: 'EUR',
        paymentExternalReference: 'R-P1',
        description: '',
      },
    });
    sim.dropNext(1, 'PostSalesDebitJournalGetBackTransactionID');
    expect(await t.createRefunds!(ctx, [refund('R-R1', '20.00')]).catch((e: unknown) => e)).toMatchObject({
      retryable: true,
    });
    // Booked but not yet allocated: left to createRefunds, which links it and allocates it.
    expect(await t.findByReference(ctx, 'refund', 'R-R1', 'K-10')).toBeNull();
    const [r] = await t.createRefunds!(ctx, [refund('R-R1', '20.00')]);
    expect(r).toMatchObject({ ok: true, outcome: 'linked' });
    expect(await t.findByReference(ctx, 'refund', 'R-R1', 'K-10')).toMatchObject({
      targetId: r!.ok ? r!.targetId : '',
    });
    expect(sim.books.transactions.get(Number(receiptId))!.outstanding.toFixed(2)).toBe('30.00');
    const docs = await t.documents!(ctx, [r!.ok ? r!.targetId : '']);
    expect([...docs.values()].map((d) => [d.kind, d.gross])).toEqual([['refund', 2000n]]);
    expect(sim.duplicates()).toEqual([]);
  });

  it('reads the invoice PDF', async () => {
    const t = target();
    await customer(t, 'K-8');
    const [inv] = await t.createInvoices(ctx, [invoice('D-1', 'K-8')]);
    const pdf = await t.pdf!(ctx, inv!.ok ? inv!.targetId : '');
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('sent nothing that breaks the contract', () => {
    expect(sim.violations).toEqual([]);
  });
});
