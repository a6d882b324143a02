import { describe, expect, it } from 'vitest';
import { creditPosition } from './credit-limit.ts';

describe('creditPosition', () => {
  it('treats a limit of 0 as no limit', () => {
    expect(creditPosition(1_000_000n, 0n)).toEqual({ creditLeft: 0n, overCreditLimit: false, overCreditLimitBy: 0n });
  });
  it('leaves the difference under the limit, including when the customer is in credit', () => {
    expect(creditPosition(30000n, 100000n)).toEqual({
      creditLeft: 70000n,
      overCreditLimit: false,
      overCreditLimitBy: 0n,
    });
    expect(creditPosition(-5000n, 100000n)).toEqual({
      creditLeft: 105000n,
      overCreditLimit: false,
      overCreditLimitBy: 0n,
    });
  });
  it('is not over the limit at exactly the limit, and over it one minor unit later', () => {
    expect(creditPosition(100000n, 100000n)).toEqual({ creditLeft: 0n, overCreditLimit: false, overCreditLimitBy: 0n });
    expect(creditPosition(100001n, 100000n)).toEqual({ creditLeft: 0n, overCreditLimit: true, overCreditLimitBy: 1n });
  });
});
