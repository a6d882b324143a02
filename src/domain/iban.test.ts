import { describe, expect, it } from 'vitest';
import { bicProblem, formatIban, ibanProblem, isSepaIban, normalizeIban } from './iban.ts';

describe('IBAN and BIC', () => {
  it('accepts IBANs with right check digits and refuses a changed digit', () => {
    for (const iban of ['BE71 0961 2345 6769', 'GB82 WEST 1234 5698 7654 32', 'de89 3704 0044 0532 0130 00']) {
      expect(ibanProblem(normalizeIban(iban)), iban).toBeNull();
    }
    expect(ibanProblem('BE71096123456768')).toBe('has wrong check digits');
    expect(ibanProblem('GB82WEST12345698765433')).toBe('has wrong check digits');
    expect(ibanProblem('BE7109')).toMatch(/^must be an IBAN/);
    expect(ibanProblem('1271096123456769')).toMatch(/^must be an IBAN/);
  });

  it('prints an IBAN in groups of four', () => {
    expect(formatIban('BE71096123456769')).toBe('BE71 0961 2345 6769');
    expect(formatIban('GB82WEST12345698765432')).toBe('GB82 WEST 1234 5698 7654 32');
  });

  it('takes a BIC of 8 or 11 characters', () => {
    expect(bicProblem('GKCCBEBB')).toBeNull();
    expect(bicProblem('DEUTDEFF500')).toBeNull();
    expect(bicProblem('GKCCBEB')).not.toBeNull();
    expect(bicProblem('GKCCBEBB5')).not.toBeNull();
    expect(bicProblem('1KCCBEBB')).not.toBeNull();
  });
});

describe('SEPA', () => {
  it('tells an IBAN of a SEPA country from one outside it', () => {
    expect(isSepaIban('BE71096123456769')).toBe(true);
    expect(isSepaIban('GB82WEST12345698765432')).toBe(true);
    expect(isSepaIban('TR330006100519786457841326')).toBe(false);
  });
});
