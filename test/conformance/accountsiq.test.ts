import { accountsiqTarget } from '../../src/connectors/accountsiq/index.ts';
import { type AccountsIqSimulator, startAccountsIqSimulator } from '../../src/connectors/accountsiq/simulator.ts';
import { createAccountsIqTarget } from '../../src/connectors/accountsiq/target.ts';
import { processScope } from '../helpers/scoped.ts';
import type { TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * AccountsIQ held to the conformance suite, against the simulated Integration web service (every
 * envelope checked against the operations' declared elements), losing 10% of write answers after
 * committing. The client makes one attempt per call, so that a lost answer is the engine's to look
 * up. The entity's sales ledger is closed before 2025: an invoice dated in 2024 is refused
 * (DATE_IS_OUT_OF_RANGE), which is how it refuses an invoice here.
 */

const CLIENT = { clientId: 'ledgerlink-conformance', clientSecret: 'aiq-conformance-secret-0123456789' };
const ENTITY = 'CONFORM';

const scope = processScope();
scope.target({
  ...accountsiqTarget,
  create: (deps) =>
    Promise.resolve(createAccountsIqTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } })),
});

let sim: AccountsIqSimulator | undefined;

const accountsiq: TargetHarness = {
  type: 'accountsiq',
  unsupported: {},
  async open() {
    sim ??= await startAccountsIqSimulator({
      entityId: ENTITY,
      ...CLIENT,
      taxCodes: [
        ['S', '0.21'],
        ['R', '0.09'],
        ['Z', '0'],
      ],
      // 6100: bank charges, where a payment provider's fee goes (a sundry bank payment).
      glAccounts: ['4000', '6100'],
      closedBefore: '2025-01-01',
      seed: 23,
      dropAfterCommitRate: 0.1,
    });
    const s = sim;
    return {
      target: {
        type: 'accountsiq',
        url: s.url,
        entityId: ENTITY,
        ...CLIENT,
        glAccountCode: '4000',
        feesGlAccountCode: '6100',
        limits: { callsPerSecond: 10_000, callsPerMinute: 100_000, concurrent: 4 },
      },
      // A person keys a batch invoice in AccountsIQ: one line to 4000 at S (21%), our reference in
      // ExternalReference (where the connector writes and reads it), dated and due `date`.
      keyInvoice({ customerTargetId, reference, date, net, vat }) {
        s.books.postPayAndAllocate({
          BatchInvoice: {
            CustomerCode: customerTargetId,
            InvoiceDate: `${date}T00:00:00`,
            ExternalReference: reference,
            Description: 'Keyed by hand',
            Lines: {
              BatchSalesInvoiceLine: [
                {
                  GLAccountCode: '4000',
                  TaxCode: 'S',
                  Description: 'Keyed by hand',
                  NetAmount: net,
                  TaxRate: '0.21',
                  TaxAmount: vat,
                },
              ],
            },
            ExchangeRate: '1',
            DueDate: `${date}T00:00:00`,
          },
        });
        return Promise.resolve();
      },
      // A person reverses the invoice in AccountsIQ (a posted transaction is never deleted there):
      // it stays, flagged IsReversed, beside its reversing transaction.
      voidInvoice(id) {
        s.books.reverse(Number(id));
        return Promise.resolve();
      },
      holdings() {
        const b = s.books;
        // Reversed transactions, and their reversals, are out of the books.
        const txns = [...b.transactions.values()].filter((t) => !t.reversed);
        const applied = (id: number, side: 'debit' | 'credit') =>
          b.allocations
            .filter((a) => a[side] === id)
            .map((a) => ({ invoiceId: String(a.debit), amount: money(a.amount.toFixed(2)) }));
        // The receipt a debit journal is allocated to (the journal is the debit side), else null.
        const receiptOf = (journal: number) => {
          const a = b.allocations.find(
            (x) => x.debit === journal && b.transactions.get(x.credit)?.type === 'SalesReceipt',
          );
          return a ? String(a.credit) : null;
        };
        const doc = (t: (typeof txns)[number]) => ({
          id: String(t.id),
          reference: t.reference,
          number: t.number,
          customerId: t.customer,
          gross: money(t.gross.toFixed(2)),
          due: money(t.outstanding.toFixed(2)),
        });
        return Promise.resolve({
          customers: [...b.customers.values()].map((c) => ({ id: c.Code!, name: c.Name! })),
          invoices: txns.filter((t) => t.type === 'SalesBatchInvoice').map(doc),
          creditNotes: txns
            .filter((t) => t.type === 'SalesBatchCreditNote')
            .map((t) => ({ ...doc(t), appliedTo: applied(t.id, 'credit') })),
          payments: txns
            .filter((t) => t.type === 'SalesReceipt')
            .map((t) => ({
              id: String(t.id),
              reference: t.reference,
              customerId: t.customer,
              amount: money(t.gross.toFixed(2)),
              // Its allocations to invoices and to the debit journals of its refunds, as the ledger shows them.
              appliedTo: applied(t.id, 'credit'),
            })),
          // A refund is a sales debit journal (the customer owes it again, the bank is credited),
          // set against the receipt it is allocated to, if any.
          refunds: txns
            .filter((t) => t.type === 'SalesDebitJournal')
            .map((t) => ({
              id: String(t.id),
              reference: t.reference,
              customerId: t.customer,
              amount: money(t.gross.toFixed(2)),
              paymentId: receiptOf(t.id),
            })),
          // A fee is a sundry bank payment under its payment's reference, tied to the customer its
          // description's mark names (a sundry payment has no account of its own).
          fees: txns
            .filter((t) => t.type === 'BankPayment')
            .map((t) => ({
              id: String(t.id),
              reference: t.reference,
              customerId: /\(ledgerlink customer ([^\s()]+)\)\s*$/.exec(t.description ?? '')?.[1] ?? null,
              amount: money(t.gross.toFixed(2)),
            })),
        });
      },
      violations: () => [...s.duplicates(), ...s.violations],
      dropNextInvoiceAnswer: () => s.dropNext(1, 'PostPayAndAllocateSalesInvoices'),
      dropped: () => s.stats.dropped,
      refuse(invoice) {
        return Promise.resolve({
          invoice: { ...invoice, invoiceDate: '2024-06-03', dueDate: '2024-07-03' },
          code: 'TARGET_REFUSED',
          says: /DATE_IS_OUT_OF_RANGE/,
        });
      },
    };
  },
  close: async () => {
    await sim?.close();
  },
};

conformance(accountsiq);
