import { randomUUID } from 'node:crypto';
import { Decimal } from 'decimal.js';

/*
 * One simulated Business Central company: customers, items, sales invoices and credit memos
 * (drafts, then posted under the posted-document number series), customer payment journals and
 * their lines, posting (a credit memo posted against an invoice reduces what it still owes; a
 * journal posted applies each payment to the invoice it names), and the G/L entries a posted
 * payment leaves. Amounts are decimals (decimal.js), never binary floats. Business rules refuse
 * as Business Central does, with an {@link ODataError} in its own words.
 */

/** An answer in Business Central's OData error format. */
export class ODataError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
  json() {
    return { error: { code: this.code, message: this.message } };
  }
}

const dialog = (message: string) => new ODataError(400, 'Application_DialogException', message);
export const notFound = (what: string) =>
  new ODataError(404, 'BadRequest_NotFound', `The ${what} does not exist. Identification fields and values: Id`);

export type Row = Record<string, unknown> & { id: string };

export interface DocLine {
  id: string;
  sequence: number;
  lineType: string;
  itemId?: string;
  lineObjectNumber?: string;
  description: string;
  quantity: Decimal;
  unitPrice: Decimal;
  taxCode: string;
  net: Decimal;
  tax: Decimal;
}

export interface SalesDoc {
  id: string;
  set: 'salesInvoices' | 'salesCreditMemos';
  number: string;
  externalDocumentNumber: string;
  date: string;
  postingDate: string;
  dueDate: string | null;
  customerId: string;
  currencyCode: string;
  status: 'Draft' | 'Open' | 'Paid';
  lines: DocLine[];
  /** Credit memos: the invoice it was posted against. */
  invoiceId: string | null;
  remaining: Decimal;
  /** Credit memos: what posting set against the invoice. */
  applied: Decimal;
}

export interface JournalLine {
  id: string;
  journalId: string;
  lineNumber: number;
  customerId: string;
  postingDate: string;
  documentNumber: string;
  externalDocumentNumber: string;
  amount: Decimal;
  appliesToInvoiceId: string | null;
  description: string;
}

export interface PostedPayment extends JournalLine {
  appliedTo: { invoiceId: string; amount: Decimal }[];
}

export interface CompanySetup {
  name?: string;
  /** The local currency (LCY). */
  currency: string;
  /** More currencies the company has set up. */
  currencies?: string[];
  /** Tax code (VAT product posting group) → percent. */
  taxCodes: Record<string, string>;
  /** G/L account numbers sales may be posted to. */
  accounts: string[];
  /** Customer payment journals (batch codes). */
  journals: string[];
}

/** A scalar of a request body as text; anything else is the fallback. */
export function str(v: unknown, fallback = ''): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return fallback;
}

const money = (d: Decimal) => d.toDecimalPlaces(2, Decimal.ROUND_HALF_UP);

export class Company {
  readonly id = randomUUID();
  readonly customers = new Map<string, Row>();
  readonly items = new Map<string, Row>();
  readonly docs = new Map<string, SalesDoc>();
  readonly journals = new Map<string, Row>();
  readonly journalLines = new Map<string, JournalLine>();
  readonly payments: PostedPayment[] = [];
  readonly glEntries: Row[] = [];
  private seq = { draft: 1000, invoice: 103000, memo: 104000, gl: 0, customer: 0 };

  constructor(readonly setup: CompanySetup) {
    for (const code of setup.journals)
      this.journals.set(randomUUID(), {
        id: '',
        code,
        displayName: `${code} payments`,
        balancingAccountNumber: '10100',
      });
    for (const [id, j] of this.journals) j.id = id;
  }

  private currency(code: unknown): string {
    const c = typeof code === 'string' && code !== '' ? code : this.setup.currency;
    if (c !== this.setup.currency && !(this.setup.currencies ?? []).includes(c))
      throw dialog(
        `The field Currency Code of table Sales Header contains a value (${c}) that cannot be found in the related table (Currency).`,
      );
    return c;
  }

  private customer(id: unknown): Row {
    const c = typeof id === 'string' ? this.customers.get(id) : undefined;
    if (!c) throw dialog(`The customer with id ${String(id)} does not exist.`);
    return c;
  }

  upsertNumbered(set: 'customers' | 'items', body: Record<string, unknown>, id?: string): Row {
    const map = set === 'customers' ? this.customers : this.items;
    const current = id ? map.get(id) : undefined;
    if (id && !current) throw notFound(set === 'customers' ? 'customer' : 'item');
    const number = typeof body.number === 'string' ? body.number.toUpperCase() : current ? String(current.number) : '';
    if (!current) {
      if (!number && set === 'customers') body.number = `C${String(++this.seq.customer).padStart(5, '0')}`;
      for (const r of map.values())
        if (r.number === (body.number ?? number))
          throw dialog(
            `The record in table ${set === 'customers' ? 'Customer' : 'Item'} already exists. Identification fields and values: No.='${number}'`,
          );
    }
    if (body.currencyCode !== undefined && body.currencyCode !== '') this.currency(body.currencyCode);
    const row: Row = {
      ...(current ?? { id: randomUUID(), balanceDue: 0 }),
      ...body,
      number: str(body.number, number).toUpperCase(),
    };
    map.set(row.id, row);
    return row;
  }

  /** A draft sales invoice or credit memo with its lines (deep insert). */
  createDoc(set: SalesDoc['set'], body: Record<string, unknown>): SalesDoc {
    const customer = this.customer(body.customerId);
    const currencyCode = this.currency(body.currencyCode);
    const raw = body[set === 'salesInvoices' ? 'salesInvoiceLines' : 'salesCreditMemoLines'];
    const lines = (Array.isArray(raw) ? raw : []).map((l: Record<string, unknown>, n) => this.line(l, n));
    let invoiceId: string | null = null;
    if (set === 'salesCreditMemos' && typeof body.invoiceId === 'string' && body.invoiceId !== '') {
      const inv = this.docs.get(body.invoiceId);
      if (!inv || inv.set !== 'salesInvoices' || inv.status === 'Draft')
        throw dialog(`The posted sales invoice with id ${body.invoiceId} does not exist.`);
      invoiceId = inv.id;
    }
    const date = str(body.invoiceDate ?? body.creditMemoDate, '2026-01-01');
    const doc: SalesDoc = {
      id: randomUUID(),
      set,
      number: `D${++this.seq.draft}`,
      externalDocumentNumber: str(body.externalDocumentNumber, '').toUpperCase(),
      date,
      postingDate: str(body.postingDate, date),
      dueDate: typeof body.dueDate === 'string' ? body.dueDate : date,
      customerId: customer.id,
      currencyCode,
      status: 'Draft',
      lines,
      invoiceId,
      remaining: new Decimal(0),
      applied: new Decimal(0),
    };
    this.docs.set(doc.id, doc);
    return doc;
  }

  private line(l: Record<string, unknown>, n: number): DocLine {
    const type = str(l.lineType, 'Item');
    if (type === 'Item' && !(typeof l.itemId === 'string' && this.items.has(l.itemId)))
      throw dialog(`The item with id ${String(l.itemId)} does not exist.`);
    if (type === 'Account' && !this.setup.accounts.includes(String(l.lineObjectNumber)))
      throw dialog(
        `The G/L Account does not exist. Identification fields and values: No.='${String(l.lineObjectNumber)}'`,
      );
    if (type !== 'Item' && type !== 'Account') throw dialog(`Line type ${type} is not supported.`);
    const taxCode = str(l.taxCode, '');
    const percent = this.setup.taxCodes[taxCode];
    if (percent === undefined)
      throw dialog(`The VAT Prod. Posting Group does not exist. Identification fields and values: Code='${taxCode}'`);
    const quantity = new Decimal(str(l.quantity, '1'));
    const unitPrice = new Decimal(str(l.unitPrice, '0'));
    const net = money(quantity.times(unitPrice));
    return {
      id: randomUUID(),
      sequence: (n + 1) * 10000,
      lineType: type,
      ...(type === 'Item' ? { itemId: String(l.itemId) } : { lineObjectNumber: String(l.lineObjectNumber) }),
      description: str(l.description, ''),
      quantity,
      unitPrice,
      taxCode,
      net,
      tax: money(net.times(percent).dividedBy(100)),
    };
  }

  total(d: SalesDoc): Decimal {
    return d.lines.reduce((s, l) => s.plus(l.net).plus(l.tax), new Decimal(0));
  }

  /** Posts a draft: the posted number, what it owes; a credit memo applied to its invoice. */
  postDoc(id: string, set: SalesDoc['set']): void {
    const d = this.docs.get(id);
    if (!d || d.set !== set) throw notFound(set === 'salesInvoices' ? 'salesInvoice' : 'salesCreditMemo');
    if (d.status !== 'Draft') throw dialog(`The document ${d.number} has already been posted.`);
    if (d.lines.length === 0) throw dialog('There is nothing to post.');
    const total = this.total(d);
    if (set === 'salesCreditMemos' && d.invoiceId) {
      const inv = this.docs.get(d.invoiceId)!;
      if (inv.customerId !== d.customerId)
        throw dialog(
          `The invoice ${inv.number} is not of customer ${String(this.customers.get(d.customerId)?.number)}.`,
        );
      const applied = Decimal.min(total, inv.remaining);
      inv.remaining = inv.remaining.minus(applied);
      if (inv.remaining.isZero()) inv.status = 'Paid';
      d.applied = applied;
      d.remaining = total.minus(applied);
    } else d.remaining = total;
    d.number = String(set === 'salesInvoices' ? ++this.seq.invoice : ++this.seq.memo);
    d.status = d.remaining.isZero() ? 'Paid' : 'Open';
  }

  addJournalLine(journalId: string, body: Record<string, unknown>): JournalLine {
    const customer = this.customer(body.customerId);
    let appliesTo: string | null = null;
    if (typeof body.appliesToInvoiceId === 'string' && body.appliesToInvoiceId !== '') {
      const inv = this.docs.get(body.appliesToInvoiceId);
      if (!inv || inv.set !== 'salesInvoices' || inv.status === 'Draft')
        throw dialog('The "appliesToInvoiceId" does not match to a Posted Sales Invoice.');
      appliesTo = inv.id;
    }
    const line: JournalLine = {
      id: randomUUID(),
      journalId,
      lineNumber: 10000 * ([...this.journalLines.values()].filter((l) => l.journalId === journalId).length + 1),
      customerId: customer.id,
      postingDate: str(body.postingDate, ''),
      documentNumber: str(body.documentNumber, '').toUpperCase(),
      externalDocumentNumber: str(body.externalDocumentNumber, '').toUpperCase(),
      amount: new Decimal(str(body.amount, '0')),
      appliesToInvoiceId: appliesTo,
      description: str(body.description, ''),
    };
    this.journalLines.set(line.id, line);
    return line;
  }

  /** Posts every line of a journal in one transaction: all of them, or none and an error. */
  postJournal(journalId: string): void {
    const lines = [...this.journalLines.values()].filter((l) => l.journalId === journalId);
    if (lines.length === 0) throw dialog('There is nothing to post.');
    for (const l of lines) {
      if (!l.documentNumber)
        throw dialog(`Document No. must have a value in Gen. Journal Line: Line No.=${l.lineNumber}`);
      if (!l.amount.isNegative())
        throw dialog(
          `The payment of document ${l.documentNumber} must be a negative amount: a payment credits the customer.`,
        );
      const inv = l.appliesToInvoiceId ? this.docs.get(l.appliesToInvoiceId) : undefined;
      if (inv && inv.customerId !== l.customerId)
        throw dialog(`The invoice ${inv.number} is not of the payment's customer.`);
    }
    for (const l of lines) {
      const paid = l.amount.negated();
      const appliedTo: PostedPayment['appliedTo'] = [];
      const inv = l.appliesToInvoiceId ? this.docs.get(l.appliesToInvoiceId) : undefined;
      if (inv) {
        const amount = Decimal.min(paid, inv.remaining);
        inv.remaining = inv.remaining.minus(amount);
        if (inv.remaining.isZero()) inv.status = 'Paid';
        if (amount.greaterThan(0)) appliedTo.push({ invoiceId: inv.id, amount });
      }
      this.payments.push({ ...l, appliedTo });
      const cust = String(this.customers.get(l.customerId)?.number);
      for (const [account, debit, credit] of [
        ['10100', paid, new Decimal(0)],
        [`AR-${cust}`, new Decimal(0), paid],
      ] as const)
        this.glEntries.push({
          id: randomUUID(),
          entryNumber: ++this.seq.gl,
          postingDate: l.postingDate,
          documentNumber: l.documentNumber,
          documentType: 'Payment',
          accountNumber: account,
          description: l.description,
          debitAmount: debit,
          creditAmount: credit,
        });
      this.journalLines.delete(l.id);
    }
  }
}
