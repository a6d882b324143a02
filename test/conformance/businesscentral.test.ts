import { businessCentralTarget } from '../../src/connectors/businesscentral/index.ts';
import {
  type BusinessCentralSimulator,
  type GlJournalLine,
  type SalesDoc,
  startBusinessCentralSimulator,
} from '../../src/connectors/businesscentral/simulator.ts';
import { createBusinessCentralTarget } from '../../src/connectors/businesscentral/target.ts';
import { businessCentralSettings } from '../helpers/businesscentral.ts';
import { processScope } from '../helpers/scoped.ts';
import type { TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * Business Central held to the conformance suite, against the simulated API v2.0 (every request
 * body checked against the v2.0 AL pages when ../shared is present) with its Entra token endpoint,
 * losing 10% of write answers after committing. The client makes one attempt per call, so that a
 * lost answer is the engine's to look up. The company has no US dollars set up, which is how it
 * refuses an invoice here, in Business Central's own words.
 */

const CLIENT = { clientId: 'ledgerlink-test-app', clientSecret: 'bc-client-secret-0123456789' };

const scope = processScope();
scope.target({
  ...businessCentralTarget,
  create: (deps) =>
    Promise.resolve(
      createBusinessCentralTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } }),
    ),
});

let sim: BusinessCentralSimulator | undefined;

const businessCentral: TargetHarness = {
  type: 'businesscentral',
  unsupported: {
    refunds:
      "Business Central's API v2.0 has no customer refund entity: the target parks refunds (capabilities.refunds is false)",
    paymentAllocations:
      "Business Central's API applies a payment only when it is entered against its invoice (appliesToInvoiceId): an allocation of a payment taken on account is refused, naming the invoice to send it with",
  },
  async open() {
    sim ??= await startBusinessCentralSimulator({ client: CLIENT, seed: 23, dropAfterCommitRate: 0.1 });
    const s = sim;
    const c = s.company;
    const doc = (d: SalesDoc) => ({
      id: d.id,
      reference: d.externalDocumentNumber,
      number: d.number,
      customerId: d.customerId,
      gross: money(c.total(d).toFixed(2)),
      due: money((d.status === 'Draft' ? c.total(d) : d.remaining).toFixed(2)),
    });
    const docs = (set: SalesDoc['set']) => [...c.docs.values()].filter((d) => d.set === set);
    // A fee is a general journal line in the payment journal, posted with its payment; its
    // description names the customer ("(ledgerlink customer <id>)"), read here from the store.
    const fee = (l: GlJournalLine) => ({
      id: l.id,
      reference: l.externalDocumentNumber,
      customerId: /\(ledgerlink customer ([0-9a-fA-F-]{36})\)/.exec(l.description)?.[1] ?? null,
      amount: money(l.amount.toFixed(2)),
    });
    return {
      target: businessCentralSettings(s),
      holdings: () =>
        Promise.resolve({
          customers: [...c.customers.values()].map((x) => ({ id: x.id, name: String(x.displayName) })),
          invoices: docs('salesInvoices').map(doc),
          creditNotes: docs('salesCreditMemos').map((d) => ({
            ...doc(d),
            appliedTo:
              d.invoiceId && d.status !== 'Draft'
                ? [{ invoiceId: d.invoiceId, amount: money(d.applied.toFixed(2)) }]
                : [],
          })),
          payments: [
            // A payment's target id: its Document No. and its customer (two customers' may share one).
            ...c.payments.map((p) => ({
              id: `${p.documentNumber}@${p.customerId}`,
              reference: p.externalDocumentNumber,
              customerId: p.customerId,
              amount: money(p.amount.negated().toFixed(2)),
              appliedTo: p.appliedTo.map((a) => ({ invoiceId: a.invoiceId, amount: money(a.amount.toFixed(2)) })),
            })),
            // A payment still waiting in the journal is held too, applied to nothing yet.
            ...[...c.journalLines.values()].map((l) => ({
              id: `${l.documentNumber}@${l.customerId}`,
              reference: l.externalDocumentNumber,
              customerId: l.customerId,
              amount: money(l.amount.negated().toFixed(2)),
              appliedTo: [],
            })),
          ],
          // Posted, and (like a payment) still waiting in the journal.
          fees: [...c.postedGlLines, ...c.glJournalLines.values()].map(fee),
        }),
      // A person keys a sales invoice in Business Central and posts it: one G/L account line at
      // VAT21, the reference in External Document No. (where the connector writes it).
      keyInvoice({ customerTargetId, reference, date, net }) {
        const draft = c.createDoc('salesInvoices', {
          customerId: customerTargetId,
          invoiceDate: date,
          postingDate: date,
          dueDate: date,
          externalDocumentNumber: reference,
          salesInvoiceLines: [
            {
              lineType: 'Account',
              lineObjectNumber: '40100',
              description: 'Keyed by hand',
              taxCode: 'VAT21',
              unitPrice: net,
            },
          ],
        });
        c.postDoc(draft.id, 'salesInvoices');
        return Promise.resolve();
      },
      // A person cancels the posted invoice in Business Central (it deletes no posted document): a
      // corrective credit memo is posted against it, and it stays there with status Canceled.
      voidInvoice(id) {
        c.cancelInvoice(id);
        return Promise.resolve();
      },
      violations: () => [...s.duplicates(), ...s.violations],
      dropNextInvoiceAnswer: () => s.dropNext(1, (m, p) => m === 'POST' && p.endsWith('/salesInvoices')),
      dropped: () => s.stats.dropped,
      refuse: (invoice) =>
        Promise.resolve({
          invoice: { ...invoice, currency: 'USD', exchangeRate: '1.08' },
          code: 'TARGET_REFUSED',
          says: /Currency Code.*\(USD\) that cannot be found/,
        }),
    };
  },
  close: async () => {
    await sim?.close();
  },
};

conformance(businessCentral);
