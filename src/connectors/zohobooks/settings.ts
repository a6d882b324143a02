import { z } from 'zod';
import type { RateScope } from '../../sync/remote/contracts.ts';
import { type LimitOverrides, remoteTargetSettings } from '../../sync/remote/settings.ts';

/*
 * Zoho Books as data: its data centres, hosts, limits and the settings of a pipeline's
 * `target: {type: zohobooks, …}` block (the shared remote-target settings plus the organisation
 * and its data centre). docs/connectors/zohobooks.md.
 */

export const SYSTEM = 'Zoho Books';
export const TYPE = 'zohobooks';

/** The data centres Zoho runs Books in: each has its own API host and its own Zoho Accounts. */
export const DATA_CENTERS = ['com', 'eu', 'in', 'com.au', 'jp', 'ca', 'sa', 'com.cn'] as const;
export type DataCenter = (typeof DATA_CENTERS)[number];

/** `https://www.zohoapis.{dc}/books/v3` (zoho.com/books/api/v3, "API Root Endpoint"). */
export const apiBaseUrl = (dc: DataCenter): string => `https://www.zohoapis.${dc}/books/v3`;
/** `https://accounts.zoho.{dc}/oauth/v2/token`: the Zoho Accounts of the organisation's data centre. */
export const tokenUrlOf = (dc: DataCenter): string => `https://accounts.zoho.${dc}/oauth/v2/token`;

/** Zoho Accounts answers a revoked or unknown refresh token with `{"error": "invalid_code"}`. */
export const GRANT_GONE_ERRORS = ['invalid_code'] as const;

/**
 * Zoho's published limits per organisation: 100 requests a minute; a daily limit by plan (1,000
 * on the free plan up to 10,000), so the default is the free plan's and a paid plan raises it
 * with `limits.callsPerDay`. Zoho publishes no limit on calls in flight that we could source: 4 at
 * once is ours. Zoho Books has no batch endpoint: `batchSize` is how many documents one call of
 * the engine hands the target, each still one request.
 */
export const PUBLISHED_LIMITS = {
  callsPerMinute: 100,
  callsPerDay: 1000,
  concurrent: 4,
  batchSize: 10,
} as const;

/** The `target:` block of a pipeline whose target is Zoho Books. */
// No consent flow is wired for Zoho (docs/connectors/zohobooks.md): no authorizeUrl, and the refresh token is required.
const { authorizeUrl: _consentOnly, ...shared } = remoteTargetSettings;

export const ZohoBooksSettings = z
  .strictObject({
    ...shared,
    refreshToken: z.string().min(1).max(4000).meta({
      description: "A Zoho refresh token of the API Console client (a Self Client's code exchanged once). Secret.",
    }),
    type: z.literal(TYPE).optional(),
    organizationId: z
      .string()
      .regex(/^\d{1,30}$/, 'the organisation id: digits (Settings → Manage Organizations, or GET /organizations)')
      .meta({ description: 'The Zoho Books organisation (organization_id), sent with every request.' }),
    dataCenter: z.enum(DATA_CENTERS).default('com').meta({
      description:
        "The organisation's data centre: picks the API host (www.zohoapis.{dc}) and Zoho Accounts (accounts.zoho.{dc}). Default com.",
    }),
    paymentMode: z.string().min(1).max(50).default('banktransfer').meta({
      description:
        "The payment_mode of customer payments when the source names none (Zoho's default modes: cash, check, banktransfer, …).",
    }),
  })
  .meta({ description: 'Settings of the Zoho Books target.' });
export type ZohoBooksSettings = z.output<typeof ZohoBooksSettings>;

/**
 * The settings as a pipeline is saved with them: invoices are created as drafts by the API and
 * marked sent by this target so that they are open and can be paid; `mode: draft` (keep them
 * drafts) is not offered, rather than leaving drafts nothing can be applied to.
 */
export const ZohoBooksTargetSettings = ZohoBooksSettings.refine((s) => s.mode !== 'draft', {
  message: 'The Zoho Books target books invoices as sent (open); mode: draft is not supported. Use mode: final',
  path: ['mode'],
});

/** The one budget of an organisation: every call to it, whoever makes it. */
export function rateScope(organizationId: string, overrides: LimitOverrides | undefined): RateScope {
  return {
    key: `zohobooks:org:${organizationId}`,
    limits: {
      callsPerMinute: overrides?.callsPerMinute ?? PUBLISHED_LIMITS.callsPerMinute,
      callsPerDay: overrides?.callsPerDay ?? PUBLISHED_LIMITS.callsPerDay,
      callsPerSecond: overrides?.callsPerSecond,
      concurrent: overrides?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      writeReserve: overrides?.writeReserve,
    },
  };
}
