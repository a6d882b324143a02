import { acumaticaTarget } from '../../src/connectors/acumatica/index.ts';
import { type AcumaticaSimulator, startAcumaticaSimulator } from '../../src/connectors/acumatica/simulator.ts';
import { createAcumaticaTarget } from '../../src/connectors/acumatica/target.ts';
import { formatAmount } from '../../src/domain/money.ts';
import { processScope } from '../helpers/scoped.ts';
import { specValidator } from '../helpers/openapi-requests.ts';
import type { TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * Acumatica held to the conformance suite, against the simulated instance (cookie sessions, every
 * request under the endpoint checked against the official Default/24.200.001 OpenAPI contract when
 * ../shared is present), losing 10% of write answers at random. The client makes one attempt per
 * call, so that a lost answer is the engine's to look up. Acumatica refuses an invoice dated in a
 * closed financial period, which is how it refuses one here.
 */

// Not closed: the contract's records are allOf(Entity, fields), which a closed allOf part would refuse.
const validate = specValidator('test/conformance/acumatica.test.ts', 'acumatica/Default_24.200.001.openapi.json');
const USER = { name: 'ledgerlink', password: 'acumatica-password-0123456789' };

const scope = processScope();
scope.target({
  ...acumaticaTarget,
  create: (deps) =>
    Promise.resolve(
      createAcumaticaTarget(deps, {
        client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 },
        sleep: () => Promise.resolve(),
      }),
    ),
});

let sim: AcumaticaSimulator | undefined;
const eur = (minor: bigint) => money(formatAmount(minor, 'EUR'));

const acumatica: TargetHarness = {
  type: 'acumatica',
  unsupported: {
    appliedRefunds:
      'Acumatica refunds only what a payment holds unapplied, and the Default endpoint has no action to take an application back: a refund of money applied to an invoice is parked TARGET_REFUSED',
  },
  async open() {
    sim ??= await startAcumaticaSimulator({
      users: [USER],
      tenant: 'Company',
      currency: 'EUR',
      taxCategories: { STANDARD: '0.21', REDUCED: '0.09', EXEMPT: '0' },
      cashAccounts: ['10200'],
      closedBefore: '2021-01-01',
      maxApiUsers: 2,
      seed: 23,
      dropAfterCommitRate: 0.1,
      validate,
    });
    const s = sim;
    return {
      target: {
        type: 'acumatica',
        instanceUrl: s.url,
        username: USER.name,
        password: USER.password,
        tenant: 'Company',
        currency: 'EUR',
        taxCategories: { '0.21': 'STANDARD', '0.09': 'REDUCED', '0': 'EXEMPT' },
        cashAccount: '10200',
        // The simulated tenant's bank-fee entry type (offset account 61200 Bank Fees).
        feeEntryType: 'BANKFEE',
        actionPollMs: 10,
        limits: { callsPerMinute: 100_000, concurrent: 4 },
      },
      holdings() {
        const b = s.books;
        const applied = (key: string) =>
          (b.applications.get(key) ?? [])
            .filter((a) => a.released)
            .map((a) => ({ invoiceId: `${a.docType}/${a.refNbr}`, amount: eur(a.amount) }));
        // A Refund is applied to the payment it returns (the refund's application, not the
        // payment's): released, it takes that much of the payment's unapplied balance.
        const refunds = [...b.payments.values()].filter((p) => p.type === 'Refund');
        const refundsOf = (key: string) =>
          refunds.flatMap((r) =>
            (b.applications.get(`${r.type}/${r.nbr}`) ?? [])
              .filter((a) => a.released && `${a.docType}/${a.refNbr}` === key)
              .map((a) => ({ invoiceId: `${r.type}/${r.nbr}`, amount: eur(a.amount) })),
          );
        const docs = [...b.documents.values()];
        const doc = (d: (typeof docs)[number]) => ({
          id: `${d.type}/${d.nbr}`,
          reference: d.customerOrder,
          number: d.nbr,
          customerId: d.customer,
          gross: eur(d.amount),
          due: eur(d.balance),
        });
        return Promise.resolve({
          customers: [...b.customers.entries()].map(([id, c]) => ({
            id,
            name: String((c.CustomerName as { value: string }).value),
          })),
          invoices: docs.filter((d) => d.type === 'Invoice').map(doc),
          creditNotes: docs
            .filter((d) => d.type === 'Credit Memo')
            .map((d) => ({ ...doc(d), appliedTo: applied(`${d.type}/${d.nbr}`) })),
          // What a payment's money went to: the invoices it is applied to, and the refunds applied
          // to it (as the ledger shows a receipt set against a refund).
          payments: [...b.payments.values()]
            .filter((p) => p.type === 'Payment')
            .map((p) => ({
              id: `${p.type}/${p.nbr}`,
              reference: p.paymentRef,
              customerId: p.customer,
              amount: eur(p.amount),
              appliedTo: [...applied(`${p.type}/${p.nbr}`), ...refundsOf(`${p.type}/${p.nbr}`)],
            })),
          // A provider's fee is a charge of its payment: the payment's reference and customer.
          fees: [...b.payments.values()].flatMap((p) =>
            p.charges.map((c) => ({
              id: `${p.type}/${p.nbr}`,
              reference: p.paymentRef,
              customerId: p.customer,
              amount: eur(c.amount),
            })),
          ),
          // Set against the payment its released application names (none before it is released).
          refunds: refunds.map((r) => {
            const to = (b.applications.get(`${r.type}/${r.nbr}`) ?? []).filter((a) => a.released);
            return {
              id: `${r.type}/${r.nbr}`,
              reference: r.paymentRef,
              customerId: r.customer,
              amount: eur(r.amount),
              paymentId: to[0] ? `${to[0].docType}/${to[0].refNbr}` : null,
            };
          }),
        });
      },
      // A person keys an invoice in Acumatica (Invoices and Memos) and releases it: the reference
      // in Customer Order (where the connector writes it), one line at the STANDARD tax category.
      keyInvoice({ customerTargetId, reference, date, net }) {
        const w = (value: string) => ({ value });
        const made = s.books.putInvoice({
          Type: w('Invoice'),
          Customer: w(customerTargetId),
          Date: w(`${date}T00:00:00+00:00`),
          DueDate: w(`${date}T00:00:00+00:00`),
          CustomerOrder: w(reference),
          Description: w('Keyed by hand'),
          Details: [
            { TransactionDescription: w('Keyed by hand'), Qty: w('1'), UnitPrice: w(net), TaxCategory: w('STANDARD') },
          ],
        });
        if (made.status !== 200)
          throw new Error(`Acumatica refused the invoice keyed by hand: ${JSON.stringify(made.body)}`);
        const problem = s.books.releaseDocument(
          `Invoice/${String((made.body.ReferenceNbr as { value: string }).value)}`,
        );
        if (problem) throw new Error(`Acumatica did not release the invoice keyed by hand: ${problem}`);
        return Promise.resolve();
      },
      // A person voids the released invoice in Acumatica (Invoices and Memos): it stays there, Voided.
      voidInvoice(id) {
        s.books.voidInvoice(id);
        return Promise.resolve();
      },
      violations: () => [...s.duplicates(), ...s.violations],
      dropNextInvoiceAnswer: () =>
        s.dropNext(
          1,
          (method, path, body) =>
            method === 'PUT' && path.endsWith('/Invoice') && body.includes('"Type":{"value":"Invoice"}'),
        ),
      dropped: () => s.stats.dropped,
      refuse(invoice) {
        // Dated in a financial period the company has closed.
        return Promise.resolve({
          invoice: { ...invoice, invoiceDate: '2020-01-15', dueDate: '2020-02-14' },
          code: 'TARGET_REFUSED',
          says: /financial period is closed/,
        });
      },
    };
  },
  close: async () => {
    await sim?.close();
  },
};

conformance(acumatica);
