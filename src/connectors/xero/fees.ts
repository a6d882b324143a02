import { formatAmount, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import {
  type ItemError,
  type ItemResult,
  type TargetCallContext,
  type TargetDocument,
  type TargetPayment,
  failed,
} from '../../sync/target.ts';
import {
  ambiguity,
  feeAmbiguous,
  type FeeMatch,
  matchFees,
  readPaymentFees,
  remoteFeeRemedy,
} from '../../sync/fee-match.ts';
import { type Json, str } from './api.ts';
import { type OrgSettings, amount, minorUnits, xeroDate } from './map.ts';
import { XERO, type XeroTargetSettings } from './settings.ts';
import type { XeroParts } from './credit-notes.ts';

/*
 * A payment provider's fee (CanonicalPayment.fee) in Xero: the payment keeps its gross amount
 * (applied to the invoice, or an overpayment), and the fee is spend money (a SPEND bank
 * transaction) out of the same bank account, one line on the bank-fees expense account with no
 * tax (LineAmountTypes NoTax, on the account's own 0% rate or Xero's "No VAT"), to a contact for
 * the provider. That is how an accountant reconciles a payout in Xero: the gross receipt and the
 * fee against the one net bank line.
 *
 * Exactly once, without a second kind in the engine: the fees of a call go first, in one PUT with
 * an Idempotency-Key from their payments' keys, each with its payment's reference; the payments
 * follow, and only those whose fee Xero holds. Every call looks the fees up before writing any, so
 * an attempt after a lost answer (or after the payment itself was refused) finds the fee instead of
 * spending it twice, and a payment that Xero holds always has its fee: the engine's lookup of the
 * payment stays the proof that both are done.
 *
 * A reference is unique per customer, not per organisation (two customers' payments may both be
 * "Order 1001"), so the reference alone does not tell whose fee a spend money is. Its line's
 * Description ends with a mark naming the customer's contact, "(ledgerlink customer <ContactID>)",
 * which Xero keeps and lists with the line (`identify`). A fee booked before the mark existed is
 * taken as a payment's own only when nothing else can be meant; otherwise the payment is parked
 * (PAYMENT_FEE_AMBIGUOUS) rather than its fee spent twice or lost.
 *
 * Reconciliation reads the fees back the same way (`readFees`), so two payments under one
 * reference are each compared with their own fee.
 */

/** The contact fees are spent to when the settings name none. */
export const DEFAULT_FEES_CONTACT = 'Payment provider fees';

/** Account types a fee may be coded to: Xero's expense types. */
const EXPENSE_TYPES = new Set(['EXPENSE', 'OVERHEADS', 'DIRECTCOSTS']);
/** Xero's default charts name it "Bank Fees" (UK, AU, NZ) or "Bank Service Charges" (US). */
const BANK_FEES = /\bbank\s+(fees|charges|service\s+charges)\b/i;

const missing = (message: string, field: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field,
});

type Account = OrgSettings['accounts'][number];

/** The account fees go to: `accounts.fees`, else the organisation's one expense account named for bank fees. */
export function feesAccountFor(org: OrgSettings, s: XeroTargetSettings): Account | ItemError {
  const override = s.accounts?.fees;
  if (override) {
    const a = org.accounts.find((x) => x.Code === override);
    if (!a) return missing(`accounts.fees is ${override}, which is not an active account in Xero`, 'accounts.fees');
    if (a.Type === 'BANK')
      return missing(
        `accounts.fees is ${override}, a bank account: name the expense account fees go to`,
        'accounts.fees',
      );
    return a;
  }
  const matches = org.accounts.filter((a) => EXPENSE_TYPES.has(a.Type) && BANK_FEES.test(a.Name));
  if (matches.length === 1) return matches[0]!;
  return missing(
    matches.length === 0
      ? "Xero has no Bank Fees expense account for the payment provider's fee: create one, or set accounts.fees in the target's settings to the account code fees go to"
      : `Xero has ${matches.length} bank-fee accounts (${matches.map((m) => m.Code).join(', ')}): choose one in accounts.fees`,
    'accounts.fees',
  );
}

/** The tax rate of a fee line: the account's own default when it is a 0% rate, else Xero's "No VAT" (NONE). */
export function feeTaxType(account: Account, org: OrgSettings): string | ItemError {
  const zero = (type: string | undefined) => org.taxRates.some((t) => t.TaxType === type && t.rate.isZero());
  if (account.TaxType && zero(account.TaxType)) return account.TaxType;
  if (zero('NONE')) return 'NONE';
  return missing(
    `The fees account ${account.Code} has the default tax rate ${account.TaxType ?? '(none)'}, not a 0% one, and Xero has no "No VAT" rate: set the account's default tax rate in Xero to the one bank fees take (No VAT, Exempt), or choose another account in accounts.fees`,
    'accounts.fees',
  );
}

/** A fee Xero now holds for a payment. */
export interface BookedFee {
  id: string;
  /** The fee as text ("EUR 0.30"), for the payment's run record. */
  label: string;
  found: boolean;
}

/** What the fee booking borrows from the target: its lookup by a key field, and its batched writes. */
export type FeeIO = Pick<XeroParts, 'findBy' | 'writeAll'>;

const NAME_TAKEN = /already assigned to another contact/i;

/** Spend money that is a payment's fee: authorised (a deleted one is out of the books), under the payment's reference. */
const FEE_SPEND = 'Type=="SPEND" AND Status=="AUTHORISED"';

/** The mark at the end of a fee line's Description naming the customer (contact) whose payment it is. */
export const feeMark = (customerTargetId: string) => `(ledgerlink customer ${customerTargetId})`;
const MARK = /\(ledgerlink customer ([^\s()]+)\)/g;

/** The customer a fee's lines name, or null for a fee booked before fees were marked (or whose mark was edited away). */
function markOf(spend: Json): string | null {
  const lines = Array.isArray(spend.LineItems) ? (spend.LineItems as Json[]) : [];
  for (const l of lines) {
    const marks = [...str(l.Description).matchAll(MARK)];
    if (marks.length > 0) return marks[marks.length - 1]![1]!;
  }
  return null;
}

/** Whose fee each spend money under these payments' references is (`matchFees`). */
function identify(payments: { reference: string; customer: string }[], spends: Json[]): FeeMatch<Json>[] {
  return matchFees(payments, byReference(spends), markOf);
}

/** Spend money by its reference. */
function byReference(spends: Json[]): Map<string, Json[]> {
  const out = new Map<string, Json[]>();
  for (const b of spends) out.set(str(b.Reference), [...(out.get(str(b.Reference)) ?? []), b]);
  return out;
}

/** The authorised spend money under these references, with their lines (Xero lists lines only in pages). */
const spendsUnder = (io: Pick<FeeIO, 'findBy'>, references: string[], signal?: AbortSignal) =>
  // Not narrowed to the fees contact: a fee spent before `feesContact` changed is still found.
  io.findBy('/BankTransactions', 'BankTransactions', 'Reference', references, FEE_SPEND, signal, true);

/** A payment parked because which unmarked fee is its own cannot be told. */
function ambiguous(reference: string, customer: string, spends: Json[], why: string): ItemError {
  const ids = spends.map((b) => str(b.BankTransactionID)).join(', ');
  return feeAmbiguous(
    `Xero holds spend money under the reference ${reference} booked before ledgerlink marked each fee with its payment's customer (${ids}), and whether it is this payment's fee cannot be told: ${why}. Nothing was booked, so that no fee is spent twice or lost. If one is this payment's fee, end its line's description with "${feeMark(customer)}"; if one is another payment's, end it with "(ledgerlink customer <ContactID of that payment's customer>)"; then retry.`,
  );
}

/** The fee booking of one target instance (it keeps the fees contact once resolved). */
export function xeroFees(settings: XeroTargetSettings, io: FeeIO) {
  const contactName = settings.feesContact ?? DEFAULT_FEES_CONTACT;
  let contactPromise: Promise<string | ItemError> | null = null;

  async function findContact(signal?: AbortSignal): Promise<string | null> {
    const found = await io.findBy('/Contacts', 'Contacts', 'Name', [contactName], '', signal);
    const same = found.filter((c) => str(c.Name).trim().toLowerCase() === contactName.trim().toLowerCase());
    const c = same.find((x) => x.ContactStatus !== 'ARCHIVED') ?? same[0];
    return c ? str(c.ContactID) : null;
  }

  /** The fees contact: found by name, else created (once per target instance). */
  function contact(ctx: TargetCallContext): Promise<string | ItemError> {
    contactPromise ??= (async () => {
      const known = await findContact(ctx.signal);
      if (known) return known;
      const [a] = await io.writeAll(
        ctx,
        'PUT',
        '/Contacts',
        'Contacts',
        [{ el: { Name: contactName }, itemKey: `fees-contact:${contactName}` }],
        'fees-contact',
      );
      if (a?.ok) return str(a.saved.ContactID);
      // Another worker created it meanwhile.
      if (a && a.messages.some((m) => NAME_TAKEN.test(m))) {
        const now = await findContact(ctx.signal);
        if (now) return now;
      }
      return {
        code: 'TARGET_REFUSED',
        message: `Xero refused the fees contact "${contactName}": ${a && !a.ok ? a.messages.join('; ') : 'no answer'}`,
        retryable: false,
        field: 'feesContact',
      } satisfies ItemError;
    })().catch((err: unknown) => {
      contactPromise = null;
      throw err;
    });
    return contactPromise;
  }

  /**
   * Books the fees of these payments (index in the call → payment and its bank account code),
   * before the payments: for each, the fee Xero now holds (found or written) or why it could not
   * be booked; nothing for a payment without a fee. No call at all when none has a fee.
   */
  async function book(
    ctx: TargetCallContext,
    org: OrgSettings,
    payments: { n: number; item: TargetPayment; bank: string }[],
  ): Promise<Map<number, BookedFee | ItemError>> {
    const out = new Map<number, BookedFee | ItemError>();
    const wanted: { n: number; item: TargetPayment; bank: string; fee: bigint; el: Json }[] = [];
    let account: Account | ItemError | undefined;
    let tax: string | ItemError | undefined;
    let contactId: string | ItemError | undefined;
    for (const { n, item, bank } of payments) {
      const p = item.record;
      if (p.fee === null || p.fee === undefined) continue;
      const fee = parseAmount(p.fee, p.currency);
      if (!fee.ok) {
        out.set(n, { code: 'AMOUNT_INVALID', message: `fee: ${fee.error.message}`, retryable: false, field: 'fee' });
        continue;
      }
      if (fee.value === 0n) continue;
      if (fee.value < 0n) {
        out.set(n, { code: 'AMOUNT_INVALID', message: 'fee: a fee is never negative', retryable: false, field: 'fee' });
        continue;
      }
      account ??= feesAccountFor(org, settings);
      if ('code' in account && 'retryable' in account) {
        out.set(n, account);
        continue;
      }
      tax ??= feeTaxType(account, org);
      if (typeof tax !== 'string') {
        out.set(n, tax);
        continue;
      }
      contactId ??= await contact(ctx);
      if (typeof contactId !== 'string') {
        out.set(n, contactId);
        continue;
      }
      wanted.push({
        n,
        item,
        bank,
        fee: fee.value,
        el: {
          Type: 'SPEND',
          Contact: { ContactID: contactId },
          BankAccount: { Code: bank },
          Date: p.date,
          Reference: p.externalReference,
          Status: 'AUTHORISED',
          LineAmountTypes: 'NoTax',
          CurrencyCode: p.currency,
          LineItems: [
            {
              Description: `Payment provider fee on ${p.externalReference} ${feeMark(item.customerTargetId)}`,
              Quantity: amount('1'),
              UnitAmount: amount(formatAmount(fee.value, p.currency)),
              AccountCode: account.Code,
              TaxType: tax,
            },
          ],
        },
      });
    }
    if (wanted.length === 0) return out;
    const label = (w: (typeof wanted)[number]) =>
      `${w.item.record.currency} ${formatAmount(w.fee, w.item.record.currency)}`;
    const earlier = identify(
      wanted.map((w) => ({ reference: w.item.record.externalReference, customer: w.item.customerTargetId })),
      await spendsUnder(
        io,
        wanted.map((w) => w.item.record.externalReference),
        ctx.signal,
      ),
    );
    const toWrite = wanted.filter((w, i) => {
      const e = earlier[i]!;
      const p = w.item.record;
      const found = (b: Json) => out.set(w.n, { id: str(b.BankTransactionID), label: label(w), found: true });
      if (e.kind === 'marked') found(e.docs[0]!);
      // An unmarked fee is this payment's as it would book it (amount, currency, date), or not told.
      else if (e.kind === 'unmarked' && sameFee(e.doc, p.currency, w.fee, p.date)) found(e.doc);
      else if (e.kind === 'unmarked')
        out.set(
          w.n,
          ambiguous(
            p.externalReference,
            w.item.customerTargetId,
            [e.doc],
            `it is ${str(e.doc.CurrencyCode)} ${str(e.doc.Total)} on ${xeroDate(e.doc.DateString ?? e.doc.Date) ?? '?'}, and this payment's fee ${label(w)} on ${p.date}`,
          ),
        );
      else if (e.kind === 'ambiguous')
        out.set(
          w.n,
          ambiguous(
            p.externalReference,
            w.item.customerTargetId,
            e.docs,
            ambiguity(e, `there are ${e.docs.length} under the reference`),
          ),
        );
      return e.kind === 'none';
    });
    const answers = await io.writeAll(
      ctx,
      'PUT',
      '/BankTransactions',
      'BankTransactions',
      toWrite.map((w) => ({ el: w.el, itemKey: `${w.item.idempotencyKey}:fee` })),
      'fees',
    );
    answers.forEach((a, i) => {
      const w = toWrite[i]!;
      out.set(
        w.n,
        a.ok
          ? { id: str(a.saved.BankTransactionID), label: label(w), found: false }
          : {
              code: 'TARGET_REFUSED',
              message:
                `Xero refused the payment provider's fee of ${label(w)} (the payment was not sent): ${a.messages.join('; ')}`.slice(
                  0,
                  1000,
                ),
              retryable: false,
              field: 'fee',
            },
      );
    });
    return out;
  }

  return { book };
}

/**
 * The payments' results saying where each fee went: a booked payment names its fee; one refused
 * after its fee was booked says the fee is there and is not booked again when it is sent again.
 */
export function withFeeNotes(results: ItemResult[], fees: Map<number, BookedFee | ItemError>): ItemResult[] {
  return results.map((r, n) => {
    const fee = fees.get(n);
    if (!fee || !('id' in fee)) return r;
    if (!r.ok)
      return failed({
        ...r.error,
        message: `${r.error.message} (its fee ${fee.label} is booked as spend money ${fee.id} and is not booked again when the payment is sent again)`,
      });
    const said = `fee ${fee.label} ${fee.found ? 'already booked' : 'booked'} as spend money ${fee.id}`;
    return { ...r, message: r.message ? `${said}; ${r.message}` : said };
  });
}

/** Whether an unmarked fee is what the booking would spend for this payment's fee. */
function sameFee(spend: Json, currency: string, fee: bigint, date: string): boolean {
  const held = str(spend.CurrencyCode) || currency;
  return (
    held === currency && minorUnits(spend.Total, held) === fee && xeroDate(spend.DateString ?? spend.Date) === date
  );
}

/**
 * Sets the fee Xero holds for each of these payments (`TargetDocument.fee`, for reconciliation):
 * its spend money as the fee booking identifies it (`identify`: marked with the payment's customer,
 * or the one unmarked fee under a reference no other payment read here has), its `Total` in its
 * currency; null when there is none. Several marked for it all left the bank: summed, and named
 * together. A payment without a reference, or whose unmarked fee cannot be told from another
 * payment's, is left unknown (not compared, and the report says so). One GET /BankTransactions
 * page per 25 references (the payments' own read is one per 25 ids).
 */
export async function readFees(io: Pick<FeeIO, 'findBy'>, ctx: TargetCallContext, payments: TargetDocument[]) {
  await readPaymentFees(payments, {
    byReference: async (references) => byReference(await spendsUnder(io, references, ctx.signal)),
    markOf,
    reader: (p) => ({
      currencyOf: (b) => str(b.CurrencyCode) || p.currency,
      amountOf: (b, currency) => minorUnits(b.Total, currency),
      idOf: (b) => str(b.BankTransactionID),
      label: (ids) => `spend money ${ids.join(' and ')}`,
      notAnAmount: (b) =>
        new ConnectorError(
          XERO.system,
          `GET /BankTransactions answered a Total that is not an amount: ${String(b.Total)}`,
          {
            retryable: false,
          },
        ),
    }),
  });
}

/** What to do in Xero about a payment whose fee is not what the source says (reconciliation). */
export const xeroFeeRemedy = remoteFeeRemedy(
  'Xero',
  (reference) =>
    `spend it in Xero out of the payment's bank account to the bank fees account, with the reference ${reference}, as ledgerlink books a fee`,
);
