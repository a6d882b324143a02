import { LosslessNumber } from 'lossless-json';
import { Dec, lineAmount, multiplyAmount, parseAmount } from '../../domain/money.ts';
import type { PaymentRefund } from './simulator-refunds.ts';
import { UNDEPOSITED_FUNDS, ZohoRefusal, dec, str } from './simulator-values.ts';

/*
 * The simulated Zoho Books organisation: contacts, items, taxes, invoices (numbered INV-000001,
 * drafts until marked sent), credit notes, customer payments and credits applied to invoices,
 * with balances kept as Zoho keeps them: an invoice's balance goes down by what payments and
 * credits apply (a payment's bank charges, a provider's fee, do not change what it applies), a credit note's by what it credits, a payment's unused amount by what it applies
 * and what its refunds return (simulator-refunds.ts). Amounts are minor units inside and exact
 * JSON numbers (lossless) outside. Refusals are ZohoRefusal values in Zoho's own body,
 * `{"code": …, "message": …}`.
 */

type Obj = Record<string, unknown>;
export interface Line {
  line_item_id: string;
  item_id: string | null;
  name: string;
  description: string;
  quantity: string;
  rate: string;
  tax_id: string | null;
  tax_percentage: string;
  net: bigint;
  tax: bigint;
}
export interface Contact {
  contact_id: string;
  contact_name: string;
  contact_number: string;
  fields: Obj;
}
export interface Item {
  item_id: string;
  name: string;
  sku: string;
  fields: Obj;
}
export interface Doc {
  id: string;
  number: string;
  reference_number: string;
  customer_id: string;
  date: string;
  due_date: string | null;
  status: string;
  lines: Line[];
  total: bigint;
  balance: bigint;
  notes: string;
}
export interface Payment {
  payment_id: string;
  payment_number: string;
  reference_number: string;
  customer_id: string;
  payment_mode: string;
  amount: bigint;
  /** Its bank charges (a payment provider's fee): deposited is the amount less them. */
  bank_charges: bigint;
  date: string;
  description: string;
  account_id: string | null;
  invoices: { invoice_id: string; amount_applied: bigint }[];
  /** What its refunds returned (simulator-refunds.ts): no longer unused. */
  refunded: bigint;
}
export interface Credit {
  creditnote_invoice_id: string;
  creditnote_id: string;
  invoice_id: string;
  amount_applied: bigint;
  date: string;
}

/** Money paid back to the customer out of a credit note's balance (Zoho's credit note refund). */
export interface CreditNoteRefund {
  creditnote_refund_id: string;
  creditnote_id: string;
  date: string;
  amount: bigint;
  reference_number: string;
}

export interface OrgOptions {
  name?: string | undefined;
  currency?: string | undefined;
  /** Tax name → percentage ("21"). */
  taxes?: Record<string, string> | undefined;
}

export class Organisation {
  readonly name: string;
  readonly currency: string;
  readonly taxes: { tax_id: string; tax_name: string; tax_percentage: string }[];
  readonly contacts = new Map<string, Contact>();
  readonly items = new Map<string, Item>();
  readonly invoices = new Map<string, Doc>();
  readonly creditNotes = new Map<string, Doc>();
  readonly payments = new Map<string, Payment>();
  readonly credits: Credit[] = [];
  readonly refunds: PaymentRefund[] = [];
  readonly creditNoteRefunds: CreditNoteRefund[] = [];
  /** Transactions dated on or before it are refused (Zoho's transaction locking). */
  lockedUntil: string | null = null;
  #invoiceSeq = 0;
  #noteSeq = 0;
  #paymentSeq = 0;

  constructor(
    readonly id: string,
    private readonly nextId: () => string,
    o: OrgOptions = {},
  ) {
    this.name = o.name ?? `Organisation ${id}`;
    this.currency = o.currency ?? 'EUR';
    this.taxes = Object.entries(o.taxes ?? { 'VAT 21%': '21', 'VAT 9%': '9', 'VAT 0%': '0' }).map(([name, pct]) => ({
      tax_id: this.nextId(),
      tax_name: name,
      tax_percentage: pct,
    }));
  }

  amount(v: unknown, field: string): bigint {
    const parsed = parseAmount(str(v), this.currency);
    if (!parsed.ok) throw new ZohoRefusal(400, 2, `Invalid value passed for ${field}`);
    return parsed.value;
  }

  locked(date: string): void {
    if (this.lockedUntil && date <= this.lockedUntil)
      throw new ZohoRefusal(
        400,
        14006,
        `You cannot create or modify transactions dated on or before ${this.lockedUntil}, as they have been locked.`,
      );
  }

  // Contacts and items: names are unique in an organisation.
  upsertContact(id: string | null, body: Obj): Contact {
    const name = str(body.contact_name).trim();
    if (!name) throw new ZohoRefusal(400, 2, 'Invalid value passed for contact_name');
    const clash = [...this.contacts.values()].find(
      (c) => c.contact_name.toLowerCase() === name.toLowerCase() && c.contact_id !== id,
    );
    if (clash)
      throw new ZohoRefusal(400, 3062, `The customer "${name}" already exists. Please specify a different name.`);
    const current = id ? this.contacts.get(id) : undefined;
    if (id && !current) throw new ZohoRefusal(404, 1002, 'Contact does not exist.');
    const c: Contact = current ?? { contact_id: this.nextId(), contact_name: name, contact_number: '', fields: {} };
    c.contact_name = name;
    if (body.contact_number !== undefined) c.contact_number = str(body.contact_number);
    Object.assign(c.fields, body);
    this.contacts.set(c.contact_id, c);
    return c;
  }

  upsertItem(id: string | null, body: Obj): Item {
    const name = str(body.name).trim();
    if (!name) throw new ZohoRefusal(400, 2, 'Invalid value passed for name');
    const clash = [...this.items.values()].find((i) => i.name.toLowerCase() === name.toLowerCase() && i.item_id !== id);
    if (clash) throw new ZohoRefusal(400, 1001, `Item "${name}" already exists.`);
    const current = id ? this.items.get(id) : undefined;
    if (id && !current) throw new ZohoRefusal(404, 1002, 'Item does not exist.');
    const i: Item = current ?? { item_id: this.nextId(), name, sku: '', fields: {} };
    i.name = name;
    if (body.sku !== undefined) i.sku = str(body.sku);
    Object.assign(i.fields, body);
    this.items.set(i.item_id, i);
    return i;
  }

  private lines(body: Obj): Line[] {
    const raw = body.line_items;
    if (!Array.isArray(raw) || raw.length === 0) throw new ZohoRefusal(400, 2, 'Invalid value passed for line_items');
    return (raw as Obj[]).map((l) => {
      const itemId = l.item_id === undefined ? null : str(l.item_id);
      if (itemId && !this.items.has(itemId)) throw new ZohoRefusal(400, 1002, 'Item does not exist.');
      const taxId = l.tax_id === undefined ? null : str(l.tax_id);
      const tax = taxId ? this.taxes.find((t) => t.tax_id === taxId) : undefined;
      if (taxId && !tax) throw new ZohoRefusal(400, 2, 'Invalid value passed for tax_id');
      const quantity = str(l.quantity) || '1';
      const rate = str(l.rate);
      if (!/^-?\d+(\.\d+)?$/.test(rate) || !/^\d+(\.\d+)?$/.test(quantity))
        throw new ZohoRefusal(400, 2, 'Invalid value passed for rate');
      const net = lineAmount(quantity, rate, this.currency);
      const pct = tax?.tax_percentage ?? '0';
      return {
        line_item_id: this.nextId(),
        item_id: itemId,
        name: str(l.name) || (itemId ? this.items.get(itemId)!.name : ''),
        description: str(l.description),
        quantity,
        rate,
        tax_id: taxId,
        tax_percentage: pct,
        net,
        tax: multiplyAmount(net, new Dec(pct).div(100), 'halfUp'),
      };
    });
  }

  private customer(body: Obj): string {
    const id = str(body.customer_id);
    if (!this.contacts.has(id)) throw new ZohoRefusal(400, 1002, 'Contact does not exist.');
    return id;
  }

  createInvoice(body: Obj): Doc {
    const customer = this.customer(body);
    const date = str(body.date);
    this.locked(date);
    const lines = this.lines(body);
    const total = lines.reduce((s, l) => s + l.net + l.tax, 0n);
    const d: Doc = {
      id: this.nextId(),
      number: `INV-${String(++this.#invoiceSeq).padStart(6, '0')}`,
      reference_number: str(body.reference_number),
      customer_id: customer,
      date,
      due_date: str(body.due_date) || null,
      status: 'draft',
      lines,
      total,
      balance: total,
      notes: str(body.notes),
    };
    this.invoices.set(d.id, d);
    return d;
  }

  markSent(id: string): Doc {
    const d = this.invoices.get(id);
    if (!d) throw new ZohoRefusal(404, 1002, 'Invoice does not exist.');
    if (d.status !== 'draft') throw new ZohoRefusal(400, 1009, 'Invoice has already been sent.');
    d.status = d.balance === 0n ? 'paid' : 'sent';
    return d;
  }

  createCreditNote(body: Obj): Doc {
    const customer = this.customer(body);
    const date = str(body.date);
    this.locked(date);
    const lines = this.lines(body);
    const total = lines.reduce((s, l) => s + l.net + l.tax, 0n);
    const d: Doc = {
      id: this.nextId(),
      number: `CN-${String(++this.#noteSeq).padStart(5, '0')}`,
      reference_number: str(body.reference_number),
      customer_id: customer,
      date,
      due_date: null,
      status: 'open',
      lines,
      total,
      balance: total,
      notes: str(body.notes),
    };
    this.creditNotes.set(d.id, d);
    return d;
  }

  /**
   * Voids an invoice, as "Void" in Zoho Books does (POST /invoices/{id}/status/void): it stays,
   * status `void`, out of the books, nothing owed; the payments and credits applied to it are
   * unassociated and go back to the customer's credits (unused on the payment, open on the credit note).
   */
  voidInvoice(id: string): Doc {
    const d = this.invoices.get(id);
    if (!d) throw new ZohoRefusal(404, 1002, 'Invoice does not exist.');
    for (const p of this.payments.values()) p.invoices = p.invoices.filter((i) => i.invoice_id !== id);
    for (let i = this.credits.length - 1; i >= 0; i--) {
      const c = this.credits[i]!;
      if (c.invoice_id !== id) continue;
      const note = this.creditNotes.get(c.creditnote_id)!;
      note.balance += c.amount_applied;
      note.status = 'open';
      this.credits.splice(i, 1);
    }
    d.status = 'void';
    d.balance = 0n;
    return d;
  }

  /**
   * Refunds part of a credit note's balance to its customer, as a person does in Zoho Books
   * (POST /creditnotes/{id}/refunds; the target sends none): the credit note has that much less
   * to credit, and the customer is paid it.
   */
  refundCreditNote(noteId: string, amount: bigint, date: string, reference = ''): CreditNoteRefund {
    const note = this.creditNotes.get(noteId);
    if (!note) throw new ZohoRefusal(404, 12004, 'Credit note does not exist.');
    this.locked(date);
    if (note.status !== 'open' || amount <= 0n || amount > note.balance)
      throw new ZohoRefusal(400, 12006, 'The amount to credit exceeds the credits remaining.');
    note.balance -= amount;
    if (note.balance === 0n) note.status = 'closed';
    const r: CreditNoteRefund = {
      creditnote_refund_id: this.nextId(),
      creditnote_id: noteId,
      date,
      amount,
      reference_number: reference,
    };
    this.creditNoteRefunds.push(r);
    return r;
  }

  private applicable(invoiceId: string, customer: string): Doc {
    const inv = this.invoices.get(invoiceId);
    if (!inv) throw new ZohoRefusal(400, 1002, 'Invoice does not exist.');
    if (inv.customer_id !== customer)
      throw new ZohoRefusal(400, 24011, 'The invoice does not belong to this customer.');
    if (inv.status === 'draft' || inv.status === 'void')
      throw new ZohoRefusal(400, 12005, 'Credits cannot be applied to draft or void invoices.');
    return inv;
  }

  private settle(inv: Doc, amount: bigint): void {
    if (amount > inv.balance)
      throw new ZohoRefusal(400, 24016, 'The amount applied is more than the balance due of the invoice.');
    inv.balance -= amount;
    inv.status = inv.balance === 0n ? 'paid' : 'partially_paid';
  }

  applyCredit(noteId: string, body: Obj): Credit[] {
    const note = this.creditNotes.get(noteId);
    if (!note) throw new ZohoRefusal(404, 12004, 'Credit note does not exist.');
    if (note.status !== 'open')
      throw new ZohoRefusal(400, 12003, 'Credits cannot be applied from a closed or void credit note.');
    const rows = Array.isArray(body.invoices) ? (body.invoices as Obj[]) : [];
    if (rows.length === 0) throw new ZohoRefusal(400, 2, 'Invalid value passed for invoices');
    const wanted = rows.map((r) => ({
      inv: this.applicable(str(r.invoice_id), note.customer_id),
      amount: this.amount(r.amount_applied, 'amount_applied'),
    }));
    const sum = wanted.reduce((s, w) => s + w.amount, 0n);
    if (sum > note.balance) throw new ZohoRefusal(400, 12006, 'The amount to credit exceeds the credits remaining.');
    for (const w of wanted)
      if (w.amount > w.inv.balance)
        throw new ZohoRefusal(400, 24016, 'The amount applied is more than the balance due of the invoice.');
    const out: Credit[] = [];
    for (const w of wanted) {
      this.settle(w.inv, w.amount);
      const c: Credit = {
        creditnote_invoice_id: this.nextId(),
        creditnote_id: noteId,
        invoice_id: w.inv.id,
        amount_applied: w.amount,
        date: new Date().toISOString().slice(0, 10),
      };
      this.credits.push(c);
      out.push(c);
    }
    note.balance -= sum;
    if (note.balance === 0n) note.status = 'closed';
    return out;
  }

  private paymentFields(p: Payment, body: Obj, previous: Payment['invoices']): void {
    const amount = this.amount(body.amount, 'amount');
    if (amount <= 0n) throw new ZohoRefusal(400, 2, 'Invalid value passed for amount');
    // Bank charges come out of what is deposited, never more than it. An update that leaves them
    // out is taken to clear them (the cautious reading: the connector sends them back as read).
    const charges = body.bank_charges === undefined ? 0n : this.amount(body.bank_charges, 'bank_charges');
    if (charges < 0n || charges > amount) throw new ZohoRefusal(400, 2, 'Invalid value passed for bank_charges');
    const rows = Array.isArray(body.invoices) ? (body.invoices as Obj[]) : [];
    const wanted = rows.map((r) => ({
      id: str(r.invoice_id),
      amount: this.amount(r.amount_applied, 'amount_applied'),
    }));
    if (wanted.reduce((s, w) => s + w.amount, p.refunded) > amount)
      throw new ZohoRefusal(400, 24017, 'The amount applied to invoices is more than the payment amount.');
    // What this payment applied before is given back before the new applications are checked.
    for (const w of previous) {
      const inv = this.invoices.get(w.invoice_id)!;
      inv.balance += w.amount_applied;
    }
    try {
      for (const w of wanted) {
        const inv = this.applicable(w.id, p.customer_id);
        if (w.amount > inv.balance)
          throw new ZohoRefusal(400, 24016, 'The amount applied is more than the balance due of the invoice.');
      }
    } catch (err) {
      for (const w of previous) this.invoices.get(w.invoice_id)!.balance -= w.amount_applied;
      throw err;
    }
    for (const w of previous) {
      const inv = this.invoices.get(w.invoice_id)!;
      inv.status = inv.balance === 0n ? 'paid' : inv.balance === inv.total ? 'sent' : 'partially_paid';
    }
    for (const w of wanted) this.settle(this.invoices.get(w.id)!, w.amount);
    p.amount = amount;
    p.bank_charges = charges;
    p.invoices = wanted.map((w) => ({ invoice_id: w.id, amount_applied: w.amount }));
    p.payment_mode = str(body.payment_mode) || p.payment_mode;
    p.date = str(body.date) || p.date;
    p.reference_number = body.reference_number !== undefined ? str(body.reference_number) : p.reference_number;
  }

  createPayment(body: Obj): Payment {
    const customer = this.customer(body);
    const date = str(body.date);
    this.locked(date);
    const p: Payment = {
      payment_id: this.nextId(),
      payment_number: String(this.#paymentSeq + 1),
      reference_number: '',
      customer_id: customer,
      payment_mode: 'cash',
      amount: 0n,
      bank_charges: 0n,
      date,
      description: str(body.description),
      account_id: body.account_id === undefined ? null : str(body.account_id),
      invoices: [],
      refunded: 0n,
    };
    this.paymentFields(p, body, []);
    this.#paymentSeq++;
    this.payments.set(p.payment_id, p);
    return p;
  }

  updatePayment(id: string, body: Obj): Payment {
    const p = this.payments.get(id);
    if (!p) throw new ZohoRefusal(404, 24001, 'Payment does not exist.');
    if (str(body.customer_id) !== p.customer_id) throw new ZohoRefusal(400, 2, 'Invalid value passed for customer_id');
    this.paymentFields(p, body, p.invoices);
    return p;
  }

  // Views: what Zoho answers.
  contactView(c: Contact): Obj {
    return { ...c.fields, contact_id: c.contact_id, contact_name: c.contact_name, contact_number: c.contact_number };
  }

  itemView(i: Item): Obj {
    return { ...i.fields, item_id: i.item_id, name: i.name, sku: i.sku, status: 'active' };
  }

  docView(d: Doc, kind: 'invoice' | 'creditnote'): Obj {
    const cur = this.currency;
    return {
      [`${kind}_id`]: d.id,
      [`${kind}_number`]: d.number,
      reference_number: d.reference_number,
      customer_id: d.customer_id,
      customer_name: this.contacts.get(d.customer_id)?.contact_name ?? '',
      date: d.date,
      ...(kind === 'invoice' ? { due_date: d.due_date ?? d.date } : {}),
      status: d.status,
      currency_code: cur,
      line_items: d.lines.map((l) => ({
        line_item_id: l.line_item_id,
        item_id: l.item_id ?? '',
        name: l.name,
        description: l.description,
        quantity: new LosslessNumber(l.quantity),
        rate: new LosslessNumber(l.rate),
        tax_id: l.tax_id ?? '',
        tax_percentage: new LosslessNumber(l.tax_percentage),
        item_total: dec(l.net, cur),
      })),
      sub_total: dec(
        d.lines.reduce((s, l) => s + l.net, 0n),
        cur,
      ),
      tax_total: dec(
        d.lines.reduce((s, l) => s + l.tax, 0n),
        cur,
      ),
      total: dec(d.total, cur),
      balance: dec(d.balance, cur),
      notes: d.notes,
    };
  }

  paymentView(p: Payment): Obj {
    const cur = this.currency;
    const applied = p.invoices.reduce((s, i) => s + i.amount_applied, 0n);
    return {
      payment_id: p.payment_id,
      payment_number: p.payment_number,
      reference_number: p.reference_number,
      customer_id: p.customer_id,
      payment_mode: p.payment_mode,
      amount: dec(p.amount, cur),
      bank_charges: dec(p.bank_charges, cur),
      unused_amount: dec(p.amount - applied - p.refunded, cur),
      amount_refunded: dec(p.refunded, cur),
      account_id: p.account_id ?? UNDEPOSITED_FUNDS,
      date: p.date,
      description: p.description,
      currency_code: cur,
      invoices: p.invoices.map((i) => ({
        invoice_id: i.invoice_id,
        invoice_number: this.invoices.get(i.invoice_id)?.number ?? '',
        amount_applied: dec(i.amount_applied, cur),
      })),
    };
  }

  /** A row of GET /creditnotes/refunds: amounts in the organisation's currency and the note's (one here). */
  creditNoteRefundView(r: CreditNoteRefund): Obj {
    const note = this.creditNotes.get(r.creditnote_id)!;
    return {
      creditnote_refund_id: r.creditnote_refund_id,
      creditnote_id: r.creditnote_id,
      date: r.date,
      refund_mode: 'cash',
      reference_number: r.reference_number,
      creditnote_number: note.number,
      customer_name: this.contacts.get(note.customer_id)?.contact_name ?? '',
      description: '',
      amount_bcy: dec(r.amount, this.currency),
      amount_fcy: dec(r.amount, this.currency),
    };
  }

  creditView(c: Credit): Obj {
    return {
      creditnote_invoice_id: c.creditnote_invoice_id,
      creditnote_id: c.creditnote_id,
      invoice_id: c.invoice_id,
      invoice_number: this.invoices.get(c.invoice_id)?.number ?? '',
      date: c.date,
      amount_applied: dec(c.amount_applied, this.currency),
    };
  }
}
