import { randomUUID } from 'node:crypto';
import { LosslessNumber } from 'lossless-json';
import { formatAmount, multiplyAmount, parseAmount } from '../../domain/money.ts';

/*
 * The books of the simulated Acumatica tenant (simulator.ts): customers, items, AR documents
 * (invoices and credit memos) and payments, numbered as Acumatica numbers them, with balances that
 * released payments and credit memo applications reduce. Each write answers the record as the
 * contract-based API does (fields wrapped as `{"value": …}`), or a 422 with per-field errors.
 */

export type Json = Record<string, unknown>;

export interface Application {
  docType: string;
  refNbr: string;
  amount: bigint;
  released: boolean;
  date: string;
}

export interface ArDocument {
  id: string;
  type: string;
  nbr: string;
  customer: string;
  date: string;
  dueDate: string;
  customerOrder: string;
  description: string;
  /** `Voided`: voided on Invoices and Memos (AR301000), kept with its amounts, out of the books. */
  status: 'On Hold' | 'Balanced' | 'Open' | 'Closed' | 'Voided';
  details: Json[];
  amount: bigint;
  taxTotal: bigint;
  balance: bigint;
}

export interface PaymentDoc {
  id: string;
  type: string;
  nbr: string;
  customer: string;
  date: string;
  amount: bigint;
  paymentRef: string;
  method: string;
  cashAccount: string;
  description: string;
  /** `Voided`: a payment or refund voided (its `Voided Payment` / `Voided Refund` beside it, same number). */
  status: 'On Hold' | 'Balanced' | 'Open' | 'Closed' | 'Voided';
  available: bigint;
  /** Charges (the Finance Charges tab): bank fees taken from what the cash account receives. */
  charges: Charge[];
}

/** A payment's charge (PaymentCharge): posted on release to its account against the payment's cash account. */
export interface Charge {
  lineNbr: number;
  entryType: string;
  account: string;
  amount: bigint;
  description: string;
}

/** A G/L account of the chart (the Account entity). */
export interface GlAccount {
  type: 'Asset' | 'Liability' | 'Income' | 'Expense';
  description: string;
  active: boolean;
}

export interface StoreOptions {
  currency: string;
  /** Tax category → rate ("0.21"). */
  taxCategories: Record<string, string>;
  cashAccounts?: string[] | undefined;
  /** Financial periods before this date (YYYY-MM-DD) are closed. */
  closedBefore?: string | undefined;
  /** Cash management entry types (Disbursement) a payment's charges may use → their offset account. */
  entryTypes?: Record<string, string> | undefined;
  /** The chart of accounts, by AccountCD. */
  accounts?: Record<string, GlAccount> | undefined;
}

/** The simulated tenant's chart and its one bank-fee entry type, when the test gives none. */
export const DEFAULT_ACCOUNTS: Record<string, GlAccount> = {
  '10200': { type: 'Asset', description: 'Company Checking Account', active: true },
  '40000': { type: 'Income', description: 'Sales', active: true },
  '61200': { type: 'Expense', description: 'Bank Fees', active: true },
  '61300': { type: 'Expense', description: 'Merchant Fees', active: true },
  '61900': { type: 'Expense', description: 'Old Bank Charges', active: false },
};
export const DEFAULT_ENTRY_TYPES: Record<string, string> = { BANKFEE: '61200' };

/** What a write answers: the record, or a 422 with the record and its per-field errors. */
export type WriteAnswer = { status: 200; body: Json } | { status: 422 | 400; body: Json };

const w = (value: unknown) => ({ value });
const err = (value: unknown, error: string) => ({ value, error });
/** A field's value as text ('' when absent); numbers arrive as LosslessNumber. */
export const text = (body: Json | undefined, field: string): string => {
  const f = body?.[field] as { value?: string | number | boolean | LosslessNumber | null } | undefined;
  return f && typeof f === 'object' && f.value !== undefined && f.value !== null ? String(f.value) : '';
};
const has = (body: Json, field: string) => text(body, field) !== '';

export class Books {
  readonly customers = new Map<string, Json>();
  readonly items = new Map<string, Json>();
  /** AR documents by `Type/ReferenceNbr`. */
  readonly documents = new Map<string, ArDocument>();
  readonly payments = new Map<string, PaymentDoc>();
  /** Applications of a payment or credit memo, by its `Type/ReferenceNbr`. */
  readonly applications = new Map<string, Application[]>();
  private arSeq = 0;
  private pmSeq = 0;

  constructor(readonly o: StoreOptions) {}

  money(minor: bigint) {
    return new LosslessNumber(formatAmount(minor, this.o.currency));
  }
  private parse(textValue: string): bigint | null {
    const p = parseAmount(textValue || '0', this.o.currency);
    return p.ok ? p.value : null;
  }
  private closed(date: string): string | null {
    if (!this.o.closedBefore || date.slice(0, 10) >= this.o.closedBefore) return null;
    return `The ${date.slice(5, 7)}-${date.slice(0, 4)} financial period is closed in the company.`;
  }

  putCustomer(body: Json): WriteAnswer {
    const id = text(body, 'CustomerID');
    if (!id) return { status: 422, body: { ...body, CustomerID: err('', "'Customer ID' cannot be empty.") } };
    const existing = this.customers.get(id);
    if (!existing && !has(body, 'CustomerName'))
      return { status: 422, body: { ...body, CustomerName: err('', "'Customer Name' cannot be empty.") } };
    const merged: Json = { ...(existing ?? { id: randomUUID(), Status: w('Active'), CurrencyID: w(this.o.currency) }) };
    for (const [k, x] of Object.entries(body)) if (k !== 'id') merged[k] = x;
    this.customers.set(id, merged);
    return { status: 200, body: merged };
  }

  putItem(entity: string, body: Json): WriteAnswer {
    const id = text(body, 'InventoryID');
    if (!id) return { status: 422, body: { ...body, InventoryID: err('', "'Inventory ID' cannot be empty.") } };
    const cat = text(body, 'TaxCategory');
    if (cat && !(cat in this.o.taxCategories))
      return { status: 422, body: { ...body, TaxCategory: err(cat, `'Tax Category' cannot be found in the system.`) } };
    const merged: Json = { ...(this.items.get(`${entity}/${id}`) ?? { id: randomUUID() }), ...body };
    this.items.set(`${entity}/${id}`, merged);
    return { status: 200, body: merged };
  }

  putInvoice(body: Json): WriteAnswer {
    const type = text(body, 'Type') || 'Invoice';
    if (type !== 'Invoice' && type !== 'Credit Memo')
      return { status: 422, body: { ...body, Type: err(type, `'Type' cannot be '${type}' here.`) } };
    if (has(body, 'ReferenceNbr'))
      return {
        status: 422,
        body: { ...body, ReferenceNbr: err(text(body, 'ReferenceNbr'), 'Updates of documents are not simulated.') },
      };
    const customer = text(body, 'Customer');
    if (!this.customers.has(customer))
      return { status: 422, body: { ...body, Customer: err(customer, `'Customer' cannot be found in the system.`) } };
    const date = text(body, 'Date');
    if (!/^\d{4}-\d{2}-\d{2}/.test(date))
      return { status: 422, body: { ...body, Date: err(date, "'Date' cannot be empty.") } };
    const closed = this.closed(date);
    if (closed)
      return {
        status: 422,
        body: { ...body, error: closed, PostPeriod: err(`${date.slice(5, 7)}${date.slice(0, 4)}`, closed) },
      };
    const order = text(body, 'CustomerOrder');
    if (order.length > 40)
      return { status: 422, body: { ...body, CustomerOrder: err(order, 'The value is longer than 40 characters.') } };
    const lines = (body.Details as Json[] | undefined) ?? [];
    if (lines.length === 0) return { status: 422, body: { ...body, error: 'The document has no lines.' } };
    let amount = 0n;
    let tax = 0n;
    const details: Json[] = [];
    for (const [n, l] of lines.entries()) {
      const fail = (field: string, message: string): WriteAnswer => {
        const copy = lines.map((x) => ({ ...x }));
        copy[n] = { ...l, [field]: err(text(l, field), message) };
        return { status: 422, body: { ...body, Details: copy } };
      };
      const cat = text(l, 'TaxCategory');
      if (cat && !(cat in this.o.taxCategories))
        return fail('TaxCategory', `'Tax Category' cannot be found in the system.`);
      const item = text(l, 'InventoryID');
      if (item && !this.items.has(`NonStockItem/${item}`) && !this.items.has(`StockItem/${item}`))
        return fail('InventoryID', `'Inventory ID' cannot be found in the system.`);
      const qty = text(l, 'Qty') || '1';
      const price = this.parse(text(l, 'UnitPrice'));
      const extended = has(l, 'ExtendedPrice') ? this.parse(text(l, 'ExtendedPrice')) : null;
      if (price === null) return fail('UnitPrice', 'The value is not an amount of the currency.');
      const lineAmount = extended ?? multiplyAmount(price, qty, 'halfUp');
      const lineTax = cat ? multiplyAmount(lineAmount, this.o.taxCategories[cat]!, 'halfUp') : 0n;
      amount += lineAmount;
      tax += lineTax;
      details.push({ ...l, id: randomUUID(), LineNbr: w(n + 1), Amount: w(this.money(lineAmount)) });
    }
    const total = amount + tax;
    if (total <= 0n) return { status: 422, body: { ...body, error: 'The document total must be greater than zero.' } };
    const nbr = `AR${String(++this.arSeq).padStart(6, '0')}`;
    const doc: ArDocument = {
      id: randomUUID(),
      type,
      nbr,
      customer,
      date: date.slice(0, 10),
      dueDate: text(body, 'DueDate').slice(0, 10),
      customerOrder: order,
      description: text(body, 'Description'),
      status: text(body, 'Hold') === 'true' ? 'On Hold' : 'Balanced',
      details,
      amount: total,
      taxTotal: tax,
      balance: total,
    };
    this.documents.set(`${type}/${nbr}`, doc);
    return { status: 200, body: this.documentView(doc, ['Details']) };
  }

  /**
   * Voids a released invoice as a person does on Invoices and Memos (AR301000): one with nothing
   * applied to it only; it stays, with its number and amounts, status Voided and nothing to pay.
   */
  voidInvoice(key: string): void {
    const d = this.documents.get(key);
    if (!d || d.type !== 'Invoice') throw new Error(`no invoice ${key}`);
    if (d.status !== 'Open' || d.balance !== d.amount)
      throw new Error(
        `invoice ${key} is ${d.status} with ${d.balance} of ${d.amount} owed: only an open invoice with nothing applied is voided`,
      );
    d.status = 'Voided';
    d.balance = 0n;
  }

  /**
   * Voids a released payment or refund as a person does on Payments and Applications (AR302000):
   * its applications are reversed in full, its status becomes Voided, and a document of type
   * Voided Payment (Voided Refund) with the same number, dated `date` and with the negative amount,
   * is released beside it.
   */
  voidPayment(key: string, date: string): void {
    const p = this.payments.get(key);
    if (!p || !['Payment', 'Prepayment', 'Refund'].includes(p.type) || (p.status !== 'Open' && p.status !== 'Closed'))
      throw new Error(`no released payment or refund ${key}`);
    for (const a of (this.applications.get(key) ?? []).filter((x) => x.released)) {
      const doc = this.documents.get(`${a.docType}/${a.refNbr}`);
      const paid = doc ? null : this.payments.get(`${a.docType}/${a.refNbr}`);
      if (doc) {
        doc.balance += a.amount;
        if (doc.status === 'Closed') doc.status = 'Open';
      } else if (paid) {
        paid.available += a.amount;
        if (paid.status === 'Closed') paid.status = 'Open';
      }
    }
    this.applications.set(key, []);
    p.status = 'Voided';
    p.available = 0n;
    const type = p.type === 'Refund' ? 'Voided Refund' : 'Voided Payment';
    this.payments.set(`${type}/${p.nbr}`, {
      ...p,
      id: randomUUID(),
      type,
      date,
      amount: -p.amount,
      status: 'Closed',
      available: 0n,
      charges: [],
    });
  }

  documentView(d: ArDocument, expand: string[]): Json {
    const out: Json = {
      id: d.id,
      Type: w(d.type),
      ReferenceNbr: w(d.nbr),
      Customer: w(d.customer),
      CustomerOrder: w(d.customerOrder),
      Date: w(`${d.date}T00:00:00+00:00`),
      Description: w(d.description),
      Status: w(d.status),
      Hold: w(d.status === 'On Hold'),
      Amount: w(this.money(d.amount)),
      TaxTotal: w(this.money(d.taxTotal)),
      Balance: w(this.money(d.balance)),
    };
    if (d.dueDate) out.DueDate = w(`${d.dueDate}T00:00:00+00:00`);
    if (expand.includes('Details')) out.Details = d.details;
    if (expand.includes('ApplicationsDefault'))
      out.ApplicationsDefault = [...this.applications]
        .flatMap(([key, list]) =>
          list.filter((a) => a.released && a.docType === d.type && a.refNbr === d.nbr).map((a) => ({ key, a })),
        )
        .map(({ key, a }) => ({
          id: randomUUID(),
          DocType: w(key.slice(0, key.indexOf('/'))),
          ReferenceNbr: w(key.slice(key.indexOf('/') + 1)),
          AmountPaid: w(this.money(a.amount)),
          PaymentDate: w(`${a.date}T00:00:00+00:00`),
        }));
    return out;
  }

  paymentView(key: string, expand: string[]): Json | null {
    const p = this.payments.get(key);
    const cm = p ? null : this.documents.get(key);
    if (!p && (!cm || cm.type !== 'Credit Memo')) return null;
    const apps = this.applications.get(key) ?? [];
    const out: Json = p
      ? {
          id: p.id,
          Type: w(p.type),
          ReferenceNbr: w(p.nbr),
          CustomerID: w(p.customer),
          ApplicationDate: w(`${p.date}T00:00:00+00:00`),
          PaymentAmount: w(this.money(p.amount)),
          PaymentRef: w(p.paymentRef),
          PaymentMethod: w(p.method),
          CashAccount: w(p.cashAccount),
          Description: w(p.description),
          Status: w(p.status),
          Hold: w(p.status === 'On Hold'),
          AvailableBalance: w(this.money(p.available)),
          CurrencyID: w(this.o.currency),
        }
      : {
          id: cm!.id,
          Type: w('Credit Memo'),
          ReferenceNbr: w(cm!.nbr),
          CustomerID: w(cm!.customer),
          ApplicationDate: w(`${cm!.date}T00:00:00+00:00`),
          PaymentAmount: w(this.money(cm!.amount)),
          Status: w(cm!.status),
          AvailableBalance: w(this.money(cm!.balance)),
          CurrencyID: w(this.o.currency),
        };
    if (expand.includes('Charges') && p)
      out.Charges = p.charges.map((c) => ({
        id: randomUUID(),
        AccountID: w(c.account),
        Amount: w(this.money(c.amount)),
        Description: w(c.description),
        DocType: w(p.type === 'Payment' ? 'PMT' : p.type),
        EntryTypeID: w(c.entryType),
        LineNbr: w(c.lineNbr),
        RefNbr: w(p.nbr),
        SubID: w('000000'),
      }));
    if (expand.includes('DocumentsToApply'))
      out.DocumentsToApply = apps
        .filter((a) => !a.released)
        .map((a) => ({
          id: randomUUID(),
          DocType: w(a.docType),
          ReferenceNbr: w(a.refNbr),
          AmountPaid: w(this.money(a.amount)),
        }));
    if (expand.includes('ApplicationHistory'))
      out.ApplicationHistory = apps
        .filter((a) => a.released)
        .map((a) => ({
          id: randomUUID(),
          AdjustedDocType: w(a.docType),
          AdjustedRefNbr: w(a.refNbr),
          AmountPaid: w(this.money(a.amount)),
          Date: w(`${a.date}T00:00:00+00:00`),
        }));
    return out;
  }

  /** What pending applications already take from a document. */
  private pending(type: string, nbr: string): bigint {
    let out = 0n;
    for (const list of this.applications.values())
      for (const a of list) if (!a.released && a.docType === type && a.refNbr === nbr) out += a.amount;
    return out;
  }
  private invoiceTarget(key: string) {
    const d = this.documents.get(key);
    if (!d || d.type !== 'Invoice') return null;
    return { customer: d.customer, status: d.status, open: d.balance - this.pending(d.type, d.nbr) };
  }
  private refundable(key: string) {
    const p = this.payments.get(key);
    if (!p || p.type !== 'Payment') return null;
    return { customer: p.customer, status: p.status, open: p.available - this.pending(p.type, p.nbr) };
  }

  putPayment(body: Json): WriteAnswer {
    const type = text(body, 'Type') || 'Payment';
    const nbr = text(body, 'ReferenceNbr');
    let key: string;
    let customer: string;
    let available: bigint;
    let fresh: PaymentDoc | null = null;
    if (nbr) {
      key = `${type}/${nbr}`;
      const p = this.payments.get(key);
      const cm = this.documents.get(key);
      if (p) {
        customer = p.customer;
        available = p.available;
      } else if (cm && type === 'Credit Memo' && cm.status !== 'Balanced' && cm.status !== 'On Hold') {
        customer = cm.customer;
        available = cm.balance;
      } else
        return {
          status: 422,
          body: { ...body, ReferenceNbr: err(nbr, `'Reference Nbr.' cannot be found in the system.`) },
        };
    } else {
      if (type !== 'Payment' && type !== 'Prepayment' && type !== 'Refund')
        return {
          status: 422,
          body: { ...body, Type: err(type, `A new document of type '${type}' is not simulated.`) },
        };
      customer = text(body, 'CustomerID');
      if (!this.customers.has(customer))
        return {
          status: 422,
          body: { ...body, CustomerID: err(customer, `'Customer' cannot be found in the system.`) },
        };
      const amount = this.parse(text(body, 'PaymentAmount'));
      if (amount === null || amount <= 0n)
        return {
          status: 422,
          body: {
            ...body,
            PaymentAmount: err(text(body, 'PaymentAmount'), 'The payment amount must be greater than zero.'),
          },
        };
      const cash = text(body, 'CashAccount');
      if (this.o.cashAccounts && !this.o.cashAccounts.includes(cash))
        return {
          status: 422,
          body: { ...body, CashAccount: err(cash, `'Cash Account' cannot be found in the system.`) },
        };
      const date = text(body, 'ApplicationDate');
      const closed = this.closed(date);
      if (closed) return { status: 422, body: { ...body, error: closed } };
      fresh = {
        id: randomUUID(),
        type,
        nbr: String(++this.pmSeq).padStart(6, '0'),
        customer,
        date: date.slice(0, 10),
        amount,
        paymentRef: text(body, 'PaymentRef'),
        method: text(body, 'PaymentMethod'),
        cashAccount: cash,
        description: text(body, 'Description'),
        status: text(body, 'Hold') === 'true' ? 'On Hold' : 'Balanced',
        available: amount,
        charges: [],
      };
      key = `${type}/${fresh.nbr}`;
      available = amount;
    }
    const apps: Application[] = [];
    const pendingOwn = (this.applications.get(key) ?? []).filter((a) => !a.released).reduce((s, a) => s + a.amount, 0n);
    let taken = pendingOwn;
    const lines = (body.DocumentsToApply as Json[] | undefined) ?? [];
    for (const [n, l] of lines.entries()) {
      const fail = (field: string, message: string): WriteAnswer => {
        const copy = lines.map((x) => ({ ...x }));
        copy[n] = { ...l, [field]: err(text(l, field), message) };
        return { status: 422, body: { ...body, DocumentsToApply: copy } };
      };
      const docType = text(l, 'DocType');
      const refNbr = text(l, 'ReferenceNbr');
      // A refund is applied to a payment (its unapplied balance); anything else to an invoice.
      const target =
        type === 'Refund' ? this.refundable(`${docType}/${refNbr}`) : this.invoiceTarget(`${docType}/${refNbr}`);
      if (!target) return fail('ReferenceNbr', `'Reference Nbr.' cannot be found in the system.`);
      if (target.customer !== customer) return fail('ReferenceNbr', 'The document belongs to another customer.');
      if (target.status !== 'Open') return fail('ReferenceNbr', 'The document is not released or is closed.');
      const amt = this.parse(text(l, 'AmountPaid'));
      if (amt === null || amt <= 0n) return fail('AmountPaid', 'The amount must be greater than zero.');
      if (amt > target.open - apps.filter((a) => a.refNbr === refNbr).reduce((s, a) => s + a.amount, 0n))
        return fail('AmountPaid', 'The amount paid cannot exceed the balance of the document.');
      taken += amt;
      if (taken > available)
        return fail('AmountPaid', 'The application amount exceeds the available balance of the payment.');
      const doc = { type: docType, nbr: refNbr };
      apps.push({ docType: doc.type, refNbr: doc.nbr, amount: amt, released: false, date: '' });
    }
    const charges = this.charges(body, fresh ?? this.payments.get(key) ?? null);
    if (!Array.isArray(charges)) return charges;
    if (fresh?.type === 'Refund' && apps.length === 0)
      return { status: 422, body: { ...body, error: 'A refund must be applied to a payment or credit memo.' } };
    if (fresh) this.payments.set(key, fresh);
    this.payments.get(key)?.charges.push(...charges);
    this.applications.set(key, [...(this.applications.get(key) ?? []), ...apps]);
    return { status: 200, body: this.paymentView(key, ['DocumentsToApply', 'ApplicationHistory'])! };
  }

  /**
   * A payment's Charges lines as Acumatica takes them: an entry type set up for charges, its offset
   * account unless the line names another (an active account of the chart), an amount above zero,
   * the charges together below the payment's amount; only while the payment is not released.
   */
  private charges(body: Json, payment: PaymentDoc | null): Charge[] | WriteAnswer {
    const lines = (body.Charges as Json[] | undefined) ?? [];
    if (lines.length === 0) return [];
    const entryTypes = this.o.entryTypes ?? DEFAULT_ENTRY_TYPES;
    const accounts = this.o.accounts ?? DEFAULT_ACCOUNTS;
    const out: Charge[] = [];
    for (const [n, l] of lines.entries()) {
      const fail = (field: string, message: string): WriteAnswer => {
        const copy = lines.map((x) => ({ ...x }));
        copy[n] = { ...l, [field]: err(text(l, field), message) };
        return { status: 422, body: { ...body, Charges: copy } };
      };
      if (!payment || payment.type !== 'Payment') return fail('EntryTypeID', 'Charges are entered on payments only.');
      if (payment.status !== 'Balanced' && payment.status !== 'On Hold')
        return fail('Amount', 'The document is released: its charges cannot be changed.');
      const entryType = text(l, 'EntryTypeID');
      const offset = entryTypes[entryType];
      if (!entryType) return fail('EntryTypeID', `'Entry Type ID' cannot be empty.`);
      if (offset === undefined) return fail('EntryTypeID', `'Entry Type ID' cannot be found in the system.`);
      const account = text(l, 'AccountID') || offset;
      if (!accounts[account]?.active) return fail('AccountID', `'Account' cannot be found in the system.`);
      const amount = this.parse(text(l, 'Amount'));
      if (amount === null || amount <= 0n) return fail('Amount', `'Amount' must be greater than 0.`);
      out.push({
        lineNbr: payment.charges.length + out.length + 1,
        entryType,
        account,
        amount,
        description: text(l, 'Description'),
      });
    }
    const total = [...payment!.charges, ...out].reduce((s, c) => s + c.amount, 0n);
    if (total >= payment!.amount)
      return {
        status: 422,
        body: { ...body, error: 'The total of the charges must be less than the payment amount.' },
      };
    return out;
  }

  /** The chart of accounts (the Account entity). */
  get chart(): Record<string, GlAccount> {
    return this.o.accounts ?? DEFAULT_ACCOUNTS;
  }

  /** What a payment's cash account receives when it is released: its amount less its charges. */
  deposited(p: PaymentDoc): bigint {
    return p.amount - p.charges.reduce((s, c) => s + c.amount, 0n);
  }

  /** ReleaseInvoice: Balanced → Open. */
  releaseDocument(key: string): string | null {
    const d = this.documents.get(key);
    if (!d) return 'The document cannot be found in the system.';
    if (d.status !== 'Balanced') return 'Document Status is invalid for processing.';
    d.status = 'Open';
    return null;
  }

  /** ReleasePayment: a new payment Balanced → Open, and every pending application taken from the documents' balances. */
  releasePayment(key: string): string | null {
    const p = this.payments.get(key);
    const cm = p ? null : this.documents.get(key);
    if (!p && (!cm || cm.type !== 'Credit Memo')) return 'The document cannot be found in the system.';
    const apps = (this.applications.get(key) ?? []).filter((a) => !a.released);
    if (p && p.status === 'On Hold') return 'Document Status is invalid for processing.';
    if (p?.status !== 'Balanced' && apps.length === 0) return 'Document Status is invalid for processing.';
    if (p && p.status === 'Balanced') p.status = 'Open';
    for (const a of apps) {
      const doc = this.documents.get(`${a.docType}/${a.refNbr}`);
      const paid = doc ? null : this.payments.get(`${a.docType}/${a.refNbr}`)!;
      if (doc) {
        doc.balance -= a.amount;
        if (doc.balance === 0n) doc.status = 'Closed';
      } else {
        paid!.available -= a.amount;
        if (paid!.available === 0n) paid!.status = 'Closed';
      }
      a.released = true;
      a.date = p ? p.date : cm!.date;
      if (p) p.available -= a.amount;
      else cm!.balance -= a.amount;
    }
    if (p && p.available === 0n) p.status = 'Closed';
    if (cm && cm.balance === 0n) cm.status = 'Closed';
    return null;
  }

  /** References held more than once by one customer, per document type: what must stay empty. */
  duplicates(): string[] {
    const seen = new Map<string, number>();
    // A reference is unique per customer: two customers' documents may share one. Acumatica refuses
    // no second document with the same Customer Order Nbr. (ARInvoice.InvoiceNbr), unlike a bill's
    // Vendor Ref. (docs/connectors/acumatica.md, "Two customers under one reference").
    for (const d of this.documents.values()) {
      const k = `${d.type} CustomerOrder ${d.customerOrder} of ${d.customer}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    for (const p of this.payments.values()) {
      const k = `${p.type} PaymentRef ${p.paymentRef} of ${p.customer}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    return [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${k} held ${n} times`);
  }
}
