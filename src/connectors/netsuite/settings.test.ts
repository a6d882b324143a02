import { createPublicKey, verify, constants } from 'node:crypto';
import { LosslessNumber } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { clientAssertion } from './assertion.ts';
import { customerFields, itemLines, taxCodeFor } from './map.ts';
import { NetSuiteTargetSettings, accountHost, apiRootOf, rateScope, tokenUrlOf } from './settings.ts';
import { testKeyPair } from './simulator.ts';

/* Settings (strict, clear refusals), the account's hosts, the client assertion and the mapping of lines and customers. */

const RSA = testKeyPair('rsa');
const EC = testKeyPair('ec');
const base = {
  accountId: '1234567_SB1',
  clientId: 'client',
  certificateId: 'cert',
  privateKey: RSA.privateKey,
  currency: 'EUR',
};
const issues = (input: Record<string, unknown>) => {
  const r = NetSuiteTargetSettings.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('NetSuite settings', () => {
  it('takes the least a connection needs, with the documented defaults', () => {
    const s = NetSuiteTargetSettings.parse({ ...base, type: 'netsuite' });
    expect(s).toMatchObject({
      algorithm: 'PS256',
      scope: 'rest_webservices',
      itemType: 'nonInventorySaleItem',
      undepositedFunds: true,
    });
  });

  it('refuses unknown keys, malformed ids, a key that does not fit the algorithm, and missing accounts', () => {
    expect(issues({ ...base, clientSecret: 'x' })).toEqual([expect.stringMatching(/clientSecret/)]);
    expect(issues({ ...base, accountId: 'acme' })).toEqual([
      expect.stringMatching(/^accountId: the NetSuite account id/),
    ]);
    expect(issues({ ...base, privateKey: 'not a key' })).toEqual([
      expect.stringMatching(/^privateKey: the private key/),
    ]);
    expect(issues({ ...base, algorithm: 'ES256' })).toEqual([
      'privateKey: algorithm ES256 signs with an EC key; privateKey is rsa',
    ]);
    expect(issues({ ...base, privateKey: EC.privateKey, algorithm: 'ES256' })).toEqual([]);
    expect(issues({ ...base, algorithm: 'RS256' })).toEqual([expect.stringMatching(/^algorithm:/)]);
    expect(issues({ ...base, undepositedFunds: false })).toEqual([
      expect.stringMatching(/^accounts.bank: undepositedFunds: false needs/),
    ]);
    expect(issues({ ...base, undepositedFunds: false, accounts: { bank: '12' } })).toEqual([]);
    expect(issues({ ...base, taxRates: { '0.21': 'VAT21' } })).toEqual([
      expect.stringMatching(/^taxRates.0.21: the internal id of a tax code/),
    ]);
    expect(issues({ ...base, currency: 'eur' })).toEqual([expect.stringMatching(/^currency:/)]);
    expect(issues({ ...base, limits: { concurrent: 0 } })).toEqual([expect.stringMatching(/^limits.concurrent:/)]);
  });

  it('takes one authentication, complete: client credentials or token-based, never a mix', () => {
    const tba = { consumerKey: 'ck', consumerSecret: 'cs', tokenId: 'ti', tokenSecret: 'ts' };
    const { clientId: _c, certificateId: _k, privateKey: _p, ...bare } = base;
    expect(issues({ ...bare, ...tba })).toEqual([]);
    expect(issues({ ...bare, ...tba, tokenSecret: undefined })).toEqual([
      ': give one authentication, complete: OAuth 2.0 client credentials (clientId, certificateId, privateKey) or token-based authentication (consumerKey, consumerSecret, tokenId, tokenSecret); given: consumerKey, consumerSecret, tokenId',
    ]);
    expect(issues({ ...base, ...tba })).toEqual([expect.stringMatching(/^: give one authentication, complete/)]);
    expect(issues(bare)).toEqual([expect.stringMatching(/given: none$/)]);
  });

  it('maps an account id to its REST host and token endpoint, and its budget to one scope', () => {
    expect(accountHost('1234567_SB1')).toBe('1234567-sb1');
    expect(apiRootOf('1234567')).toBe('https://1234567.suitetalk.api.netsuite.com/services/rest');
    expect(tokenUrlOf('1234567_SB1')).toBe(
      'https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token',
    );
    expect(rateScope('1234567_sb1', undefined)).toEqual({
      key: 'netsuite:account:1234567_SB1',
      limits: {
        concurrent: 5,
        callsPerDay: undefined,
        callsPerMinute: undefined,
        callsPerSecond: undefined,
        writeReserve: undefined,
      },
    });
    expect(rateScope('1234567', { concurrent: 15 }).limits.concurrent).toBe(15);
  });
});

describe('the client assertion', () => {
  const decode = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;
  it('is a JWT naming the certificate, the integration, the scopes and the token endpoint, signed PS256', () => {
    const jwt = clientAssertion({
      clientId: 'client',
      certificateId: 'cert-1',
      privateKey: RSA.privateKey,
      algorithm: 'PS256',
      scope: 'rest_webservices,restlets',
      audience: 'https://x/token',
      now: 1_800_000_000,
    });
    const [h, p, sig] = jwt.split('.');
    expect(decode(h!)).toEqual({ typ: 'JWT', alg: 'PS256', kid: 'cert-1' });
    expect(decode(p!)).toEqual({
      iss: 'client',
      scope: ['rest_webservices', 'restlets'],
      aud: 'https://x/token',
      iat: 1_800_000_000,
      exp: 1_800_000_300,
    });
    const key = createPublicKey(RSA.publicKey);
    const ok = verify(
      'sha256',
      Buffer.from(`${h}.${p}`),
      { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      Buffer.from(sig!, 'base64url'),
    );
    expect(ok).toBe(true);
  });

  it('signs ES256 with a raw (r, s) signature of 64 bytes', () => {
    const jwt = clientAssertion({
      clientId: 'c',
      certificateId: 'k',
      privateKey: EC.privateKey,
      algorithm: 'ES256',
      scope: 'rest_webservices',
      audience: 'a',
    });
    const [h, p, sig] = jwt.split('.');
    expect(Buffer.from(sig!, 'base64url')).toHaveLength(64);
    expect(
      verify(
        'sha256',
        Buffer.from(`${h}.${p}`),
        { key: createPublicKey(EC.publicKey), dsaEncoding: 'ieee-p1363' },
        Buffer.from(sig!, 'base64url'),
      ),
    ).toBe(true);
  });
});

describe('NetSuite mapping', () => {
  const rates = { '0.21': '5', '0.09': '6' };
  it('finds the tax code of a rate, lets 0 go without one, and refuses an unmapped rate', () => {
    expect(taxCodeFor('0.210', rates)).toEqual({ id: '5' });
    expect(taxCodeFor('0', rates)).toEqual({ id: null });
    expect(taxCodeFor('0.06', rates)).toMatchObject({
      code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
      message: expect.stringMatching(/6%/),
    });
  });

  it('books each line on its product or the default item, as exact numbers', () => {
    const lines = itemLines(
      [
        {
          description: 'Two',
          netAmount: '20.00',
          vatRate: '0.21',
          vatAmount: '4.20',
          quantity: '2',
          unitPrice: '10.00',
          productSourceId: 'P1',
        },
        { description: '', netAmount: '5.50', vatRate: '0', vatAmount: '0.00' },
      ],
      { P1: '77' },
      '9',
      rates,
    );
    expect(
      JSON.parse(JSON.stringify(lines, (_k, v: unknown) => (v instanceof LosslessNumber ? `${v.value}` : v))),
    ).toEqual([
      { item: { id: '77' }, description: 'Two', quantity: '2', rate: '10.00', taxCode: { id: '5' } },
      { item: { id: '9' }, quantity: '1', rate: '5.50' },
    ]);
  });

  it('refuses a line without a product when no default item is set', () => {
    expect(
      itemLines([{ description: 'x', netAmount: '1.00', vatRate: '0', vatAmount: '0.00' }], {}, undefined, rates),
    ).toMatchObject({
      code: 'TARGET_SETTING_MISSING',
      field: 'lines[0].productSourceId',
    });
  });

  it('sends only the customer fields the record carries; a new one gets its subsidiary', () => {
    expect(customerFields({ kind: 'customer', sourceId: 'c', name: 'Acme', email: null }, '3', true)).toEqual({
      companyName: 'Acme',
      isPerson: false,
      subsidiary: { id: '3' },
      email: '',
    });
    expect(customerFields({ kind: 'customer', sourceId: 'c', name: 'Acme', phone: '+31' }, '3', false)).toEqual({
      companyName: 'Acme',
      phone: '+31',
    });
  });
});
