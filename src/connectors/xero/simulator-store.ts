import { randomUUID } from 'node:crypto';
import { Dec } from '../../domain/money.ts';

/*
 * The state of one simulated Xero organisation (tenant) and the rules Xero applies to what is
 * written to it: unique active contact names, unique invoice numbers, known account codes and tax
 * types, payments only against approved documents and never beyond what is due, allocations within
 * both sides. Amounts are decimals (decimal.js), never floats. src/connectors/xero/simulator.ts
 * serves it over HTTP.
 */

export interface SimTaxRate {
  Name: string;
  TaxType: string;
  /** Percent, as Xero gives it ("21.0000"). */
  EffectiveRate: string;
  Status: 'ACTIVE' | 'DELETED' | 'ARCHIVED';
  CanApplyToRevenue: boolean;
}

export interface SimAccount {
  AccountID: string;
  Code: string;
  Name: string;
  Type: string;
  Status: 'ACTIVE' | 'ARCHIVED';
  Class: 'REVENUE' | 'ASSET' | 'EXPENSE' | 'LIABILITY' | 'EQUITY';
  /** The account's default tax rate (what Xero puts on a line coded to it). */
  TaxType?: string | undefined;
}

export interface SimTracking {
  TrackingCategoryID: string;
  Name: string;
  Status: 'ACTIVE';
  Options: { TrackingOptionID: string; Name: string; Status: 'ACTIVE' }[];
}

export type Json = Record<string, unknown>;

export interface SimLine {
  LineItemID: string;
  Description: string;
  Quantity: Dec;
  UnitAmount: Dec;
  LineAmount: Dec;
  TaxAmount: Dec;
  AccountCode: string;
  TaxType: string;
  ItemCode?: string | undefined;
  Tracking: { Name: string; Option: string }[];
}

/** An invoice (ACCREC) or a credit note (ACCRECCREDIT): the same shape in the simulator. */
export interface SimDocument {
  id: string;
  Type: 'ACCREC' | 'ACCRECCREDIT';
  Number: string;
  Reference: string;
  ContactID: string;
  Date: string;
  DueDate: string | null;
  Status: 'DRAFT' | 'SUBMITTED' | 'AUTHORISED' | 'PAID' | 'VOIDED' | 'DELETED';
  LineAmountTypes: 'Exclusive' | 'Inclusive' | 'NoTax';
  CurrencyCode: string;
  CurrencyRate: Dec | null;
  Lines: SimLine[];
  SubTotal: Dec;
  TotalTax: Dec;
  Total: Dec;
  /** Paid in cash (invoices) or refunded in cash (credit notes). */
  Paid: Dec;
  /** Settled by allocations: credit notes or overpayments applied (invoice side), or allocated (credit side). */
  Allocated: Dec;
  Payments: string[];
  Allocations: { id: string; otherId: string; Amount: Dec; Date: string; kind: 'CREDITNOTE' | 'OVERPAYMENT' }[];
  created: number;
  updated: number;
  FullyPaidOnDate: string | null;
}

export interface SimPayment {
  PaymentID: string;
  Date: string;
  Amount: Dec;
  Reference: string;
  AccountCode: string;
  /** The invoice or credit note (a cash refund) it is made against. */
  documentId: string;
  documentType: 'ACCREC' | 'ACCRECCREDIT' | 'OVERPAYMENT';
  Status: 'AUTHORISED' | 'DELETED';
  PaymentType: 'ACCRECPAYMENT' | 'ARCREDITPAYMENT' | 'AROVERPAYMENTPAYMENT';
  updated: number;
}

export interface SimOverpayment {
  OverpaymentID: string;
  BankTransactionID: string;
  ContactID: string;
  Date: string;
  Reference: string;
  Description: string;
  CurrencyCode: string;
  Total: Dec;
  Allocated: Dec;
  AccountCode: string;
  Allocations: { id: string; invoiceId: string; Amount: Dec; Date: string }[];
  updated: number;
}

/** Spend money (a SPEND bank transaction): money out of a bank account, coded to other accounts. */
export interface SimSpend {
  BankTransactionID: string;
  ContactID: string;
  Date: string;
  Reference: string;
  CurrencyCode: string;
  LineAmountTypes: 'NoTax';
  Lines: { LineItemID: string; Description: string; AccountCode: string; TaxType: string; LineAmount: Dec }[];
  Total: Dec;
  AccountCode: string;
  Status: 'AUTHORISED' | 'DELETED';
  updated: number;
}

export interface TenantSetup {
  tenantId?: string | undefined;
  name?: string | undefined;
  baseCurrency?: string | undefined;
  currencies?: string[] | undefined;
  taxRates?: SimTaxRate[] | undefined;
  accounts?: Omit<SimAccount, 'AccountID'>[] | undefined;
  tracking?: { Name: string; Options: string[] }[] | undefined;
}

/** A Dutch-style VAT organisation: one revenue tax rate per rate, so matching by rate is unambiguous. */
export const DEFAULT_TAX_RATES: SimTaxRate[] = [
  {
    Name: '21% BTW on Income',
    TaxType: 'OUTPUT2',
    EffectiveRate: '21.0000',
    Status: 'ACTIVE',
    CanApplyToRevenue: true,
  },
  { Name: '9% BTW on Income', TaxType: 'OUTPUT', EffectiveRate: '9.0000', Status: 'ACTIVE', CanApplyToRevenue: true },
  {
    Name: 'Zero Rated Income',
    TaxType: 'ZERORATEDOUTPUT',
    EffectiveRate: '0.0000',
    Status: 'ACTIVE',
    CanApplyToRevenue: true,
  },
  { Name: 'BTW on Expenses', TaxType: 'INPUT2', EffectiveRate: '21.0000', Status: 'ACTIVE', CanApplyToRevenue: false },
  // Xero's system rate for what carries no VAT (bank fees). Kept off revenue here, so that a 0% sale
  // still matches Zero Rated Income alone.
  { Name: 'No VAT', TaxType: 'NONE', EffectiveRate: '0.0000', Status: 'ACTIVE', CanApplyToRevenue: false },
];

export const DEFAULT_ACCOUNTS: Omit<SimAccount, 'AccountID'>[] = [
  { Code: '090', Name: 'Business Bank Account', Type: 'BANK', Status: 'ACTIVE', Class: 'ASSET' },
  { Code: '091', Name: 'Business Savings Account', Type: 'BANK', Status: 'ACTIVE', Class: 'ASSET' },
  { Code: '200', Name: 'Sales', Type: 'REVENUE', Status: 'ACTIVE', Class: 'REVENUE' },
  { Code: '260', Name: 'Other Revenue', Type: 'REVENUE', Status: 'ACTIVE', Class: 'REVENUE' },
  { Code: '610', Name: 'Accounts Receivable', Type: 'CURRENT', Status: 'ACTIVE', Class: 'ASSET' },
  // Xero's default chart: 404 Bank Fees, an overhead on No VAT.
  { Code: '404', Name: 'Bank Fees', Type: 'OVERHEADS', Status: 'ACTIVE', Class: 'EXPENSE', TaxType: 'NONE' },
];

const ZERO = new Dec(0);

/** A decimal from a JSON value (text, or a safe integer); null when it is neither or does not parse. */
function decimal(v: unknown): Dec | null {
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  try {
    const d = new Dec(v);
    return d.isFinite() ? d : null;
  } catch {
    return null;
  }
}

/** One element's validation errors, in Xero's words. */
export type Problems = string[];

export class SimTenant {
  readonly id: string;
  readonly name: string;
  readonly baseCurrency: string;
  readonly currencies: Set<string>;
  taxRates: SimTaxRate[];
  accounts: SimAccount[];
  tracking: SimTracking[];
  readonly contacts = new Map<string, Json & { ContactID: string; Name: string; ContactStatus: string }>();
  readonly items = new Map<string, Json & { ItemID: string; Code: string }>();
  readonly documents = new Map<string, SimDocument>();
  readonly payments = new Map<string, SimPayment>();
  readonly overpayments = new Map<string, SimOverpayment>();
  readonly spends = new Map<string, SimSpend>();
  private seq = { ACCREC: 0, ACCRECCREDIT: 0 };
  private clock = 0;

  constructor(setup: TenantSetup = {}) {
    this.id = setup.tenantId ?? randomUUID();
    this.name = setup.name ?? 'Demo Company (NL)';
    this.baseCurrency = setup.baseCurrency ?? 'EUR';
    this.currencies = new Set([this.baseCurrency, ...(setup.currencies ?? [])]);
    this.taxRates = setup.taxRates ?? DEFAULT_TAX_RATES;
    this.accounts = (setup.accounts ?? DEFAULT_ACCOUNTS).map((a) => ({ ...a, AccountID: randomUUID() }));
    this.tracking = (setup.tracking ?? [{ Name: 'Department', Options: ['SALES', 'SUPPORT'] }]).map((t) => ({
      TrackingCategoryID: randomUUID(),
      Name: t.Name,
      Status: 'ACTIVE',
      Options: t.Options.map((o) => ({ TrackingOptionID: randomUUID(), Name: o, Status: 'ACTIVE' })),
    }));
  }

  /** A logical clock for UpdatedDateUTC and ordering. */
  tick(): number {
    return ++this.clock;
  }

  account(code: string): SimAccount | undefined {
    return this.accounts.find((a) => a.Code === code && a.Status === 'ACTIVE');
  }

  taxRate(type: string): SimTaxRate | undefined {
    return this.taxRates.find((t) => t.TaxType === type && t.Status === 'ACTIVE');
  }

  private nameTaken(name: string, except: string | null): boolean {
    const n = name.trim().toLowerCase();
    for (const c of this.contacts.values())
      if (c.ContactID !== except && c.ContactStatus === 'ACTIVE' && c.Name.trim().toLowerCase() === n) return true;
    return false;
  }

  /** PUT /Contacts (create) or POST /Contacts (update when ContactID is given). */
  saveContact(el: Json, create: boolean): { saved?: Json; problems: Problems } {
    const id = typeof el.ContactID === 'string' ? el.ContactID : null;
    const existing = id ? this.contacts.get(id) : undefined;
    if (id && !existing) return { problems: [`Contact with ContactID ${id} could not be found`] };
    if (create && existing) return { problems: ['A contact with this ContactID already exists'] };
    const name = typeof el.Name === 'string' ? el.Name : existing?.Name;
    if (!name || name.trim() === '') return { problems: ['The contact name must be specified.'] };
    if (name.length > 255) return { problems: ['The contact name must be 255 characters or less.'] };
    if (this.nameTaken(name, existing?.ContactID ?? null))
      return {
        problems: [
          `The contact name ${name} is already assigned to another contact. The contact name must be unique across all active contacts.`,
        ],
      };
    if (typeof el.DefaultCurrency === 'string' && !this.currencies.has(el.DefaultCurrency))
      return { problems: [`The currency ${el.DefaultCurrency} is not enabled for this organisation.`] };
    const saved = {
      ...(existing ?? { ContactID: randomUUID(), ContactStatus: 'ACTIVE', IsCustomer: true }),
      ...el,
      Name: name,
    } as Json & { ContactID: string; Name: string; ContactStatus: string };
    saved.UpdatedDateUTC = this.tick();
    this.contacts.set(saved.ContactID, saved);
    return { saved, problems: [] };
  }

  /** PUT /Items or POST /Items: Code is the key. */
  saveItem(el: Json, create: boolean): { saved?: Json; problems: Problems } {
    const code = typeof el.Code === 'string' ? el.Code.trim() : '';
    if (code === '') return { problems: ['Item code must be specified'] };
    if (code.length > 30) return { problems: ['Item code must be 30 characters or less'] };
    if (typeof el.Name === 'string' && el.Name.length > 50)
      return { problems: ['Item name must be 50 characters or less'] };
    const byId = typeof el.ItemID === 'string' ? this.items.get(el.ItemID) : undefined;
    const byCode = [...this.items.values()].find((i) => i.Code.toLowerCase() === code.toLowerCase());
    if (create && byCode) return { problems: [`Item code '${code}' already exists`] };
    if (byId && byCode && byId !== byCode) return { problems: [`Item code '${code}' already exists`] };
    const sales = el.SalesDetails as Json | undefined;
    if (sales && typeof sales.AccountCode === 'string' && !this.account(sales.AccountCode))
      return { problems: [`Account code '${sales.AccountCode}' is not a valid code for this document.`] };
    if (sales && typeof sales.TaxType === 'string' && !this.taxRate(sales.TaxType))
      return {
        problems: [
          `The TaxType code '${sales.TaxType}' does not exist or cannot be used for this type of transaction.`,
        ],
      };
    const existing = byId ?? byCode;
    const saved = { ...(existing ?? { ItemID: randomUUID() }), ...el, Code: code } as Json & {
      ItemID: string;
      Code: string;
    };
    saved.UpdatedDateUTC = this.tick();
    this.items.set(saved.ItemID, saved);
    return { saved, problems: [] };
  }

  contactOf(el: Json): (Json & { ContactID: string; Name: string }) | undefined {
    const c = el.Contact as Json | undefined;
    if (!c) return undefined;
    if (typeof c.ContactID === 'string') return this.contacts.get(c.ContactID);
    if (typeof c.ContactNumber === 'string')
      return [...this.contacts.values()].find((x) => x.ContactNumber === c.ContactNumber);
    if (typeof c.Name === 'string') return [...this.contacts.values()].find((x) => x.Name === c.Name);
    return undefined;
  }

  /** PUT /Invoices or PUT /CreditNotes: one element. `unitdp` is 2 or 4. */
  createDocument(
    el: Json,
    type: 'ACCREC' | 'ACCRECCREDIT',
    unitdp: number,
  ): { saved?: SimDocument; problems: Problems } {
    const problems: Problems = [];
    if (el.Type !== type) problems.push(`Type must be ${type} (the simulator keeps only sales documents)`);
    const contact = this.contactOf(el);
    if (!contact) problems.push('A Contact must be specified for this type of transaction');
    const status = (el.Status ?? 'DRAFT') as SimDocument['Status'];
    if (!['DRAFT', 'SUBMITTED', 'AUTHORISED'].includes(status))
      problems.push(`Status ${String(status)} cannot be set on create`);
    const date = typeof el.Date === 'string' ? el.Date : new Date().toISOString().slice(0, 10);
    const dueDate = typeof el.DueDate === 'string' ? el.DueDate : null;
    if (type === 'ACCREC' && status !== 'DRAFT' && !dueDate) problems.push('Due Date is mandatory');
    const currency = typeof el.CurrencyCode === 'string' ? el.CurrencyCode : this.baseCurrency;
    if (!this.currencies.has(currency)) problems.push(`The currency ${currency} is not enabled for this organisation.`);
    const lineAmountTypes = (el.LineAmountTypes ?? 'Exclusive') as SimDocument['LineAmountTypes'];
    const number =
      typeof el.InvoiceNumber === 'string'
        ? el.InvoiceNumber
        : typeof el.CreditNoteNumber === 'string'
          ? el.CreditNoteNumber
          : null;
    if (
      number !== null &&
      [...this.documents.values()].some((d) => d.Type === type && d.Number === number && d.Status !== 'DELETED')
    )
      problems.push(type === 'ACCREC' ? 'Invoice # must be unique.' : 'Credit Note # must be unique.');
    const raw = Array.isArray(el.LineItems) ? (el.LineItems as Json[]) : [];
    if (raw.length === 0) problems.push('At least one line item must be specified');
    const lines: SimLine[] = [];
    for (const l of raw) {
      const line = this.line(l, lineAmountTypes, unitdp, problems);
      if (line) lines.push(line);
    }
    if (problems.length > 0) return { problems };
    const sub = lines.reduce((s, l) => s.add(l.LineAmount), ZERO);
    const tax = lines.reduce((s, l) => s.add(l.TaxAmount), ZERO);
    const subTotal = lineAmountTypes === 'Inclusive' ? sub.sub(tax) : sub;
    const now = this.tick();
    const doc: SimDocument = {
      id: randomUUID(),
      Type: type,
      Number: number ?? `${type === 'ACCREC' ? 'INV' : 'CN'}-${String(++this.seq[type]).padStart(4, '0')}`,
      Reference: typeof el.Reference === 'string' ? el.Reference : '',
      ContactID: contact!.ContactID,
      Date: date,
      DueDate: dueDate,
      Status: status,
      LineAmountTypes: lineAmountTypes,
      CurrencyCode: currency,
      CurrencyRate: el.CurrencyRate === undefined ? null : decimal(el.CurrencyRate),
      Lines: lines,
      SubTotal: subTotal,
      TotalTax: tax,
      Total: subTotal.add(tax),
      Paid: ZERO,
      Allocated: ZERO,
      Payments: [],
      Allocations: [],
      created: now,
      updated: now,
      FullyPaidOnDate: null,
    };
    this.documents.set(doc.id, doc);
    return { saved: doc, problems: [] };
  }

  private line(l: Json, types: SimDocument['LineAmountTypes'], unitdp: number, problems: Problems): SimLine | null {
    const dec = (v: unknown, what: string): Dec | null => {
      if (v === undefined || v === null) return null;
      const d = decimal(v);
      if (!d) problems.push(`${what} is not a number`);
      return d;
    };
    const account = typeof l.AccountCode === 'string' ? l.AccountCode : null;
    if (!account) problems.push('Account code must be specified');
    else if (!this.account(account)) problems.push(`Account code '${account}' is not a valid code for this document.`);
    const taxType = typeof l.TaxType === 'string' ? l.TaxType : null;
    if (!taxType) problems.push('The simulator needs a TaxType on every line (Xero would use the account default)');
    const rate = taxType ? this.taxRate(taxType) : undefined;
    if (taxType && (!rate || !rate.CanApplyToRevenue))
      problems.push(`The TaxType code '${taxType}' does not exist or cannot be used for this type of transaction.`);
    if (typeof l.ItemCode === 'string' && ![...this.items.values()].some((i) => i.Code === l.ItemCode))
      problems.push(`Item code '${l.ItemCode}' is not valid`);
    const tracking: SimLine['Tracking'] = [];
    for (const t of Array.isArray(l.Tracking) ? (l.Tracking as Json[]) : []) {
      const cat = this.tracking.find((c) => c.Name === t.Name);
      if (!cat || !cat.Options.some((o) => o.Name === t.Option))
        problems.push(`Tracking category '${String(t.Name)}' has no option '${String(t.Option)}'`);
      else tracking.push({ Name: String(t.Name), Option: String(t.Option) });
    }
    const quantity = dec(l.Quantity, 'Quantity') ?? new Dec(1);
    // Xero keeps 2 decimals of a unit amount unless the request says unitdp=4: it rounds, silently.
    const unit = dec(l.UnitAmount, 'UnitAmount')?.toDecimalPlaces(unitdp, Dec.ROUND_HALF_UP) ?? null;
    const given = dec(l.LineAmount, 'LineAmount');
    const computed = unit ? quantity.mul(unit).toDecimalPlaces(2, Dec.ROUND_HALF_UP) : null;
    if (given && computed && !given.eq(computed))
      problems.push(`The line total ${given.toFixed(2)} does not match the expected line total ${computed.toFixed(2)}`);
    const amount = computed ?? given;
    if (!amount) {
      problems.push('A line item must have a UnitAmount or a LineAmount');
      return null;
    }
    const pct = rate ? new Dec(rate.EffectiveRate).div(100) : ZERO;
    const expected =
      types === 'NoTax'
        ? ZERO
        : types === 'Inclusive'
          ? amount.sub(amount.div(pct.add(1))).toDecimalPlaces(2, Dec.ROUND_HALF_UP)
          : amount.mul(pct).toDecimalPlaces(2, Dec.ROUND_HALF_UP);
    const taxGiven = dec(l.TaxAmount, 'TaxAmount');
    // Xero takes a tax amount that differs from its own by rounding only.
    if (taxGiven && taxGiven.sub(expected).abs().gt('0.05'))
      problems.push(`The TaxAmount ${taxGiven.toFixed(2)} is too far from the calculated tax ${expected.toFixed(2)}`);
    if (!account || !taxType) return null;
    return {
      LineItemID: randomUUID(),
      Description: typeof l.Description === 'string' ? l.Description : '',
      Quantity: quantity,
      UnitAmount: unit ?? amount,
      LineAmount: amount,
      TaxAmount: taxGiven ?? expected,
      AccountCode: account,
      TaxType: taxType,
      ItemCode: typeof l.ItemCode === 'string' ? l.ItemCode : undefined,
      Tracking: tracking,
    };
  }

  /** What is left to pay (invoice) or to refund or allocate (credit note). */
  due(d: SimDocument): Dec {
    return d.Total.sub(d.Paid).sub(d.Allocated);
  }

  private settle(d: SimDocument, date: string): void {
    d.updated = this.tick();
    if (this.due(d).lte(0)) {
      d.Status = 'PAID';
      d.FullyPaidOnDate = date;
    }
  }

  private documentOf(ref: Json | undefined, type: SimDocument['Type']): SimDocument | undefined {
    if (!ref) return undefined;
    const id = type === 'ACCREC' ? ref.InvoiceID : ref.CreditNoteID;
    const number = type === 'ACCREC' ? ref.InvoiceNumber : ref.CreditNoteNumber;
    if (typeof id === 'string') {
      const d = this.documents.get(id);
      return d?.Type === type ? d : undefined;
    }
    if (typeof number === 'string')
      return [...this.documents.values()].find((d) => d.Type === type && d.Number === number);
    return undefined;
  }

  private bankAccount(el: Json, problems: Problems): string | null {
    const a = (el.Account ?? el.BankAccount) as Json | undefined;
    const code = typeof a?.Code === 'string' ? a.Code : null;
    const byId = typeof a?.AccountID === 'string' ? this.accounts.find((x) => x.AccountID === a.AccountID) : undefined;
    const account = byId ?? (code ? this.account(code) : undefined);
    if (!account) problems.push('Account code must be specified and be a valid bank account');
    else if (account.Type !== 'BANK')
      problems.push(`Account ${account.Code} is not a bank account and does not accept payments`);
    return account?.Code ?? null;
  }

  /** PUT /Payments: one element, against an invoice, a credit note (cash refund) or an overpayment (refund). */
  createPayment(el: Json): { saved?: SimPayment; problems: Problems } {
    const problems: Problems = [];
    const date = typeof el.Date === 'string' ? el.Date : null;
    if (!date) problems.push('Payment date must be specified');
    const amount = decimal(el.Amount);
    if (!amount || amount.lte(0)) problems.push('Payment amount must be greater than zero');
    const account = this.bankAccount(el, problems);
    const invoice = this.documentOf(el.Invoice as Json | undefined, 'ACCREC');
    const credit = this.documentOf(el.CreditNote as Json | undefined, 'ACCRECCREDIT');
    const over = el.Overpayment as Json | undefined;
    const overpayment = typeof over?.OverpaymentID === 'string' ? this.overpayments.get(over.OverpaymentID) : undefined;
    const doc = invoice ?? credit;
    if (!doc && !overpayment) problems.push('An Invoice, CreditNote or Overpayment must be specified and exist');
    if (doc && doc.Status !== 'AUTHORISED')
      problems.push(
        doc.Status === 'PAID'
          ? 'Payment amount exceeds the amount outstanding on this document'
          : 'Payment can only be made against Authorised documents',
      );
    const left = doc ? this.due(doc) : overpayment ? overpayment.Total.sub(overpayment.Allocated) : ZERO;
    if (amount && amount.gt(left) && !problems.some((p) => p.includes('exceeds')))
      problems.push('Payment amount exceeds the amount outstanding on this document');
    if (problems.length > 0) return { problems };
    const p: SimPayment = {
      PaymentID: randomUUID(),
      Date: date!,
      Amount: amount!,
      Reference: typeof el.Reference === 'string' ? el.Reference : '',
      AccountCode: account!,
      documentId: doc?.id ?? overpayment!.OverpaymentID,
      documentType: doc?.Type ?? 'OVERPAYMENT',
      Status: 'AUTHORISED',
      PaymentType: doc?.Type === 'ACCREC' ? 'ACCRECPAYMENT' : doc ? 'ARCREDITPAYMENT' : 'AROVERPAYMENTPAYMENT',
      updated: this.tick(),
    };
    this.payments.set(p.PaymentID, p);
    if (doc) {
      doc.Paid = doc.Paid.add(amount!);
      doc.Payments.push(p.PaymentID);
      this.settle(doc, date!);
    } else {
      overpayment!.Allocated = overpayment!.Allocated.add(amount!);
      overpayment!.updated = this.tick();
    }
    return { saved: p, problems: [] };
  }

  /** PUT /CreditNotes/{id}/Allocations or PUT /Overpayments/{id}/Allocations: one element. */
  allocate(
    from: { kind: 'CREDITNOTE'; doc: SimDocument } | { kind: 'OVERPAYMENT'; over: SimOverpayment },
    el: Json,
  ): { saved?: Json; problems: Problems } {
    const problems: Problems = [];
    const invoice = this.documentOf(el.Invoice as Json | undefined, 'ACCREC');
    if (!invoice) problems.push('Invoice could not be found');
    const date = typeof el.Date === 'string' ? el.Date : null;
    if (!date) problems.push('Allocation date must be specified');
    const amount = decimal(el.Amount);
    if (!amount || amount.lte(0)) problems.push('Allocation amount must be greater than zero');
    if (from.kind === 'CREDITNOTE' && from.doc.Status !== 'AUTHORISED')
      problems.push('Only authorised credit notes can be allocated');
    if (invoice && invoice.Status !== 'AUTHORISED') problems.push('The invoice must be authorised and not paid');
    const left = from.kind === 'CREDITNOTE' ? this.due(from.doc) : from.over.Total.sub(from.over.Allocated);
    if (amount && invoice && (amount.gt(left) || amount.gt(this.due(invoice))))
      problems.push('The amount being allocated exceeds the amount remaining on the credit or the invoice');
    if (problems.length > 0) return { problems };
    const id = randomUUID();
    if (from.kind === 'CREDITNOTE') {
      from.doc.Allocated = from.doc.Allocated.add(amount!);
      from.doc.Allocations.push({ id, otherId: invoice!.id, Amount: amount!, Date: date!, kind: 'CREDITNOTE' });
      this.settle(from.doc, date!);
    } else {
      from.over.Allocated = from.over.Allocated.add(amount!);
      from.over.Allocations.push({ id, invoiceId: invoice!.id, Amount: amount!, Date: date! });
      from.over.updated = this.tick();
    }
    invoice!.Allocated = invoice!.Allocated.add(amount!);
    invoice!.Allocations.push({
      id,
      otherId: from.kind === 'CREDITNOTE' ? from.doc.id : from.over.OverpaymentID,
      Amount: amount!,
      Date: date!,
      kind: from.kind,
    });
    this.settle(invoice!, date!);
    return {
      saved: { AllocationID: id, Amount: amount!, Date: date!, Invoice: { InvoiceID: invoice!.id } },
      problems: [],
    };
  }

  /**
   * PUT /BankTransactions of Type SPEND: money out of a bank account to a contact, each line coded to
   * an account that is not a bank account, with a tax rate; the simulator keeps only NoTax lines (a
   * bank fee), whose tax rate must then be a 0% one.
   */
  createSpend(el: Json): { saved?: SimSpend; problems: Problems } {
    const problems: Problems = [];
    const contact = this.contactOf(el);
    if (!contact) problems.push('A Contact must be specified for this type of transaction');
    const account = this.bankAccount(el, problems);
    const lines = Array.isArray(el.LineItems) ? (el.LineItems as Json[]) : [];
    if (lines.length === 0) problems.push('At least one line item is required');
    if (el.LineAmountTypes !== 'NoTax')
      problems.push('The simulator keeps only spend money with LineAmountTypes NoTax');
    if (el.Status !== undefined && el.Status !== 'AUTHORISED') problems.push('Status must be AUTHORISED on create');
    const currency = typeof el.CurrencyCode === 'string' ? el.CurrencyCode : this.baseCurrency;
    if (!this.currencies.has(currency)) problems.push(`The currency ${currency} is not enabled for this organisation.`);
    const kept: SimSpend['Lines'] = [];
    for (const l of lines) {
      const code = typeof l.AccountCode === 'string' ? l.AccountCode : '';
      const coded = this.account(code);
      if (!coded) problems.push(`Account code '${code}' is not a valid code for this document.`);
      else if (coded.Type === 'BANK')
        problems.push(`Account code '${code}' is a bank account and cannot be used here.`);
      const taxType = typeof l.TaxType === 'string' ? l.TaxType : (coded?.TaxType ?? '');
      const rate = this.taxRate(taxType);
      if (!rate)
        problems.push(`The TaxType code '${taxType}' does not exist or cannot be used for this type of transaction.`);
      else if (!new Dec(rate.EffectiveRate).isZero())
        problems.push(`The TaxType code '${taxType}' has a rate and cannot be used on a line with no tax`);
      const quantity = l.Quantity === undefined ? new Dec(1) : decimal(l.Quantity);
      const unit = decimal(l.UnitAmount ?? l.LineAmount);
      const lineAmount = quantity && unit ? quantity.mul(unit).toDecimalPlaces(2, Dec.ROUND_HALF_UP) : null;
      if (!lineAmount || lineAmount.lte(0)) problems.push('The line amount must be greater than zero');
      else
        kept.push({
          LineItemID: randomUUID(),
          Description: typeof l.Description === 'string' ? l.Description : '',
          AccountCode: code,
          TaxType: taxType,
          LineAmount: lineAmount,
        });
    }
    if (problems.length > 0) return { problems };
    const s: SimSpend = {
      BankTransactionID: randomUUID(),
      ContactID: contact!.ContactID,
      Date: typeof el.Date === 'string' ? el.Date : new Date().toISOString().slice(0, 10),
      Reference: typeof el.Reference === 'string' ? el.Reference : '',
      CurrencyCode: currency,
      LineAmountTypes: 'NoTax',
      Lines: kept,
      Total: kept.reduce((t, l) => t.add(l.LineAmount), ZERO),
      AccountCode: account!,
      Status: 'AUTHORISED',
      updated: this.tick(),
    };
    this.spends.set(s.BankTransactionID, s);
    return { saved: s, problems: [] };
  }

  /** PUT /BankTransactions: RECEIVE-OVERPAYMENT (a receipt before its invoice), which creates an Overpayment. */
  createBankTransaction(el: Json): { saved?: SimOverpayment; problems: Problems } {
    const problems: Problems = [];
    if (el.Type !== 'RECEIVE-OVERPAYMENT')
      problems.push('The simulator keeps only RECEIVE-OVERPAYMENT and SPEND bank transactions');
    const contact = this.contactOf(el);
    if (!contact) problems.push('A Contact must be specified for this type of transaction');
    const account = this.bankAccount(el, problems);
    const lines = Array.isArray(el.LineItems) ? (el.LineItems as Json[]) : [];
    if (lines.length !== 1) problems.push('An overpayment must have exactly one line item');
    if (el.LineAmountTypes !== 'NoTax') problems.push('An overpayment must have LineAmountTypes NoTax');
    const total = decimal(lines[0]?.LineAmount);
    if (!total || total.lte(0)) problems.push('The line amount must be greater than zero');
    if (lines[0]?.AccountCode !== undefined) problems.push('An overpayment line takes no AccountCode');
    const currency = typeof el.CurrencyCode === 'string' ? el.CurrencyCode : this.baseCurrency;
    if (!this.currencies.has(currency)) problems.push(`The currency ${currency} is not enabled for this organisation.`);
    if (problems.length > 0) return { problems };
    const o: SimOverpayment = {
      OverpaymentID: randomUUID(),
      BankTransactionID: randomUUID(),
      ContactID: contact!.ContactID,
      Date: typeof el.Date === 'string' ? el.Date : new Date().toISOString().slice(0, 10),
      Reference: typeof el.Reference === 'string' ? el.Reference : '',
      Description: typeof lines[0]?.Description === 'string' ? lines[0].Description : '',
      CurrencyCode: currency,
      Total: total!,
      Allocated: ZERO,
      AccountCode: account!,
      Allocations: [],
      updated: this.tick(),
    };
    this.overpayments.set(o.OverpaymentID, o);
    return { saved: o, problems: [] };
  }
}
