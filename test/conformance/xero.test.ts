import { type XeroSimulator, startXeroSimulator } from '../../src/connectors/xero/simulator.ts';
import { xeroContract } from '../helpers/xero.ts';
import type { TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';
import { processScope } from '../helpers/scoped.ts';

/*
 * Xero held to the conformance suite, against the simulated Xero with its identity server, every
 * request checked against Xero's OpenAPI contract (skipped with a message when ../shared is
 * absent). The client makes one attempt per call, so that a lost answer is the engine's to look
 * up rather than the client's to replay with the same Idempotency-Key.
 */

const validate = xeroContract('test/conformance/xero.test.ts');
const APP = { clientId: 'ledgerlink-test-app', clientSecret: 'xero-client-secret-0123456789' };

const scope = processScope();
scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } });

let sim: XeroSimulator | undefined;

const xero: TargetHarness = {
  type: 'xero',
  unsupported: {},
  async open() {
    sim ??= await startXeroSimulator({
      oauth: APP,
      validate,
      seed: 17,
      dropAfterCommitRate: 0.1,
      limits: { perMinute: 100_000, perDay: 100_000 },
    });
    const s = sim;
    return {
      target: {
        type: 'xero',
        ...APP,
        refreshToken: s.oauth!.issueGrant().refreshToken,
        tenantId: s.tenantId,
        baseUrl: s.url,
        tokenUrl: s.tokenUrl,
        accounts: { sales: '200', bank: '090' },
        limits: { callsPerMinute: 100_000, callsPerDay: 100_000 },
      },
      // A person keys an invoice into Xero: approved, one line at 21% (OUTPUT2).
      keyInvoice({ customerTargetId, reference, date, net }) {
        const made = s.tenant().createDocument(
          {
            Type: 'ACCREC',
            Contact: { ContactID: customerTargetId },
            Date: date,
            DueDate: date,
            Reference: reference,
            Status: 'AUTHORISED',
            LineItems: [
              { Description: 'Keyed by hand', Quantity: '1', UnitAmount: net, AccountCode: '200', TaxType: 'OUTPUT2' },
            ],
          },
          'ACCREC',
          2,
        );
        if (made.problems.length > 0)
          throw new Error(`Xero refused the invoice keyed by hand: ${made.problems.join('; ')}`);
        return Promise.resolve();
      },
      // A person voids the invoice in Xero: it stays there, VOIDED, out of the books.
      voidInvoice(id) {
        s.tenant().documents.get(id)!.Status = 'VOIDED';
        return Promise.resolve();
      },
      holdings() {
        const tenant = s.tenant();
        const docs = [...tenant.documents.values()].filter((d) => d.Status === 'AUTHORISED' || d.Status === 'PAID');
        const held = (type: 'ACCREC' | 'ACCRECCREDIT') =>
          docs
            .filter((d) => d.Type === type)
            .map((d) => ({
              id: d.id,
              reference: d.Reference,
              number: d.Number,
              customerId: d.ContactID,
              gross: money(d.Total.toFixed(2)),
              due: money(tenant.due(d).toFixed(2)),
              appliedTo: d.Allocations.map((a) => ({ invoiceId: a.otherId, amount: money(a.Amount.toFixed(2)) })),
            }));
        const payments = [...tenant.payments.values()]
          .filter((p) => p.Status === 'AUTHORISED' && p.documentType === 'ACCREC')
          .map((p) => ({
            id: p.PaymentID,
            reference: p.Reference,
            customerId: tenant.documents.get(p.documentId)!.ContactID,
            amount: money(p.Amount.toFixed(2)),
            appliedTo: [{ invoiceId: p.documentId, amount: money(p.Amount.toFixed(2)) }],
          }));
        // A receipt booked before its invoice is an overpayment, allocated later (the target's id "OP:<id>").
        const overpayments = [...tenant.overpayments.values()].map((o) => ({
          id: `OP:${o.OverpaymentID}`,
          reference: o.Reference,
          customerId: o.ContactID,
          amount: money(o.Total.toFixed(2)),
          appliedTo: o.Allocations.map((a) => ({ invoiceId: a.invoiceId, amount: money(a.Amount.toFixed(2)) })),
        }));
        // A refund is a cash refund out of what the receipt's overpayment holds unapplied (set against
        // it), then, for the rest, a credit note at the refunded invoice's rates and a cash refund on it.
        const refunds = [...tenant.payments.values()]
          .filter((p) => p.Status === 'AUTHORISED' && p.documentType !== 'ACCREC')
          .map((p) => {
            if (p.documentType === 'OVERPAYMENT')
              return {
                id: p.PaymentID,
                reference: p.Reference,
                customerId: tenant.overpayments.get(p.documentId)!.ContactID,
                amount: money(p.Amount.toFixed(2)),
                paymentId: `OP:${p.documentId}`,
              };
            const note = tenant.documents.get(p.documentId)!;
            return {
              id: note.id,
              reference: note.Reference,
              customerId: note.ContactID,
              amount: money(p.Amount.toFixed(2)),
              paymentId: null,
            };
          });
        return Promise.resolve({
          customers: [...tenant.contacts.values()].map((c) => ({ id: c.ContactID, name: c.Name })),
          invoices: held('ACCREC').map(({ appliedTo: _applied, ...d }) => d),
          creditNotes: held('ACCRECCREDIT'),
          payments: [...payments, ...overpayments],
          refunds,
          // A fee is spend money under its payment's reference, its line marked with the payment's customer.
          fees: [...tenant.spends.values()]
            .filter((b) => b.Status === 'AUTHORISED')
            .map((b) => ({
              id: b.BankTransactionID,
              reference: b.Reference,
              customerId: /\(ledgerlink customer ([^\s()]+)\)/.exec(b.Lines[0]?.Description ?? '')?.[1] ?? null,
              amount: money(b.Total.toFixed(2)),
            })),
        });
      },
      violations: () => [...s.duplicates(), ...s.stats.specViolations],
      dropNextInvoiceAnswer: () => s.control.dropNext(1, 'PUT /Invoices'),
      dropped: () => s.stats.dropped,
      // The organisation has no US dollars enabled: Xero refuses the invoice in a validation error of its own.
      refuse: (invoice) =>
        Promise.resolve({
          invoice: { ...invoice, currency: 'USD', exchangeRate: '1.08' },
          code: 'TARGET_REFUSED',
          says: /The currency USD is not enabled for this organisation/,
        }),
    };
  },
  close: async () => {
    await sim?.close();
  },
};

conformance(xero);
