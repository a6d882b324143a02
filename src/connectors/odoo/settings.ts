import { z } from 'zod';
import type { RateScope } from '../../sync/remote/contracts.ts';
import { LimitOverrides } from '../../sync/remote/settings.ts';

/*
 * Odoo as data: the JSON-RPC endpoint, the versions this target is written for, its limits and
 * the settings of a pipeline's `target: {type: odoo, …}` block (docs/connectors/odoo.md).
 */

export const SYSTEM = 'Odoo';
export const TYPE = 'odoo';

/** The versions whose models this target is written for: 16 and 17 name the payment's reference `ref`, 18 `memo`. */
export const VERSIONS = ['16', '17', '18'] as const;
export type OdooVersion = (typeof VERSIONS)[number];

/** The field of `account.payment` that keeps our reference, by version (18.0 renamed `ref` to `memo`). */
export const paymentReferenceField = (v: OdooVersion): 'ref' | 'memo' => (v === '18' ? 'memo' : 'ref');

/**
 * Odoo publishes no rate limit for a self-hosted server, and none by number for Odoo Online
 * (external API access depends on the plan). These defaults are ours, conservative: 4 calls in
 * flight (a small server runs a few workers) and 120 a minute; raise them in `limits`.
 */
export const DEFAULT_LIMITS = {
  callsPerMinute: 120,
  concurrent: 4,
  batchSize: 20,
} as const;

/** `account.move.ref` and `account.payment.ref` are plain Char fields; our references are 50 at most. */
export const REFERENCE_MAX = 50;

const httpsUrl = z.url({ protocol: /^https?$/ });
const text = (max: number) => z.string().min(1).max(max);
const recordId = z.number().int().positive();

/** The `target:` block of a pipeline whose target is Odoo. */
export const OdooSettings = z
  .strictObject({
    type: z.literal(TYPE).optional(),
    url: httpsUrl.meta({
      description: 'The server, as users open it: https://mycompany.odoo.com (JSON-RPC is POST {url}/jsonrpc).',
    }),
    database: text(100).meta({ description: 'The database (on Odoo Online, the instance name: mycompany).' }),
    login: text(200).meta({ description: "The user's login (usually an e-mail address)." }),
    apiKey: text(500).meta({
      description: 'An API key of that user (Preferences → Account Security → New API Key). Secret.',
    }),
    version: z.enum(VERSIONS).meta({
      description:
        "The server's major version (16, 17 or 18): 18 keeps a payment's reference in `memo` instead of `ref`. Checked against the server on connection.",
    }),
    companyId: recordId.optional().meta({ description: 'The company to book in, when the user has several.' }),
    /** Journal ids: `sales` for invoices and credit notes, `bank` for payments; Odoo's defaults otherwise. */
    journals: z.strictObject({ sales: recordId.optional(), bank: recordId.optional() }).optional(),
    /** Account ids: `fees`, the expense account of payment providers' fees (else the one named Bank Fees). */
    accounts: z
      .strictObject({
        fees: recordId.optional().meta({
          description:
            "The id of the expense account payment providers' fees are written off to; by default the company's one active expense account named Bank Fees (or Bank Charges).",
        }),
      })
      .optional(),
    /** VAT rate ("0.21") → id of the sales `account.tax`, overriding the match by percentage. */
    taxRates: z.record(z.string().regex(/^\d+(\.\d+)?$/, 'a rate such as 0.21'), recordId).optional(),
    limits: LimitOverrides.optional(),
    timeoutMs: z.number().int().min(1000).max(120_000).optional(),
  })
  .meta({ description: 'Settings of the Odoo target.' });
export type OdooSettings = z.output<typeof OdooSettings>;

/** The keys of the settings that hold secrets (sealed at rest, never shown). */
export const SECRETS = ['apiKey'] as const;

/** One budget per database: every call to it, whoever makes it. */
export function rateScope(s: Pick<OdooSettings, 'url' | 'database' | 'limits'>): RateScope {
  const host = new URL(s.url).host.toLowerCase();
  return {
    key: `odoo:db:${host}/${s.database}`,
    limits: {
      callsPerSecond: s.limits?.callsPerSecond,
      callsPerMinute: s.limits?.callsPerMinute ?? DEFAULT_LIMITS.callsPerMinute,
      callsPerDay: s.limits?.callsPerDay,
      concurrent: s.limits?.concurrent ?? DEFAULT_LIMITS.concurrent,
      writeReserve: s.limits?.writeReserve,
    },
  };
}
