import { LosslessNumber } from 'lossless-json';
import { Dec } from '../../domain/money.ts';
import type { Json, SimDocument, SimLine, SimOverpayment, SimPayment, SimSpend, SimTenant } from './simulator-store.ts';

/*
 * How the simulated Xero shows what it holds: the JSON Xero answers with (amounts as exact number
 * literals, dates as "/Date(ms+0000)/" with a DateString beside), and the `where` filter of its
 * list endpoints, as far as ledgerlink's Xero connector uses it.
 */

/** An exact JSON number literal (serialised by lossless-json's stringify). */
export const num = (d: Dec, dp = 2): LosslessNumber => new LosslessNumber(d.toFixed(dp));

export function msDate(date: string | null): string | null {
  return date === null ? null : `/Date(${Date.parse(`${date}T00:00:00Z`)}+0000)/`;
}

function lineView(l: SimLine, unitdp: number): Json {
  return {
    LineItemID: l.LineItemID,
    Description: l.Description,
    Quantity: num(l.Quantity, 4),
    UnitAmount: num(l.UnitAmount, unitdp),
    LineAmount: num(l.LineAmount),
    TaxAmount: num(l.TaxAmount),
    AccountCode: l.AccountCode,
    TaxType: l.TaxType,
    ...(l.ItemCode ? { ItemCode: l.ItemCode } : {}),
    Tracking: l.Tracking,
  };
}

export function documentView(t: SimTenant, d: SimDocument, unitdp = 2): Json {
  const contact = t.contacts.get(d.ContactID);
  const invoice = d.Type === 'ACCREC';
  const common: Json = {
    Type: d.Type,
    Contact: { ContactID: d.ContactID, Name: contact?.Name, ContactNumber: contact?.ContactNumber },
    Date: msDate(d.Date),
    DateString: `${d.Date}T00:00:00`,
    ...(d.DueDate ? { DueDate: msDate(d.DueDate), DueDateString: `${d.DueDate}T00:00:00` } : {}),
    Status: d.Status,
    LineAmountTypes: d.LineAmountTypes,
    LineItems: d.Lines.map((l) => lineView(l, unitdp)),
    SubTotal: num(d.SubTotal),
    TotalTax: num(d.TotalTax),
    Total: num(d.Total),
    CurrencyCode: d.CurrencyCode,
    ...(d.CurrencyRate ? { CurrencyRate: num(d.CurrencyRate, 6) } : {}),
    Reference: d.Reference,
    UpdatedDateUTC: `/Date(${1_700_000_000_000 + d.updated}+0000)/`,
    ...(d.FullyPaidOnDate ? { FullyPaidOnDate: msDate(d.FullyPaidOnDate) } : {}),
  };
  const payments = d.Payments.map((id) => paymentView(t, t.payments.get(id)!));
  if (invoice)
    return {
      InvoiceID: d.id,
      InvoiceNumber: d.Number,
      ...common,
      AmountDue: num(t.due(d)),
      AmountPaid: num(d.Paid),
      AmountCredited: num(d.Allocated),
      Payments: payments,
      CreditNotes: d.Allocations.filter((a) => a.kind === 'CREDITNOTE').map((a) => ({
        CreditNoteID: a.otherId,
        AppliedAmount: num(a.Amount),
      })),
      Overpayments: d.Allocations.filter((a) => a.kind === 'OVERPAYMENT').map((a) => ({
        OverpaymentID: a.otherId,
        AppliedAmount: num(a.Amount),
      })),
    };
  return {
    CreditNoteID: d.id,
    CreditNoteNumber: d.Number,
    ...common,
    RemainingCredit: num(t.due(d)),
    Payments: payments,
    Allocations: d.Allocations.map((a) => ({
      AllocationID: a.id,
      Amount: num(a.Amount),
      Date: msDate(a.Date),
      Invoice: { InvoiceID: a.otherId, InvoiceNumber: t.documents.get(a.otherId)?.Number },
    })),
  };
}

export function paymentView(t: SimTenant, p: SimPayment): Json {
  const doc = p.documentType === 'OVERPAYMENT' ? undefined : t.documents.get(p.documentId);
  // Xero names the document's contact and currency on the payment.
  const party = doc ? { Contact: { ContactID: doc.ContactID }, CurrencyCode: doc.CurrencyCode } : {};
  return {
    PaymentID: p.PaymentID,
    Date: msDate(p.Date),
    Amount: num(p.Amount),
    Reference: p.Reference,
    Status: p.Status,
    PaymentType: p.PaymentType,
    Account: { Code: p.AccountCode, AccountID: t.account(p.AccountCode)?.AccountID },
    ...(p.documentType === 'ACCREC'
      ? { Invoice: { InvoiceID: p.documentId, InvoiceNumber: doc?.Number, Type: 'ACCREC', ...party } }
      : p.documentType === 'ACCRECCREDIT'
        ? { CreditNote: { CreditNoteID: p.documentId, CreditNoteNumber: doc?.Number, Type: 'ACCRECCREDIT', ...party } }
        : {
            Overpayment: {
              OverpaymentID: p.documentId,
              Contact: { ContactID: t.overpayments.get(p.documentId)?.ContactID },
              CurrencyCode: t.overpayments.get(p.documentId)?.CurrencyCode,
            },
          }),
    UpdatedDateUTC: `/Date(${1_700_000_000_000 + p.updated}+0000)/`,
  };
}

export function overpaymentView(t: SimTenant, o: SimOverpayment): Json {
  return {
    OverpaymentID: o.OverpaymentID,
    Type: 'RECEIVE-OVERPAYMENT',
    Contact: { ContactID: o.ContactID, Name: t.contacts.get(o.ContactID)?.Name },
    Date: msDate(o.Date),
    Status: o.Total.sub(o.Allocated).lte(0) ? 'PAID' : 'AUTHORISED',
    LineAmountTypes: 'NoTax',
    LineItems: [{ Description: o.Description, LineAmount: num(o.Total) }],
    Reference: o.Reference,
    CurrencyCode: o.CurrencyCode,
    Total: num(o.Total),
    RemainingCredit: num(o.Total.sub(o.Allocated)),
    Allocations: o.Allocations.map((a) => ({
      AllocationID: a.id,
      Amount: num(a.Amount),
      Date: msDate(a.Date),
      Invoice: { InvoiceID: a.invoiceId },
    })),
    // Refunds of the overpayment in cash.
    Payments: [...t.payments.values()]
      .filter((p) => p.documentType === 'OVERPAYMENT' && p.documentId === o.OverpaymentID)
      .map((p) => paymentView(t, p)),
  };
}

export function bankTransactionView(t: SimTenant, o: SimOverpayment): Json {
  return {
    BankTransactionID: o.BankTransactionID,
    Type: 'RECEIVE-OVERPAYMENT',
    Contact: { ContactID: o.ContactID },
    Date: msDate(o.Date),
    Reference: o.Reference,
    Status: 'AUTHORISED',
    BankAccount: { Code: o.AccountCode, AccountID: t.account(o.AccountCode)?.AccountID },
    OverpaymentID: o.OverpaymentID,
    Total: num(o.Total),
    CurrencyCode: o.CurrencyCode,
  };
}

/** Spend money as Xero answers it. */
export function spendView(t: SimTenant, s: SimSpend): Json {
  return {
    BankTransactionID: s.BankTransactionID,
    Type: 'SPEND',
    Contact: { ContactID: s.ContactID, Name: t.contacts.get(s.ContactID)?.Name },
    Date: msDate(s.Date),
    DateString: `${s.Date}T00:00:00`,
    Reference: s.Reference,
    Status: s.Status,
    IsReconciled: false,
    BankAccount: { Code: s.AccountCode, AccountID: t.account(s.AccountCode)?.AccountID },
    LineAmountTypes: s.LineAmountTypes,
    LineItems: s.Lines.map((l) => ({
      LineItemID: l.LineItemID,
      Description: l.Description,
      Quantity: num(new Dec(1)),
      UnitAmount: num(l.LineAmount),
      LineAmount: num(l.LineAmount),
      TaxAmount: num(new Dec(0)),
      AccountCode: l.AccountCode,
      TaxType: l.TaxType,
    })),
    SubTotal: num(s.Total),
    TotalTax: num(new Dec(0)),
    Total: num(s.Total),
    CurrencyCode: s.CurrencyCode,
    UpdatedDateUTC: `/Date(${s.updated})/`,
  };
}

/** Reads a dotted path of a view ("Contact.ContactID"). */
function at(obj: Json, path: string): unknown {
  let v: unknown = obj;
  for (const k of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Json)[k] : undefined;
  return v;
}

const CLAUSE =
  /^\s*([A-Za-z][A-Za-z0-9.]*)\s*(==|!=|>=|<=|>|<)\s*(?:"((?:[^"\\]|\\.)*)"|[Gg]uid\("([0-9a-fA-F-]{36})"\)|(true|false)|DateTime\(\s*(\d{4})\s*,\s*(\d{1,2})\s*,\s*(\d{1,2})\s*\))\s*$/;

/** A view's date field ("/Date(ms+0000)/" or "2026-11-02T00:00:00") as YYYY-MM-DD, for comparisons. */
function dayOf(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const ms = /^\/Date\((-?\d+)/.exec(v);
  if (ms) return new Date(Number(ms[1])).toISOString().slice(0, 10);
  return /^\d{4}-\d{2}-\d{2}/.test(v) ? v.slice(0, 10) : null;
}

/** Splits `text` at a separator that stands outside quotes and parentheses. */
function splitTop(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && text.startsWith(sep, i)) {
      parts.push(text.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

type Test = ((v: Json) => boolean) | { error: string };

function parseExpr(text: string): Test {
  const ors = splitTop(text, ' OR ');
  const ands = ors.map((o) => splitTop(o, ' AND ').map(parseTerm));
  for (const group of ands) for (const t of group) if ('error' in t) return t;
  const fns = ands.map((g) => g as ((v: Json) => boolean)[]);
  return (v) => fns.some((g) => g.every((f) => f(v)));
}

function parseTerm(part: string): Test {
  const t = part.trim();
  if (t.startsWith('(') && t.endsWith(')')) return parseExpr(t.slice(1, -1));
  const m = CLAUSE.exec(t);
  if (!m) return { error: `The simulator cannot parse the where clause "${t}"` };
  const [, field, op, text, guid, bool, year, month, day] = m;
  if (year !== undefined) {
    // Dates compare as days: Xero's DateTime(2026, 11, 2) is midnight of that day, and documents carry no time.
    const want = `${year}-${month!.padStart(2, '0')}-${day!.padStart(2, '0')}`;
    return (v) => {
      const d = dayOf(at(v, field!));
      if (d === null) return false;
      const c = d < want ? -1 : d > want ? 1 : 0;
      return { '==': c === 0, '!=': c !== 0, '>=': c >= 0, '<=': c <= 0, '>': c > 0, '<': c < 0 }[op!]!;
    };
  }
  if (op !== '==' && op !== '!=') return { error: `The simulator compares only dates with ${op}: "${t}"` };
  const want = text !== undefined ? text.replace(/\\(.)/g, '$1') : (guid ?? bool);
  return (v) => {
    const value = String(at(v, field!));
    // GUIDs compare without regard to case, as Xero's do.
    const same = guid !== undefined ? value.toLowerCase() === guid.toLowerCase() : value === want;
    return op === '==' ? same : !same;
  };
}

/**
 * Xero's `where` as far as the connector uses it: clauses `Field=="text"`, `Field!="text"`,
 * `Field==Guid("…")`, `Field==true`, or a date compared with `DateTime(y, m, d)` by `==`, `!=`,
 * `>=`, `<=`, `>` or `<`, joined by AND and OR, grouped in parentheses. Anything else
 * is refused as Xero refuses a filter it cannot parse (a 400), never ignored.
 */
export function whereFilter(where: string | null): Test {
  if (where === null || where.trim() === '') return () => true;
  return parseExpr(where);
}
