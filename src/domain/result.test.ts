import { describe, expect, it } from 'vitest';
import { type Failure, type Result, err, fail, ok } from './result.ts';

/** A caller as the engine writes one: the value only after checking `ok`. */
function double(r: Result<bigint>): bigint | string {
  return r.ok ? r.value * 2n : `${r.error.code}: ${r.error.message}`;
}

describe('Result', () => {
  it('carries a value or a failure, told apart by ok', () => {
    expect(ok(21n)).toStrictEqual({ ok: true, value: 21n });
    expect(double(ok(21n))).toBe(42n);
    const e: Failure = { code: 'AMOUNT_INVALID', message: 'fee: "1.234" has more decimals than EUR allows' };
    expect(err(e)).toStrictEqual({ ok: false, error: e });
    expect(double(err(e))).toBe('AMOUNT_INVALID: fee: "1.234" has more decimals than EUR allows');
  });

  it('fail() adds field and retryable only when given', () => {
    expect(fail('TARGET_REFUSED', 'closed period')).toStrictEqual({
      ok: false,
      error: { code: 'TARGET_REFUSED', message: 'closed period' },
    });
    expect(fail('TARGET_UNAVAILABLE', 'timed out', { retryable: false, field: 'amount' })).toStrictEqual({
      ok: false,
      error: { code: 'TARGET_UNAVAILABLE', message: 'timed out', field: 'amount', retryable: false },
    });
  });
});
