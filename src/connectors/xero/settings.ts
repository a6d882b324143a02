import { z } from 'zod';
import type { OAuthProvider, RateScope } from '../../sync/remote/contracts.ts';
import { type LimitOverrides, REMOTE_TARGET_SECRETS, remoteTargetSettings } from '../../sync/remote/settings.ts';

/*
 * Xero as data: its endpoints, OAuth scopes and published limits (developer.xero.com/faq/limits),
 * and the `target:` block of a pipeline that books into Xero. docs/connectors/xero.md explains each.
 */

export const XERO = {
  system: 'Xero',
  baseUrl: 'https://api.xero.com/api.xro/2.0',
  tokenUrl: 'https://identity.xero.com/connect/token',
  authorizeUrl: 'https://login.xero.com/identity/connect/authorize',
  revocationUrl: 'https://identity.xero.com/connect/revocation',
  /**
   * offline_access for a refresh token, and the granular scopes Xero requires of apps created since
   * 2 March 2026 (they replace accounting.transactions): invoices and credit notes, payments and
   * overpayments, bank transactions (a receipt before its invoice), contacts, and settings (tax
   * rates, accounts, tracking categories).
   */
  scopes: [
    'offline_access',
    'accounting.invoices',
    'accounting.payments',
    'accounting.banktransactions',
    'accounting.contacts',
    'accounting.settings',
  ],
  /** Per tenant (organisation connection). */
  tenantLimits: { concurrent: 5, callsPerMinute: 60, callsPerDay: 5000 },
  /** Per app, across every tenant. */
  appLimits: { callsPerMinute: 10_000 },
  /** Elements per PUT: Xero takes large batches, but a batch of 50 keeps one refusal's blast radius and the answer small. */
  batchSize: 50,
  /** The longest Idempotency-Key Xero takes. */
  maxIdempotencyKey: 128,
} as const;

export const XeroTargetSettings = z
  .strictObject({
    ...remoteTargetSettings,
    type: z.literal('xero').optional(),
    tenantId: z.string().min(1).max(100).optional().meta({
      description:
        'The Xero organisation (tenant id). Optional when the pipeline is connected through the OAuth flow and the consent covers one organisation.',
    }),
    webhookKey: z.string().min(1).max(500).optional().meta({
      description:
        "The Xero app's webhook key: deliveries to POST /v1/webhooks/{pipeline}/xero are verified with it. Secret. Without it the pipeline takes no Xero webhooks.",
    }),
    feesContact: z.string().min(1).max(255).optional().meta({
      description:
        "The Xero contact a payment provider's fees are spent to (spend money needs one), by name; created when Xero has none of that name. Default: Payment provider fees.",
    }),
    trackingCategory: z.string().min(1).max(100).optional().meta({
      description:
        "The Xero tracking category a line's department is booked to (its option named as the department). Default: the one category that has such an option.",
    }),
  })
  .meta({ description: 'Settings of the Xero target.' });
export type XeroTargetSettings = z.output<typeof XeroTargetSettings>;

export const XERO_SECRETS = [...REMOTE_TARGET_SECRETS, 'webhookKey'] as const;

/** The rate scopes of one pipeline's calls: its tenant's budget and the app's, overridden by `limits`. */
export function xeroScopes(tenantId: string, clientId: string, limits: LimitOverrides | undefined): RateScope[] {
  const { batchSize: _batch, writeReserve, ...overrides } = limits ?? {};
  return [
    {
      key: `xero:tenant:${tenantId}`,
      limits: { ...XERO.tenantLimits, ...overrides, ...(writeReserve !== undefined ? { writeReserve } : {}) },
    },
    { key: `xero:app:${clientId}`, limits: { ...XERO.appLimits } },
  ];
}

/** What Xero says is left, from the headers of any answer: minute and day for the tenant, minute for the app. */
export function xeroRemaining(tenantId: string, clientId: string) {
  return (headers: Headers) => {
    const n = (name: string) => {
      const v = headers.get(name);
      return v !== null && /^\d+$/.test(v.trim()) ? Number(v) : undefined;
    };
    const out: { scopeKey: string; minute?: number | undefined; day?: number | undefined }[] = [];
    const minute = n('x-minlimit-remaining');
    const day = n('x-daylimit-remaining');
    if (minute !== undefined || day !== undefined) out.push({ scopeKey: `xero:tenant:${tenantId}`, minute, day });
    const app = n('x-appminlimit-remaining');
    if (app !== undefined) out.push({ scopeKey: `xero:app:${clientId}`, minute: app });
    return out;
  };
}

/** Xero's connections endpoint, on the origin of the API base URL (so a sandbox or simulator answers it). */
export function connectionsUrl(baseUrl: string | undefined): string {
  return new URL('/connections', baseUrl ?? XERO.baseUrl).toString();
}

/** How Xero does OAuth 2.0: the tenants a consent covers are listed at GET /connections. */
export const xeroOAuth: OAuthProvider = {
  authorizeUrl: XERO.authorizeUrl,
  tokenUrl: XERO.tokenUrl,
  scopes: XERO.scopes,
  pkce: true,
  revocation: { url: XERO.revocationUrl, body: 'form' },
  async tenants({ accessToken, settings, request }) {
    const base = typeof settings.baseUrl === 'string' ? settings.baseUrl : undefined;
    const a = await request(connectionsUrl(base), {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
    });
    if (a.status !== 200) throw new Error(`Xero's connections endpoint answered ${a.status}`);
    const list = JSON.parse(a.text) as unknown;
    if (!Array.isArray(list)) throw new Error("Xero's connections endpoint did not answer a list");
    return list
      .filter((c): c is { tenantId: string; tenantName?: string; tenantType?: string } => {
        const o = c as Record<string, unknown>;
        return typeof o.tenantId === 'string' && (o.tenantType === undefined || o.tenantType === 'ORGANISATION');
      })
      .map((c) => ({ tenantId: c.tenantId, tenantName: c.tenantName }));
  },
};
