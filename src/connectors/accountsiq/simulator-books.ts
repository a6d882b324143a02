import { Dec } from '../../domain/money.ts';
import { type Xml, items, text } from './wsdl.ts';

/*
 * The simulated AccountsIQ entity's books: customers (accounts), sales transactions (batch
 * invoices SI, batch credit notes SN, receipts SR) with what each still has outstanding, sundry
 * bank receipts and payments (BR, BP: a bank against a GL account, no customer), and the
 * allocations between them, with AccountsIQ's rules: codes upper case, the period open, the
 * duplicate checks of PostPayAndAllocateSalesInvoice(s) (each query all or nothing), allocations
 * only between a debit and a credit of the same customer, never above either's outstanding.
 * Error codes are AccountsIQ's VisorExceptionCodes where accountsiq-api.md names one; the
 * duplicate-reference codes are ours (the wiki names the check, not its code).
 */

export type TxnType =
  | 'SalesBatchInvoice'
  | 'SalesBatchCreditNote'
  | 'SalesReceipt'
  | 'SalesDebitJournal'
  // Sundry bank transactions (SaveSundryReceiptPayments…): no customer, the bank against a GL account.
  | 'BankReceipt'
  | 'BankPayment';

/** Debit-side transactions (what a customer owes): invoices and debit journals. */
export const DEBITS: readonly TxnType[] = ['SalesBatchInvoice', 'SalesDebitJournal'];

export interface Txn {
  id: number;
  type: TxnType;
  number: string;
  reference: string;
  customer: string;
  /** The gross, positive. */
  gross: Dec;
  outstanding: Dec;
  date: string;
  dueDate: string | null;
  currency: string;
  netLines: number;
  bank?: string;
  /** A sundry bank transaction's GL account, tax code and description. */
  gl?: string;
  taxCode?: string;
  description?: string;
  /**
   * Reversed by a person in AccountsIQ (the original and the reversing transaction both): kept, out
   * of the books, read back with `IsReversed` true.
   */
  reversed?: boolean;
  /** The transaction this one reverses: the same type and reference, its amounts of the other sign. */
  reversalOf?: number;
}

export interface Allocation {
  id: number;
  debit: number;
  credit: number;
  amount: Dec;
  date: string;
  reference: string;
}

/** A refusal of one document: AccountsIQ's code and message. */
export class Refused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface BooksOptions {
  currency?: string | undefined;
  /** Tax codes and their rates (fractions). */
  taxCodes?: [string, string][] | undefined;
  glAccounts?: string[] | undefined;
  banks?: string[] | undefined;
  /** The sales ledger is closed for dates before this day. */
  closedBefore?: string | undefined;
}

const CODE = /^[A-Z0-9][A-Z0-9_.\- ]{0,49}$/;
const nonNegative = (s: string) => /^\d+(\.\d+)?$/.test(s);

export class Books {
  readonly customers = new Map<string, Record<string, string>>();
  readonly stockItems = new Map<string, Record<string, string>>();
  readonly transactions = new Map<number, Txn>();
  readonly allocations: Allocation[] = [];
  readonly currency: string;
  readonly taxCodes: Map<string, string>;
  readonly glAccounts: Set<string>;
  readonly banks: Set<string>;
  private nextTxn = 1000;
  private nextAccount = 1;
  private nextAllocation = 1;
  private readonly numbers: Record<TxnType, number> = {
    SalesBatchInvoice: 0,
    SalesBatchCreditNote: 0,
    SalesReceipt: 0,
    SalesDebitJournal: 0,
    BankReceipt: 0,
    BankPayment: 0,
  };

  constructor(private readonly o: BooksOptions = {}) {
    this.currency = o.currency ?? 'EUR';
    this.taxCodes = new Map(
      o.taxCodes ?? [
        ['S', '0.21'],
        ['R', '0.09'],
        ['Z', '0'],
      ],
    );
    this.glAccounts = new Set(o.glAccounts ?? ['4000', '4100']);
    this.banks = new Set(o.banks ?? ['BANK']);
  }

  defaults(): Record<string, string> {
    return {
      AccountID: '0',
      Code: '',
      Name: '',
      CurrencyCode: this.currency,
      AreaID: 'DEFAULT',
      BankAccountCode: [...this.banks][0]!,
      CreditTermID: '1',
      DefaultTaxCode: [...this.taxCodes.keys()][0]!,
      DefaultGLAccountCode: [...this.glAccounts][0]!,
      ControlGLAccountCode: '1100',
      IsActive: 'true',
      CreditLimit: '0',
      RowVersionNumber: '0',
    };
  }

  updateCustomer(c: Record<string, string>, create: boolean): void {
    const code = c.Code ?? '';
    if (!code) throw new Refused('CUSTOMER_CODE_IS_NULL', 'Customer code is required');
    if (code !== code.toUpperCase())
      throw new Refused('CUSTOMER_CODE_IS_NOT_UPPERCASE', 'Customer code must be upper case');
    if (!CODE.test(code)) throw new Refused('CUSTOMER_CODE_IS_TOO_LONG', 'Customer code is at most 50 characters');
    if (!c.Name) throw new Refused('CUSTOMER_NAME_IS_NULL', 'Customer name is required');
    if (!c.AreaID || !c.BankAccountCode)
      throw new Refused('CUSTOMER_AREA_IS_NULL', 'AreaID and BankAccountCode are required');
    const existing = this.customers.get(code);
    if (create) {
      if (existing) throw new Refused('CUSTOMER_CODE_ALREADY_EXISTS', `Customer ${code} already exists`);
      this.customers.set(code, { ...c, AccountID: String(this.nextAccount++), RowVersionNumber: '1' });
      return;
    }
    if (!existing) throw new Refused('CUSTOMER_CODE_DOES_NOT_EXIST', `Customer ${code} does not exist`);
    if (c.RowVersionNumber !== existing.RowVersionNumber)
      throw new Refused('OUTDATED_RECORD', 'The record was changed by someone else');
    this.customers.set(code, {
      ...existing,
      ...c,
      AccountID: existing.AccountID!,
      RowVersionNumber: String(Number(existing.RowVersionNumber) + 1),
    });
  }

  saveStockItem(item: Record<string, string>, create: boolean): void {
    const code = item.StockItemID ?? '';
    if (!code || code !== code.toUpperCase() || !CODE.test(code))
      throw new Refused('STOCK_ITEM_ID_IS_INVALID', 'StockItemID is required, upper case, at most 50');
    if (item.SalesGLAccountCode && !this.glAccounts.has(item.SalesGLAccountCode))
      throw new Refused('GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', `GL account ${item.SalesGLAccountCode}`);
    if (item.SalesTaxCode && !this.taxCodes.has(item.SalesTaxCode))
      throw new Refused('TAX_CODE_DOES_NOT_EXIST', `Tax code ${item.SalesTaxCode} does not exist`);
    const existing = this.stockItems.get(code);
    if (create) {
      if (existing) throw new Refused('STOCK_ITEM_ALREADY_EXISTS', `Stock item ${code} already exists`);
      this.stockItems.set(code, { ...item, RowVersionNumber: '1' });
      return;
    }
    if (!existing) throw new Refused('STOCK_ITEM_DOES_NOT_EXIST', `Stock item ${code} does not exist`);
    if (item.RowVersionNumber !== existing.RowVersionNumber)
      throw new Refused('OUTDATED_RECORD', 'The record was changed by someone else');
    this.stockItems.set(code, {
      ...existing,
      ...item,
      RowVersionNumber: String(Number(existing.RowVersionNumber) + 1),
    });
  }

  private open(date: string, what: string) {
    if (this.o.closedBefore && date.slice(0, 10) < this.o.closedBefore)
      throw new Refused('DATE_IS_OUT_OF_RANGE', `The ${what} date ${date.slice(0, 10)} is in a closed period`);
  }

  private customer(code: string): Record<string, string> {
    const c = this.customers.get(code);
    if (!c) throw new Refused('CUSTOMER_CODE_DOES_NOT_EXIST', `Customer ${code} does not exist`);
    return c;
  }

  /** A batch invoice or credit note checked and priced (not booked): its gross and net line count. */
  private priced(doc: Record<string, Xml>, lineItem: string, what: 'INVOICE' | 'CREDIT_NOTE') {
    this.customer(text(doc.CustomerCode));
    const ref = text(doc.ExternalReference);
    if (!ref) throw new Refused(`${what}_EXTERNAL_REFERENCE_IS_NULL`, 'ExternalReference is required');
    if (ref.length > 50) throw new Refused(`${what}_EXTERNAL_REFERENCE_IS_TOO_LONG`, 'ExternalReference is at most 50');
    this.open(text(doc.InvoiceDate), 'transaction');
    const rate = text(doc.ExchangeRate);
    if (!rate || new Dec(rate).lte(0)) throw new Refused('EXCHANGE_RATE_IS_INVALID', 'ExchangeRate must be above 0');
    const lines = items(doc.Lines, lineItem);
    if (lines.length === 0) throw new Refused(`SALES_BATCH_${what}_HAS_NO_LINES`, 'A batch document needs lines');
    let gross = new Dec(0);
    for (const l of lines) {
      const gl = text(l.GLAccountCode);
      const tax = text(l.TaxCode);
      if (!this.glAccounts.has(gl))
        throw new Refused('GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', `GL account ${gl} does not exist`);
      if (tax !== tax.toUpperCase()) throw new Refused('TAX_CODE_IS_NOT_UPPERCASE', `Tax code ${tax}`);
      if (!this.taxCodes.has(tax)) throw new Refused('TAX_CODE_DOES_NOT_EXIST', `Tax code ${tax} does not exist`);
      const net = text(l.NetAmount);
      if (!nonNegative(net)) throw new Refused('NET_AMOUNT_CANNOT_BE_NEGATIVE', `NetAmount ${net} cannot be negative`);
      const taxRate = new Dec(text(l.TaxRate) || '0');
      if (taxRate.lt(0) || taxRate.gt(1)) throw new Refused('TAX_RATE_IS_OUT_OF_RANGE', 'TaxRate is a fraction 0..1');
      const taxText = text(l.TaxAmount);
      const taxAmount = taxText ? new Dec(taxText) : new Dec(net).mul(taxRate).toDecimalPlaces(2, Dec.ROUND_HALF_UP);
      gross = gross.add(net).add(taxAmount);
    }
    return { gross, netLines: lines.length };
  }

  private book(t: Omit<Txn, 'id' | 'number'>): Txn {
    const id = this.nextTxn++;
    const number = String(++this.numbers[t.type]);
    const txn = { ...t, id, number };
    this.transactions.set(id, txn);
    return txn;
  }

  private sameRef = (type: TxnType, ref: string, customer?: string) =>
    [...this.transactions.values()].some(
      (t) => t.type === type && t.reference === ref && (customer === undefined || t.customer === customer),
    );

  /** One PostPayAndAllocateSalesInvoice query, all or nothing. */
  postPayAndAllocate(q: Record<string, Xml>): { invoice: number | null; receipt: number | null } {
    const inv = q.BatchInvoice && typeof q.BatchInvoice === 'object' ? (q.BatchInvoice as Record<string, Xml>) : null;
    const rec = q.Receipt && typeof q.Receipt === 'object' ? (q.Receipt as Record<string, Xml>) : null;
    if (!inv && !rec) throw new Refused('UNKNOWN', 'Either BatchInvoice or Receipt is required');
    if (inv && rec && text(inv.CustomerCode) !== text(rec.CustomerCode))
      throw new Refused('CUSTOMER_CODE_MISMATCH', 'Invoice and receipt must be of the same customer');
    // 1. and 2.: the duplicate checks, before anything is posted.
    if (inv && text(q.PerformExternalReferenceDuplicateCheckOnInvoice) === 'true') {
      if (this.sameRef('SalesBatchInvoice', text(inv.ExternalReference), text(inv.CustomerCode)))
        throw new Refused(
          'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
          `The customer already has an invoice with reference ${text(inv.ExternalReference)}`,
        );
    }
    if (rec && text(q.PerformExternalReferenceDuplicateCheckOnReceipt) === 'true') {
      if (this.sameRef('SalesReceipt', text(rec.CheckReference)))
        throw new Refused(
          'RECEIPT_REFERENCE_ALREADY_EXISTS',
          `A receipt with reference ${text(rec.CheckReference)} already exists`,
        );
    }
    // Everything checked before anything is booked: the query is atomic.
    const priced = inv ? this.priced(inv, 'BatchSalesInvoiceLine', 'INVOICE') : null;
    let amount: Dec | null = null;
    if (rec) {
      this.customer(text(rec.CustomerCode));
      if (!text(rec.CheckReference)) throw new Refused('RECEIPT_CHECK_REFERENCE_IS_NULL', 'CheckReference is required');
      amount = new Dec(text(rec.PaymentAmount) || '0');
      if (amount.lte(0)) throw new Refused('RECEIPT_AMOUNT_MUST_BE_POSITIVE', 'PaymentAmount must be above 0');
      if (!this.banks.has(text(rec.BankAccountCode)))
        throw new Refused('BANK_ACCOUNT_CODE_DOES_NOT_EXIST', `Bank ${text(rec.BankAccountCode)} does not exist`);
      this.open(text(rec.PaymentDate), 'payment');
    }
    const allocate = inv && rec && text(q.PerformAllocation) === 'true';
    let allocation: Dec | null = null;
    if (allocate) {
      const asked = new Dec(text(q.AllocationAmount) || '0');
      allocation = asked.gt(0) ? asked : Dec.min(amount!, priced!.gross);
      if (allocation.gt(amount!) || allocation.gt(priced!.gross))
        throw new Refused('TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT', 'Allocation above outstanding');
    }
    const invoice = inv
      ? this.book({
          type: 'SalesBatchInvoice',
          reference: text(inv.ExternalReference),
          customer: text(inv.CustomerCode),
          gross: priced!.gross,
          outstanding: priced!.gross,
          date: text(inv.InvoiceDate).slice(0, 10),
          dueDate: text(inv.DueDate) ? text(inv.DueDate).slice(0, 10) : null,
          currency: this.customers.get(text(inv.CustomerCode))!.CurrencyCode ?? this.currency,
          netLines: priced!.netLines,
        })
      : null;
    const receipt = rec
      ? this.book({
          type: 'SalesReceipt',
          reference: text(rec.CheckReference),
          customer: text(rec.CustomerCode),
          gross: amount!,
          outstanding: amount!,
          date: text(rec.PaymentDate).slice(0, 10),
          dueDate: null,
          currency: this.customers.get(text(rec.CustomerCode))!.CurrencyCode ?? this.currency,
          netLines: 0,
          bank: text(rec.BankAccountCode),
        })
      : null;
    if (allocation && invoice && receipt)
      this.allocate(invoice.id, receipt.id, allocation.toFixed(), text(q.AllocationDate) || receipt.date, 'PPA');
    return { invoice: invoice?.id ?? null, receipt: receipt?.id ?? null };
  }

  creditNote(doc: Record<string, Xml>): number {
    const priced = this.priced(doc, 'BatchSalesCreditNoteLine', 'CREDIT_NOTE');
    return this.book({
      type: 'SalesBatchCreditNote',
      reference: text(doc.ExternalReference),
      customer: text(doc.CustomerCode),
      gross: priced.gross,
      outstanding: priced.gross,
      date: text(doc.InvoiceDate).slice(0, 10),
      dueDate: null,
      currency: this.customers.get(text(doc.CustomerCode))!.CurrencyCode ?? this.currency,
      netLines: priced.netLines,
    }).id;
  }

  /** A sales debit journal: the customer owes the lines' total again (money paid back to it). */
  debitJournal(j: Record<string, Xml>): number {
    const customer = text(j.AccountCode);
    this.customer(customer);
    const ref = text(j.ExternalReference);
    if (!ref) throw new Refused('JOURNAL_EXTERNAL_REFERENCE_IS_NULL', 'ExternalReference is required');
    this.open(text(j.TransactionDate), 'transaction');
    const lines = items(j.Lines, 'WSLedgerJournalLine');
    if (lines.length === 0) throw new Refused('JOURNAL_HAS_NO_LINES', 'A journal needs lines');
    let total = new Dec(0);
    for (const l of lines) {
      const gl = text(l.GLAccountCode);
      if (!this.glAccounts.has(gl) && !this.banks.has(gl))
        throw new Refused('GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', `GL account ${gl} does not exist`);
      const amount = new Dec(text(l.Amount) || '0');
      if (amount.lte(0)) throw new Refused('JOURNAL_AMOUNT_MUST_BE_POSITIVE', 'A line amount must be above 0');
      total = total.add(amount);
    }
    return this.book({
      type: 'SalesDebitJournal',
      reference: ref,
      customer,
      gross: total,
      outstanding: total,
      date: text(j.TransactionDate).slice(0, 10),
      dueDate: null,
      currency: this.customers.get(customer)!.CurrencyCode ?? this.currency,
      netLines: lines.length,
    }).id;
  }

  /**
   * One WSSundryReceiptPayment, all or nothing: a bank receipt for a positive Value, a bank payment
   * for a negative one (the API wiki: the sign decides). The bank must be a bank account, the GL
   * account a posting one; a tax code needs its rate and amount, the rate the code's own. Nothing
   * stops the same entry twice: it is booked twice (what `duplicates()` counts).
   */
  sundry(e: Record<string, Xml>): number {
    const ref = text(e.ExternalReference);
    if (ref.length > 50) throw new Refused('EXTERNAL_REFERENCE_IS_TOO_LONG', 'ExternalReference is at most 50');
    const description = text(e.Description);
    if (description.length > 500) throw new Refused('DESCRIPTION_IS_TOO_LONG', 'Description is at most 500');
    this.open(text(e.TransactionDate), 'transaction');
    const bank = text(e.BankAccountCode);
    if (!this.banks.has(bank))
      throw new Refused('BANK_ACCOUNT_CODE_DOES_NOT_EXIST', `Bank account ${bank || '(none)'} does not exist`);
    const gl = text(e.GLAccountCode);
    if (!this.glAccounts.has(gl))
      throw new Refused(
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        `GL account ${gl || '(none)'} is not a posting account`,
      );
    const value = new Dec(text(e.Value) || '0');
    if (value.isZero()) throw new Refused('VALUE_CANNOT_BE_ZERO', 'Value cannot be 0');
    const rate = text(e.ExchangeRate);
    if (!rate || new Dec(rate).lte(0)) throw new Refused('EXCHANGE_RATE_IS_INVALID', 'ExchangeRate must be above 0');
    const tax = text(e.TaxID);
    if (tax) {
      if (!this.taxCodes.has(tax)) throw new Refused('TAX_CODE_DOES_NOT_EXIST', `Tax code ${tax} does not exist`);
      const taxRate = text(e.TaxRate);
      if (!taxRate || !text(e.TaxAmount))
        throw new Refused('TAX_CODE_IS_NULL', 'With a TaxID, TaxRate and TaxAmount are required');
      if (!new Dec(taxRate).eq(this.taxCodes.get(tax)!))
        throw new Refused('TAX_RATE_IS_INVALID', `TaxRate ${taxRate} is not the rate of tax code ${tax}`);
    }
    return this.book({
      type: value.isNegative() ? 'BankPayment' : 'BankReceipt',
      reference: ref,
      customer: '',
      gross: value.abs(),
      outstanding: new Dec(0),
      date: text(e.TransactionDate).slice(0, 10),
      dueDate: null,
      currency: this.currency,
      netLines: 1,
      bank,
      gl,
      taxCode: tax,
      description,
    }).id;
  }

  /**
   * A posted transaction reversed, as a person does in AccountsIQ (a posted transaction is never
   * deleted or edited): a reversing transaction of the same type, reference and customer, dated
   * `date`, its amounts of the other sign, and both flagged reversed (WSTransactionSummary's
   * `IsReversed`), nothing left outstanding on either. Only a transaction nothing is allocated to
   * is reversed here: a person unallocates it first (UnallocateTransactions, not modelled).
   */
  reverse(id: number, date?: string): number {
    const t = this.transactions.get(id);
    if (!t) throw new Refused('NOT_FOUND', 'Transaction not found');
    if (t.reversed) throw new Refused('TRANSACTION_IS_REVERSED', `Transaction ${id} is already reversed`);
    if (this.allocations.some((a) => a.debit === id || a.credit === id))
      throw new Refused('TRANSACTION_IS_ALLOCATED', `Transaction ${id} is allocated: unallocate it first`);
    t.reversed = true;
    t.outstanding = new Dec(0);
    // `book` gives it an id and number of its own.
    return this.book({ ...t, date: date ?? t.date, reversalOf: id }).id;
  }

  allocate(id1: number, id2: number, amountText: string, date: string, reference: string): void {
    if (!reference)
      throw new Refused('TRANSACTION_ALLOCATION_REFERENCE_IS_NULL', 'An allocation reference is required');
    const amount = new Dec(amountText);
    if (amount.lte(0))
      throw new Refused('TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO', 'The amount must be above 0');
    const a = this.transactions.get(id1);
    const b = this.transactions.get(id2);
    if (!a || !b) throw new Refused('NOT_FOUND', 'Transaction not found');
    if (a.id === b.id)
      throw new Refused('TRANSACTION_IS_NOT_ALLOCATABLE', 'A transaction cannot be allocated to itself');
    if (a.reversed || b.reversed) throw new Refused('TRANSACTION_IS_NOT_ALLOCATABLE', 'A reversed transaction');
    if (a.customer !== b.customer)
      throw new Refused('TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES', 'Transactions of different customers');
    const debit = [a, b].find((t) => DEBITS.includes(t.type));
    const credit = [a, b].find((t) => !DEBITS.includes(t.type));
    if (!debit || !credit)
      throw new Refused('TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES', 'A debit and a credit are needed');
    for (const t of [debit, credit]) {
      if (t.outstanding.lte(0))
        throw new Refused(
          'TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION',
          `Transaction ${t.id} is fully allocated`,
        );
      if (amount.gt(t.outstanding))
        throw new Refused(
          'TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT',
          `${amount.toFixed(2)} is more than ${t.outstanding.toFixed(2)} outstanding on transaction ${t.id}`,
        );
    }
    debit.outstanding = debit.outstanding.sub(amount);
    credit.outstanding = credit.outstanding.sub(amount);
    this.allocations.push({
      id: this.nextAllocation++,
      debit: debit.id,
      credit: credit.id,
      amount,
      date: date.slice(0, 10),
      reference,
    });
  }

  /**
   * A transaction as WSTransactionSummary, every element the WSDL requires in its declared order
   * (wsdl.ts checks these answers in the tests): credits signed negative, as AccountsIQ signs its
   * control lines; its lines WSTransactionDetail, as the WSDL names LineDetails' items. The period
   * is the calendar month of the date and the creation date the transaction date (not modelled).
   */
  summary(t: Txn): Record<string, unknown> {
    if (t.type === 'BankPayment' || t.type === 'BankReceipt') return this.bankSummary(t);
    const sign = (DEBITS.includes(t.type) ? 1 : -1) * (t.reversalOf === undefined ? 1 : -1);
    const control = t.gross.mul(sign).toFixed(2);
    return this.summaryOf(t, {
      AccountCode: t.customer,
      Ledger: 'Sales',
      IsBatchInvoiceOrNote: String(t.type !== 'SalesReceipt'),
      ControlAmount: control,
      OutstandingAmount: t.outstanding.mul(sign).toFixed(2),
      LineDetails: {
        WSTransactionDetail: [
          this.line(t, { IsControlLine: 'true', Amount: control }),
          ...Array.from({ length: t.netLines }, () => this.line(t, { Amount: '0.00' })),
        ],
      },
    });
  }

  /** One WSTransactionDetail of a transaction: what is not given is a plain, unreconciled line. */
  private line(t: Txn, l: Record<string, string>): Record<string, unknown> {
    return {
      ...(l.GLAccountCode ? { GLAccountCode: l.GLAccountCode } : {}),
      IsControlLine: l.IsControlLine ?? 'false',
      IsTaxLine: 'false',
      IsStockLine: 'false',
      Amount: l.Amount,
      BCAmount: l.Amount,
      ...(l.TaxID ? { TaxID: l.TaxID } : {}),
      CurrencyCode: t.currency,
      IsReconciled: 'false',
      Description: t.description ?? '',
      TransactionDate: `${t.date}T00:00:00`,
      PeriodDate: `${t.date.slice(0, 7)}-01T00:00:00`,
      ExchangeRate: '1',
    };
  }

  /** The WSTransactionSummary elements every transaction has, in the WSDL's order, around `own`. */
  private summaryOf(t: Txn, own: Record<string, unknown>): Record<string, unknown> {
    const s: Record<string, unknown> = {
      // The customer's account (a sundry bank transaction has none: 0).
      AccountID: this.customers.get(t.customer)?.AccountID ?? '0',
      AccountCode: own.AccountCode,
      Ledger: own.Ledger,
      TransactionType: t.type,
      TransactionID: String(t.id),
      IsBatchInvoiceOrNote: own.IsBatchInvoiceOrNote,
      InvoiceID: '0',
      InternalNumber: t.number,
      ExternalReference: t.reference,
      ControlAmount: own.ControlAmount,
      OutstandingAmount: own.OutstandingAmount,
      ControlBCAmount: own.ControlAmount,
      TransactionDate: `${t.date}T00:00:00`,
      FinancialYear: t.date.slice(0, 4),
      PeriodNumber: String(Number(t.date.slice(5, 7))),
      CreationDate: `${t.date}T00:00:00`,
      LineDetails: own.LineDetails,
      CurrencyCode: t.currency,
      PeriodDate: `${t.date.slice(0, 7)}-01T00:00:00`,
      TransactionBankGLAccountNumber: own.TransactionBankGLAccountNumber,
      IsReversed: String(t.reversed === true),
      IsInDispute: 'false',
      NumberOfAttachments: '0',
      ...(t.dueDate ? { DueDate: `${t.dueDate}T00:00:00` } : {}),
    };
    for (const k of Object.keys(s)) if (s[k] === undefined) delete s[k];
    return s;
  }

  /**
   * A sundry bank transaction as WSTransactionSummary: no account, its lines the bank's and the GL
   * account's, each with the transaction's description; a bank payment credits the bank
   * (negative), a receipt debits it.
   */
  private bankSummary(t: Txn): Record<string, unknown> {
    const signed = t.reversalOf === undefined ? t.gross : t.gross.neg();
    const bank = t.type === 'BankPayment' ? signed.neg() : signed;
    return this.summaryOf(t, {
      Ledger: 'Bank',
      IsBatchInvoiceOrNote: 'false',
      ControlAmount: '0.00',
      OutstandingAmount: '0.00',
      LineDetails: {
        WSTransactionDetail: [
          this.line(t, { GLAccountCode: t.bank!, Amount: bank.toFixed(2) }),
          this.line(t, {
            GLAccountCode: t.gl!,
            Amount: bank.neg().toFixed(2),
            ...(t.taxCode ? { TaxID: t.taxCode } : {}),
          }),
        ],
      },
      TransactionBankGLAccountNumber: t.bank,
    });
  }

  /**
   * GetCustomerBalanceInformation: a customer's AccountBalanceInformation at `edt`, elements in the
   * WSDL's order. Balance is the sum of its transactions dated up to then, each signed as its
   * control line is (invoices and debit journals owed, credit notes and receipts owed back,
   * allocated or not); a reversed transaction and its reversal both count, so that they cancel
   * from the reversal's date. In the account's currency; CreditLeft and OverCreditLimitBalance
   * against its CreditLimit (0: none).
   */
  balanceInformation(code: string, edt: string): Record<string, string> | null {
    const c = this.customers.get(code);
    if (!c) return null;
    const day = edt.slice(0, 10);
    let balance = new Dec(0);
    for (const t of this.transactions.values()) {
      if (t.customer !== code || t.type === 'BankPayment' || t.type === 'BankReceipt' || t.date > day) continue;
      const sign = (DEBITS.includes(t.type) ? 1 : -1) * (t.reversalOf === undefined ? 1 : -1);
      balance = balance.add(t.gross.mul(sign));
    }
    const limit = new Dec(c.CreditLimit || '0');
    const zero = new Dec(0);
    return {
      AccountID: c.AccountID ?? '0',
      AccountCode: code,
      AccountType: 'Customer',
      Balance: balance.toFixed(2),
      CreditLimit: limit.toFixed(2),
      CreditLeft: (limit.gt(0) ? Dec.max(zero, limit.sub(balance)) : zero).toFixed(2),
      OverCreditLimitBalance: (limit.gt(0) ? Dec.max(zero, balance.sub(limit)) : zero).toFixed(2),
      CurrencyCode: c.CurrencyCode ?? this.currency,
    };
  }

  /** GetAllocationsByTransactionId: the transaction's allocations, each naming the other side. */
  allocationsOf(id: number): Record<string, unknown>[] {
    const t = this.transactions.get(id);
    if (!t) return [];
    const entries = this.allocations
      .filter((a) => a.debit === id || a.credit === id)
      .map((a) => {
        const other = this.transactions.get(a.debit === id ? a.credit : a.debit)!;
        return {
          AllocatedToTransactionID: String(other.id),
          AllocatedToTransactionType: other.type,
          AllocatedToInternalNumber: other.number,
          AllocatedToExternalReference: other.reference,
          AllocationAmount: a.amount.toFixed(2),
          AllocationDate: `${a.date}T00:00:00`,
          AllocationId: String(a.id),
          AllocationCreationDate: `${a.date}T00:00:00`,
          AllocatedToTransactionDate: `${other.date}T00:00:00`,
          AllocationNumber: String(a.id),
        };
      });
    // WSAllocationTransactionDTO and WSAllocationEntryDTO: what the WSDL requires, in its order.
    return [
      {
        TransactionID: String(t.id),
        TransactionType: t.type,
        InternalNumber: t.number,
        ExternalReference: t.reference,
        AllocationEntries: { WSAllocationEntryDTO: entries },
        AccountID: '0',
        AccountCode: t.customer,
      },
    ];
  }
}
