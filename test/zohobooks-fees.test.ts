import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import {
  type SimulatedGrant,
  callContext,
  directCustomer as customer,
  directInvoice as invoice,
  directPayment as payment,
  directRefund as refund,
  simulatedGrant,
  targetIdOf,
  thrown,
} from './helpers/direct-target.ts';
import { directZohoBooksTarget, zohoAccounts } from './helpers/zohobooks.ts';
import type { Database } from '../src/db/database.ts';
import type { TargetConnector } from '../src/sync/target.ts';
import { type ZohoBooksSimulator, startZohoBooksSimulator } from '../src/connectors/zohobooks/simulator.ts';

/*
 * A payment provider's fee in Zoho Books (src/connectors/zohobooks/fees.ts): the payment's own
 * bank charges, the payment keeping its gross amount; written once with the payment, found with
 * it after a lost answer, kept when the payment is updated later, refused when it is not a fee,
 * and read back for reconciliation.
 */

const CLIENT = { clientId: '1000.FEESTESTCLIENT', clientSecret: 'zoho-fees-secret-0123456789' };
const ORG = '70000000002';
let db: Database;
let sim: ZohoBooksSimulator;
let target: TargetConnector;
let grant: SimulatedGrant;
let ann: string;
let bob: string;
const ctx = () => callContext(db);
const org = () => sim.org(ORG);
const paymentsUnder = (ref: string) => [...org().payments.values()].filter((p) => p.reference_number === ref);
/** The bodies of the payment writes sent under a reference. */
const sentUnder = (ref: string) =>
  sim.requests
    .filter((r) => r.route.startsWith('/customerpayments') && r.method !== 'GET' && r.body.includes(`"${ref}"`))
    .map((r) => r.body);

async function bookedInvoice(ref: string, customerId: string): Promise<string> {
  return targetIdOf((await target.createInvoices(ctx(), [invoice(ref, customerId)]))[0]);
}

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startZohoBooksSimulator({
    ...CLIENT,
    organisations: { [ORG]: { name: 'Zoho Fees BV', currency: 'EUR' } },
    seed: 7,
    limits: { perMinute: 10_000, perDay: 100_000 },
  });
  grant = simulatedGrant(() => zohoAccounts(sim, CLIENT), sim.issueRefreshToken());
  target = directZohoBooksTarget(db, sim, { app: CLIENT, organizationId: ORG, grant, settings: {} });
  [ann, bob] = (await target.upsertCustomers(ctx(), [customer('F1', 'Ann Fee'), customer('F2', 'Bob Fee')])).map(
    targetIdOf,
  ) as [string, string];
}, 60_000);
afterAll(async () => {
  await sim.close();
  await db.close();
});

describe('Zoho Books: a payment provider’s fee', () => {
  it('declares fees', () => {
    expect(target.capabilities.fees).toBe(true);
  });

  it('is the payment’s bank charges; the payment keeps its gross amount and pays the invoice in full', async () => {
    const inv = await bookedInvoice('FI-1', ann);
    const [r] = await target.createPayments!(ctx(), [payment('FP-1', ann, inv, '121.00', { fee: '2.50' })]);
    expect(r).toMatchObject({ ok: true, outcome: 'created', message: 'with bank charges EUR 2.50' });
    const [p] = paymentsUnder('FP-1');
    expect(p).toMatchObject({ amount: 12100n, bank_charges: 250n });
    expect(p!.invoices).toEqual([{ invoice_id: inv, amount_applied: 12100n }]);
    expect(org().invoices.get(inv)!.balance).toBe(0n);
    // An exact JSON number, never a float or a string.
    expect(sentUnder('FP-1')).toEqual([expect.stringContaining('"bank_charges":2.50')]);
  });

  it('a zero or absent fee books no bank charges and sends none', async () => {
    const inv = await bookedInvoice('FI-2', ann);
    const results = await target.createPayments!(ctx(), [
      payment('FP-2', ann, inv, '50.00', { fee: '0.00' }),
      payment('FP-3', ann, inv, '20.00', { fee: null }),
      payment('FP-4', ann, inv, '10.00'),
    ]);
    expect(results.map((x) => x.ok && x.message)).toEqual([undefined, undefined, undefined]);
    for (const ref of ['FP-2', 'FP-3', 'FP-4']) {
      expect(paymentsUnder(ref).map((p) => p.bank_charges)).toEqual([0n]);
      expect(sentUnder(ref).join()).not.toContain('bank_charges');
    }
  });

  it('a lost answer books it once: the lookup finds the payment, and the fee is in it', async () => {
    const inv = await bookedInvoice('FI-3', ann);
    sim.dropNext(1, (r) => r.method === 'POST' && r.route === '/customerpayments');
    const err = await thrown(target.createPayments!(ctx(), [payment('FP-5', ann, inv, '121.00', { fee: '1.20' })]));
    expect(err.retryable).toBe(true);
    const found = await target.findByReference(ctx(), 'payment', 'FP-5', ann);
    expect(found).toMatchObject({ targetId: paymentsUnder('FP-5')[0]!.payment_id });
    expect(paymentsUnder('FP-5').map((p) => p.bank_charges)).toEqual([120n]);
    expect(sim.duplicates(ORG)).toEqual([]);
  });

  it('two customers’ payments under one reference each carry their own fee, and read back so', async () => {
    const [i1, i2] = [await bookedInvoice('FI-4', ann), await bookedInvoice('FI-5', bob)];
    const results = await target.createPayments!(ctx(), [
      payment('FP-6', ann, i1, '121.00', { fee: '2.50' }),
      { ...payment('FP-6', bob, i2, '121.00', { fee: '1.20' }), sourceId: 'FP-6b', idempotencyKey: 'key-FP-6b' },
    ]);
    const [ours, theirs] = results.map(targetIdOf) as [string, string];
    expect(
      paymentsUnder('FP-6')
        .map((p) => [p.customer_id, p.bank_charges])
        .sort(),
    ).toEqual([
      [ann, 250n],
      [bob, 120n],
    ]);
    const docs = await target.documents!(ctx(), [ours, theirs], { fees: true });
    expect(docs.get(ours)!.fee).toEqual({
      targetId: ours,
      label: `the bank charges of payment ${org().payments.get(ours)!.payment_number}`,
      currency: 'EUR',
      amount: 250n,
    });
    expect(docs.get(theirs)!.fee).toMatchObject({ targetId: theirs, amount: 120n });
  });

  it('reads no fee as null when asked for fees, and none at all when not asked', async () => {
    const [none] = paymentsUnder('FP-4');
    const [withFee] = paymentsUnder('FP-1');
    const asked = await target.documents!(ctx(), [none!.payment_id], { fees: true });
    expect(asked.get(none!.payment_id)!.fee).toBeNull();
    const plain = await target.documents!(ctx(), [withFee!.payment_id]);
    expect(plain.get(withFee!.payment_id)).not.toHaveProperty('fee');
  });

  it('is kept when the payment is applied to an invoice later (the update sends the charges back as read)', async () => {
    const [onAccount] = await target.createPayments!(ctx(), [payment('FP-7', ann, null, '121.00', { fee: '3.00' })]);
    const payId = targetIdOf(onAccount);
    const inv = await bookedInvoice('FI-6', ann);
    const [applied] = await target.createAllocations!(ctx(), [
      {
        sourceId: 'FA-1',
        idempotencyKey: 'key-FA-1',
        customerTargetId: ann,
        invoiceTargetId: inv,
        fromTargetId: payId,
        record: {
          kind: 'allocation',
          sourceId: 'FA-1',
          customerSourceId: 'c',
          date: '2026-11-06',
          currency: 'EUR',
          amount: '121.00',
          invoiceExternalReference: 'FI-6',
          from: 'payment',
          fromExternalReference: 'FP-7',
        },
      },
    ]);
    expect(applied).toMatchObject({ ok: true });
    expect(org().invoices.get(inv)!.balance).toBe(0n);
    expect(org().payments.get(payId)).toMatchObject({ amount: 12100n, bank_charges: 300n });
  });

  it('a fee below zero, above the payment or not an amount in its currency is refused naming the fee; nothing is written', async () => {
    const inv = await bookedInvoice('FI-7', ann);
    const results = await target.createPayments!(ctx(), [
      payment('FP-8', ann, inv, '10.00', { fee: '-0.50' }),
      payment('FP-9', ann, inv, '10.00', { fee: '10.01' }),
      payment('FP-10', ann, inv, '10.00', { fee: '0.505' }),
      payment('FP-11', ann, inv, '10.00', { fee: '10.00' }),
    ]);
    expect(results.slice(0, 3)).toEqual(
      [/below zero/, /more than the payment \(10\.00\)/, /not an amount in EUR/].map((message) => ({
        ok: false,
        error: expect.objectContaining({
          code: 'AMOUNT_INVALID',
          field: 'fee',
          retryable: false,
          message: expect.stringMatching(message),
        }),
      })),
    );
    // All of it kept by the provider is still a fee: nothing reaches the bank.
    expect(results[3]).toMatchObject({ ok: true });
    for (const ref of ['FP-8', 'FP-9', 'FP-10']) expect(paymentsUnder(ref)).toEqual([]);
  });

  it('reconciliation reads what Zoho holds now: a voided invoice voided, a deleted one left out, fees, a refund by its payment', async () => {
    expect(target.capabilities.reconciliation).toBe(true);
    const [kept, voided, deleted] = [
      await bookedInvoice('RI-1', ann),
      await bookedInvoice('RI-2', ann),
      await bookedInvoice('RI-3', ann),
    ];
    const paid = targetIdOf(
      (await target.createPayments!(ctx(), [payment('RP-1', ann, kept, '121.00', { fee: '2.50' })]))[0],
    );
    const plain = targetIdOf((await target.createPayments!(ctx(), [payment('RP-2', ann, null, '30.00')]))[0]);
    const back = targetIdOf((await target.createRefunds!(ctx(), [refund('RR-1', ann, plain, '10.00')]))[0]);
    // A person voids RI-2 and deletes RI-3 in Zoho Books.
    org().voidInvoice(voided);
    org().invoices.delete(deleted);
    const docs = await target.documents!(ctx(), [kept, voided, deleted, paid, plain, back], { fees: true });
    expect(docs.get(kept)).toMatchObject({ kind: 'invoice', externalReference: 'RI-1', gross: 12100n, lines: 1 });
    expect(docs.get(kept)).not.toHaveProperty('voided');
    expect(docs.get(voided)).toMatchObject({ kind: 'invoice', externalReference: 'RI-2', voided: true });
    expect(docs.has(deleted)).toBe(false);
    expect(docs.get(paid)).toMatchObject({ kind: 'payment', gross: 12100n, fee: { amount: 250n } });
    expect(docs.get(plain)).toMatchObject({ kind: 'payment', gross: 3000n, fee: null });
    expect(docs.get(back)).toMatchObject({
      kind: 'refund',
      externalReference: 'RR-1',
      customerTargetId: ann,
      date: '2026-11-06',
      gross: 1000n,
    });
  });

  it('says what to do about a fee reconciliation finds wrong', () => {
    const fee = { targetId: '1', label: 'the bank charges of payment 7', currency: 'EUR', amount: 250n };
    const at = (d: 'missing' | 'amount' | 'extra', f: typeof fee | null) =>
      target.feeRemedy!(d, { targetId: '1', reference: 'FP-1', currency: 'EUR', fee: f });
    expect(at('missing', null)).toMatch(/edit payment FP-1 in Zoho Books and enter .* under Bank Charges/);
    expect(at('amount', fee)).toBe(
      'if the source is right, correct the bank charges of payment 7 in Zoho Books; if Zoho Books is, correct the fee in the source',
    );
    expect(at('extra', fee)).toMatch(/^if the source is right, clear the bank charges of payment 7 in Zoho Books/);
  });

  it('sent every request within the contract, and the simulator refuses bank charges above the amount', async () => {
    expect(sim.violations).toEqual([]);
    expect(sim.duplicates(ORG)).toEqual([]);
    expect(() =>
      org().createPayment({ customer_id: ann, amount: '5.00', bank_charges: '5.01', date: '2026-11-05' }),
    ).toThrow(/bank_charges/);
  });
});
