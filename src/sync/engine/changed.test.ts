import { describe, expect, it } from 'vitest';
import { keepBooked, keptFee, paymentFeeAsBooked } from './changed.ts';
import type { CanonicalPayment } from '../canonical.ts';

const payment = (fee: string | null, currency = 'EUR'): CanonicalPayment => ({
  kind: 'payment',
  sourceId: 'P-1',
  externalReference: 'P-1',
  customerSourceId: 'C-1',
  date: '2026-11-03',
  amount: '100',
  currency,
  description: '',
  fee,
});

describe('keptFee: a payment’s fee as its map entry keeps it, read back for reconciliation', () => {
  it('reads back what paymentFeeAsBooked kept, in minor units of its currency; no fee is 0', () => {
    expect(keptFee(keepBooked(paymentFeeAsBooked(payment('1.5'))))).toEqual({ currency: 'EUR', amount: 150n });
    expect(keptFee(keepBooked(paymentFeeAsBooked(payment('250', 'JPY'))))).toEqual({ currency: 'JPY', amount: 250n });
    expect(keptFee(keepBooked(paymentFeeAsBooked(payment('0.125', 'KWD'))))).toEqual({ currency: 'KWD', amount: 125n });
    expect(keptFee(keepBooked(paymentFeeAsBooked(payment(null))))).toEqual({ currency: 'EUR', amount: 0n });
  });

  it('knows nothing of an entry that kept no fee (booked before 2026-12-06) or one it cannot read', () => {
    expect(keptFee(null)).toBeNull();
    expect(keptFee('3f9a…')).toBeNull();
    expect(keptFee('{"amount":"EUR 1.00"}')).toBeNull();
    expect(keptFee('{not json')).toBeNull();
    // A fee sent that did not parse is kept as the text it was: not compared.
    expect(keptFee(keepBooked(paymentFeeAsBooked(payment('1.234'))))).toBeNull();
    expect(keptFee('{"fee":"EUR -1.00"}')).toBeNull();
  });
});
