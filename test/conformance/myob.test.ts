import { formatAmount } from '../../src/domain/money.ts';
import { myobTarget } from '../../src/connectors/myob/index.ts';
import { type MyobSimulator, startMyobSimulator } from '../../src/connectors/myob/simulator.ts';
import type { Sale } from '../../src/connectors/myob/simulator-store.ts';
import { createMyobTarget } from '../../src/connectors/myob/target.ts';
import { processScope } from '../helpers/scoped.ts';
import type { TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * MYOB held to the conformance suite, against the simulated MYOB and its token endpoint, losing
 * 10% of write answers after committing, with company file credentials required. The client
 * makes one attempt per call, so that a lost answer is the engine's to look up. The company file
 * refuses a sale dated before the start of its financial year, in its own words. A provider's fee
 * is spend money out of the payment's bank account (read from the company file's own store).
 */

const CLIENT = { clientId: 'myob-conformance-key', clientSecret: 'myob-conformance-secret-0123' };
const FILE = '5b2f0c1e-8a3d-4c7e-9f10-2a6b7c8d9e01';

const scope = processScope();
scope.target({
  ...myobTarget,
  create: (deps) =>
    Promise.resolve(
      createMyobTarget(deps, { rateWaitMs: 5, client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } }),
    ),
});

let sim: MyobSimulator | undefined;

const myob: TargetHarness = {
  type: 'myob',
  unsupported: {
    refunds:
      'MYOB refunds a customer credit, not a payment, and this target leaves no payment unapplied: it parks refunds (capabilities.refunds is false)',
    overpayments:
      "MYOB applies a customer payment only up to its invoices' balance and keeps nothing unapplied: a payment larger than its invoice is parked",
    paymentAllocations:
      'MYOB keeps no unapplied customer payment: a payment naming no invoice booked in MYOB is parked (TARGET_CAPABILITY_MISSING), and so waits its allocation',
  },
  async open() {
    sim ??= await startMyobSimulator({
      ...CLIENT,
      companyFiles: {
        [FILE]: {
          currency: 'EUR',
          taxCodes: { V21: '21', V9: '9', V0: '0' },
          // The company file's one bank-fees expense account: the target finds it (accounts.fees unset).
          accounts: {
            '4-1000': 'Sales',
            '1-1110': 'Business Bank Account',
            '6-1100': { name: 'Bank Fees', taxCode: 'V0' },
          },
          credentials: { user: 'Administrator', password: '' },
        },
      },
      seed: 23,
      dropAfterCommitRate: 0.1,
      limits: { perSecond: 100_000, perDay: 10_000_000 },
    });
    const s = sim;
    const file = () => s.file(FILE);
    const amount = (minor: bigint) => money(formatAmount(minor, 'EUR'));
    const doc = (d: Sale, sign: bigint) => ({
      id: d.UID,
      reference: d.reference,
      number: d.Number,
      customerId: d.customerUid,
      gross: amount(d.total * sign),
      due: amount(d.balance * sign),
    });
    return {
      target: {
        type: 'myob',
        ...CLIENT,
        refreshToken: s.issueRefreshToken(),
        companyFileId: FILE,
        companyFileUser: 'Administrator',
        companyFilePassword: '',
        currency: 'EUR',
        customerTaxCode: 'V21',
        accounts: { sales: '4-1000', bank: '1-1110' },
        baseUrl: s.baseUrl,
        tokenUrl: s.tokenUrl,
        limits: { callsPerSecond: 100_000, callsPerDay: 10_000_000 },
      },
      holdings() {
        const f = file();
        const sales = [...f.sales.values()];
        return Promise.resolve({
          customers: [...f.customers.values()].map((c) => ({ id: c.UID, name: c.name })),
          invoices: sales.filter((d) => d.total > 0n).map((d) => doc(d, 1n)),
          creditNotes: sales
            .filter((d) => d.total < 0n)
            .map((d) => ({
              ...doc(d, -1n),
              appliedTo: [...f.settlements.values()]
                .filter((x) => x.creditUid === d.UID)
                .flatMap((x) => x.lines.map((l) => ({ invoiceId: l.saleUid, amount: amount(l.amount) }))),
            })),
          payments: [...f.payments.values()].map((p) => ({
            id: p.UID,
            reference: p.memo,
            customerId: p.customerUid,
            amount: amount(p.amount),
            appliedTo: p.invoices.map((i) => ({ invoiceId: i.uid, amount: amount(i.amount) })),
          })),
          // Spend money as the company file keeps it: the memo is the payment's reference, the line's
          // memo names the customer card it is the fee of.
          fees: [...f.spendMoney.values()].map((x) => ({
            id: x.UID,
            reference: x.memo,
            customerId: /\(ledgerlink customer ([^\s()]+)\)/.exec(x.lines.map((l) => l.memo).join(' '))?.[1] ?? null,
            amount: amount(x.total),
          })),
        });
      },
      // A person keys a sale in AccountRight: the Service layout, our reference where the connector
      // writes it (Customer PO #), one line on the sales account at the 21% code, open.
      keyInvoice({ customerTargetId, reference, date, net }) {
        const f = file();
        f.createSale({
          Date: `${date}T00:00:00`,
          Customer: { UID: customerTargetId },
          CustomerPurchaseOrderNumber: reference,
          Lines: [
            {
              Description: 'Keyed by hand',
              Total: net,
              Account: { UID: f.accounts.find((a) => a.DisplayID === '4-1000')!.UID },
              TaxCode: { UID: f.taxCodes.find((t) => t.Code === 'V21')!.UID },
            },
          ],
        });
        return Promise.resolve();
      },
      // A person deletes the sale in AccountRight: MYOB keeps no voided sale, and answers 404 for it.
      voidInvoice(id) {
        file().deleteSale(id);
        return Promise.resolve();
      },
      violations: () => [...s.duplicates(FILE), ...s.violations],
      dropNextInvoiceAnswer: () => s.dropNext(1, (r) => r.method === 'POST' && r.route === 'Sale/Invoice/Service'),
      dropped: () => s.stats.dropped,
      refuse(invoice) {
        // The company file's financial year starts on 1 July 2001: a sale dated before it is refused.
        file().financialYearStart = '2001-07-01';
        return Promise.resolve({
          invoice: { ...invoice, invoiceDate: '2000-12-01', dueDate: '2000-12-31' },
          code: 'TARGET_REFUSED',
          says: /beginning of the financial year/,
        });
      },
    };
  },
  close: async () => {
    await sim?.close();
  },
};

conformance(myob);
