import { z } from 'zod';
import {
  CanonicalCustomer,
  CanonicalInvoice,
  CanonicalPayment,
  CanonicalRefund,
  type CanonicalRecord,
  LineInput,
  completeLine,
} from '../../sync/canonical.ts';

/**
 * The canonical webhook: what any system can send to `POST /v1/webhooks/{pipeline}` to have sales
 * booked in real time. The same schemas validate the events and document them in the OpenAPI
 * document. `data` is a canonical record (src/sync/canonical.ts) without its `kind`, which the
 * event type gives.
 */

const EmbeddedCustomer = CanonicalCustomer.omit({ kind: true }).meta({
  description:
    "The document's customer, created or updated in the ledger first. Its sourceId must be the document's customerSourceId. " +
    'Only the keys sent are changed; null or "" clears a field only where the pipeline is authoritative for it (options.customers.authoritative).',
});

/** A document may carry its customer, so that a sender need not send the customer separately first. */
function sameCustomer(d: { customerSourceId: string; customer?: { sourceId: string } | undefined }): boolean {
  return !d.customer || d.customer.sourceId === d.customerSourceId;
}
const SAME_CUSTOMER = { message: 'customer.sourceId must equal customerSourceId', path: ['customer', 'sourceId'] };

export const WebhookInvoice = CanonicalInvoice.omit({ kind: true })
  .extend({
    customer: EmbeddedCustomer.optional(),
    // A line may give quantity and unitPrice instead of netAmount; the net is then computed (eventRecords).
    lines: z.array(LineInput).min(1).max(1000),
  })
  .refine(sameCustomer, SAME_CUSTOMER);
export const WebhookPayment = CanonicalPayment.omit({ kind: true })
  .extend({ customer: EmbeddedCustomer.optional() })
  .refine(sameCustomer, SAME_CUSTOMER);
export const WebhookRefund = CanonicalRefund.omit({ kind: true })
  .extend({ customer: EmbeddedCustomer.optional() })
  .refine(sameCustomer, SAME_CUSTOMER);

const envelope = {
  id: z.string().min(1).max(200).meta({
    description:
      "The sender's unique id of the event. An event id already received is acknowledged again and changes nothing.",
  }),
  created: z
    .number()
    .int()
    .positive()
    .meta({ description: 'When the event happened, in Unix seconds.', examples: [1795267200] }),
};

export const INVOICE_EVENT_TYPES = ['invoice.created', 'invoice.updated', 'order.fulfilled', 'order.shipped'] as const;

export const InvoiceEvent = z
  .strictObject({ ...envelope, type: z.enum(INVOICE_EVENT_TYPES), data: WebhookInvoice })
  .meta({
    description:
      'An invoice to post: created, updated, or raised when an order is fulfilled or shipped. A posted invoice is never changed.',
  });
export const PaymentEvent = z
  .strictObject({ ...envelope, type: z.literal('payment.received'), data: WebhookPayment })
  .meta({
    description:
      'A payment: a receipt, allocated to the invoice named by invoiceExternalReference; a fee goes to bank charges.',
  });
export const RefundEvent = z
  .strictObject({ ...envelope, type: z.literal('refund.created'), data: WebhookRefund })
  .meta({
    description:
      'A refund: a sales debit journal out of the bank, allocated against the receipt named by paymentExternalReference.',
  });

export const WebhookEvent = z.discriminatedUnion('type', [InvoiceEvent, PaymentEvent, RefundEvent]);
export type WebhookEvent = z.output<typeof WebhookEvent>;

export const WEBHOOK_EVENT_TYPES = [...INVOICE_EVENT_TYPES, 'payment.received', 'refund.created'] as const;

/** The canonical records an event stands for: its customer when embedded, then its document. */
export function eventRecords(event: WebhookEvent): CanonicalRecord[] {
  const out: CanonicalRecord[] = [];
  if (event.data.customer) out.push({ kind: 'customer', ...event.data.customer });
  if (event.type === 'payment.received') {
    const { customer: _customer, ...doc } = event.data;
    out.push({ kind: 'payment', ...doc });
  } else if (event.type === 'refund.created') {
    const { customer: _customer, ...doc } = event.data;
    out.push({ kind: 'refund', ...doc });
  } else {
    const { customer: _customer, lines, ...doc } = event.data;
    out.push({ kind: 'invoice', ...doc, lines: lines.map((l) => completeLine(l, doc.currency)) });
  }
  return out;
}

/** An example for the API reference. */
export const WEBHOOK_EXAMPLE = {
  id: 'evt_000123',
  type: 'invoice.created',
  created: 1795267200,
  data: {
    sourceId: 'order-1001',
    externalReference: 'SO-1001',
    customerSourceId: 'cust-42',
    customer: { sourceId: 'cust-42', name: 'Atlantic Compressors Ltd', email: 'accounts@atlantic.example' },
    invoiceDate: '2026-11-21',
    currency: 'EUR',
    location: 'DUBLIN',
    lines: [
      { description: 'Rotary screw compressor', netAmount: '4200.00', vatRate: '0.23' },
      { description: 'Air filter', quantity: '3', unitPrice: '12.3333', vatRate: '0.23' },
    ],
  },
};
