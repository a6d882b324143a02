import type { Logger } from 'pino';
import Stripe from 'stripe';
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
 * What ledgerlink reads from Stripe, through the official client. Failures become a
 * ConnectorError that says whether a retry is safe (rate limits, Stripe's 5xx, the network); the
 * client itself already retries those twice with backoff. Keys never appear in messages, nor does
 * what the server said beyond its status and error code (that goes to the debug log). Every
 * connection goes through the outbound policy's agent (src/sync/http.ts).
 */
export class StripeApi {
  private readonly stripe: Stripe;

  constructor(
    config: StripeSourceConfig,
    private readonly log?: Logger,
    guard: GuardOptions = {},
  ) {
    this.stripe = new Stripe(config.apiKey, {
      httpClient: Stripe.createNodeHttpClient(guardedAgent(config.protocol ?? 'https', guard)),
      maxNetworkRetries: 2,
      timeout: 30_000,
      appInfo: { name: 'ledgerlink' },
      ...(config.host ? { host: config.host } : {}),
      ...(config.port !== undefined ? { port: config.port } : {}),
      ...(config.protocol ? { protocol: config.protocol } : {}),
    });
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isOutboundRefused(err))
        throw new ConnectorError('stripe', `${what}: not sent: ${err.message}`, { retryable: false });
      if (err instanceof Stripe.errors.StripeError) {
        if (isOutboundRefused(err.detail) || isOutboundRefused((err.raw as { detail?: unknown } | undefined)?.detail))
          throw new ConnectorError('stripe', `${what}: not sent: ${messageOf(err.detail)}`, { retryable: false });
        const status = err.statusCode ?? null;
        const retryable =
          err instanceof Stripe.errors.StripeConnectionError || status === null || status === 429 || status >= 500;
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
    return this.call('balance', () => this.stripe.balance.retrieve());
  }

  /** A customer; null when Stripe has none by that id or it was deleted. */
  async customer(id: string): Promise<Stripe.Customer | null> {
    stripeId('customer', id);
    try {
      const c = await this.call(`customer ${id}`, () => this.stripe.customers.retrieve(id));
      return 'deleted' in c && c.deleted ? null : c;
    } catch (err) {
      if (err instanceof ConnectorError && err.status === 404) return null;
      throw err;
    }
  }

  /** A charge with its balance transaction (for the fee) and payment intent (for its metadata). */
  async charge(id: string): Promise<Stripe.Charge> {
    stripeId('charge', id);
    return this.call(`charge ${id}`, () =>
      this.stripe.charges.retrieve(id, { expand: ['balance_transaction', 'payment_intent'] }),
    );
  }

  async refundsOfCharge(chargeId: string): Promise<Stripe.Refund[]> {
    stripeId('charge', chargeId);
    return this.call(`refunds of ${chargeId}`, () =>
      this.stripe.refunds.list({ charge: chargeId, limit: 100 }).autoPagingToArray({ limit: 1000 }),
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
