import { LosslessNumber } from 'lossless-json';
import { Dec, formatAmount, lineAmount, multiplyAmount, parseAmount } from '../../domain/money.ts';

/*
 * The simulated FreshBooks account: clients, items, taxes, invoices (numbered 0000001, drafts
 * until marked sent), credit notes, and payments, each on one invoice, with the amounts kept as
 * FreshBooks keeps them: an invoice's outstanding amount goes down by what its payments pay; what
 * a payment pays above it becomes an overpayment credit of the client; a payment of type "Credit"
 * draws on the client's credit (its credit notes, oldest first). Expenses are kept in categories
 * (a few of FreshBooks' defaults, Bank Fees under Other Expenses). A deleted document keeps
 * `vis_state` 1 (FreshBooks has no void): out of lists unless asked for, still answered by id.
 * Amounts are minor units inside and FreshBooks' money objects outside. Refusals are FbRefusal
 * values, answered in FreshBooks' body.
 */

export class FbRefusal extends Error {
  constructor(
    readonly status: number,
    readonly errno: number,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;
export interface Line {
  name: string;
  description: string;
  qty: string;
  unit_cost: string;
  taxName1: string | null;
  taxAmount1: string | null;
  net: bigint;
  tax: bigint;
}
export interface Client {
  id: string;
  organization: string;
  note: string;
  fields: Obj;
}
export interface Item {
  id: string;
  name: string;
  sku: string;
}
export interface Invoice {
  id: string;
  invoice_number: string;
  customerid: string;
  create_date: string;
  due_date: string;
  po_number: string;
  currency: string;
  status: 'draft' | 'sent' | 'partial' | 'paid';
  lines: Line[];
  total: bigint;
  outstanding: bigint;
  notes: string;
  /** 0 active, 1 deleted, 2 archived (freshbooks.com/api/active_deleted). */
  vis_state: number;
}
export interface CreditNote {
  creditid: string;
  credit_number: string;
  clientid: string;
  create_date: string;
  currency: string;
  credit_type: string;
  notes: string;
  lines: Line[];
  total: bigint;
  remaining: bigint;
  /** What its credit paid, invoice by invoice. */
  applied: { invoiceid: string; amount: bigint; paymentid: string }[];
  vis_state: number;
}
export interface Payment {
  id: string;
  invoiceid: string;
  clientid: string;
  amount: bigint;
  currency: string;
  date: string;
  type: string;
  note: string;
  overpaymentid: string | null;
  vis_state: number;
}

/** An expense: money the business spent, in a category (FreshBooks' expenses/expenses). */
export interface Expense {
  id: string;
  categoryid: string;
  staffid: string;
  date: string;
  amount: bigint;
  currency: string;
  vendor: string;
  notes: string;
  clientid: string | null;
  vis_state: number;
}
export interface Category {
  categoryid: string;
  category: string;
  parentid: string | null;
  is_cogs: boolean;
  vis_state: number;
}

export interface AccountOptions {
  name?: string | undefined;
  /** Tax name → percentage ("21"). */
  taxes?: Record<string, string> | undefined;
  /**
   * Expense categories beside FreshBooks' defaults' few kept here (Other Expenses with Bank Fees
   * under it, Advertising, Cost of Goods Sold): name → options; `null` removes a default.
   */
  categories?: Record<string, { parent?: string; cogs?: boolean; deleted?: boolean } | null> | undefined;
}

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v instanceof LosslessNumber ? v.value : typeof v === 'number' ? String(v) : '';
const money = (minor: bigint, currency: string) => ({ amount: formatAmount(minor, currency), code: currency });
/** Amounts FreshBooks takes, at most (simulated: *(unverified)* as a published figure). */
const MAX_AMOUNT = '9999999999.99';

export class Account {
  readonly name: string;
  readonly taxes: { taxid: string; name: string; amount: string }[];
  readonly clients = new Map<string, Client>();
  readonly items = new Map<string, Item>();
  readonly invoices = new Map<string, Invoice>();
  readonly creditNotes = new Map<string, CreditNote>();
  readonly payments = new Map<string, Payment>();
  readonly expenses = new Map<string, Expense>();
  readonly categories: Category[] = [];
  /** The account's staff ids: its owner, 1, unless a test adds more. */
  readonly staff = new Set<string>(['1']);
  #seq = { invoice: 0, credit: 0 };

  constructor(
    readonly id: string,
    private readonly nextId: () => string,
    o: AccountOptions = {},
  ) {
    this.name = o.name ?? `Business ${id}`;
    this.taxes = Object.entries(o.taxes ?? { 'VAT 21%': '21', 'VAT 9%': '9' }).map(([name, amount]) => ({
      taxid: this.nextId(),
      name,
      amount,
    }));
    const wanted = {
      'Other Expenses': {},
      'Bank Fees': { parent: 'Other Expenses' },
      Advertising: {},
      'Cost of Goods Sold': { cogs: true },
      ...o.categories,
    };
    for (const [category, c] of Object.entries(wanted)) {
      if (c === null) continue;
      const parent = 'parent' in c ? this.categories.find((x) => x.category === c.parent) : undefined;
      this.categories.push({
        categoryid: this.nextId(),
        category,
        parentid: parent?.categoryid ?? null,
        is_cogs: 'cogs' in c && c.cogs === true,
        vis_state: 'deleted' in c && c.deleted === true ? 1 : 0,
      });
    }
  }

  /** An expense: a category that is there (not deleted), a staff member, an amount more than zero. */
  createExpense(body: Obj): Expense {
    for (const f of ['categoryid', 'staffid', 'date', 'amount'])
      if (body[f] === undefined || body[f] === null || body[f] === '')
        throw new FbRefusal(400, 1001, f, `Field ${f} is required.`);
    const category = this.categories.find((c) => c.categoryid === str(body.categoryid) && c.vis_state === 0);
    if (!category) throw new FbRefusal(400, 2001, 'categoryid', 'Invalid value for categoryid.');
    if (!this.staff.has(str(body.staffid))) throw new FbRefusal(400, 2001, 'staffid', 'Invalid value for staffid.');
    const date = str(body.date);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new FbRefusal(400, 2001, 'date', 'Invalid value for date.');
    const currency = str((body.amount as Obj).code) || 'USD';
    const amount = this.amount(body.amount, 'amount', currency);
    if (amount <= 0n) throw new FbRefusal(400, 2001, 'amount', 'Invalid value for amount.');
    const clientid =
      body.clientid === undefined || body.clientid === null ? null : this.client(body.clientid, 'clientid');
    const e: Expense = {
      id: this.nextId(),
      categoryid: category.categoryid,
      staffid: str(body.staffid),
      date,
      amount,
      currency,
      vendor: str(body.vendor),
      notes: str(body.notes),
      clientid,
      vis_state: 0,
    };
    this.expenses.set(e.id, e);
    return e;
  }

  expenseView(e: Expense): Obj {
    return {
      id: new LosslessNumber(e.id),
      expenseid: new LosslessNumber(e.id),
      categoryid: new LosslessNumber(e.categoryid),
      staffid: new LosslessNumber(e.staffid),
      clientid: new LosslessNumber(e.clientid ?? '0'),
      date: e.date,
      amount: money(e.amount, e.currency),
      vendor: e.vendor,
      notes: e.notes,
      status: 0,
      vis_state: e.vis_state,
    };
  }

  categoryView(c: Category): Obj {
    return {
      id: new LosslessNumber(c.categoryid),
      categoryid: new LosslessNumber(c.categoryid),
      category: c.category,
      parentid: c.parentid === null ? null : new LosslessNumber(c.parentid),
      is_cogs: c.is_cogs,
      is_editable: c.parentid !== null,
      vis_state: c.vis_state,
    };
  }

  private amount(v: unknown, field: string, currency: string): bigint {
    const parsed = parseAmount(str((v as Obj | null)?.amount), currency);
    if (!parsed.ok) throw new FbRefusal(400, 2001, field, `Invalid value for ${field}.`);
    return parsed.value;
  }

  upsertClient(id: string | null, body: Obj): Client {
    const current = id ? this.clients.get(id) : undefined;
    if (id && !current) throw new FbRefusal(404, 1012, 'userid', 'Client not found.');
    const c: Client = current ?? { id: this.nextId(), organization: '', note: '', fields: {} };
    if (body.organization !== undefined) c.organization = str(body.organization);
    if (!c.organization.trim()) throw new FbRefusal(400, 1001, 'organization', 'Field organization is required.');
    if (body.note !== undefined) c.note = str(body.note);
    Object.assign(c.fields, body);
    this.clients.set(c.id, c);
    return c;
  }

  upsertItem(id: string | null, body: Obj): Item {
    const current = id ? this.items.get(id) : undefined;
    if (id && !current) throw new FbRefusal(404, 1012, 'itemid', 'Item not found.');
    const name = str(body.name).trim();
    if (!name) throw new FbRefusal(400, 1001, 'name', 'Field name is required.');
    const i: Item = current ?? { id: this.nextId(), name, sku: '' };
    i.name = name;
    if (body.sku !== undefined) i.sku = str(body.sku);
    this.items.set(i.id, i);
    return i;
  }

  private client(v: unknown, field: string): string {
    const id = str(v);
    if (!this.clients.has(id)) throw new FbRefusal(404, 1012, field, 'Client not found.');
    return id;
  }

  private lines(raw: unknown, currency: string): Line[] {
    if (!Array.isArray(raw) || raw.length === 0) throw new FbRefusal(400, 1001, 'lines', 'Field lines is required.');
    return (raw as Obj[]).map((l) => {
      const unit = l.unit_cost as Obj | undefined;
      const cost = str(unit?.amount);
      const qty = str(l.qty) || '1';
      if (!/^-?\d+(\.\d+)?$/.test(cost) || !/^\d+(\.\d+)?$/.test(qty))
        throw new FbRefusal(400, 2001, 'unit_cost', 'Invalid value for unit_cost.');
      if (new Dec(cost).abs().gt(new Dec(MAX_AMOUNT)))
        throw new FbRefusal(400, 2001, 'unit_cost', `unit_cost must be no more than ${MAX_AMOUNT}.`);
      if (str(unit?.code) !== currency)
        throw new FbRefusal(400, 2001, 'code', 'The currency of a line must be the currency of its document.');
      const name = l.taxName1 === undefined || l.taxName1 === null ? null : str(l.taxName1);
      const pct = l.taxAmount1 === undefined || l.taxAmount1 === null ? null : str(l.taxAmount1);
      const net = lineAmount(qty, cost, currency);
      return {
        name: str(l.name),
        description: str(l.description),
        qty,
        unit_cost: cost,
        taxName1: name,
        taxAmount1: pct,
        net,
        tax: pct ? multiplyAmount(net, new Dec(pct).div(100), 'halfUp') : 0n,
      };
    });
  }

  createInvoice(body: Obj): Invoice {
    const customerid = this.client(body.customerid, 'customerid');
    const currency = str(body.currency_code) || 'USD';
    const date = str(body.create_date);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date))
      throw new FbRefusal(400, 2001, 'create_date', 'Invalid value for create_date.');
    const lines = this.lines(body.lines, currency);
    const total = lines.reduce((s, l) => s + l.net + l.tax, 0n);
    const due = new Date(Date.parse(`${date}T00:00:00Z`) + Number(str(body.due_offset_days) || '0') * 86_400_000);
    const inv: Invoice = {
      id: this.nextId(),
      invoice_number: String(++this.#seq.invoice).padStart(7, '0'),
      customerid,
      create_date: date,
      due_date: due.toISOString().slice(0, 10),
      po_number: str(body.po_number),
      currency,
      status: 'draft',
      lines,
      total,
      outstanding: total,
      notes: str(body.notes),
      vis_state: 0,
    };
    this.invoices.set(inv.id, inv);
    return inv;
  }

  /** PUT …/invoices/{id}: `vis_state`, else `action_mark_as_sent` (marking a sent invoice again changes nothing). */
  updateInvoice(id: string, body: Obj): Invoice {
    const inv = this.invoices.get(id);
    if (!inv) throw new FbRefusal(404, 1012, 'invoiceid', 'Invoice not found.');
    // vis_state is a phase of its own: when present, the rest of the body is ignored (freshbooks.com/api/active_deleted).
    if (body.vis_state !== undefined) {
      if (str(body.vis_state) === '1') return this.deleteInvoice(id);
      inv.vis_state = Number(str(body.vis_state)) || 0;
      return inv;
    }
    if (body.action_mark_as_sent === true && inv.status === 'draft') inv.status = 'sent';
    return inv;
  }

  /**
   * Deletes an invoice, as Delete in FreshBooks or PUT `{"invoice": {"vis_state": 1}}` does: it is
   * kept with vis_state 1, left out of lists unless `search[vis_state]=1` asks for it, still
   * answered by id, and no longer counted. FreshBooks has no void.
   */
  deleteInvoice(id: string): Invoice {
    const inv = this.invoices.get(id);
    if (!inv) throw new FbRefusal(404, 1012, 'invoiceid', 'Invoice not found.');
    inv.vis_state = 1;
    return inv;
  }

  createCreditNote(body: Obj): CreditNote {
    const clientid = this.client(body.clientid, 'clientid');
    const currency = str(body.currency_code) || 'USD';
    const lines = this.lines(body.lines, currency);
    const total = lines.reduce((s, l) => s + l.net + l.tax, 0n);
    const note = this.addCredit(clientid, currency, str(body.credit_type) || 'goodwill', total, str(body.notes), lines);
    note.create_date = str(body.create_date);
    return note;
  }

  private addCredit(clientid: string, currency: string, type: string, total: bigint, notes: string, lines: Line[]) {
    const note: CreditNote = {
      creditid: this.nextId(),
      credit_number: String(++this.#seq.credit).padStart(7, '0'),
      clientid,
      create_date: new Date().toISOString().slice(0, 10),
      currency,
      credit_type: type,
      notes,
      lines,
      total,
      remaining: total,
      applied: [],
      vis_state: 0,
    };
    this.creditNotes.set(note.creditid, note);
    return note;
  }

  /** The client's credit left, in this currency. */
  creditOf(clientid: string, currency: string): bigint {
    return [...this.creditNotes.values()]
      .filter((n) => n.clientid === clientid && n.currency === currency)
      .reduce((s, n) => s + n.remaining, 0n);
  }

  createPayment(body: Obj): Payment {
    const inv = this.invoices.get(str(body.invoiceid));
    if (!inv || inv.vis_state === 1) throw new FbRefusal(404, 1012, 'invoiceid', 'Invoice not found.');
    if (inv.status === 'draft')
      throw new FbRefusal(400, 2001, 'invoiceid', 'Payments cannot be added to a draft invoice.');
    const amount = this.amount(body.amount, 'amount', inv.currency);
    if (amount <= 0n) throw new FbRefusal(400, 2001, 'amount', 'Invalid value for amount.');
    const type = str(body.type) || 'Check';
    const p: Payment = {
      id: this.nextId(),
      invoiceid: inv.id,
      clientid: inv.customerid,
      amount,
      currency: inv.currency,
      date: str(body.date),
      type,
      note: str(body.note),
      overpaymentid: null,
      vis_state: 0,
    };
    if (type === 'Credit') {
      if (amount > inv.outstanding)
        throw new FbRefusal(400, 2001, 'amount', 'The credit applied is more than the amount outstanding.');
      if (amount > this.creditOf(inv.customerid, inv.currency))
        throw new FbRefusal(400, 2001, 'amount', 'The client does not have enough credit.');
      let left = amount;
      for (const n of [...this.creditNotes.values()].filter(
        (x) => x.clientid === inv.customerid && x.currency === inv.currency,
      )) {
        const take = n.remaining < left ? n.remaining : left;
        if (take <= 0n) continue;
        n.remaining -= take;
        n.applied.push({ invoiceid: inv.id, amount: take, paymentid: p.id });
        left -= take;
      }
    }
    const paid = amount > inv.outstanding ? inv.outstanding : amount;
    inv.outstanding -= paid;
    inv.status = inv.outstanding === 0n ? 'paid' : 'partial';
    if (amount > paid)
      p.overpaymentid = this.addCredit(inv.customerid, inv.currency, 'overpayment', amount - paid, '', []).creditid;
    this.payments.set(p.id, p);
    return p;
  }

  // Views: what FreshBooks answers.
  clientView(c: Client): Obj {
    return {
      ...c.fields,
      id: new LosslessNumber(c.id),
      userid: new LosslessNumber(c.id),
      organization: c.organization,
      note: c.note,
    };
  }

  itemView(i: Item): Obj {
    return { id: new LosslessNumber(i.id), itemid: new LosslessNumber(i.id), name: i.name, sku: i.sku };
  }

  private linesView(lines: Line[], currency: string): Obj[] {
    return lines.map((l) => ({
      name: l.name,
      description: l.description,
      qty: new LosslessNumber(l.qty),
      unit_cost: { amount: l.unit_cost, code: currency },
      amount: money(l.net, currency),
      taxName1: l.taxName1,
      taxAmount1: l.taxAmount1 === null ? null : new LosslessNumber(l.taxAmount1),
    }));
  }

  invoiceView(inv: Invoice): Obj {
    return {
      id: new LosslessNumber(inv.id),
      invoiceid: new LosslessNumber(inv.id),
      invoice_number: inv.invoice_number,
      customerid: new LosslessNumber(inv.customerid),
      create_date: inv.create_date,
      due_date: inv.due_date,
      po_number: inv.po_number,
      currency_code: inv.currency,
      v3_status: inv.status,
      lines: this.linesView(inv.lines, inv.currency),
      amount: money(inv.total, inv.currency),
      outstanding: money(inv.outstanding, inv.currency),
      paid: money(inv.total - inv.outstanding, inv.currency),
      notes: inv.notes,
      vis_state: inv.vis_state,
    };
  }

  creditView(n: CreditNote): Obj {
    return {
      id: new LosslessNumber(n.creditid),
      creditid: new LosslessNumber(n.creditid),
      credit_number: n.credit_number,
      clientid: new LosslessNumber(n.clientid),
      create_date: n.create_date,
      currency_code: n.currency,
      credit_type: n.credit_type,
      notes: n.notes,
      lines: this.linesView(n.lines, n.currency),
      amount: money(n.total, n.currency),
      paid: money(n.total - n.remaining, n.currency),
      vis_state: n.vis_state,
    };
  }

  paymentView(p: Payment): Obj {
    return {
      id: new LosslessNumber(p.id),
      logid: new LosslessNumber(p.id),
      invoiceid: new LosslessNumber(p.invoiceid),
      clientid: new LosslessNumber(p.clientid),
      amount: money(p.amount, p.currency),
      date: p.date,
      type: p.type,
      note: p.note,
      from_credit: p.type === 'Credit',
      overpaymentid: p.overpaymentid === null ? null : new LosslessNumber(p.overpaymentid),
      vis_state: p.vis_state,
    };
  }
}
