import { z } from 'zod';
import type { RateScope } from '../../sync/remote/contracts.ts';
import { LimitOverrides } from '../../sync/remote/settings.ts';

/*
 * Business Central as data: its endpoints, its sign-in (Microsoft Entra ID, client credentials),
 * its published limits and the settings of a pipeline's `target: {type: businesscentral, …}` block.
 * docs/connectors/businesscentral.md.
 */

export const SYSTEM = 'Business Central';
/** The API root; the tenant, environment and `api/v2.0` follow it. */
export const DEFAULT_BASE_URL = 'https://api.businesscentral.dynamics.com/v2.0';
export const DEFAULT_SCOPE = 'https://api.businesscentral.dynamics.com/.default';
export const tokenUrlOf = (tenantId: string) =>
  `https://login.microsoftonline.com/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`;

/**
 * Microsoft's published limits per user or service principal: 6,000 OData requests in a sliding
 * 5-minute window (429 beyond), 5 processed at once with 95 more queued, `$batch` of at most 100
 * operations. The planner's windows are a second, a minute and a day: 1,200 a minute keeps any
 * five minutes at or under 6,000.
 */
export const PUBLISHED_LIMITS = {
  callsPerFiveMinutes: 6000,
  callsPerMinute: 1200,
  concurrent: 5,
  batchSize: 20,
} as const;

const guid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'a GUID');
const httpsUrl = z.url({ protocol: /^https?$/ });

/** The `target:` block of a pipeline whose target is Business Central. */
export const BusinessCentralSettings = z
  .strictObject({
    type: z.literal('businesscentral').optional(),
    tenantId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$/, 'the Microsoft Entra tenant: its id (a GUID) or domain')
      .meta({ description: 'The Microsoft Entra tenant (directory) id or its domain, e.g. contoso.onmicrosoft.com.' }),
    environment: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,30}$/, 'an environment name such as production or sandbox')
      .default('production')
      .meta({ description: 'The Business Central environment: production (default) or a sandbox name.' }),
    companyId: guid.meta({ description: 'The company id (GET …/api/v2.0/companies lists them).' }),
    clientId: z.string().min(1).max(200).meta({ description: "The Entra app registration's application (client) id." }),
    clientSecret: z.string().min(1).max(500).meta({ description: 'A client secret of the Entra app. Secret.' }),
    baseUrl: httpsUrl.optional().meta({ description: `The API root; default ${DEFAULT_BASE_URL}.` }),
    tokenUrl: httpsUrl.optional().meta({
      description: 'The token endpoint; default https://login.microsoftonline.com/{tenantId}/oauth2/v2.0/token.',
    }),
    scope: z.string().min(1).max(300).default(DEFAULT_SCOPE),
    paymentJournal: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,10}$/, 'a journal batch code (10 characters at most)')
      .default('LEDGERLINK')
      .meta({
        description:
          'The customer payment journal (batch code) payments are entered in and posted from: ours alone, with a balancing bank account and no number series.',
      }),
    accounts: z
      .strictObject({ sales: z.string().min(1).max(20).optional(), fees: z.string().min(1).max(20).optional() })
      .optional()
      .meta({
        description:
          "accounts.sales: the G/L account number a line without a product or account of its own is sold to. accounts.fees: the expense G/L account number a payment provider's fee is posted to (default: the company's one posting expense account named for bank fees or charges).",
      }),
    taxRates: z
      .record(z.string().regex(/^\d+(\.\d+)?$/, 'a rate such as 0.21'), z.string().min(1).max(20))
      .optional()
      .meta({ description: 'VAT rate ("0.21") → the tax code (VAT product posting group) the lines carry.' }),
    limits: LimitOverrides.optional(),
    timeoutMs: z.number().int().min(1000).max(600_000).optional(),
  })
  .refine((s) => (s.limits?.batchSize ?? 0) <= 100, {
    message: 'Business Central takes at most 100 operations in one $batch',
    path: ['limits', 'batchSize'],
  })
  .meta({ description: 'Settings of the Microsoft Dynamics 365 Business Central target.' });
export type BusinessCentralSettings = z.output<typeof BusinessCentralSettings>;

/** The API root of one company's environment: `{baseUrl}/{tenant}/{environment}/api/v2.0`. */
export function apiRoot(s: Pick<BusinessCentralSettings, 'baseUrl' | 'tenantId' | 'environment'>): string {
  const base = (s.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
  return `${base}/${encodeURIComponent(s.tenantId)}/${encodeURIComponent(s.environment)}/api/v2.0`;
}

/** The one budget Microsoft counts: the service principal (the app) in its tenant. */
export function rateScope(s: Pick<BusinessCentralSettings, 'tenantId' | 'clientId' | 'limits'>): RateScope {
  return {
    key: `businesscentral:${s.tenantId.toLowerCase()}:${s.clientId}`,
    limits: {
      callsPerSecond: s.limits?.callsPerSecond,
      callsPerMinute: s.limits?.callsPerMinute ?? PUBLISHED_LIMITS.callsPerMinute,
      callsPerDay: s.limits?.callsPerDay,
      concurrent: s.limits?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      writeReserve: s.limits?.writeReserve,
    },
  };
}
