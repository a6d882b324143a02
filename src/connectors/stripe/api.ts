import type { Logger } from 'pino';
import type Stripe from 'stripe';
import { z } from 'zod';
import { ConnectorError } from '../../sync/connector.ts';
import { type GuardOptions, guardedAgent, isOutboundRefused, safeReason } from '../../sync/http.ts';
import type { Pipeline } from '../../sync/pipelines.ts';

/**
 * A Stripe pipeline's source config: `source: {type: stripe, apiKey, signingSecret}`. Both
 * secrets are encrypted at rest (declared in STRIPE_SECRETS). `host`, `port` and `protocol`
 * point the official client elsewhere than api.stripe.com (a local simulator in tests), under the
 * outbound policy like any address (src/sync/http.ts).
 */
export const StripeSourceConfig = z.strictObject({
  apiKey: z.string().min(1).meta({
    description:
      'A restricted key with read access to customers, charges, payment intents, refunds and balance transactions.',
  }),
  signingSecret: z.string().min(1).optional().meta({ description: "The webhook endpoint's signing secret (whsec_…)." }),
  bankAccountCode: z
    .string()
    .optional()
    .meta({ description: 'The ledger bank account that stands for the Stripe balance.' }),
  host: z
    .string()
    .regex(/^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\])$/, 'a host name or IP address')
    .optional(),
  port: z.union([z.number().int().min(1).max(65535), z.string().regex(/^\d{1,5}$/)]).optional(),
  protocol: z.enum(['http', 'https']).optional(),
});
export type StripeSourceConfig = z.output<typeof StripeSourceConfig>;

/** The secrets of a Stripe source's settings. */
export const STRIPE_SECRETS = ['apiKey', 'signingSecret'] as const;

/** The address the client calls: api.stripe.com unless host/port/protocol say otherwise. */
export function stripeBaseUrl(config: Pick<StripeSourceConfig, 'host' | 'port' | 'protocol'>): string {
  const protocol = config.protocol ?? 'https';
  return `${protocol}://${config.host ?? 'api.stripe.com'}${config.port !== undefined ? `:${config.port}` : ''}/`;
}

/** The pipeline's Stripe config, or null when it is not a (well-formed) Stripe pipeline. */
export function stripeConfigOf(pipeline: Pipeline): StripeSourceConfig | null {
  if (pipeline.sourceType !== 'stripe') return null;
  const parsed = StripeSourceConfig.safeParse(pipeline.sourceConfig);
  return parsed.success ? parsed.data : null;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : 'refused by the outbound policy';
}

function idOf(v: string | { id: string } | null | undefined): string | null {
  return v === null || v === undefined ? null : typeof v === 'string' ? v : v.id;
}
export { idOf };

/**
 * The official client's module, loaded when a Stripe pipeline first needs it: it is 218 ES modules,
 * a quarter of a second of every process start (`serve`, `worker`, each command) through tsx,
 * which installations without a Stripe pipeline would pay for nothing (docs/performance.md,
 * "Starting a process").
 */
let sdk: Promise<typeof Stripe> | undefined;
export function stripeSdk(): Promise<typeof Stripe> {
  sdk ??= import('stripe').then((m) => m.default);
  return sdk;
}

/**
 * What ledgerlink reads from Stripe, through the official client. Failures become a
 * ConnectorError that says whether a retry is safe (rate limits, Stripe's 5xx, the network); the
 * client itself already retries those twice with backoff. Keys never appear in messages, nor does
 * what the server said beyond its status and error code (that goes to the debug log). Every
 * connection goes through the outbound policy's agent (src/sync/http.ts).
 */
export class StripeApi {
  /** The client, made on the first call: see `stripeSdk`. */
  private client: Promise<Stripe> | undefined;

  constructor(
    private readonly config: StripeSourceConfig,
    private readonly log?: Logger,
    private readonly guard: GuardOptions = {},
  ) {}

  private stripe(): Promise<Stripe> {
    const { config, guard } = this;
    this.client ??= stripeSdk().then(
      (Sdk) =>
        new Sdk(config.apiKey, {
          httpClient: Sdk.createNodeHttpClient(guardedAgent(config.protocol ?? 'https', guard)),
          maxNetworkRetries: 2,
          timeout: 30_000,
          appInfo: { name: 'ledgerlink' },
          ...(config.host ? { host: config.host } : {}),
          ...(config.port !== undefined ? { port: config.port } : {}),
          ...(config.protocol ? { protocol: config.protocol } : {}),
        }),
    );
    return this.client;
  }

  private async call<T>(what: string, fn: (stripe: Stripe) => Promise<T>): Promise<T> {
    const stripe = await this.stripe();
    const Sdk = await stripeSdk();
    try {
      return await fn(stripe);
    } catch (err) {
      if (isOutboundRefused(err))
        throw new ConnectorError('stripe', `${what}: not sent: ${err.message}`, { retryable: false });
      if (err instanceof Sdk.errors.StripeError) {
        if (isOutboundRefused(err.detail) || isOutboundRefused((err.raw as { detail?: unknown } | undefined)?.detail))
          throw new ConnectorError('stripe', `${what}: not sent: ${messageOf(err.detail)}`, { retryable: false });
        const status = err.statusCode ?? null;
        const retryable =
          err instanceof Sdk.errors.StripeConnectionError || status === null || status === 429 || status >= 500;
        this.log?.debug({ request: what, status, code: err.code, message: err.message }, 'Stripe answer');
        const code = safeReason({ code: err.code }) ?? safeReason({ type: err.type });
        throw new ConnectorError('stripe', `${what}: ${status ?? 'no response'}${code ? ` ${code}` : ''}`, {
          status,
          retryable,
        });
      }
      throw err;
    }
  }

  /** The account's balance: the cheapest read a restricted key may make, for a connection test. */
  async balance(): Promise<Stripe.Balance> {
    return this.call('balance', (stripe) => stripe.balance.retrieve());
  }

  /** A customer; null when Stripe has none by that id or it was deleted. */
  async customer(id: string): Promise<Stripe.Customer | null> {
    stripeId('customer', id);
    try {
      const c = await this.call(`customer ${id}`, (stripe) => stripe.customers.retrieve(id));
      return 'deleted' in c && c.deleted ? null : c;
    } catch (err) {
      if (err instanceof ConnectorError && err.status === 404) return null;
      throw err;
    }
  }

  /** A charge with its balance transaction (for the fee) and payment intent (for its metadata). */
  async charge(id: string): Promise<Stripe.Charge> {
    stripeId('charge', id);
    return this.call(`charge ${id}`, (stripe) =>
      stripe.charges.retrieve(id, { expand: ['balance_transaction', 'payment_intent'] }),
    );
  }

  async refundsOfCharge(chargeId: string): Promise<Stripe.Refund[]> {
    stripeId('charge', chargeId);
    return this.call(`refunds of ${chargeId}`, (stripe) =>
      stripe.refunds.list({ charge: chargeId, limit: 100 }).autoPagingToArray({ limit: 1000 }),
    );
  }
}

/**
 * Refuses an id no Stripe object can have before it is put in a URL: an event carrying one (a
 * 70,000-character "charge id") would otherwise fail the request as a connection error, retried
 * forever, and hold up every later event of the pipeline. Refused as not retryable, the event is
 * parked on its own (convertStripeEvents).
 */
function stripeId(what: string, id: string): void {
  if (typeof id !== 'string' || !/^[A-Za-z0-9_]{1,255}$/.test(id)) {
    const shown = typeof id === 'string' ? JSON.stringify(id.slice(0, 40)) + (id.length > 40 ? '…' : '') : typeof id;
    throw new ConnectorError('stripe', `${what} ${shown}: not a Stripe id (letters, digits and _, at most 255)`, {
      retryable: false,
    });
  }
}
