import { LosslessNumber } from 'lossless-json';
import { formatAmount } from '../../domain/money.ts';
import type { Database, Obj, Payment, ReceivableLine } from './simulator-store.ts';

/*
 * The simulated Odoo's records as Odoo reads them (`search_read`, `read`): many2one fields as
 * `[id, display name]`, `false` for empty, amounts as JSON numbers with the currency's decimals.
 * A payment has a journal entry of its own (`move_id`), an `account.move` of type entry that holds
 * its receivable line, as in Odoo.
 */

function m2o(db: Database, model: string, i: number | null): unknown {
  if (i === null) return false;
  const name =
    model === 'res.partner'
      ? db.partners.get(i)?.name
      : model === 'res.currency'
        ? db.currency
        : model === 'account.move'
          ? (db.moves.get(i)?.name ?? db.paymentOfEntry(i)?.name)
          : String(i);
  return [i, name ?? ''];
}

const dec = (db: Database, m: bigint) => new LosslessNumber(formatAmount(m, db.currency));

/** Every record of a model, as Odoo reads it. */
export function rowsOf(db: Database, model: string, refField: string): Obj[] {
  const cur = m2o(db, 'res.currency', 1);
  switch (model) {
    case 'res.partner':
      return [...db.partners.values()].map((p) => ({
        email: false,
        ...p,
        country_id: p.country_id ? [p.country_id, ''] : false,
      }));
    case 'product.product':
      return [...db.products.values()].map((p) => ({ type: 'consu', ...p }));
    case 'res.country':
      return [...db.countries].map(([code, i]) => ({ id: i, code }));
    case 'res.users':
      return [{ id: 2, company_id: [db.companyId, db.companyName] }];
    case 'res.company':
      return [{ id: db.companyId, name: db.companyName, currency_id: cur }];
    case 'account.tax':
      return db.taxes.map((t) => ({
        id: t.id,
        name: t.name,
        amount: new LosslessNumber(t.amount),
        type_tax_use: 'sale',
        amount_type: 'percent',
        company_id: [db.companyId, db.companyName],
      }));
    case 'account.move':
      return [
        ...[...db.moves.values()].map((m) => {
          const residual = db.lines.get(m.receivable)!.residual;
          const owed = residual < 0n ? -residual : residual;
          return {
            id: m.id,
            name: m.name,
            ref: m.ref || false,
            state: m.state,
            move_type: m.move_type,
            partner_id: m2o(db, 'res.partner', m.partner_id),
            invoice_date: m.invoice_date || false,
            invoice_date_due: m.invoice_date_due ?? (m.invoice_date || false),
            narration: m.narration || false,
            journal_id: [m.journal_id, 'Customer Invoices'],
            currency_id: cur,
            reversed_entry_id: m2o(db, 'account.move', m.reversed_entry_id),
            invoice_line_ids: m.lines.map((_, i) => m.id * 100 + i),
            amount_total: dec(db, m.total),
            amount_residual: dec(db, owed),
            payment_state: owed === 0n ? 'paid' : owed === m.total ? 'not_paid' : 'partial',
          };
        }),
        ...[...db.payments.values()].map((p) => entryOf(db, p)),
      ];
    case 'account.account':
      return db.accounts.map((a) => ({ ...a }));
    case 'account.move.line': {
      const receivable = db.accounts.find((a) => a.account_type === 'asset_receivable');
      const account = (i: number | undefined) => {
        const a = db.accounts.find((x) => x.id === i);
        return a ? [a.id, `${a.code} ${a.name}`] : false;
      };
      // A receivable item names its entry's partner, date and state: an invoice's or credit note's
      // (its invoice date), or a payment's entry (posted with the payment, cancelled with it).
      const entryOfLine = (l: ReceivableLine) => {
        const m = l.move_id !== null ? db.moves.get(l.move_id) : undefined;
        if (m) return { partner: m.partner_id, date: m.invoice_date, state: m.state as string };
        const p = db.payments.get(l.payment_id!)!;
        const state =
          p.state === 'draft' ? 'draft' : p.state === 'cancel' || p.state === 'canceled' ? 'cancel' : 'posted';
        return { partner: p.partner_id, date: p.date, state };
      };
      return [
        ...[...db.lines.values()].map((l) => {
          const e = entryOfLine(l);
          return {
            id: l.id,
            move_id: m2o(db, 'account.move', l.move_id ?? db.payments.get(l.payment_id!)!.move_id),
            payment_id: l.payment_id !== null ? [l.payment_id, ''] : false,
            account_id: account(receivable?.id),
            account_type: 'asset_receivable',
            name: '',
            partner_id: m2o(db, 'res.partner', e.partner),
            balance: dec(db, l.balance),
            amount_residual: dec(db, l.residual),
            reconciled: l.residual === 0n,
            date: e.date || false,
            parent_state: e.state,
            currency_id: cur,
            amount_currency: dec(db, l.balance),
          };
        }),
        // A payment's write-off lines (a provider's fee): not reconcilable, nothing residual.
        ...[...db.payments.values()].flatMap((p) =>
          p.write_offs.map((w) => ({
            id: w.id,
            move_id: m2o(db, 'account.move', p.move_id),
            payment_id: [p.id, ''],
            account_id: account(w.account_id),
            account_type: db.accounts.find((a) => a.id === w.account_id)!.account_type,
            name: w.name,
            partner_id: m2o(db, 'res.partner', w.partner_id),
            balance: dec(db, w.balance),
            amount_residual: dec(db, 0n),
            reconciled: false,
            date: p.date,
            parent_state:
              p.state === 'draft' ? 'draft' : p.state === 'cancel' || p.state === 'canceled' ? 'cancel' : 'posted',
            currency_id: cur,
            amount_currency: dec(db, w.balance),
          })),
        ),
      ];
    }
    case 'account.partial.reconcile':
      return db.partials.map((p) => ({
        id: p.id,
        debit_move_id: [p.debit_move_id, ''],
        credit_move_id: [p.credit_move_id, ''],
        amount: dec(db, p.amount),
      }));
    case 'account.payment':
      return [...db.payments.values()].map((p) => ({
        id: p.id,
        name: p.name,
        state: p.state,
        move_id: m2o(db, 'account.move', p.move_id),
        payment_type: p.payment_type,
        partner_type: 'customer',
        partner_id: m2o(db, 'res.partner', p.partner_id),
        amount: dec(db, p.amount),
        date: p.date,
        journal_id: [p.journal_id, 'Bank'],
        currency_id: cur,
        [refField]: p.ref || false,
      }));
    default:
      return [];
  }
}

/** A payment's journal entry as `account.move` reads it: type entry, posted with the payment, no invoice fields. */
function entryOf(db: Database, p: Payment): Obj {
  const residual = db.lines.get(p.receivable)!.residual;
  return {
    id: p.move_id,
    name: p.name,
    ref: p.ref || false,
    state: p.state === 'draft' ? 'draft' : 'posted',
    move_type: 'entry',
    partner_id: m2o(db, 'res.partner', p.partner_id),
    invoice_date: false,
    invoice_date_due: false,
    narration: false,
    journal_id: [p.journal_id, 'Bank'],
    currency_id: m2o(db, 'res.currency', 1),
    reversed_entry_id: false,
    invoice_line_ids: [],
    amount_total: dec(db, p.amount),
    amount_residual: dec(db, residual < 0n ? -residual : residual),
    payment_state: 'not_paid',
  };
}
