import { describe, expect, it } from 'vitest';
import { feeDocs, heldFee, matchFees } from './fee-match.ts';

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
