import { describe, expect, it } from 'vitest';
import { odooTarget } from './index.ts';
import { OdooSettings, paymentReferenceField, rateScope } from './settings.ts';

/*
 * The settings of an Odoo target: strict (an unknown or misspelt key is refused by name), the
 * server, database, login, API key and major version required, the API key a secret, the server
 * the one outbound address, and one rate budget per database.
 */

const base = {
  url: 'https://acme.odoo.com',
  database: 'acme',
  login: 'api@acme.example',
  apiKey: '0123456789abcdef0123456789abcdef01234567',
  version: '17',
};

describe('Odoo settings', () => {
  it('take the server, database, login, API key and version, and refuse what they do not know, by name', () => {
    expect(OdooSettings.parse(base)).toMatchObject(base);
    const unknown = OdooSettings.safeParse({ ...base, password: 'secret' });
    expect(unknown.success).toBe(false);
    expect(JSON.stringify(unknown.error?.issues)).toMatch(/password/);
    const misspelt = OdooSettings.safeParse({ ...base, journals: { sale: 1 } });
    expect(JSON.stringify(misspelt.error?.issues)).toMatch(/sale/);
    for (const key of ['url', 'database', 'login', 'apiKey', 'version'] as const) {
      const { [key]: _gone, ...rest } = base;
      const missing = OdooSettings.safeParse(rest);
      expect(missing.success, key).toBe(false);
      expect(JSON.stringify(missing.error?.issues)).toContain(key);
    }
  });

  it('know versions 16, 17 and 18 only, and where each keeps a payment’s reference', () => {
    expect(OdooSettings.safeParse({ ...base, version: '15' }).success).toBe(false);
    expect(OdooSettings.safeParse({ ...base, version: 17 }).success).toBe(false);
    expect(OdooSettings.safeParse({ ...base, version: '19' }).success).toBe(false);
    expect([paymentReferenceField('16'), paymentReferenceField('17'), paymentReferenceField('18')]).toEqual([
      'ref',
      'ref',
      'memo',
    ]);
  });

  it('refuse journals, taxes and companies that are not record ids, and limits that are not positive', () => {
    expect(OdooSettings.safeParse({ ...base, journals: { bank: 'BNK1' } }).success).toBe(false);
    expect(OdooSettings.safeParse({ ...base, taxRates: { '0.21': 'VAT21' } }).success).toBe(false);
    expect(OdooSettings.safeParse({ ...base, taxRates: { high: 3 } }).success).toBe(false);
    expect(OdooSettings.safeParse({ ...base, companyId: 0 }).success).toBe(false);
    expect(OdooSettings.safeParse({ ...base, limits: { callsPerMinute: 0 } }).success).toBe(false);
    expect(OdooSettings.safeParse({ ...base, url: 'ftp://acme.odoo.com' }).success).toBe(false);
    expect(
      OdooSettings.safeParse({ ...base, journals: { sales: 1, bank: 7 }, taxRates: { '0.21': 3 }, companyId: 2 })
        .success,
    ).toBe(true);
  });

  it('declare the API key secret, the server outbound, and one budget per database (120 a minute, 4 at once by default)', () => {
    expect(odooTarget.secrets).toEqual(['apiKey']);
    expect(odooTarget.outbound!(base)).toEqual([{ field: 'url', url: 'https://acme.odoo.com' }]);
    expect(odooTarget.rateScopes!(base, null)).toEqual([
      {
        key: 'odoo:db:acme.odoo.com/acme',
        limits: expect.objectContaining({ callsPerMinute: 120, concurrent: 4 }) as unknown,
      },
    ]);
    expect(
      rateScope({ ...OdooSettings.parse(base), limits: { callsPerMinute: 30, concurrent: 1 } }).limits,
    ).toMatchObject({
      callsPerMinute: 30,
      concurrent: 1,
    });
  });
});
