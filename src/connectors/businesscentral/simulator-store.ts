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
  /**
   * As the API's `status`: `Canceled` an invoice cancelled by its corrective credit memo (which is
   * `Corrective`); Business Central deletes no posted document.
   */
  status: 'Draft' | 'Open' | 'Paid' | 'Canceled' | 'Corrective';
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

/**
 * A general journal line (`journalLines`, APIV2 - JournalLines): an account of type G/L Account or
 * Bank Account against a balancing account; in a customer payment journal, a payment provider's fee
 * beside the payments.
 */
export interface GlJournalLine {
  id: string;
  journalId: string;
  lineNumber: number;
  accountType: 'G/L Account' | 'Bank Account';
  accountNumber: string;
  balanceAccountType: 'G/L Account' | 'Bank Account';
  balancingAccountNumber: string;
  postingDate: string;
  documentNumber: string;
  externalDocumentNumber: string;
  amount: Decimal;
  description: string;
}

/** A G/L account of the chart (`accounts`, APIV2 - Accounts). */
export interface GlAccount {
  id: string;
  number: string;
  displayName: string;
  /** "G/L Account Category": Assets, Liabilities, Equity, Income, Cost_of_Goods_Sold, Expense. */
  category: string;
  /** "API Account Type": Posting, Heading, Total, Begin_Total, End_Total. */
  accountType: string;
  blocked: boolean;
  directPosting: boolean;
}

/** A bank account (`bankAccounts`): what it posts to in the G/L (its posting group's account). */
export interface BankAccount {
  id: string;
  number: string;
  displayName: string;
  currencyCode: string;
  glAccount: string;
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
  /** Customer payment journals (batch codes), each balanced by the first bank account. */
  journals: string[];
  /** The chart beyond the sales accounts: number, name, category and, optionally, type and flags. */
  chart?: (Partial<GlAccount> & { number: string; displayName: string; category: string })[];
  /** Bank accounts: number, name and the G/L account they post to. */
  banks?: { number: string; displayName: string; glAccount: string; currencyCode?: string }[];
}

/** The demo chart: a bank, the sales accounts, and one bank-fees expense account ("Banking fees", as Contoso's US and GB charts name it). */
export const DEFAULT_CHART: NonNullable<CompanySetup['chart']> = [
  { number: '10100', displayName: 'Bank, LCY', category: 'Assets' },
  { number: '40100', displayName: 'Sales, Services', category: 'Income' },
  { number: '40200', displayName: 'Sales, Retail', category: 'Income' },
  { number: '60000', displayName: 'Operating expenses', category: 'Expense', accountType: 'Heading' },
  { number: '67100', displayName: 'Banking fees', category: 'Expense' },
  { number: '67200', displayName: 'Office supplies', category: 'Expense' },
];
export const DEFAULT_BANKS: NonNullable<CompanySetup['banks']> = [
  { number: 'WWB-EUR', displayName: 'World Wide Bank EUR', glAccount: '10100' },
];

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
  /** General journal lines (G/L or bank account) waiting in a journal: providers' fees. */
  readonly glJournalLines = new Map<string, GlJournalLine>();
  readonly payments: PostedPayment[] = [];
  /** General journal lines as posted (a provider's fee): kept as entered, for tests. */
  readonly postedGlLines: GlJournalLine[] = [];
  readonly accounts = new Map<string, GlAccount>();
  readonly banks = new Map<string, BankAccount>();
  readonly glEntries: Row[] = [];
  private seq = { draft: 1000, invoice: 103000, memo: 104000, gl: 0, customer: 0 };

  constructor(readonly setup: CompanySetup) {
    for (const a of setup.chart ?? DEFAULT_CHART)
      this.accounts.set(a.number, {
        id: randomUUID(),
        accountType: 'Posting',
        blocked: false,
        directPosting: true,
        ...a,
      });
    for (const b of setup.banks ?? DEFAULT_BANKS)
      this.banks.set(b.number, { id: randomUUID(), currencyCode: '', ...b });
    const bank = [...this.banks.values()][0];
    for (const code of setup.journals)
      this.journals.set(randomUUID(), {
        id: '',
        code,
        displayName: `${code} payments`,
        balancingAccountId: bank?.id ?? '00000000-0000-0000-0000-000000000000',
        balancingAccountNumber: bank?.number ?? '',
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

  /**
   * Cancels a posted invoice as Business Central's Cancel does (Posted Sales Invoice → Cancel, or
   * `Microsoft.NAV.cancel`): a corrective credit memo for its whole amount is posted against it,
   * the invoice keeps its number and amounts with status `Canceled` and nothing left to pay. One
   * paid in part or in full is refused, as there.
   */
  cancelInvoice(id: string): SalesDoc {
    const inv = this.docs.get(id);
    if (!inv || inv.set !== 'salesInvoices') throw notFound('salesInvoice');
    if (inv.status === 'Canceled') throw dialog('The invoice cannot be canceled because it has already been canceled.');
    if (inv.status === 'Draft') throw dialog('Only a posted invoice can be canceled.');
    const total = this.total(inv);
    if (!inv.remaining.equals(total))
      throw dialog(`You cannot cancel the posted sales invoice ${inv.number} because it is fully or partially paid.`);
    const memo: SalesDoc = {
      ...inv,
      id: randomUUID(),
      set: 'salesCreditMemos',
      number: String(++this.seq.memo),
      externalDocumentNumber: '',
      status: 'Corrective',
      lines: inv.lines.map((l) => ({ ...l, id: randomUUID() })),
      invoiceId: inv.id,
      remaining: new Decimal(0),
      applied: total,
    };
    this.docs.set(memo.id, memo);
    inv.status = 'Canceled';
    inv.remaining = new Decimal(0);
    return memo;
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

  /** The G/L account a journal line may post to, refused as Business Central's checks refuse it. */
  private postingAccount(number: string, field: string): GlAccount {
    const a = this.accounts.get(number);
    if (!a)
      throw dialog(
        `The field ${field} of table Gen. Journal Line contains a value (${number}) that cannot be found in the related table (G/L Account).`,
      );
    if (a.accountType !== 'Posting')
      throw dialog(
        `Account Type must be equal to 'Posting'  in G/L Account: No.=${number}. Current value is '${a.accountType}'.`,
      );
    if (a.blocked)
      throw dialog(`Blocked must be equal to 'No'  in G/L Account: No.=${number}. Current value is 'Yes'.`);
    if (!a.directPosting)
      throw dialog(`Direct Posting must be equal to 'Yes'  in G/L Account: No.=${number}. Current value is 'No'.`);
    return a;
  }

  /** The G/L account a line's account (or balancing account) posts to: its own, or its bank's. */
  private glOf(type: string, number: string, field: string): string {
    if (type === 'G/L Account') return this.postingAccount(number, field).number;
    if (type === 'Bank Account') {
      const b = this.banks.get(number);
      if (!b)
        throw dialog(
          `The field ${field} of table Gen. Journal Line contains a value (${number}) that cannot be found in the related table (Bank Account).`,
        );
      return b.glAccount;
    }
    throw dialog(
      `${type} is not a valid option for ${field === 'Account No.' ? 'Account Type' : 'Bal. Account Type'}.`,
    );
  }

  /**
   * A general journal line (journals({id})/journalLines): account type G/L Account or Bank Account,
   * its balancing account the journal's when the body names none (as a new line takes its batch's).
   */
  addGlJournalLine(journalId: string, body: Record<string, unknown>): GlJournalLine {
    const journal = this.journals.get(journalId)!;
    const accountType = str(body.accountType, 'G/L Account');
    const accountNumber = str(body.accountNumber, '');
    const named = body.balanceAccountType !== undefined || body.balancingAccountNumber !== undefined;
    const balanceAccountType = named ? str(body.balanceAccountType, 'G/L Account') : 'Bank Account';
    const balancingAccountNumber = named
      ? str(body.balancingAccountNumber, '')
      : str(journal.balancingAccountNumber, '');
    if (accountType !== 'G/L Account' && accountType !== 'Bank Account')
      throw dialog(`${accountType} is not a valid option for Account Type on a journal line.`);
    if (balanceAccountType !== 'G/L Account' && balanceAccountType !== 'Bank Account')
      throw dialog(`${balanceAccountType} is not a valid option for Bal. Account Type on a journal line.`);
    if (accountNumber) this.glOf(accountType, accountNumber, 'Account No.');
    if (balancingAccountNumber) this.glOf(balanceAccountType, balancingAccountNumber, 'Bal. Account No.');
    const line: GlJournalLine = {
      id: randomUUID(),
      journalId,
      lineNumber:
        10000 *
        ([...this.journalLines.values(), ...this.glJournalLines.values()].filter((l) => l.journalId === journalId)
          .length +
          1),
      accountType,
      accountNumber,
      balanceAccountType,
      balancingAccountNumber,
      postingDate: str(body.postingDate, ''),
      documentNumber: str(body.documentNumber, '').toUpperCase(),
      externalDocumentNumber: str(body.externalDocumentNumber, '').toUpperCase(),
      amount: new Decimal(str(body.amount, '0')),
      description: str(body.description, ''),
    };
    this.glJournalLines.set(line.id, line);
    return line;
  }

  /** Posts every line of a journal in one transaction: all of them, or none and an error. */
  postJournal(journalId: string): void {
    const lines = [...this.journalLines.values()].filter((l) => l.journalId === journalId);
    const glLines = [...this.glJournalLines.values()].filter((l) => l.journalId === journalId);
    if (lines.length === 0 && glLines.length === 0) throw dialog('There is nothing to post.');
    const postings = glLines.map((l) => {
      if (!l.documentNumber)
        throw dialog(`Document No. must have a value in Gen. Journal Line: Line No.=${l.lineNumber}`);
      if (!l.accountNumber)
        throw dialog(`Account No. must have a value in Gen. Journal Line: Line No.=${l.lineNumber}`);
      if (!l.balancingAccountNumber)
        throw dialog(
          `Gen. Journal Line ${l.lineNumber} is out of balance by ${l.amount.toFixed(2)}: Bal. Account No. must have a value.`,
        );
      if (l.amount.isZero()) throw dialog(`Amount must have a value in Gen. Journal Line: Line No.=${l.lineNumber}`);
      // Checked again as posting checks them: an account blocked since the line was entered is refused.
      return {
        l,
        account: this.glOf(l.accountType, l.accountNumber, 'Account No.'),
        balancing: this.glOf(l.balanceAccountType, l.balancingAccountNumber, 'Bal. Account No.'),
      };
    });
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
    for (const { l, account, balancing } of postings) {
      const [debitAccount, creditAccount] = l.amount.isPositive() ? [account, balancing] : [balancing, account];
      const amount = l.amount.abs();
      for (const [accountNumber, debit, credit] of [
        [debitAccount, amount, new Decimal(0)],
        [creditAccount, new Decimal(0), amount],
      ] as const)
        this.glEntries.push({
          id: randomUUID(),
          entryNumber: ++this.seq.gl,
          postingDate: l.postingDate,
          documentNumber: l.documentNumber,
          documentType: ' ',
          accountNumber,
          description: l.description,
          debitAmount: debit,
          creditAmount: credit,
        });
      this.postedGlLines.push(l);
      this.glJournalLines.delete(l.id);
    }
  }
}
