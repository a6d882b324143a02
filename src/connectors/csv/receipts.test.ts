import { describe, expect, it } from 'vitest';
import { parseImport } from './parse.ts';

/* Receipts and customers files: a key the file already used refuses its row (docs/imports.md). */

const parse = (kind: 'receipts' | 'customers', lines: string[]) =>
  parseImport(new TextEncoder().encode(lines.join('\n') + '\n'), `${kind}.csv`, { kind });

const outcomes = (p: Awaited<ReturnType<typeof parse>>) =>
  p.rows.map((r) => [r.line, r.sourceId, r.problems?.map((x) => `${x.field}: ${x.message}`) ?? null]);

describe('customers files: two rows never become one ledger customer', () => {
  it('refuses an id that differs from an earlier one only in case, naming the other line', async () => {
    const p = await parse('customers', ['customer_id,name', 'k-9,Kay Nine', 'K-9,Kennel Nine', 'k 9,Kay Space']);
    expect(outcomes(p)).toEqual([
      [2, 'k-9', null],
      [
        3,
        'K-9',
        [
          'customer_id: "K-9" would be the same ledger customer, K-9, as "k-9" on line 2 (a customer code is the id in upper case); give one of them its own code',
        ],
      ],
      [
        4,
        'k 9',
        [
          'customer_id: "k 9" would be the same ledger customer, K-9, as "k-9" on line 2 (a customer code is the id in upper case); give one of them its own code',
        ],
      ],
    ]);
    expect(p.items.filter((i) => 'record' in i).map((i) => ('record' in i ? i.record.sourceId : null))).toEqual([
      'k-9',
    ]);
  });

  it('keeps ids that differ in case as two customers when each has its own code, and refuses a repeated code', async () => {
    const p = await parse('customers', [
      'customer_id,code,name',
      'k-9,KAY,Kay Nine',
      'K-9,KENNEL,Kennel Nine',
      'X-1,kay,Someone Else',
      'K-10,,Kay Ten',
      'other,k-10,Other',
    ]);
    expect(outcomes(p)).toEqual([
      [2, 'k-9', null],
      [3, 'K-9', null],
      [4, 'X-1', ['code: "KAY" is already the code of customer "k-9" on line 2']],
      [5, 'K-10', null],
      [6, 'other', ['code: "K-10" is already the code of customer "K-10" on line 5']],
    ]);
  });
});

describe('receipts files', () => {
  it('refuses a payment reference the file already used, ignoring case, as the ledger compares references', async () => {
    const p = await parse('receipts', [
      'payment_reference,customer_id,date,amount,currency',
      'PAY-1,K1,2026-11-05,10.00,EUR',
      'pay-1,K1,2026-11-05,20.00,EUR',
    ]);
    expect(outcomes(p)).toEqual([
      [2, 'PAY-1', null],
      [3, 'pay-1#3', ['payment_reference: "pay-1" is already used on line 2']],
    ]);
  });
});
