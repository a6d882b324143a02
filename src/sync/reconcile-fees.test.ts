import { describe, expect, it } from 'vitest';
import type { TargetDoc } from './reconcile-data.ts';
import { type BookedPayment, feeComparison } from './reconcile-fees.ts';

/** A payment found in the target whose fee it could not tell (`fee` undefined). */
const untold: TargetDoc = {
  id: 't-1',
  kind: 'payment',
  customerCode: 'K1',
  currency: 'EUR',
  date: '2026-11-03',
  gross: 10000n,
  externalReference: 'PAY-1',
  items: 1,
  label: 'payment 1 (PAY-1)',
};
const sent: BookedPayment = {
  sourceId: 'PAY-1',
  externalReference: 'PAY-1',
  date: '2026-11-03',
  fee: { currency: 'EUR', amount: 150n },
};

describe('feeComparison: why a payment’s fee was not compared, said in the notes', () => {
  it('names a target that reads its documents back but cannot tell this fee', () => {
    const fees = feeComparison({ type: 'xero', capabilities: { reconciliation: true } }, new Map(), () => undefined);
    expect(fees.compare(sent, untold)).toBe(true);
    expect(fees.summary()).toEqual({ compared: 0, notCompared: 1 });
    expect(fees.notes()).toEqual([expect.stringMatching(/the xero target cannot tell the fee it holds for each/)]);
  });

  it('names a target compared with what it acknowledged, which reads nothing back', () => {
    // A target plugin that lists nothing (the built-in webhook target books no fee to compare).
    const fees = feeComparison({ type: 'erp', capabilities: { reconciliation: false } }, new Map(), () => undefined);
    fees.compare(sent, untold);
    expect(fees.notes()).toEqual([
      expect.stringMatching(/the erp target is compared with what it acknowledged, not read back/),
    ]);
  });

  it('compares no fee of a pipeline that leaves fees to the books, whatever the target holds', () => {
    const mismatches: unknown[] = [];
    const fees = feeComparison({ type: 'ledger' }, new Map(), (m) => void mismatches.push(m), true);
    // The ledger holds no fee for it, the source says 1.50: left to the books, not a difference.
    expect(fees.compare(sent, { ...untold, fee: null })).toBe(true);
    expect(mismatches).toEqual([]);
    expect(fees.summary()).toEqual({ compared: 0, notCompared: 1 });
    expect(fees.notes()).toEqual([expect.stringMatching(/leaves fees to the books/)]);
  });
});
