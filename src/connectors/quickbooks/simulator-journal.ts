import { LosslessNumber } from 'lossless-json';
import { Dec } from '../../domain/money.ts';

/*
 * A JournalEntry as the simulated QuickBooks keeps it, by Intuit's JournalEntry reference
 * (developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/journalentry): at least
 * one debit and one credit line, each a JournalEntryLineDetail on an account of the company, the
 * debits equal to the credits; a line on Accounts Receivable names a customer ("When you use
 * Accounts Receivable, you must choose a customer in the Name field"); DocNumber at most 21
 * characters, unique among journal entries only when the company warns on duplicate numbers;
 * TotalAmt "will always be set to zero". An A/R line's account is in the entry's currency (a
 * multicurrency company keeps one A/R account per currency; the fault's wording is the one
 * integrators quote, its code unverified). A person's void (the API has none for JournalEntry)
 * zeroes every line's amount, as QuickBooks does to a voided transaction ("the same date but zero
 * amount": Intuit's help, "Void or delete an invoice or other transactions"); what the API then
 * answers of the lines is unverified. What a journal entry charges a customer's receivable (its
 * A/R debits less credits for that customer) is what a Payment line may link (the Payment
 * reference lists `JournalEntry` among Line.LinkedTxn.TxnType). Wording of the faults is the
 * simulator's; their form (code, element, ValidationFault) is QuickBooks'.
 */

type Body = Record<string, unknown>;

/** What the books lend the rules: lookups, the fault to throw, the company's preferences. */
export interface JournalBooks {
  account(id: string): Body | undefined;
  customer(id: string): Body | undefined;
  /** Throws QuickBooks' ValidationFault. */
  refuse(code: string, message: string, detail: string, element?: string): never;
  us: boolean;
  uniqueDocNumbers: boolean;
  docNumberTaken(docNumber: string): boolean;
  today(): string;
  currency(body: Body): string;
}

interface JournalLine {
  Amount?: unknown;
  DetailType?: unknown;
  JournalEntryLineDetail?: {
    PostingType?: unknown;
    AccountRef?: { value?: string };
    Entity?: { Type?: unknown; EntityRef?: { value?: string } };
  };
}

const BUSINESS = 'A business validation error has occurred while processing your request';
const dec = (v: unknown): Dec =>
  v instanceof LosslessNumber
    ? new Dec(v.value)
    : typeof v === 'number' || typeof v === 'string'
      ? new Dec(v)
      : new Dec(0);
const money = (d: Dec) => new LosslessNumber(d.toFixed(2));
const isReceivable = (a: Body | undefined) => a?.AccountType === 'Accounts Receivable';

/** A journal entry written (never updated here), checked as QuickBooks checks one. */
export function checkJournalEntry(out: Body, current: Body | null, b: JournalBooks): Body {
  if (current) b.refuse('6000', BUSINESS, 'The simulator does not update journal entries');
  if (b.us && out.GlobalTaxCalculation !== undefined)
    b.refuse(
      '6000',
      BUSINESS,
      'Business Validation Error: GlobalTaxCalculation is not supported for US companies',
      'GlobalTaxCalculation',
    );
  const docNumber =
    typeof out.DocNumber === 'string'
      ? out.DocNumber
      : out.DocNumber instanceof LosslessNumber
        ? out.DocNumber.value
        : '';
  if (docNumber.length > 21)
    b.refuse(
      '6000',
      BUSINESS,
      `Business Validation Error: DocNumber is longer than 21 characters (${docNumber.length}).`,
      'DocNumber',
    );
  if (docNumber && b.uniqueDocNumbers && b.docNumberTaken(docNumber))
    b.refuse(
      '6140',
      'Duplicate Document Number Error',
      `Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber=${docNumber}`,
    );
  const lines = (out.Line as JournalLine[] | undefined) ?? [];
  let debits = new Dec(0);
  let credits = new Dec(0);
  const kept = lines.map((l, n) => {
    const d = l.JournalEntryLineDetail;
    if (l.DetailType !== 'JournalEntryLineDetail' || !d)
      b.refuse('6000', BUSINESS, `Line ${n + 1}: only JournalEntryLineDetail lines are simulated`, 'Line');
    if (d.PostingType !== 'Debit' && d.PostingType !== 'Credit')
      b.refuse(
        '2020',
        'Required param missing, need to supply the required value for the API',
        `Line ${n + 1}: Required parameter PostingType is missing in the request`,
        'PostingType',
      );
    const account = b.account(d.AccountRef?.value ?? '');
    if (!account)
      b.refuse(
        '2500',
        'Invalid Reference Id',
        `Invalid Reference Id : Line ${n + 1}: Account ${d.AccountRef?.value ?? '(none)'} does not exist`,
        'AccountRef',
      );
    const entity = d.Entity;
    // A multicurrency company keeps an A/R account per currency: a transaction uses the one in its own.
    if (isReceivable(account) && b.currency(account) !== b.currency(out))
      b.refuse(
        '6000',
        BUSINESS,
        'Business Validation Error: The transaction needs to be in the same currency as the A/R and A/P accounts you use.',
        'AccountRef',
      );
    if (isReceivable(account)) {
      const id = entity?.EntityRef?.value;
      if (!id || (entity.Type !== undefined && entity.Type !== 'Customer') || !b.customer(id))
        b.refuse(
          '6000',
          BUSINESS,
          'Business Validation Error: When you use Accounts Receivable, you must choose a customer in the Name field.',
          'Entity',
        );
    }
    const amount = dec(l.Amount);
    if (amount.isNeg())
      b.refuse(
        '6000',
        BUSINESS,
        `Business Validation Error: Line ${n + 1}: a journal line amount cannot be negative`,
        'Amount',
      );
    if (d.PostingType === 'Debit') debits = debits.add(amount);
    else credits = credits.add(amount);
    const tagged =
      entity?.EntityRef?.value && b.customer(entity.EntityRef.value) && entity.Type === undefined
        ? { ...d, Entity: { ...entity, Type: 'Customer' } }
        : d;
    return { ...l, Id: String(n), JournalEntryLineDetail: tagged, Amount: money(amount) };
  });
  if (
    !lines.some((l) => l.JournalEntryLineDetail?.PostingType === 'Debit') ||
    !lines.some((l) => l.JournalEntryLineDetail?.PostingType === 'Credit')
  )
    b.refuse(
      '6000',
      BUSINESS,
      'Business Validation Error: a journal entry needs at least one debit line and one credit line',
      'Line',
    );
  if (!debits.eq(credits))
    b.refuse(
      '6000',
      BUSINESS,
      `Business Validation Error: the debits (${debits.toFixed(2)}) and credits (${credits.toFixed(2)}) of a journal entry must be equal`,
      'Line',
    );
  return {
    ...out,
    ...(docNumber ? { DocNumber: docNumber } : {}),
    TxnDate: out.TxnDate ?? b.today(),
    CurrencyRef: { value: b.currency(out) },
    Adjustment: out.Adjustment ?? false,
    Line: kept,
    TotalAmt: new LosslessNumber('0'),
  };
}

/** What a journal entry charges one customer's receivable: its A/R debits less its A/R credits. */
export function receivableCharge(je: Body, customerId: string, account: (id: string) => Body | undefined): Dec {
  let charge = new Dec(0);
  for (const l of (je.Line as JournalLine[] | undefined) ?? []) {
    const d = l.JournalEntryLineDetail;
    if (!d || d.Entity?.EntityRef?.value !== customerId || !isReceivable(account(d.AccountRef?.value ?? ''))) continue;
    charge = d.PostingType === 'Debit' ? charge.add(dec(l.Amount)) : charge.sub(dec(l.Amount));
  }
  return charge;
}

/** A journal entry as a person's void leaves it: same date and lines, every amount zeroed, "Voided" noted. */
export function voidedJournalEntry(je: Body): Body {
  const note = typeof je.PrivateNote === 'string' ? je.PrivateNote : '';
  return {
    ...je,
    Line: ((je.Line as Body[] | undefined) ?? []).map((l) => ({ ...l, Amount: money(new Dec(0)) })),
    PrivateNote: note ? `Voided - ${note}` : 'Voided',
  };
}
