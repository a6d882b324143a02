import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TokenSource } from '../src/sync/remote/contracts.ts';
import type { CanonicalPayment } from '../src/sync/canonical.ts';
import type { TargetConnector, TargetInvoice, TargetPayment, TargetRefund } from '../src/sync/target.ts';
import { callContext, targetIdOf as okId } from './helpers/direct-target.ts';
import { extractPdfText } from './helpers/pdf-text.ts';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { createXeroTarget } from '../src/connectors/xero/target.ts';
import { directXeroTarget, xeroContract } from './helpers/xero.ts';
import { batchIdempotencyKey } from '../src/connectors/xero/api.ts';

/*
 * The Xero target against the simulated Xero, every request body checked against Xero's OpenAPI
 * contract (../shared/specs/xero/xero_accounting.yaml, closed to undeclared fields). The exactly-once
 * protocol through the engine is test/xero.test.ts; here each operation's mapping and answers.
 */

const validate = xeroContract('test/xero-target.test.ts');

const TOKEN = 'access-token-that-must-never-show';
const SECRET = 'client-secret-that-must-never-show';
const auth: TokenSource = {
  accessToken: async () => TOKEN,
  invalidate: () => undefined,
  secrets: () => [TOKEN, SECRET],
};
const ctx = callContext(null as never);

let sim: XeroSimulator;
beforeAll(async () => {
  sim = await startXeroSimulator({ seed: 3, validate, limits: { perMinute: 100_000, perDay: 100_000 } });
});
afterAll(async () => {
  expect(sim.stats.specViolations).toEqual([]);
  await sim.close();
});

function target(extra: Record<string, unknown> = {}): TargetConnector {
  return directXeroTarget(sim, { settings: { clientSecret: SECRET, ...extra }, options: { auth } });
}

/** A receipt of `amount` EUR from the customer, against the invoice (or none: an early receipt). */
function receipt(
  customerTargetId: string,
  ref: string,
  amount: string,
  invoiceTargetId: string | null,
  more: Partial<CanonicalPayment> = {},
): TargetPayment {
  return {
    sourceId: ref,
    customerTargetId,
    invoiceTargetId,
    bankAccountCode: 'BANK',
    idempotencyKey: `ll-${ref}`,
    record: {
      kind: 'payment',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: 'x',
      date: '2026-11-05',
      amount,
      currency: 'EUR',
      description: '',
      ...more,
    },
  };
}

/** A refund of `amount` EUR of the receipt booked as `paymentTargetId` (our reference `paymentRef`). */
function refundOf(
  customerTargetId: string,
  ref: string,
  paymentTargetId: string | null,
  paymentRef: string,
  amount: string,
): TargetRefund {
  return {
    sourceId: ref,
    customerTargetId,
    paymentTargetId,
    bankAccountCode: 'BANK',
    idempotencyKey: `ll-${ref}`,
    record: {
      kind: 'refund',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: 'x',
      paymentExternalReference: paymentRef,
      date: '2026-11-06',
      amount,
      currency: 'EUR',
      description: '',
    },
  };
}

let n = 0;
async function customer(t: TargetConnector, name = `Customer ${++n}`) {
  const code = `C${String(++n).padStart(4, '0')}`;
  const [r] = await t.upsertCustomers(ctx, [
    {
      sourceId: code,
      code,
      targetId: null,
      record: { kind: 'customer', sourceId: code, name, email: `${code}@example.com` },
    },
  ]);
  return { code, id: okId(r) };
}

function invoice(
  customerTargetId: string,
  ref: string,
  lines: { net: string; vat: string; rate: string }[],
): TargetInvoice {
  return {
    sourceId: ref,
    customerTargetId,
    productTargetIds: {},
    idempotencyKey: `ll-${ref}`,
    record: {
      kind: 'invoice',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: 'x',
      invoiceDate: '2026-11-02',
      dueDate: '2026-12-02',
      currency: 'EUR',
      description: 'Tickets',
      lines: lines.map((l) => ({ description: 'Ticket', netAmount: l.net, vatAmount: l.vat, vatRate: l.rate })),
    },
  };
}

describe('Xero target: contacts', () => {
  it('creates by ContactNumber, finds it again instead of duplicating, and updates only the fields given', async () => {
    const t = target();
    const code = 'K-100';
    const rec = {
      kind: 'customer' as const,
      sourceId: 's1',
      name: 'Acme BV',
      email: 'a@acme.test',
      city: 'Utrecht',
      street: 'Oudegracht 1',
    };
    const [first] = await t.upsertCustomers(ctx, [{ sourceId: 's1', code, targetId: null, record: rec }]);
    const id = okId(first);
    // A second upsert without the mapping (a lost answer) finds the contact by its number.
    const [again] = await t.upsertCustomers(ctx, [
      { sourceId: 's1', code, targetId: null, record: { ...rec, name: 'Acme BV' } },
    ]);
    expect(okId(again)).toBe(id);
    // Partial: only the city changes; the street and email stay as Xero has them.
    await t.upsertCustomers(ctx, [
      {
        sourceId: 's1',
        code,
        targetId: id,
        record: { kind: 'customer', sourceId: 's1', name: 'Acme BV', city: 'Zeist' },
      },
    ]);
    const c = sim.tenant().contacts.get(id)!;
    expect(c.EmailAddress).toBe('a@acme.test');
    expect((c.Addresses as { City: string; AddressLine1: string }[])[0]).toMatchObject({
      City: 'Zeist',
      AddressLine1: 'Oudegracht 1',
    });
    expect([...sim.tenant().contacts.values()].filter((x) => x.ContactNumber === code)).toHaveLength(1);
    expect((await t.findByReference(ctx, 'customer', code))?.targetId).toBe(id);
  });

  it('resolves a name another contact holds as "Name (CODE)" instead of failing', async () => {
    const t = target();
    await customer(t, 'Jansen');
    const [r] = await t.upsertCustomers(ctx, [
      { sourceId: 'j2', code: 'J2', targetId: null, record: { kind: 'customer', sourceId: 'j2', name: 'Jansen' } },
    ]);
    expect(sim.tenant().contacts.get(okId(r))!.Name).toBe('Jansen (J2)');
  });
});

describe('Xero target: invoices', () => {
  it('sends a batch in one PUT, approved, with the reference, exact amounts and Xero’s numbers back', async () => {
    const t = target();
    const c = await customer(t);
    const before = sim.stats.batches['PUT /Invoices']?.length ?? 0;
    const items = [...Array(7).keys()].map((i) =>
      invoice(c.id, `INV-A-${i}`, [
        { net: '100.10', vat: '21.02', rate: '0.21' },
        { net: '9.99', vat: '0.90', rate: '0.09' },
      ]),
    );
    const results = await t.createInvoices(ctx, items);
    expect(sim.stats.batches['PUT /Invoices']!.slice(before)).toEqual([7]);
    const ids = results.map(okId);
    const numbers = results.map((r) => (r.ok ? r.number : null));
    expect(new Set(numbers).size).toBe(7);
    const docs = await t.documents!(ctx, ids);
    for (const [i, id] of ids.entries()) {
      const d = docs.get(id)!;
      expect(d).toMatchObject({
        externalReference: `INV-A-${i}`,
        number: numbers[i],
        currency: 'EUR',
        gross: 13201n,
        lines: 2,
        dueDate: '2026-12-02',
      });
      expect(sim.tenant().documents.get(id)!.Status).toBe('AUTHORISED');
    }
    expect((await t.findByReference(ctx, 'invoice', 'INV-A-3'))?.number).toBe(numbers[3]);
    expect(await t.findByReference(ctx, 'invoice', 'INV-NONE')).toBeNull();
  });

  it('draft mode sends drafts', async () => {
    const t = target({ mode: 'draft' });
    const c = await customer(t);
    const [r] = await t.createInvoices(ctx, [invoice(c.id, 'INV-D-1', [{ net: '10.00', vat: '2.10', rate: '0.21' }])]);
    expect(sim.tenant().documents.get(okId(r))!.Status).toBe('DRAFT');
  });

  it('a VAT rate with no Xero tax rate is refused naming the setting; its neighbours go through; the override fixes it', async () => {
    const t = target();
    const c = await customer(t);
    const results = await t.createInvoices(ctx, [
      invoice(c.id, 'INV-T-1', [{ net: '10.00', vat: '2.10', rate: '0.21' }]),
      invoice(c.id, 'INV-T-2', [{ net: '10.00', vat: '0.60', rate: '0.06' }]),
      invoice('00000000-0000-0000-0000-000000000000', 'INV-T-3', [{ net: '10.00', vat: '2.10', rate: '0.21' }]),
    ]);
    expect(results[0]!.ok).toBe(true);
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'TARGET_SETTING_MISSING', field: 'taxRates.0.06' } });
    // Refused by Xero inside a 200: only that element.
    expect(results[2]).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', retryable: false } });
    const fixed = target({ taxRates: { '0.06': 'OUTPUT' } });
    const [again] = await fixed.createInvoices(ctx, [
      invoice(c.id, 'INV-T-2', [{ net: '10.00', vat: '0.90', rate: '0.06' }]),
    ]);
    expect(again!.ok).toBe(true);
  });

  it('a dropped answer is retried with the same Idempotency-Key and Xero replays it: nothing twice', async () => {
    const t = target();
    const c = await customer(t);
    const replays = sim.stats.replays;
    sim.control.dropNext(1, 'PUT /Invoices');
    const results = await t.createInvoices(ctx, [
      invoice(c.id, 'INV-R-1', [{ net: '5.00', vat: '1.05', rate: '0.21' }]),
      invoice(c.id, 'INV-R-2', [{ net: '6.00', vat: '1.26', rate: '0.21' }]),
    ]);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(sim.stats.replays).toBe(replays + 1);
    expect(sim.duplicates()).toEqual([]);
  });

  it('renders the invoice PDF with Xero’s number', async () => {
    const t = target();
    const c = await customer(t);
    const [r] = await t.createInvoices(ctx, [invoice(c.id, 'INV-P-1', [{ net: '5.00', vat: '1.05', rate: '0.21' }])]);
    const pdf = await t.pdf!(ctx, okId(r));
    expect(extractPdfText(pdf).text).toContain(`Invoice ${r!.ok ? r!.number : ''}`);
  });
});

describe('Xero target: payments and refunds', () => {
  it('applies payments to invoices in one PUT, reads the paid status back, books an early receipt as an overpayment', async () => {
    const t = target();
    const c = await customer(t);
    const [inv] = await t.createInvoices(ctx, [
      invoice(c.id, 'INV-PAY-1', [{ net: '100.00', vat: '21.00', rate: '0.21' }]),
    ]);
    const invoiceId = okId(inv);
    const pay = (ref: string, amount: string, invoiceTargetId: string | null) =>
      receipt(c.id, ref, amount, invoiceTargetId);
    const before = sim.stats.batches['PUT /Payments']?.length ?? 0;
    const results = await t.createPayments!(ctx, [
      pay('PAY-1', '21.00', invoiceId),
      pay('PAY-2', '100.00', invoiceId),
      pay('PAY-3', '50.00', null),
    ]);
    expect(sim.stats.batches['PUT /Payments']!.slice(before)).toEqual([2]);
    results.forEach(okId);
    expect(okId(results[2])).toMatch(/^OP:/);
    expect(sim.tenant().documents.get(invoiceId)!.Status).toBe('PAID');
    expect((await t.paidInvoices!(ctx, [invoiceId])).get(invoiceId)).toBe('PAY-2');
    expect((await t.findByReference(ctx, 'payment', 'PAY-1'))?.targetId).toBe(okId(results[0]));
    expect((await t.findByReference(ctx, 'payment', 'PAY-3'))?.targetId).toBe(okId(results[2]));
    // Read back for reconciliation: each payment and the early receipt, as Xero holds them.
    const ids = results.map(okId);
    const docs = await t.documents!(ctx, ids);
    expect(
      ids.map((id) => [
        docs.get(id)?.kind,
        docs.get(id)?.gross,
        docs.get(id)?.externalReference,
        docs.get(id)?.customerTargetId,
      ]),
    ).toEqual([
      ['payment', 2100n, 'PAY-1', c.id],
      ['payment', 10000n, 'PAY-2', c.id],
      ['payment', 5000n, 'PAY-3', c.id],
    ]);
    expect(docs.get(ids[0]!)!.date).toBe('2026-11-05');
    // More than is due is Xero's refusal, for that payment alone.
    const [over] = await t.createPayments!(ctx, [pay('PAY-4', '1.00', invoiceId)]);
    expect(over).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED' } });
  });

  it('a refund is a credit note at the refunded invoice’s rates, refunded in cash; cut between the two writes, it is completed, not doubled', async () => {
    const t = target();
    const c = await customer(t);
    // 21% and 9% lines and a zero-rated one: gross 100.00 + 21.00 + 50.00 + 4.50 + 20.00 = 195.50.
    const [inv] = await t.createInvoices(ctx, [
      invoice(c.id, 'INV-REF-1', [
        { net: '100.00', vat: '21.00', rate: '0.21' },
        { net: '50.00', vat: '4.50', rate: '0.09' },
        { net: '20.00', vat: '0.00', rate: '0' },
      ]),
    ]);
    const [paid] = await t.createPayments!(ctx, [receipt(c.id, 'PAY-REF-1', '195.50', okId(inv))]);
    const refund = (ref: string, paymentTargetId: string | null, value = '50.00') =>
      refundOf(c.id, ref, paymentTargetId, 'PAY-REF-1', value);
    // The credit note commits, then every attempt at its cash refund fails.
    sim.control.failNext(500, 5, 'PUT /Payments');
    await expect(t.createRefunds!(ctx, [refund('REF-1', okId(paid))])).rejects.toBeInstanceOf(ConnectorError);
    expect(await t.findByReference(ctx, 'refund', 'REF-1')).toBeNull();
    const [r] = await t.createRefunds!(ctx, [refund('REF-1', okId(paid))]);
    const id = okId(r);
    const notes = [...sim.tenant().documents.values()].filter((d) => d.Reference === 'REF-1');
    expect(notes).toHaveLength(1);
    const note = notes[0]!;
    expect(sim.tenant().due(note).isZero()).toBe(true);
    // 50.00 of 195.50: VAT 25.50 × 50/195.50 = 6.52 (6.5217…), shared 5.37 / 1.15 / 0 by the lines'
    // own VAT; nets 25.58 and 12.79, the last line taking the nets' rounding: 5.11 (its share 5.115 → 5.12, less a cent).
    expect(note.Lines.map((l) => [l.TaxType, l.LineAmount.toFixed(2), l.TaxAmount.toFixed(2)])).toEqual([
      ['OUTPUT2', '25.58', '5.37'],
      ['OUTPUT', '12.79', '1.15'],
      ['ZERORATEDOUTPUT', '5.11', '0.00'],
    ]);
    expect(note.Total.toFixed(2)).toBe('50.00');
    expect(note.TotalTax.toFixed(2)).toBe('6.52');
    expect((await t.findByReference(ctx, 'refund', 'REF-1'))?.targetId).toBe(id);
    // Refunded in full in cash, it leaves the customer's balance in Xero as it was.
    expect((await t.documents!(ctx, [id])).get(id)).toMatchObject({
      kind: 'refund',
      gross: 5000n,
      balanceEffect: 0n,
      externalReference: 'REF-1',
    });
    // Where the rates cannot be known it is refused, naming why: no payment, or more than the invoice.
    const [none, tooMuch] = await t.createRefunds!(ctx, [refund('REF-2', null), refund('REF-3', okId(paid), '195.51')]);
    expect(none).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', field: 'paymentExternalReference' } });
    expect(tooMuch).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', field: 'amount' } });
    expect([...sim.tenant().documents.values()].filter((d) => /^REF-[23]$/.test(d.Reference))).toEqual([]);
    // Money a receipt holds unapplied (an overpayment) was no sale: no credit note takes VAT off for it.
    const [early] = await t.createPayments!(ctx, [receipt(c.id, 'PAY-REF-2', '30.00', null)]);
    // It is refunded in cash out of the overpayment, with no credit note; more than it holds needs an
    // invoice whose rates to reverse, which an overpayment applied to none has not: refused, nothing written.
    const [ofOverpayment, beyond] = await t.createRefunds!(ctx, [
      refund('REF-4', okId(early), '10.00'),
      refund('REF-5', okId(early), '25.00'),
    ]);
    const cashOut = (ref: string) =>
      [...sim.tenant().payments.values()]
        .filter((p) => p.Reference === ref && p.PaymentType === 'AROVERPAYMENTPAYMENT')
        .map((p) => p.Amount.toFixed(2));
    expect(cashOut('REF-4')).toEqual(['10.00']);
    expect([...sim.tenant().documents.values()].filter((d) => d.Reference === 'REF-4')).toEqual([]);
    expect(beyond).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', field: 'paymentExternalReference' } });
    expect(beyond!.ok ? '' : beyond!.error.message).toContain('paid no single invoice in Xero');
    expect(cashOut('REF-5')).toEqual([]);
    expect((await t.documents!(ctx, [okId(ofOverpayment)])).get(okId(ofOverpayment))).toMatchObject({
      kind: 'refund',
      gross: 1000n,
      customerTargetId: c.id,
      externalReference: 'REF-4',
    });
  });

  it('two customers’ refunds under one reference are each its own credit note, looked up for its customer only', async () => {
    const t = target();
    const [c, d] = [await customer(t), await customer(t)];
    const paidBy = async (who: { id: string }, tag: string) => {
      const [inv] = await t.createInvoices(ctx, [
        invoice(who.id, `INV-SR-${tag}`, [{ net: '100.00', vat: '21.00', rate: '0.21' }]),
      ]);
      const [paid] = await t.createPayments!(ctx, [receipt(who.id, `PAY-SR-${tag}`, '121.00', okId(inv))]);
      return okId(paid);
    };
    const [payC, payD] = [await paidBy(c, 'C'), await paidBy(d, 'D')];
    // Two source documents: keys of their own, one reference.
    const refundC = { ...refundOf(c.id, 'REF-SR', payC, 'PAY-SR-C', '10.00'), idempotencyKey: 'll-REF-SR-C' };
    const refundD = { ...refundOf(d.id, 'REF-SR', payD, 'PAY-SR-D', '5.00'), idempotencyKey: 'll-REF-SR-D' };
    const [rc] = await t.createRefunds!(ctx, [refundC]);
    // D's answer lost before it was sent: the engine's lookup must not take C's refund for D's.
    expect(await t.findByReference(ctx, 'refund', 'REF-SR', d.id)).toBeNull();
    const [rd] = await t.createRefunds!(ctx, [refundD]);
    expect(rd).toMatchObject({ ok: true, outcome: 'created' });
    expect(okId(rd)).not.toBe(okId(rc));
    const notes = [...sim.tenant().documents.values()].filter((x) => x.Reference === 'REF-SR');
    expect(notes.map((x) => [x.ContactID, x.Total.toFixed(2)]).sort()).toEqual(
      [
        [c.id, '10.00'],
        [d.id, '5.00'],
      ].sort(),
    );
    expect((await t.findByReference(ctx, 'refund', 'REF-SR', d.id))?.targetId).toBe(okId(rd));
    expect((await t.findByReference(ctx, 'refund', 'REF-SR', c.id))?.targetId).toBe(okId(rc));
    // Sent again, each is found as its own: nothing new.
    const again = await t.createRefunds!(ctx, [
      { ...refundC, idempotencyKey: 'll-REF-SR-C-again' },
      { ...refundD, idempotencyKey: 'll-REF-SR-D-again' },
    ]);
    expect(again.map(okId)).toEqual([okId(rc), okId(rd)]);
    // Xero's Reference is free text: two contacts under one is no duplicate; one contact twice is.
    expect(sim.duplicates().filter((x) => x.key.includes('REF-SR'))).toEqual([]);
    const twice = invoice(c.id, 'INV-SR-C', [{ net: '1.00', vat: '0.21', rate: '0.21' }]);
    const [second] = await t.createInvoices(ctx, [{ ...twice, idempotencyKey: 'll-INV-SR-C-twice' }]);
    expect(sim.duplicates().filter((x) => x.key.includes('INV-SR'))).toEqual([
      { kind: 'invoice', key: `${c.id}:INV-SR-C`, count: 2 },
    ]);
    // Deleted again, so that the file's later checks of the whole organisation hold.
    sim.tenant().documents.get(okId(second))!.Status = 'DELETED';
  });

  it('a refund of a receipt that paid more than its invoice comes out of the overpayment first, the rest by a credit note; cut between, it is completed once', async () => {
    const t = target();
    const c = await customer(t);
    const [inv] = await t.createInvoices(ctx, [
      invoice(c.id, 'INV-OVR-1', [{ net: '100.00', vat: '21.00', rate: '0.21' }]),
    ]);
    // 150.00 for an invoice of 121.00: an overpayment, allocated to the invoice for what it owes.
    const [early] = await t.createPayments!(ctx, [receipt(c.id, 'PAY-OVR-1', '150.00', null)]);
    const overpayment = okId(early);
    okId(
      (
        await t.applyEarlyPayments!(ctx, [
          {
            paymentSourceId: 'PAY-OVR-1',
            paymentTargetId: overpayment,
            paymentReference: 'PAY-OVR-1',
            customerTargetId: c.id,
            invoiceTargetId: okId(inv),
            invoiceReference: 'INV-OVR-1',
            currency: 'EUR',
          },
        ])
      )[0],
    );
    const held = () => sim.tenant().overpayments.get(overpayment.slice('OP:'.length))!;
    expect(held().Total.sub(held().Allocated).toFixed(2)).toBe('29.00');
    const refund = (ref: string, value: string) => refundOf(c.id, ref, overpayment, 'PAY-OVR-1', value);
    const cashOut = (ref: string) =>
      [...sim.tenant().payments.values()]
        .filter((p) => p.Reference === ref && p.PaymentType === 'AROVERPAYMENTPAYMENT')
        .map((p) => p.Amount.toFixed(2));
    const notes = (ref: string) => [...sim.tenant().documents.values()].filter((d) => d.Reference === ref);

    // 10.00: what the overpayment holds covers it. No credit note, no VAT taken off.
    const [small] = await t.createRefunds!(ctx, [refund('REF-OVR-1', '10.00')]);
    expect(cashOut('REF-OVR-1')).toEqual(['10.00']);
    expect(notes('REF-OVR-1')).toEqual([]);
    expect(held().Total.sub(held().Allocated).toFixed(2)).toBe('19.00');

    // 50.00: 19.00 out of the overpayment, then the credit note for the other 31.00 fails every attempt.
    sim.control.failNext(500, 5, 'PUT /CreditNotes');
    await expect(t.createRefunds!(ctx, [refund('REF-OVR-2', '50.00')])).rejects.toBeInstanceOf(ConnectorError);
    expect(cashOut('REF-OVR-2')).toEqual(['19.00']);
    expect(await t.findByReference(ctx, 'refund', 'REF-OVR-2')).toBeNull();
    // Sent again: the 19.00 is not refunded twice; 31.00 of the sale is reversed at the invoice's 21%.
    const [big] = await t.createRefunds!(ctx, [refund('REF-OVR-2', '50.00')]);
    expect(cashOut('REF-OVR-2')).toEqual(['19.00']);
    expect(notes('REF-OVR-2')).toHaveLength(1);
    const note = notes('REF-OVR-2')[0]!;
    expect(note.Lines.map((l) => [l.TaxType, l.LineAmount.toFixed(2), l.TaxAmount.toFixed(2)])).toEqual([
      ['OUTPUT2', '25.62', '5.38'],
    ]);
    expect(sim.tenant().due(note).isZero()).toBe(true);
    expect(okId(big)).toBe(note.id);
    // And again: both parts found, nothing written.
    const writes = sim.tenant().payments.size;
    const again = await t.createRefunds!(ctx, [refund('REF-OVR-1', '10.00'), refund('REF-OVR-2', '50.00')]);
    expect(again.map((r) => [okId(r), (r as { outcome?: string }).outcome])).toEqual([
      [okId(small), 'linked'],
      [note.id, 'linked'],
    ]);
    expect(sim.tenant().payments.size).toBe(writes);
    expect(cashOut('REF-OVR-1')).toEqual(['10.00']);
    // Reconciliation: each adds to the customer's balance what left the overpayment (the credit
    // note refunded in full adds nothing of its own); each is as much as the source refunded, the
    // second its credit note and the overpayment's rest together (31.00 + 19.00).
    const docs = await t.documents!(ctx, [okId(small), note.id]);
    expect(docs.get(okId(small))).toMatchObject({ kind: 'refund', gross: 1000n });
    expect(docs.get(note.id)).toMatchObject({ kind: 'refund', gross: 5000n, balanceEffect: 1900n });
  });
});

describe("Xero target: a payment provider's fees", () => {
  const payment = (
    customerTargetId: string,
    ref: string,
    amount: string,
    invoiceTargetId: string | null,
    fee: string | null,
  ) => receipt(customerTargetId, ref, amount, invoiceTargetId, { date: '2026-11-07', fee });
  /** Spend money carrying a reference, as: amount, bank, account, tax type, contact name. */
  const spends = (ref: string) =>
    [...sim.tenant().spends.values()]
      .filter((x) => x.Reference === ref && x.Status === 'AUTHORISED')
      .map((x) => [
        x.Total.toFixed(2),
        x.AccountCode,
        x.Lines.map((l) => `${l.AccountCode}/${l.TaxType}`).join(','),
        sim.tenant().contacts.get(x.ContactID)?.Name,
      ]);

  it('books the gross payment and the fee as spend money out of the same bank to Bank Fees, no tax; no fee, no extra call', async () => {
    const t = target();
    const c = await customer(t);
    const [inv] = await t.createInvoices(ctx, [
      invoice(c.id, 'INV-FEE-1', [{ net: '100.00', vat: '21.00', rate: '0.21' }]),
    ]);
    const calls = sim.stats.calls;
    const [plain] = await t.createPayments!(ctx, [payment(c.id, 'FEE-0', '21.00', okId(inv), null)]);
    okId(plain);
    // GET /TaxRates etc. were read by createInvoices already: the payment alone is one PUT.
    expect(sim.stats.calls - calls).toBe(1);
    expect(spends('FEE-0')).toEqual([]);

    const results = await t.createPayments!(ctx, [
      payment(c.id, 'FEE-1', '50.00', okId(inv), '1.45'),
      payment(c.id, 'FEE-2', '30.00', null, '0.90'),
      payment(c.id, 'FEE-3', '10.00', null, '0.00'),
    ]);
    results.forEach(okId);
    expect(results.map((r) => (r as { message?: string }).message)).toEqual([
      expect.stringMatching(/^fee EUR 1.45 booked as spend money [0-9a-f-]{36}$/),
      expect.stringMatching(/^fee EUR 0.90 booked as spend money [0-9a-f-]{36}; booked as an overpayment/),
      'booked as an overpayment: no invoice named',
    ]);
    // The payment keeps its gross amount; the fee comes out of the same bank account, on the default chart's 404 Bank Fees.
    expect([...sim.tenant().payments.values()].find((p) => p.Reference === 'FEE-1')?.Amount.toFixed(2)).toBe('50.00');
    expect(spends('FEE-1')).toEqual([['1.45', '090', '404/NONE', 'Payment provider fees']]);
    expect(spends('FEE-2')).toEqual([['0.90', '090', '404/NONE', 'Payment provider fees']]);
    expect(spends('FEE-3')).toEqual([]);
    // The fees, not customer documents, are not what findByReference or documents() answer for a payment.
    expect((await t.findByReference(ctx, 'payment', 'FEE-1'))?.targetId).toBe(okId(results[0]));
    const docs = await t.documents!(ctx, results.map(okId));
    expect(results.map((r) => docs.get(okId(r))?.gross)).toEqual([5000n, 3000n, 1000n]);
    // One contact for the fees, created once.
    expect([...sim.tenant().contacts.values()].filter((x) => x.Name === 'Payment provider fees')).toHaveLength(1);
  });

  it('a fee whose payment is cut off is found, not spent again; a payment refused after its fee says so', async () => {
    const t = target();
    const c = await customer(t);
    const [inv] = await t.createInvoices(ctx, [
      invoice(c.id, 'INV-FEE-2', [{ net: '10.00', vat: '2.10', rate: '0.21' }]),
    ]);
    // The fee commits, then every attempt at the payment fails: the call throws (an uncertain outcome).
    sim.control.failNext(500, 5, 'PUT /Payments');
    await expect(t.createPayments!(ctx, [payment(c.id, 'FEE-4', '12.10', okId(inv), '0.35')])).rejects.toBeInstanceOf(
      ConnectorError,
    );
    // The engine looks the payment up before sending it again: not there, so it is sent again.
    expect(await t.findByReference(ctx, 'payment', 'FEE-4')).toBeNull();
    expect(spends('FEE-4')).toHaveLength(1);
    const [paid] = await t.createPayments!(ctx, [payment(c.id, 'FEE-4', '12.10', okId(inv), '0.35')]);
    expect(paid).toMatchObject({ ok: true, message: expect.stringMatching(/^fee EUR 0.35 already booked/) });
    expect(spends('FEE-4')).toHaveLength(1);
    // More than is due: Xero refuses the payment after its fee was booked; the refusal says so.
    const [over] = await t.createPayments!(ctx, [payment(c.id, 'FEE-5', '5.00', okId(inv), '0.20')]);
    expect(over).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED' } });
    expect((over as { error: { message: string } }).error.message).toMatch(
      /its fee EUR 0.20 is booked as spend money .* not booked again/,
    );
    expect(spends('FEE-5')).toHaveLength(1);
    expect(sim.duplicates()).toEqual([]);
  });

  /** A payment of one customer among several under one reference: its own source id and key, as the engine gives them. */
  const paymentOf = (
    customerTargetId: string,
    ref: string,
    amount: string,
    invoiceTargetId: string | null,
    fee: string,
  ): TargetPayment => ({
    ...payment(customerTargetId, ref, amount, invoiceTargetId, fee),
    sourceId: `${ref}/${customerTargetId}`,
    idempotencyKey: `ll-${ref}/${customerTargetId}`,
  });
  /** The customer (ContactID) each authorised spend money under a reference is marked with, in order. */
  const markedFor = (ref: string) =>
    [...sim.tenant().spends.values()]
      .filter((x) => x.Reference === ref && x.Status === 'AUTHORISED')
      .map((x) => /\(ledgerlink customer ([^)]+)\)$/.exec(x.Lines[0]!.Description)?.[1] ?? null);

  it('two customers’ payments under one reference each get their own fee, once, also when the call is sent again after a lost answer', async () => {
    const t = target();
    const a = await customer(t);
    const b = await customer(t);
    const [ia, ib] = await t.createInvoices(ctx, [
      invoice(a.id, 'INV-SAME-A', [{ net: '100.00', vat: '21.00', rate: '0.21' }]),
      invoice(b.id, 'INV-SAME-B', [{ net: '100.00', vat: '21.00', rate: '0.21' }]),
    ]);
    const both = () => [
      paymentOf(a.id, 'ORDER-1001', '40.00', okId(ia), '1.20'),
      paymentOf(b.id, 'ORDER-1001', '25.00', okId(ib), '0.75'),
    ];
    // The fees commit and their answer is lost (sent again, under the same key); the payments never
    // get through: the call throws, an uncertain outcome.
    sim.control.dropNext(1, 'PUT /BankTransactions');
    sim.control.failNext(500, 5, 'PUT /Payments');
    await expect(t.createPayments!(ctx, both())).rejects.toBeInstanceOf(ConnectorError);
    expect(spends('ORDER-1001').map((x) => x[0])).toEqual(['1.20', '0.75']);
    expect(markedFor('ORDER-1001')).toEqual([a.id, b.id]);
    // Sent again: each finds its own fee (not the other's) and is booked, nothing spent twice.
    const results = await t.createPayments!(ctx, both());
    expect(results.map((r) => (r as { message?: string }).message?.slice(0, 30))).toEqual([
      'fee EUR 1.20 already booked as',
      'fee EUR 0.75 already booked as',
    ]);
    expect(spends('ORDER-1001').map((x) => x[0])).toEqual(['1.20', '0.75']);
    // Another call, one customer's payment alone under the same reference: the other's fee is not its.
    const c = await customer(t);
    const [third] = await t.createPayments!(ctx, [paymentOf(c.id, 'ORDER-1001', '10.00', null, '0.30')]);
    expect((third as { message?: string }).message).toMatch(/^fee EUR 0.30 booked as spend money/);
    expect(markedFor('ORDER-1001')).toEqual([a.id, b.id, c.id]);
    // Each payment's fee, read back for reconciliation, is its own.
    const docs = await t.documents!(ctx, [...results, third!].map(okId), { fees: true });
    expect([...results, third!].map((r) => docs.get(okId(r))?.fee?.amount)).toEqual([120n, 75n, 30n]);
    expect([...sim.tenant().payments.values()].filter((p) => p.Reference === 'ORDER-1001')).toHaveLength(2);
  });

  it('a fee booked before fees were marked is found for its payment, not spent again; when it could be another’s, the payment is parked', async () => {
    const t = target();
    const a = await customer(t);
    const b = await customer(t);
    const [ia, ib] = await t.createInvoices(ctx, [
      invoice(a.id, 'INV-OLD-A', [{ net: '100.00', vat: '21.00', rate: '0.21' }]),
      invoice(b.id, 'INV-OLD-B', [{ net: '100.00', vat: '21.00', rate: '0.21' }]),
    ]);
    const ofA = (ref: string) => paymentOf(a.id, ref, '20.00', okId(ia), '0.60');
    const ofB = (ref: string) => paymentOf(b.id, ref, '30.00', okId(ib), '0.90');
    const unmark = (ref: string) => {
      for (const x of sim.tenant().spends.values())
        if (x.Reference === ref) x.Lines[0]!.Description = `Payment provider fee on ${ref}`;
    };
    // Booked the old way: the fee under the reference, its line naming no customer; the payment never went.
    sim.control.failNext(500, 5, 'PUT /Payments');
    await expect(t.createPayments!(ctx, [ofA('OLD-1')])).rejects.toBeInstanceOf(ConnectorError);
    unmark('OLD-1');
    expect(markedFor('OLD-1')).toEqual([null]);
    const [paid] = await t.createPayments!(ctx, [ofA('OLD-1')]);
    expect(paid).toMatchObject({ ok: true, message: expect.stringMatching(/^fee EUR 0.60 already booked/) });
    expect(spends('OLD-1')).toHaveLength(1);
    const docs = await t.documents!(ctx, [okId(paid)], { fees: true });
    expect(docs.get(okId(paid))?.fee).toMatchObject({ amount: 60n, currency: 'EUR' });

    // An unmarked fee under a reference two payments of the call share: which one's it is is not guessed.
    sim.control.failNext(500, 5, 'PUT /Payments');
    await expect(t.createPayments!(ctx, [ofA('OLD-2')])).rejects.toBeInstanceOf(ConnectorError);
    unmark('OLD-2');
    const spent = sim.tenant().spends.size;
    const parked = await t.createPayments!(ctx, [ofA('OLD-2'), ofB('OLD-2')]);
    for (const r of parked)
      expect(r).toMatchObject({ ok: false, error: { code: 'PAYMENT_FEE_AMBIGUOUS', field: 'fee', retryable: false } });
    expect((parked[0] as { error: { message: string } }).error.message).toContain(
      `another payment sent with it has the same reference. Nothing was booked`,
    );
    expect((parked[0] as { error: { message: string } }).error.message).toContain(`(ledgerlink customer ${a.id})`);
    // Alone, but not this payment's fee as it would be booked (another amount): parked too.
    const [other] = await t.createPayments!(ctx, [ofB('OLD-2')]);
    expect(other).toMatchObject({ ok: false, error: { code: 'PAYMENT_FEE_AMBIGUOUS', field: 'fee' } });
    expect(sim.tenant().spends.size).toBe(spent);
    expect([...sim.tenant().payments.values()].filter((o) => o.Reference === 'OLD-2')).toEqual([]);
    // Once a person marks it as a's, both go: a's fee found, b's booked.
    for (const x of sim.tenant().spends.values())
      if (x.Reference === 'OLD-2') x.Lines[0]!.Description += ` (ledgerlink customer ${a.id})`;
    const again = await t.createPayments!(ctx, [ofA('OLD-2'), ofB('OLD-2')]);
    expect(again.map((r) => (r as { message?: string }).message?.slice(0, 19))).toEqual([
      'fee EUR 0.60 alread',
      'fee EUR 0.90 booked',
    ]);
    expect(markedFor('OLD-2')).toEqual([a.id, b.id]);
  });

  it('a fee with nowhere to go parks its payment (TARGET_SETTING_MISSING, accounts.fees); the payment is not sent', async () => {
    const t = target({ accounts: { bank: '090', sales: '200', fees: '999' } });
    const c = await customer(t);
    const [r] = await t.createPayments!(ctx, [payment(c.id, 'FEE-6', '5.00', null, '0.10')]);
    expect(r).toMatchObject({ ok: false, error: { code: 'TARGET_SETTING_MISSING', field: 'accounts.fees' } });
    expect(spends('FEE-6')).toEqual([]);
    expect([...sim.tenant().overpayments.values()].filter((o) => o.Reference === 'FEE-6')).toEqual([]);
    // A chart without a Bank Fees account, and no setting: the same, naming the setting to add.
    const own = await startXeroSimulator({
      seed: 4,
      validate,
      tenants: [
        {
          accounts: [
            { Code: '090', Name: 'Business Bank Account', Type: 'BANK', Status: 'ACTIVE', Class: 'ASSET' },
            { Code: '200', Name: 'Sales', Type: 'REVENUE', Status: 'ACTIVE', Class: 'REVENUE' },
          ],
        },
      ],
    });
    try {
      const t2 = createXeroTarget(
        { type: 'xero', clientId: 'client', clientSecret: SECRET, tenantId: own.tenantId, baseUrl: own.url },
        { auth, client: { backoffBaseMs: 1, backoffMaxMs: 5 } },
      );
      const c2 = await customer(t2);
      const [r2] = await t2.createPayments!(ctx, [payment(c2.id, 'FEE-7', '5.00', null, '0.10')]);
      expect(r2).toMatchObject({ ok: false, error: { code: 'TARGET_SETTING_MISSING', field: 'accounts.fees' } });
      expect((r2 as { error: { message: string } }).error.message).toContain('accounts.fees');
      expect(own.tenant().overpayments.size).toBe(0);
    } finally {
      await own.close();
    }
  });
});

describe('Xero target: failures', () => {
  it('a revoked connection is TARGET_AUTH_REVOKED, never retried, and no secret shows', async () => {
    const own = await startXeroSimulator({});
    try {
      const t = createXeroTarget(
        { type: 'xero', clientId: 'client', clientSecret: SECRET, tenantId: own.tenantId, baseUrl: own.url },
        { auth },
      );
      own.control.revokeAll();
      const err = await t
        .upsertCustomers(ctx, [
          { sourceId: 'x', code: 'X', targetId: null, record: { kind: 'customer', sourceId: 'x', name: 'X' } },
        ])
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorError);
      expect(err).toMatchObject({ code: 'TARGET_AUTH_REVOKED', retryable: false });
      expect(String((err as Error).message)).not.toContain(TOKEN);
      expect(String((err as Error).message)).not.toContain(SECRET);
    } finally {
      await own.close();
    }
  });

  it('an unknown organisation (xero-tenant-id) is refused as a lost connection', async () => {
    const t = target({ tenantId: 'not-a-tenant' });
    const err = await t.findByReference(ctx, 'customer', 'X').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TARGET_AUTH_REVOKED', retryable: false });
  });
});

describe('Xero target: the organisation', () => {
  it('without tenantId, books into the one organisation the connection covers, and refuses to guess among several', async () => {
    const one = await startXeroSimulator({});
    const two = await startXeroSimulator({ tenants: [{ name: 'A' }, { name: 'B' }] });
    try {
      const settings = (s: XeroSimulator) => ({
        type: 'xero',
        clientId: 'client',
        clientSecret: SECRET,
        baseUrl: s.url,
      });
      const t1 = createXeroTarget(settings(one), { auth });
      const [r] = await t1.upsertCustomers(ctx, [
        { sourceId: 'o', code: 'O1', targetId: null, record: { kind: 'customer', sourceId: 'o', name: 'Only' } },
      ]);
      expect(one.tenant().contacts.has(okId(r))).toBe(true);
      const t2 = createXeroTarget(settings(two), { auth });
      const err = await t2.findByReference(ctx, 'customer', 'X').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'TARGET_SETTING_MISSING', retryable: false });
      expect((err as Error).message).toContain('tenantId');
    } finally {
      await one.close();
      await two.close();
    }
  });
});

describe('Xero target: a receipt before its invoice', () => {
  it('is an overpayment until the invoice is booked, then applied to it', async () => {
    const t = target();
    const c = await customer(t);
    const [early] = await t.createPayments!(ctx, [
      receipt(c.id, 'EARLY-1', '30.00', null, { date: '2026-11-01', invoiceExternalReference: 'INV-LATE-1' }),
    ]);
    // Said to wait, for the engine to note it (src/sync/engine/early-payments.ts).
    expect(early).toMatchObject({
      ok: true,
      awaitsInvoice: true,
      message: 'booked as an overpayment: invoice INV-LATE-1 is not in Xero yet; allocated to it once it is booked',
    });
    const overpaymentId = okId(early).slice('OP:'.length);
    const note = {
      paymentSourceId: 'EARLY-1',
      paymentTargetId: okId(early),
      paymentReference: 'EARLY-1',
      customerTargetId: c.id,
      invoiceReference: 'INV-LATE-1',
      currency: 'EUR',
    };
    // Not in Xero yet: refused with the reason, nothing allocated.
    const [missing] = await t.applyEarlyPayments!(ctx, [{ ...note, invoiceTargetId: randomUUID() }]);
    expect(missing).toMatchObject({
      ok: false,
      error: {
        code: 'TARGET_REFUSED',
        retryable: false,
        message: `Xero holds no invoice INV-LATE-1 of customer ${c.id}`,
      },
    });
    const [inv, other] = await t.createInvoices(ctx, [
      invoice(c.id, 'INV-LATE-1', [{ net: '100.00', vat: '21.00', rate: '0.21' }]),
      invoice(c.id, 'INV-LATE-2', [{ net: '100.00', vat: '21.00', rate: '0.21' }]),
    ]);
    const d = sim.tenant().documents.get(okId(inv))!;
    // Booking the invoice allocates nothing by itself: the engine's sweep does.
    expect(d.Allocated.isZero()).toBe(true);
    // Handed the other invoice's id (another pipeline's booking into another organisation would
    // be): the one named is found by its reference, the other left alone.
    const [applied] = await t.applyEarlyPayments!(ctx, [{ ...note, invoiceTargetId: okId(other) }]);
    expect(applied).toMatchObject({
      ok: true,
      targetId: okId(early),
      outcome: 'updated',
      message: expect.stringMatching(/^allocated EUR 30\.00 to invoice INV-LATE-1 \(Xero INV-\d+\), booked after it$/),
    });
    expect(d.Allocated.toFixed(2)).toBe('30.00');
    expect(sim.tenant().due(d).toFixed(2)).toBe('91.00');
    expect(sim.tenant().overpayments.get(overpaymentId)!.Allocated.toFixed(2)).toBe('30.00');
    expect(sim.tenant().documents.get(okId(other))!.Allocated.isZero()).toBe(true);
    // Again (an answer lost after Xero allocated it): read first, nothing allocated twice.
    const [again] = await t.applyEarlyPayments!(ctx, [{ ...note, invoiceTargetId: okId(inv) }]);
    expect(again).toMatchObject({ ok: true, outcome: 'unchanged' });
    expect(sim.tenant().overpayments.get(overpaymentId)!.Allocated.toFixed(2)).toBe('30.00');
  });

  it('a payment larger than what its invoice owes is an overpayment, allocated to it for what it owes', async () => {
    const t = target();
    const c = await customer(t);
    const [inv] = await t.createInvoices(ctx, [
      invoice(c.id, 'INV-OVER-1', [{ net: '100.00', vat: '21.00', rate: '0.21' }]),
    ]);
    const [pay] = await t.createPayments!(ctx, [
      receipt(c.id, 'OVER-1', '150.00', okId(inv), { date: '2026-11-03', invoiceExternalReference: 'INV-OVER-1' }),
    ]);
    // Xero refuses a payment above the amount due: booked as an overpayment, noted by the engine.
    expect(pay).toMatchObject({
      ok: true,
      awaitsInvoice: true,
      message: 'booked as an overpayment: more than invoice INV-OVER-1 still owes; allocated to it for what it owes',
    });
    expect(okId(pay)).toMatch(/^OP:/);
    const [applied] = await t.applyEarlyPayments!(ctx, [
      {
        paymentSourceId: 'OVER-1',
        paymentTargetId: okId(pay),
        paymentReference: 'OVER-1',
        customerTargetId: c.id,
        invoiceTargetId: okId(inv),
        invoiceReference: 'INV-OVER-1',
        currency: 'EUR',
      },
    ]);
    expect(applied).toMatchObject({
      ok: true,
      message: expect.stringMatching(
        /^allocated EUR 121\.00 to invoice INV-OVER-1 \(Xero INV-\d+\), booked after it; the rest stays an overpayment on the contact$/,
      ),
    });
    const d = sim.tenant().documents.get(okId(inv))!;
    expect(sim.tenant().due(d).toFixed(2)).toBe('0.00');
    expect(sim.tenant().overpayments.get(okId(pay).slice('OP:'.length))!.Allocated.toFixed(2)).toBe('121.00');
  });
});

describe('Xero target: items and keys', () => {
  it('creates items by Code and updates the same item again, never a second', async () => {
    const t = target();
    const product = (name: string) => ({
      sourceId: 'p1',
      code: 'SKU-1',
      targetId: null,
      record: { kind: 'product' as const, sourceId: 'p1', code: 'SKU-1', name },
    });
    const [a] = await t.upsertProducts!(ctx, [product('Ticket')]);
    const [b] = await t.upsertProducts!(ctx, [product('Ticket, renamed')]);
    expect(okId(b)).toBe(okId(a));
    expect(b).toMatchObject({ outcome: 'updated', number: 'SKU-1' });
    const items = [...sim.tenant().items.values()].filter((i) => i.Code === 'SKU-1');
    expect(items.map((i) => i.Name)).toEqual(['Ticket, renamed']);
    expect((await t.findByReference(ctx, 'product', 'SKU-1'))?.targetId).toBe(okId(a));
  });

  it('an Idempotency-Key is the same for the same batch, another for another, and at most 128 characters', () => {
    const keys = [...Array(50).keys()].map((i) => `ll-${'x'.repeat(40)}-${i}`);
    const k = batchIdempotencyKey('invoices-authorised', keys);
    expect(batchIdempotencyKey('invoices-authorised', [...keys])).toBe(k);
    expect(batchIdempotencyKey('invoices-authorised', keys.slice(1))).not.toBe(k);
    expect(batchIdempotencyKey('invoices-draft', keys)).not.toBe(k);
    expect(k.length).toBeLessThanOrEqual(128);
  });
});
