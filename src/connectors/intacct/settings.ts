import { z } from 'zod';
import type { RateScope } from '../../sync/remote/contracts.ts';
import { LimitOverrides } from '../../sync/remote/settings.ts';

/*
 * Sage Intacct as data: the XML gateway, its limits, and the settings of a pipeline's
 * `target: {type: intacct, …}` block (Web Services sender credentials, the company user, the
 * accounts lines and receipts are booked to). docs/connectors/intacct.md.
 */

export const SYSTEM = 'Sage Intacct';
export const TYPE = 'intacct';

/** The one XML gateway every company is reached through (developer.intacct.com "XML requests"). */
export const ENDPOINT = 'https://api.intacct.com/ia/xml/xmlgw.phtml';

/**
 * Intacct's limits: a performance tier sets concurrent API requests (2 on tier 1) and a monthly
 * transaction entitlement (100,000 on tier 1; overage is billed, never blocked). Intacct
 * publishes no per-minute limit; its gateway answers 429 (GW-0010) when a client sends too fast.
 * The daily budget is ours: a month's tier-1 entitlement spread over 31 days, overridable.
 * Every document is its own request (its own control id), so `batchSize` is how many documents
 * one call of the engine hands the target.
 */
export const PUBLISHED_LIMITS = {
  concurrent: 2,
  callsPerDay: 3200,
  batchSize: 10,
} as const;

/** The secrets of the settings (sealed at rest, redacted from every message). */
export const SECRETS = ['senderPassword', 'userPassword'] as const;

/** How a received payment was paid, as Intacct names ARPYMT's PAYMENTMETHOD. */
export const PAYMENT_METHODS = ['EFT', 'Cash', 'Printed Check', 'Credit Card', 'Record transfer'] as const;

const Id = z.string().min(1).max(100);
const Account = z.string().regex(/^[A-Za-z0-9._-]{1,24}$/, 'a GL account number (letters, digits, . _ -)');

/** The `target:` block of a pipeline whose target is Sage Intacct. */
export const IntacctSettings = z
  .strictObject({
    type: z.literal(TYPE).optional(),
    endpoint: z
      .url({ protocol: /^https?$/ })
      .optional()
      .meta({ description: `The XML gateway; default ${ENDPOINT}.` }),
    senderId: Id.meta({ description: 'The Web Services sender ID (authorised in the company).' }),
    senderPassword: z.string().min(1).max(500).meta({ description: 'The sender password. Secret.' }),
    companyId: Id.meta({ description: 'The company ID users sign in to.' }),
    userId: Id.meta({ description: 'A Web Services user of the company.' }),
    userPassword: z.string().min(1).max(500).meta({ description: "The Web Services user's password. Secret." }),
    entityId: Id.optional().meta({
      description: 'In a multi-entity company, the entity (location ID) the session is opened in.',
    }),
    salesGlAccount: Account.meta({
      description: 'The revenue GL account of invoice and credit-note lines the mapping maps to none.',
    }),
    taxGlAccounts: z
      .record(z.string().regex(/^\d+(\.\d+)?$/, 'a rate such as 0.21'), Account)
      .optional()
      .meta({
        description:
          'VAT rate ("0.21") → the GL account its tax is booked to, as a line of its own. A rate with tax and no account is refused.',
      }),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR')
      .meta({ description: "The company's base currency: documents in another are refused (CURRENCY_MISMATCH)." }),
    feesGlAccount: Account.optional().meta({
      description:
        "The expense GL account payment providers' fees are booked to (a service charge on bankAccountId); else the company's one active expense account titled for bank or merchant fees.",
    }),
    bankAccountId: Id.meta({
      description: 'The checking account (FINANCIALENTITY) received payments are deposited to.',
    }),
    paymentMethod: z.enum(PAYMENT_METHODS).default('EFT').meta({
      description: 'PAYMENTMETHOD of received payments (EFT, Cash, Printed Check, Credit Card, Record transfer).',
    }),
    limits: LimitOverrides.optional(),
    timeoutMs: z.number().int().min(1000).max(120_000).optional(),
  })
  .meta({ description: 'Settings of the Sage Intacct target.' });
export type IntacctSettings = z.output<typeof IntacctSettings>;

export const endpointOf = (s: Pick<IntacctSettings, 'endpoint'>): string => s.endpoint ?? ENDPOINT;

/** The one budget of a company: every call to it, whichever pipeline makes it. */
export function rateScope(s: Pick<IntacctSettings, 'companyId' | 'limits'>): RateScope {
  return {
    key: `intacct:company:${s.companyId.toLowerCase()}`,
    limits: {
      callsPerSecond: s.limits?.callsPerSecond,
      callsPerMinute: s.limits?.callsPerMinute,
      callsPerDay: s.limits?.callsPerDay ?? PUBLISHED_LIMITS.callsPerDay,
      concurrent: s.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      writeReserve: s.limits?.writeReserve,
    },
  };
}
