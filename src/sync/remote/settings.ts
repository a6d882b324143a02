import { z } from 'zod';

/*
 * Settings every OAuth-connected platform target takes (a pipeline's `target:` block), shared so
 * that Xero, QuickBooks and the platforms after them read the same way. A connector extends
 * `remoteTargetSettings` with its own keys (Xero's `tenantId`, QuickBooks' `realmId`) and keeps
 * the result strict: an unknown key is refused, never ignored.
 */

const positiveInt = z.number().int().positive();

/** Overrides of the connector's published limits (`target.limits`); each must be a whole number above 0. */
export const LimitOverrides = z.strictObject({
  callsPerSecond: positiveInt.optional(),
  callsPerMinute: positiveInt.optional(),
  callsPerDay: positiveInt.optional(),
  concurrent: positiveInt.optional(),
  batchSize: positiveInt.optional(),
  /** The share of the daily quota kept for writes (0 to 1). */
  writeReserve: z.number().min(0).max(1).optional(),
});
export type LimitOverrides = z.output<typeof LimitOverrides>;

const httpsUrl = z.url({ protocol: /^https?$/ });

/** The keys of `remoteTargetSettings` that hold secrets (sealed at rest, never shown). */
export const REMOTE_TARGET_SECRETS = ['clientSecret', 'refreshToken'] as const;

/** The shape shared by OAuth-connected targets, before a connector adds its own keys. */
export const remoteTargetSettings = {
  /** The target's own type (`z.literal('xero').optional()`) is added by the connector: the engine passes it, a save does not. */
  clientId: z.string().min(1).max(200),
  clientSecret: z.string().min(1).max(500),
  /** Optional when the pipeline is connected through the OAuth flow (`/v1/connections/{pipeline}/oauth/start`). */
  refreshToken: z.string().min(1).max(4000).optional(),
  baseUrl: httpsUrl.optional(),
  tokenUrl: httpsUrl.optional(),
  authorizeUrl: httpsUrl.optional(),
  limits: LimitOverrides.optional(),
  /** Whether invoices are approved (`final`) or left as drafts in the platform. */
  mode: z.enum(['final', 'draft']).default('final'),
  /** Account codes the platform's defaults are overridden with: `sales`, `bank`, and others a connector names. */
  accounts: z.record(z.string().min(1).max(50), z.string().min(1).max(100)).optional(),
  /** VAT rate ("0.23") → the platform's own tax code, overriding the match by rate. */
  taxRates: z.record(z.string().regex(/^\d+(\.\d+)?$/, 'a rate such as 0.23'), z.string().min(1).max(100)).optional(),
  timeoutMs: z.number().int().min(1000).max(120_000).optional(),
};
