import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { type AcumaticaSimulator, startAcumaticaSimulator } from '../src/connectors/acumatica/simulator.ts';
import { createAcumaticaTarget } from '../src/connectors/acumatica/target.ts';
import type { TargetCallContext, TargetConnector } from '../src/sync/target.ts';
import { createTestDatabase } from './helpers/db.ts';
import { specValidator } from './helpers/openapi-requests.ts';
import {
  callContext,
  directCustomer,
  directInvoice as invoice,
  directPayment as payment,
  directTargetDeps,
  targetIdOf,
} from './helpers/direct-target.ts';

/*
 * A payment provider's fee in Acumatica: a charge of the payment itself (Payment.Charges) on the
 * fees entry type, saved, released and found with the payment: once, its account checked, the
 * entry type required, nothing beside a payment without a fee; every request checked against the
 * official Default/24.200.001 contract.
 */

const validate = specValidator('test/acumatica-fees.test.ts', 'acumatica/Default_24.200.001.openapi.json');
const PASSWORD = 'acu-pass-SECRET-0123456789';
let db: Database;
let sim: AcumaticaSimulator;
let ctx: TargetCallContext;

function make(settings: Record<string, unknown> = {}): TargetConnector {
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
        feeEntryType: 'BANKFEE',
        actionPollMs: 10,
        limits: { callsPerMinute: 100_000, concurrent: 4 },
        ...settings,
      },
      'acu-fees',
    ),
    { client: { backoffBaseMs: 1, backoffMaxMs: 5, maxAttempts: 1 }, sleep: () => Promise.resolve() },
  );
}

let target: TargetConnector;
async function invoiceFor(c: string, ref: string): Promise<string> {
  const [r] = await target.createInvoices(ctx, [invoice(ref, c)]);
  return targetIdOf(r);
}
const paymentOf = (id: string) => sim.books.payments.get(id)!;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startAcumaticaSimulator({
    users: [{ name: 'api', password: PASSWORD }],
    tenant: 'Company',
    currency: 'EUR',
    taxCategories: { STANDARD: '0.21' },
    cashAccounts: ['10200'],
    validate,
  });
  ctx = callContext(db);
  target = make();
  for (const code of ['F1', 'F2']) await target.upsertCustomers(ctx, [directCustomer(code, `Customer ${code}`)]);
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

describe('provider fees in Acumatica', () => {
  it('charges the fee on the payment: the entry type’s account, the amount; the payment gross on its invoice', async () => {
    const inv = await invoiceFor('F1', 'FI-1');
    const [r] = await target.createPayments!(ctx, [payment('FP-1', 'F1', inv, '121.00', { fee: '2.50' })]);
    expect(r).toMatchObject({
      ok: true,
      message: expect.stringMatching(/fee EUR 2\.50 charged on the payment \(entry type BANKFEE\)/),
    });
    const p = paymentOf(targetIdOf(r));
    expect(p.charges).toEqual([
      { lineNbr: 1, entryType: 'BANKFEE', account: '61200', amount: 250n, description: 'Payment provider fee' },
    ]);
    expect(p.amount).toBe(12100n);
    expect(sim.books.deposited(p)).toBe(11850n);
    expect(p.status).toBe('Closed');
    expect(sim.books.documents.get(inv)!.balance).toBe(0n);
    // Read back for reconciliation: the payment's charges are its fee.
    const docs = await target.documents!(ctx, [targetIdOf(r)], { fees: true });
    expect(docs.get(targetIdOf(r))?.fee).toMatchObject({ targetId: targetIdOf(r), currency: 'EUR', amount: 250n });
    expect((await target.documents!(ctx, [targetIdOf(r)])).get(targetIdOf(r))?.fee).toBeUndefined();
  });

  it('reads documents back for reconciliation in batches: a voided invoice as voided, a payment’s charges as its fee or none', async () => {
    const invs: string[] = [];
    for (let n = 1; n <= 41; n++) invs.push(await invoiceFor('F2', `FR-${n}`));
    const [withFee, without] = await target.createPayments!(ctx, [
      payment('FR-P1', 'F2', invs[0]!, '121.00', { fee: '2.50' }),
      payment('FR-P2', 'F2', invs[1]!, '21.00'),
    ]);
    // A person voids an invoice nothing was applied to (Invoices and Memos): it stays there, Voided.
    sim.books.voidInvoice(invs[40]!);
    const before = sim.stats.requests;
    const docs = await target.documents!(ctx, [...invs, targetIdOf(withFee), targetIdOf(without), 'Invoice/AR999999'], {
      fees: true,
    });
    // Sign-in and sign-out, two batches of invoices (40, then 1), one of payments.
    expect(sim.stats.requests - before).toBe(5);
    expect(docs.get(invs[40]!)).toMatchObject({ kind: 'invoice', externalReference: 'FR-41', voided: true });
    expect(docs.get(invs[2]!)).toMatchObject({ kind: 'invoice', externalReference: 'FR-3', gross: 12100n, lines: 1 });
    expect(docs.get(invs[2]!)?.voided).toBeUndefined();
    expect(docs.get(targetIdOf(withFee))).toMatchObject({
      kind: 'payment',
      customerTargetId: 'F2',
      externalReference: 'FR-P1',
      gross: 12100n,
      fee: { targetId: targetIdOf(withFee), currency: 'EUR', amount: 250n },
    });
    expect(docs.get(targetIdOf(without))?.fee).toBeNull();
    expect(docs.has('Invoice/AR999999')).toBe(false);
  });

  it('a lost answer books no second fee: the payment is found with its charge, released, once', async () => {
    sim.dropNext(1, (method, path) => method === 'PUT' && path.endsWith('/Payment'));
    await expect(
      target.createPayments!(ctx, [payment('FP-2', 'F1', null, '50.00', { fee: '1.20' })]),
    ).rejects.toMatchObject({ retryable: true });
    const found = await target.findByReference(ctx, 'payment', 'FP-2', 'F1');
    expect(found).toMatchObject({ targetId: expect.stringMatching(/^Payment\//) });
    const held = [...sim.books.payments.values()].filter((p) => p.paymentRef === 'FP-2');
    expect(held).toHaveLength(1);
    expect(held[0]!.charges.map((c) => c.amount)).toEqual([120n]);
    expect(held[0]!.status).toBe('Open');
  });

  it('two customers’ payments under one reference each carry their own fee', async () => {
    const results = await target.createPayments!(ctx, [
      payment('FP-SHARED', 'F1', null, '10.00', { fee: '0.30' }),
      { ...payment('FP-SHARED', 'F2', null, '20.00', { fee: '0.60' }), sourceId: 'FP-SHARED-2' },
    ]);
    expect(results.map((r) => paymentOf(targetIdOf(r)))).toMatchObject([
      { customer: 'F1', charges: [{ amount: 30n }] },
      { customer: 'F2', charges: [{ amount: 60n }] },
    ]);
  });

  it('a zero or absent fee charges nothing', async () => {
    const results = await target.createPayments!(ctx, [
      payment('FP-3', 'F1', null, '10.00', { fee: '0.00' }),
      payment('FP-4', 'F1', null, '10.00'),
    ]);
    expect(results.map((r) => paymentOf(targetIdOf(r)).charges)).toEqual([[], []]);
  });

  it('names the setting when the fee cannot be charged, and sends no payment', async () => {
    const none = (ref: string) => [...sim.books.payments.values()].filter((p) => p.paymentRef === ref);
    const refused = async (settings: Record<string, unknown>, ref: string, field: string, says: RegExp) => {
      const [r] = await make(settings).createPayments!(ctx, [payment(ref, 'F1', null, '10.00', { fee: '1.00' })]);
      expect(r).toMatchObject({
        ok: false,
        error: { code: 'TARGET_SETTING_MISSING', field, message: expect.stringMatching(says) },
      });
      expect(none(ref)).toEqual([]);
    };
    await refused({ feeEntryType: undefined }, 'FX-1', 'feeEntryType', /set feeEntryType/);
    await refused({ feeAccount: '99999' }, 'FX-2', 'feeAccount', /not an account/);
    await refused({ feeAccount: '40000' }, 'FX-3', 'feeAccount', /Income account, not an expense account/);
    await refused({ feeAccount: '61900' }, 'FX-4', 'feeAccount', /inactive/);
    // An entry type Acumatica does not have: its refusal, in its own words, on the charge line.
    const [bad] = await make({ feeEntryType: 'NOSUCH' }).createPayments!(ctx, [
      payment('FX-5', 'F1', null, '10.00', { fee: '1.00' }),
    ]);
    expect(bad).toMatchObject({
      ok: false,
      error: { code: 'TARGET_REFUSED', message: expect.stringMatching(/Entry Type ID' cannot be found/) },
    });
    expect(none('FX-5')).toEqual([]);
    // Named, an active expense account is charged.
    const [r] = await make({ feeAccount: '61300' }).createPayments!(ctx, [
      payment('FX-6', 'F1', null, '10.00', { fee: '1.00' }),
    ]);
    expect(paymentOf(targetIdOf(r)).charges).toMatchObject([{ account: '61300', amount: 100n }]);
  });
});
