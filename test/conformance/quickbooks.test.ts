import { LosslessNumber } from 'lossless-json';
import { quickbooksTarget } from '../../src/connectors/quickbooks/index.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../../src/connectors/quickbooks/simulator.ts';
import type { Entity } from '../../src/connectors/quickbooks/simulator.ts';
import { createQuickBooksTarget } from '../../src/connectors/quickbooks/target.ts';
import { processScope } from '../helpers/scoped.ts';
import { OAuthSimulator } from '../../src/sync/remote/oauth-simulator.ts';
import type { Application, TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * QuickBooks Online held to the conformance suite, against the simulated QuickBooks (every entity
 * checked against the official XSD types when ../shared is present) with its OAuth server. The
 * client makes one attempt per call, so that a lost answer is the engine's to look up rather than
 * the client's to replay with the same requestid. The company refuses duplicate document numbers
 * (its "warn on duplicate numbers" preference), which is how it refuses an invoice here.
 */

const CLIENT = { clientId: 'ledgerlink-test-app', clientSecret: 'qbo-client-secret-0123456789' };
const TOKEN_PATH = '/oauth2/v1/tokens/bearer';
const REALM = '9130350000000417';
const NOTE = 'ledgerlink reference: ';

const oauth = new OAuthSimulator({
  ...CLIENT,
  callbackTenantParam: 'realmId',
  tenants: [{ tenantId: REALM }],
  accessTokenSeconds: 3600,
  paths: { token: TOKEN_PATH },
});
const scope = processScope();
scope.target({
  ...quickbooksTarget,
  create: (deps) =>
    Promise.resolve(createQuickBooksTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } })),
});

let sim: QuickBooksSimulator | undefined;

const value = (v: unknown) => String(v);
const refOf = (v: unknown) => (v as { value: string }).value;
/** The reference ledgerlink gave a document: whole in PrivateNote, else its DocNumber. */
const referenceOf = (e: Entity) =>
  typeof e.PrivateNote === 'string' && e.PrivateNote.startsWith(NOTE)
    ? e.PrivateNote.slice(NOTE.length)
    : value(e.DocNumber ?? e.PaymentRefNum);
/** What a Payment's lines link of one type: transaction id and amount. */
const links = (p: Entity, type: 'Invoice' | 'CreditMemo') =>
  ((p.Line as { Amount: unknown; LinkedTxn?: { TxnId: string; TxnType: string }[] }[] | undefined) ?? []).flatMap((l) =>
    (l.LinkedTxn ?? []).filter((x) => x.TxnType === type).map((x) => ({ id: x.TxnId, amount: money(value(l.Amount)) })),
  );

/** What a refund's JournalEntry refunds: the customer and amount of its Accounts Receivable debit. */
function receivable(e: Entity) {
  const lines = e.Line as {
    Amount: unknown;
    JournalEntryLineDetail: { PostingType: string; Entity?: { EntityRef: { value: string } } };
  }[];
  const debit = lines.find((l) => l.JournalEntryLineDetail.PostingType === 'Debit' && l.JournalEntryLineDetail.Entity)!;
  return { customerId: debit.JournalEntryLineDetail.Entity!.EntityRef.value, amount: money(value(debit.Amount)) };
}

const quickbooks: TargetHarness = {
  type: 'quickbooks',
  unsupported: {},
  async open() {
    sim ??= await startQuickBooksSimulator({
      realms: {
        [REALM]: {
          country: 'NL',
          currency: 'EUR',
          vatRates: [
            ['21% S', '21'],
            ['9% R', '9'],
            ['0% Z', '0'],
          ],
          uniqueDocNumbers: true,
        },
      },
      oauth,
      seed: 19,
      dropAfterCommitRate: 0.1,
      limits: { callsPerSecond: 10_000, callsPerMinute: 100_000, batchPerMinute: 100_000 },
    });
    const s = sim;
    const books = () => s.books(REALM);
    return {
      target: {
        type: 'quickbooks',
        ...CLIENT,
        refreshToken: oauth.issueGrant().refreshToken,
        realmId: REALM,
        baseUrl: s.url,
        tokenUrl: `${s.url}${TOKEN_PATH}`,
        limits: { callsPerMinute: 100_000, callsPerSecond: 10_000 },
      },
      // A person keys an invoice into QuickBooks: one line of the first item, taxed at 21%.
      keyInvoice({ customerTargetId, reference, date, net }) {
        const b = books();
        const item = b.all('Item')[0];
        const code = b.all('TaxCode').find((c) => value(c.Name) === '21% S');
        if (!item || !code) throw new Error('QuickBooks holds no item or no 21% tax code to key an invoice with');
        b.write('Invoice', 'create', {
          DocNumber: reference,
          TxnDate: date,
          CustomerRef: { value: customerTargetId },
          Line: [
            {
              Amount: new LosslessNumber(net),
              DetailType: 'SalesItemLineDetail',
              SalesItemLineDetail: { ItemRef: { value: item.Id }, TaxCodeRef: { value: code.Id } },
            },
          ],
        });
        return Promise.resolve();
      },
      // A person deletes the invoice in QuickBooks (it keeps no voided document's amounts).
      voidInvoice(id) {
        const b = books();
        const inv = b.get('Invoice', id)!;
        b.write('Invoice', 'delete', { Id: id, SyncToken: inv.SyncToken });
        return Promise.resolve();
      },
      holdings() {
        const b = books();
        const doc = (e: Entity) => ({
          id: e.Id,
          reference: referenceOf(e),
          number: value(e.DocNumber),
          customerId: refOf(e.CustomerRef),
          gross: money(value(e.TotalAmt)),
          due: money(value(e.Balance ?? e.RemainingCredit)),
        });
        const payments = b.all('Payment');
        // A credit memo is applied by a Payment of 0 that links it and the invoice.
        const credited = (memoId: string): Application[] =>
          payments
            .filter((p) => links(p, 'CreditMemo').some((l) => l.id === memoId))
            .flatMap((p) => links(p, 'Invoice').map((l) => ({ invoiceId: l.id, amount: l.amount })));
        return Promise.resolve({
          customers: b.all('Customer').map((c) => ({ id: c.Id, name: value(c.DisplayName) })),
          invoices: b.all('Invoice').map(doc),
          creditNotes: b.all('CreditMemo').map((e) => ({
            ...doc(e),
            due: money(value(e.RemainingCredit ?? e.Balance)),
            appliedTo: credited(e.Id),
          })),
          payments: payments
            .filter((p) => links(p, 'CreditMemo').length === 0)
            .map((p) => ({
              id: p.Id,
              reference: referenceOf(p),
              customerId: refOf(p.CustomerRef),
              amount: money(value(p.TotalAmt)),
              appliedTo: links(p, 'Invoice').map((l) => ({ invoiceId: l.id, amount: l.amount })),
            })),
          // A refund is, first, cash out of what its payment holds unapplied: a JournalEntry on the
          // customer's receivable, set against the payment that links it. The rest is a
          // RefundReceipt: the sale reversed and the money paid out of the bank. That links no
          // Payment (the refunded payment stays applied to its invoice), so it is set against none.
          refunds: [
            ...b.all('JournalEntry').map((e) => ({
              id: e.Id,
              reference: referenceOf(e),
              ...receivable(e),
              paymentId:
                payments.find((p) =>
                  ((p.Line as { LinkedTxn?: { TxnId: string; TxnType: string }[] }[] | undefined) ?? []).some((l) =>
                    (l.LinkedTxn ?? []).some((x) => x.TxnType === 'JournalEntry' && x.TxnId === e.Id),
                  ),
                )?.Id ?? null,
            })),
            ...b.all('RefundReceipt').map((e) => ({
              id: e.Id,
              reference: referenceOf(e),
              customerId: refOf(e.CustomerRef),
              amount: money(value(e.TotalAmt)),
              paymentId: null,
            })),
          ],
          // A fee is a cash Purchase: its memo's first line names the payment's customer, its last the reference.
          fees: b.all('Purchase').map((e) => {
            const note = typeof e.PrivateNote === 'string' ? e.PrivateNote : '';
            return {
              id: e.Id,
              reference: /^ledgerlink reference: (.*)$/m.exec(note)?.[1] ?? value(e.DocNumber),
              customerId: /^ledgerlink customer: (\S+)$/m.exec(note)?.[1] ?? null,
              amount: money(value(e.TotalAmt)),
            };
          }),
        });
      },
      violations: () => [
        ...(['Invoice', 'Payment', 'CreditMemo', 'RefundReceipt', 'JournalEntry'] as const).flatMap((type) =>
          s.duplicates(type, REALM),
        ),
        ...s.violations,
      ],
      dropNextInvoiceAnswer: () => s.dropNext(1, (body) => body.includes('"Invoice":{')),
      dropped: () => s.stats.dropped,
      refuse(invoice) {
        // Someone typed an invoice of that number in QuickBooks by hand, for another customer.
        const b = books();
        const customer = b.write('Customer', 'create', { DisplayName: `Walk-in ${invoice.externalReference}` });
        const account = b.all('Account').find((a) => a.Name === 'Services')!;
        const item = b.write('Item', 'create', {
          Name: `Hand item ${invoice.externalReference}`,
          Type: 'Service',
          IncomeAccountRef: { value: account.Id },
        });
        const taxCode = b.all('TaxCode').find((c) => c.Name === '21% S')!;
        b.write('Invoice', 'create', {
          DocNumber: invoice.externalReference,
          CustomerRef: { value: customer.Id },
          TxnDate: invoice.invoiceDate,
          Line: [
            {
              Amount: '10.00',
              DetailType: 'SalesItemLineDetail',
              SalesItemLineDetail: { ItemRef: { value: item.Id }, TaxCodeRef: { value: taxCode.Id } },
            },
          ],
        });
        return Promise.resolve({ invoice, code: 'TARGET_REFUSED', says: /Duplicate Document Number Error/ });
      },
    };
  },
  close: async () => {
    await sim?.close();
  },
};

conformance(quickbooks);
