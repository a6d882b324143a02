import { LosslessNumber } from 'lossless-json';
import { addDays } from '../../domain/dates.ts';
import { formatAmount } from '../../domain/money.ts';
import { ambiguity, feeAmbiguous, matchBatchFee } from '../../sync/fee-match.ts';
import type { ItemError, TargetPayment } from '../../sync/target.ts';
import { type FbObject, type FreshBooksApi, describe, entity, text } from './api.ts';
import { REF_PREFIX, minor, money, tagOf, withTag } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * A payment provider's fee (CanonicalPayment.fee) in FreshBooks: the payment keeps its gross
 * amount on its invoice (a FreshBooks payment has no fee field), and the fee is an expense in the
 * bank-fees category, dated the payment's day, as FreshBooks users and payment integrations record a
 * processor's merchant fee. The invoice is paid in full and the expense takes the fee out of profit.
 *
 * Exactly once, without a second kind in the engine: FreshBooks takes no idempotency key, so a
 * payment's fee is looked up first (the expenses of the payment's date, their notes carrying our
 * reference, `ledgerlink-ref: …`, as a payment's note does) and written only when FreshBooks holds
 * none, before the payment; the payment is sent only once its fee is held. An attempt after a lost
 * answer finds the fee instead of booking it twice, and a payment FreshBooks holds always has its
 * fee: the engine's lookup of the payment stays the proof that both are done.
 *
 * A reference is unique per customer, not per account, so the notes also name the payment's client
 * (`ledgerlink-customer: <clientid>`): two clients' payments under one reference each get their own
 * fee (`matchFees`). The expense is not assigned to the client (`clientid`): that would offer the
 * fee for rebilling on the client's next invoice. A fee keyed by hand with our reference and no
 * mark counts as the payment's only when nothing else can be meant; otherwise the payment is parked
 * (PAYMENT_FEE_AMBIGUOUS).
 */

export const EXPENSES = '/expenses/expenses';
const CATEGORIES = '/expenses/categories';
/** The line of an expense's notes naming the client whose payment it is the fee of. */
export const CUSTOMER_PREFIX = 'ledgerlink-customer: ';
/** FreshBooks' default category is "Bank Fees" (under Other Expenses); integrations add "Merchant Fees". */
const BANK_FEES = /^\s*(bank|merchant)\s+(fees|charges|service\s+charges)\s*$/i;

/** The expense category fees go to. */
export interface FeesCategory {
  id: string;
  name: string;
}

/** A fee FreshBooks now holds for a payment. */
export interface BookedFee {
  id: string;
  label: string;
  found: boolean;
}

const missing = (message: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field: 'accounts.fees',
});

/**
 * The category fees go to: `accounts.fees` (a category's id or name), else the account's one
 * category named Bank Fees (or Bank Charges, Merchant Fees). A category that is not there (or
 * deleted), a cost-of-goods-sold one, none and several name the setting.
 */
export async function loadFeesCategory(
  api: FreshBooksApi,
  wanted: string | undefined,
  signal?: AbortSignal,
): Promise<FeesCategory | ItemError> {
  const live = (await api.listAll(CATEGORIES, 'categories', {}, signal)).filter((c) => text(c.vis_state) !== '1');
  const id = (c: FbObject) => text(c.categoryid) || text(c.id);
  const of = (c: FbObject): FeesCategory => ({ id: id(c), name: text(c.category) });
  if (wanted !== undefined) {
    const named = live.filter(
      (c) => id(c) === wanted || text(c.category).trim().toLowerCase() === wanted.trim().toLowerCase(),
    );
    if (named.length === 0)
      return missing(`accounts.fees is "${wanted}", which is not an expense category of this FreshBooks account`);
    if (named.length > 1)
      return missing(`accounts.fees "${wanted}" names ${named.length} expense categories: give the category's id`);
    if (named[0]!.is_cogs === true)
      return missing(
        `accounts.fees is "${text(named[0]!.category)}", a cost of goods sold category: name the expense category fees go to (such as Bank Fees)`,
      );
    return of(named[0]!);
  }
  const matches = live.filter((c) => c.is_cogs !== true && BANK_FEES.test(text(c.category)));
  if (matches.length === 1) return of(matches[0]!);
  return missing(
    matches.length === 0
      ? "this FreshBooks account has no Bank Fees expense category for the payment provider's fee: add one, or set accounts.fees in the target's settings to the category (its name or id)"
      : `this FreshBooks account has ${matches.length} bank-fee categories (${matches.map((c) => `${text(c.category)} ${id(c)}`).join(', ')}): choose one in accounts.fees`,
  );
}

/** The client an expense's notes name, or null for a fee keyed without the mark. */
export const markOf = (e: FbObject): string | null => tagOf(e.notes, CUSTOMER_PREFIX) || null;

/**
 * The expenses of a date carrying these references, by reference (matched exactly), deleted ones
 * left out. FreshBooks' `_max` searches match what is below the value (freshbooks.com/api/parameters,
 * "Between"), so the day is asked as [date, the day after).
 */
export async function feesUnder(api: FreshBooksApi, date: string, references: string[], signal?: AbortSignal) {
  const rows = await api.listAll(EXPENSES, 'expenses', { date_min: date, date_max: addDays(date, 1) }, signal);
  const out = new Map<string, FbObject[]>();
  for (const r of references) {
    const found = rows.filter(
      (e) => tagOf(e.notes, REF_PREFIX) === r && text(e.date) === date && text(e.vis_state) !== '1',
    );
    if (found.length > 0) out.set(r, found);
  }
  return out;
}

function ambiguous(reference: string, customer: string, expenses: FbObject[], why: string): ItemError {
  const ids = expenses.map((e) => text(e.id)).join(', ');
  return feeAmbiguous(
    `FreshBooks holds expenses carrying the reference ${reference} without ledgerlink's mark of their payment's client (${ids}), and whether one is this payment's fee cannot be told: ${why}. Nothing was booked, so that no fee is booked twice or lost. If one is this payment's fee, add the line "${CUSTOMER_PREFIX}${customer}" to its notes; if one is another payment's, add "${CUSTOMER_PREFIX}<id of that payment's client>"; then retry.`,
  );
}

/** What the fee booking needs of the target. */
export interface FeeContext {
  api: FreshBooksApi;
  feesCategory: () => Promise<FeesCategory | ItemError>;
  /**
   * The staff member an expense is recorded for (`feesStaffId`): by default 1, the business owner
   * in FreshBooks' examples and the official SDK's tests *(unverified for every account)*.
   */
  feesStaffId: number;
  signal?: AbortSignal | undefined;
}

/**
 * Books the fee of payment `d` before the payment is sent: the fee FreshBooks now holds (found or
 * written), or why it could not be booked. `batch` is the payments sent with it, so that an
 * unmarked fee under a reference two of them share is never taken as either's.
 */
export async function bookFee(
  c: FeeContext,
  d: TargetPayment,
  fee: bigint,
  batch: readonly TargetPayment[],
): Promise<BookedFee | ItemError> {
  const p = d.record;
  const category = await c.feesCategory();
  if ('code' in category) return category;
  const label = `${p.currency} ${formatAmount(fee, p.currency)}`;
  const e = matchBatchFee(d, batch, await feesUnder(c.api, p.date, [p.externalReference], c.signal), markOf);
  const found = (x: FbObject): BookedFee => ({ id: text(x.id), label, found: true });
  if (e.kind === 'marked') return found(e.docs[0]!);
  if (e.kind === 'unmarked') {
    const x = e.doc;
    const held = text((x.amount as FbObject | undefined)?.code) || p.currency;
    if (held === p.currency && minor(x.amount, held) === fee) return found(x);
    return ambiguous(
      p.externalReference,
      d.customerTargetId,
      [x],
      `it is ${held} ${text((x.amount as FbObject | undefined)?.amount)}, and this payment's fee ${label}`,
    );
  }
  if (e.kind === 'ambiguous') return ambiguous(p.externalReference, d.customerTargetId, e.docs, ambiguity(e));
  const a = await c.api.call(
    {
      method: 'POST',
      path: EXPENSES,
      json: {
        expense: {
          categoryid: idNumber(category.id),
          staffid: new LosslessNumber(String(c.feesStaffId)),
          date: p.date,
          amount: money(fee, p.currency),
          vendor: 'Payment provider',
          notes: withTag(
            withTag(`Payment provider fee on ${p.externalReference}`, REF_PREFIX, p.externalReference),
            CUSTOMER_PREFIX,
            d.customerTargetId,
          ),
        },
      },
    },
    c.signal,
  );
  if (!a.ok)
    return {
      code: 'TARGET_REFUSED',
      message:
        `${SYSTEM} refused the payment provider's fee of ${label} on payment ${p.externalReference} (the payment was not sent): ${describe(a)}`.slice(
          0,
          1000,
        ),
      retryable: false,
      field: 'fee',
    };
  return { id: text(entity(a.result, 'expense', `POST ${EXPENSES}`).id), label, found: false };
}

/** An id as FreshBooks takes it in a body: a JSON number. */
const idNumber = (id: string): LosslessNumber | string => (/^\d{1,18}$/.test(id) ? new LosslessNumber(id) : id);
