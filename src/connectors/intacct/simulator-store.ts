import { formatAmount, parseAmount } from '../../domain/money.ts';

/*
 * The books of one simulated Intacct company: customers, its GL accounts, bank service charges
 * (BANKFEE, payment providers' fees), AR records (invoices, credit adjustments, received payments) numbered from one RECORDNO sequence as Intacct's PRRECORD is,
 * and the payment details that apply payments and credits to invoices. Each function the
 * simulator takes is carried out here against these books, refusing what Intacct refuses in its
 * own error format (errorno, description, description2).
 */

export type Row = Record<string, string>;

export interface SimError {
  errorno: string;
  description: string;
  description2: string;
  correction: string;
}

/** A refusal in Intacct's words; the function's result is `failure` and nothing is kept. */
export class IntacctRefusal extends Error {
  constructor(
    readonly errorno: string,
    readonly description2: string,
    readonly description = '',
  ) {
    super(description2);
  }
  toError(): SimError {
    return { errorno: this.errorno, description: this.description, description2: this.description2, correction: '' };
  }
}

/** A GL account as GLACCOUNT holds it (those of `glAccounts` without one are active income-statement accounts titled by their number). */
export interface GlAccount {
  ACCOUNTNO: string;
  TITLE: string;
  /** `incomestatement` or `balancesheet`. */
  ACCOUNTTYPE: string;
  /** `debit` (assets, expenses) or `credit`. */
  NORMALBALANCE: string;
  STATUS: 'active' | 'inactive';
}

export interface CompanyOptions {
  currency: string;
  /** GL accounts that exist (lines naming another are refused). */
  glAccounts: string[];
  /** GL accounts with their title, type and normal balance, beside `glAccounts`. */
  chart?: GlAccount[] | undefined;
  /** Checking accounts (FINANCIALENTITY) payments may be deposited to. */
  bankAccounts: string[];
}

export interface ArRecord {
  kind: 'invoice' | 'adjustment' | 'payment';
  RECORDNO: string;
  RECORDID: string;
  DOCNUMBER: string;
  CUSTOMERID: string;
  /** ISO dates. */
  date: string;
  due: string;
  /** Signed minor units: an invoice positive, a credit adjustment negative, a payment positive. */
  total: bigint;
  /** What is still open: owed on an invoice (positive), unapplied credit (negative). */
  open: bigint;
  lines: number;
  description: string;
  /**
   * Set once a person reverses it: `Reversed` on the original (kept, out of the books), `Reversal`
   * on the transaction that zeroes it out.
   */
  state?: 'Reversed' | 'Reversal' | undefined;
}

/** A bank interest or service charge (Cash Management, BANKFEE) and its lines. */
export interface BankFee {
  RECORDNO: string;
  RECORDID: string;
  FINANCIALENTITY: string;
  TRANSACTIONTYPE: string;
  date: string;
  DESCRIPTION: string;
  lines: { RECORDNO: string; GLACCOUNTNO: string; amount: bigint; CUSTOMERID: string; DESCRIPTION: string }[];
}

export interface Detail {
  RECORDNO: string;
  PAYMENTKEY: string;
  RECORDKEY: string;
  amount: bigint;
  date: string;
}

type El = Record<string, unknown>;
const el = (v: unknown): El => (v && typeof v === 'object' && !Array.isArray(v) ? (v as El) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export class Company {
  readonly customers = new Map<string, Row>();
  readonly items = new Map<string, Row>();
  readonly records = new Map<string, ArRecord>();
  readonly details: Detail[] = [];
  readonly bankFees = new Map<string, BankFee>();
  /** Control ids of writes committed with uniqueid true. */
  readonly usedControlIds = new Set<string>();
  /** Transactions dated on or before this ISO date are in a closed period. */
  closedThrough = '';
  #invoiceNo = 1000;

  constructor(
    readonly id: string,
    readonly options: CompanyOptions,
    private readonly nextKey: () => string,
  ) {}

  private money(text: string, what: string): bigint {
    const p = parseAmount(text.trim(), this.options.currency);
    if (!p.ok) throw new IntacctRefusal('BL01001973', `${what}: "${text}" is not a valid amount.`);
    return p.value;
  }

  private fmt = (m: bigint) => formatAmount(m, this.options.currency);

  private legacyDate(v: unknown, what: string): string {
    const d = el(v);
    const iso = `${str(d.year)}-${str(d.month)}-${str(d.day)}`;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(iso) || Number.isNaN(Date.parse(iso)))
      throw new IntacctRefusal('BL01001973', `${what} is not a valid date.`);
    return iso;
  }

  private usDate(v: unknown, what: string): string {
    const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(str(v));
    if (!m) throw new IntacctRefusal('BL01001973', `${what} must be in the format mm/dd/yyyy.`);
    return `${m[3]}-${m[1]}-${m[2]}`;
  }

  private open(date: string): void {
    if (this.closedThrough && date <= this.closedThrough)
      throw new IntacctRefusal(
        'BL03000018',
        `Your transaction date (${date}) is within a period that's been closed. You can add, modify, or delete a transaction only if the date of that transaction is within a period that's open.`,
      );
  }

  private customer(id: string): Row {
    const c = this.customers.get(id);
    if (!c) throw new IntacctRefusal('BL01001973', `Invalid Customer ${id} specified.`);
    return c;
  }

  private account(no: string): void {
    if (!this.options.glAccounts.includes(no) && !this.options.chart?.some((a) => a.ACCOUNTNO === no))
      throw new IntacctRefusal('BL01001973', `Invalid GL Account ${no} specified.`);
  }

  /** The chart as GLACCOUNT answers it. */
  glAccounts(): GlAccount[] {
    const chart = this.options.chart ?? [];
    return [
      ...this.options.glAccounts
        .filter((no) => !chart.some((a) => a.ACCOUNTNO === no))
        .map((no): GlAccount => ({
          ACCOUNTNO: no,
          TITLE: no,
          ACCOUNTTYPE: 'incomestatement',
          NORMALBALANCE: 'credit',
          STATUS: 'active',
        })),
      ...chart,
    ];
  }

  /**
   * create BANKFEE: a service charge (or interest earned) on a checking account, its lines on
   * active GL accounts, each with a positive amount and, optionally, a customer (a dimension).
   * The TRANSACTIONTYPE values and the messages are *(unverified)*.
   */
  createBankFee(f: El): BankFee {
    const bank = str(f.FINANCIALENTITY);
    if (!this.options.bankAccounts.includes(bank))
      throw new IntacctRefusal('BL01001973', `Invalid Bank Account ${bank} specified.`);
    const type = str(f.TRANSACTIONTYPE);
    if (type !== 'Service Charge' && type !== 'Interest Earned')
      throw new IntacctRefusal('BL01001973', `Invalid Transaction Type ${type} specified.`);
    const date = this.usDate(f.WHENCREATED, 'WHENCREATED');
    this.open(date);
    const raw = list(el(f.BANKFEEENTRIES).BANKFEEENTRY);
    if (raw.length === 0) throw new IntacctRefusal('BL01001973', 'At least one line item is required.');
    const lines = raw.map((x, n) => {
      const l = el(x);
      const no = str(l.GLACCOUNTNO);
      this.account(no);
      if (this.glAccounts().find((a) => a.ACCOUNTNO === no)?.STATUS === 'inactive')
        throw new IntacctRefusal('BL01001973', `GL Account ${no} is inactive.`);
      const amount = this.money(str(l.TRX_AMOUNT), `line ${n + 1} amount`);
      if (amount <= 0n) throw new IntacctRefusal('BL01001973', `line ${n + 1}: the amount must be greater than zero.`);
      const customer = str(l.CUSTOMERID);
      if (customer) this.customer(customer);
      return { RECORDNO: '', GLACCOUNTNO: no, amount, CUSTOMERID: customer, DESCRIPTION: str(l.DESCRIPTION) };
    });
    const fee: BankFee = {
      RECORDNO: this.nextKey(),
      RECORDID: str(f.RECORDID),
      FINANCIALENTITY: bank,
      TRANSACTIONTYPE: type,
      date,
      DESCRIPTION: str(f.DESCRIPTION),
      lines: lines.map((l) => ({ ...l, RECORDNO: this.nextKey() })),
    };
    this.bankFees.set(fee.RECORDNO, fee);
    return fee;
  }

  private lineTotal(items: unknown[]): bigint {
    if (items.length === 0) throw new IntacctRefusal('BL01001973', 'At least one line item is required.');
    let total = 0n;
    for (const [n, raw] of items.entries()) {
      const l = el(raw);
      this.account(str(l.glaccountno));
      if (l.itemid !== undefined && !this.items.has(str(l.itemid)))
        throw new IntacctRefusal('BL01001973', `Invalid Item ${str(l.itemid)} specified.`);
      total += this.money(str(l.amount), `line ${n + 1} amount`);
    }
    return total;
  }

  /** create CUSTOMER / update CUSTOMER. */
  upsertCustomer(fields: El, create: boolean): Row {
    const id = str(fields.CUSTOMERID);
    const contact = el(fields.DISPLAYCONTACT);
    if (create) {
      if (!id || this.customers.has(id))
        throw new IntacctRefusal('BL01001973', `Another Customer with the given value(s) ${id} already exists.`);
      if (!str(fields.NAME)) throw new IntacctRefusal('BL01001973', 'Customer name is required.');
    } else if (!this.customers.has(id)) throw new IntacctRefusal('BL01001973', `Invalid Customer ${id} specified.`);
    const row: Row = this.customers.get(id) ?? { RECORDNO: this.nextKey(), CUSTOMERID: id, STATUS: 'active' };
    if (fields.NAME !== undefined) row.NAME = str(fields.NAME);
    if (contact.EMAIL1 !== undefined) row['DISPLAYCONTACT.EMAIL1'] = str(contact.EMAIL1);
    if (contact.PHONE1 !== undefined) row['DISPLAYCONTACT.PHONE1'] = str(contact.PHONE1);
    this.customers.set(id, row);
    return row;
  }

  /** create ITEM / update ITEM. */
  upsertItem(fields: El, create: boolean): Row {
    const id = str(fields.ITEMID);
    if (create) {
      if (!id || this.items.has(id))
        throw new IntacctRefusal('BL01001973', `Another Item with the given value(s) ${id} already exists.`);
      if (!str(fields.NAME) || !str(fields.ITEMTYPE))
        throw new IntacctRefusal('BL01001973', 'Item name and type are required.');
    } else if (!this.items.has(id)) throw new IntacctRefusal('BL01001973', `Invalid Item ${id} specified.`);
    const row: Row = this.items.get(id) ?? { RECORDNO: this.nextKey(), ITEMID: id, STATUS: 'active' };
    if (fields.NAME !== undefined) row.NAME = str(fields.NAME);
    if (fields.ITEMTYPE !== undefined) row.ITEMTYPE = str(fields.ITEMTYPE);
    this.items.set(id, row);
    return row;
  }

  private add(r: Omit<ArRecord, 'RECORDNO'>): ArRecord {
    const rec = { ...r, RECORDNO: this.nextKey() };
    this.records.set(rec.RECORDNO, rec);
    return rec;
  }

  /**
   * An invoice or credit adjustment reversed as a person reverses it in Intacct (Accounts
   * Receivable > Invoices > Reverse, with AR configured to reverse unpaid invoices rather than
   * delete them): the original kept in STATE Reversed with nothing left open, and a second
   * transaction in STATE Reversal, dated `date`, its total the original's negated. Only an unpaid
   * one here (a paid one has its payments reversed first) *(unverified wording)*.
   */
  reverse(recordNo: string, date: string): ArRecord {
    const r = this.records.get(recordNo);
    if (!r || r.kind === 'payment' || r.state)
      throw new IntacctRefusal('BL01001973', `Record ${recordNo} cannot be reversed.`);
    if (r.open !== r.total)
      throw new IntacctRefusal('BL01001973', `Reverse the payments applied to record ${r.RECORDID} first.`);
    this.open(date);
    r.state = 'Reversed';
    r.open = 0n;
    return this.add({
      ...r,
      date,
      due: date,
      total: -r.total,
      open: 0n,
      description: `Reversal of ${r.RECORDID}`,
      state: 'Reversal',
    });
  }

  /** create_invoice: numbered by the company's document sequence (RECORDID). */
  createInvoice(f: El): ArRecord {
    this.customer(str(f.customerid));
    const date = this.legacyDate(f.datecreated, 'Date created');
    const due = f.datedue === undefined ? date : this.legacyDate(f.datedue, 'Date due');
    this.open(date);
    if (due < date) throw new IntacctRefusal('BL01001973', 'Date Due cannot be earlier than date of transaction.');
    const items = list(el(f.invoiceitems).lineitem);
    const total = this.lineTotal(items);
    return this.add({
      kind: 'invoice',
      RECORDID: `INV-${++this.#invoiceNo}`,
      DOCNUMBER: str(f.ponumber),
      CUSTOMERID: str(f.customerid),
      date,
      due,
      total,
      open: total,
      lines: items.length,
      description: str(f.description),
    });
  }

  /** create_aradjustment: a credit adjustment carries negative amounts. */
  createAdjustment(f: El): ArRecord {
    this.customer(str(f.customerid));
    const date = this.legacyDate(f.datecreated, 'Date created');
    this.open(date);
    const no = str(f.adjustmentno);
    if (no && [...this.records.values()].some((r) => r.kind === 'adjustment' && r.RECORDID === no))
      throw new IntacctRefusal('BL01001973', `Adjustment number ${no} already exists.`);
    const items = list(el(f.aradjustmentitems).lineitem);
    const total = this.lineTotal(items);
    return this.add({
      kind: 'adjustment',
      RECORDID: no,
      DOCNUMBER: str(f.invoiceno),
      CUSTOMERID: str(f.customerid),
      date,
      due: date,
      total,
      open: total,
      lines: items.length,
      description: str(f.description),
    });
  }

  private invoiceOf(key: string, customerId: string): ArRecord {
    const inv = this.records.get(key);
    if (!inv || inv.kind !== 'invoice' || inv.CUSTOMERID !== customerId)
      throw new IntacctRefusal('BL01001973', `Invalid invoice record ${key} for customer ${customerId}.`);
    return inv;
  }

  /** create ARPYMT: applied line by line to the invoices its details name; it creates no advance. */
  createPayment(f: El): ArRecord {
    const customerId = str(f.CUSTOMERID);
    this.customer(customerId);
    const bank = str(f.FINANCIALENTITY);
    if (bank && !this.options.bankAccounts.includes(bank))
      throw new IntacctRefusal('BL01001973', `Invalid bank account ${bank} specified.`);
    const date = this.usDate(f.PAYMENTDATE ?? f.RECEIPTDATE, 'Payment date');
    this.open(date);
    const details = list(el(f.ARPYMTDETAILS).ARPYMTDETAIL).map((raw) => {
      const d = el(raw);
      const amount = this.money(str(d.TRX_PAYMENTAMOUNT), 'Payment amount');
      const inv = this.invoiceOf(str(d.RECORDKEY), customerId);
      if (amount <= 0n || amount > inv.open)
        throw new IntacctRefusal(
          'BL01001973',
          `The payment amount ${this.fmt(amount)} exceeds the amount due ${this.fmt(inv.open)} for invoice ${inv.RECORDID}.`,
        );
      return { inv, amount };
    });
    if (details.length === 0)
      throw new IntacctRefusal('BL01001973', 'A payment must be applied to at least one record.');
    const total = details.reduce((s, d) => s + d.amount, 0n);
    const pay = this.add({
      kind: 'payment',
      RECORDID: '',
      DOCNUMBER: str(f.DOCNUMBER),
      CUSTOMERID: customerId,
      date,
      due: date,
      total,
      open: 0n,
      lines: details.length,
      description: str(f.DESCRIPTION),
    });
    for (const d of details) this.applyTo(pay.RECORDNO, d.inv, d.amount, date);
    return pay;
  }

  /** create_arpayment (legacy): what is not applied stays on the payment, to apply later. */
  createLegacyPayment(f: El): ArRecord {
    const customerId = str(f.customerid);
    this.customer(customerId);
    const bank = str(f.bankaccountid);
    if (bank && !this.options.bankAccounts.includes(bank))
      throw new IntacctRefusal('BL01001973', `Invalid bank account ${bank} specified.`);
    const date = this.legacyDate(f.datereceived, 'Date received');
    this.open(date);
    const total = this.money(str(f.paymentamount), 'Payment amount');
    const items = list(f.arpaymentitem).map((raw) => {
      const i = el(raw);
      return { inv: this.invoiceOf(str(i.invoicekey), customerId), amount: this.money(str(i.amount), 'Amount') };
    });
    const applied = items.reduce((s, i) => s + i.amount, 0n);
    if (total <= 0n || applied > total || items.some((i) => i.amount <= 0n || i.amount > i.inv.open))
      throw new IntacctRefusal('BL01001973', 'The amounts applied exceed the payment or the amounts due.');
    const pay = this.add({
      kind: 'payment',
      RECORDID: '',
      DOCNUMBER: str(f.refid),
      CUSTOMERID: customerId,
      date,
      due: date,
      total,
      open: total - applied,
      lines: items.length,
      description: '',
    });
    for (const i of items) this.applyTo(pay.RECORDNO, i.inv, i.amount, date);
    return pay;
  }

  private applyTo(from: string, inv: ArRecord, amount: bigint, date: string): void {
    inv.open -= amount;
    this.details.push({ RECORDNO: this.nextKey(), PAYMENTKEY: from, RECORDKEY: inv.RECORDNO, amount, date });
  }

  /** apply_arpayment: a credit adjustment (or what a payment has left) set against invoices. */
  applyPayment(f: El): void {
    const from = this.records.get(str(f.arpaymentkey));
    if (!from || from.kind === 'invoice')
      throw new IntacctRefusal('BL01001973', `Invalid payment key ${str(f.arpaymentkey)}.`);
    const date = this.legacyDate(f.paymentdate, 'Payment date');
    this.open(date);
    const items = list(el(f.arpaymentitems).arpaymentitem).map((raw) => {
      const i = el(raw);
      return { inv: this.invoiceOf(str(i.invoicekey), from.CUSTOMERID), amount: this.money(str(i.amount), 'Amount') };
    });
    let left = from.open < 0n ? -from.open : from.open;
    for (const i of items) {
      if (i.amount <= 0n || i.amount > i.inv.open || i.amount > left)
        throw new IntacctRefusal(
          'BL01001973',
          `Cannot apply ${this.fmt(i.amount)}: ${this.fmt(left)} is available and ${this.fmt(i.inv.open)} is due on invoice ${i.inv.RECORDID}.`,
        );
      left -= i.amount;
    }
    for (const i of items) {
      this.applyTo(from.RECORDNO, i.inv, i.amount, date);
      from.open += from.open < 0n ? i.amount : -i.amount;
    }
  }

  private us = (iso: string) => `${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.slice(0, 4)}`;

  /** The rows of an object, as readByQuery answers them. */
  rows(object: string): Row[] | null {
    const ar = (kind: ArRecord['kind']) => [...this.records.values()].filter((r) => r.kind === kind);
    const base = (r: ArRecord): Row => ({
      RECORDNO: r.RECORDNO,
      RECORDID: r.RECORDID,
      DOCNUMBER: r.DOCNUMBER,
      CUSTOMERID: r.CUSTOMERID,
      CUSTOMERNAME: this.customers.get(r.CUSTOMERID)?.NAME ?? '',
      CURRENCY: this.options.currency,
      TOTALENTERED: this.fmt(r.total),
      TOTALDUE: this.fmt(r.open),
      TOTALPAID: this.fmt(r.total - r.open),
      DESCRIPTION: r.description,
      STATE: r.state ?? (r.open === 0n ? 'Paid' : 'Posted'),
    });
    switch (object) {
      case 'CUSTOMER':
        return [...this.customers.values()];
      case 'ITEM':
        return [...this.items.values()];
      case 'ARINVOICE':
        return ar('invoice').map((r) => ({ ...base(r), WHENCREATED: this.us(r.date), WHENDUE: this.us(r.due) }));
      case 'ARADJUSTMENT':
        return ar('adjustment').map((r) => ({ ...base(r), WHENCREATED: this.us(r.date) }));
      case 'ARPYMT':
        return ar('payment').map((r) => ({ ...base(r), PAYMENTDATE: this.us(r.date), RECEIPTDATE: this.us(r.date) }));
      case 'GLACCOUNT':
        return this.glAccounts().map((a) => ({ ...a }));
      case 'BANKFEE':
        return [...this.bankFees.values()].map((f) => ({
          RECORDNO: f.RECORDNO,
          RECORDID: f.RECORDID,
          FINANCIALENTITY: f.FINANCIALENTITY,
          TRANSACTIONTYPE: f.TRANSACTIONTYPE,
          WHENCREATED: this.us(f.date),
          DESCRIPTION: f.DESCRIPTION,
          CURRENCY: this.options.currency,
          TRX_TOTALENTERED: this.fmt(f.lines.reduce((x, l) => x + l.amount, 0n)),
        }));
      case 'BANKFEEENTRY':
        return [...this.bankFees.values()].flatMap((f) =>
          f.lines.map((l) => ({
            RECORDNO: l.RECORDNO,
            RECORDKEY: f.RECORDNO,
            GLACCOUNTNO: l.GLACCOUNTNO,
            TRX_AMOUNT: this.fmt(l.amount),
            CUSTOMERID: l.CUSTOMERID,
            DESCRIPTION: l.DESCRIPTION,
          })),
        );
      case 'ARPYMTDETAIL':
        return this.details.map((d) => ({
          RECORDNO: d.RECORDNO,
          PAYMENTKEY: d.PAYMENTKEY,
          RECORDKEY: d.RECORDKEY,
          TRX_PAYMENTAMOUNT: this.fmt(d.amount),
          PAYMENTDATE: this.us(d.date),
        }));
      default:
        return null;
    }
  }
}
