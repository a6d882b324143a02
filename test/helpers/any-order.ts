import { invoiceEvent } from './webhooks.ts';

/*
 * Groups of documents that may come in any order (webhooks come in no guaranteed order), for the
 * property tests that hold them to the natural order's books: an invoice, a payment naming it (or
 * nothing) and a refund of that payment, each possibly missing, as canonical webhook events.
 */

export interface OrderGroup {
  invoice: { net: number } | null;
  payment: { cents: number; namesInvoice: boolean } | null;
  refund: { cents: number } | null;
}

/** Minor units as an amount of two decimals. */
export const money = (v: number) => `${Math.floor(v / 100)}.${String(v % 100).padStart(2, '0')}`;

/** The group's events in the natural order (invoice, payment, refund), each as the sender sends it. */
export function groupEvents(
  prefix: string,
  g: OrderGroup,
  opts: { customer: { sourceId: string; name: string }; vatRate: string; nextId: () => string },
): { kind: 'invoice' | 'payment' | 'refund'; event: object }[] {
  const base = { customerSourceId: opts.customer.sourceId, customer: opts.customer, currency: 'EUR' };
  const created = Math.floor(Date.now() / 1000);
  const out: { kind: 'invoice' | 'payment' | 'refund'; event: object }[] = [];
  if (g.invoice)
    out.push({
      kind: 'invoice',
      event: invoiceEvent(opts.nextId(), `SO-${prefix}`, {
        created,
        customer: opts.customer,
        description: 'Goods',
        net: money(g.invoice.net),
        vatRate: opts.vatRate,
        data: { sourceId: `order-${prefix}` },
      }),
    });
  if (g.payment)
    out.push({
      kind: 'payment',
      event: {
        id: opts.nextId(),
        type: 'payment.received',
        created,
        data: {
          ...base,
          sourceId: `pay-${prefix}`,
          externalReference: `PAY-${prefix}`,
          date: '2026-11-22',
          amount: money(g.payment.cents),
          invoiceExternalReference: g.payment.namesInvoice ? `SO-${prefix}` : null,
        },
      },
    });
  if (g.refund)
    out.push({
      kind: 'refund',
      event: {
        id: opts.nextId(),
        type: 'refund.created',
        created,
        data: {
          ...base,
          sourceId: `ref-${prefix}`,
          externalReference: `RF-${prefix}`,
          date: '2026-11-23',
          amount: money(g.refund.cents),
          paymentExternalReference: `PAY-${prefix}`,
        },
      },
    });
  return out;
}
