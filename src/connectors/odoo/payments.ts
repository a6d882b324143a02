import { formatAmount, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import { appliedEarly, invoiceMissing, nothingToApply, paymentGone } from '../../sync/remote/early.ts';
import type {
  EarlyPayment,
  FoundDocument,
  ItemError,
  ItemResult,
  TargetAllocation,
  TargetPayment,
} from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import {
  type DocumentContext,
  MOVE_FIELDS,
  PARTIAL_PREFIX,
  PAYMENT_PREFIX,
  RECEIVABLE,
  currencyMismatch,
  findMove,
  idOf,
  discardDraft,
  post,
  posted,
  refused,
} from './documents.ts';
import { feeOf, payWithFee } from './fees.ts';
import { amount as amountOf, minor } from './map.ts';
import { type OdooObject, int, m2o, text } from './rpc.ts';
import { SYSTEM, paymentReferenceField } from './settings.ts';

/*
 * Customer payments and what is set against invoices. A payment naming an invoice that still owes
 * something goes through Odoo's own "Register Payment" wizard (`account.payment.register`, opened
 * on the invoice with `active_model`/`active_ids`, then `action_create_payments`), which creates,
 * posts and reconciles it in one request; our reference is its `communication`, which Odoo keeps
 * as the payment's `ref` (`memo` on 18). Any other payment is an `account.payment` created and
 * posted. Credit notes and unused payments are set against an invoice with the invoice's
 * `js_assign_outstanding_line`, the call behind the "Add" of Odoo's outstanding-credits widget;
 * the allocation's id is the `account.partial.reconcile` it made. Refunds: refunds.ts.
 */

const ctxOf = (invoiceId: number) => ({ context: { active_model: 'account.move', active_ids: [invoiceId] } });

/** What an invoice still owes, and whether it is posted (a draft or cancelled one takes no payment). */
async function owed(c: DocumentContext, invoiceId: number, currency: string): Promise<bigint> {
  const [row] = await c.rpc.searchRead(
    'account.move',
    [['id', '=', invoiceId]],
    ['state', 'amount_residual'],
    c.signal,
    1,
  );
  if (!row || text(row.state) !== 'posted') return 0n;
  return minor(row.amount_residual, currency) ?? 0n;
}

/** A refusal of a payment's or refund's amount: more than zero, in the currency's decimals. */
export function badAmount(what: string, reference: string, amount: string): ItemResult {
  return failed({
    code: 'AMOUNT_INVALID',
    message: `${what} ${reference}: ${amount} is not an amount Odoo takes (more than zero)`,
    retryable: false,
    field: 'amount',
  });
}

/** A payment through the Register Payment wizard on the invoice: created, posted and reconciled by Odoo in one call. */
async function throughWizard(c: DocumentContext, invoiceId: number, amount: bigint, r: TargetPayment['record']) {
  const reference = r.externalReference;
  const values: OdooObject = {
    amount: amountOf(amount, r.currency),
    payment_date: r.date,
    communication: reference,
    // A payment above what is owed keeps the rest open on the customer, never written off.
    payment_difference_handling: 'open',
  };
  if (c.journals?.bank) values.journal_id = c.journals.bank;
  const w = await c.rpc.execute('account.payment.register', 'create', [values], ctxOf(invoiceId), true, c.signal);
  if (!w.ok) return failed(refused('payment', reference, w.fault));
  const wizard = idOf(w, 'account.payment.register.create');
  const a = await c.rpc.execute(
    'account.payment.register',
    'action_create_payments',
    [[wizard]],
    ctxOf(invoiceId),
    true,
    c.signal,
  );
  if (!a.ok) return failed(refused('payment', reference, a.fault));
  const action = a.result as { res_model?: unknown; res_id?: unknown } | null;
  const id = int(action?.res_id);
  if (id === null || action?.res_model !== 'account.payment')
    throw new ConnectorError(SYSTEM, `the payment wizard answered without the payment it created (${reference})`, {
      retryable: true,
    });
  const done = await posted(c, 'account.payment', id);
  if ('fault' in done) return failed(refused('to post payment', reference, done.fault));
  return ok(`${PAYMENT_PREFIX}${id}`, { number: done.name || reference, outcome: 'created' });
}

/**
 * A customer payment (inbound) or refund (outbound) created as an `account.payment` and posted: its
 * id and number, or Odoo's refusal (a refused post leaves no draft).
 */
export async function createPosted(
  c: DocumentContext,
  type: 'inbound' | 'outbound',
  customerId: string,
  amount: bigint,
  r: { externalReference: string; currency: string; date: string },
): Promise<{ id: number; name: string } | { error: ItemError }> {
  const what = type === 'inbound' ? 'payment' : 'refund';
  const reference = r.externalReference;
  const values: OdooObject = {
    payment_type: type,
    partner_type: 'customer',
    partner_id: Number(customerId),
    amount: amountOf(amount, r.currency),
    date: r.date,
    [paymentReferenceField(c.version)]: reference,
  };
  if (c.journals?.bank) values.journal_id = c.journals.bank;
  const a = await c.rpc.execute('account.payment', 'create', [values], {}, true, c.signal);
  if (!a.ok) return { error: refused(what, reference, a.fault) };
  const id = idOf(a, 'account.payment.create');
  const done = await post(c, 'account.payment', id);
  if ('fault' in done) {
    await discardDraft(c, 'account.payment', id);
    return { error: refused(`to post ${what}`, reference, done.fault) };
  }
  return { id, name: done.name || reference };
}

/** A customer payment of its own (open on the customer), created and posted. */
async function direct(
  c: DocumentContext,
  customerId: string,
  amount: bigint,
  r: TargetPayment['record'],
): Promise<ItemResult> {
  const made = await createPosted(c, 'inbound', customerId, amount, r);
  return 'id' in made
    ? ok(`${PAYMENT_PREFIX}${made.id}`, { number: made.name, outcome: 'created' })
    : failed(made.error);
}

/**
 * Books customer payments one by one: through the wizard on the invoice they name when it still
 * owes something, otherwise as a payment of their own (open on the customer); one with a
 * provider's fee with the fee written off in its entry, then set against its invoice (fees.ts).
 */
export async function createPayments(c: DocumentContext, items: TargetPayment[]): Promise<ItemResult[]> {
  // One request a document: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    const parsed = parseAmount(r.amount, r.currency);
    if (r.currency !== c.company.currency)
      return failed(currencyMismatch(`Payment ${r.externalReference}`, r.currency, c.company));
    if (!parsed.ok || parsed.value <= 0n) return badAmount('Payment', r.externalReference, r.amount);
    const fee = feeOf(r, parsed.value);
    if (typeof fee !== 'bigint') return failed(fee);
    const invoiceId = d.invoiceTargetId ? Number(d.invoiceTargetId) : null;
    const owes = invoiceId !== null && (await owed(c, invoiceId, r.currency)) > 0n;
    // A provider's fee: the payment of what reached the bank, the fee written off in its entry (fees.ts).
    if (fee > 0n) return payWithFee(c, d, parsed.value, fee, owes);
    return owes ? throughWizard(c, invoiceId, parsed.value, r) : direct(c, d.customerTargetId, parsed.value, r);
  });
}

/** The receivable lines of the allocation's two documents (the invoice's, and the credit note's or payment's). */
async function receivableLines(
  c: DocumentContext,
  d: Pick<TargetAllocation, 'fromTargetId' | 'invoiceTargetId'>,
  openOnly: boolean,
) {
  const fields = ['amount_residual', 'reconciled'];
  const open = openOnly ? [['reconciled', '=', false]] : [];
  const from = d.fromTargetId.startsWith(PAYMENT_PREFIX)
    ? ['payment_id', '=', Number(d.fromTargetId.slice(PAYMENT_PREFIX.length))]
    : ['move_id', '=', Number(d.fromTargetId)];
  const [invoice, credit] = await Promise.all([
    c.rpc.searchRead(
      'account.move.line',
      [['move_id', '=', Number(d.invoiceTargetId)], RECEIVABLE, ...open],
      fields,
      c.signal,
    ),
    c.rpc.searchRead('account.move.line', [from, RECEIVABLE, ...open], fields, c.signal),
  ]);
  return { invoice, credit };
}

/** Partial reconciliations between the invoice's lines (debit) and the other's (credit), of this amount. */
async function partials(c: DocumentContext, debit: number[], credit: number[], wanted: bigint, currency: string) {
  if (debit.length === 0 || credit.length === 0) return [];
  const rows = await c.rpc.searchRead(
    'account.partial.reconcile',
    [
      ['debit_move_id', 'in', debit],
      ['credit_move_id', 'in', credit],
    ],
    ['amount'],
    c.signal,
    200,
  );
  return rows.filter((p) => minor(p.amount, currency) === wanted).map((p) => `${PARTIAL_PREFIX}${int(p.id)}`);
}

/**
 * Sets credit notes and unused payments against invoices. Odoo reconciles as much as both
 * receivable lines allow, so an allocation must be exactly that much: a smaller one is parked
 * with TARGET_CAPABILITY_MISSING rather than booked as more than the source said.
 */
export async function createAllocations(c: DocumentContext, items: TargetAllocation[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    const what = `${r.from === 'creditNote' ? 'credit note' : 'payment'} ${r.fromExternalReference}`;
    const parsed = parseAmount(r.amount, r.currency);
    if (!parsed.ok || parsed.value <= 0n) {
      return failed({
        code: 'AMOUNT_INVALID',
        message: `Allocation ${r.sourceId}: ${r.amount}`,
        retryable: false,
        field: 'amount',
      });
    }
    const lines = await receivableLines(c, d, true);
    const [invoiceLine] = lines.invoice;
    const [creditLine] = lines.credit;
    const owes = invoiceLine ? (minor(invoiceLine.amount_residual, r.currency) ?? 0n) : 0n;
    const left = creditLine ? -(minor(creditLine.amount_residual, r.currency) ?? 0n) : 0n;
    if (!invoiceLine || !creditLine || owes <= 0n || left <= 0n) {
      return failed({
        code: 'TARGET_REFUSED',
        message: `${SYSTEM} has nothing open to set ${what} against its invoice (the invoice owes ${owes > 0n ? 'something' : 'nothing'}; the ${r.from === 'creditNote' ? 'credit note' : 'payment'} has ${left > 0n ? 'credit' : 'no credit'} left)`,
        retryable: false,
      });
    }
    const possible = owes < left ? owes : left;
    if (possible !== parsed.value) {
      return failed({
        code: 'TARGET_CAPABILITY_MISSING',
        message: `${SYSTEM} sets ${what} against an invoice for as much as both allow (${text(amountOf(possible, r.currency))}), not for part of it (${r.amount}); book this allocation by hand in Odoo`,
        retryable: false,
      });
    }
    const a = await c.rpc.execute(
      'account.move',
      'js_assign_outstanding_line',
      [[Number(d.invoiceTargetId)], int(creditLine.id)],
      {},
      true,
      c.signal,
    );
    if (!a.ok) return failed(refused(`to set ${what} against invoice`, r.invoiceExternalReference, a.fault));
    const made = await partials(c, [int(invoiceLine.id)!], [int(creditLine.id)!], parsed.value, r.currency);
    const newest = made.sort(
      (x, y) => Number(y.slice(PARTIAL_PREFIX.length)) - Number(x.slice(PARTIAL_PREFIX.length)),
    )[0];
    if (!newest)
      throw new ConnectorError(
        SYSTEM,
        `${what} was set against its invoice but no reconciliation of ${r.amount} shows it`,
        { retryable: false },
      );
    return ok(newest, { outcome: 'created' });
  });
}

/**
 * Payments booked before the invoice they name (open on the customer; the engine's note,
 * src/sync/engine/early-payments.ts), set against it now that it is booked: Odoo reconciles as
 * much as both receivable lines still have open (`js_assign_outstanding_line`, as the invoice's
 * "Add" of an outstanding credit does), which is what is wanted here. Read just before: after a
 * lost answer the lines are reconciled and nothing is set twice. The invoice handed over must be
 * the customer's posted invoice under the named reference, else that invoice is looked up by it.
 */
export async function applyEarlyPayments(c: DocumentContext, items: EarlyPayment[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (e) => {
    const currency = c.company.currency;
    const paymentId = Number(e.paymentTargetId.slice(PAYMENT_PREFIX.length));
    const [pay] = e.paymentTargetId.startsWith(PAYMENT_PREFIX)
      ? await c.rpc.searchRead('account.payment', [['id', '=', paymentId]], ['partner_id'], c.signal, 1)
      : [];
    if (!pay) return paymentGone(e, SYSTEM);
    const partner = String(m2o(pay.partner_id) ?? '');
    const named = (m: OdooObject | null | undefined) =>
      m &&
      text(m.ref) === e.invoiceReference &&
      String(m2o(m.partner_id) ?? '') === partner &&
      text(m.move_type) === 'out_invoice' &&
      text(m.state) === 'posted'
        ? m
        : null;
    const [byId] = await c.rpc.searchRead(
      'account.move',
      [['id', '=', Number(e.invoiceTargetId)]],
      MOVE_FIELDS,
      c.signal,
      1,
    );
    const inv = named(byId) ?? named(await findMove(c, 'invoice', e.invoiceReference, partner));
    if (!inv) return invoiceMissing(e, SYSTEM, partner);
    const invoiceId = int(inv.id)!;
    const lines = await receivableLines(
      c,
      { fromTargetId: e.paymentTargetId, invoiceTargetId: String(invoiceId) },
      true,
    );
    const [invoiceLine] = lines.invoice;
    const [creditLine] = lines.credit;
    const owes = invoiceLine ? (minor(invoiceLine.amount_residual, currency) ?? 0n) : 0n;
    const left = creditLine ? -(minor(creditLine.amount_residual, currency) ?? 0n) : 0n;
    const take = owes < left ? owes : left;
    const where = `${SYSTEM} ${text(inv.name) || e.invoiceReference}`;
    if (!creditLine || take <= 0n) return nothingToApply(e, where, left <= 0n);
    const a = await c.rpc.execute(
      'account.move',
      'js_assign_outstanding_line',
      [[invoiceId], int(creditLine.id)],
      {},
      true,
      c.signal,
    );
    if (!a.ok)
      return failed(refused(`to set payment ${e.paymentReference} against invoice`, e.invoiceReference, a.fault));
    return appliedEarly(
      e,
      where,
      formatAmount(take, currency),
      left > take ? 'the rest stays open on the customer' : null,
    );
  });
}

/** A reconciliation Odoo already holds between the same documents for the same amount, none of `taken`. */
export async function findAllocation(
  c: DocumentContext,
  d: TargetAllocation,
  taken: ReadonlySet<string>,
): Promise<FoundDocument | null> {
  const parsed = parseAmount(d.record.amount, d.record.currency);
  if (!parsed.ok) return null;
  const lines = await receivableLines(c, d, false);
  const ids = (rows: OdooObject[]) => rows.map((x) => int(x.id)!);
  const found = (await partials(c, ids(lines.invoice), ids(lines.credit), parsed.value, d.record.currency))
    .filter((id) => !taken.has(id))
    .sort((x, y) => Number(x.slice(PARTIAL_PREFIX.length)) - Number(y.slice(PARTIAL_PREFIX.length)))[0];
  return found ? { targetId: found } : null;
}
