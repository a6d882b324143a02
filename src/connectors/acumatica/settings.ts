import { z } from 'zod';
import type { RateScope } from '../../sync/remote/contracts.ts';
import { LimitOverrides } from '../../sync/remote/settings.ts';

/*
 * Acumatica as data: the contract-based REST endpoint, its two ways of signing in, its limits and
 * the settings of a pipeline's `target: {type: acumatica, …}` block (docs/connectors/acumatica.md).
 */

export const SYSTEM = 'Acumatica';
export const ENDPOINT = 'Default';
export const ENDPOINT_VERSION = '24.200.001';
/** The OAuth 2.0 token endpoint under the instance (MYOB Acumatica integration guide). */
export const TOKEN_PATH = '/identity/connect/token';

/**
 * Acumatica publishes no fixed numbers: the licence sets API users, concurrent API requests and API
 * requests per minute (License Monitoring Console, SM604000). These defaults stay under the
 * smallest commercial licences; a pipeline raises them in `limits` to what its licence allows.
 */
export const DEFAULT_LIMITS = {
  callsPerMinute: 50,
  concurrent: 2,
  batchSize: 20,
} as const;

/** Our references are kept in Customer Ref. Nbr. (ARInvoice.InvoiceNbr) and Payment Ref. (ExtRefNbr): 40 characters. */
export const REFERENCE_MAX = 40;

const httpsUrl = z.url({ protocol: /^https?$/ });
const text = (max: number) => z.string().min(1).max(max);

/** The `target:` block of a pipeline whose target is Acumatica. */
export const AcumaticaSettings = z
  .strictObject({
    type: z.literal('acumatica').optional(),
    instanceUrl: httpsUrl.meta({
      description:
        'The instance, as users open it: https://mycompany.acumatica.com (a path such as /AcumaticaERP is kept).',
    }),
    endpointVersion: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/)
      .default(ENDPOINT_VERSION)
      .meta({ description: 'The version of the Default endpoint; the connector is written for 24.200.001.' }),
    auth: z.enum(['session', 'oauth']).default('session').meta({
      description:
        'session: POST /entity/auth/login with username and password, cookie session, signed out after each call; oauth: a bearer token from /identity/connect/token.',
    }),
    username: text(100),
    password: text(500),
    tenant: text(100)
      .optional()
      .meta({ description: 'The tenant (company) signed in to; required when the instance has several.' }),
    branch: text(30).optional(),
    locale: text(10).optional(),
    clientId: text(200)
      .optional()
      .meta({ description: 'OAuth: the client id of the connected application, with its @Tenant suffix.' }),
    clientSecret: text(500).optional(),
    grant: z.enum(['password', 'client_credentials']).default('password'),
    tokenUrl: httpsUrl.optional(),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .optional()
      .meta({
        description:
          "The tenant's base currency: documents in another are refused (the Default endpoint's Invoice has no currency of its own; it takes the customer's).",
      }),
    itemEntity: z.enum(['NonStockItem', 'StockItem']).default('NonStockItem'),
    /** VAT rate ("0.21") → Acumatica tax category. */
    taxCategories: z.record(z.string().regex(/^\d+(\.\d+)?$/, 'a rate such as 0.21'), text(30)).optional(),
    /** Sales account of lines without an item; else the customer class's default. */
    salesAccount: text(30).optional(),
    paymentMethod: text(30).default('CHECK'),
    cashAccount: text(30).optional(),
    /** A payment provider's fee: a charge of the payment on this cash management entry type (Disbursement). */
    feeEntryType: text(10).optional().meta({
      description:
        "The cash management entry type (a Disbursement set up for the cash account) a payment provider's fee is charged on, as a line of the payment's Charges. Required to book fees.",
    }),
    /** The expense account of that charge; else the entry type's own offset account. */
    feeAccount: text(30)
      .optional()
      .meta({ description: "The expense account (AccountCD) of a fee's charge; default: the entry type's own." }),
    /** Release documents after saving them (Balanced → Open); off leaves them Balanced for a person to release. */
    release: z.boolean().default(true),
    actionTimeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
    actionPollMs: z.number().int().min(10).max(30_000).default(1000),
    limits: LimitOverrides.optional(),
    timeoutMs: z.number().int().min(1000).max(120_000).optional(),
  })
  .refine((s) => s.auth !== 'oauth' || (s.clientId !== undefined && s.clientSecret !== undefined), {
    message: 'auth: oauth needs clientId (with its @Tenant suffix) and clientSecret',
    path: ['clientId'],
  })
  .refine((s) => s.auth !== 'oauth' || s.clientId === undefined || s.clientId.includes('@'), {
    message: "Acumatica client ids carry the tenant after '@' (88358B02-…@MyTenant)",
    path: ['clientId'],
  })
  .meta({ description: 'Settings of the Acumatica target.' });
export type AcumaticaSettings = z.output<typeof AcumaticaSettings>;

export const SECRETS = ['password', 'clientSecret'];

/** The instance without a trailing slash. */
export const instanceOf = (s: Pick<AcumaticaSettings, 'instanceUrl'>) => s.instanceUrl.replace(/\/+$/, '');
export const endpointUrl = (s: Pick<AcumaticaSettings, 'instanceUrl' | 'endpointVersion'>) =>
  `${instanceOf(s)}/entity/${ENDPOINT}/${s.endpointVersion}`;
export const tokenUrlOf = (s: Pick<AcumaticaSettings, 'instanceUrl' | 'tokenUrl'>) =>
  s.tokenUrl ?? `${instanceOf(s)}${TOKEN_PATH}`;

/** The licence's budget: one scope per instance and tenant. */
export function rateScope(s: Pick<AcumaticaSettings, 'instanceUrl' | 'tenant' | 'clientId' | 'limits'>): RateScope {
  const tenant = s.tenant ?? s.clientId?.split('@')[1] ?? '';
  return {
    key: `acumatica:${new URL(s.instanceUrl).host}:${tenant}`,
    limits: {
      callsPerMinute: s.limits?.callsPerMinute ?? DEFAULT_LIMITS.callsPerMinute,
      callsPerSecond: s.limits?.callsPerSecond,
      callsPerDay: s.limits?.callsPerDay,
      concurrent: s.limits?.concurrent ?? DEFAULT_LIMITS.concurrent,
      writeReserve: s.limits?.writeReserve,
    },
  };
}
