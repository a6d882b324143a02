import { LosslessNumber } from 'lossless-json';
import { Dec, lineAmount, multiplyAmount, parseAmount } from '../../domain/money.ts';

/*
 * The simulated NetSuite account: customers, items, tax codes, a chart of accounts, invoices,
 * credit memos, customer payments, refunds and journal entries (payment providers' fees), each with an internal id and, when written by upsert, an external id that
 * is unique per record type. An invoice's amount remaining goes down by what payments and credit
 * memos apply to it (their `apply` sublist); a credit memo's and a payment's applications never
 * exceed their own amount. Amounts are minor units inside and exact JSON numbers outside.
 * Refusals are NsRefusal values, answered in NetSuite's error body.
 */

export class NsRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;
export interface Customer {
  id: string;
  externalId: string;
  entityId: string;
  companyName: string;
  email: string;
  phone: string;
  subsidiary: string | null;
}
export interface Item {
  id: string;
  type: string;
  externalId: string;
  itemId: string;
  displayName: string;
}
export interface Line {
  item: string;
  description: string;
  quantity: string;
  rate: string;
  taxCode: string | null;
  net: bigint;
  tax: bigint;
}
export interface Txn {
  id: string;
  type: 'invoice' | 'creditMemo';
  externalId: string;
  tranId: string;
  entity: string;
  tranDate: string;
  dueDate: string | null;
  memo: string;
  lines: Line[];
  total: bigint;
  /** Credit memos: invoice id → amount applied. */
  apply: Map<string, bigint>;
  /** Voided in NetSuite (a direct void): kept, its total and lines zero (`void`). */
  voided: boolean;
}
export interface Payment {
  id: string;
  externalId: string;
  tranId: string;
  customer: string;
  payment: bigint;
  tranDate: string;
  undepFunds: boolean;
  account: string | null;
  apply: Map<string, bigint>;
}

export interface Refund {
  id: string;
  externalId: string;
  tranId: string;
  customer: string;
  tranDate: string;
  account: string | null;
  /** Payment id → amount refunded of it. */
  apply: Map<string, bigint>;
  /**
   * Voided in NetSuite: directly (its amounts zero) or by a reversing journal (its amounts kept,
   * reversed by the journal); either way its money is the payments' again.
   */
  voided: boolean;
}

/** An account of the chart (NetSuite's `account` record). */
export interface GlAccount {
  id: string;
  acctNumber: string;
  acctName: string;
  /** NetSuite's account type: Bank, AcctRec, OthCurrAsset, Income, Expense, OthExpense, … */
  acctType: string;
  isInactive: boolean;
}

/** A journal entry line: one side, an amount, optionally a name (the customer). */
export interface JournalLine {
  account: string;
  debit: bigint;
  credit: bigint;
  memo: string;
  entity: string | null;
}

export interface Journal {
  id: string;
  externalId: string;
  tranId: string;
  tranDate: string;
  memo: string;
  subsidiary: string | null;
  lines: JournalLine[];
  /** A voiding journal: the transaction it reverses ("Void Of"). */
  voidOf: string | null;
}

/** The chart a simulated account starts with, unless the test gives its own. */
export const DEFAULT_CHART: Omit<GlAccount, 'id'>[] = [
  { acctNumber: '1000', acctName: 'Checking', acctType: 'Bank', isInactive: false },
  { acctNumber: '1200', acctName: 'Undeposited Funds', acctType: 'OthCurrAsset', isInactive: false },
  { acctNumber: '1100', acctName: 'Accounts Receivable', acctType: 'AcctRec', isInactive: false },
  { acctNumber: '4000', acctName: 'Sales', acctType: 'Income', isInactive: false },
  { acctNumber: '6100', acctName: 'Office Supplies', acctType: 'Expense', isInactive: false },
  { acctNumber: '6150', acctName: 'Bank Service Charges', acctType: 'Expense', isInactive: false },
];

export interface AccountOptions {
  currency?: string | undefined;
  /** The chart of accounts (DEFAULT_CHART when absent); internal ids are assigned. */
  chart?: Omit<GlAccount, 'id'>[] | undefined;
  /** Tax code name → percentage ("21"). */
  taxCodes?: Record<string, string> | undefined;
  /** Items there before the integration (name → internal id is assigned). */
  items?: string[] | undefined;
}

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v instanceof LosslessNumber ? v.value : typeof v === 'number' ? String(v) : '';
const idOf = (v: unknown): string => (v !== null && typeof v === 'object' ? str((v as Obj).id) : '');
const itemsOf = (v: unknown): Obj[] => {
  const items = v !== null && typeof v === 'object' ? (v as Obj).items : undefined;
  return Array.isArray(items) ? (items as Obj[]) : [];
};

export class Account {
  readonly currency: string;
  readonly taxCodes: { id: string; name: string; rate: string }[];
  readonly customers = new Map<string, Customer>();
  readonly items = new Map<string, Item>();
  readonly txns = new Map<string, Txn>();
  readonly payments = new Map<string, Payment>();
  readonly refunds = new Map<string, Refund>();
  readonly chart = new Map<string, GlAccount>();
  readonly journals = new Map<string, Journal>();
  /** Transactions dated on or before it are refused: the accounting period is closed. */
  closedUntil: string | null = null;
  /**
   * The accounting preference "Void Transactions Using Reversing Journals" (off unless set): on,
   * a customer refund is voided by a journal dated the day of the void, and invoices and credit
   * memos cannot be voided at all.
   */
  reversingJournals = false;
  #seq = { customer: 0, invoice: 0, creditMemo: 0, payment: 0, refund: 0, journal: 0 };

  constructor(
    readonly id: string,
    private readonly nextId: () => string,
    o: AccountOptions = {},
  ) {
    this.currency = o.currency ?? 'EUR';
    this.taxCodes = Object.entries(o.taxCodes ?? { 'VAT 21%': '21', 'VAT 9%': '9', 'VAT 0%': '0' }).map(
      ([name, rate]) => ({ id: this.nextId(), name, rate }),
    );
    for (const a of o.chart ?? DEFAULT_CHART) {
      const id = this.nextId();
      this.chart.set(id, { ...a, id });
    }
    for (const name of o.items ?? [])
      this.addItem({ id: this.nextId(), type: 'serviceSaleItem', externalId: '', itemId: name, displayName: name });
  }

  private addItem(i: Item): void {
    this.items.set(i.id, i);
  }

  invoices(): Txn[] {
    return [...this.txns.values()].filter((t) => t.type === 'invoice');
  }
  creditMemos(): Txn[] {
    return [...this.txns.values()].filter((t) => t.type === 'creditMemo');
  }

  /** What an invoice still owes: its total less every application to it. */
  remaining(inv: Txn): bigint {
    let applied = 0n;
    for (const p of this.payments.values()) applied += p.apply.get(inv.id) ?? 0n;
    for (const c of this.txns.values()) if (c.type === 'creditMemo') applied += c.apply.get(inv.id) ?? 0n;
    return inv.total - applied;
  }

  /** What refunds have taken of a payment (a voided refund nothing). */
  refunded(paymentId: string, except?: Refund): bigint {
    let out = 0n;
    for (const r of this.refunds.values()) if (r !== except && !r.voided) out += r.apply.get(paymentId) ?? 0n;
    return out;
  }

  /** What a payment holds neither applied to invoices nor refunded. */
  unapplied(p: Payment): bigint {
    return p.payment - [...p.apply.values()].reduce((s, a) => s + a, 0n) - this.refunded(p.id);
  }

  private amount(v: unknown, field: string): bigint {
    const parsed = parseAmount(str(v), this.currency);
    if (!parsed.ok) throw new NsRefusal(400, 'USER_ERROR', `Invalid value for field ${field}.`);
    return parsed.value;
  }

  private open(date: string): void {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new NsRefusal(400, 'USER_ERROR', 'Please enter value(s) for: Date');
    if (this.closedUntil && date <= this.closedUntil)
      throw new NsRefusal(
        400,
        'USER_ERROR',
        'The accounting period of this transaction is closed. Choose a date in an open period.',
      );
  }

  private customerRef(v: unknown, field: string): string {
    const id = idOf(v);
    if (!this.customers.has(id))
      throw new NsRefusal(400, 'INVALID_KEY_OR_REF', `Invalid ${field} reference key ${id || '(empty)'}.`);
    return id;
  }

  upsertCustomer(existing: Customer | null, externalId: string, body: Obj): Customer {
    const name = body.companyName !== undefined ? str(body.companyName).trim() : (existing?.companyName ?? '');
    if (!name) throw new NsRefusal(400, 'USER_ERROR', 'Please enter value(s) for: Company Name');
    const c: Customer = existing ?? {
      id: this.nextId(),
      externalId,
      entityId: String(1000 + ++this.#seq.customer),
      companyName: name,
      email: '',
      phone: '',
      subsidiary: null,
    };
    c.companyName = name;
    if (body.email !== undefined) c.email = str(body.email);
    if (body.phone !== undefined) c.phone = str(body.phone);
    if (body.subsidiary !== undefined) c.subsidiary = idOf(body.subsidiary);
    this.customers.set(c.id, c);
    return c;
  }

  upsertItem(type: string, existing: Item | null, externalId: string, body: Obj): Item {
    const itemId = body.itemId !== undefined ? str(body.itemId).trim() : (existing?.itemId ?? '');
    if (!itemId) throw new NsRefusal(400, 'USER_ERROR', 'Please enter value(s) for: Item Name/Number');
    const clash = [...this.items.values()].find(
      (i) => i.itemId.toLowerCase() === itemId.toLowerCase() && i !== existing,
    );
    if (clash) throw new NsRefusal(400, 'USER_ERROR', 'An item record with this Item Name/Number already exists.');
    const i: Item = existing ?? { id: this.nextId(), type, externalId, itemId, displayName: '' };
    i.itemId = itemId;
    if (body.displayName !== undefined) i.displayName = str(body.displayName);
    this.items.set(i.id, i);
    return i;
  }

  private lines(body: Obj): Line[] {
    const raw = itemsOf(body.item);
    if (raw.length === 0)
      throw new NsRefusal(400, 'USER_ERROR', 'You must enter at least one line item for this transaction.');
    return raw.map((l) => {
      const item = idOf(l.item);
      if (!this.items.has(item))
        throw new NsRefusal(400, 'INVALID_KEY_OR_REF', `Invalid item reference key ${item || '(empty)'}.`);
      const taxCode = l.taxCode === undefined ? null : idOf(l.taxCode);
      const tax = taxCode ? this.taxCodes.find((t) => t.id === taxCode) : undefined;
      if (taxCode && !tax) throw new NsRefusal(400, 'INVALID_KEY_OR_REF', `Invalid taxcode reference key ${taxCode}.`);
      const quantity = str(l.quantity) || '1';
      const rate = str(l.rate);
      if (!/^-?\d+(\.\d+)?$/.test(rate) || !/^\d+(\.\d+)?$/.test(quantity))
        throw new NsRefusal(400, 'USER_ERROR', 'Invalid value for field rate.');
      const net = lineAmount(quantity, rate, this.currency);
      return {
        item,
        description: str(l.description),
        quantity,
        rate,
        taxCode,
        net,
        tax: multiplyAmount(net, new Dec(tax?.rate ?? '0').div(100), 'halfUp'),
      };
    });
  }

  /** An invoice or credit memo, created or (same external id) updated with its lines replaced. */
  upsertTxn(type: 'invoice' | 'creditMemo', existing: Txn | null, externalId: string, body: Obj): Txn {
    if (existing?.voided) throw new NsRefusal(400, 'USER_ERROR', 'You cannot change a voided transaction.');
    const entity = this.customerRef(body.entity ?? (existing ? { id: existing.entity } : undefined), 'entity');
    const tranDate = body.tranDate !== undefined ? str(body.tranDate) : (existing?.tranDate ?? '');
    this.open(tranDate);
    const lines = body.item !== undefined ? this.lines(body) : (existing?.lines ?? this.lines(body));
    const total = lines.reduce((s, l) => s + l.net + l.tax, 0n);
    if (existing && type === 'invoice' && total < existing.total - this.remaining(existing))
      throw new NsRefusal(400, 'USER_ERROR', 'The total of this invoice is less than what has been applied to it.');
    const t: Txn = existing ?? {
      id: this.nextId(),
      type,
      externalId,
      tranId: type === 'invoice' ? `INV${String(++this.#seq.invoice).padStart(5, '0')}` : `CM${++this.#seq.creditMemo}`,
      entity,
      tranDate,
      dueDate: null,
      memo: '',
      lines,
      total,
      apply: new Map(),
      voided: false,
    };
    Object.assign(t, { entity, tranDate, lines, total });
    if (body.dueDate !== undefined) t.dueDate = str(body.dueDate);
    if (body.memo !== undefined) t.memo = str(body.memo);
    if (type === 'creditMemo' && body.apply !== undefined) this.applyLines(t.apply, t.entity, t.total, body.apply);
    this.txns.set(t.id, t);
    return t;
  }

  /**
   * An invoice or credit memo voided as a person voids it in NetSuite with "Void Transactions
   * Using Reversing Journals" off (a direct void): kept under its id and external id, its total
   * and every line set to zero, its memo "VOID", what it had applied taken off; an invoice that
   * payments or credit memos are applied to is refused until they are taken off it. With the
   * preference on, NetSuite voids neither, and refuses *(unverified wording of both refusals)*.
   */
  void(id: string): Txn {
    const t = this.txns.get(id);
    if (!t) throw new NsRefusal(404, 'NONEXISTENT_ID', 'The record instance does not exist.');
    // With reversing journals on, invoices and credit memos have no Void (their void is direct only).
    if (this.reversingJournals)
      throw new NsRefusal(400, 'USER_ERROR', 'You cannot void this transaction using a reversing journal.');
    if (t.type === 'invoice' && this.remaining(t) !== t.total)
      throw new NsRefusal(400, 'USER_ERROR', 'You cannot void a transaction with applied payments or credits.');
    t.voided = true;
    t.memo = 'VOID';
    t.lines = t.lines.map((l) => ({ ...l, rate: '0', net: 0n, tax: 0n }));
    t.total = 0n;
    t.apply.clear();
    return t;
  }

  /**
   * A customer refund voided as a person voids it in NetSuite. Directly (reversing journals off):
   * kept, its amounts zero, voided. By reversing journal (on): kept as it posted, voided, and a
   * voiding journal dated `voidDate` (an open period's day) reverses it: debits the account the
   * money left and credits accounts receivable, naming the customer on both lines *(unverified:
   * that the voiding journal's lines keep the customer's name)*. Either way the payments it
   * refunded hold their money again. Answers the voiding journal, null for a direct void.
   */
  voidRefund(id: string, voidDate: string): Journal | null {
    const r = this.refunds.get(id);
    if (!r) throw new NsRefusal(404, 'NONEXISTENT_ID', 'The record instance does not exist.');
    if (r.voided) throw new NsRefusal(400, 'USER_ERROR', 'You cannot change a voided transaction.');
    if (!this.reversingJournals) {
      r.voided = true;
      r.apply = new Map([...r.apply.keys()].map((k) => [k, 0n]));
      return null;
    }
    this.open(voidDate);
    const amount = [...r.apply.values()].reduce((s, x) => s + x, 0n);
    const of = (type: string) => [...this.chart.values()].find((g) => g.acctType === type)?.id;
    const receivable = of('AcctRec');
    const paidFrom = r.account ?? of('Bank');
    if (!receivable || !paidFrom) throw new Error('the simulated chart has no A/R or no bank account');
    const j: Journal = {
      id: this.nextId(),
      externalId: '',
      tranId: `JE${++this.#seq.journal}`,
      tranDate: voidDate,
      memo: '',
      subsidiary: null,
      lines: [
        { account: paidFrom, debit: amount, credit: 0n, memo: '', entity: r.customer },
        { account: receivable, debit: 0n, credit: amount, memo: '', entity: r.customer },
      ],
      voidOf: r.id,
    };
    this.journals.set(j.id, j);
    r.voided = true;
    return j;
  }

  /**
   * Sets apply lines: each line names an invoice of the customer and what is applied to it
   * (`apply: false` takes the application off). Lines not named keep theirs. Nothing changes
   * when any line is refused.
   */
  applyLines(current: Map<string, bigint>, customer: string, limit: bigint, raw: unknown): void {
    const next = new Map(current);
    for (const l of itemsOf(raw)) {
      const docId = idOf(l.doc);
      const inv = this.txns.get(docId);
      if (!inv || inv.type !== 'invoice' || inv.entity !== customer)
        throw new NsRefusal(400, 'INVALID_KEY_OR_REF', `Invalid doc reference key ${docId || '(empty)'}.`);
      const amount = l.apply === false ? 0n : this.amount(l.amount, 'amount');
      const owed = this.remaining(inv) + (current.get(docId) ?? 0n);
      if (amount < 0n || amount > owed)
        throw new NsRefusal(
          400,
          'USER_ERROR',
          `The amount applied to invoice ${inv.tranId} exceeds its amount remaining.`,
        );
      if (amount === 0n) next.delete(docId);
      else next.set(docId, amount);
    }
    const sum = [...next.values()].reduce((s, a) => s + a, 0n);
    if (sum > limit) throw new NsRefusal(400, 'USER_ERROR', 'The total applied exceeds the amount available to apply.');
    current.clear();
    for (const [k, v] of next) current.set(k, v);
  }

  upsertPayment(existing: Payment | null, externalId: string, body: Obj): Payment {
    const customer = this.customerRef(body.customer ?? (existing ? { id: existing.customer } : undefined), 'customer');
    const tranDate = body.tranDate !== undefined ? str(body.tranDate) : (existing?.tranDate ?? '');
    this.open(tranDate);
    const payment = body.payment !== undefined ? this.amount(body.payment, 'payment') : (existing?.payment ?? 0n);
    if (payment <= 0n) throw new NsRefusal(400, 'USER_ERROR', 'Please enter value(s) for: Payment Amount');
    if (body.undepFunds === false && !idOf(body.account))
      throw new NsRefusal(400, 'USER_ERROR', 'Please enter value(s) for: Account');
    const p: Payment = existing ?? {
      id: this.nextId(),
      externalId,
      tranId: String(++this.#seq.payment),
      customer,
      payment,
      tranDate,
      undepFunds: true,
      account: null,
      apply: new Map(),
    };
    const apply = new Map(p.apply);
    this.applyLines(apply, customer, payment - this.refunded(p.id), body.apply ?? { items: [] });
    Object.assign(p, { customer, payment, tranDate, apply });
    if (body.undepFunds !== undefined) p.undepFunds = body.undepFunds === true;
    if (body.account !== undefined) p.account = idOf(body.account);
    this.payments.set(p.id, p);
    return p;
  }

  /** A customer refund of payments' unapplied amounts, created or (same external id) updated. */
  upsertRefund(existing: Refund | null, externalId: string, body: Obj): Refund {
    if (existing?.voided) throw new NsRefusal(400, 'USER_ERROR', 'You cannot change a voided transaction.');
    const customer = this.customerRef(body.customer ?? (existing ? { id: existing.customer } : undefined), 'customer');
    const tranDate = body.tranDate !== undefined ? str(body.tranDate) : (existing?.tranDate ?? '');
    this.open(tranDate);
    const apply = new Map(existing?.apply ?? []);
    for (const l of itemsOf(body.apply)) {
      const docId = idOf(l.doc);
      const p = this.payments.get(docId);
      if (!p || p.customer !== customer)
        throw new NsRefusal(400, 'INVALID_KEY_OR_REF', `Invalid doc reference key ${docId || '(empty)'}.`);
      const amount = l.apply === false ? 0n : this.amount(l.amount, 'amount');
      if (amount < 0n || amount > this.unapplied(p) + (existing?.apply.get(docId) ?? 0n))
        throw new NsRefusal(
          400,
          'USER_ERROR',
          `The amount refunded of payment ${p.tranId} exceeds what it holds unapplied.`,
        );
      if (amount === 0n) apply.delete(docId);
      else apply.set(docId, amount);
    }
    if (apply.size === 0) throw new NsRefusal(400, 'USER_ERROR', 'You must apply this refund to at least one credit.');
    const r: Refund = existing ?? {
      id: this.nextId(),
      externalId,
      tranId: `RF${++this.#seq.refund}`,
      customer,
      tranDate,
      account: null,
      apply,
      voided: false,
    };
    Object.assign(r, { customer, tranDate, apply });
    if (body.account !== undefined) r.account = idOf(body.account);
    this.refunds.set(r.id, r);
    return r;
  }

  /**
   * A journal entry, created or (same external id) updated with its lines replaced: at least two
   * lines, each on an active account with a debit or a credit (not both), debits equal to credits,
   * a line's name a customer; its date in an open period. Messages *(unverified)* in NetSuite's words.
   */
  upsertJournal(existing: Journal | null, externalId: string, body: Obj): Journal {
    if (existing?.voidOf) throw new NsRefusal(400, 'USER_ERROR', 'You cannot change a voiding journal.');
    const tranDate = body.tranDate !== undefined ? str(body.tranDate) : (existing?.tranDate ?? '');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(tranDate))
      throw new NsRefusal(400, 'USER_ERROR', 'Please enter value(s) for: Date');
    if (this.closedUntil && tranDate <= this.closedUntil)
      throw new NsRefusal(
        400,
        'USER_ERROR',
        'The accounting period of this transaction is closed. Choose a date in an open period.',
      );
    const raw = body.line !== undefined ? itemsOf(body.line) : null;
    const lines: JournalLine[] =
      raw === null
        ? (existing?.lines ?? [])
        : raw.map((l) => {
            const account = this.chart.get(idOf(l.account));
            if (!account || account.isInactive)
              throw new NsRefusal(
                400,
                'INVALID_KEY_OR_REF',
                `Invalid account reference key ${idOf(l.account) || '(empty)'}.`,
              );
            const side = (v: unknown, field: string) => {
              if (v === undefined) return 0n;
              const parsed = parseAmount(str(v), this.currency);
              if (!parsed.ok || parsed.value < 0n)
                throw new NsRefusal(400, 'USER_ERROR', `Invalid value for field ${field}.`);
              return parsed.value;
            };
            const debit = side(l.debit, 'debit');
            const credit = side(l.credit, 'credit');
            if ((debit === 0n) === (credit === 0n))
              throw new NsRefusal(400, 'USER_ERROR', 'Please enter a debit or a credit amount on each line.');
            const entity = l.entity === undefined ? null : idOf(l.entity);
            if (entity !== null && !this.customers.has(entity))
              throw new NsRefusal(400, 'INVALID_KEY_OR_REF', `Invalid entity reference key ${entity || '(empty)'}.`);
            return { account: account.id, debit, credit, memo: str(l.memo), entity };
          });
    if (lines.length < 2)
      throw new NsRefusal(400, 'USER_ERROR', 'You must enter at least two lines for this transaction.');
    const debits = lines.reduce((x, l) => x + l.debit, 0n);
    const credits = lines.reduce((x, l) => x + l.credit, 0n);
    if (debits !== credits)
      throw new NsRefusal(400, 'USER_ERROR', 'The debits and credits of this transaction are not equal.');
    const j: Journal = existing ?? {
      id: this.nextId(),
      externalId,
      tranId: `JE${++this.#seq.journal}`,
      tranDate,
      memo: '',
      subsidiary: null,
      lines,
      voidOf: null,
    };
    Object.assign(j, { tranDate, lines });
    if (body.memo !== undefined) j.memo = str(body.memo);
    if (body.subsidiary !== undefined) j.subsidiary = idOf(body.subsidiary);
    this.journals.set(j.id, j);
    return j;
  }
}
