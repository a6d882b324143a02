import { formatAmount, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { feeAmbiguous, matchFees, readPaymentFees, remoteFeeRemedy } from '../../sync/fee-match.ts';
import type { ItemError, TargetDocument, TargetPayment } from '../../sync/target.ts';
import { writeControlId } from './api.ts';
import type { DocumentContext } from './documents.ts';
import { SYSTEM } from './settings.ts';
import { type Xml, describe, quote, text, usDate } from './xml.ts';

/*
 * A payment provider's fee (CanonicalPayment.fee) as Sage Intacct records one: a bank service
 * charge in Cash Management (BANKFEE, "Bank interest and charges"), out of the checking account
 * the payment was deposited to (bankAccountId), its reference number the payment's reference, its
 * one line on the bank-fees expense account and marked with the payment's customer (the line's
 * customer dimension). That is the record Sage points payment services' fees to: the fee
 * deducted from a deposit is a bank charge sharing the payment's number, so that reconciliation
 * matches the fee and the payment together against the bank's one credit (2026 R1 release notes,
 * "Improve reconciliation accuracy by using the document number for bank interest and charges").
 * A GL journal entry would reach the bank's GL account behind Cash Management's back.
 *
 * Exactly once, as QuickBooks' and Xero's fees: the fee is written before its payment, looked up
 * first by its reference number (and its line's customer, `matchFees`), and created under a
 * control id of its own derived from the payment's idempotency key with uniqueid true, so that a
 * request sent again after a lost answer is refused as a repeat and the fee found. A payment is
 * sent only once its fee is held.
 */

type Row = Record<string, Xml>;

/** A fee as read back: its BANKFEE row and its lines. */
interface HeldFee {
  row: Row;
  lines: Row[];
}

/** The customer a fee's lines are marked with; null for a fee none of whose lines names one. */
const markOf = (f: HeldFee): string | null => f.lines.map((l) => text(l.CUSTOMERID)).find((x) => x !== '') ?? null;

/** The rows one readByQuery answers (`IntacctApi.query`). */
const QUERY_PAGE = 100;

/** The name of a bank-fees expense account: "Bank Fees", "Bank Service Charges", "Merchant Fees", … */
const FEES_NAME = /\b(bank|merchant|payment|processing|card)\b.*\b(fees?|charges?)\b/i;

const settingMissing = (message: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field: 'feesGlAccount',
});

const isExpense = (a: Row) => text(a.ACCOUNTTYPE) === 'incomestatement' && text(a.NORMALBALANCE) === 'debit';
const active = (a: Row) => text(a.STATUS) !== 'inactive';
const named = (a: Row) => `${text(a.ACCOUNTNO)} ${text(a.TITLE)}`;

/**
 * The GL account fees go to: `feesGlAccount` (an active expense account: income statement, normal
 * balance debit), else the company's one active expense account titled for bank or merchant fees.
 */
export async function feesAccount(c: DocumentContext): Promise<string | ItemError> {
  const setting = c.settings.feesGlAccount;
  if (setting !== undefined) {
    const [a] = await c.api.query('GLACCOUNT', `ACCOUNTNO = ${quote(setting)}`, c.signal);
    if (a && isExpense(a) && active(a)) return setting;
    return settingMissing(
      a
        ? `feesGlAccount ${named(a)} is ${active(a) ? `not an expense account (${text(a.ACCOUNTTYPE)}, normal balance ${text(a.NORMALBALANCE)})` : 'inactive'}: the payment provider's fee needs an active expense account`
        : `feesGlAccount "${setting}" is not a GL account of this ${SYSTEM} company`,
    );
  }
  const expenses = await c.api.query(
    'GLACCOUNT',
    `STATUS = 'active' AND ACCOUNTTYPE = 'incomestatement' AND NORMALBALANCE = 'debit'`,
    c.signal,
  );
  // One page is all a query reads: past it, "the one" could be one of several.
  if (expenses.length >= QUERY_PAGE)
    return settingMissing(
      `this ${SYSTEM} company has ${QUERY_PAGE} or more expense accounts, too many to find its bank-fees account among: set target.feesGlAccount (an expense GL account number)`,
    );
  const found = expenses.filter((a) => isExpense(a) && FEES_NAME.test(text(a.TITLE)));
  if (found.length === 1) return text(found[0]!.ACCOUNTNO);
  return settingMissing(
    found.length === 0
      ? `this ${SYSTEM} company has no bank-fees expense account for the payment provider's fee: set target.feesGlAccount (an expense GL account number)`
      : `this ${SYSTEM} company has ${found.length} bank-fees expense accounts (${found.map(named).join(', ')}): choose one in target.feesGlAccount`,
  );
}

/** A fee Intacct now holds for a payment. */
export interface BookedFee {
  id: string;
  /** The fee as text ("EUR 1.20"), for the payment's run record. */
  label: string;
  found: boolean;
}

/**
 * The fees under these reference numbers on the bank account payments go to, with their lines:
 * one readByQuery per 1,000 references and one per 1,000 fees for their lines (api.ts `queryIn`).
 */
async function feesByReference(c: DocumentContext, references: string[]): Promise<Map<string, HeldFee[]>> {
  const wanted = new Set(references);
  const rows = (await c.api.queryIn('BANKFEE', 'RECORDID', references, c.signal)).filter(
    (r) => wanted.has(text(r.RECORDID)) && text(r.FINANCIALENTITY) === c.settings.bankAccountId,
  );
  const lines = new Map<string, Row[]>();
  if (rows.length > 0)
    for (const l of await c.api.queryIn(
      'BANKFEEENTRY',
      'RECORDKEY',
      rows.map((r) => text(r.RECORDNO)),
      c.signal,
    ))
      lines.set(text(l.RECORDKEY), [...(lines.get(text(l.RECORDKEY)) ?? []), l]);
  const out = new Map<string, HeldFee[]>();
  for (const row of rows.sort((a, b) => Number(text(a.RECORDNO)) - Number(text(b.RECORDNO)))) {
    const reference = text(row.RECORDID);
    out.set(reference, [...(out.get(reference) ?? []), { row, lines: lines.get(text(row.RECORDNO)) ?? [] }]);
  }
  return out;
}

/** A payment parked because which unmarked fee is its own cannot be told. */
function ambiguous(reference: string, fees: HeldFee[]): ItemError {
  return feeAmbiguous(
    `${SYSTEM} holds bank charges under reference ${reference} (${fees.map((f) => text(f.row.RECORDNO)).join(', ')}) whose lines name no customer, and whether one is this payment's fee cannot be told: nothing was booked, so that no fee is booked twice or lost. Set the customer on the line of the one that is this payment's fee (or of the one that is another payment's), then retry.`,
  );
}

/**
 * Books a payment's fee before the payment: the fee Intacct now holds (found or written), why it
 * could not be booked (the payment is then not sent), or null for a payment without a fee.
 */
export async function bookFee(
  c: DocumentContext,
  d: TargetPayment,
  feesAccountOnce: () => Promise<string | ItemError> = () => feesAccount(c),
): Promise<BookedFee | ItemError | null> {
  const p = d.record;
  if (p.fee === null || p.fee === undefined) return null;
  const fee = parseAmount(p.fee, p.currency);
  if (!fee.ok) return { code: 'AMOUNT_INVALID', message: `fee: ${fee.error.message}`, retryable: false, field: 'fee' };
  if (fee.value === 0n) return null;
  if (fee.value < 0n)
    return { code: 'AMOUNT_INVALID', message: 'fee: a fee is never negative', retryable: false, field: 'fee' };
  const account = await feesAccountOnce();
  if (typeof account !== 'string') return account;
  const label = `${p.currency} ${formatAmount(fee.value, p.currency)}`;
  const find = async () =>
    matchFees(
      [{ reference: p.externalReference, customer: d.customerTargetId }],
      await feesByReference(c, [p.externalReference]),
      markOf,
    )[0]!;
  const before = await find();
  if (before.kind === 'marked') return { id: text(before.docs[0]!.row.RECORDNO), label, found: true };
  if (before.kind === 'ambiguous') return ambiguous(p.externalReference, before.docs);
  // An unmarked fee (booked by hand) is this payment's only when it is what the booking would record.
  if (before.kind === 'unmarked') {
    const f = before.doc;
    const total = f.lines.reduce((x, l) => {
      const v = parseAmount(text(l.TRX_AMOUNT), p.currency);
      return v.ok ? x + v.value : x;
    }, 0n);
    if (total === fee.value && text(f.row.WHENCREATED) === usDate(p.date))
      return { id: text(f.row.RECORDNO), label, found: true };
    return ambiguous(p.externalReference, [f]);
  }
  const a = await c.api.call(
    {
      name: 'create',
      body: {
        BANKFEE: {
          FINANCIALENTITY: c.settings.bankAccountId,
          WHENCREATED: usDate(p.date),
          TRANSACTIONTYPE: 'Service Charge',
          RECORDID: p.externalReference,
          DESCRIPTION: `Payment provider fee on ${p.externalReference}`.slice(0, 1000),
          BANKFEEENTRIES: {
            BANKFEEENTRY: [
              {
                GLACCOUNTNO: account,
                TRX_AMOUNT: formatAmount(fee.value, p.currency),
                DESCRIPTION: `Payment provider fee on ${p.externalReference}`.slice(0, 1000),
                CUSTOMERID: d.customerTargetId,
              },
            ],
          },
        },
      },
    },
    { write: true, controlId: writeControlId(d.idempotencyKey, 'fee'), signal: c.signal },
  );
  if (a.duplicate) {
    // Processed under the same control id by an earlier attempt whose answer was lost.
    const again = await find();
    if (again.kind === 'marked') return { id: text(again.docs[0]!.row.RECORDNO), label, found: true };
    throw new ConnectorError(
      SYSTEM,
      `the fee of payment ${p.externalReference}: the gateway says it was already processed, and it cannot be found yet (${describe(a.errors)})`,
      { retryable: true },
    );
  }
  if (a.result.status !== 'success')
    return {
      code: 'TARGET_REFUSED',
      message: `${SYSTEM} refused the payment provider's fee of ${label} on payment ${p.externalReference} (the payment was not sent): ${describe(a.result.errors)}`,
      retryable: false,
      field: 'fee',
    };
  const rows = a.result.data?.bankfee;
  const id = text(Array.isArray(rows) ? (rows[0] as Row | undefined)?.RECORDNO : (rows as Row | undefined)?.RECORDNO);
  return { id, label, found: false };
}

/**
 * Sets the fee Intacct holds for each of these payments (`TargetDocument.fee`, for
 * reconciliation): the bank charges under its reference marked with its customer (`matchFees`),
 * their lines summed; null when there is none.
 */
export async function readFees(c: DocumentContext, payments: TargetDocument[]): Promise<void> {
  await readPaymentFees(payments, {
    byReference: (references) => feesByReference(c, references),
    markOf,
    reader: () => ({
      currencyOf: (f) => text(f.row.CURRENCY) || c.settings.currency,
      amountOf: (f, currency) => {
        let sum = 0n;
        for (const l of f.lines) {
          const v = parseAmount(text(l.TRX_AMOUNT), currency);
          if (!v.ok) return null;
          sum += v.value;
        }
        return sum;
      },
      idOf: (f) => text(f.row.RECORDNO),
      label: (ids) => `bank charge ${ids.join(' and ')}`,
      notAnAmount: (f) =>
        new ConnectorError(SYSTEM, `bank charge ${text(f.row.RECORDNO)} has a line whose amount is not one`, {
          retryable: false,
        }),
    }),
  });
}

/** What to do in Intacct about a payment whose fee is not what the source says (reconciliation). */
export const intacctFeeRemedy = remoteFeeRemedy(
  SYSTEM,
  (reference) =>
    `record it in ${SYSTEM} as a bank service charge (Cash Management, bank interest and charges) on the bank account the payment was deposited to, reference number ${reference}, its line on the bank-fees expense account with the payment's customer, as ledgerlink books a fee`,
);
