import { formatAmount } from '../../src/domain/money.ts';
import { intacctTarget } from '../../src/connectors/intacct/index.ts';
import { type IntacctSimulator, startIntacctSimulator } from '../../src/connectors/intacct/simulator.ts';
import { createIntacctTarget } from '../../src/connectors/intacct/target.ts';
import { processScope } from '../helpers/scoped.ts';
import type { TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * Sage Intacct held to the conformance suite, against the simulated XML gateway, losing 10% of
 * write answers after committing. The client makes one attempt per call, so that a lost answer is
 * the engine's to look up. The company refuses an invoice dated in a closed period, in its own
 * words.
 */

const SENDER = { senderId: 'll_sender', senderPassword: 'sender-secret-0123456789' };
const USER = { companyId: 'LEDGERLINK-CF', userId: 'xml_user', password: 'user-secret-0123456789' };

const scope = processScope();
scope.target({
  ...intacctTarget,
  create: (deps) =>
    Promise.resolve(createIntacctTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } })),
});

let sim: IntacctSimulator | undefined;

const intacct: TargetHarness = {
  type: 'intacct',
  unsupported: {
    refunds:
      'no Intacct XML API function books a customer refund: the target parks refunds (capabilities.refunds is false)',
  },
  async open() {
    sim ??= await startIntacctSimulator({
      ...SENDER,
      users: [USER],
      companies: {
        [USER.companyId]: {
          currency: 'EUR',
          glAccounts: ['4000', '2200'],
          // The bank-charges expense account payment providers' fees are found on.
          chart: [
            {
              ACCOUNTNO: '6100',
              TITLE: 'Bank Charges',
              ACCOUNTTYPE: 'incomestatement',
              NORMALBALANCE: 'debit',
              STATUS: 'active',
            },
          ],
          bankAccounts: ['BANK1'],
        },
      },
      seed: 29,
      dropAfterCommitRate: 0.1,
      limits: { concurrent: 2 },
    });
    const s = sim;
    const company = () => s.company(USER.companyId);
    const amount = (minor: bigint) => money(formatAmount(minor, 'EUR'));
    return {
      target: {
        type: 'intacct',
        endpoint: s.endpoint,
        ...SENDER,
        companyId: USER.companyId,
        userId: USER.userId,
        userPassword: USER.password,
        currency: 'EUR',
        salesGlAccount: '4000',
        taxGlAccounts: { '0.21': '2200' },
        bankAccountId: 'BANK1',
        limits: { callsPerDay: 1_000_000 },
      },
      holdings() {
        const c = company();
        const records = [...c.records.values()];
        const appliedFrom = (key: string) =>
          c.details
            .filter((d) => d.PAYMENTKEY === key)
            .map((d) => ({ invoiceId: d.RECORDKEY, amount: amount(d.amount) }));
        return Promise.resolve({
          customers: [...c.customers.values()].map((x) => ({ id: x.CUSTOMERID!, name: x.NAME ?? '' })),
          invoices: records
            .filter((r) => r.kind === 'invoice')
            .map((r) => ({
              id: r.RECORDNO,
              reference: r.DOCNUMBER,
              number: r.RECORDID,
              customerId: r.CUSTOMERID,
              gross: amount(r.total),
              due: amount(r.open),
            })),
          creditNotes: records
            .filter((r) => r.kind === 'adjustment')
            .map((r) => ({
              id: r.RECORDNO,
              // The reference number (invoiceno); its number is the same unless another customer's held it.
              reference: r.DOCNUMBER || r.RECORDID,
              number: r.RECORDID,
              customerId: r.CUSTOMERID,
              gross: amount(-r.total),
              due: amount(-r.open),
              appliedTo: appliedFrom(r.RECORDNO),
            })),
          payments: records
            .filter((r) => r.kind === 'payment')
            .map((r) => ({
              id: r.RECORDNO,
              reference: r.DOCNUMBER,
              customerId: r.CUSTOMERID,
              amount: amount(r.total),
              appliedTo: appliedFrom(r.RECORDNO),
            })),
          // A fee is a bank service charge: its reference number the payment's, its line's customer the payment's.
          fees: [...c.bankFees.values()].map((f) => ({
            id: f.RECORDNO,
            reference: f.RECORDID,
            customerId: f.lines[0]?.CUSTOMERID || null,
            amount: amount(f.lines.reduce((x, l) => x + l.amount, 0n)),
          })),
        });
      },
      // A person keys an invoice in Intacct: our reference in its reference number (ponumber, read
      // back as DOCNUMBER, where the connector writes it), dated and due `date`, the net to 4000
      // and the VAT to 2200, as the connector's lines go.
      keyInvoice({ customerTargetId, reference, date, net, vat }) {
        const day = { year: date.slice(0, 4), month: date.slice(5, 7), day: date.slice(8, 10) };
        company().createInvoice({
          customerid: customerTargetId,
          datecreated: day,
          datedue: day,
          ponumber: reference,
          description: 'Keyed by hand',
          invoiceitems: {
            lineitem: [
              { glaccountno: '4000', amount: net, memo: 'Keyed by hand' },
              { glaccountno: '2200', amount: vat, memo: 'VAT 21%' },
            ],
          },
        });
        return Promise.resolve();
      },
      // A person reverses the invoice in Intacct (AR configured to reverse unpaid invoices rather
      // than delete them): it stays there, Reversed, a Reversal transaction zeroing it out.
      voidInvoice(id) {
        const c = company();
        c.reverse(id, c.records.get(id)!.date);
        return Promise.resolve();
      },
      violations: () => [...s.duplicates(USER.companyId), ...s.violations],
      dropNextInvoiceAnswer: () => s.dropNext(1, (r) => r.function === 'create_invoice'),
      dropped: () => s.stats.dropped,
      refuse(invoice) {
        // The company has closed its books through the end of 2000.
        company().closedThrough = '2000-12-31';
        return Promise.resolve({
          invoice: { ...invoice, invoiceDate: '2000-12-01', dueDate: '2000-12-31' },
          code: 'TARGET_REFUSED',
          says: /within a period that's been closed/,
        });
      },
    };
  },
  close: async () => {
    await sim?.close();
  },
};

conformance(intacct);
