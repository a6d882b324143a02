import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import {
  ONE_ATTEMPT,
  callContext,
  directCustomer,
  directInvoice,
  directPayment,
  directRefund,
  directTargetDeps,
  targetIdOf as idOf,
  thrown,
} from './helpers/direct-target.ts';
import type { Database } from '../src/db/database.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import type { TargetConnector, TargetCreditNote, TargetRefund } from '../src/sync/target.ts';
import { type OdooSimulator, type SimulatedCall, startOdooSimulator } from '../src/connectors/odoo/simulator.ts';
import { rowsOf } from '../src/connectors/odoo/simulator-views.ts';
import { createOdooTarget } from '../src/connectors/odoo/target.ts';

/*
 * Refunds in the Odoo target against its simulator (16, 17, 18): an outbound customer payment
 * under our reference, reconciled with the payment it returns through `js_assign_outstanding_line`
 * on the refund's journal entry, for exactly the refund when the payment has that much open. What
 * the payment lacks open is taken off the invoices it is applied to (the newest allocation first,
 * `js_remove_outstanding_partial`), and what that frees beyond the refund goes back to the
 * invoice: the invoice owes the refund again, the customer's balance is what it was with the
 * refund left open. For what the payment has left when it holds less, and not at all when it has
 * nothing left, each said in the result. Exactly once through a lost answer to the
 * reconciliation, to the creation, to each step of taking money off an invoice, and after an
 * attempt that died between steps: one refund, nothing taken off or put back twice. Money taken
 * off an invoice that cannot be put back parks the refund, naming the invoice. A payment that is
 * not the customer's posted payment in Odoo is refused before anything is written; a refund
 * naming no payment is booked on its own.
 */

let db: Database;
const sims: OdooSimulator[] = [];
const ctx = () => callContext(db);

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
    directTargetDeps(
      db,
      {
        type: 'odoo',
        url: sim.url,
        database: sim.database,
        login: sim.login,
        apiKey: sim.issueApiKey(),
        version,
        limits: { callsPerMinute: 100_000 },
      },
      'odoo-refunds',
    ),
    { planner: createRatePlanner(db), client: ONE_ATTEMPT },
  );
  const customer = await customerOf({ sim, target, customer: '' }, 'RC');
  return { sim, target, customer };
}

async function customerOf(o: Odoo, code: string): Promise<string> {
  const [c] = await o.target.upsertCustomers(ctx(), [directCustomer(code, `Customer ${code}`)]);
  return idOf(c);
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
    directPayment(ref, customer, invoiceTargetId, amount, { invoiceExternalReference: null }),
  ]);
  return idOf(p);
}

async function invoiced(o: Odoo, ref: string, net = '100.00'): Promise<string> {
  const [i] = await o.target.createInvoices(ctx(), [directInvoice(ref, o.customer, net, '0')]);
  return idOf(i);
}

/** An allocation: money a payment holds unapplied set against an invoice. */
async function allocated(
  o: Odoo,
  ref: string,
  payment: { ref: string; targetId: string },
  invoice: { ref: string; targetId: string },
  amount: string,
) {
  const [a] = await o.target.createAllocations!(ctx(), [
    {
      sourceId: ref,
      idempotencyKey: `k-${ref}`,
      customerTargetId: o.customer,
      invoiceTargetId: invoice.targetId,
      fromTargetId: payment.targetId,
      record: {
        kind: 'allocation',
        sourceId: ref,
        customerSourceId: 'RC',
        date: '2026-11-06',
        currency: 'EUR',
        amount,
        invoiceExternalReference: invoice.ref,
        from: 'payment',
        fromExternalReference: payment.ref,
      },
    },
  ]);
  return idOf(a);
}

function refundOf(
  o: Odoo,
  ref: string,
  amount: string,
  payment: { ref: string; targetId: string | null } | null,
): TargetRefund {
  return directRefund(ref, o.customer, payment?.targetId ?? null, amount, {
    date: '2026-11-07',
    paymentExternalReference: payment?.ref ?? null,
    description: 'Paid twice',
  });
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

/** An invoice's open amount as Odoo reads it (`account.move.amount_residual`), and its payment state. */
function owed(o: Odoo, invoice: string) {
  const row = rowsOf(o.sim.db, 'account.move', 'ref').find((m) => m.id === Number(invoice))!;
  return [String(row.amount_residual), row.payment_state];
}
/** What the customer owes in all: the open amounts of its receivable lines (invoices, payments, refunds). */
function balance(o: Odoo): bigint {
  const db = o.sim.db;
  const partner = (l: { move_id: number | null; payment_id: number | null }) =>
    l.move_id !== null ? db.moves.get(l.move_id)!.partner_id : db.payments.get(l.payment_id!)!.partner_id;
  return [...db.lines.values()].filter((l) => partner(l) === Number(o.customer)).reduce((s, l) => s + l.residual, 0n);
}
/** A payment's reconciliations, by what is on the other side (an invoice's reference, a refund's): [it, amount]. */
function appliedOf(o: Odoo, targetId: string) {
  const db = o.sim.db;
  return db.partials
    .filter((p) => p.credit_move_id === lineOf(o, targetId))
    .map((p) => {
      const other = db.lines.get(p.debit_move_id)!;
      return [
        other.move_id !== null ? db.moves.get(other.move_id)!.ref : db.payments.get(other.payment_id!)!.ref,
        p.amount,
      ];
    });
}
/** A call that puts money back on (or sets a payment against) this invoice. */
const onInvoice = (invoice: string) => (c: SimulatedCall) =>
  c.modelMethod === 'js_assign_outstanding_line' && (c.args[0] as number[])[0] === Number(invoice);
/** A call that reconciles a refund: `js_assign_outstanding_line` on an outbound payment's journal entry. */
const onRefund = (o: Odoo) => (c: SimulatedCall) =>
  c.modelMethod === 'js_assign_outstanding_line' &&
  o.sim.db.paymentOfEntry((c.args[0] as number[])[0]!)?.payment_type === 'outbound';

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
    // A payment refunded in full has nothing left, open or applied: the refund is booked, not reconciled.
    const spent = await paid(o, 'P6', '10.00');
    expect(await refund(o, refundOf(o, 'R6a', '10.00', { ref: 'P6', targetId: spent }))).toMatchObject({ ok: true });
    const r6 = await refund(o, refundOf(o, 'R6', '10.00', { ref: 'P6', targetId: spent }));
    expect(r6).toMatchObject({ ok: true, outcome: 'created' });
    expect(r6.ok && r6.message).toMatch(/^not reconciled: payment P6 .* has nothing left in Odoo to refund/);
    expect(reconciledOf(o, idOf(r6))).toEqual([]);
    expect(residual(o, idOf(r6))).toBe(1000n);
    // Found again after a lost answer, it comes back to be finished, and is left as it is.
    expect(await o.target.findByReference(ctx(), 'refund', 'R6', o.customer)).toBeNull();
    expect(await refund(o, refundOf(o, 'R6', '10.00', { ref: 'P6', targetId: spent }))).toMatchObject({
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

describe('Odoo lookups under a reference two customers share', () => {
  /** A credit note `ref` of one line, open on the customer. */
  const creditNoteOf = (ref: string, customerTargetId: string): TargetCreditNote => ({
    sourceId: ref,
    idempotencyKey: `key-${ref}-${customerTargetId}`,
    customerTargetId,
    productTargetIds: {},
    invoiceTargetId: null,
    record: {
      kind: 'creditNote',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: 'c',
      date: '2026-11-03',
      currency: 'EUR',
      description: 'Returned',
      lines: [{ description: 'Service', netAmount: '20.00', vatRate: '0' }],
    },
  });

  it('takes only the given customer’s invoice, credit note, payment or refund, never another’s under the same reference, also after a lost answer', async () => {
    const o = await odoo('17');
    const them = await customerOf(o, 'THEM');
    const find = (kind: 'invoice' | 'creditNote' | 'payment' | 'refund', ref: string, customer: string) =>
      o.target.findByReference(ctx(), kind, ref, customer);
    // The first customer's documents under the shared references: none of them is the other's.
    const invoice = await invoiced(o, 'S-I');
    const [note] = await o.target.createCreditNotes!(ctx(), [creditNoteOf('S-N', o.customer)]);
    const pay = await paid(o, 'S-P', '50.00', invoice);
    const back = await refund(o, refundOf(o, 'S-R', '10.00', { ref: 'S-P', targetId: pay }));
    const ours = { invoice, creditNote: idOf(note), payment: pay, refund: idOf(back) };
    for (const [kind, ref] of [
      ['invoice', 'S-I'],
      ['creditNote', 'S-N'],
      ['payment', 'S-P'],
      ['refund', 'S-R'],
    ] as const) {
      expect(await find(kind, ref, o.customer), `${kind} of its customer`).toMatchObject({
        targetId: ours[kind],
        customerTargetId: o.customer,
      });
      expect(await find(kind, ref, them), `${kind} of another customer`).toBeNull();
    }
    // The other customer's invoice committed and its answer lost: its lookup finds it, not the first one's.
    o.sim.dropNext(1, (c) => c.model === 'account.move' && c.modelMethod === 'create');
    expect((await thrown(o.target.createInvoices(ctx(), [directInvoice('S-I', them, '50.00', '0')]))).retryable).toBe(
      true,
    );
    const theirs = [...o.sim.db.moves.values()].find((m) => m.ref === 'S-I' && m.partner_id === Number(them))!;
    expect(await find('invoice', 'S-I', them)).toMatchObject({ targetId: String(theirs.id), customerTargetId: them });
    expect(await find('invoice', 'S-I', o.customer)).toMatchObject({ targetId: invoice });
    expect(o.sim.duplicates()).toEqual([]);
  });
});

describe('Odoo refunds of money a payment applied to invoices', () => {
  const INVOICE_NUMBER = String.raw`\(Odoo INV\/2026\/\d+\)`;

  for (const version of ['16', '17', '18'] as const)
    it(`Odoo ${version}: a payment applied in full to its invoice, refunded in part: the invoice owes the refund again, the refund is reconciled with the payment, the customer's balance is as before`, async () => {
      const o = await odoo(version);
      const invoice = await invoiced(o, 'I1');
      const pay = await paid(o, 'P1', '100.00', invoice);
      expect([owed(o, invoice), residual(o, pay)]).toEqual([['0.00', 'paid'], 0n]);
      const before = balance(o);
      const r = await refund(o, refundOf(o, 'R1', '10.00', { ref: 'P1', targetId: pay }));
      expect(r).toMatchObject({ ok: true, outcome: 'created' });
      expect(r.ok && r.message).toMatch(
        new RegExp(
          `^reconciled with payment P1 .*; taken off invoice I1 ${INVOICE_NUMBER} for EUR 10\\.00, which owes it again$`,
        ),
      );
      const id = idOf(r);
      expect(owed(o, invoice)).toEqual(['10.00', 'partial']);
      expect(reconciledOf(o, id)).toEqual([[lineOf(o, pay), 1000n]]);
      expect([residual(o, id), residual(o, pay)]).toEqual([0n, 0n]);
      // The payment's 100.00: 10.00 to the refund, 90.00 to the invoice again.
      expect(appliedOf(o, pay)).toEqual([
        ['R1', 1000n],
        ['I1', 9000n],
      ]);
      // What the refund adds to the customer's balance is what it added left open: only where it sits moved.
      expect(balance(o)).toBe(before + 1000n);
      // Finished: found again by reference, and sent again it changes nothing.
      expect(await o.target.findByReference(ctx(), 'refund', 'R1', o.customer)).toMatchObject({ targetId: id });
      expect(await refund(o, refundOf(o, 'R1', '10.00', { ref: 'P1', targetId: pay }))).toMatchObject({
        ok: true,
        outcome: 'linked',
        targetId: id,
        message: expect.stringMatching(/^reconciled with payment P1 /),
      });
      expect(appliedOf(o, pay)).toEqual([
        ['R1', 1000n],
        ['I1', 9000n],
      ]);
      expect(owed(o, invoice)).toEqual(['10.00', 'partial']);
      expect(o.sim.duplicates()).toEqual([]);
      expect(o.sim.violations).toEqual([]);
    });

  it('what the payment holds unapplied is refunded first; the invoice owes again only the rest', async () => {
    const o = await odoo('17');
    // 100.00 paid on an invoice of 60.00: 40.00 unapplied.
    const invoice = await invoiced(o, 'I2', '60.00');
    const pay = await paid(o, 'P2', '100.00', invoice);
    expect(residual(o, pay)).toBe(-4000n);
    const before = balance(o);
    // 20.00: all of it from the unapplied money; the invoice is not touched.
    const first = await refund(o, refundOf(o, 'R2a', '20.00', { ref: 'P2', targetId: pay }));
    expect(first).toMatchObject({ ok: true, message: expect.stringMatching(/^reconciled with payment P2 \S+ \S+$/) });
    expect([owed(o, invoice), residual(o, pay)]).toEqual([['0.00', 'paid'], -2000n]);
    expect(o.sim.calls.filter((c) => c.modelMethod === 'js_remove_outstanding_partial')).toEqual([]);
    // 50.00: the 20.00 still unapplied, then 30.00 off the invoice.
    const second = await refund(o, refundOf(o, 'R2b', '50.00', { ref: 'P2', targetId: pay }));
    expect(second.ok && second.message).toMatch(
      new RegExp(
        `^reconciled with payment P2 .*; taken off invoice I2 ${INVOICE_NUMBER} for EUR 30\\.00, which owes it again$`,
      ),
    );
    expect(owed(o, invoice)).toEqual(['30.00', 'partial']);
    expect(reconciledOf(o, idOf(second))).toEqual([
      [lineOf(o, pay), 2000n],
      [lineOf(o, pay), 3000n],
    ]);
    expect([residual(o, idOf(second)), residual(o, pay)]).toEqual([0n, 0n]);
    expect(appliedOf(o, pay)).toEqual([
      ['R2a', 2000n],
      ['R2b', 2000n],
      ['R2b', 3000n],
      ['I2', 3000n],
    ]);
    expect(balance(o)).toBe(before + 7000n);
    expect(o.sim.violations).toEqual([]);
  });

  it('a payment applied to two invoices: the newest allocation is taken off first, then the older for the rest; both named', async () => {
    const o = await odoo('18');
    const [i1, i2] = [await invoiced(o, 'I3'), await invoiced(o, 'I4')];
    // 150.00 paid on I3 (100.00 applied, 50.00 left), then the 50.00 set against I4.
    const pay = await paid(o, 'P3', '150.00', i1);
    await allocated(o, 'A3', { ref: 'P3', targetId: pay }, { ref: 'I4', targetId: i2 }, '50.00');
    expect([owed(o, i1), owed(o, i2), residual(o, pay)]).toEqual([['0.00', 'paid'], ['50.00', 'partial'], 0n]);
    const before = balance(o);
    const r = await refund(o, refundOf(o, 'R3', '80.00', { ref: 'P3', targetId: pay }));
    expect(r.ok && r.message).toMatch(
      new RegExp(
        `^reconciled with payment P3 .*; taken off invoice I4 ${INVOICE_NUMBER} for EUR 50\\.00, invoice I3 ${INVOICE_NUMBER} for EUR 30\\.00, which owe it again$`,
      ),
    );
    expect([owed(o, i1), owed(o, i2)]).toEqual([
      ['30.00', 'partial'],
      ['100.00', 'not_paid'],
    ]);
    expect(reconciledOf(o, idOf(r))).toEqual([
      [lineOf(o, pay), 5000n],
      [lineOf(o, pay), 3000n],
    ]);
    expect([residual(o, idOf(r)), residual(o, pay)]).toEqual([0n, 0n]);
    expect(appliedOf(o, pay)).toEqual([
      ['R3', 5000n],
      ['R3', 3000n],
      ['I3', 7000n],
    ]);
    expect(balance(o)).toBe(before + 8000n);
    expect(o.sim.violations).toEqual([]);
  });

  it('lost answers and retries in the middle: each step is read back, nothing is taken off or put back twice, the books end as without them', async () => {
    const o = await odoo('17');
    const [i1, i2] = [await invoiced(o, 'I5'), await invoiced(o, 'I6')];
    const pay = await paid(o, 'P5', '150.00', i1);
    await allocated(o, 'A5', { ref: 'P5', targetId: pay }, { ref: 'I6', targetId: i2 }, '50.00');
    // The first removal committed and its answer lost; the put-back answered 503 once, before anything was done.
    o.sim.dropNext(1, (c) => c.modelMethod === 'js_remove_outstanding_partial');
    let puts = 0;
    const busy = o.sim.failWhile((c) => onInvoice(i1)(c) && ++puts === 1);
    const r = await refund(o, refundOf(o, 'R5', '80.00', { ref: 'P5', targetId: pay }));
    busy();
    expect(r).toMatchObject({ ok: true, outcome: 'created' });
    expect([o.sim.stats.dropped, puts]).toEqual([1, 2]);
    expect(o.sim.calls.filter((c) => c.modelMethod === 'js_remove_outstanding_partial')).toHaveLength(2);
    expect([owed(o, i1), owed(o, i2)]).toEqual([
      ['30.00', 'partial'],
      ['100.00', 'not_paid'],
    ]);
    expect(appliedOf(o, pay)).toEqual([
      ['R5', 5000n],
      ['R5', 3000n],
      ['I5', 7000n],
    ]);
    expect(residual(o, pay)).toBe(0n);

    // What the payment holds unapplied refunded, and the answer to that lost: the refund is not
    // linked half-done; sent again, it is finished from where it stands.
    const invoice = await invoiced(o, 'I7', '60.00');
    const spare = await paid(o, 'P7', '100.00', invoice);
    const r7 = refundOf(o, 'R7', '50.00', { ref: 'P7', targetId: spare });
    o.sim.dropNext(1, onRefund(o));
    expect(await thrown(refund(o, r7))).toMatchObject({ retryable: true });
    const [left] = held(o, 'R7');
    expect([residual(o, `payment:${left!.id}`), owed(o, invoice)]).toEqual([1000n, ['0.00', 'paid']]);
    expect(await o.target.findByReference(ctx(), 'refund', 'R7', o.customer)).toBeNull();
    const again = await refund(o, r7);
    expect(again).toMatchObject({ ok: true, outcome: 'linked', targetId: `payment:${left!.id}` });
    expect(owed(o, invoice)).toEqual(['10.00', 'partial']);
    expect(appliedOf(o, spare)).toEqual([
      ['R7', 4000n],
      ['R7', 1000n],
      ['I7', 5000n],
    ]);

    // An attempt that died after the refund took what was unapplied: the next takes the rest off the invoice.
    const third = await invoiced(o, 'I8', '60.00');
    const more = await paid(o, 'P8', '100.00', third);
    const dead = o.sim.db.createPayment(
      {
        payment_type: 'outbound',
        partner_type: 'customer',
        partner_id: Number(o.customer),
        amount: 50,
        ref: 'R8',
        date: '2026-11-07',
      },
      'ref',
    );
    o.sim.db.postPayment(dead);
    o.sim.db.assignOutstanding(o.sim.db.payments.get(dead)!.move_id, lineOf(o, more));
    expect(await o.target.findByReference(ctx(), 'refund', 'R8', o.customer)).toBeNull();
    const r8 = await refund(o, refundOf(o, 'R8', '50.00', { ref: 'P8', targetId: more }));
    expect(r8).toMatchObject({ ok: true, outcome: 'linked', targetId: `payment:${dead}` });
    expect(owed(o, third)).toEqual(['10.00', 'partial']);
    expect(appliedOf(o, more)).toEqual([
      ['R8', 4000n],
      ['R8', 1000n],
      ['I8', 5000n],
    ]);
    expect(o.sim.duplicates()).toEqual([]);
    expect(o.sim.violations).toEqual([]);
  });

  it('money taken off an invoice that cannot be put back parks the refund, not retried, naming the invoice and the amounts; one that can be is put back and the refund retried', async () => {
    const o = await odoo('16');
    // The refund's reconciliation fails after the allocation was taken off: put back, the error thrown to be retried.
    const invoice = await invoiced(o, 'I9');
    const pay = await paid(o, 'P9', '100.00', invoice);
    const r9 = refundOf(o, 'R9', '10.00', { ref: 'P9', targetId: pay });
    const down = o.sim.failWhile(onRefund(o));
    expect(await thrown(refund(o, r9))).toMatchObject({ retryable: true });
    down();
    expect([owed(o, invoice), residual(o, pay)]).toEqual([['0.00', 'paid'], 0n]);
    expect(appliedOf(o, pay)).toEqual([['I9', 10000n]]);
    expect(await o.target.findByReference(ctx(), 'refund', 'R9', o.customer)).toBeNull();
    expect(await refund(o, r9)).toMatchObject({ ok: true, outcome: 'linked' });
    expect(owed(o, invoice)).toEqual(['10.00', 'partial']);

    // The put-back fails, and so does putting it back: parked, naming the invoice and what to apply again.
    const other = await invoiced(o, 'I10');
    const pay10 = await paid(o, 'P10', '100.00', other);
    const stuck = o.sim.failWhile(onInvoice(other));
    const r10 = await refund(o, refundOf(o, 'R10', '10.00', { ref: 'P10', targetId: pay10 }));
    stuck();
    expect(r10).toMatchObject({ ok: false, error: { code: 'TARGET_UNAVAILABLE', retryable: false } });
    expect(!r10.ok && r10.error.message).toMatch(
      new RegExp(
        `^Refund R10 is booked but payment P10 \\(Odoo PBNK1\\/2026\\/\\d+\\) stays taken off invoice I10 ${INVOICE_NUMBER} for EUR 100\\.00, which the invoice owes again, and holds EUR 90\\.00 of it open: apply that to the invoice again in Odoo, then retry the refund \\(could not apply payment P10 .* to invoice I10 .* again: .*; putting it back: .*\\)$`,
      ),
    );
    // As parked: the refund reconciled, the invoice owing its allocation, the payment holding the rest.
    const [booked] = held(o, 'R10');
    expect([residual(o, `payment:${booked!.id}`), residual(o, pay10), owed(o, other)]).toEqual([
      0n,
      -9000n,
      ['100.00', 'not_paid'],
    ]);
    expect(o.sim.violations).toEqual([]);
  });

  it('the simulated Odoo removes a partial reconciliation as Odoo does, and refuses one that does not exist with its MissingError', async () => {
    const o = await odoo('18');
    const invoice = await invoiced(o, 'I11');
    const pay = await paid(o, 'P11', '100.00', invoice);
    const [partial] = o.sim.db.partials.filter((p) => p.credit_move_id === lineOf(o, pay));
    const call = async (partialId: number) => {
      const res = await fetch(`${o.sim.url}/jsonrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          jsonrpc: '2.0',
          method: 'call',
          params: {
            service: 'object',
            method: 'execute_kw',
            args: [
              o.sim.database,
              o.sim.uid,
              key,
              'account.move',
              'js_remove_outstanding_partial',
              [[Number(invoice)], partialId],
              {},
            ],
          },
          id: 1,
        }),
      });
      return (await res.json()) as Record<string, unknown>;
    };
    const key = o.sim.issueApiKey();
    expect(await call(partial!.id)).toMatchObject({ result: true });
    expect([owed(o, invoice), residual(o, pay)]).toEqual([['100.00', 'not_paid'], -10000n]);
    expect(await call(partial!.id)).toMatchObject({
      error: {
        code: 200,
        message: 'Odoo Server Error',
        data: {
          name: 'odoo.exceptions.MissingError',
          message: `Record does not exist or has been deleted.\n(Record: account.partial.reconcile(${partial!.id},), User: 2)`,
        },
      },
    });
    expect(o.sim.violations).toEqual([]);
  });
});
