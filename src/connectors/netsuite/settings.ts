import { createPrivateKey } from 'node:crypto';
import { z } from 'zod';
import type { RateScope } from '../../sync/remote/contracts.ts';
import { LimitOverrides } from '../../sync/remote/settings.ts';

/*
 * NetSuite as data: the account's hosts, its published limits and the settings of a pipeline's
 * `target: {type: netsuite, …}` block. docs/connectors/netsuite.md.
 */

export const SYSTEM = 'NetSuite';
export const TYPE = 'netsuite';

/** The signing algorithms NetSuite takes for the client assertion ("The Request Token Structure"). */
export const ALGORITHMS = ['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** The item records this target creates products as. */
export const ITEM_TYPES = ['nonInventorySaleItem', 'serviceSaleItem'] as const;

/**
 * An account id as NetSuite shows it (Setup → Company → Company Information): `1234567`, or a
 * sandbox / release preview `1234567_SB1`, `1234567_RP`.
 */
export const ACCOUNT_ID = /^[0-9]{1,12}(_(SB[0-9]{1,2}|RP))?$/i;

/** The account's host part: `1234567_SB1` → `1234567-sb1` ("Dynamic Domain Names for REST web services"). */
export const accountHost = (accountId: string): string => accountId.toLowerCase().replace(/_/g, '-');

/** `https://<account>.suitetalk.api.netsuite.com/services/rest`: the record service is `/record/v1` under it. */
export const apiRootOf = (accountId: string): string =>
  `https://${accountHost(accountId)}.suitetalk.api.netsuite.com/services/rest`;
/** The OAuth 2.0 token endpoint of the account ("POST Request to the Token Endpoint"). */
export const tokenUrlOf = (accountId: string): string => `${apiRootOf(accountId)}/auth/oauth2/v1/token`;

/**
 * NetSuite governs REST web services by the requests an account has in flight at once, shared by
 * every integration of the account: 5 on the lowest service tier without SuiteCloud Plus, 15 and
 * more above ("Concurrency Governance Limits Based on Service Tiers and SuiteCloud Plus
 * Licenses"). The default is the lowest tier's, raised with `limits.concurrent`. NetSuite
 * publishes no per-minute or per-day count for REST that we could source: none is set unless the
 * pipeline sets one. The record service takes one record a request: `batchSize` is how many
 * documents one call of the engine hands the target.
 */
export const PUBLISHED_LIMITS = { concurrent: 5, batchSize: 10 } as const;

const PEM_KEY = /^-----BEGIN (RSA |EC )?PRIVATE KEY-----[\s\S]+-----END (RSA |EC )?PRIVATE KEY-----\s*$/;
const httpsUrl = z.url({ protocol: /^https?$/ });
const internalId = (what: string) =>
  z
    .string()
    .regex(/^\d{1,18}$/, `the internal id of ${what}: digits`)
    .meta({ description: `The internal id of ${what}.` });

/** The `target:` block of a pipeline whose target is NetSuite. */
export const NetSuiteSettings = z
  .strictObject({
    type: z.literal(TYPE).optional(),
    accountId: z
      .string()
      .regex(
        ACCOUNT_ID,
        'the NetSuite account id, such as 1234567 or 1234567_SB1 (Setup → Company → Company Information)',
      )
      .meta({ description: 'The NetSuite account id (1234567, 1234567_SB1): picks the account’s REST host.' }),
    clientId: z.string().min(1).max(200).optional().meta({
      description:
        'OAuth 2.0: the client id of the integration record with the client credentials grant enabled (the `iss` of each assertion).',
    }),
    certificateId: z.string().min(1).max(200).optional().meta({
      description:
        'OAuth 2.0: the certificate id NetSuite showed when the certificate was mapped (OAuth 2.0 Client Credentials (M2M) Setup): the `kid` of each assertion.',
    }),
    privateKey: z
      .string()
      .max(20_000)
      .regex(PEM_KEY, 'the private key of the mapped certificate, in PEM (-----BEGIN PRIVATE KEY-----)')
      .optional()
      .meta({ description: 'OAuth 2.0: the private key of the mapped certificate, PEM. Secret.' }),
    consumerKey: z.string().min(1).max(200).optional().meta({
      description: 'Token-based authentication: the consumer key of the integration record.',
    }),
    consumerSecret: z.string().min(1).max(200).optional().meta({
      description: 'Token-based authentication: the consumer secret of the integration record. Secret.',
    }),
    tokenId: z.string().min(1).max(200).optional().meta({
      description: 'Token-based authentication: the token id of the access token (user, role, integration).',
    }),
    tokenSecret: z.string().min(1).max(200).optional().meta({
      description: 'Token-based authentication: the token secret of the access token. Secret.',
    }),
    algorithm: z.enum(ALGORITHMS).default('PS256').meta({
      description:
        'How assertions are signed: PS256 (default), PS384, PS512 for an RSA key; ES256, ES384, ES512 for an EC key.',
    }),
    scope: z
      .string()
      .regex(/^(restlets|rest_webservices|suite_analytics)(,(restlets|rest_webservices|suite_analytics))*$/)
      .default('rest_webservices')
      .meta({ description: 'The scopes asked for; must include rest_webservices. Default rest_webservices.' }),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR')
      .meta({
        description:
          'The currency documents are booked in (the subsidiary’s base currency, ISO code): documents in another are refused with CURRENCY_MISMATCH.',
      }),
    subsidiaryId: internalId('the subsidiary new customers belong to (OneWorld accounts)').optional(),
    itemType: z.enum(ITEM_TYPES).default('nonInventorySaleItem').meta({
      description: 'The item record products are created as: nonInventorySaleItem (default) or serviceSaleItem.',
    }),
    incomeAccountId: internalId('the income account of new items').optional(),
    defaultItemId: internalId('the item invoice lines without a product are booked on').optional(),
    undepositedFunds: z.boolean().default(true).meta({
      description:
        'Customer payments go to Undeposited Funds (default); false books them to the account in accounts.bank.',
    }),
    accounts: z
      .strictObject({
        bank: internalId('the bank account payments are deposited to').optional(),
        fees: internalId(
          'the expense account payment providers’ fees are booked to (else the one active expense account named for bank or merchant fees)',
        ).optional(),
        feesBank: internalId(
          'the bank account fees are paid out of while payments go to Undeposited Funds (else the one active bank account)',
        ).optional(),
      })
      .optional(),
    taxRates: z
      .record(z.string().regex(/^\d+(\.\d+)?$/, 'a rate such as 0.21'), internalId('a tax code'))
      .optional()
      .meta({ description: 'VAT rate ("0.21") → the internal id of the NetSuite tax code lines of that rate take.' }),
    baseUrl: httpsUrl.optional(),
    tokenUrl: httpsUrl.optional(),
    limits: LimitOverrides.optional(),
    timeoutMs: z.number().int().min(1000).max(120_000).optional(),
  })
  .meta({ description: 'Settings of the NetSuite target.' });
export type NetSuiteSettings = z.output<typeof NetSuiteSettings>;

/** The kind of key an algorithm signs with, or why this PEM is none. */
export function keyProblem(pem: string, algorithm: Algorithm): string | null {
  let type: string | undefined;
  try {
    type = createPrivateKey(pem).asymmetricKeyType;
  } catch {
    return 'privateKey is not a private key that can be read (PEM, unencrypted)';
  }
  const wanted = algorithm.startsWith('PS') ? 'rsa' : 'ec';
  return type === wanted || (wanted === 'rsa' && type === 'rsa-pss')
    ? null
    : `algorithm ${algorithm} signs with an ${wanted.toUpperCase()} key; privateKey is ${type ?? 'of another type'}`;
}

const M2M = ['clientId', 'certificateId', 'privateKey'] as const;
const TBA = ['consumerKey', 'consumerSecret', 'tokenId', 'tokenSecret'] as const;

/** Which authentication the settings configure, when they configure exactly one completely. */
export function authOf(s: NetSuiteSettings): 'm2m' | 'tba' | null {
  const m2m = M2M.filter((k) => s[k] !== undefined).length;
  const tba = TBA.filter((k) => s[k] !== undefined).length;
  if (m2m === M2M.length && tba === 0) return 'm2m';
  if (tba === TBA.length && m2m === 0) return 'tba';
  return null;
}

/**
 * As a pipeline is saved with them: one authentication, complete (OAuth 2.0 client credentials:
 * clientId, certificateId, privateKey; or token-based: consumerKey, consumerSecret, tokenId,
 * tokenSecret), a key that fits the algorithm, and a bank account when payments skip
 * Undeposited Funds.
 */
export const NetSuiteTargetSettings = NetSuiteSettings.superRefine((s, ctx) => {
  if (!authOf(s)) {
    const given = [...M2M, ...TBA].filter((k) => s[k] !== undefined);
    ctx.addIssue({
      code: 'custom',
      message: `give one authentication, complete: OAuth 2.0 client credentials (${M2M.join(', ')}) or token-based authentication (${TBA.join(', ')}); given: ${given.join(', ') || 'none'}`,
      path: [],
    });
  }
  // A value that is no PEM at all has its own refusal already.
  const problem =
    s.privateKey !== undefined && PEM_KEY.test(s.privateKey) ? keyProblem(s.privateKey, s.algorithm) : null;
  if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['privateKey'] });
  if (!s.undepositedFunds && !s.accounts?.bank)
    ctx.addIssue({
      code: 'custom',
      message: 'undepositedFunds: false needs accounts.bank (the internal id of the account payments are deposited to)',
      path: ['accounts', 'bank'],
    });
});

/** The one budget of an account: every request to it, whoever makes it. */
export function rateScope(accountId: string, overrides: LimitOverrides | undefined): RateScope {
  return {
    key: `netsuite:account:${accountId.toUpperCase()}`,
    limits: {
      callsPerSecond: overrides?.callsPerSecond,
      callsPerMinute: overrides?.callsPerMinute,
      callsPerDay: overrides?.callsPerDay,
      concurrent: overrides?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      writeReserve: overrides?.writeReserve,
    },
  };
}
