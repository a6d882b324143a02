import type Stripe from 'stripe';
import type { Queryable } from '../../db/database.ts';
import { formatAmount } from '../../domain/money.ts';
import { CODE_PATTERN, type CanonicalCustomer, type CanonicalRecord } from '../../sync/canonical.ts';
import { ConnectorError, type InvalidItem, type SourceItem } from '../../sync/connector.ts';
import type { Pipeline } from '../../sync/pipelines.ts';
import type { StoredWebhookEvent } from '../../sync/webhook-events.ts';
import type { TargetLookups } from '../../sync/registry.ts';
import { type StripeApi, type StripeSourceConfig, idOf } from './api.ts';

/** The Stripe events ledgerlink books; others are acknowledged and not stored. */
export const STRIPE_EVENT_TYPES: ReadonlySet<string> = new Set([
  'payment_intent.succeeded',
  'charge.succeeded',
  'charge.refunded',
  'refund.created',
]);

export interface ConvertContext {
  api: StripeApi;
  db: Queryable;
  pipeline: Pipeline;
  config: StripeSourceConfig;
  /** What the pipeline's target already holds: customers are linked, never overwritten. */
  target: TargetLookups;
  /** Customers resolved in this run, by Stripe customer id (or invoice reference for guests). */
  customers: Map<
    string,
    { record: CanonicalCustomer } | { invalid: Omit<InvalidItem, 'kind' | 'sourceId' | 'payload'> }
  >;
}

function utcDate(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().slice(0, 10);
}

/** The invoice a payment pays: `metadata.invoice_reference` on the charge or its payment intent. */
function invoiceReferenceOf(charge: Stripe.Charge): string | null {
  const pi = typeof charge.payment_intent === 'object' ? charge.payment_intent : null;
  const ref = (charge.metadata?.invoice_reference ?? pi?.metadata?.invoice_reference ?? '').trim();
  return ref !== '' && ref.length <= 50 ? ref : null;
}

/** The receipt's reference: the payment intent when there is one (both its events name it), else the charge. */
function receiptReferenceOf(charge: Stripe.Charge): string {
  return idOf(charge.payment_intent) ?? charge.id;
}

function fromStripe(c: Stripe.Customer, code: string | null): CanonicalCustomer {
  const a = c.address;
  const street = [a?.line1, a?.line2].filter((s): s is string => !!s).join(', ');
  return {
    kind: 'customer',
    sourceId: c.id,
    code,
    name: (c.name || c.email || c.id).slice(0, 200),
    email: c.email ?? null,
    phone: c.phone ?? null,
    street: street || null,
    postalCode: a?.postal_code ?? null,
    city: a?.city ?? null,
    country: a?.country ?? null,
    ...(c.currency ? { currency: c.currency.toUpperCase() } : {}),
  };
}

/**
 * Who paid. A Stripe customer is fetched through the API the first time the pipeline meets it and
 * created in the ledger, with the code in its `metadata.customer_code`, else the code of the
 * customer whose invoice the payment names (Stripe identifies the invoice and so its customer),
 * else one made from its id. A customer the ledger already has is linked with the ledger's own
 * details, never overwritten by Stripe's. A guest payment (no Stripe customer) is booked to the
 * customer of the invoice it names.
 */
async function resolveCustomer(cx: ConvertContext, stripeCustomerId: string | null, invoiceRef: string | null) {
  const key = stripeCustomerId ?? `invoice:${invoiceRef ?? ''}`;
  const cached = cx.customers.get(key);
  if (cached) return cached;
  const { target } = cx;
  let result: { record: CanonicalCustomer } | { invalid: Omit<InvalidItem, 'kind' | 'sourceId' | 'payload'> } | null =
    null;
  if (stripeCustomerId) {
    const mapped = await target.mappedId('customer', stripeCustomerId);
    const linked = mapped ? await target.customer(mapped, stripeCustomerId) : null;
    if (linked) result = { record: linked };
    else {
      const c = await cx.api.customer(stripeCustomerId);
      const given = c?.metadata?.customer_code?.trim().toUpperCase();
      const code =
        (given && CODE_PATTERN.test(given) ? given : null) ??
        (invoiceRef ? await target.invoiceCustomer(invoiceRef) : null);
      const existing = code ? await target.customer(code, stripeCustomerId) : null;
      if (existing) result = { record: existing };
      else if (c) result = { record: fromStripe(c, code) };
      else
        result = {
          invalid: {
            reasonCode: 'STRIPE_CUSTOMER_NOT_FOUND',
            message: `Stripe has no customer ${stripeCustomerId} (deleted?)`,
            field: 'customer',
          },
        };
    }
  } else {
    const code = invoiceRef ? await target.invoiceCustomer(invoiceRef) : null;
    const linked = code ? await target.customer(code, `ledger:${code}`) : null;
    result = linked
      ? { record: linked }
      : {
          invalid: {
            reasonCode: 'STRIPE_PAYMENT_WITHOUT_CUSTOMER',
            message:
              'The payment has no Stripe customer and names no invoice of a known customer: set a customer on the payment intent, or metadata.invoice_reference',
            field: 'customer',
          },
        };
  }
  cx.customers.set(key, result);
  return result;
}

async function paymentItems(cx: ConvertContext, charge: Stripe.Charge, raw: unknown): Promise<SourceItem[]> {
  // An authorisation is not money yet; its capture comes as payment_intent.succeeded.
  if (charge.status !== 'succeeded' || !charge.captured) return [];
  const currency = charge.currency.toUpperCase();
  const invoiceRef = invoiceReferenceOf(charge);
  const pi = typeof charge.payment_intent === 'object' ? charge.payment_intent : null;
  const who = await resolveCustomer(cx, idOf(charge.customer) ?? idOf(pi?.customer), invoiceRef);
  if ('invalid' in who)
    return [{ invalid: { ...who.invalid, kind: 'payment', sourceId: charge.id, payload: { raw } } }];
  const bt = typeof charge.balance_transaction === 'object' ? charge.balance_transaction : null;
  // The fee is booked when Stripe charged it in the payment's currency; a fee in the settlement
  // currency of a converted charge is not an amount of this receipt, so it is said, not booked.
  const feeBooked = bt && bt.fee > 0 && bt.currency.toUpperCase() === currency;
  const note =
    bt && bt.fee > 0 && !feeBooked
      ? ` (fee ${formatAmount(BigInt(bt.fee), bt.currency.toUpperCase())} ${bt.currency.toUpperCase()} not booked: another currency)`
      : '';
  const amount = charge.amount_captured > 0 ? charge.amount_captured : charge.amount;
  const payment: CanonicalRecord = {
    kind: 'payment',
    sourceId: charge.id,
    externalReference: receiptReferenceOf(charge),
    customerSourceId: who.record.sourceId,
    date: utcDate(charge.created),
    amount: formatAmount(BigInt(amount), currency),
    currency,
    invoiceExternalReference: invoiceRef,
    fee: feeBooked ? formatAmount(BigInt(bt.fee), currency) : null,
    bankAccountCode: cx.config.bankAccountCode ?? null,
    method: charge.payment_method_details?.type ?? null,
    description: `Stripe ${charge.id}${charge.description ? `: ${charge.description}` : ''}${note}`.slice(0, 500),
  };
  return [
    { record: who.record, raw },
    { record: payment, raw },
  ];
}

async function refundItems(
  cx: ConvertContext,
  refund: Stripe.Refund,
  charge: Stripe.Charge,
  raw: unknown,
): Promise<SourceItem[]> {
  if (refund.status === 'failed' || refund.status === 'canceled') return [];
  const currency = refund.currency.toUpperCase();
  const pi = typeof charge.payment_intent === 'object' ? charge.payment_intent : null;
  const who = await resolveCustomer(cx, idOf(charge.customer) ?? idOf(pi?.customer), invoiceReferenceOf(charge));
  if ('invalid' in who) return [{ invalid: { ...who.invalid, kind: 'refund', sourceId: refund.id, payload: { raw } } }];
  return [
    { record: who.record, raw },
    {
      record: {
        kind: 'refund',
        sourceId: refund.id,
        externalReference: refund.id,
        customerSourceId: who.record.sourceId,
        date: utcDate(refund.created),
        amount: formatAmount(BigInt(refund.amount), currency),
        currency,
        paymentExternalReference: receiptReferenceOf(charge),
        bankAccountCode: cx.config.bankAccountCode ?? null,
        description: `Stripe refund ${refund.id} of ${charge.id}`,
      },
      raw,
    },
  ];
}

/**
 * The canonical records of one stored Stripe event. Both events of one payment
 * (payment_intent.succeeded, charge.succeeded) give the same payment, keyed by the charge id, and
 * both of one refund (refund.created, charge.refunded) the same refund: the engine posts the
 * first and skips the second.
 */
async function eventItems(cx: ConvertContext, stored: StoredWebhookEvent): Promise<SourceItem[]> {
  const event = stored.payload as Stripe.Event;
  const raw = { eventId: stored.eventId, type: stored.type };
  switch (event.type) {
    case 'payment_intent.succeeded': {
      const chargeId = idOf(event.data.object.latest_charge);
      return chargeId ? paymentItems(cx, await cx.api.charge(chargeId), raw) : [];
    }
    case 'charge.succeeded':
      return paymentItems(cx, await cx.api.charge(event.data.object.id), raw);
    case 'refund.created': {
      const chargeId = idOf(event.data.object.charge);
      return chargeId ? refundItems(cx, event.data.object, await cx.api.charge(chargeId), raw) : [];
    }
    case 'charge.refunded': {
      const charge = await cx.api.charge(event.data.object.id);
      const out: SourceItem[] = [];
      for (const refund of await cx.api.refundsOfCharge(charge.id))
        out.push(...(await refundItems(cx, refund, charge, raw)));
      return out;
    }
    default:
      return [];
  }
}

/**
 * Turns a batch of stored Stripe events into a page. An event Stripe cannot answer for (a charge
 * that does not exist) is parked on its own; a failure worth retrying (rate limit, outage) stops
 * the page unmarked, so that the queue retries the run and no event is lost.
 */
export async function convertStripeEvents(cx: ConvertContext, events: StoredWebhookEvent[]) {
  const items: SourceItem[] = [];
  for (const stored of events) {
    try {
      items.push(...(await eventItems(cx, stored)));
    } catch (err) {
      if (!(err instanceof ConnectorError) || err.retryable) throw err;
      const object = (stored.payload as { data?: { object?: { id?: unknown } } }).data?.object?.id;
      items.push({
        invalid: {
          kind: stored.type.startsWith('refund') || stored.type === 'charge.refunded' ? 'refund' : 'payment',
          sourceId: typeof object === 'string' ? object : stored.eventId,
          reasonCode: 'STRIPE_API_ERROR',
          message: err.message,
          payload: { raw: { eventId: stored.eventId, type: stored.type } },
        },
      });
    }
  }
  return { items, used: events };
}
