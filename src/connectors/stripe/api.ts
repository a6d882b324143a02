import Stripe from 'stripe';
import { z } from 'zod';
import { ConnectorError } from '../../sync/connector.ts';
import type { Pipeline } from '../../sync/pipelines.ts';

/**
 * A Stripe pipeline's source config: `source: {type: stripe, apiKey, signingSecret}`. Both
 * secrets are encrypted at rest (their names are in SECRET_KEYS). `host`, `port` and `protocol`
 * point the official client elsewhere than api.stripe.com: a local simulator in tests.
 */
export const StripeSourceConfig = z.looseObject({
  apiKey: z.string().min(1).meta({
    description:
      'A restricted key with read access to customers, charges, payment intents, refunds and balance transactions.',
  }),
  signingSecret: z.string().min(1).optional().meta({ description: "The webhook endpoint's signing secret (whsec_…)." }),
  bankAccountCode: z
    .string()
    .optional()
    .meta({ description: 'The ledger bank account that stands for the Stripe balance.' }),
  host: z.string().optional(),
  port: z.union([z.number().int().positive(), z.string()]).optional(),
  protocol: z.enum(['http', 'https']).optional(),
});
export type StripeSourceConfig = z.output<typeof StripeSourceConfig>;

/** The pipeline's Stripe config, or null when it is not a (well-formed) Stripe pipeline. */
export function stripeConfigOf(pipeline: Pipeline): StripeSourceConfig | null {
  if (pipeline.sourceType !== 'stripe') return null;
  const parsed = StripeSourceConfig.safeParse(pipeline.sourceConfig);
  return parsed.success ? parsed.data : null;
}

function idOf(v: string | { id: string } | null | undefined): string | null {
  return v === null || v === undefined ? null : typeof v === 'string' ? v : v.id;
}
export { idOf };

/**
 * What ledgerlink reads from Stripe, through the official client. Failures become a
 * ConnectorError that says whether a retry is safe (rate limits, Stripe's 5xx, the network); the
 * client itself already retries those twice with backoff. Keys never appear in messages.
 */
export class StripeApi {
  private readonly stripe: Stripe;

  constructor(config: StripeSourceConfig) {
    this.stripe = new Stripe(config.apiKey, {
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
      if (err instanceof Stripe.errors.StripeError) {
        const status = err.statusCode ?? null;
        const retryable =
          err instanceof Stripe.errors.StripeConnectionError || status === null || status === 429 || status >= 500;
        throw new ConnectorError(
          'stripe',
          `${what}: ${status ?? 'no response'} ${err.code ?? err.type}: ${err.message}`,
          { status, retryable, cause: err },
        );
      }
      throw err;
    }
  }

  /** A customer; null when Stripe has none by that id or it was deleted. */
  async customer(id: string): Promise<Stripe.Customer | null> {
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
    return this.call(`charge ${id}`, () =>
      this.stripe.charges.retrieve(id, { expand: ['balance_transaction', 'payment_intent'] }),
    );
  }

  async refundsOfCharge(chargeId: string): Promise<Stripe.Refund[]> {
    return this.call(`refunds of ${chargeId}`, () =>
      this.stripe.refunds.list({ charge: chargeId, limit: 100 }).autoPagingToArray({ limit: 1000 }),
    );
  }
}
