import { formatAmount } from '../../src/domain/money.ts';
import { netSuiteTarget } from '../../src/connectors/netsuite/index.ts';
import {
  type NetSuiteSimulator,
  startNetSuiteSimulator,
  testKeyPair,
  writes,
} from '../../src/connectors/netsuite/simulator.ts';
import { createNetSuiteTarget } from '../../src/connectors/netsuite/target.ts';
import { processScope } from '../helpers/scoped.ts';
import type { TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * NetSuite held to the conformance suite, against the simulated account and its token endpoint
 * (client credentials with a certificate-signed assertion), losing 10% of write answers after
 * committing. The client makes one attempt per call, so that a lost answer is the engine's to
 * look up by external id. The account refuses an invoice dated in a closed accounting period, in
 * its own words.
 */

const ACCOUNT = '1234567_SB1';
const KEYS = testKeyPair();
const CLIENT = { clientId: 'a1b2c3d4e5f6conformance', certificateId: 'CERT-CONFORMANCE-1' };

const scope = processScope();
scope.target({
  ...netSuiteTarget,
  create: (deps) =>
    Promise.resolve(createNetSuiteTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } })),
});

let sim: NetSuiteSimulator | undefined;

const netsuite: TargetHarness = {
  type: 'netsuite',
  unsupported: {},
  async open() {
    sim ??= await startNetSuiteSimulator({
      accountId: ACCOUNT,
      clients: [{ ...CLIENT, publicKey: KEYS.publicKey }],
      currency: 'EUR',
      taxCodes: { 'BTW 21%': '21', 'BTW 9%': '9', 'BTW 0%': '0' },
      items: ['Sales'],
      seed: 23,
      dropAfterCommitRate: 0.1,
      concurrency: 5,
    });
    const s = sim;
    const a = s.account;
    const amount = (minor: bigint) => money(formatAmount(minor, 'EUR'));
    const tax = (name: string) => a.taxCodes.find((t) => t.name === name)!.id;
    // A document whose reference another customer's document of its type held first has it with
    // its customer's id after it (`REF__c1234`): its reference is the part before.
    const reference = (externalId: string, customer: string) =>
      externalId.endsWith(`__c${customer}`) ? externalId.slice(0, -`__c${customer}`.length) : externalId;
    return {
      target: {
        type: 'netsuite',
        accountId: ACCOUNT,
        ...CLIENT,
        privateKey: KEYS.privateKey,
        currency: 'EUR',
        defaultItemId: [...a.items.values()].find((i) => i.itemId === 'Sales')!.id,
        taxRates: { '0.21': tax('BTW 21%'), '0.09': tax('BTW 9%'), '0': tax('BTW 0%') },
        baseUrl: s.baseUrl,
        tokenUrl: s.tokenUrl,
      },
      holdings() {
        const doc = (t: { id: string; externalId: string; tranId: string; entity: string; total: bigint }) => ({
          id: t.id,
          reference: reference(t.externalId, t.entity),
          number: t.tranId,
          customerId: t.entity,
          gross: amount(t.total),
        });
        return Promise.resolve({
          customers: [...a.customers.values()].map((c) => ({ id: c.id, name: c.companyName })),
          invoices: a.invoices().map((t) => ({ ...doc(t), due: amount(a.remaining(t)) })),
          creditNotes: a.creditMemos().map((t) => {
            const applied = [...t.apply.values()].reduce((x, y) => x + y, 0n);
            return {
              ...doc(t),
              due: amount(t.total - applied),
              appliedTo: [...t.apply].map(([invoiceId, m]) => ({ invoiceId, amount: amount(m) })),
            };
          }),
          // A customer refund takes money out of the payment it applies to: the payment is set
          // against it as against an invoice (as the ledger sets a receipt against its refund).
          payments: [...a.payments.values()].map((p) => ({
            id: p.id,
            reference: reference(p.externalId, p.customer),
            customerId: p.customer,
            amount: amount(p.payment),
            appliedTo: [
              ...[...p.apply].map(([invoiceId, m]) => ({ invoiceId, amount: amount(m) })),
              ...[...a.refunds.values()].flatMap((r) => {
                const m = r.apply.get(p.id);
                return m === undefined ? [] : [{ invoiceId: r.id, amount: amount(m) }];
              }),
            ],
          })),
          // A customerRefund applies to payments (their unapplied money); ledgerlink's refunds name one.
          refunds: [...a.refunds.values()].map((r) => {
            const [paymentId] = [...r.apply.keys()];
            return {
              id: r.id,
              reference: reference(r.externalId, r.customer),
              customerId: r.customer,
              amount: amount([...r.apply.values()].reduce((x, y) => x + y, 0n)),
              paymentId: paymentId ?? null,
            };
          }),
          // A fee is a journal entry: its debit to the fees account, the payment's reference in the
          // line's memo, the payment's customer the line's name.
          fees: [...a.journals.values()].map((j) => {
            const debits = j.lines.filter((l) => l.debit > 0n);
            return {
              id: j.id,
              reference: debits[0]?.memo ?? '',
              customerId: debits[0]?.entity ?? null,
              amount: amount(debits.reduce((x, l) => x + l.debit, 0n)),
            };
          }),
        });
      },
      // A person voids the invoice in NetSuite (Void Transactions Using Reversing Journals off, the
      // default): it stays there, its total and lines zero, voided.
      voidInvoice(id) {
        a.void(id);
        return Promise.resolve();
      },
      // A person keys an invoice in NetSuite: for the customer, our reference as its external id
      // (where the connector reads the reference from), one line of the item at the 21% tax code.
      keyInvoice({ customerTargetId, reference, date, net }) {
        a.upsertTxn('invoice', null, reference, {
          entity: { id: customerTargetId },
          tranDate: date,
          item: {
            items: [
              {
                item: { id: [...a.items.values()].find((i) => i.itemId === 'Sales')!.id },
                rate: net,
                quantity: '1',
                taxCode: { id: tax('BTW 21%') },
              },
            ],
          },
        });
        return Promise.resolve();
      },
      violations: () => [...s.duplicates(), ...s.violations],
      dropNextInvoiceAnswer: () => s.dropNext(1, (r) => writes(r, 'invoice')),
      dropped: () => s.stats.dropped,
      refuse(invoice) {
        // The account has closed its accounting periods up to the end of 2000.
        a.closedUntil = '2000-12-31';
        return Promise.resolve({
          invoice: { ...invoice, invoiceDate: '2000-12-01', dueDate: '2000-12-31' },
          code: 'TARGET_REFUSED',
          says: /accounting period of this transaction is closed/,
        });
      },
    };
  },
  close: async () => {
    await sim?.close();
  },
};

conformance(netsuite);
