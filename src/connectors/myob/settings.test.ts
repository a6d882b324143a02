import { describe, expect, it } from 'vitest';
import { MyobSettings, rateScope } from './settings.ts';

/* The `target:` block of a MYOB pipeline: strict, with clear messages, and the key's budget as data. */

const good = {
  clientId: 'key',
  clientSecret: 'secret',
  refreshToken: 'refresh',
  companyFileId: '5b2f0c1e-8a3d-4c7e-9f10-2a6b7c8d9e01',
  accounts: { sales: '4-1000', bank: '1-1110' },
};

const problems = (input: unknown) => {
  const r = MyobSettings.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('MYOB settings', () => {
  it('takes the company file, its credentials and the accounts; AUD and GST by default', () => {
    const s = MyobSettings.parse({ ...good, companyFileUser: 'Administrator', companyFilePassword: '' });
    expect(s).toMatchObject({ currency: 'AUD', customerTaxCode: 'GST', mode: 'final', companyFilePassword: '' });
  });

  it('refuses unknown keys, a company file that is not a GUID, a password without a user, missing accounts and drafts', () => {
    expect(problems({ ...good, organisation: 'x' })).toEqual([expect.stringMatching(/organisation/)]);
    expect(problems({ ...good, companyFileId: 'my-file' })).toEqual([
      expect.stringMatching(/^companyFileId: the company file id: a GUID/),
    ]);
    expect(problems({ ...good, companyFilePassword: 'pw' })).toEqual([
      'companyFilePassword: companyFilePassword needs companyFileUser',
    ]);
    expect(problems({ ...good, accounts: { sales: '4-1000' } })).toEqual([
      expect.stringMatching(/^accounts: MYOB needs accounts.sales .* and accounts.bank/),
    ]);
    expect(problems({ ...good, mode: 'draft' })).toEqual([
      expect.stringMatching(/^mode: .*mode: draft is not supported/),
    ]);
    expect(problems({ ...good, currency: 'aud' })).toEqual([expect.stringMatching(/^currency: an ISO 4217 code/)]);
  });

  it('one budget per API key: 8 a second and 1,000,000 a day unless overridden', () => {
    expect(rateScope('key', undefined)).toEqual({
      key: 'myob:key:key',
      limits: {
        callsPerSecond: 8,
        callsPerMinute: undefined,
        callsPerDay: 1_000_000,
        concurrent: 4,
        writeReserve: undefined,
      },
    });
    expect(rateScope('key', { callsPerSecond: 4 }).limits.callsPerSecond).toBe(4);
  });
});
