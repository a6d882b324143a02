import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import { testBox } from './helpers/sync.ts';
import type { Database } from '../src/db/database.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import type { ItemResult, TargetCallContext, TargetConnector, TargetRefund } from '../src/sync/target.ts';
import { type OdooSimulator, startOdooSimulator } from '../src/connectors/odoo/simulator.ts';
import { createOdooTarget } from '../src/connectors/odoo/target.ts';

/*
 * Refunds in the Odoo target against its simulator (16, 17, 18): an outbound customer payment
 * under our reference, reconciled with the payment it returns through `js_assign_outstanding_line`
 * on the refund's journal entry, for exactly the refund when the payment has that much open; for
 * what the payment has left when it has less, and not at all when it has none, each said in the
 * result. Exactly once through a lost answer to the reconciliation, to the creation, and after an
 * attempt that died between posting and reconciling: one refund, one reconciliation. A payment
 * that is not the customer's posted payment in Odoo is refused before anything is written; a
 * refund naming no payment is booked on its own.
 */

const log = pino({ level: 'silent' });
let db: Database;
const sims: OdooSimulator[] = [];
const ctx = (): TargetCallContext => ({ db, log, actor: 'test' });

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  for (const s of sims) await s.close();
  await db.close();
});

interface Odoo {
  sim: OdooSimulator;
  target: TargetConnector;
  customer: string;
}

async function odoo(version: '16' | '17' | '18'): Promise<Odoo> {
  const sim = await startOdooSimulator({ version, company: { currency: 'EUR' } });
  sims.push(sim);
  const target = createOdooTarget(
    {
      db,
      log,
      mapping: {},
      settings: {
        type: 'odoo',
        url: sim.url,
        database: sim.database,
        login: sim.login,
        apiKey: sim.issueApiKey(),
        version,
        limits: { callsPerMinute: 100_000 },
      },
      entityId: '1',
      pipelineId: '1',
      pipelineName: 'odoo-refunds',
      box: testBox,
    },
    { planner: createRatePlanner(db), client: { maxAttempts: 1, backoffBaseMs: 5, backoffMaxMs: 20 } },
  );
  const customer = await customerOf({ sim, target, customer: '' }, 'RC');
  return { sim, target, customer };
}

async function customerOf(o: Odoo, code: string): Promise<string> {
  const [c] = await o.target.upsertCustomers(ctx(), [
    { sourceId: code, code, targetId: null, record: { kind: 'customer', sourceId: code, name: `Customer ${code}` } },
  ]);
  return idOf(c!);
}

function idOf(r: ItemResult): string {
  if (!r.ok) throw new Error(`refused: ${r.error.code} ${r.error.message}`);
  return r.targetId;
}

/** A payment of the customer, on account or paying the invoice given. */
async function paid(
  o: Odoo,
  ref: string,
  amount: string,
  invoiceTargetId: string | null = null,
  customer = o.customer,
) {
  const [p] = await o.target.createPayments!(ctx(), [
    {
      sourceId: ref,
      idempotencyKey: `k-${ref}`,
      customerTargetId: customer,
      invoiceTargetId,
      bankAccountCode: 'BANK',
      record: {
        kind: 'payment',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: 'RC',
        date: '2026-11-05',
        amount,
        currency: 'EUR',
        invoiceExternalReference: null,
        description: '',
      },
    },
  ]);
  return idOf(p!);
}

async function invoiced(o: Odoo, ref: string): Promise<string> {
  const [i] = await o.target.createInvoices(ctx(), [
    {
      sourceId: ref,
      idempotencyKey: `k-${ref}`,
      customerTargetId: o.customer,
      productTargetIds: {},
      record: {
        kind: 'invoice',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: 'RC',
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0', vatAmount: '0.00' }],
      },
    },
  ]);
  return idOf(i!);
}

function refundOf(
  o: Odoo,
  ref: string,
  amount: string,
  payment: { ref: string; targetId: string | null } | null,
): TargetRefund {
  return {
    sourceId: ref,
    idempotencyKey: `k-${ref}`,
    customerTargetId: o.customer,
    paymentTargetId: payment?.targetId ?? null,
    bankAccountCode: 'BANK',
    record: {
      kind: 'refund',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: 'RC',
      date: '2026-11-07',
      amount,
      currency: 'EUR',
      paymentExternalReference: payment?.ref ?? null,
      description: 'Paid twice',
    },
  };
}

const refund = async (o: Odoo, r: TargetRefund) => (await o.target.createRefunds!(ctx(), [r]))[0]!;

/** The payments Odoo holds under a reference (refunds are outbound ones). */
const held = (o: Odoo, ref: string) => [...o.sim.db.payments.values()].filter((p) => p.ref === ref);
const lineOf = (o: Odoo, targetId: string) =>
  o.sim.db.payments.get(Number(targetId.slice('payment:'.length)))!.receivable;
const residual = (o: Odoo, targetId: string) => o.sim.db.lines.get(lineOf(o, targetId))!.residual;
/** The reconciliations of a refund's receivable line (a debit): [the other line, amount]. */
const reconciledOf = (o: Odoo, targetId: string) =>
  o.sim.db.partials.filter((p) => p.debit_move_id === lineOf(o, targetId)).map((p) => [p.credit_move_id, p.amount]);

async function thrown(p: Promise<unknown>): Promise<ConnectorError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectorError);
    return err as ConnectorError;
  }
  throw new Error('did not throw');
}

describe('Odoo refunds', () => {
  for (const version of ['16', '17', '18'] as const)
    it(`Odoo ${version}: a refund of a payment's unapplied money is reconciled with it for exactly the refund; both end with nothing open`, async () => {
      const o = await odoo(version);
      const pay = await paid(o, 'P1', '40.00');
      const r = await refund(o, refundOf(o, 'R1', '40.00', { ref: 'P1', targetId: pay }));
      expect(r).toMatchObject({
        ok: true,
        outcome: 'created',
        message: expect.stringMatching(/^reconciled with payment P1 /),
      });
      const id = idOf(r);
      expect(held(o, 'R1').map((p) => [`payment:${p.id}`, p.payment_type, p.amount])).toEqual([
        [id, 'outbound', 4000n],
      ]);
      expect(reconciledOf(o, id)).toEqual([[lineOf(o, pay), 4000n]]);
      expect([residual(o, id), residual(o, pay)]).toEqual([0n, 0n]);
      // Found again by reference once finished, as the engine looks it up after a lost answer.
      expect(await o.target.findByReference(ctx(), 'refund', 'R1', o.customer)).toMatchObject({ targetId: id });
      expect(o.sim.duplicates()).toEqual([]);
      expect(o.sim.violations).toEqual([]);
    });

  it('a lost answer to the reconciliation: the lookup finds the refund reconciled, and sending it again reconciles nothing twice', async () => {
    const o = await odoo('17');
    const pay = await paid(o, 'P2', '50.00');
    const r = refundOf(o, 'R2', '20.00', { ref: 'P2', targetId: pay });
    o.sim.dropNext(1, (c) => c.modelMethod === 'js_assign_outstanding_line');
    expect(await thrown(refund(o, r))).toMatchObject({ retryable: true });
    const found = await o.target.findByReference(ctx(), 'refund', 'R2', o.customer);
    expect(found).toMatchObject({ targetId: `payment:${held(o, 'R2')[0]!.id}` });
    // Sent again all the same (a resend after a refusal, say): found by reference, its reconciliation read first.
    const again = await refund(o, r);
    expect(again).toMatchObject({ ok: true, outcome: 'linked', targetId: found!.targetId });
    expect(held(o, 'R2')).toHaveLength(1);
    expect(reconciledOf(o, found!.targetId)).toEqual([[lineOf(o, pay), 2000n]]);
    expect([residual(o, found!.targetId), residual(o, pay)]).toEqual([0n, -3000n]);
    expect(o.sim.stats.dropped).toBe(1);
    expect(o.sim.violations).toEqual([]);
  });

  it('a lost answer to the creation: the lookup does not take the unreconciled refund as done; sent again, it is posted and reconciled once', async () => {
    const o = await odoo('18');
    const pay = await paid(o, 'P3', '40.00');
    const r = refundOf(o, 'R3', '40.00', { ref: 'P3', targetId: pay });
    o.sim.dropNext(1, (c) => c.model === 'account.payment' && c.modelMethod === 'create');
    expect(await thrown(refund(o, r))).toMatchObject({ retryable: true });
    expect(held(o, 'R3').map((p) => p.state)).toEqual(['draft']);
    // The lookup posts the draft, and reports it not found while nothing is reconciled with it.
    expect(await o.target.findByReference(ctx(), 'refund', 'R3', o.customer)).toBeNull();
    const again = await refund(o, r);
    expect(again).toMatchObject({
      ok: true,
      outcome: 'linked',
      message: expect.stringMatching(/^reconciled with payment P3 /),
    });
    expect(held(o, 'R3').map((p) => [`payment:${p.id}`, p.state])).toEqual([[idOf(again), 'in_process']]);
    expect(reconciledOf(o, idOf(again))).toEqual([[lineOf(o, pay), 4000n]]);
    expect([residual(o, idOf(again)), residual(o, pay)]).toEqual([0n, 0n]);
    expect(await o.target.findByReference(ctx(), 'refund', 'R3', o.customer)).toMatchObject({ targetId: idOf(again) });
    expect(o.sim.duplicates()).toEqual([]);
    expect(o.sim.violations).toEqual([]);
  });

  it('an attempt that died between posting and reconciling: the posted refund is found by reference and reconciled, not booked again', async () => {
    const o = await odoo('16');
    const pay = await paid(o, 'P4', '40.00');
    // What the dead attempt left: the refund created and posted under our reference, nothing reconciled.
    const left = o.sim.db.createPayment(
      {
        payment_type: 'outbound',
        partner_type: 'customer',
        partner_id: Number(o.customer),
        amount: 40,
        ref: 'R4',
        date: '2026-11-07',
      },
      'ref',
    );
    o.sim.db.postPayment(left);
    expect(await o.target.findByReference(ctx(), 'refund', 'R4', o.customer)).toBeNull();
    const r = await refund(o, refundOf(o, 'R4', '40.00', { ref: 'P4', targetId: pay }));
    expect(r).toMatchObject({ ok: true, outcome: 'linked', targetId: `payment:${left}` });
    expect(held(o, 'R4')).toHaveLength(1);
    expect(reconciledOf(o, `payment:${left}`)).toEqual([[lineOf(o, pay), 4000n]]);
    expect(o.sim.violations).toEqual([]);
  });

  it('reconciles no more than the payment has left open, and nothing when it has none; each said in the result', async () => {
    const o = await odoo('17');
    // 30.00 open on the customer, a refund of 50.00: 30.00 reconciled, 20.00 left open.
    const small = await paid(o, 'P5', '30.00');
    const r5 = await refund(o, refundOf(o, 'R5', '50.00', { ref: 'P5', targetId: small }));
    expect(r5).toMatchObject({ ok: true, outcome: 'created' });
    expect(r5.ok && r5.message).toMatch(
      /^reconciled EUR 30\.00 of it with payment P5 \(Odoo PBNK1\/2026\/\d+\), all that payment had left open in Odoo; the rest \(EUR 20\.00\) stays open on the customer$/,
    );
    expect(reconciledOf(o, idOf(r5))).toEqual([[lineOf(o, small), 3000n]]);
    expect([residual(o, idOf(r5)), residual(o, small)]).toEqual([2000n, 0n]);
    // A payment applied in full to its invoice has nothing open: the refund is booked, not reconciled.
    const invoice = await invoiced(o, 'I6');
    const applied = await paid(o, 'P6', '100.00', invoice);
    expect(residual(o, applied)).toBe(0n);
    const r6 = await refund(o, refundOf(o, 'R6', '10.00', { ref: 'P6', targetId: applied }));
    expect(r6).toMatchObject({ ok: true, outcome: 'created' });
    expect(r6.ok && r6.message).toMatch(/^not reconciled: payment P6 .* has nothing left open in Odoo/);
    expect(reconciledOf(o, idOf(r6))).toEqual([]);
    expect(residual(o, idOf(r6))).toBe(1000n);
    // Found again after a lost answer, it comes back to be finished, and is left as it is.
    expect(await o.target.findByReference(ctx(), 'refund', 'R6', o.customer)).toBeNull();
    expect(await refund(o, refundOf(o, 'R6', '10.00', { ref: 'P6', targetId: applied }))).toMatchObject({
      ok: true,
      outcome: 'linked',
      targetId: idOf(r6),
    });
    expect(held(o, 'R6')).toHaveLength(1);
    expect(o.sim.violations).toEqual([]);
  });

  it('refuses, before writing anything, a refund of a payment Odoo no longer holds or holds for another customer; books one naming no payment on its own', async () => {
    const o = await odoo('18');
    const gone = await refund(o, refundOf(o, 'R7', '10.00', { ref: 'P7', targetId: 'payment:999999' }));
    expect(gone).toMatchObject({
      ok: false,
      error: { code: 'TARGET_REFUSED', retryable: false, field: 'paymentExternalReference' },
    });
    expect(!gone.ok && gone.error.message).toMatch(
      /^Refund R7: payment P7 \(Odoo id payment:999999\) is no longer in Odoo/,
    );
    const stranger = await customerOf(o, 'OTHER');
    const theirs = await paid(o, 'P8', '10.00', null, stranger);
    const wrong = await refund(o, refundOf(o, 'R8', '10.00', { ref: 'P8', targetId: theirs }));
    expect(wrong).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', field: 'paymentExternalReference' } });
    expect([...held(o, 'R7'), ...held(o, 'R8')]).toEqual([]);
    expect(residual(o, theirs)).toBe(-1000n);
    const alone = await refund(o, refundOf(o, 'R9', '15.00', null));
    expect(alone).toMatchObject({
      ok: true,
      outcome: 'created',
      message: 'not reconciled: it names no payment; it stays open on the customer',
    });
    expect([residual(o, idOf(alone)), reconciledOf(o, idOf(alone))]).toEqual([1500n, []]);
    expect(o.sim.violations).toEqual([]);
  });

  it('a payment another pipeline booked (no target id here) is found by its reference among the customer’s payments and reconciled', async () => {
    const o = await odoo('17');
    const pay = await paid(o, 'P10', '25.00');
    const r = await refund(o, refundOf(o, 'R10', '25.00', { ref: 'P10', targetId: null }));
    expect(r).toMatchObject({
      ok: true,
      outcome: 'created',
      message: expect.stringMatching(/^reconciled with payment P10 /),
    });
    expect(reconciledOf(o, idOf(r))).toEqual([[lineOf(o, pay), 2500n]]);
    const none = await refund(o, refundOf(o, 'R11', '5.00', { ref: 'P-UNKNOWN', targetId: null }));
    expect(none).toMatchObject({
      ok: true,
      message: 'not reconciled: Odoo holds no posted payment P-UNKNOWN of this customer; it stays open on the customer',
    });
    expect(o.sim.violations).toEqual([]);
  });
});
