import { randomUUID } from 'node:crypto';
import { LosslessNumber } from 'lossless-json';
import { Dec, formatAmount, multiplyAmount, parseAmount } from '../../domain/money.ts';

/*
 * The simulated MYOB company file: customer cards, items, tax codes, accounts (each with its
 * classification, type and default tax code), Service-layout sales (numbered 00000001, a negative
 * one being a customer credit; its `Date` keeps a time of day sent with it, as one keyed in
 * AccountRight may carry), customer payments, credit settlements and spend money, with
 * balances kept as MYOB keeps them: a sale's BalanceDueAmount goes down by what payments apply and
 * up (towards zero) for a credit by what settlements take. Amounts are minor units inside and exact
 * JSON numbers outside. Refusals are MyobRefusal values in MYOB's body, `{"Errors": [{Name,
 * Message, AdditionalDetails, ErrorCode, Severity}]}`.
 */

export class MyobRefusal extends Error {
  constructor(
    readonly status: number,
    readonly errorName: string,
    message: string,
    readonly errorCode: number | null = null,
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;
export interface Card {
  UID: string;
  RowVersion: string;
  code: string;
  name: string;
  fields: Obj;
}
export interface SaleLine {
  description: string;
  total: bigint;
  tax: bigint;
  accountUid: string;
  taxUid: string;
}
export interface Sale {
  UID: string;
  Number: string;
  Date: string;
  /** The time of day its `Date` carries ("13:33:02"), as a sale keyed in AccountRight may: midnight unless sent. */
  time: string;
  customerUid: string;
  reference: string;
  memo: string;
  /** Days after the sale's date the balance is due (Terms.BalanceDueDate), null for the customer's terms. */
  dueDays: number | null;
  lines: SaleLine[];
  total: bigint;
  balance: bigint;
}
export interface Payment {
  UID: string;
  ReceiptNumber: string;
  customerUid: string;
  memo: string;
  Date: string;
  amount: bigint;
  accountUid: string;
  invoices: { uid: string; amount: bigint }[];
}
/** A spend money transaction (Banking/SpendMoneyTxn): money paid out of a bank account to the lines' accounts. */
export interface SpendMoney {
  UID: string;
  PaymentNumber: string;
  Date: string;
  /** The account it is paid from (PayFrom: Account). */
  accountUid: string;
  contactUid: string | null;
  memo: string;
  isTaxInclusive: boolean;
  lines: { accountUid: string; taxUid: string; amount: bigint; tax: bigint; memo: string }[];
  /** What left the bank (AmountPaid). */
  total: bigint;
}
export interface Settlement {
  UID: string;
  creditUid: string;
  customerUid: string;
  Date: string;
  lines: { saleUid: string; amount: bigint }[];
}

/** A customer credit paid out to the customer (Sale/CreditRefund): the credit's balance goes towards zero. */
export interface CreditRefund {
  UID: string;
  Number: string;
  creditUid: string;
  customerUid: string;
  accountUid: string;
  Date: string;
  amount: bigint;
  memo: string;
}

/** An account of the chart: its name, and where MYOB's defaults are not what is wanted, its type and default tax code. */
export interface AccountOptions {
  name: string;
  /** MYOB's AccountType (Bank, Expense, CreditCard…); by default from the classification (and a name with "bank"). */
  type?: string | undefined;
  /** The Code of its default tax code; none by default. */
  taxCode?: string | undefined;
  isHeader?: boolean | undefined;
  isActive?: boolean | undefined;
}
export interface Account {
  UID: string;
  DisplayID: string;
  Name: string;
  Classification: string;
  Type: string;
  IsHeader: boolean;
  IsActive: boolean;
  taxUid: string | null;
}

/** MYOB's classification of an account, from the first digit of its DisplayID (the SDK's `Classification`). */
const CLASSIFICATION: Record<string, string> = {
  '1': 'Asset',
  '2': 'Liability',
  '3': 'Equity',
  '4': 'Income',
  '5': 'CostOfSales',
  '6': 'Expense',
  '8': 'OtherIncome',
  '9': 'OtherExpense',
};
const DEFAULT_TYPE: Record<string, string> = {
  Asset: 'OtherCurrentAsset',
  Liability: 'OtherCurrentLiability',
  Equity: 'Equity',
  Income: 'Income',
  CostOfSales: 'CostOfSales',
  Expense: 'Expense',
  OtherIncome: 'OtherIncome',
  OtherExpense: 'OtherExpense',
};

export interface CompanyOptions {
  currency?: string | undefined;
  /** Code → rate in percent ("10"). */
  taxCodes?: Record<string, string> | undefined;
  /** DisplayID → name (or the account's options). Default: Sales, a bank account and Bank Fees (tax code FRE). */
  accounts?: Record<string, string | AccountOptions> | undefined;
  /** Company file credentials (AccountRight): every call must carry them in x-myobapi-cftoken. */
  credentials?: { user: string; password: string } | undefined;
}

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v instanceof LosslessNumber ? v.value : typeof v === 'number' ? String(v) : '';
const uidOf = (v: unknown): string => str((v as Obj | null | undefined)?.UID);

export class CompanyFile {
  readonly currency: string;
  readonly taxCodes: { UID: string; Code: string; Rate: string }[];
  readonly accounts: Account[];
  readonly customers = new Map<string, Card>();
  readonly items = new Map<string, Card>();
  readonly sales = new Map<string, Sale>();
  readonly payments = new Map<string, Payment>();
  readonly settlements = new Map<string, Settlement>();
  readonly refunds = new Map<string, CreditRefund>();
  readonly spendMoney = new Map<string, SpendMoney>();
  /** Sales dated before it are refused (the start of the financial year). */
  financialYearStart = '2000-07-01';
  #saleSeq = 0;
  #receiptSeq = 0;
  #spendSeq = 0;
  #refundSeq = 0;
  #row = 0;

  constructor(
    readonly id: string,
    readonly options: CompanyOptions = {},
  ) {
    this.currency = options.currency ?? 'AUD';
    this.taxCodes = Object.entries(options.taxCodes ?? { GST: '10', FRE: '0' }).map(([Code, Rate]) => ({
      UID: randomUUID(),
      Code,
      Rate,
    }));
    const chart = options.accounts ?? {
      '4-1000': 'Sales',
      '1-1110': 'Business Bank Account',
      '6-1100': { name: 'Bank Fees', taxCode: 'FRE' },
    };
    this.accounts = Object.entries(chart).map(([DisplayID, o]) => {
      const a = typeof o === 'string' ? { name: o } : o;
      const classification = CLASSIFICATION[DisplayID.charAt(0)] ?? 'Asset';
      const bank = classification === 'Asset' && /\bbank\b/i.test(a.name);
      return {
        UID: randomUUID(),
        DisplayID,
        Name: a.name,
        Classification: classification,
        Type: a.type ?? (bank ? 'Bank' : DEFAULT_TYPE[classification]!),
        IsHeader: a.isHeader ?? false,
        IsActive: a.isActive ?? true,
        taxUid: this.taxCodes.find((t) => t.Code === a.taxCode)?.UID ?? null,
      };
    });
  }

  private amount(v: unknown, field: string): bigint {
    const parsed = parseAmount(str(v), this.currency);
    if (!parsed.ok) throw new MyobRefusal(400, 'SerializationError', `Error converting value for ${field}`, 50);
    return parsed.value;
  }

  private required(body: Obj, field: string): void {
    if (body[field] === undefined || body[field] === null || body[field] === '')
      throw new MyobRefusal(400, 'Required', `${field} is required`, 100);
  }

  private ref<T>(map: Map<string, T>, v: unknown, what: string): T {
    const found = map.get(uidOf(v));
    if (!found) throw new MyobRefusal(400, 'NotFound', `${what} not found`, 150);
    return found;
  }

  private date(v: unknown): string {
    const d = str(v).slice(0, 10);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(d)) throw new MyobRefusal(400, 'Required', 'Date is required', 100);
    if (d < this.financialYearStart)
      throw new MyobRefusal(
        400,
        'DatePriorToBeginningOfFinancialYear',
        'Date cannot be prior to the beginning of the financial year',
        25008,
      );
    return d;
  }

  /** Creates or updates (PUT, with its RowVersion) a customer card or an item; codes are unique. */
  upsertCard(kind: 'customer' | 'item', uid: string | null, body: Obj): Card {
    const map = kind === 'customer' ? this.customers : this.items;
    const [codeKey, nameKey] = kind === 'customer' ? ['DisplayID', 'CompanyName'] : ['Number', 'Name'];
    this.required(body, nameKey);
    const current = uid ? map.get(uid) : undefined;
    if (uid && !current) throw new MyobRefusal(404, 'NotFound', `${kind} not found`, 150);
    if (current && str(body.RowVersion) !== current.RowVersion)
      throw new MyobRefusal(409, 'ConcurrencyError', 'The record has been changed by another user (RowVersion)', 199);
    const code = str(body[codeKey]) || current?.code || '';
    if (code.length > (kind === 'customer' ? 15 : 30))
      throw new MyobRefusal(400, 'ValidationError', `${codeKey} is too long`, 101);
    if (code && [...map.values()].some((c) => c.code === code && c.UID !== uid))
      throw new MyobRefusal(400, 'DuplicateDisplayID', `${codeKey} ${code} is already used`, 4101);
    const card: Card = current ?? { UID: randomUUID(), RowVersion: '', code, name: '', fields: {} };
    card.code = code;
    card.name = str(body[nameKey]);
    card.fields = { ...body };
    card.RowVersion = String(++this.#row * 7919);
    map.set(card.UID, card);
    return card;
  }

  cardView(kind: 'customer' | 'item', c: Card): Obj {
    const [codeKey, nameKey] = kind === 'customer' ? ['DisplayID', 'CompanyName'] : ['Number', 'Name'];
    return { ...c.fields, UID: c.UID, [codeKey]: c.code, [nameKey]: c.name, RowVersion: c.RowVersion };
  }

  createSale(body: Obj): Sale {
    this.required(body, 'Customer');
    this.required(body, 'Lines');
    const customer = this.ref(this.customers, body.Customer, 'Customer');
    const date = this.date(body.Date);
    const time = /^\d{4}-\d{2}-\d{2}[T ](\d{2}:\d{2}:\d{2})$/.exec(str(body.Date))?.[1] ?? '00:00:00';
    const reference = str(body.CustomerPurchaseOrderNumber);
    if (reference.length > 20)
      throw new MyobRefusal(400, 'ValidationError', 'CustomerPurchaseOrderNumber is too long', 101);
    const raw = Array.isArray(body.Lines) ? (body.Lines as Obj[]) : [];
    if (raw.length === 0) throw new MyobRefusal(400, 'Required', 'Lines is required', 100);
    const lines = raw.map((l) => {
      const tax = this.taxCodes.find((t) => t.UID === uidOf(l.TaxCode));
      if (!tax) throw new MyobRefusal(400, 'NotFound', 'TaxCode not found', 150);
      if (!this.accounts.some((a) => a.UID === uidOf(l.Account)))
        throw new MyobRefusal(400, 'NotFound', 'Account not found', 150);
      const total = this.amount(l.Total, 'Total');
      return {
        description: str(l.Description),
        total,
        tax: multiplyAmount(total, new Dec(tax.Rate).div(100), 'halfUp'),
        accountUid: uidOf(l.Account),
        taxUid: tax.UID,
      };
    });
    const total = lines.reduce((s, l) => s + l.total + l.tax, 0n);
    const terms = body.Terms as Obj | undefined;
    if (terms && (str(terms.PaymentIsDue) !== 'InAGivenNumberOfDays' || !/^\d+$/.test(str(terms.BalanceDueDate))))
      throw new MyobRefusal(400, 'ValidationError', 'Terms are not valid', 101);
    const sale: Sale = {
      UID: randomUUID(),
      Number: String(++this.#saleSeq).padStart(8, '0'),
      Date: date,
      time,
      customerUid: customer.UID,
      reference,
      memo: str(body.JournalMemo),
      dueDays: terms ? Number(str(terms.BalanceDueDate)) : null,
      lines,
      total,
      balance: total,
    };
    this.sales.set(sale.UID, sale);
    return sale;
  }

  /**
   * Deletes a sale, as DELETE Sale/Invoice/Service/{UID} or Delete in AccountRight does: it is gone
   * (404 for its UID, out of every list). MYOB keeps no voided sale. One that payments or credit
   * settlements are applied to is refused until they are deleted *(the simulator's wording)*.
   */
  deleteSale(uid: string): void {
    const sale = this.sales.get(uid);
    if (!sale) throw new MyobRefusal(404, 'NotFound', 'The record was not found', 150);
    const paid = [...this.payments.values()].some((p) => p.invoices.some((i) => i.uid === uid));
    const settled =
      [...this.settlements.values()].some((x) => x.creditUid === uid || x.lines.some((l) => l.saleUid === uid)) ||
      [...this.refunds.values()].some((r) => r.creditUid === uid);
    if (paid || settled)
      throw new MyobRefusal(
        400,
        'ValidationError',
        'The sale cannot be deleted while payments, credits or refunds are applied to it',
        101,
      );
    this.sales.delete(uid);
  }

  createPayment(body: Obj): Payment {
    for (const f of ['DepositTo', 'Customer', 'AmountReceived', 'Invoices']) this.required(body, f);
    const customer = this.ref(this.customers, body.Customer, 'Customer');
    const date = this.date(body.Date);
    if (str(body.DepositTo) !== 'Account' || !this.accounts.some((a) => a.UID === uidOf(body.Account)))
      throw new MyobRefusal(400, 'NotFound', 'Account not found', 150);
    const amount = this.amount(body.AmountReceived, 'AmountReceived');
    const wanted = (body.Invoices as Obj[]).map((i) => ({
      sale: this.ref(this.sales, i, 'Invoice'),
      amount: this.amount(i.AmountApplied, 'AmountApplied'),
    }));
    for (const w of wanted) {
      if (w.sale.customerUid !== customer.UID)
        throw new MyobRefusal(400, 'ValidationError', 'The invoice does not belong to this customer', 101);
      if (w.amount <= 0n || w.amount > w.sale.balance)
        throw new MyobRefusal(400, 'AmountAppliedExceedsBalance', 'Amount applied exceeds the balance due', 4201);
    }
    if (wanted.reduce((s, w) => s + w.amount, 0n) !== amount)
      throw new MyobRefusal(
        400,
        'AmountReceivedMismatch',
        'AmountReceived must equal the total of AmountApplied',
        4202,
      );
    for (const w of wanted) w.sale.balance -= w.amount;
    const p: Payment = {
      UID: randomUUID(),
      ReceiptNumber: `CR${String(++this.#receiptSeq).padStart(6, '0')}`,
      customerUid: customer.UID,
      memo: str(body.Memo),
      Date: date,
      amount,
      accountUid: uidOf(body.Account),
      invoices: wanted.map((w) => ({ uid: w.sale.UID, amount: w.amount })),
    };
    this.payments.set(p.UID, p);
    return p;
  }

  /**
   * Deletes a customer payment, as DELETE Sale/CustomerPayment/{UID} or Delete in AccountRight
   * does: it is gone, and what it applied is owed again on its sales.
   */
  deletePayment(uid: string): void {
    const p = this.payments.get(uid);
    if (!p) throw new MyobRefusal(404, 'NotFound', 'The record was not found', 150);
    for (const i of p.invoices) {
      const sale = this.sales.get(i.uid);
      if (sale) sale.balance += i.amount;
    }
    this.payments.delete(uid);
  }

  /**
   * Pays out a customer credit (POST Sale/CreditRefund): from a bank account, at most what the
   * credit still holds, the credit's balance going towards zero by the amount.
   */
  createRefund(body: Obj): CreditRefund {
    for (const f of ['Account', 'Invoice', 'Customer', 'Date', 'Amount']) this.required(body, f);
    const credit = this.ref(this.sales, body.Invoice, 'Invoice');
    const customer = this.ref(this.customers, body.Customer, 'Customer');
    const date = this.date(body.Date);
    const account = this.accounts.find((a) => a.UID === uidOf(body.Account));
    if (!account) throw new MyobRefusal(400, 'NotFound', 'Account not found', 150);
    if (account.Type !== 'Bank' && account.Type !== 'CreditCard')
      throw new MyobRefusal(400, 'ValidationError', 'The pay from account must be a bank or credit card account', 101);
    if (credit.total >= 0n) throw new MyobRefusal(400, 'ValidationError', 'Invoice is not a credit', 101);
    if (credit.customerUid !== customer.UID)
      throw new MyobRefusal(400, 'ValidationError', 'The credit does not belong to this customer', 101);
    const amount = this.amount(body.Amount, 'Amount');
    if (amount <= 0n || amount > -credit.balance)
      throw new MyobRefusal(400, 'ValidationError', 'Amount exceeds the balance of the credit', 101);
    credit.balance += amount;
    const r: CreditRefund = {
      UID: randomUUID(),
      Number: str(body.Number) || String(++this.#refundSeq).padStart(8, '0'),
      creditUid: credit.UID,
      customerUid: customer.UID,
      accountUid: account.UID,
      Date: date,
      amount,
      memo: str(body.Memo),
    };
    this.refunds.set(r.UID, r);
    return r;
  }

  /** Deletes a credit refund: the credit holds the amount again. */
  deleteRefund(uid: string): void {
    const r = this.refunds.get(uid);
    if (!r) throw new MyobRefusal(404, 'NotFound', 'The record was not found', 150);
    const credit = this.sales.get(r.creditUid);
    if (credit) credit.balance -= r.amount;
    this.refunds.delete(uid);
  }

  createSettlement(body: Obj): Settlement {
    for (const f of ['CreditFromInvoice', 'Customer', 'Lines']) this.required(body, f);
    const credit = this.ref(this.sales, body.CreditFromInvoice, 'CreditFromInvoice');
    const customer = this.ref(this.customers, body.Customer, 'Customer');
    const date = this.date(body.Date);
    if (credit.total >= 0n) throw new MyobRefusal(400, 'ValidationError', 'CreditFromInvoice is not a credit', 101);
    const wanted = (body.Lines as Obj[]).map((l) => ({
      sale: this.ref(this.sales, l.Sale, 'Sale'),
      amount: this.amount(l.AmountApplied, 'AmountApplied'),
    }));
    const sum = wanted.reduce((s, w) => s + w.amount, 0n);
    if (this.amount(body.CreditAmount, 'CreditAmount') !== sum)
      throw new MyobRefusal(400, 'ValidationError', 'CreditAmount must equal the amounts applied', 101);
    if (sum > -credit.balance) throw new MyobRefusal(400, 'ValidationError', 'Amount applied exceeds the credit', 101);
    for (const w of wanted)
      if (w.sale.customerUid !== customer.UID || w.amount > w.sale.balance || w.amount <= 0n)
        throw new MyobRefusal(400, 'AmountAppliedExceedsBalance', 'Amount applied exceeds the balance due', 4201);
    for (const w of wanted) w.sale.balance -= w.amount;
    credit.balance += sum;
    const s: Settlement = {
      UID: randomUUID(),
      creditUid: credit.UID,
      customerUid: customer.UID,
      Date: date,
      lines: wanted.map((w) => ({ saleUid: w.sale.UID, amount: w.amount })),
    };
    this.settlements.set(s.UID, s);
    return s;
  }

  /**
   * Spend money paid from a bank (or credit card) account: each line on an account that is not a
   * header, with a tax code; amounts tax inclusive or not (the tax worked out from the code).
   */
  createSpendMoney(body: Obj): SpendMoney {
    for (const f of ['PayFrom', 'Date', 'Lines']) this.required(body, f);
    const date = this.date(body.Date);
    if (str(body.PayFrom) !== 'Account')
      throw new MyobRefusal(400, 'ValidationError', 'PayFrom must be Account for a bank account', 101);
    const from = this.accounts.find((a) => a.UID === uidOf(body.Account));
    if (!from) throw new MyobRefusal(400, 'NotFound', 'Account not found', 150);
    if (from.Type !== 'Bank' && from.Type !== 'CreditCard')
      throw new MyobRefusal(400, 'ValidationError', 'The pay from account must be a bank or credit card account', 101);
    const contact =
      body.Contact === undefined || body.Contact === null ? null : this.ref(this.customers, body.Contact, 'Contact');
    const raw = Array.isArray(body.Lines) ? (body.Lines as Obj[]) : [];
    if (raw.length === 0) throw new MyobRefusal(400, 'Required', 'Lines is required', 100);
    const inclusive = body.IsTaxInclusive === true;
    const lines = raw.map((l) => {
      const account = this.accounts.find((a) => a.UID === uidOf(l.Account));
      if (!account) throw new MyobRefusal(400, 'NotFound', 'Account not found', 150);
      if (account.IsHeader)
        throw new MyobRefusal(400, 'ValidationError', 'A header account cannot be used in a transaction', 101);
      if (l.TaxCode === undefined || l.TaxCode === null)
        throw new MyobRefusal(400, 'Required', 'TaxCode is required', 100);
      const tax = this.taxCodes.find((t) => t.UID === uidOf(l.TaxCode));
      if (!tax) throw new MyobRefusal(400, 'NotFound', 'TaxCode not found', 150);
      const amount = this.amount(l.Amount, 'Amount');
      const rate = new Dec(tax.Rate);
      return {
        accountUid: account.UID,
        taxUid: tax.UID,
        amount,
        tax: multiplyAmount(amount, inclusive ? rate.div(rate.add(100)) : rate.div(100), 'halfUp'),
        memo: str(l.Memo),
      };
    });
    const total = lines.reduce((t, l) => t + l.amount + (inclusive ? 0n : l.tax), 0n);
    if (total <= 0n) throw new MyobRefusal(400, 'ValidationError', 'The amount paid must be more than zero', 101);
    const s: SpendMoney = {
      UID: randomUUID(),
      PaymentNumber: str(body.PaymentNumber) || String(++this.#spendSeq).padStart(8, '0'),
      Date: date,
      accountUid: from.UID,
      contactUid: contact?.UID ?? null,
      memo: str(body.Memo),
      isTaxInclusive: inclusive,
      lines,
      total,
    };
    this.spendMoney.set(s.UID, s);
    return s;
  }

  private money(minor: bigint): LosslessNumber {
    return new LosslessNumber(formatAmount(minor, this.currency));
  }

  private customerRef(uid: string): Obj {
    const c = this.customers.get(uid);
    return { UID: uid, Name: c?.name ?? '', DisplayID: c?.code ?? '' };
  }

  saleView(s: Sale): Obj {
    const sub = s.lines.reduce((t, l) => t + l.total, 0n);
    return {
      UID: s.UID,
      Number: s.Number,
      Date: `${s.Date}T${s.time}`,
      CustomerPurchaseOrderNumber: s.reference,
      Customer: this.customerRef(s.customerUid),
      IsTaxInclusive: false,
      Terms: {
        PaymentIsDue: 'InAGivenNumberOfDays',
        BalanceDueDate: s.dueDays ?? 30,
        DueDate: `${new Date(Date.parse(`${s.Date}T00:00:00Z`) + (s.dueDays ?? 30) * 86_400_000).toISOString().slice(0, 10)}T00:00:00`,
      },
      Subtotal: this.money(sub),
      TotalTax: this.money(s.total - sub),
      TotalAmount: this.money(s.total),
      BalanceDueAmount: this.money(s.balance),
      Status: s.balance === 0n ? 'Closed' : s.total < 0n ? 'Credit' : 'Open',
      JournalMemo: s.memo,
      Lines: s.lines.map((l, i) => ({
        RowID: i + 1,
        Type: 'Transaction',
        Description: l.description,
        Total: this.money(l.total),
        Account: { UID: l.accountUid },
        TaxCode: { UID: l.taxUid },
      })),
    };
  }

  paymentView(p: Payment): Obj {
    return {
      UID: p.UID,
      ReceiptNumber: p.ReceiptNumber,
      DepositTo: 'Account',
      Account: { UID: p.accountUid },
      Customer: this.customerRef(p.customerUid),
      Memo: p.memo,
      Date: `${p.Date}T00:00:00`,
      AmountReceived: this.money(p.amount),
      Invoices: p.invoices.map((i) => ({
        UID: i.uid,
        Number: this.sales.get(i.uid)?.Number ?? '',
        Type: 'Invoice',
        AmountApplied: this.money(i.amount),
      })),
    };
  }

  accountView(a: Account): Obj {
    const tax = this.taxCodes.find((t) => t.UID === a.taxUid);
    return {
      UID: a.UID,
      DisplayID: a.DisplayID,
      Name: a.Name,
      Classification: a.Classification,
      Type: a.Type,
      IsHeader: a.IsHeader,
      IsActive: a.IsActive,
      TaxCode: tax ? { UID: tax.UID, Code: tax.Code } : null,
    };
  }

  private accountRef(uid: string): Obj {
    const a = this.accounts.find((x) => x.UID === uid);
    return { UID: uid, Name: a?.Name ?? '', DisplayID: a?.DisplayID ?? '' };
  }

  spendMoneyView(s: SpendMoney): Obj {
    return {
      UID: s.UID,
      PayFrom: 'Account',
      Account: this.accountRef(s.accountUid),
      Contact: s.contactUid ? { ...this.customerRef(s.contactUid), Type: 'Customer' } : null,
      PaymentNumber: s.PaymentNumber,
      Date: `${s.Date}T00:00:00`,
      AmountPaid: this.money(s.total),
      IsTaxInclusive: s.isTaxInclusive,
      TotalTax: this.money(s.lines.reduce((t, l) => t + l.tax, 0n)),
      Memo: s.memo,
      Lines: s.lines.map((l, i) => ({
        RowID: i + 1,
        Account: this.accountRef(l.accountUid),
        TaxCode: { UID: l.taxUid, Code: this.taxCodes.find((t) => t.UID === l.taxUid)?.Code ?? '' },
        Amount: this.money(l.amount),
        Memo: l.memo,
      })),
    };
  }

  refundView(r: CreditRefund): Obj {
    return {
      UID: r.UID,
      Account: this.accountRef(r.accountUid),
      Invoice: { UID: r.creditUid, Number: this.sales.get(r.creditUid)?.Number ?? '' },
      Customer: this.customerRef(r.customerUid),
      Number: r.Number,
      Date: `${r.Date}T00:00:00`,
      Amount: this.money(r.amount),
      Memo: r.memo,
      ChequePrinted: false,
      DeliveryStatus: 'Print',
    };
  }

  settlementView(s: Settlement): Obj {
    return {
      UID: s.UID,
      CreditFromInvoice: { UID: s.creditUid, Number: this.sales.get(s.creditUid)?.Number ?? '' },
      Customer: this.customerRef(s.customerUid),
      Date: `${s.Date}T00:00:00`,
      CreditAmount: this.money(s.lines.reduce((t, l) => t + l.amount, 0n)),
      Lines: s.lines.map((l) => ({ Type: 'Invoice', Sale: { UID: l.saleUid }, AmountApplied: this.money(l.amount) })),
    };
  }
}
