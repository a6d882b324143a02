import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import { type SimulatedGrant, callContext, simulatedGrant, targetIdOf } from './helpers/direct-target.ts';
import { directZohoBooksTarget, zohoAccounts } from './helpers/zohobooks.ts';
import type { Database } from '../src/db/database.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TargetConnector, TargetRefund } from '../src/sync/target.ts';
import { type ZohoBooksSimulator, startZohoBooksSimulator } from '../src/connectors/zohobooks/simulator.ts';
import { UNDEPOSITED_FUNDS } from '../src/connectors/zohobooks/simulator-values.ts';

/*
 * Refunds in the Zoho Books target against its simulator: a refund of a payment's unused amount
 * booked under our reference, the payment's unused amount down by exactly it; one larger than
 * that, the rest unapplied from the payment's invoices first; one larger than the payment still
 * holds, or naming no payment, refused before anything is written; Zoho's own refusal passed on
 * in its words; a lost answer found again by reference, exactly.
 */

const CLIENT = { clientId: '1000.REFUNDTESTCLIENT', clientSecret: 'zoho-refund-secret-0123456789' };
const ORG = '70000000002';
let db: Database;
let sim: ZohoBooksSimulator;
let grant: SimulatedGrant;
const ctx = () => callContext(db);

function make(extra: Record<string, unknown> = {}): TargetConnector {
  return directZohoBooksTarget(db, sim, { app: CLIENT, organizationId: ORG, grant, settings: extra });
}

let target: TargetConnector;
let customerId: string;
let invoiceId: string;
let paymentId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startZohoBooksSimulator({
    ...CLIENT,
    organisations: { [ORG]: { name: 'Zoho Refund BV', currency: 'EUR' } },
    seed: 7,
    limits: { perMinute: 10_000, perDay: 100_000 },
  });
  grant = simulatedGrant(() => zohoAccounts(sim, CLIENT), sim.issueRefreshToken());
  target = make();
  const [c] = await target.upsertCustomers(ctx(), [
    {
      sourceId: 'RC',
      code: 'RC',
      targetId: null,
      record: { kind: 'customer', sourceId: 'RC', name: 'Refund customer' },
    },
  ]);
  customerId = targetIdOf(c);
  const [inv] = await target.createInvoices(ctx(), [
    {
      sourceId: 'RI-1',
      idempotencyKey: 'k-RI-1',
      customerTargetId: customerId,
      productTargetIds: {},
      record: {
        kind: 'invoice',
        sourceId: 'RI-1',
        externalReference: 'RI-1',
        customerSourceId: 'RC',
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21' }],
      },
    },
  ]);
  // 150.00 paid against an invoice of 121.00: 29.00 unused.
  const [pay] = await target.createPayments!(ctx(), [
    {
      sourceId: 'RP-1',
      idempotencyKey: 'k-RP-1',
      customerTargetId: customerId,
      invoiceTargetId: targetIdOf(inv),
      bankAccountCode: 'BANK',
      record: {
        kind: 'payment',
        sourceId: 'RP-1',
        externalReference: 'RP-1',
        customerSourceId: 'RC',
        date: '2026-11-05',
        amount: '150.00',
        currency: 'EUR',
        invoiceExternalReference: 'RI-1',
        description: '',
      },
    },
  ]);
  paymentId = targetIdOf(pay);
  invoiceId = targetIdOf(inv);
}, 60_000);
afterAll(async () => {
  await sim.close();
  await db.close();
});

const refund = (
  ref: string,
  amount: string,
  payment: string | null = paymentId,
  date = '2026-11-09',
): TargetRefund => ({
  sourceId: ref,
  idempotencyKey: `k-${ref}`,
  customerTargetId: customerId,
  paymentTargetId: payment,
  bankAccountCode: 'BANK',
  record: {
    kind: 'refund',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'RC',
    date,
    amount,
    currency: 'EUR',
    paymentExternalReference: payment ? 'RP-1' : null,
    description: 'Overpaid',
  },
});

const org = () => sim.org(ORG);
const unused = () => {
  const p = org().payments.get(paymentId)!;
  return p.amount - p.invoices.reduce((s, i) => s + i.amount_applied, 0n) - p.refunded;
};
const applied = () =>
  org()
    .payments.get(paymentId)!
    .invoices.map((i) => [i.invoice_id, i.amount_applied]);

describe('Zoho Books refunds', () => {
  it('refunds a payment’s unused amount under our reference; more than the payment holds, or no payment, is refused and nothing written', async () => {
    expect(target.capabilities.refunds).toBe(true);
    expect(unused()).toBe(2900n);
    const [booked, tooMuch, none] = await target.createRefunds!(ctx(), [
      refund('RF-1', '20.00'),
      // 9.00 unused and 121.00 applied to the invoice: 130.00 in all.
      refund('RF-2', '130.01'),
      refund('RF-3', '1.00', null),
    ]);
    const held = org().refunds.filter((r) => r.reference_number === 'RF-1');
    expect(held.map((r) => [r.payment_id, r.amount, r.date, r.from_account_id, r.refund_mode])).toEqual([
      [paymentId, 2000n, '2026-11-09', UNDEPOSITED_FUNDS, 'banktransfer'],
    ]);
    expect(booked).toEqual({
      ok: true,
      targetId: `${held[0]!.payment_id}:${held[0]!.payment_refund_id}`,
      number: 'RF-1',
      outcome: 'created',
    });
    expect(unused()).toBe(900n);
    expect(tooMuch).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', retryable: false, field: 'amount' } });
    expect(!tooMuch!.ok && tooMuch!.error.message).toMatch(
      /payment RP-1 has 130\.00 EUR left to refund in Zoho Books \(9\.00 EUR unused, 121\.00 EUR applied to invoices\), less than the 130\.01/,
    );
    expect(none).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', field: 'paymentExternalReference' } });
    expect(org().refunds.map((r) => r.reference_number)).toEqual(['RF-1']);
    expect(applied()).toEqual([[invoiceId, 12100n]]);
  });

  it('passes Zoho’s own refusal on in its words; pays from accounts.bank when set', async () => {
    org().lockedUntil = '2026-11-30';
    const [locked] = await target.createRefunds!(ctx(), [refund('RF-4', '1.00')]);
    expect(locked).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', retryable: false } });
    expect(!locked!.ok && locked!.error.message).toMatch(
      /refused refund RF-4 of payment RP-1 \(400 code 14006: You cannot create/,
    );
    org().lockedUntil = null;
    const [fromBank] = await make({ accounts: { bank: '460000000000777' } }).createRefunds!(ctx(), [
      refund('RF-5', '1.00'),
    ]);
    expect(fromBank!.ok).toBe(true);
    expect(org().refunds.find((r) => r.reference_number === 'RF-5')?.from_account_id).toBe('460000000000777');
    expect(unused()).toBe(800n);
  });

  it('a lost answer is retryable; findByReference finds the refund by its reference exactly, for its customer only', async () => {
    sim.dropNext(1, (r) => r.route.endsWith('/refunds'));
    const err = await target.createRefunds!(ctx(), [refund('RF-6', '3.00')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as ConnectorError).retryable).toBe(true);
    expect(unused()).toBe(500n);
    const held = org().refunds.find((r) => r.reference_number === 'RF-6')!;
    expect(await target.findByReference(ctx(), 'refund', 'RF-6', customerId)).toEqual({
      targetId: `${held.payment_id}:${held.payment_refund_id}`,
      number: 'RF-6',
      customerTargetId: customerId,
    });
    expect(await target.findByReference(ctx(), 'refund', 'RF-', customerId)).toBeNull();
    expect(await target.findByReference(ctx(), 'refund', 'RF-2', customerId)).toBeNull();
    expect(await target.findByReference(ctx(), 'refund', 'RF-6', '1')).toBeNull();
    expect(sim.duplicates(ORG)).toEqual([]);
    expect(sim.violations).toEqual([]);
  });

  it('takes what the payment lacks unused back from its invoice first (Zoho’s Clear Applied Amount), once through a lost answer; put back when the refund is refused', async () => {
    expect(unused()).toBe(500n);
    const balance = () => org().invoices.get(invoiceId)!.balance;
    expect(balance()).toBe(0n);
    // 15.00 refunded of a payment with 5.00 unused: 10.00 unapplied first. The answer to that
    // update is lost: the attempt puts the payment back as it was, and the next unapplies it once.
    sim.dropNext(1, (r) => r.method === 'PUT' && r.route.startsWith('/customerpayments/'));
    const err = await target.createRefunds!(ctx(), [refund('RF-7', '15.00')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as ConnectorError).retryable).toBe(true);
    expect(await target.findByReference(ctx(), 'refund', 'RF-7', customerId)).toBeNull();
    const [booked] = await target.createRefunds!(ctx(), [refund('RF-7', '15.00')]);
    const held = org().refunds.filter((r) => r.reference_number === 'RF-7');
    expect(held.map((r) => [r.payment_id, r.amount])).toEqual([[paymentId, 1500n]]);
    expect(booked).toMatchObject({
      ok: true,
      targetId: `${held[0]!.payment_id}:${held[0]!.payment_refund_id}`,
      outcome: 'created',
    });
    expect(applied()).toEqual([[invoiceId, 11100n]]);
    expect([unused(), balance()]).toEqual([0n, 1000n]);

    // Refused by Zoho after the payment was unapplied for it: the invoice gets its money back.
    org().lockedUntil = '2026-11-30';
    const [locked] = await target.createRefunds!(ctx(), [refund('RF-8', '5.00')]);
    org().lockedUntil = null;
    expect(locked).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', retryable: false } });
    expect(!locked!.ok && locked!.error.message).toMatch(
      /refused refund RF-8 of payment RP-1 \(400 code 14006: [^)]*\)$/,
    );
    expect(applied()).toEqual([[invoiceId, 11100n]]);
    expect([unused(), balance()]).toEqual([0n, 1000n]);
    expect(org().refunds.map((r) => r.reference_number)).not.toContain('RF-8');
    expect(sim.duplicates(ORG)).toEqual([]);
    expect(sim.violations).toEqual([]);
  });

  it('a refund Zoho does not answer after the payment was unapplied for it: found if booked, else the invoice given its money back; not given back, parked naming the invoice', async () => {
    const balance = () => org().invoices.get(invoiceId)!.balance;
    expect([unused(), balance(), applied()]).toEqual([0n, 1000n, [[invoiceId, 11100n]]]);
    const refundPost = (r: { method: string; route: string }) => r.method === 'POST' && r.route.endsWith('/refunds');

    // Zoho down for refunds: every attempt fails, and none leaves the invoice owing what nobody refunded.
    const up = sim.failWhile(refundPost);
    for (let attempt = 0; attempt < 2; attempt++) {
      const err = await target.createRefunds!(ctx(), [refund('RF-9', '5.00')]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as ConnectorError).retryable).toBe(true);
      expect((err as ConnectorError).message).not.toMatch(/owes the money again/);
      expect([unused(), balance(), applied()]).toEqual([0n, 1000n, [[invoiceId, 11100n]]]);
    }
    up();
    expect(org().refunds.map((r) => r.reference_number)).not.toContain('RF-9');

    // Booked, its answer lost: found by its reference among the payment's refunds, and done.
    sim.dropNext(1, refundPost);
    const [found] = await target.createRefunds!(ctx(), [refund('RF-10', '5.00')]);
    const held = org().refunds.filter((r) => r.reference_number === 'RF-10');
    expect(held.map((r) => r.amount)).toEqual([500n]);
    expect(found).toMatchObject({
      ok: true,
      targetId: `${held[0]!.payment_id}:${held[0]!.payment_refund_id}`,
      outcome: 'created',
    });
    expect(found!.ok && found!.message).toMatch(/5\.00 EUR of payment RP-1 unapplied first from invoice /);
    expect([unused(), balance(), applied()]).toEqual([0n, 1500n, [[invoiceId, 10600n]]]);

    // Not booked and the payment cannot be applied again either: parked, saying which invoice owes it.
    let puts = 0;
    const downToo = [
      sim.failWhile(refundPost),
      sim.failWhile((r) => r.method === 'PUT' && r.route.startsWith('/customerpayments/') && ++puts > 1),
    ];
    const [stuck] = await target.createRefunds!(ctx(), [refund('RF-11', '6.00')]);
    for (const lift of downToo) lift();
    expect(stuck).toMatchObject({ ok: false, error: { code: 'TARGET_UNAVAILABLE', retryable: false } });
    expect(!stuck!.ok && stuck!.error.message).toMatch(
      /^Refund RF-11 was not booked and 6\.00 EUR of payment RP-1 unapplied first from invoice \S+ for it stays unapplied, which the invoice owes again: retry the refund once Zoho Books answers/,
    );
    expect([unused(), balance()]).toEqual([600n, 2100n]);
    // The retry books it from the money left unused, unapplying nothing more.
    const [retried] = await target.createRefunds!(ctx(), [refund('RF-11', '6.00')]);
    expect(retried).toMatchObject({ ok: true, outcome: 'created' });
    expect(retried!.ok && retried!.message).toBeUndefined();
    expect([unused(), balance(), applied()]).toEqual([0n, 2100n, [[invoiceId, 10000n]]]);
    expect(
      org()
        .refunds.filter((r) => r.reference_number === 'RF-11')
        .map((r) => r.amount),
    ).toEqual([600n]);
    expect(sim.duplicates(ORG)).toEqual([]);
    expect(sim.violations).toEqual([]);
  });
});
