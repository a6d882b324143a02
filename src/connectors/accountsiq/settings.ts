import { z } from 'zod';
import type { RateScope } from '../../sync/remote/contracts.ts';
import { LimitOverrides } from '../../sync/remote/settings.ts';

/*
 * AccountsIQ as data: its regional endpoints, its two ways in (API 2.0 client credentials, legacy
 * 1.1 Login), our pacing defaults, and the settings of a pipeline's `target: {type: accountsiq, …}`
 * block. docs/connectors/accountsiq.md.
 */

export const SYSTEM = 'AccountsIQ';
export const REGIONS = ['us1', 'eu1', 'eu2', 'uk1'] as const;

/** The Integration web service of a region, for the API version in use (vendor page "specifications"). */
export function endpointOf(region: (typeof REGIONS)[number], api: '2.0' | '1.1'): string {
  const file = api === '2.0' ? 'integration_2_0.asmx' : 'integration_1_1.asmx';
  return `https://${region}.accountsiq.com/system/dashboard/integration/${file}`;
}

/**
 * AccountsIQ says "There is no rate limit" (Authentication 1.1 page; nothing is said for 2.0). A
 * platform without a published limit still has a server behind it that one tenant shares with
 * others, and each SOAP write posts to the ledger: we keep to a modest pace by default (overridable
 * in `target.limits`) rather than find its limit in production.
 */
export const DEFAULT_LIMITS = {
  callsPerSecond: 5,
  callsPerMinute: 200,
  concurrent: 2,
  /** Documents per write call: PostPayAndAllocateSalesInvoices takes a list, each element atomic. */
  batchSize: 50,
} as const;

const Code = z.string().min(1).max(50);

/** The `target:` block of a pipeline whose target is AccountsIQ. */
export const AccountsIqSettings = z
  .strictObject({
    type: z.literal('accountsiq').optional(),
    api: z.enum(['2.0', '1.1']).default('2.0').meta({
      description:
        'Which authentication: 2.0 (client id and secret of an Integration Application; required for new integrations) or the legacy 1.1 Login (partner key and user key).',
    }),
    region: z
      .enum(REGIONS)
      .optional()
      .meta({ description: 'The AccountsIQ region of the entity: us1, eu1, eu2 or uk1.' }),
    url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .meta({ description: 'The Integration endpoint in full, instead of `region` (a staging host).' }),
    entityId: z.string().min(1).max(100).meta({ description: 'The entity (company) ID, as AccountsIQ names it.' }),
    clientId: z.string().min(1).max(200).optional(),
    clientSecret: z.string().min(1).max(500).optional(),
    partnerKey: z.string().min(1).max(500).optional(),
    userKey: z.string().min(1).max(500).optional(),
    glAccountCode: Code.optional().meta({
      description: 'The sales GL account of lines nothing else maps (after the line, product and mapping).',
    }),
    bankAccountCode: Code.optional().meta({
      description:
        'The bank GL account receipts go to when neither the payment nor the mapping names one (GetBankList).',
    }),
    feesGlAccountCode: Code.optional().meta({
      description:
        "The bank-charges posting GL account a payment provider's fee goes to, as a sundry bank payment out of the receipt's bank. Required once a payment carries a fee (ledgerlink reads no chart of accounts from AccountsIQ).",
    }),
    feesTaxCode: Code.optional().meta({
      description:
        "The tax code of a fee's sundry payment, of rate 0 (a fee carries no VAT here): needed only when GetTaxCodeList has several codes of rate 0.",
    }),
    limits: LimitOverrides.optional(),
    timeoutMs: z.number().int().min(1000).max(120_000).optional(),
  })
  .superRefine((s, ctx) => {
    if (!s.region && !s.url)
      ctx.addIssue({ code: 'custom', path: ['region'], message: 'give the region (us1, eu1, eu2, uk1) or the url' });
    const need = s.api === '2.0' ? (['clientId', 'clientSecret'] as const) : (['partnerKey', 'userKey'] as const);
    for (const k of need)
      if (!s[k]) ctx.addIssue({ code: 'custom', path: [k], message: `is required with api ${s.api}` });
    if (s.limits?.batchSize !== undefined && s.limits.batchSize > 200)
      ctx.addIssue({ code: 'custom', path: ['limits', 'batchSize'], message: 'at most 200 documents a call' });
  })
  .meta({ description: 'Settings of the AccountsIQ target.' });
export type AccountsIqSettings = z.output<typeof AccountsIqSettings>;

/** Where a pipeline's calls go. */
export function endpointFor(s: Pick<AccountsIqSettings, 'url' | 'region' | 'api'>): string {
  return s.url ?? endpointOf(s.region ?? 'eu1', s.api);
}

export const SECRETS = ['clientSecret', 'partnerKey', 'userKey'] as const;

/** The one rate budget of an entity (its calls share one server, whatever the pipeline). */
export function rateScope(s: Pick<AccountsIqSettings, 'entityId' | 'limits'>, endpoint: string): RateScope {
  return {
    key: `accountsiq:entity:${new URL(endpoint).host}:${s.entityId}`,
    limits: {
      callsPerSecond: s.limits?.callsPerSecond ?? DEFAULT_LIMITS.callsPerSecond,
      callsPerMinute: s.limits?.callsPerMinute ?? DEFAULT_LIMITS.callsPerMinute,
      callsPerDay: s.limits?.callsPerDay,
      concurrent: s.limits?.concurrent ?? DEFAULT_LIMITS.concurrent,
      writeReserve: s.limits?.writeReserve,
    },
  };
}
