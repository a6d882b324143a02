import { formatAmount, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { remoteFeeRemedy } from '../../sync/fee-match.ts';
import type { FeeDifference, ItemError, ItemResult, TargetFee, TargetPayment } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type DocumentContext, PAYMENT_PREFIX, RECEIVABLE, discardDraft, idOf, post, refused } from './documents.ts';
import { amount as amountOf, minor } from './map.ts';
import { type OdooObject, int, m2o, text } from './rpc.ts';
import { SYSTEM, paymentReferenceField } from './settings.ts';

/*
 * A payment provider's fee (CanonicalPayment.fee) in Odoo, as Odoo books a bank's or a provider's
 * charge kept out of a customer payment ("Register Payment" → Payment Difference → "Mark as fully
 * paid", the difference posted to a bank-fees expense account): the payment is of what reached
 * the bank (`amount` = gross − fee) and its own journal entry carries a write-off line of the fee
 * on the fees account, so that its receivable line settles the gross. We create it so
 * (`account.payment` with `write_off_line_vals`, the list of line values Odoo 16–18 pop from the
 * create values and add to the payment's entry) and set it against the invoice it names.
 *
 * Exactly once: the fee is a line of the payment's own entry, written by the same create as the
 * payment, so a lost answer finds both or neither. The line is read back before the payment is
 * posted: where Odoo made no entry (18 without an outstanding receipts account) the draft is
 * removed and the payment refused rather than booked without its fee. Setting it against the
 * invoice is a second call: refused or unanswered, the payment says it awaits its invoice
 * (`awaitsInvoice`), and the engine applies it once, as it does a payment that came early.
 */

/** Account types a fee may go to: Odoo's expense types (16.0+). */
const EXPENSE_TYPES = ['expense', 'expense_direct_cost', 'expense_depreciation'];
/** Default charts name it "Bank Fees", "Bank Charges" or "Bank Service Charges". */
const BANK_FEES = /\bbank\s+(fees|charges|service\s+charges)\b/i;

/** The label of a fee's write-off line. */
export const feeLabel = (reference: string) => `Payment provider fee ${reference}`;

const missing = (message: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field: 'accounts.fees',
});

/** A payment's fee in minor units: 0 without one; a fee that is not one, or the whole payment, is refused. */
export function feeOf(r: TargetPayment['record'], amount: bigint): bigint | ItemError {
  if (r.fee === null || r.fee === undefined) return 0n;
  const fee = parseAmount(r.fee, r.currency);
  const refuse = (why: string): ItemError => ({
    code: 'AMOUNT_INVALID',
    message: `Payment ${r.externalReference}: the fee ${r.fee} ${why}`,
    retryable: false,
    field: 'fee',
  });
  if (!fee.ok) return refuse(`is not an amount in ${r.currency} (${fee.error.message})`);
  if (fee.value < 0n) return refuse('is below zero: a fee is what the payment provider kept');
  // Odoo's payment is what reached the bank, which must be more than zero.
  if (fee.value >= amount)
    return refuse(`is the whole payment (${formatAmount(amount, r.currency)}) or more: nothing reached the bank`);
  return fee.value;
}

/**
 * The account fees go to: `accounts.fees` (an active expense account), else the company's one
 * active expense account named for bank fees; otherwise refused, naming the setting.
 */
export async function feesAccount(c: DocumentContext): Promise<number | ItemError> {
  const fields = ['name', 'code', 'account_type', 'deprecated'];
  if (c.feesAccountId !== undefined) {
    const [a] = await c.rpc.searchRead('account.account', [['id', '=', c.feesAccountId]], fields, c.signal, 1);
    if (!a || a.deprecated === true)
      return missing(`accounts.fees is ${c.feesAccountId}, which is not an active account in ${SYSTEM}`);
    if (!EXPENSE_TYPES.includes(text(a.account_type)))
      return missing(
        `accounts.fees is ${c.feesAccountId} (${text(a.code)} ${text(a.name)}), a ${text(a.account_type)} account: name the expense account fees go to`,
      );
    return c.feesAccountId;
  }
  const rows = await c.rpc.searchRead(
    'account.account',
    [
      ['account_type', 'in', EXPENSE_TYPES],
      ['deprecated', '=', false],
    ],
    fields,
    c.signal,
    null,
  );
  const matches = rows.filter((a) => BANK_FEES.test(text(a.name)));
  if (matches.length === 1) return int(matches[0]!.id)!;
  return missing(
    matches.length === 0
      ? `${SYSTEM} has no expense account named Bank Fees for the payment provider's fee: create one, or set accounts.fees in the target's settings to the id of the account fees go to`
      : `${SYSTEM} has ${matches.length} bank-fee accounts (${matches.map((a) => `${int(a.id)} ${text(a.code)} ${text(a.name)}`).join(', ')}): choose one in accounts.fees`,
  );
}

/** The fee lines of payments' entries (on the fees account), by payment id. */
async function feeLines(c: DocumentContext, paymentIds: number[], account: number) {
  const rows = await c.rpc.searchRead(
    'account.move.line',
    [
      ['payment_id', 'in', paymentIds],
      ['account_id', '=', account],
    ],
    ['payment_id', 'balance'],
    c.signal,
    null,
  );
  const out = new Map<number, OdooObject[]>();
  for (const l of rows) {
    const p = m2o(l.payment_id);
    if (p !== null) out.set(p, [...(out.get(p) ?? []), l]);
  }
  return out;
}

/**
 * Books a payment with its fee: the payment of what reached the bank with the fee's write-off line,
 * read back and posted, then set against the invoice it names when that still owes something.
 */
export async function payWithFee(
  c: DocumentContext,
  d: TargetPayment,
  gross: bigint,
  fee: bigint,
  invoiceOwes: boolean,
): Promise<ItemResult> {
  const r = d.record;
  const reference = r.externalReference;
  const account = await feesAccount(c);
  if (typeof account !== 'number') return failed(account);
  const values: OdooObject = {
    payment_type: 'inbound',
    partner_type: 'customer',
    partner_id: Number(d.customerTargetId),
    amount: amountOf(gross - fee, r.currency),
    date: r.date,
    [paymentReferenceField(c.version)]: reference,
    write_off_line_vals: [
      {
        name: feeLabel(reference),
        account_id: account,
        partner_id: Number(d.customerTargetId),
        amount_currency: amountOf(fee, r.currency),
        balance: amountOf(fee, r.currency),
      },
    ],
  };
  if (c.journals?.bank) values.journal_id = c.journals.bank;
  const a = await c.rpc.execute('account.payment', 'create', [values], {}, true, c.signal);
  if (!a.ok) return failed(refused('payment', reference, a.fault));
  const id = idOf(a, 'account.payment.create');
  const held = (await feeLines(c, [id], account)).get(id) ?? [];
  if (held.reduce((s, l) => s + (minor(l.balance, r.currency) ?? 0n), 0n) !== fee) {
    await discardDraft(c, 'account.payment', id);
    return failed({
      code: 'TARGET_SETTING_MISSING',
      message: `${SYSTEM} made payment ${reference} without a journal entry holding its fee (Odoo 18 makes none for a payment method without an outstanding receipts account): set one on the bank journal's incoming payment method, then retry`,
      retryable: false,
      field: 'journals.bank',
    });
  }
  const done = await post(c, 'account.payment', id);
  if ('fault' in done) {
    await discardDraft(c, 'account.payment', id);
    return failed(refused('to post payment', reference, done.fault));
  }
  const label = `fee ${r.currency} ${formatAmount(fee, r.currency)} on ${SYSTEM}'s payment as a write-off`;
  const booked = { number: done.name || reference, outcome: 'created' as const, message: label };
  if (!invoiceOwes || !d.invoiceTargetId) return ok(`${PAYMENT_PREFIX}${id}`, booked);
  // Its receivable line (the gross, a credit) set against the invoice, as the invoice's "Add" does.
  const [line] = await c.rpc.searchRead(
    'account.move.line',
    [['payment_id', '=', id], RECEIVABLE],
    ['id'],
    c.signal,
    1,
  );
  const later = ok(`${PAYMENT_PREFIX}${id}`, { ...booked, awaitsInvoice: true });
  if (!line) return later;
  try {
    const set = await c.rpc.execute(
      'account.move',
      'js_assign_outstanding_line',
      [[Number(d.invoiceTargetId)], int(line.id)],
      {},
      true,
      c.signal,
    );
    return set.ok ? ok(`${PAYMENT_PREFIX}${id}`, booked) : later;
  } catch (err) {
    // Unanswered: applied or not, the engine applies what is still open, once (applyEarlyPayments).
    if (err instanceof ConnectorError && err.retryable) return later;
    throw err;
  }
}

/**
 * Sets each payment's fee (`TargetDocument.fee`) from its entry's lines on the fees account; left
 * unknown when the fees account cannot be told (reconciliation then says it did not compare).
 */
export async function readFees(
  c: DocumentContext,
  payments: { targetId: string; number: string; currency: string; fee?: TargetFee | null | undefined }[],
): Promise<void> {
  if (payments.length === 0) return;
  const account = await feesAccount(c);
  if (typeof account !== 'number') return;
  const ids = payments.map((p) => Number(p.targetId.slice(PAYMENT_PREFIX.length)));
  const lines = await feeLines(c, ids, account);
  payments.forEach((p, i) => {
    const held = lines.get(ids[i]!) ?? [];
    const amount = held.reduce((s, l) => s + (minor(l.balance, p.currency) ?? 0n), 0n);
    p.fee =
      held.length === 0
        ? null
        : { targetId: p.targetId, label: `the fee line of payment ${p.number}`, currency: p.currency, amount };
  });
}

const remedy = remoteFeeRemedy(
  SYSTEM,
  (reference) =>
    `reset payment ${reference} to draft in ${SYSTEM}, lower it to what reached the bank and book the fee to the bank fees account (or register it again with Payment Difference → Mark as fully paid), or correct the fee in the source`,
);

/** What to do about a payment whose fee in Odoo is not what the source says. */
export const odooFeeRemedy = (
  difference: FeeDifference,
  payment: { reference: string; fee: TargetFee | null },
): string => remedy(difference, payment);
