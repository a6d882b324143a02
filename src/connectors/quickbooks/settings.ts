import { z } from 'zod';
import type { OAuthProvider, RateScope } from '../../sync/remote/contracts.ts';
import { type LimitOverrides, remoteTargetSettings } from '../../sync/remote/settings.ts';

/*
 * QuickBooks Online as data: its endpoints, OAuth, limits and the settings of a pipeline's
 * `target: {type: quickbooks, …}` block (the shared remote-target settings plus `realmId`).
 */

export const SYSTEM = 'QuickBooks Online';
export const DEFAULT_BASE_URL = 'https://quickbooks.api.intuit.com';
export const SANDBOX_BASE_URL = 'https://sandbox-quickbooks.api.intuit.com';
export const AUTHORIZE_URL = 'https://appcenter.intuit.com/connect/oauth2';
export const TOKEN_URL = 'https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer';
/** Intuit's RFC 7009 endpoint; it takes JSON `{"token": …}`. */
export const REVOKE_URL = 'https://developer.api.intuit.com/v2/oauth2/tokens/revoke';
export const SCOPES = ['com.intuit.quickbooks.accounting'] as const;
/** Minor versions before 75 were discontinued by Intuit in 2025: every call names 75. */
export const MINOR_VERSION = 75;

/**
 * Intuit's published limits per company (realm) and app: 500 requests a minute, 10 a second; batch
 * requests 40 a minute, 30 operations each. Intuit publishes no limit on requests in flight: 4 at
 * once is ours, kept low.
 */
export const PUBLISHED_LIMITS = {
  callsPerMinute: 500,
  callsPerSecond: 10,
  concurrent: 4,
  batchPerMinute: 40,
  batchSize: 30,
} as const;

/** The `target:` block of a pipeline whose target is QuickBooks Online. */
export const QuickBooksSettings = z
  .strictObject({
    ...remoteTargetSettings,
    type: z.literal('quickbooks').optional(),
    realmId: z
      .string()
      .regex(/^\d{1,30}$/, 'the company id (realmId): digits')
      .optional()
      .meta({
        description:
          "The QuickBooks company (realmId). Optional when the pipeline is connected through OAuth: the consent's callback names it.",
      }),
    verifierToken: z.string().min(1).max(500).optional().meta({
      description:
        "The app's webhook verifier token: deliveries to POST /v1/webhooks/{pipeline}/quickbooks are verified with it. Secret. Without it the pipeline takes no QuickBooks webhooks.",
    }),
  })
  .meta({ description: 'Settings of the QuickBooks Online target.' });
export type QuickBooksSettings = z.output<typeof QuickBooksSettings>;

/**
 * The settings as a pipeline is saved with them: QuickBooks Online has no draft invoices (an
 * invoice is posted when created), so `mode: draft` is refused here rather than posting what was
 * meant as a draft; a batch size above QuickBooks' 30 is refused rather than cut down.
 */
export const QuickBooksTargetSettings = QuickBooksSettings.refine((s) => s.mode !== 'draft', {
  message:
    'QuickBooks Online has no draft invoices: every invoice it takes is posted. Use mode: final, or keep drafts in the source until they are final',
  path: ['mode'],
}).refine((s) => (s.limits?.batchSize ?? 0) <= 30, {
  message: 'QuickBooks takes at most 30 operations in one batch request',
  path: ['limits', 'batchSize'],
});

/** The rate scopes of one company: every call, and batch calls on their own budget. */
export function rateScopes(realmId: string, overrides: LimitOverrides | undefined) {
  const realm: RateScope = {
    key: `quickbooks:realm:${realmId}`,
    limits: {
      callsPerMinute: overrides?.callsPerMinute ?? PUBLISHED_LIMITS.callsPerMinute,
      callsPerSecond: overrides?.callsPerSecond ?? PUBLISHED_LIMITS.callsPerSecond,
      concurrent: overrides?.concurrent ?? PUBLISHED_LIMITS.concurrent,
      callsPerDay: overrides?.callsPerDay,
      writeReserve: overrides?.writeReserve,
    },
  };
  // The batch budget scales with an overridden minute budget (a test that scales one scales both).
  // A request delayed in transit at a window's edge is the planner's concern (its margin), not ours.
  const batchPerMinute =
    overrides?.callsPerMinute !== undefined
      ? Math.max(
          1,
          Math.floor((overrides.callsPerMinute * PUBLISHED_LIMITS.batchPerMinute) / PUBLISHED_LIMITS.callsPerMinute),
        )
      : PUBLISHED_LIMITS.batchPerMinute;
  const batch: RateScope = { key: `quickbooks:realm:${realmId}:batch`, limits: { callsPerMinute: batchPerMinute } };
  return { realm, batch };
}

/** How QuickBooks does OAuth 2.0: the company comes back in the callback's `realmId`. */
export const QUICKBOOKS_OAUTH: OAuthProvider = {
  authorizeUrl: AUTHORIZE_URL,
  tokenUrl: TOKEN_URL,
  scopes: SCOPES,
  pkce: false,
  revocation: { url: REVOKE_URL, body: 'json' },
  tenants: ({ callback }) => {
    const realmId = callback.get('realmId');
    return Promise.resolve(realmId && /^\d{1,30}$/.test(realmId) ? [{ tenantId: realmId }] : []);
  },
};
