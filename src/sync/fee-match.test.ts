import { describe, expect, it } from 'vitest';
import { feeDocs, heldFee, matchFees, paymentFee, readPaymentFees, remoteFeeRemedy } from './fee-match.ts';
import type { TargetDocument } from './target.ts';

interface Doc {
  id: string;
  mark: string | null;
  currency: string;
  total: string;
}
const doc = (id: string, mark: string | null, total = '1.50', currency = 'EUR'): Doc => ({ id, mark, currency, total });
const byRef = (entries: [string, Doc[]][]) => new Map(entries);

describe('matchFees', () => {
  it('takes the fees marked with the payment’s customer, never another customer’s', () => {
    const under = byRef([['R1', [doc('a', 'C1'), doc('b', 'C2'), doc('c', 'C1')]]]);
    const [c1, c2, c3] = matchFees(
      [
        { reference: 'R1', customer: 'C1' },
        { reference: 'R1', customer: 'C2' },
        { reference: 'R1', customer: 'C3' },
      ],
      under,
      (d) => d.mark,
    );
    expect(feeDocs(c1!)!.map((d) => d.id)).toEqual(['a', 'c']);
    expect(feeDocs(c2!)!.map((d) => d.id)).toEqual(['b']);
    // C3 has no fee: the others' marked fees are not its own.
    expect(c3).toEqual({ kind: 'none' });
    expect(feeDocs(c3!)).toEqual([]);
  });

  it('takes an unmarked fee only when nothing else can be meant', () => {
    const one = byRef([['R1', [doc('old', null)]]]);
    expect(matchFees([{ reference: 'R1', customer: 'C1' }], one, (d) => d.mark)).toEqual([
      { kind: 'unmarked', doc: doc('old', null) },
    ]);
    // Another payment of the lookup under the reference: whose it is cannot be told.
    const shared = matchFees(
      [
        { reference: 'R1', customer: 'C1' },
        { reference: 'R1', customer: 'C2' },
      ],
      one,
      (d) => d.mark,
    );
    expect(shared.map((m) => [m.kind, 'shared' in m ? m.shared : null])).toEqual([
      ['ambiguous', true],
      ['ambiguous', true],
    ]);
    expect(feeDocs(shared[0]!)).toBeNull();
    // Two unmarked under one reference: not guessed either.
    const two = matchFees(
      [{ reference: 'R1', customer: 'C1' }],
      byRef([['R1', [doc('x', null), doc('y', null)]]]),
      (d) => d.mark,
    );
    expect(two).toEqual([{ kind: 'ambiguous', docs: [doc('x', null), doc('y', null)], shared: false }]);
    // A marked fee wins over an unmarked one.
    const both = matchFees(
      [{ reference: 'R1', customer: 'C1' }],
      byRef([['R1', [doc('old', null), doc('new', 'C1')]]]),
      (d) => d.mark,
    );
    expect(feeDocs(both[0]!)!.map((d) => d.id)).toEqual(['new']);
  });
});

describe('heldFee', () => {
  const read = {
    currencyOf: (d: Doc) => d.currency,
    amountOf: (d: Doc) => (/^\d+\.\d\d$/.test(d.total) ? BigInt(d.total.replace('.', '')) : null),
    idOf: (d: Doc) => d.id,
    label: (ids: string[]) => `fee ${ids.join(' and ')}`,
    notAnAmount: (d: Doc) => new Error(`not an amount: ${d.total}`),
  };

  it('sums the documents in the payment’s currency, or else in the first one’s, and names them together', () => {
    expect(
      heldFee([doc('a', 'C1', '1.50'), doc('b', 'C1', '0.25'), doc('u', 'C1', '9.00', 'USD')], 'EUR', read),
    ).toEqual({
      targetId: 'a',
      label: 'fee a and b',
      currency: 'EUR',
      amount: 175n,
    });
    expect(heldFee([doc('u', 'C1', '9.00', 'USD'), doc('g', 'C1', '1.00', 'GBP')], 'EUR', read)).toEqual({
      targetId: 'u',
      label: 'fee u',
      currency: 'USD',
      amount: 900n,
    });
  });

  it('refuses a document whose amount is not one, rather than count it as nothing', () => {
    expect(() => heldFee([doc('a', 'C1', '1.50'), doc('b', 'C1', 'abc')], 'EUR', read)).toThrow('not an amount: abc');
  });
});

describe('readPaymentFees', () => {
  it('sets each payment’s fee, null for none, and leaves unknown what cannot be told or has no reference', async () => {
    const payment = (targetId: string, externalReference: string, customerTargetId: string): TargetDocument => ({
      targetId,
      kind: 'payment',
      number: targetId,
      customerTargetId,
      externalReference,
      date: '2026-11-03',
      dueDate: null,
      currency: 'EUR',
      gross: 10000n,
      lines: 0,
    });
    const payments = [
      payment('p1', 'R1', 'C1'),
      payment('p2', 'R2', 'C1'),
      payment('p3', 'R3', 'C1'),
      payment('p4', 'R3', 'C2'),
      payment('p5', '', 'C1'),
    ];
    const asked: string[][] = [];
    await readPaymentFees(payments, {
      byReference: async (references) => {
        asked.push(references);
        return byRef([
          ['R1', [doc('a', 'C1', '1.50')]],
          ['R3', [doc('old', null)]],
        ]);
      },
      markOf: (d) => d.mark,
      reader: () => ({
        currencyOf: (d) => d.currency,
        amountOf: (d) => BigInt(d.total.replace('.', '')),
        idOf: (d) => d.id,
        label: (ids) => ids.join(', '),
        notAnAmount: () => new Error('not an amount'),
      }),
    });
    // The payment without a reference is not asked about.
    expect(asked).toEqual([['R1', 'R2', 'R3', 'R3']]);
    expect(payments.map((p) => (p.fee === undefined ? 'unknown' : p.fee === null ? 'none' : p.fee.amount))).toEqual([
      150n,
      'none',
      'unknown',
      'unknown',
      'unknown',
    ]);
  });
});

describe('remoteFeeRemedy', () => {
  const remedy = remoteFeeRemedy('Xero', (reference) => `spend it under ${reference}`);
  const fee = { targetId: 'b1', label: 'spend money b1', currency: 'EUR', amount: 150n };

  it('says how to book a missing fee, and to correct or delete a wrong one on whichever side is wrong', () => {
    expect(remedy('missing', { reference: 'R1', fee: null })).toBe('spend it under R1');
    expect(remedy('amount', { reference: 'R1', fee })).toBe(
      'if the source is right, correct spend money b1 in Xero; if Xero is, correct the fee in the source',
    );
    expect(remedy('extra', { reference: 'R1', fee })).toBe(
      'if the source is right, delete spend money b1 in Xero; if Xero is, correct the fee in the source',
    );
  });
});

describe('paymentFee: a payment’s fee as a target books it', () => {
  it('is the fee in minor units; none when absent or zero', () => {
    expect(paymentFee({ fee: '2.50', currency: 'EUR' })).toBe(250n);
    expect(paymentFee({ fee: '1', currency: 'JPY' })).toBe(1n);
    expect([paymentFee({ currency: 'EUR' }), paymentFee({ fee: null, currency: 'EUR' })]).toEqual([null, null]);
    expect(paymentFee({ fee: '0.00', currency: 'EUR' })).toBeNull();
  });

  it('refuses a fee that is not an amount of the currency, or below zero, on `fee`', () => {
    expect(paymentFee({ fee: '0.001', currency: 'EUR' })).toMatchObject({ code: 'AMOUNT_INVALID', field: 'fee' });
    expect(paymentFee({ fee: '-1.00', currency: 'EUR' })).toMatchObject({
      code: 'AMOUNT_INVALID',
      field: 'fee',
      message: 'fee: a fee is never negative',
    });
  });
});
