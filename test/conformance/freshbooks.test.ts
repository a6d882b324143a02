import { formatAmount, parseAmount } from '../../src/domain/money.ts';
import { freshBooksTarget } from '../../src/connectors/freshbooks/index.ts';
import { type FreshBooksSimulator, startFreshBooksSimulator } from '../../src/connectors/freshbooks/simulator.ts';
import { createFreshBooksTarget } from '../../src/connectors/freshbooks/target.ts';
import { processScope } from '../helpers/scoped.ts';
import type { TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * FreshBooks held to the conformance suite, against the simulated FreshBooks and its token
 * endpoint, losing 10% of write answers after committing. The client makes one attempt per call,
 * so that a lost answer is the engine's to look up. The account refuses an invoice whose unit price
 * is above the largest amount it takes, in its own error body.
 */

const CLIENT = { clientId: 'fb-conformance-client', clientSecret: 'fb-conformance-secret-0123456789' };
const ACCOUNT = 'Cf7Acc';

const scope = processScope();
scope.target({
  ...freshBooksTarget,
  create: (deps) =>
    Promise.resolve(createFreshBooksTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } })),
});

let sim: FreshBooksSimulator | undefined;

const freshbooks: TargetHarness = {
  type: 'freshbooks',
  unsupported: {
    refunds:
      "no customer refund document confirmed in FreshBooks' API: the target parks refunds (capabilities.refunds is false)",
    overpayments:
      "a FreshBooks payment belongs wholly to its invoice: what it pays above the invoice's amount FreshBooks keeps as the client's credit on that invoice",
    paymentAllocations:
      'a FreshBooks payment is always the payment of one invoice: a payment naming no invoice is parked (TARGET_CAPABILITY_MISSING), and so waits its allocation',
  },
  async open() {
    sim ??= await startFreshBooksSimulator({
      ...CLIENT,
      accounts: { [ACCOUNT]: { taxes: { 'BTW 21%': '21', 'BTW 9%': '9' } } },
      seed: 23,
      dropAfterCommitRate: 0.1,
    });
    const s = sim;
    const acc = () => s.account(ACCOUNT);
    const amount = (minor: bigint) => money(formatAmount(minor, 'EUR'));
    const ref = (note: string) => /^ledgerlink-ref: (.*)$/m.exec(note)?.[1] ?? '';
    return {
      target: {
        type: 'freshbooks',
        ...CLIENT,
        refreshToken: s.issueRefreshToken(),
        tenantId: ACCOUNT,
        baseUrl: s.baseUrl,
        tokenUrl: s.tokenUrl,
        limits: { callsPerMinute: 100_000 },
      },
      holdings() {
        const a = acc();
        return Promise.resolve({
          customers: [...a.clients.values()].map((c) => ({ id: c.id, name: c.organization })),
          // A deleted invoice is kept with vis_state 1, out of the books.
          invoices: [...a.invoices.values()]
            .filter((d) => d.vis_state !== 1)
            .map((d) => ({
              id: d.id,
              reference: d.po_number,
              number: d.invoice_number,
              customerId: d.customerid,
              gross: amount(d.total),
              due: amount(d.outstanding),
            })),
          creditNotes: [...a.creditNotes.values()].map((n) => ({
            id: n.creditid,
            reference: ref(n.notes),
            number: n.credit_number,
            customerId: n.clientid,
            gross: amount(n.total),
            due: amount(n.remaining),
            // FreshBooks keeps credit by client, not by credit note: a payment of type Credit on an
            // invoice draws on the client's credit, oldest first, whichever note it came from. What
            // sets a note against an invoice is the Credit payment ledgerlink made for it, naming the
            // note (the simulator's per-note bookkeeping is FIFO and mismatches once a client's
            // second note is applied before its first, as a fault that parks the first one makes).
            // A reference is unique per client only: the note's are the Credit payments of its own
            // client (an invoice's payment is of the invoice's client) under its reference.
            appliedTo: [...a.payments.values()]
              .filter(
                (p) =>
                  p.type === 'Credit' &&
                  p.clientid === n.clientid &&
                  p.note.split('\n')[0] === `Credit note ${ref(n.notes)}`,
              )
              .map((p) => ({ invoiceId: p.invoiceid, amount: amount(p.amount) })),
          })),
          // Payments of type Credit are how a credit note is set against an invoice: shown on the credit note.
          payments: [...a.payments.values()]
            .filter((p) => p.type !== 'Credit')
            .map((p) => ({
              id: p.id,
              reference: ref(p.note),
              customerId: p.clientid,
              amount: amount(p.amount),
              appliedTo: [{ invoiceId: p.invoiceid, amount: amount(p.amount) }],
            })),
          // A provider's fee is an expense whose notes carry the payment's reference and client.
          fees: [...a.expenses.values()].map((e) => ({
            id: e.id,
            reference: ref(e.notes),
            customerId: /^ledgerlink-customer: (.*)$/m.exec(e.notes)?.[1] ?? null,
            amount: amount(e.amount),
          })),
        });
      },
      // A person keys an invoice in FreshBooks: our reference where the target writes it (`po_number`),
      // one line taxed at the account's 21%, marked sent (open).
      keyInvoice({ customerTargetId, reference, date, net, vat }) {
        const a = acc();
        const made = a.createInvoice({
          customerid: customerTargetId,
          currency_code: 'EUR',
          create_date: date,
          po_number: reference,
          lines: [
            {
              name: 'Keyed by hand',
              qty: '1',
              unit_cost: { amount: net, code: 'EUR' },
              taxName1: 'BTW 21%',
              taxAmount1: '21',
            },
          ],
        });
        a.updateInvoice(made.id, { action_mark_as_sent: true });
        const minor = (v: string) => {
          const p = parseAmount(v, 'EUR');
          if (!p.ok) throw new Error(`not an amount: ${v}`);
          return p.value;
        };
        const gross = a.invoices.get(made.id)!.total;
        if (gross !== minor(net) + minor(vat))
          throw new Error(`the invoice keyed by hand totals ${amount(gross)}, not ${net} + ${vat}`);
        return Promise.resolve();
      },
      // A person deletes the invoice in FreshBooks (it has no void): kept with vis_state 1, out of lists and books.
      voidInvoice(id) {
        acc().deleteInvoice(id);
        return Promise.resolve();
      },
      violations: () => [...s.duplicates(ACCOUNT), ...s.violations],
      dropNextInvoiceAnswer: () => s.dropNext(1, (r) => r.method === 'POST' && r.route === '/invoices/invoices'),
      dropped: () => s.stats.dropped,
      refuse(invoice) {
        return Promise.resolve({
          invoice: {
            ...invoice,
            lines: [
              { description: 'Too much', netAmount: '10000000000.00', vatRate: '0.21', vatAmount: '2100000000.00' },
            ],
          },
          code: 'TARGET_REFUSED',
          says: /unit_cost must be no more than/,
        });
      },
    };
  },
  close: async () => {
    await sim?.close();
  },
};

conformance(freshbooks);
