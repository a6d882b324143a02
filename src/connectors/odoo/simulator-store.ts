import { LosslessNumber } from 'lossless-json';
import { Dec, formatAmount, lineAmount, multiplyAmount, parseAmount } from '../../domain/money.ts';

/*
 * The simulated Odoo database: partners, products, taxes, moves (invoices and credit notes, with
 * one receivable line each), payments (each with a journal entry of its own, `move_type` entry,
 * holding its receivable line), partial reconciliations and the Register Payment wizard, kept as
 * Odoo keeps them: a move is a draft named "/" until posted, posting numbers it (INV/2026/00001,
 * RINV/2026/00001) and refuses a date on or before the lock date, a reconciliation lowers both
 * receivable lines' residuals and removing it gives them back. Amounts are minor units inside and
 * JSON numbers outside. Refusals are OdooException values: the exception class and message Odoo
 * raises.
 */

export class OdooException extends Error {
  constructor(
    readonly exception: string,
    message: string,
  ) {
    super(message);
  }
}
const userError = (m: string) => new OdooException('odoo.exceptions.UserError', m);
const validation = (m: string) => new OdooException('odoo.exceptions.ValidationError', m);
const missing = (model: string, id: unknown) =>
  new OdooException(
    'odoo.exceptions.MissingError',
    `Record does not exist or has been deleted.\n(Record: ${model}(${String(id)},), User: 2)`,
  );

export type Obj = Record<string, unknown>;
export interface Line {
  product_id: number | null;
  name: string;
  quantity: string;
  price_unit: string;
  tax_id: number | null;
  net: bigint;
  tax: bigint;
}
export interface Move {
  id: number;
  move_type: 'out_invoice' | 'out_refund';
  name: string;
  ref: string;
  state: 'draft' | 'posted' | 'cancel';
  partner_id: number;
  invoice_date: string;
  invoice_date_due: string | null;
  narration: string;
  journal_id: number;
  reversed_entry_id: number | null;
  lines: Line[];
  total: bigint;
  receivable: number;
}
export interface Payment {
  id: number;
  /** Its journal entry (`account.payment.move_id`, an `account.move` of type entry): its own id space, as in Odoo. */
  move_id: number;
  payment_type: 'inbound' | 'outbound';
  name: string;
  state: string;
  partner_id: number;
  amount: bigint;
  date: string;
  ref: string;
  journal_id: number;
  receivable: number;
  /**
   * The write-off lines of its entry (`write_off_line_vals` at create: a provider's fee, fees.ts),
   * each a debit on its account for an inbound payment; its receivable line settles the rest too.
   */
  write_offs: WriteOff[];
}
export interface WriteOff {
  id: number;
  account_id: number;
  name: string;
  partner_id: number | null;
  balance: bigint;
}
/** An account of the chart (`account.account`), by its Odoo 16+ `account_type`. */
export interface Account {
  id: number;
  code: string;
  name: string;
  account_type: string;
  deprecated: boolean;
}
/** A receivable line: its balance signed (debit +, credit −) and what is left of it. */
export interface ReceivableLine {
  id: number;
  /** The invoice or credit note it belongs to; null for a payment's (its entry is the payment's `move_id`). */
  move_id: number | null;
  payment_id: number | null;
  balance: bigint;
  residual: bigint;
}
export interface Partial {
  id: number;
  debit_move_id: number;
  credit_move_id: number;
  amount: bigint;
}

export interface DatabaseOptions {
  companyName?: string | undefined;
  currency?: string | undefined;
  /** Tax name → percentage ("21"). */
  taxes?: Record<string, string> | undefined;
  /** The chart of accounts, replacing the default one (a few accounts of Odoo's generic chart, and Bank Fees). */
  accounts?: Omit<Account, 'id' | 'deprecated'>[] | undefined;
  /**
   * 18 only, false: the bank journal's payment method has no outstanding receipts account, so Odoo
   * makes a payment no journal entry and its write-off lines go nowhere (`_generate_journal_entry`
   * skips it). Only that effect is simulated: the payment keeps its receivable line here.
   */
  outstandingAccount?: boolean | undefined;
}

/** The default chart: the receivable, a bank, sales, expenses and a bank-fees expense account. */
const CHART: Omit<Account, 'id' | 'deprecated'>[] = [
  { code: '121000', name: 'Account Receivable', account_type: 'asset_receivable' },
  { code: '101401', name: 'Bank', account_type: 'asset_cash' },
  { code: '400000', name: 'Product Sales', account_type: 'income' },
  { code: '600000', name: 'Expenses', account_type: 'expense' },
  { code: '626000', name: 'Bank Fees', account_type: 'expense' },
];

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v instanceof LosslessNumber ? v.value : typeof v === 'number' ? String(v) : '';
const id = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null);
const SALES_JOURNAL = 1;
const BANK_JOURNAL = 7;

export class Database {
  readonly companyId = 1;
  readonly companyName: string;
  readonly currency: string;
  readonly taxes: { id: number; name: string; amount: string }[];
  readonly countries = new Map([
    ['BE', 20],
    ['NL', 165],
    ['FR', 75],
  ]);
  readonly partners = new Map<number, Obj & { id: number; name: string; ref: string }>();
  readonly products = new Map<number, Obj & { id: number; name: string; default_code: string }>();
  readonly moves = new Map<number, Move>();
  readonly payments = new Map<number, Payment>();
  readonly lines = new Map<number, ReceivableLine>();
  readonly accounts: Account[];
  readonly outstandingAccount: boolean;
  readonly partials: Partial[] = [];
  readonly wizards = new Map<number, { values: Obj; invoiceIds: number[] }>();
  /** Entries dated on or before it cannot be posted (Odoo's lock date). */
  lockDate: string | null = null;
  #seq = { ids: 100, inv: 0, rinv: 0, pay: 0 };

  constructor(
    readonly version: '16' | '17' | '18',
    o: DatabaseOptions = {},
  ) {
    this.companyName = o.companyName ?? 'Simulated Company';
    this.currency = o.currency ?? 'EUR';
    this.taxes = Object.entries(o.taxes ?? { '21%': '21', '6%': '6', '0%': '0' }).map(([name, amount]) => ({
      id: this.nextId(),
      name,
      amount,
    }));
    this.accounts = (o.accounts ?? CHART).map((a) => ({ ...a, id: this.nextId(), deprecated: false }));
    this.outstandingAccount = version !== '18' || o.outstandingAccount !== false;
  }

  nextId(): number {
    return ++this.#seq.ids;
  }

  private money(v: unknown, field: string): bigint {
    const t = str(v);
    const parsed = parseAmount(t.includes('.') ? t : `${t}`, this.currency);
    if (!parsed.ok) throw new OdooException('builtins.ValueError', `could not convert ${field} to float: '${t}'`);
    return parsed.value;
  }

  // Partners and products: create and write; Odoo keeps neither name nor key unique.
  upsert(model: 'res.partner' | 'product.product', ids: number[] | null, values: Obj): number {
    const table = model === 'res.partner' ? this.partners : this.products;
    if (ids === null) {
      if (!str(values.name).trim()) throw validation(`The field 'Name' is required`);
      const row = { id: this.nextId(), name: '', ref: '', default_code: '', ...values } as Obj & {
        id: number;
        name: string;
        ref: string;
        default_code: string;
      };
      if (
        row.country_id !== undefined &&
        row.country_id !== false &&
        ![...this.countries.values()].includes(row.country_id as number)
      )
        throw missing('res.country', row.country_id);
      table.set(row.id, row);
      return row.id;
    }
    for (const i of ids) {
      const row = table.get(i);
      if (!row) throw missing(model, i);
      Object.assign(row, values);
    }
    return 0;
  }

  private partner(v: unknown): number {
    const p = id(v);
    if (p === null || !this.partners.has(p)) throw missing('res.partner', v);
    return p;
  }

  private newLine(owner: { move_id?: number; payment_id?: number }, balance: bigint): number {
    const l: ReceivableLine = {
      id: this.nextId(),
      move_id: owner.move_id ?? null,
      payment_id: owner.payment_id ?? null,
      balance,
      residual: balance,
    };
    this.lines.set(l.id, l);
    return l.id;
  }

  createMove(values: Obj): number {
    const type = str(values.move_type);
    if (type !== 'out_invoice' && type !== 'out_refund')
      throw new OdooException('builtins.ValueError', `Wrong value for account.move.move_type: '${type}'`);
    const partner = this.partner(values.partner_id);
    const commands = Array.isArray(values.invoice_line_ids) ? (values.invoice_line_ids as unknown[][]) : [];
    const lines = commands.map((cmd) => this.line((cmd[2] ?? {}) as Obj));
    const total = lines.reduce((s, l) => s + l.net + l.tax, 0n);
    const reversed = values.reversed_entry_id === undefined ? null : id(values.reversed_entry_id);
    if (reversed !== null && !this.moves.has(reversed)) throw missing('account.move', reversed);
    const m: Move = {
      id: this.nextId(),
      move_type: type,
      name: '/',
      ref: str(values.ref),
      state: 'draft',
      partner_id: partner,
      invoice_date: str(values.invoice_date),
      invoice_date_due: str(values.invoice_date_due) || null,
      narration: str(values.narration),
      journal_id: id(values.journal_id) ?? SALES_JOURNAL,
      reversed_entry_id: reversed,
      lines,
      total,
      receivable: 0,
    };
    m.receivable = this.newLine({ move_id: m.id }, type === 'out_invoice' ? total : -total);
    this.moves.set(m.id, m);
    return m.id;
  }

  private line(l: Obj): Line {
    const productId = l.product_id === undefined ? null : id(l.product_id);
    if (productId !== null && !this.products.has(productId)) throw missing('product.product', productId);
    const taxIds = ((l.tax_ids as unknown[][] | undefined)?.[0]?.[2] as unknown[] | undefined) ?? [];
    const taxId = taxIds.length > 0 ? id(taxIds[0]) : null;
    const tax = taxId === null ? undefined : this.taxes.find((t) => t.id === taxId);
    if (taxId !== null && !tax) throw missing('account.tax', taxId);
    const quantity = str(l.quantity) || '1';
    const price = str(l.price_unit) || '0';
    const net = lineAmount(quantity, price, this.currency);
    return {
      product_id: productId,
      name: str(l.name),
      quantity,
      price_unit: price,
      tax_id: taxId,
      net,
      tax: multiplyAmount(net, new Dec(tax?.amount ?? '0').div(100), 'halfUp'),
    };
  }

  postMove(moveId: number): void {
    const m = this.moves.get(moveId);
    if (!m) throw missing('account.move', moveId);
    if (m.state !== 'draft') throw userError(`The entry ${m.name} (id ${m.id}) must be in draft.`);
    if (m.lines.length === 0) throw userError('You need to add a line before posting.');
    if (!m.invoice_date) m.invoice_date = new Date().toISOString().slice(0, 10);
    if (this.lockDate && m.invoice_date <= this.lockDate)
      throw userError(`You cannot add/modify entries prior to and inclusive of the lock date ${this.lockDate}.`);
    const year = m.invoice_date.slice(0, 4);
    const n = m.move_type === 'out_invoice' ? ++this.#seq.inv : ++this.#seq.rinv;
    m.name = `${m.move_type === 'out_invoice' ? 'INV' : 'RINV'}/${year}/${String(n).padStart(5, '0')}`;
    m.state = 'posted';
  }

  /**
   * A person cancels a posted invoice or credit note, as Odoo 16–18 have it done: "Reset to Draft"
   * (`button_draft`, which removes the reconciliations of its lines: what paid it is open again),
   * then "Cancel" (`button_cancel`): it keeps its number, out of the books, state `cancel`.
   */
  cancelMove(moveId: number): void {
    const m = this.moves.get(moveId);
    if (!m) throw missing('account.move', moveId);
    for (const p of this.partials.filter((x) => x.debit_move_id === m.receivable || x.credit_move_id === m.receivable))
      this.removePartial([moveId], p.id);
    m.state = 'cancel';
  }

  unlink(model: 'account.move' | 'account.payment', ids: number[]): void {
    for (const i of ids) {
      const row = model === 'account.move' ? this.moves.get(i) : this.payments.get(i);
      if (!row) throw missing(model, i);
      if (row.state !== 'draft') throw userError('You cannot delete an entry which has been posted once.');
    }
    for (const i of ids) {
      const row = model === 'account.move' ? this.moves.get(i)! : this.payments.get(i)!;
      this.lines.delete(row.receivable);
      if (model === 'account.move') this.moves.delete(i);
      else this.payments.delete(i);
    }
  }

  createPayment(values: Obj, refField: string): number {
    const outbound = values.payment_type === 'outbound';
    if ((values.payment_type !== 'inbound' && !outbound) || values.partner_type !== 'customer')
      throw userError('This simulated Odoo takes customer payments only.');
    const amount = this.money(values.amount, 'amount');
    if (amount <= 0n) throw validation('The payment amount cannot be negative.');
    const p: Payment = {
      id: this.nextId(),
      move_id: this.nextId(),
      payment_type: outbound ? 'outbound' : 'inbound',
      name: '/',
      state: 'draft',
      partner_id: this.partner(values.partner_id),
      amount,
      date: str(values.date) || new Date().toISOString().slice(0, 10),
      ref: str(values[refField]),
      journal_id: id(values.journal_id) ?? BANK_JOURNAL,
      receivable: 0,
      write_offs: this.writeOffs(values.write_off_line_vals),
    };
    if (!this.outstandingAccount) p.write_offs = [];
    // Money received credits the customer's receivable; money sent back debits it. The write-off
    // lines balance against it: the receivable settles the liquidity and the write-offs together.
    const off = p.write_offs.reduce((sum, w) => sum + w.balance, 0n);
    p.receivable = this.newLine({ payment_id: p.id }, (outbound ? amount : -amount) - off);
    this.payments.set(p.id, p);
    return p.id;
  }

  /**
   * The write-off lines of a payment's create values: on 16–18 a list of line values, each with
   * `amount_currency` and `balance` (account_payment.py `_prepare_move_line_default_vals`); the
   * dict of 15 and before fails there as Python fails indexing a key of it.
   */
  private writeOffs(v: unknown): WriteOff[] {
    if (v === undefined || v === null || v === false) return [];
    if (!Array.isArray(v)) throw new OdooException('builtins.TypeError', 'string indices must be integers');
    return (v as Obj[]).map((w) => {
      const account = this.accounts.find((a) => a.id === id(w.account_id));
      if (!account) throw missing('account.account', w.account_id);
      if (account.deprecated) throw userError(`The account ${account.code} ${account.name} is deprecated.`);
      if (w.balance === undefined || w.amount_currency === undefined)
        throw new OdooException('builtins.KeyError', w.balance === undefined ? "'balance'" : "'amount_currency'");
      const balance = this.money(w.balance, 'balance');
      return {
        id: this.nextId(),
        account_id: account.id,
        name: str(w.name),
        partner_id: id(w.partner_id),
        balance,
      };
    });
  }

  postPayment(paymentId: number): void {
    const p = this.payments.get(paymentId);
    if (!p) throw missing('account.payment', paymentId);
    if (p.state !== 'draft') throw userError('Only a draft payment can be posted.');
    if (this.lockDate && p.date <= this.lockDate)
      throw userError(`You cannot add/modify entries prior to and inclusive of the lock date ${this.lockDate}.`);
    p.name = `PBNK1/${p.date.slice(0, 4)}/${String(++this.#seq.pay).padStart(5, '0')}`;
    p.state = this.version === '18' ? 'in_process' : 'posted';
  }

  /** The wizard opened on invoices (`active_ids`): Odoo refuses one with nothing left to pay. */
  createWizard(values: Obj, context: Obj): number {
    if (context.active_model !== 'account.move' || !Array.isArray(context.active_ids))
      throw userError(
        'The register payment wizard should only be called on account.move or account.move.line records.',
      );
    const invoiceIds = (context.active_ids as unknown[]).map((v) => id(v) ?? 0);
    for (const i of invoiceIds) {
      const m = this.moves.get(i);
      if (!m) throw missing('account.move', i);
      if (m.state !== 'posted') throw userError('You can only register payment for posted journal entries.');
      if (this.lines.get(m.receivable)!.residual === 0n)
        throw userError(
          "You can't register a payment because there is nothing left to pay on the selected journal items.",
        );
    }
    const w = this.nextId();
    this.wizards.set(w, { values, invoiceIds });
    return w;
  }

  /** Creates the payment, posts it and reconciles it with the invoice for as much as both allow. */
  runWizard(wizardId: number): Obj {
    const w = this.wizards.get(wizardId);
    if (!w) throw missing('account.payment.register', wizardId);
    const invoice = this.moves.get(w.invoiceIds[0]!)!;
    const owed = this.lines.get(invoice.receivable)!.residual;
    const amount = w.values.amount === undefined ? owed : this.money(w.values.amount, 'amount');
    const paymentId = this.createPayment(
      {
        payment_type: 'inbound',
        partner_type: 'customer',
        partner_id: invoice.partner_id,
        amount: new LosslessNumber(formatAmount(amount, this.currency)),
        date: str(w.values.payment_date),
        ref: str(w.values.communication) || invoice.name,
        journal_id: w.values.journal_id ?? BANK_JOURNAL,
      },
      'ref',
    );
    this.postPayment(paymentId);
    this.reconcile(invoice.receivable, this.payments.get(paymentId)!.receivable);
    this.wizards.delete(wizardId);
    return {
      name: 'Payments',
      type: 'ir.actions.act_window',
      res_model: 'account.payment',
      context: { create: false },
      view_mode: 'form',
      res_id: paymentId,
    };
  }

  /** The payment whose journal entry is this `account.move` id, if any. */
  paymentOfEntry(moveId: number): Payment | undefined {
    for (const p of this.payments.values()) if (p.move_id === moveId) return p;
    return undefined;
  }

  /** Whether a receivable line's entry is posted (a payment's entry is posted with the payment). */
  private linePosted(l: ReceivableLine): boolean {
    const state = l.move_id !== null ? this.moves.get(l.move_id)!.state : this.payments.get(l.payment_id!)!.state;
    return state !== 'draft' && state !== 'cancel' && state !== 'canceled';
  }

  /**
   * `js_assign_outstanding_line(line_id)` on any move, an invoice or a payment's entry alike, as
   * Odoo 16–18 do it: the given line with the move's own lines on the same account that are not
   * reconciled, reconciled together (`account.move.line.reconcile`). Odoo checks neither the move's
   * type nor the partners; it refuses a line already reconciled and an entry not posted, in those
   * words, and reconciles as much as the debit and the credit both have open.
   */
  assignOutstanding(moveId: number, lineId: number): void {
    const owner = this.moves.get(moveId) ?? this.paymentOfEntry(moveId);
    if (!owner) throw missing('account.move', moveId);
    const given = this.lines.get(lineId);
    if (!given) throw missing('account.move.line', lineId);
    const own = this.lines.get(owner.receivable)!;
    const lines = own.id !== given.id && own.residual !== 0n ? [given, own] : [given];
    if (lines.some((l) => l.residual === 0n))
      throw userError('You are trying to reconcile some entries that are already reconciled.');
    if (!lines.every((l) => this.linePosted(l))) throw userError('You can only reconcile posted entries.');
    const debit = lines.find((l) => l.balance > 0n);
    const credit = lines.find((l) => l.balance < 0n);
    if (debit && credit) this.reconcile(debit.id, credit.id);
  }

  /**
   * `js_remove_outstanding_partial(partial_id)` on a move, as Odoo 16–18 do it: the move is only
   * checked to be one record (`ensure_one`), never read, and the partial is unlinked whatever
   * lines it joins; both lines get its amount back as open. A partial that does not exist is a
   * MissingError, as Odoo's unlink raises when it reads the record's fields.
   */
  removePartial(moveIds: number[], partialId: number): void {
    if (moveIds.length !== 1)
      throw new OdooException('builtins.ValueError', `Expected singleton: account.move(${moveIds.join(', ')})`);
    const at = this.partials.findIndex((p) => p.id === partialId);
    if (at < 0) throw missing('account.partial.reconcile', partialId);
    const [p] = this.partials.splice(at, 1);
    this.lines.get(p!.debit_move_id)!.residual += p!.amount;
    this.lines.get(p!.credit_move_id)!.residual -= p!.amount;
  }

  private reconcile(debitId: number, creditId: number): void {
    const debit = this.lines.get(debitId)!;
    const credit = this.lines.get(creditId)!;
    const amount = debit.residual < -credit.residual ? debit.residual : -credit.residual;
    if (amount <= 0n) return;
    debit.residual -= amount;
    credit.residual += amount;
    this.partials.push({ id: this.nextId(), debit_move_id: debitId, credit_move_id: creditId, amount });
  }
}
