import { formatAmount } from '../../src/domain/money.ts';
import { odooTarget } from '../../src/connectors/odoo/index.ts';
import { type OdooSimulator, startOdooSimulator } from '../../src/connectors/odoo/simulator.ts';
import { createOdooTarget } from '../../src/connectors/odoo/target.ts';
import { processScope } from '../helpers/scoped.ts';
import type { TargetHarness } from './harness.ts';
import { money } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * Odoo held to the conformance suite, against the simulated Odoo 17 over JSON-RPC, losing 10% of
 * write answers after committing. The client makes one attempt per call, so that a lost answer is
 * the engine's to look up. The database refuses to post an invoice dated on or before its lock
 * date, in Odoo's own words (a UserError), and the refused draft is removed.
 */

const scope = processScope();
scope.target({
  ...odooTarget,
  create: (deps) =>
    Promise.resolve(createOdooTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } })),
});

let sim: OdooSimulator | undefined;

const odoo: TargetHarness = {
  type: 'odoo',
  unsupported: {},
  async open() {
    sim ??= await startOdooSimulator({
      version: '17',
      company: { currency: 'EUR', taxes: { '21% S': '21', '6% S': '6', '0% S': '0' } },
      seed: 29,
      dropAfterCommitRate: 0.1,
    });
    const s = sim;
    const db = s.db;
    const amount = (minor: bigint) => money(formatAmount(minor, 'EUR'));
    const residual = (lineId: number) => db.lines.get(lineId)!.residual;
    // The other side of a reconciliation, by the id its document has in the holdings: a move's
    // (an invoice), or a payment's (a refund: an outbound payment's line is a debit too).
    const holderOf = (line: { move_id: number | null; payment_id: number | null }) =>
      line.move_id !== null ? String(line.move_id) : `payment:${line.payment_id}`;
    const applied = (lineId: number, side: 'credit' | 'debit') =>
      db.partials
        .filter((p) => (side === 'credit' ? p.credit_move_id : p.debit_move_id) === lineId)
        .map((p) => {
          const other = db.lines.get(side === 'credit' ? p.debit_move_id : p.credit_move_id)!;
          return { invoiceId: holderOf(other), amount: amount(p.amount) };
        });
    return {
      target: {
        type: 'odoo',
        url: s.url,
        database: s.database,
        login: s.login,
        apiKey: s.issueApiKey(),
        version: '17',
        limits: { callsPerMinute: 100_000 },
      },
      holdings() {
        const moves = [...db.moves.values()].filter((m) => m.state === 'posted');
        const doc = (m: (typeof moves)[number]) => {
          const left = residual(m.receivable);
          return {
            id: String(m.id),
            reference: m.ref,
            number: m.name,
            customerId: String(m.partner_id),
            gross: amount(m.total),
            due: amount(left < 0n ? -left : left),
          };
        };
        return Promise.resolve({
          customers: [...db.partners.values()].map((p) => ({ id: String(p.id), name: p.name })),
          invoices: moves.filter((m) => m.move_type === 'out_invoice').map(doc),
          // An out_refund move is Odoo's credit note, not a refund (those are outbound payments, below).
          creditNotes: moves
            .filter((m) => m.move_type === 'out_refund')
            .map((m) => ({ ...doc(m), appliedTo: applied(m.receivable, 'credit') })),
          payments: [...db.payments.values()]
            .filter((p) => p.state !== 'draft' && p.payment_type === 'inbound')
            .map((p) => ({
              id: `payment:${p.id}`,
              reference: p.ref,
              customerId: String(p.partner_id),
              // What the customer paid: what its receivable line settles (a provider's fee is
              // written off beside the amount that reached the bank).
              amount: amount(-db.lines.get(p.receivable)!.balance),
              appliedTo: applied(p.receivable, 'credit'),
            })),
          // A provider's fee is a write-off line of its payment's own entry: the payment's, under its reference.
          fees: [...db.payments.values()]
            .filter((p) => p.state !== 'draft' && p.payment_type === 'inbound')
            .flatMap((p) =>
              p.write_offs.map((w) => ({
                id: `payment:${p.id}`,
                reference: p.ref,
                customerId: w.partner_id === null ? null : String(w.partner_id),
                amount: amount(w.balance),
              })),
            ),
          // A refund is money sent back: an outbound customer payment, its receivable line a debit.
          // Set against the inbound payment its line is reconciled with (the target reconciles it
          // with the payment it returns, docs/connectors/odoo.md).
          refunds: [...db.payments.values()]
            .filter((p) => p.state !== 'draft' && p.payment_type === 'outbound')
            .map((p) => {
              const paid = applied(p.receivable, 'debit').find((a) => a.invoiceId.startsWith('payment:'));
              return {
                id: `payment:${p.id}`,
                reference: p.ref,
                customerId: String(p.partner_id),
                amount: amount(p.amount),
                paymentId: paid?.invoiceId ?? null,
              };
            }),
        });
      },
      // A person cancels the invoice in Odoo (Reset to Draft, then Cancel): kept, state cancel, out of the books.
      voidInvoice(id) {
        db.cancelMove(Number(id));
        return Promise.resolve();
      },
      // A person keys an invoice in Odoo and confirms it: for the customer, our reference in `ref`
      // (where the connector writes and reads it), one line at the 21% sales tax.
      keyInvoice({ customerTargetId, reference, date, net }) {
        const tax = db.taxes.find((t) => t.name === '21% S')!.id;
        const id = db.createMove({
          move_type: 'out_invoice',
          partner_id: Number(customerTargetId),
          ref: reference,
          invoice_date: date,
          invoice_line_ids: [
            [0, 0, { name: 'Keyed by hand', quantity: '1', price_unit: net, tax_ids: [[6, 0, [tax]]] }],
          ],
        });
        db.postMove(id);
        return Promise.resolve();
      },
      violations: () => [...s.duplicates(), ...s.violations],
      dropNextInvoiceAnswer: () => s.dropNext(1, (c) => c.model === 'account.move' && c.modelMethod === 'create'),
      dropped: () => s.stats.dropped,
      refuse(invoice) {
        // Accounting → Lock Dates: nothing on or before the end of 2000 can be posted.
        db.lockDate = '2000-12-31';
        return Promise.resolve({
          invoice: { ...invoice, invoiceDate: '2000-12-01', dueDate: '2000-12-31' },
          code: 'TARGET_REFUSED',
          says: /prior to and inclusive of the lock date/,
        });
      },
    };
  },
  close: async () => {
    await sim?.close();
  },
};

conformance(odoo);
