import {
  type StoredDocument,
  type WebhookReceiver,
  startWebhookReceiver,
} from '../../src/connectors/webhook/receiver.ts';
import { formatAmount, parseAmount } from '../../src/domain/money.ts';
import type { TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * The webhook target held to the conformance suite, against its receiver (an in-house ERP behind a
 * webhook): item idempotency keys ignored, so that a lost answer is the engine's to resolve by a
 * lookup. The receiver keeps the documents it is sent, as sent.
 */

let receiver: WebhookReceiver | undefined;

/** An invoice's gross, as the receiver was sent it: its lines' net and VAT. */
function gross(doc: StoredDocument): string {
  const currency = String(doc.document.currency);
  let total = 0n;
  for (const l of doc.document.lines as { netAmount: string; vatAmount?: string | null }[]) {
    for (const part of [l.netAmount, l.vatAmount ?? '0']) {
      const v = parseAmount(part, currency);
      if (!v.ok) throw new Error(`the receiver holds an amount that does not parse: ${part}`);
      total += v.value;
    }
  }
  return formatAmount(total, currency);
}

const webhook: TargetHarness = {
  type: 'webhook',
  unsupported: {
    unlinkedDocuments:
      'the outbound webhook keeps nothing to read back: there is nothing in it but what the pipeline sent',
    creditNotes: 'the webhook target takes no credit notes (capabilities.creditNotes is false)',
    amountsDue: 'the receiver keeps the documents it is sent, not what each invoice still owes',
    earlyPayments:
      'the receiver is sent each payment as it comes, naming its invoice by reference; applying one that came first is the receiver’s',
    reconciliation:
      'the outbound webhook keeps nothing to read back: its reconciliation compares what the receiver acknowledged',
    openBalances: 'the outbound webhook keeps nothing to read back: each customer’s open balance is the source’s',
  },
  async open() {
    receiver ??= await startWebhookReceiver({ seed: 13, honourItemKeys: false, dropAfterCommitRate: 0.1 });
    const r = receiver;
    const held = (kind: 'customer' | 'invoice' | 'payment' | 'refund') => r.documents.filter((d) => d.kind === kind);
    return {
      target: r.settings(),
      holdings: () =>
        Promise.resolve({
          customers: held('customer').map((d) => ({ id: d.id, name: String(d.document.name) })),
          invoices: held('invoice').map((d) => ({
            id: d.id,
            reference: d.reference,
            number: d.number,
            customerId: String(d.customerTargetId),
            gross: gross(d),
            due: null,
          })),
          creditNotes: [],
          payments: held('payment').map((d) => {
            const sent = d.document as { amount: string; invoiceTargetId?: string | null };
            return {
              id: d.id,
              reference: d.reference,
              customerId: String(d.customerTargetId),
              amount: money(sent.amount),
              appliedTo: sent.invoiceTargetId ? [{ invoiceId: sent.invoiceTargetId, amount: money(sent.amount) }] : [],
            };
          }),
          // A refund names the payment it returns; the receiver books it against that payment.
          refunds: held('refund').map((d) => {
            const sent = d.document as { amount: string; paymentTargetId?: string | null };
            return {
              id: d.id,
              reference: d.reference,
              customerId: String(d.customerTargetId),
              amount: money(sent.amount),
              paymentId: sent.paymentTargetId ?? null,
            };
          }),
          // The fee goes to the receiver with its payment: it books it, once, as the payment is.
          fees: held('payment').flatMap((d) => {
            const fee = (d.document as { fee?: string | null }).fee;
            return fee && money(fee) !== '0.00'
              ? [{ id: d.id, reference: d.reference, customerId: String(d.customerTargetId), amount: money(fee) }]
              : [];
          }),
        }),
      violations: () => r.duplicates(),
      // The next write is the invoice's: the scenario books its customer first.
      dropNextInvoiceAnswer: () => r.control.dropNext(1),
      dropped: () => r.stats.dropped,
      refuse(invoice) {
        const ref = invoice.externalReference;
        r.control.rejectWhen = (doc, kind) =>
          kind === 'invoice' && doc.externalReference === ref
            ? { code: 'PERIOD_CLOSED', message: 'November is closed in the ERP' }
            : null;
        return Promise.resolve({
          invoice,
          code: 'TARGET_REFUSED',
          says: /PERIOD_CLOSED.*November is closed in the ERP/,
        });
      },
    };
  },
  close: async () => receiver?.close(),
};

conformance(webhook);
