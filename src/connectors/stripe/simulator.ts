import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type LocalServer, startLocalServer } from '../../sync/local-server.ts';
import Stripe from 'stripe';

/**
 * A local stand-in for the parts of the Stripe API ledgerlink reads (customers, charges with
 * `expand`, payment intents, balance transactions, refunds), answering in Stripe's JSON shapes and
 * with Stripe's error bodies, behind the same bearer-key check. Tests point the official client
 * at it (`host`, `port`, `protocol: 'http'`) and make the webhook deliveries Stripe would send,
 * signed as Stripe signs them. It can be told to fail the next requests (429, 500) to exercise
 * retries, and it records every request.
 */

type Json = Record<string, unknown>;

export interface SimulatedPayment {
  paymentIntent: Json & { id: string };
  charge: Json & { id: string };
  balanceTransaction: Json & { id: string };
}

const CREATED = 1795305600; // 2026-11-21T20:00:00Z

function id(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
}

function stripeError(
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  code?: string,
  param?: string,
) {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req') });
  res.end(
    JSON.stringify({
      error: {
        type,
        message,
        ...(code ? { code } : {}),
        ...(param ? { param } : {}),
        doc_url: code ? `https://stripe.com/docs/error-codes/${code}` : undefined,
      },
    }),
  );
}

export class StripeSimulator {
  readonly customers = new Map<string, Json & { id: string }>();
  readonly charges = new Map<string, Json & { id: string }>();
  readonly paymentIntents = new Map<string, Json & { id: string }>();
  readonly balanceTransactions = new Map<string, Json & { id: string }>();
  readonly refunds = new Map<string, Json & { id: string }>();
  /** Every request: method, path and query. */
  readonly requests: { method: string; path: string; query: string }[] = [];
  private failures: { status: number; left: number } | null = null;
  private server: LocalServer | null = null;
  port = 0;

  constructor(readonly apiKey = 'sk_test_ledgerlink_simulator') {}

  async start(): Promise<this> {
    this.server = await startLocalServer((req, res) => this.handle(req, res));
    this.port = this.server.port;
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  /** The source config a pipeline needs to reach this simulator. */
  sourceConfig(signingSecret: string) {
    return {
      type: 'stripe',
      apiKey: this.apiKey,
      signingSecret,
      host: '127.0.0.1',
      port: this.port,
      protocol: 'http' as const,
    };
  }

  /** The next `count` requests fail with `status` (429: rate limited; 500: Stripe's own error). */
  failNext(count: number, status: 429 | 500): void {
    this.failures = { status, left: count };
  }

  addCustomer(
    c: { name?: string | null; email?: string | null; metadata?: Record<string, string> } = {},
  ): Json & { id: string } {
    const customer = {
      id: id('cus'),
      object: 'customer',
      address: { city: 'Dublin', country: 'IE', line1: '1 Dock Road', line2: null, postal_code: 'D01', state: null },
      balance: 0,
      created: CREATED,
      currency: 'eur',
      email: c.email ?? null,
      livemode: false,
      metadata: c.metadata ?? {},
      name: c.name ?? null,
      phone: null,
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  /** A succeeded card payment: payment intent, its charge and the balance transaction with Stripe's fee. */
  addPayment(p: {
    amount: number;
    currency?: string;
    customer?: string | null;
    fee?: number;
    metadata?: Record<string, string>;
    chargeMetadata?: Record<string, string>;
  }): SimulatedPayment {
    const currency = p.currency ?? 'eur';
    const pi = id('pi');
    const ch = id('ch');
    const txn = id('txn');
    const fee = p.fee ?? 0;
    const balanceTransaction = {
      id: txn,
      object: 'balance_transaction',
      amount: p.amount,
      available_on: CREATED + 2 * 86400,
      created: CREATED,
      currency,
      description: null,
      exchange_rate: null,
      fee,
      fee_details: fee
        ? [{ amount: fee, application: null, currency, description: 'Stripe processing fees', type: 'stripe_fee' }]
        : [],
      net: p.amount - fee,
      reporting_category: 'charge',
      source: ch,
      status: 'pending',
      type: 'charge',
    };
    const charge = {
      id: ch,
      object: 'charge',
      amount: p.amount,
      amount_captured: p.amount,
      amount_refunded: 0,
      balance_transaction: txn,
      captured: true,
      created: CREATED,
      currency,
      customer: p.customer ?? null,
      description: null,
      livemode: false,
      metadata: p.chargeMetadata ?? {},
      paid: true,
      payment_intent: pi,
      payment_method_details: { type: 'card', card: { brand: 'visa', last4: '4242' } },
      refunded: false,
      status: 'succeeded',
    };
    const paymentIntent = {
      id: pi,
      object: 'payment_intent',
      amount: p.amount,
      amount_received: p.amount,
      capture_method: 'automatic',
      created: CREATED,
      currency,
      customer: p.customer ?? null,
      latest_charge: ch,
      livemode: false,
      metadata: p.metadata ?? {},
      status: 'succeeded',
    };
    this.balanceTransactions.set(txn, balanceTransaction);
    this.charges.set(ch, charge);
    this.paymentIntents.set(pi, paymentIntent);
    return { paymentIntent, charge, balanceTransaction };
  }

  /** A refund of (part of) a charge; the charge shows it as Stripe does. */
  addRefund(chargeId: string, amount: number): Json & { id: string } {
    const charge = this.charges.get(chargeId)!;
    const refund = {
      id: id('re'),
      object: 'refund',
      amount,
      balance_transaction: id('txn'),
      charge: chargeId,
      created: CREATED + 3600,
      currency: charge.currency,
      metadata: {},
      payment_intent: charge.payment_intent,
      reason: 'requested_by_customer',
      status: 'succeeded',
    };
    this.refunds.set(refund.id, refund);
    const refunded = (charge.amount_refunded as number) + amount;
    Object.assign(charge, { amount_refunded: refunded, refunded: refunded >= (charge.amount as number) });
    return refund;
  }

  /** A webhook event as Stripe delivers it. */
  event(type: string, object: Json): Json & { id: string } {
    return {
      id: id('evt'),
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: CREATED,
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
  }

  private expand(object: Json & { id: string }, paths: string[]): Json {
    const out: Json = { ...object };
    for (const path of paths) {
      const value = out[path];
      if (typeof value !== 'string') continue;
      const found =
        path === 'balance_transaction'
          ? this.balanceTransactions.get(value)
          : path === 'payment_intent'
            ? this.paymentIntents.get(value)
            : undefined;
      if (found) out[path] = found;
    }
    return out;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.search });
    req.resume();
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) {
      return stripeError(res, 401, 'invalid_request_error', 'Invalid API Key provided: sk_test_****');
    }
    if (this.failures && this.failures.left > 0) {
      this.failures.left--;
      const { status } = this.failures;
      res.setHeader('stripe-should-retry', 'true');
      return status === 429
        ? stripeError(res, 429, 'invalid_request_error', 'Too many requests hit the API too quickly.', 'rate_limit')
        : stripeError(res, 500, 'api_error', 'An unknown error occurred');
    }
    const expand = [...url.searchParams.entries()].filter(([k]) => k.startsWith('expand')).map(([, v]) => v);
    const ok = (body: Json) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'request-id': id('req'),
        'stripe-version': Stripe.API_VERSION,
      });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/v1/balance')
      return ok({ object: 'balance', livemode: false, available: [{ amount: 0, currency: 'eur' }], pending: [] });
    const m = /^\/v1\/(customers|charges|payment_intents|balance_transactions|refunds)(?:\/([A-Za-z0-9_]+))?$/.exec(
      url.pathname,
    );
    if (req.method !== 'GET' || !m)
      return stripeError(
        res,
        404,
        'invalid_request_error',
        `Unrecognized request URL (${req.method} ${url.pathname}).`,
      );
    const [, resource, objectId] = m;
    const store = {
      customers: this.customers,
      charges: this.charges,
      payment_intents: this.paymentIntents,
      balance_transactions: this.balanceTransactions,
      refunds: this.refunds,
    }[resource!]!;
    if (objectId) {
      const found = store.get(objectId);
      if (!found)
        return stripeError(
          res,
          404,
          'invalid_request_error',
          `No such ${resource!.replace(/s$/, '').replace('_', ' ')}: '${objectId}'`,
          'resource_missing',
          'id',
        );
      return ok(this.expand(found, expand));
    }
    if (resource === 'refunds') {
      const charge = url.searchParams.get('charge');
      const data = [...this.refunds.values()].filter((r) => !charge || r.charge === charge);
      return ok({ object: 'list', data, has_more: false, url: '/v1/refunds' });
    }
    return stripeError(res, 404, 'invalid_request_error', `Unrecognized request URL (GET ${url.pathname}).`);
  }
}

/** A Stripe webhook delivery: the body and its `Stripe-Signature` header, signed by the official helper. */
export function signedStripeDelivery(
  event: Json,
  secret: string,
  timestamp = Math.floor(Date.now() / 1000),
): { body: string; header: string } {
  const body = JSON.stringify(event);
  return { body, header: Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp }) };
}
