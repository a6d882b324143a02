import { z } from 'zod';
import type { OAuthProvider, OAuthTenant, RateScope } from '../../sync/remote/contracts.ts';
import { type LimitOverrides, remoteTargetSettings } from '../../sync/remote/settings.ts';

/*
 * FreshBooks as data: its hosts, OAuth 2.0 endpoints and scopes, the limits we keep to (FreshBooks
 * publishes none), and the settings of a pipeline's `target: {type: freshbooks, …}` block.
 * docs/connectors/freshbooks.md.
 */

export const SYSTEM = 'FreshBooks';
export const TYPE = 'freshbooks';

/** The API host (freshbooks.com/api/start). Accounting resources live under /accounting/account/{accountId}. */
export const API_BASE_URL = 'https://api.freshbooks.com';
/** The token endpoint (freshbooks.com/api/authentication). */
export const TOKEN_URL = 'https://api.freshbooks.com/auth/oauth/token';
/** The consent page (freshbooks.com/api/authentication). */
export const AUTHORIZE_URL = 'https://auth.freshbooks.com/oauth/authorize';
/** Who the token belongs to and the businesses it may act on (freshbooks.com/api/me_endpoint). */
export const ME_PATH = '/auth/api/v1/users/me';

/** The scopes this target needs (freshbooks.com/api/scopes): profile (the account), clients, items, taxes, invoices, payments, credit notes, expenses (fees). */
export const SCOPES = [
  'user:profile:read',
  'user:clients:read',
  'user:clients:write',
  'user:billable_items:read',
  'user:billable_items:write',
  'user:taxes:read',
  'user:invoices:read',
  'user:invoices:write',
  'user:payments:read',
  'user:payments:write',
  'user:credit_notes:read',
  'user:credit_notes:write',
  // A payment provider's fee is an expense in the bank-fees category (fees.ts).
  'user:expenses:read',
  'user:expenses:write',
] as const;

/**
 * FreshBooks publishes no rate limit; it answers 429 when a client goes too fast. These are ours,
 * conservative: 60 calls a minute and 2 in flight per account, no daily limit. `limits` in the
 * settings overrides each. FreshBooks has no batch endpoint: `batchSize` is how many documents one
 * call of the engine hands the target, each still one request.
 */
export const DEFAULT_LIMITS = { callsPerMinute: 60, concurrent: 2, batchSize: 10 } as const;

/** The page size FreshBooks caps lists at (freshbooks.com/api/parameters: per_page is capped at 100). */
export const PAGE_SIZE = 100;

export const FreshBooksSettings = z
  .strictObject({
    ...remoteTargetSettings,
    type: z.literal(TYPE).optional(),
    // Named tenantId, as the shared consent flow names the tenant it connects (src/sync/remote/oauth-connect.ts).
    tenantId: z
      .string()
      .regex(
        /^[A-Za-z0-9]{1,40}$/,
        'the account id: letters and digits (GET /auth/api/v1/users/me → business_memberships[].business.account_id)',
      )
      .optional()
      .meta({
        description:
          "The FreshBooks account id (a business's account_id) to book into. Optional when the pipeline is connected through the OAuth flow and the consent covers one business.",
      }),
    paymentType: z
      .enum(['Check', 'Cash', 'Bank Transfer', 'Credit Card', 'Debit', 'PayPal', 'ACH', 'Other'])
      .default('Bank Transfer')
      .meta({
        description: "The type of a payment booked from the source (FreshBooks' payment types). Default Bank Transfer.",
      }),
    feesStaffId: z
      .number()
      .int()
      .positive()
      .max(2 ** 31 - 1)
      .default(1)
      .meta({
        description:
          "The staff member a payment provider's fee (an expense) is recorded for, by FreshBooks staff id. Default 1, the business owner in FreshBooks' examples; set it when FreshBooks refuses the fee naming the staff member.",
      }),
  })
  .meta({ description: 'Settings of the FreshBooks target.' });
export type FreshBooksSettings = z.output<typeof FreshBooksSettings>;

/**
 * The settings as a pipeline is saved with them: invoices are created as drafts by the API and
 * marked sent by this target so that they count and can be paid; `mode: draft` is not offered.
 */
export const FreshBooksTargetSettings = FreshBooksSettings.refine((s) => s.mode !== 'draft', {
  message: 'The FreshBooks target books invoices as sent; mode: draft is not supported. Use mode: final',
  path: ['mode'],
});

/** The budget of one FreshBooks account: every call to it, whoever makes it. */
export function rateScope(accountId: string, overrides: LimitOverrides | undefined): RateScope {
  return {
    key: `freshbooks:account:${accountId}`,
    limits: {
      callsPerMinute: overrides?.callsPerMinute ?? DEFAULT_LIMITS.callsPerMinute,
      callsPerDay: overrides?.callsPerDay,
      callsPerSecond: overrides?.callsPerSecond,
      concurrent: overrides?.concurrent ?? DEFAULT_LIMITS.concurrent,
      writeReserve: overrides?.writeReserve,
    },
  };
}

/** The businesses a FreshBooks identity may act on, from the answer of GET /auth/api/v1/users/me. */
export function tenantsOfMe(body: unknown): OAuthTenant[] {
  const memberships = (body as { response?: { business_memberships?: unknown } } | null)?.response
    ?.business_memberships;
  if (!Array.isArray(memberships)) return [];
  const out: OAuthTenant[] = [];
  for (const m of memberships as { business?: { account_id?: unknown; name?: unknown } }[]) {
    const id = m.business?.account_id;
    if (typeof id === 'string' && /^[A-Za-z0-9]{1,40}$/.test(id) && !out.some((t) => t.tenantId === id))
      out.push({ tenantId: id, ...(typeof m.business?.name === 'string' ? { tenantName: m.business.name } : {}) });
  }
  return out;
}

/** The identity endpoint on the origin of the API base URL (so a simulator answers it). */
export const meUrl = (baseUrl: string | undefined): string => new URL(ME_PATH, baseUrl ?? API_BASE_URL).toString();

/** How FreshBooks does OAuth 2.0: the businesses a consent covers are its identity's business memberships. */
export const FRESHBOOKS_OAUTH: OAuthProvider = {
  authorizeUrl: AUTHORIZE_URL,
  tokenUrl: TOKEN_URL,
  scopes: SCOPES,
  pkce: false,
  // The code exchange, like every refresh, sends client_id and client_secret in the form
  // (freshbooks.com/api/authentication).
  clientAuthentication: 'body',
  // Its SDKs refresh with the consent's redirect URI: the pipeline's callback.
  refreshWithRedirectUri: true,
  async tenants({ accessToken, settings, request }) {
    const base = typeof settings.baseUrl === 'string' ? settings.baseUrl : undefined;
    const a = await request(meUrl(base), {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
    });
    if (a.status !== 200) throw new Error(`FreshBooks' identity endpoint answered ${a.status}`);
    return tenantsOfMe(JSON.parse(a.text) as unknown);
  },
};
