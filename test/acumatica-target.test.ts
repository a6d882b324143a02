import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { type AcumaticaSimulator, startAcumaticaSimulator } from '../src/connectors/acumatica/simulator.ts';
import { type AcumaticaTargetOptions, createAcumaticaTarget } from '../src/connectors/acumatica/target.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TargetCallContext, TargetConnector, TargetCreditNote } from '../src/sync/target.ts';
import { createTestDatabase } from './helpers/db.ts';
import { specValidator } from './helpers/openapi-requests.ts';
import {
  callContext,
  directCustomer,
  directInvoice as invoice,
  directPayment as payment,
  directRefund,
  directTargetDeps,
  targetIdOf,
} from './helpers/direct-target.ts';

/*
 * The Acumatica target's operations against the simulated instance, one by one: sessions (signed
 * out after each call, signed in again after the idle timeout, the licence's cap on API users),
 * OAuth, one refused document among good ones, lost answers found by reference (and released),
 * 429 and 5xx retryable, a malformed answer not, credentials in no message, and every request
 * checked against the official contract.
 */

const validate = specValidator('test/acumatica-target.test.ts', 'acumatica/Default_24.200.001.openapi.json');

const PASSWORD = 'acu-pass-SECRET-0123456789';
const CLIENT = { clientId: '88358B02-A48D-A50E-F710-39C1636C30F6@Company', clientSecret: 'acu-client-SECRET-987654' };
let db: Database;
let sim: AcumaticaSimulator;
let ctx: TargetCallContext;

const fast: AcumaticaTargetOptions = {
  client: { backoffBaseMs: 1, backoffMaxMs: 5, maxAttempts: 1 },
  sleep: () => Promise.resolve(),
};

function make(settings: Record<string, unknown> = {}, opts: AcumaticaTargetOptions = fast): TargetConnector {
  return createAcumaticaTarget(
    directTargetDeps(
      db,
      {
        type: 'acumatica',
        instanceUrl: sim.url,
        username: 'api',
        password: PASSWORD,
        tenant: 'Company',
        currency: 'EUR',
        taxCategories: { '0.21': 'STANDARD' },
        cashAccount: '10200',
        actionPollMs: 10,
        limits: { callsPerMinute: 100_000, concurrent: 4 },
        ...settings,
      },
      'acu',
    ),
    opts,
  );
}

async function customer(target: TargetConnector, code: string) {
  const [r] = await target.upsertCustomers(ctx, [directCustomer(code, `Customer ${code}`)]);
  expect(r).toMatchObject({ ok: true, targetId: code });
  return code;
}

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startAcumaticaSimulator({
    users: [{ name: 'api', password: PASSWORD }],
    clients: [CLIENT],
    tenant: 'Company',
    currency: 'EUR',
    taxCategories: { STANDARD: '0.21' },
    cashAccounts: ['10200'],
    closedBefore: '2021-01-01',
    maxApiUsers: 2,
    validate,
  });
  ctx = callContext(db);
}, 60_000);
afterAll(async () => {
  expect(sim.violations).toEqual([]);
  expect(sim.duplicates()).toEqual([]);
  await sim.close();
  await db.close();
});
beforeEach(() => {
  sim.expireSessions();
});

describe('sessions', () => {
  it('signs in for a call and out when it ends, so no API user is held', async () => {
    const target = make();
    const before = { ...sim.stats };
    await customer(target, 'S1');
    await target.createInvoices(ctx, [invoice('S-1', 'S1')]);
    expect(sim.sessionsOpen()).toBe(0);
    expect(sim.stats.logins - before.logins).toBe(2);
    expect(sim.stats.logouts - before.logouts).toBe(2);
  });

  it('signs in again when the session expired while idle, and sends the call once more', async () => {
    const target = make();
    await customer(target, 'S2');
    const ids = (await target.createInvoices(ctx, [invoice('S-2a', 'S2'), invoice('S-2b', 'S2')])).map((r) =>
      targetIdOf(r),
    );
    const [pay] = await target.createPayments!(ctx, [payment('S-2P', 'S2', ids[0]!, '21.00')]);
    const before = { ...sim.stats };
    sim.expireSessionsAfterNext();
    // Two reads (the invoices, then the payment, each entity's in one request): the second finds the session expired.
    expect((await target.documents!(ctx, [...ids, targetIdOf(pay)])).size).toBe(3);
    expect(sim.stats.expired - before.expired).toBe(1);
    expect(sim.stats.logins - before.logins).toBe(2);
    expect(sim.sessionsOpen()).toBe(0);
  });

  it('meets the licence’s per-minute limit as a 429 in Acumatica’s format: retryable', async () => {
    const limited = await startAcumaticaSimulator({
      users: [{ name: 'api', password: PASSWORD }],
      requestsPerMinute: 2,
      validate,
    });
    try {
      const target = make({ instanceUrl: limited.url });
      await target.checkConnection!(ctx);
      await target.checkConnection!(ctx);
      const err = (await target.checkConnection!(ctx).catch((e: unknown) => e)) as ConnectorError;
      expect(err).toMatchObject({ retryable: true, status: 429 });
      expect(limited.stats.throttled).toBe(1);
      const raw = await fetch(`${limited.url}/entity/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'api', password: PASSWORD }),
      });
      const cookie = raw.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const answer = await fetch(`${limited.url}/entity/Default/24.200.001/Customer`, { headers: { cookie } });
      expect(answer.status).toBe(429);
      expect(await answer.json()).toMatchObject({ message: expect.any(String), exceptionMessage: expect.any(String) });
      expect(limited.violations).toEqual([]);
    } finally {
      await limited.close();
    }
  });

  it('counts the licence’s minute on a scaled clock when given one (the bench’s)', async () => {
    const limited = await startAcumaticaSimulator({
      users: [{ name: 'api', password: PASSWORD }],
      requestsPerMinute: 1,
      minuteMs: 200,
      validate,
    });
    try {
      const target = make({ instanceUrl: limited.url });
      await target.checkConnection!(ctx);
      // Once the scaled minute has passed the window is empty again; a real minute's would still hold the call.
      await new Promise((resolve) => setTimeout(resolve, 250));
      await target.checkConnection!(ctx);
      expect(limited.stats).toMatchObject({ throttled: 0, counted: 2 });
    } finally {
      await limited.close();
    }
  });

  it('is refused a session when the licence’s API users are all signed in: retryable, no password in it', async () => {
    const small = await startAcumaticaSimulator({ users: [{ name: 'api', password: PASSWORD }], maxApiUsers: 1 });
    try {
      // Someone else holds the only API user.
      await fetch(`${small.url}/entity/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'api', password: PASSWORD }),
      });
      const target = make({ instanceUrl: small.url });
      const err = await target.checkConnection!(ctx).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as ConnectorError).retryable).toBe(true);
      expect((err as ConnectorError).status).toBe(429);
      expect(String((err as Error).message)).not.toContain(PASSWORD);
    } finally {
      await small.close();
    }
  });

  // Acumatica answers a wrong password with a 500 that says so: refused at once, asked once.
  it('refuses a wrong password at once as TARGET_AUTH_REVOKED, asking once, without the password', async () => {
    const target = make({ password: 'wrong-SECRET-password' });
    const requests = sim.stats.requests;
    const err = await target.checkConnection!(ctx).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: false, status: 500, code: 'TARGET_AUTH_REVOKED' });
    expect(String((err as Error).message)).toMatch(/Invalid credentials.*check username, password and tenant/);
    expect(String((err as Error).message)).not.toContain('wrong-SECRET-password');
    expect(sim.stats.requests - requests).toBe(1);
  });
});

describe('OAuth 2.0', () => {
  it('books with a bearer token from the password grant, opening no cookie session', async () => {
    const target = make({ auth: 'oauth', ...CLIENT });
    const logins = sim.stats.logins;
    await customer(target, 'O1');
    expect(await target.checkConnection!(ctx)).toContain('127.0.0.1');
    expect(sim.stats.logins).toBe(logins);
  });

  it('refuses a wrong client secret as a reconnect, without the secret', async () => {
    const target = make({ auth: 'oauth', clientId: CLIENT.clientId, clientSecret: 'bad-SECRET-client' });
    const err = (await target.checkConnection!(ctx).catch((e: unknown) => e)) as ConnectorError;
    expect(err).toMatchObject({ retryable: false, code: 'TARGET_AUTH_REVOKED' });
    expect(err.message).toMatch(/invalid_client/);
    expect(err.message).not.toContain('bad-SECRET-client');
  });
});

describe('documents', () => {
  it('books each document on its own: one refused does not sink its neighbours', async () => {
    const target = make();
    const c = await customer(target, 'D1');
    const results = await target.createInvoices(ctx, [
      invoice('D-1', c),
      invoice('D-2', c, '10.00', '0.21', '2020-03-01'),
      invoice('D-3', c, '50.00'),
    ]);
    expect(results).toMatchObject([
      { ok: true, targetId: expect.stringMatching(/^Invoice\/AR\d{6}$/) },
      {
        ok: false,
        error: {
          code: 'TARGET_REFUSED',
          retryable: false,
          message: expect.stringMatching(/financial period is closed/),
        },
      },
      { ok: true },
    ]);
    const id = targetIdOf(results[0]);
    const held = (await target.documents!(ctx, [id])).get(id);
    expect(held).toMatchObject({
      kind: 'invoice',
      externalReference: 'D-1',
      customerTargetId: c,
      gross: 12100n,
      lines: 1,
    });
    expect(sim.books.documents.get(id)?.status).toBe('Open');
  });

  it('applies a payment to its invoice and releases it; the invoice owes the rest', async () => {
    const target = make();
    const c = await customer(target, 'D2');
    const [inv] = await target.createInvoices(ctx, [invoice('D2-1', c)]);
    const invId = targetIdOf(inv);
    const [pay] = await target.createPayments!(ctx, [payment('D2-P', c, invId, '21.00')]);
    expect(pay).toMatchObject({ ok: true, targetId: expect.stringMatching(/^Payment\/\d{6}$/) });
    expect(sim.books.documents.get(invId)?.balance).toBe(10000n);
    expect(await target.findByReference(ctx, 'payment', 'D2-P', c)).toMatchObject({
      targetId: targetIdOf(pay),
    });
  });

  it('applies an overpayment up to what the invoice owes and leaves the rest on the payment', async () => {
    const target = make();
    const c = await customer(target, 'V1');
    const [inv] = await target.createInvoices(ctx, [invoice('V1-1', c)]);
    const invId = targetIdOf(inv);
    const [pay] = await target.createPayments!(ctx, [payment('V1-P', c, invId, '130.00')]);
    const payId = targetIdOf(pay);
    expect(sim.books.documents.get(invId)).toMatchObject({ balance: 0n, status: 'Closed' });
    expect(sim.books.payments.get(payId)).toMatchObject({ amount: 13000n, available: 900n, status: 'Open' });
  });

  it('says which invoices are paid, naming the payment that settled each last', async () => {
    const target = make();
    const c = await customer(target, 'W1');
    const ids = (await target.createInvoices(ctx, [invoice('W1-1', c), invoice('W1-2', c)])).map((r) => targetIdOf(r));
    await target.createPayments!(ctx, [payment('W1-P1', c, ids[0]!, '100.00'), payment('W1-P2', c, ids[0]!, '21.00')]);
    await target.createPayments!(ctx, [payment('W1-P3', c, ids[1]!, '21.00')]);
    expect(await target.paidInvoices!(ctx, ids)).toEqual(new Map([[ids[0]!, 'W1-P2']]));
  });

  it('refunds a payment’s unapplied balance with a Refund applied to it, and refuses one with nothing left', async () => {
    const target = make();
    const c = await customer(target, 'F1');
    const [inv] = await target.createInvoices(ctx, [invoice('F1-1', c)]);
    const [open, applied] = await target.createPayments!(ctx, [
      payment('F1-P1', c, null, '30.00'),
      payment('F1-P2', c, targetIdOf(inv), '121.00'),
    ]);
    const refund = (ref: string, paymentTargetId: string) => directRefund(ref, c, paymentTargetId, '30.00');
    const results = await target.createRefunds!(ctx, [
      refund('F1-R1', targetIdOf(open)),
      refund('F1-R2', targetIdOf(applied)),
    ]);
    expect(results).toMatchObject([
      { ok: true, targetId: expect.stringMatching(/^Refund\//) },
      {
        ok: false,
        error: { code: 'TARGET_REFUSED', message: expect.stringMatching(/refund: answered 422: .*closed/) },
      },
    ]);
    const id = targetIdOf(results[0]);
    expect(sim.books.payments.get(targetIdOf(open))).toMatchObject({
      available: 0n,
      status: 'Closed',
    });
    expect(await target.findByReference(ctx, 'refund', 'F1-R1', c)).toMatchObject({ targetId: id });
    expect((await target.documents!(ctx, [id])).get(id)).toMatchObject({ kind: 'refund', gross: 3000n });
  });

  it('turns a lost answer into a retryable error, and finds (and releases) what was saved', async () => {
    const target = make();
    const c = await customer(target, 'D3');
    sim.dropNext(1, (method, path) => method === 'PUT' && path.endsWith('/Invoice'));
    const err = await target.createInvoices(ctx, [invoice('D3-1', c)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as ConnectorError).retryable).toBe(true);
    const found = await target.findByReference(ctx, 'invoice', 'D3-1', c);
    expect(found).toMatchObject({ targetId: expect.stringMatching(/^Invoice\//), customerTargetId: c });
    expect(sim.books.documents.get(found!.targetId)?.status).toBe('Open');
    expect(await target.findByReference(ctx, 'invoice', 'd3-1', c)).toBeNull();
    expect(await target.findByReference(ctx, 'creditNote', 'D3-1', c)).toBeNull();
  });

  it('finds, after a lost answer, the given customer’s document under a reference another customer holds too', async () => {
    const target = make();
    const c = await customer(target, 'S1');
    const d = await customer(target, 'S2');
    const note = (customerTargetId: string, net: string): TargetCreditNote => ({
      sourceId: `SN-${customerTargetId}`,
      idempotencyKey: `key-SN-${customerTargetId}`,
      customerTargetId,
      productTargetIds: {},
      invoiceTargetId: null,
      record: {
        kind: 'creditNote',
        sourceId: `SN-${customerTargetId}`,
        externalReference: 'S-N',
        customerSourceId: customerTargetId,
        date: '2026-11-04',
        currency: 'EUR',
        description: 'Returned',
        lines: [{ description: 'Returned', netAmount: net, vatRate: '0.21' }],
      },
    });
    const mine = targetIdOf((await target.createInvoices(ctx, [invoice('S-I', c)]))[0]);
    const myNote = targetIdOf((await target.createCreditNotes!(ctx, [note(c, '20.00')]))[0]);
    // The other customer's, under the same references, committed with their answers lost.
    sim.dropNext(1, (method, path) => method === 'PUT' && path.endsWith('/Invoice'));
    await expect(target.createInvoices(ctx, [invoice('S-I', d, '50.00')])).rejects.toMatchObject({ retryable: true });
    sim.dropNext(1, (method, path) => method === 'PUT' && path.endsWith('/Invoice'));
    await expect(target.createCreditNotes!(ctx, [note(d, '10.00')])).rejects.toMatchObject({ retryable: true });
    const theirs = await target.findByReference(ctx, 'invoice', 'S-I', d);
    expect(theirs).toMatchObject({ customerTargetId: d });
    expect(theirs?.targetId).not.toBe(mine);
    expect(sim.books.documents.get(theirs!.targetId)).toMatchObject({ customer: d, amount: 6050n });
    const theirNote = await target.findByReference(ctx, 'creditNote', 'S-N', d);
    expect(theirNote).toMatchObject({ customerTargetId: d });
    expect(sim.books.documents.get(theirNote!.targetId)).toMatchObject({ customer: d, amount: 1210n });
    expect(await target.findByReference(ctx, 'invoice', 'S-I', c)).toMatchObject({ targetId: mine });
    expect(await target.findByReference(ctx, 'creditNote', 'S-N', c)).toMatchObject({ targetId: myNote });
    expect(sim.books.duplicates()).toEqual([]);
  });

  it('treats a lost release answer the same way: found released, not released twice', async () => {
    const target = make();
    const c = await customer(target, 'D4');
    sim.dropNext(1, (method, path) => method === 'POST' && path.endsWith('/ReleaseInvoice'));
    await expect(target.createInvoices(ctx, [invoice('D4-1', c)])).rejects.toMatchObject({ retryable: true });
    const found = await target.findByReference(ctx, 'invoice', 'D4-1', c);
    expect(sim.books.documents.get(found!.targetId)?.status).toBe('Open');
  });

  it.each([
    [429, 'limit'],
    [500, 'error'],
    [503, 'unavailable'],
  ])('answers %i as retryable', async (status) => {
    const target = make();
    const c = await customer(target, `R${status}`);
    sim.failNext(status, { retryAfter: 1 });
    const err = (await target
      .createInvoices(ctx, [invoice(`R-${status}`, c)])
      .catch((e: unknown) => e)) as ConnectorError;
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err.retryable).toBe(true);
    expect(err.message).not.toContain(PASSWORD);
    expect(await target.findByReference(ctx, 'invoice', `R-${status}`, c)).toBeNull();
  });

  it('does not retry an answer it cannot understand', async () => {
    const target = make();
    const c = await customer(target, 'M1');
    sim.garbleNext();
    await expect(target.createInvoices(ctx, [invoice('M-1', c)])).rejects.toMatchObject({ retryable: false });
  });

  it('refuses a reference longer than Acumatica keeps before sending anything', async () => {
    const target = make();
    const requests = sim.stats.requests;
    const [r] = await target.createInvoices(ctx, [invoice('X'.repeat(41), 'D1')]);
    expect(r).toMatchObject({ ok: false, error: { field: 'externalReference' } });
    expect(sim.stats.requests - requests).toBe(0); // not even signed in
  });
});

describe.skipIf(!validate)('the contract', () => {
  it('catches a request that leaves it', () => {
    expect(validate!({ method: 'PUT', path: '/Customer', body: { CustomerID: 'C1' }, query: {} })).not.toEqual([]);
    expect(validate!({ method: 'PUT', path: '/Customer', body: { CustomerID: { value: 'C1' } }, query: {} })).toEqual(
      [],
    );
    expect(validate!({ method: 'GET', path: '/Invoice', body: undefined, query: { $where: 'x' } })).not.toEqual([]);
  });
});
