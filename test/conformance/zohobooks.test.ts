import { formatAmount } from '../../src/domain/money.ts';
import { zohoBooksTarget } from '../../src/connectors/zohobooks/index.ts';
import { type ZohoBooksSimulator, startZohoBooksSimulator } from '../../src/connectors/zohobooks/simulator.ts';
import { createZohoBooksTarget } from '../../src/connectors/zohobooks/target.ts';
import { processScope } from '../helpers/scoped.ts';
import type { TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * Zoho Books held to the conformance suite, against the simulated Zoho Books and its Zoho
 * Accounts token endpoint, losing 10% of write answers after committing. The client makes one
 * attempt per call, so that a lost answer is the engine's to look up. The organisation refuses
 * an invoice dated in a period it has locked (Zoho's transaction locking), in its own words.
 */

const CLIENT = { clientId: '1000.ZOHOTESTCLIENT', clientSecret: 'zoho-client-secret-0123456789' };
const ORG = '60012345678';

const scope = processScope();
scope.target({
  ...zohoBooksTarget,
  create: (deps) =>
    Promise.resolve(createZohoBooksTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } })),
});

let sim: ZohoBooksSimulator | undefined;

const zohobooks: TargetHarness = {
  type: 'zohobooks',
  unsupported: {},
  async open() {
    sim ??= await startZohoBooksSimulator({
      ...CLIENT,
      organisations: { [ORG]: { currency: 'EUR', taxes: { 'BTW 21%': '21', 'BTW 9%': '9', 'BTW 0%': '0' } } },
      seed: 23,
      dropAfterCommitRate: 0.1,
      limits: { perMinute: 100_000, perDay: 1_000_000 },
    });
    const s = sim;
    const org = () => s.org(ORG);
    const amount = (minor: bigint) => money(formatAmount(minor, 'EUR'));
    return {
      target: {
        type: 'zohobooks',
        ...CLIENT,
        refreshToken: s.issueRefreshToken(),
        organizationId: ORG,
        dataCenter: 'eu',
        baseUrl: s.baseUrl,
        tokenUrl: s.tokenUrl,
        limits: { callsPerMinute: 100_000, callsPerDay: 1_000_000 },
      },
      holdings() {
        const o = org();
        const doc = (d: {
          id: string;
          reference_number: string;
          number: string;
          customer_id: string;
          total: bigint;
          balance: bigint;
        }) => ({
          id: d.id,
          reference: d.reference_number,
          number: d.number,
          customerId: d.customer_id,
          gross: amount(d.total),
          due: amount(d.balance),
        });
        return Promise.resolve({
          customers: [...o.contacts.values()].map((c) => ({ id: c.contact_id, name: c.contact_name })),
          invoices: [...o.invoices.values()].map(doc),
          creditNotes: [...o.creditNotes.values()].map((d) => ({
            ...doc(d),
            appliedTo: o.credits
              .filter((c) => c.creditnote_id === d.id)
              .map((c) => ({ invoiceId: c.invoice_id, amount: amount(c.amount_applied) })),
          })),
          // What a payment's money went to: the invoices it is applied to, and its refunds (what
          // they returned is no longer unused on it), as the ledger shows a receipt set against a refund.
          payments: [...o.payments.values()].map((p) => ({
            id: p.payment_id,
            reference: p.reference_number,
            customerId: p.customer_id,
            amount: amount(p.amount),
            appliedTo: [
              ...p.invoices.map((i) => ({ invoiceId: i.invoice_id, amount: amount(i.amount_applied) })),
              ...o.refunds
                .filter((r) => r.payment_id === p.payment_id)
                .map((r) => ({ invoiceId: `${r.payment_id}:${r.payment_refund_id}`, amount: amount(r.amount) })),
            ],
          })),
          // A provider's fee is its payment's bank charges: the payment's own, under its reference and customer.
          fees: [...o.payments.values()]
            .filter((p) => p.bank_charges > 0n)
            .map((p) => ({
              id: p.payment_id,
              reference: p.reference_number,
              customerId: p.customer_id,
              amount: amount(p.bank_charges),
            })),
          // A refund is Zoho's refund of a customer payment's unused amount: always of one payment,
          // whose customer it is (the refund itself names none). Its id carries its payment's.
          refunds: o.refunds.map((r) => ({
            id: `${r.payment_id}:${r.payment_refund_id}`,
            reference: r.reference_number,
            customerId: o.payments.get(r.payment_id)!.customer_id,
            amount: amount(r.amount),
            paymentId: r.payment_id,
          })),
        });
      },
      // A person keys an invoice in Zoho Books: our reference where the target writes it
      // (`reference_number`), one line at the organisation's 21% tax, marked sent (open).
      keyInvoice({ customerTargetId, reference, date, net, vat }) {
        const o = org();
        const tax = o.taxes.find((t) => t.tax_percentage === '21')!;
        const made = o.createInvoice({
          customer_id: customerTargetId,
          reference_number: reference,
          date,
          line_items: [{ name: 'Keyed by hand', rate: net, quantity: '1', tax_id: tax.tax_id }],
        });
        o.markSent(made.id);
        const taxed = amount(made.total - made.lines[0]!.net);
        if (taxed !== money(vat)) throw new Error(`the invoice keyed by hand has VAT ${taxed}, not ${vat}`);
        return Promise.resolve();
      },
      // A person voids the invoice in Zoho Books: it stays, status void, out of the books.
      voidInvoice(id) {
        org().voidInvoice(id);
        return Promise.resolve();
      },
      violations: () => [...s.duplicates(ORG), ...s.violations],
      dropNextInvoiceAnswer: () => s.dropNext(1, (r) => r.method === 'POST' && r.route === '/invoices'),
      dropped: () => s.stats.dropped,
      refuse(invoice) {
        // The organisation has locked its transactions up to the end of 2000 (Settings → Transaction Locking).
        org().lockedUntil = '2000-12-31';
        return Promise.resolve({
          invoice: { ...invoice, invoiceDate: '2000-12-01', dueDate: '2000-12-31' },
          code: 'TARGET_REFUSED',
          says: /have been locked/,
        });
      },
    };
  },
  close: async () => {
    await sim?.close();
  },
};

conformance(zohobooks);
