import { z } from 'zod';
import type { RateScope } from '../../sync/remote/contracts.ts';
import { type LimitOverrides, REMOTE_TARGET_SECRETS, remoteTargetSettings } from '../../sync/remote/settings.ts';

/*
 * MYOB Business / AccountRight as data: its hosts, its limits, the lengths of the fields our
 * references go in, and the settings of a pipeline's `target: {type: myob, …}` block (the shared
 * remote-target settings plus the company file, its credentials, its currency and the income
 * account invoices are booked to). docs/connectors/myob.md.
 */

export const SYSTEM = 'MYOB';
export const TYPE = 'myob';

/** `https://api.myob.com/accountright` followed by `/{companyFileId}/…` (developer.myob.com, "API Overview"). */
export const API_BASE_URL = 'https://api.myob.com/accountright';
/** The token endpoint: codes and refresh tokens are exchanged here, client id and secret in the form. */
export const TOKEN_URL = 'https://secure.myob.com/oauth2/v1/authorize';
/** The consent page. */
export const AUTHORIZE_URL = 'https://secure.myob.com/oauth2/account/authorize';
/** The scope of API keys created before 12 March 2025 (newer keys are given granular `sme-…` scopes). */
export const SCOPES = ['CompanyFile'] as const;

/**
 * Field lengths of the API reference: a customer's `DisplayID` (card ID) holds 15 characters; our
 * reference of an invoice, credit note or payment goes in a text field of 20 (the Customer PO #
 * of a sale and the memo of a payment are kept to 20 by AccountRight's own forms) and a longer
 * one is refused, never cut.
 */
export const MAX = { displayId: 15, reference: 20, itemNumber: 30, itemName: 30, name: 50 } as const;

/**
 * MYOB's published limits per API key, whatever company file it calls: 8 calls a second and
 * 1,000,000 a day. MYOB publishes no limit on calls in flight: 4 at once is ours; there is no
 * batch endpoint, `batchSize` is how many documents one call of the engine hands the target.
 */
export const PUBLISHED_LIMITS = { callsPerSecond: 8, callsPerDay: 1_000_000, concurrent: 4, batchSize: 10 } as const;

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const MYOB_SECRETS = [...REMOTE_TARGET_SECRETS, 'companyFilePassword'] as const;

/** The `target:` block of a pipeline whose target is MYOB. */
export const MyobSettings = z
  .strictObject({
    ...remoteTargetSettings,
    type: z.literal(TYPE).optional(),
    clientId: remoteTargetSettings.clientId.meta({
      description: 'The API key of the MYOB app (my.MYOB → Developer): the OAuth client id, sent as x-myobapi-key.',
    }),
    companyFileId: z
      .string()
      .regex(GUID, 'the company file id: a GUID (GET https://api.myob.com/accountright/ lists them)')
      .meta({ description: 'The company file (its Id, a GUID), as the list of company files gives it.' }),
    companyFileUser: z.string().min(1).max(100).optional().meta({
      description:
        'The user name of the company file (AccountRight files); with companyFilePassword it is sent as x-myobapi-cftoken. Leave out for files that sign in with the my.MYOB account alone.',
    }),
    companyFilePassword: z.string().max(200).optional().meta({
      description: 'The password of that company file user (may be empty). Secret.',
    }),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as AUD')
      .default('AUD')
      .meta({
        description:
          "The company file's currency (AUD or NZD): documents in another currency are refused. Default AUD.",
      }),
    customerTaxCode: z.string().min(1).max(3).default('GST').meta({
      description: 'The tax code new customer cards sell with (their SellingDetails). Default GST.',
    }),
    paymentMethod: z.string().min(1).max(30).optional().meta({
      description: 'The PaymentMethod of customer payments (one of the company file’s payment methods, e.g. EFT).',
    }),
  })
  .refine((s) => s.companyFilePassword === undefined || s.companyFileUser !== undefined, {
    message: 'companyFilePassword needs companyFileUser',
    path: ['companyFilePassword'],
  })
  .refine((s) => s.accounts?.sales !== undefined && s.accounts?.bank !== undefined, {
    message:
      'MYOB needs accounts.sales (the income account invoice lines are booked to, e.g. 4-1000) and accounts.bank (the account payments are deposited to, e.g. 1-1110)',
    path: ['accounts'],
  })
  .refine((s) => s.mode !== 'draft', {
    message: 'The MYOB target books open invoices; mode: draft is not supported. Use mode: final',
    path: ['mode'],
  })
  .meta({ description: 'Settings of the MYOB target.' });
export type MyobSettings = z.output<typeof MyobSettings>;

/** The one budget of an API key: every call made with it, to any company file. */
export function rateScope(clientId: string, overrides: LimitOverrides | undefined): RateScope {
  return {
    key: `myob:key:${clientId}`,
    limits: {
      callsPerSecond: overrides?.callsPerSecond ?? PUBLISHED_LIMITS.callsPerSecond,
      callsPerMinute: overrides?.callsPerMinute,
      callsPerDay: overrides?.callsPerDay ?? PUBLISHED_LIMITS.callsPerDay,
      concurrent: overrides?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      writeReserve: overrides?.writeReserve,
    },
  };
}
