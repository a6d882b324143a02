import { LosslessNumber } from 'lossless-json';
import { Dec } from '../../domain/money.ts';
import { checkJournalEntry, receivableCharge, voidedJournalEntry } from './simulator-journal.ts';

/*
 * The books of one simulated QuickBooks Online company (a realm): its entities, their numbering,
 * SyncTokens and the business rules the real service applies to what the connector writes (a
 * DisplayName is unique, a SyncToken must be current, a payment applies to open transactions of
 * its customer, tax codes exist, a journal entry balances: simulator-journal.ts).
 * src/connectors/quickbooks/simulator.ts serves it over HTTP.
 */

export type Entity = Record<string, unknown> & { Id: string; SyncToken: string };

/** One error of a Fault, in QuickBooks' form. */
export interface FaultError {
  Message: string;
  Detail: string;
  code: string;
  element?: string;
}

export class Fault extends Error {
  constructor(
    readonly type: 'ValidationFault' | 'SystemFault' | 'AuthenticationFault' | 'AuthorizationFault',
    readonly errors: FaultError[],
  ) {
    super(errors[0]?.Message ?? type);
  }
  json() {
    return { Error: this.errors.map((e) => ({ element: '', ...e })), type: this.type };
  }
}

const validation = (code: string, message: string, detail: string, element = '') =>
  new Fault('ValidationFault', [{ Message: message, Detail: detail, code, element }]);

/** The entity types the simulator keeps. */
export const ENTITY_TYPES = [
  'Customer',
  'Item',
  'Invoice',
  'Payment',
  'CreditMemo',
  'RefundReceipt',
  'Purchase',
  'JournalEntry',
  'TaxCode',
  'TaxRate',
  'Account',
  'CompanyInfo',
  'Preferences',
] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

/** Written by the connector (validated against the XSD); the rest are set up by the simulator. */
export const WRITABLE = new Set<string>([
  'Customer',
  'Item',
  'Invoice',
  'Payment',
  'CreditMemo',
  'RefundReceipt',
  'Purchase',
  'JournalEntry',
]);

export interface CompanySetup {
  /** `US`: sales tax (TaxCodeRef TAX/NON). Anything else (GB, CA, AU…): VAT codes by rate. */
  country: string;
  currency: string;
  /** VAT companies: the rates (percent as decimal text) a code exists for, as [name, rate]. */
  vatRates?: [string, string][];
  /**
   * Duplicate DocNumbers refused (6140; QuickBooks' "warn on duplicate numbers" preference) unless
   * the request carries `include=allowduplicatedocnum`, as Intuit documents for DocNumber. Default false.
   */
  uniqueDocNumbers?: boolean;
}

/** What a request says beside its entity. */
export interface WriteOptions {
  /** `include=allowduplicatedocnum`: the company's duplicate number check is not made for this write. */
  allowDuplicateDocNumber?: boolean;
}

const money = (d: Dec) => new LosslessNumber(d.toFixed(2));
const dec = (v: unknown): Dec => {
  if (v instanceof LosslessNumber) return new Dec(v.value);
  if (typeof v === 'number' || typeof v === 'string') return new Dec(v);
  return new Dec(0);
};
/** A scalar as text (a LosslessNumber by its digits); anything else is empty. */
export const str = (v: unknown): string =>
  typeof v === 'string'
    ? v
    : v instanceof LosslessNumber
      ? v.value
      : typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : '';
const ref = (v: unknown): string | undefined => (v as { value?: string } | undefined)?.value;

interface PaymentLine {
  Amount: unknown;
  LinkedTxn?: { TxnId: string; TxnType: string }[];
}

/** What a payment's lines apply to each transaction (`Invoice:12`, `CreditMemo:7`). */
function applications(e: Record<string, unknown> | null): Map<string, Dec> {
  const out = new Map<string, Dec>();
  for (const l of (e?.Line as PaymentLine[] | undefined) ?? []) {
    const link = l.LinkedTxn?.[0];
    if (!link) continue;
    const key = `${link.TxnType}:${link.TxnId}`;
    out.set(key, (out.get(key) ?? new Dec(0)).add(dec(l.Amount)));
  }
  return out;
}

export class Books {
  readonly entities = new Map<EntityType, Map<string, Entity>>(ENTITY_TYPES.map((t) => [t, new Map()]));
  private nextId = 1;
  private docNumber = 1000;
  /** Incremented on every write: CDC and LastUpdatedTime order by it. */
  private clock: () => Date;

  constructor(
    readonly realmId: string,
    readonly setup: CompanySetup,
    clock: () => Date = () => new Date(),
  ) {
    this.clock = clock;
    const us = setup.country === 'US';
    this.put('CompanyInfo', {
      CompanyName: `Simulated company ${realmId}`,
      LegalName: `Simulated company ${realmId}`,
      Country: setup.country,
      CompanyAddr: { Country: setup.country },
    });
    this.put('Preferences', {
      TaxPrefs: { UsingSalesTax: true, PartnerTaxEnabled: us },
      CurrencyPrefs: { MultiCurrencyEnabled: true, HomeCurrency: { value: setup.currency } },
      SalesFormsPrefs: { CustomTxnNumbers: true },
    });
    this.addAccount({
      Name: 'Sales of Product Income',
      AccountType: 'Income',
      AccountSubType: 'SalesOfProductIncome',
      AcctNum: '4000',
    });
    this.addAccount({
      Name: 'Services',
      AccountType: 'Income',
      AccountSubType: 'ServiceFeeIncome',
      AcctNum: '4100',
    });
    this.addAccount({
      Name: 'Undeposited Funds',
      AccountType: 'Other Current Asset',
      AccountSubType: 'UndepositedFunds',
      AcctNum: '1200',
    });
    this.addAccount({ Name: 'Checking', AccountType: 'Bank', AccountSubType: 'Checking', AcctNum: '1000' });
    this.addAccount({
      Name: 'Bank Charges',
      AccountType: 'Expense',
      AccountSubType: 'BankCharges',
      AcctNum: '6100',
    });
    this.addAccount({
      Name: 'Accounts Receivable (A/R)',
      AccountType: 'Accounts Receivable',
      AccountSubType: 'AccountsReceivable',
      AcctNum: '1100',
    });
    if (!us) {
      for (const [name, rate] of setup.vatRates ?? [
        ['20.0% S', '20'],
        ['5.0% R', '5'],
        ['0.0% Z', '0'],
      ]) {
        const r = this.put('TaxRate', {
          Name: name,
          RateValue: new LosslessNumber(rate),
          Active: true,
          AgencyRef: { value: '1' },
        });
        this.put('TaxCode', {
          Name: name,
          Active: true,
          Taxable: rate !== '0',
          SalesTaxRateList: {
            TaxRateDetail: [{ TaxRateRef: { value: r.Id, name }, TaxTypeApplicable: 'TaxOnAmount' }],
          },
          PurchaseTaxRateList: { TaxRateDetail: [] },
        });
      }
    }
  }

  all(type: EntityType): Entity[] {
    return [...this.entities.get(type)!.values()];
  }

  get(type: EntityType, id: string): Entity | undefined {
    return this.entities.get(type)!.get(id);
  }

  private meta(created?: unknown) {
    const now = this.clock().toISOString();
    return { CreateTime: (created as { CreateTime?: string } | undefined)?.CreateTime ?? now, LastUpdatedTime: now };
  }

  private put(type: EntityType, body: Record<string, unknown>): Entity {
    const id = String(this.nextId++);
    const e = { ...body, Id: id, SyncToken: '0', domain: 'QBO', sparse: false, MetaData: this.meta() } as Entity;
    this.entities.get(type)!.set(id, e);
    return e;
  }

  /** Bumps an entity's SyncToken as another app's edit would (for stale-token tests). */
  touch(type: EntityType, id: string): void {
    const e = this.get(type, id);
    if (!e) throw new Error(`no ${type} ${id}`);
    e.SyncToken = String(Number(e.SyncToken) + 1);
    e.MetaData = this.meta(e.MetaData);
  }

  /**
   * An account a person adds to the chart of accounts (the simulator takes no Account writes through
   * the API): active unless `Active` says otherwise; an Accounts Receivable account of a
   * multicurrency company is in one currency (`CurrencyRef`, the home currency when absent).
   */
  addAccount(body: Record<string, unknown>): Entity {
    return this.put('Account', { Active: true, ...body });
  }

  /**
   * A journal entry a person voids in QuickBooks (More → Void: Intuit's JournalEntry reference
   * offers no void operation, so it is not reachable through the API here): kept under the same
   * date with its lines' amounts zeroed and "Voided" put before its PrivateNote, as a voided
   * invoice is; a payment line applied to it is removed, its money left unapplied.
   */
  voidByHand(type: 'JournalEntry', id: string): Entity {
    const current = this.get(type, id);
    if (!current) throw new Error(`no ${type} ${id}`);
    this.unapply(type, id);
    const next = {
      ...voidedJournalEntry(current),
      Id: id,
      SyncToken: String(Number(current.SyncToken) + 1),
      MetaData: this.meta(current.MetaData),
    } as Entity;
    this.entities.get(type)!.set(id, next);
    return next;
  }

  /** Creates, updates (full or sparse) or deletes an entity, applying QuickBooks' rules. */
  write(type: EntityType, operation: string, body: Record<string, unknown>, options: WriteOptions = {}): Entity {
    if (operation === 'create') return this.create(type, body, options);
    if (operation === 'update') return this.update(type, body, options);
    if (operation === 'delete') return this.remove(type, body);
    if (operation === 'void') return this.void(type, body);
    throw validation('2010', 'Request has invalid or unsupported property', `Operation ${operation} is not supported`);
  }

  private create(type: EntityType, body: Record<string, unknown>, options: WriteOptions): Entity {
    if (body.Id !== undefined) {
      throw validation(
        '2010',
        'Request has invalid or unsupported property',
        'Property Name:Id is not allowed on create',
        'Id',
      );
    }
    const fields = this.checked(type, body, null, options);
    const e = this.put(type, fields);
    if (type === 'Payment') this.relink(e.Id, new Map(), applications(e));
    return e;
  }

  private update(type: EntityType, body: Record<string, unknown>, options: WriteOptions): Entity {
    const id = str(body.Id);
    const current = this.get(type, id);
    if (!current)
      throw validation(
        '610',
        'Object Not Found',
        `Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees.`,
      );
    if (body.SyncToken === undefined) {
      throw validation(
        '2020',
        'Required param missing, need to supply the required value for the API',
        'Required parameter SyncToken is missing in the request',
        'SyncToken',
      );
    }
    if (str(body.SyncToken) !== current.SyncToken) {
      throw validation(
        '5010',
        'Stale Object Error',
        `Stale Object Error : You and ${'another user'} were working on the same thing. If you continue, you may overwrite the other user's changes. Please refresh and try again.`,
      );
    }
    const { Id: _id, SyncToken: _token, sparse, MetaData: _meta, ...rest } = body;
    const merged = sparse === true ? { ...current, ...rest } : { ...rest };
    const fields = this.checked(type, merged, current, options);
    if (type === 'Payment') this.relink(id, applications(current), applications(fields));
    const next = {
      ...fields,
      Id: id,
      SyncToken: String(Number(current.SyncToken) + 1),
      domain: 'QBO',
      sparse: false,
      MetaData: this.meta(current.MetaData),
    } as Entity;
    this.entities.get(type)!.set(id, next);
    return next;
  }

  private remove(type: EntityType, body: Record<string, unknown>): Entity {
    const id = str(body.Id);
    const current = this.get(type, id);
    if (!current) throw validation('610', 'Object Not Found', 'Object Not Found');
    if (str(body.SyncToken) !== current.SyncToken) throw validation('5010', 'Stale Object Error', 'Stale Object Error');
    this.release(type, current);
    this.entities.get(type)!.delete(id);
    return { Id: id, SyncToken: current.SyncToken, status: 'Deleted', domain: 'QBO' };
  }

  /**
   * An invoice voided (`POST /invoice?operation=void`, or a batch item's `operation: void`), as
   * Intuit's blog describes it ("Voiding Invoice Objects", 2016-04-06): kept, its amounts and
   * quantities zeroed, "Voided" put before its PrivateNote. A payment applied to it keeps its
   * money as the customer's credit (unapplied), as QuickBooks does when a person voids a paid invoice.
   */
  private void(type: EntityType, body: Record<string, unknown>): Entity {
    if (type !== 'Invoice')
      throw validation(
        '2010',
        'Request has invalid or unsupported property',
        `Operation void is not supported on ${type}`,
      );
    const id = str(body.Id);
    const current = this.get(type, id);
    if (!current) throw validation('610', 'Object Not Found', `Object Not Found : Invoice ${id}`);
    if (str(body.SyncToken) !== current.SyncToken) throw validation('5010', 'Stale Object Error', 'Stale Object Error');
    const zero = money(new Dec(0));
    this.unapply('Invoice', id);
    const note = str(current.PrivateNote);
    const next = {
      ...current,
      Line: ((current.Line as Record<string, unknown>[] | undefined) ?? []).map((l) => {
        const d = l.SalesItemLineDetail as Record<string, unknown> | undefined;
        return {
          ...l,
          Amount: zero,
          ...(d && d.Qty !== undefined ? { SalesItemLineDetail: { ...d, Qty: zero, UnitPrice: zero } } : {}),
        };
      }),
      TxnTaxDetail: { ...(current.TxnTaxDetail as object | undefined), TotalTax: zero },
      TotalAmt: zero,
      Balance: zero,
      ...(current.Deposit !== undefined ? { Deposit: zero } : {}),
      PrivateNote: note ? `Voided - ${note}` : 'Voided',
      LinkedTxn: [],
      SyncToken: String(Number(current.SyncToken) + 1),
      MetaData: this.meta(current.MetaData),
    } as Entity;
    this.entities.get(type)!.set(id, next);
    return next;
  }

  /** Payment lines applied to a voided transaction removed: their money is the customer's credit again. */
  private unapply(type: 'Invoice' | 'JournalEntry', id: string): void {
    for (const p of this.all('Payment')) {
      const lines = (p.Line as PaymentLine[] | undefined) ?? [];
      const kept = lines.filter((l) => !(l.LinkedTxn ?? []).some((t) => t.TxnType === type && t.TxnId === id));
      if (kept.length === lines.length) continue;
      p.Line = kept;
      // What the payment still applies to invoices and journal entries, less the credit memos it sets against them.
      let applied = new Dec(0);
      for (const [key, amount] of applications(p))
        applied = key.startsWith('CreditMemo:') ? applied.sub(amount) : applied.add(amount);
      p.UnappliedAmt = money(dec(p.TotalAmt).sub(applied));
      p.SyncToken = String(Number(p.SyncToken) + 1);
      p.MetaData = this.meta(p.MetaData);
    }
  }

  /** What a write stores, after the service's own rules and derived fields (totals, balances). */
  private checked(
    type: EntityType,
    body: Record<string, unknown>,
    current: Entity | null,
    options: WriteOptions = {},
  ): Record<string, unknown> {
    const uniqueDocNumbers = this.setup.uniqueDocNumbers === true && options.allowDuplicateDocNumber !== true;
    const { MetaData: _m, Id: _i, SyncToken: _s, domain: _d, sparse: _sp, status: _st, ...out } = body;
    switch (type) {
      case 'Customer':
      case 'Item': {
        const nameKey = type === 'Customer' ? 'DisplayName' : 'Name';
        const name =
          str(out[nameKey]) ||
          (type === 'Customer' ? [str(out.GivenName), str(out.FamilyName)].filter(Boolean).join(' ') : '');
        if (!name)
          throw validation(
            '2020',
            'Required param missing, need to supply the required value for the API',
            `Required parameter ${nameKey} is missing in the request`,
            nameKey,
          );
        if (/:/.test(name))
          throw validation(
            '6000',
            'A business validation error has occurred while processing your request',
            `Business Validation Error: The name can't contain a colon (:).`,
            nameKey,
          );
        const taken = this.all(type).find(
          (e) => e.Id !== current?.Id && String(e[nameKey]).toLowerCase() === name.toLowerCase(),
        );
        if (taken) {
          throw validation(
            '6240',
            'Duplicate Name Exists Error',
            `The name supplied already exists. : Another customer, vendor or employee is already using this name. Please use a different name.`,
          );
        }
        if (type === 'Item' && out.Type !== 'Category' && !this.get('Account', ref(out.IncomeAccountRef) ?? '')) {
          throw validation(
            '2500',
            'Invalid Reference Id',
            'Invalid Reference Id : IncomeAccountRef is missing or unknown',
            'IncomeAccountRef',
          );
        }
        out[nameKey] = name;
        if (type === 'Customer') out.Balance ??= new LosslessNumber('0');
        out.Active ??= true;
        return out;
      }
      case 'Invoice':
      case 'CreditMemo':
      case 'RefundReceipt':
        return this.salesDocument(type, out, current, uniqueDocNumbers);
      case 'Payment':
        return this.payment(out, current);
      case 'Purchase':
        return this.purchase(out, current);
      case 'JournalEntry':
        return checkJournalEntry(out, current, {
          account: (id) => this.get('Account', id),
          customer: (id) => this.get('Customer', id),
          refuse: (code, message, detail, element) => {
            throw validation(code, message, detail, element);
          },
          us: this.setup.country === 'US',
          uniqueDocNumbers,
          docNumberTaken: (doc) => this.all('JournalEntry').some((e) => e.DocNumber === doc),
          today: () => this.clock().toISOString().slice(0, 10),
          currency: (body) => this.currencyOf(body),
        });
      default:
        throw validation(
          '2010',
          'Request has invalid or unsupported property',
          `${type} cannot be written through this API`,
        );
    }
  }

  private customerOf(body: Record<string, unknown>): Entity {
    const c = this.get('Customer', ref(body.CustomerRef) ?? '');
    if (!c)
      throw validation(
        '2500',
        'Invalid Reference Id',
        'Invalid Reference Id : Customer assigned to this transaction has been deleted.',
        'CustomerRef',
      );
    return c;
  }

  private currencyOf(body: Record<string, unknown>): string {
    return ref(body.CurrencyRef) ?? this.setup.currency;
  }

  private salesDocument(
    type: EntityType,
    out: Record<string, unknown>,
    current: Entity | null,
    uniqueDocNumbers: boolean,
  ): Record<string, unknown> {
    if (current)
      throw validation(
        '6000',
        'A business validation error has occurred while processing your request',
        'The simulator does not update sales documents',
      );
    this.customerOf(out);
    const us = this.setup.country === 'US';
    const docNumber = out.DocNumber === undefined ? String(++this.docNumber) : str(out.DocNumber);
    if (docNumber.length > 21) {
      throw validation(
        '6000',
        'A business validation error has occurred while processing your request',
        `Business Validation Error: DocNumber is longer than 21 characters (${docNumber.length}).`,
        'DocNumber',
      );
    }
    if (uniqueDocNumbers && this.all(type).some((e) => e.DocNumber === docNumber)) {
      throw validation(
        '6140',
        'Duplicate Document Number Error',
        `Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber=${docNumber}`,
      );
    }
    const lines = (out.Line as Record<string, unknown>[] | undefined) ?? [];
    if (lines.length === 0)
      throw validation(
        '2020',
        'Required param missing, need to supply the required value for the API',
        'Required parameter Line is missing in the request',
        'Line',
      );
    let net = new Dec(0);
    let tax = new Dec(0);
    const outLines = lines.map((l, n) => {
      const d = l.SalesItemLineDetail as Record<string, unknown> | undefined;
      if (l.DetailType !== 'SalesItemLineDetail' || !d) {
        throw validation(
          '6000',
          'A business validation error has occurred while processing your request',
          `Line ${n + 1}: only SalesItemLineDetail lines are simulated`,
          'Line',
        );
      }
      if (!this.get('Item', ref(d.ItemRef) ?? ''))
        throw validation(
          '2500',
          'Invalid Reference Id',
          `Invalid Reference Id : Line ${n + 1}: Item ${ref(d.ItemRef)} does not exist`,
          'ItemRef',
        );
      const amount = dec(l.Amount);
      if (
        d.Qty !== undefined &&
        d.UnitPrice !== undefined &&
        !dec(d.Qty).mul(dec(d.UnitPrice)).toDecimalPlaces(2).eq(amount)
      ) {
        throw validation(
          '6070',
          'Amount is not equal to UnitPrice * Qty',
          `Amount is not equal to UnitPrice * Qty. Supplied value:${amount.toFixed(2)}`,
          'Amount',
        );
      }
      const code = ref(d.TaxCodeRef);
      if (us) {
        if (code !== undefined && code !== 'TAX' && code !== 'NON')
          throw validation(
            '2500',
            'Invalid Reference Id',
            `Invalid Reference Id : TaxCode ${code}: a US company takes TAX or NON`,
            'TaxCodeRef',
          );
      } else {
        const taxCode = this.get('TaxCode', code ?? '');
        if (!taxCode)
          throw validation(
            '6000',
            'A business validation error has occurred while processing your request',
            `Business Validation Error: Make sure all your transactions have a VAT rate before you save. Line ${n + 1}: TaxCodeRef ${code ?? 'missing'}`,
            'TaxCodeRef',
          );
        const rateRef = (taxCode.SalesTaxRateList as { TaxRateDetail: { TaxRateRef: { value: string } }[] })
          .TaxRateDetail[0]?.TaxRateRef.value;
        const rate = dec(this.get('TaxRate', rateRef ?? '')?.RateValue);
        tax = tax.add(amount.mul(rate).div(100).toDecimalPlaces(2, Dec.ROUND_HALF_UP));
      }
      net = net.add(amount);
      return { ...l, Id: String(n + 1), LineNum: n + 1, Amount: money(amount) };
    });
    const given = (out.TxnTaxDetail as { TotalTax?: unknown } | undefined)?.TotalTax;
    if (given !== undefined) tax = dec(given);
    const total = net.add(tax);
    const doc: Record<string, unknown> = {
      ...out,
      DocNumber: docNumber,
      TxnDate: out.TxnDate ?? this.clock().toISOString().slice(0, 10),
      CurrencyRef: { value: this.currencyOf(out) },
      Line: [...outLines, { Amount: money(net), DetailType: 'SubTotalLineDetail', SubTotalLineDetail: {} }],
      TxnTaxDetail: { ...(out.TxnTaxDetail as object | undefined), TotalTax: money(tax) },
      TotalAmt: money(total),
    };
    if (type === 'Invoice' || type === 'CreditMemo') {
      doc.Balance = money(total);
      if (type === 'CreditMemo') doc.RemainingCredit = money(total);
    } else if (type === 'RefundReceipt' && !this.get('Account', ref(out.DepositToAccountRef) ?? '')) {
      throw validation(
        '2500',
        'Invalid Reference Id',
        'Invalid Reference Id : DepositToAccountRef',
        'DepositToAccountRef',
      );
    }
    return doc;
  }

  /**
   * A payment created or updated: each line applies to an open Invoice or CreditMemo of the same
   * customer, or to what a JournalEntry charges that customer's receivable, never more than it has
   * open (counting what this payment applied to it before an update); credit memo lines apply
   * credit, so a Payment of 0 can set a credit memo against an invoice; the lines never apply more
   * than TotalAmt. Balances move by the difference.
   */
  private payment(out: Record<string, unknown>, current: Entity | null): Record<string, unknown> {
    const customer = this.customerOf(out);
    const total = dec(out.TotalAmt);
    if (total.isNeg())
      throw validation(
        '6000',
        'A business validation error has occurred while processing your request',
        'Business Validation Error: TotalAmt cannot be negative',
        'TotalAmt',
      );
    const lines = (out.Line as PaymentLine[] | undefined) ?? [];
    const before = applications(current);
    const wanted = new Map<string, Dec>();
    let applied = new Dec(0);
    for (const l of lines) {
      const amount = dec(l.Amount);
      const link = l.LinkedTxn?.[0];
      if (!link || l.LinkedTxn!.length !== 1)
        throw validation(
          '6000',
          'A business validation error has occurred while processing your request',
          'Each payment line links exactly one transaction',
          'LinkedTxn',
        );
      // Intuit's Payment reference also lists Expense, Check and CreditCardCredit: not simulated.
      if (link.TxnType !== 'Invoice' && link.TxnType !== 'CreditMemo' && link.TxnType !== 'JournalEntry') {
        throw validation(
          '6000',
          'A business validation error has occurred while processing your request',
          `LinkedTxn TxnType ${link.TxnType} is not supported`,
          'TxnType',
        );
      }
      const txn = this.get(link.TxnType, link.TxnId);
      if (!txn)
        throw validation(
          '2500',
          'Invalid Reference Id',
          `Invalid Reference Id : ${link.TxnType} ${link.TxnId}`,
          'TxnId',
        );
      const journal = link.TxnType === 'JournalEntry';
      // A journal entry names its customer on its A/R line, not in CustomerRef.
      const charge = journal ? receivableCharge(txn, customer.Id, (id) => this.get('Account', id)) : null;
      if (charge ? charge.lte(0) : ref(txn.CustomerRef) !== customer.Id)
        throw validation(
          '6000',
          'A business validation error has occurred while processing your request',
          charge
            ? `JournalEntry ${link.TxnId} charges nothing to this customer's Accounts Receivable`
            : `${link.TxnType} ${link.TxnId} belongs to another customer`,
          'LinkedTxn',
        );
      if (amount.isNeg())
        throw validation(
          '6000',
          'A business validation error has occurred while processing your request',
          'Business Validation Error: a payment line amount cannot be negative',
          'Amount',
        );
      const key = `${link.TxnType}:${link.TxnId}`;
      const sum = (wanted.get(key) ?? new Dec(0)).add(amount);
      const open = charge
        ? charge.sub(this.journalApplied(link.TxnId, current?.Id))
        : dec(txn.Balance).add(before.get(key) ?? new Dec(0));
      if (sum.gt(open))
        throw validation(
          '6000',
          'A business validation error has occurred while processing your request',
          `Business Validation Error: the payment applies ${sum.toFixed(2)} to ${link.TxnType} ${str(txn.DocNumber)}, whose open balance is ${open.toFixed(2)}`,
          'Amount',
        );
      wanted.set(key, sum);
      // An invoice or a journal entry's A/R charge takes money; a credit memo gives credit.
      applied = link.TxnType === 'CreditMemo' ? applied.sub(amount) : applied.add(amount);
    }
    if (applied.isNeg())
      throw validation(
        '6000',
        'A business validation error has occurred while processing your request',
        `Business Validation Error: the credits applied (${applied.neg().toFixed(2)} more than the invoices) must be applied to invoices`,
        'Line',
      );
    if (applied.gt(total))
      throw validation(
        '6000',
        'A business validation error has occurred while processing your request',
        `Business Validation Error: the lines apply ${applied.toFixed(2)}, more than TotalAmt ${total.toFixed(2)}`,
        'TotalAmt',
      );
    for (const key of new Set([...before.keys(), ...wanted.keys()])) {
      const [type, id] = key.split(':') as [EntityType, string];
      const txn = this.get(type, id);
      // A journal entry keeps no Balance: what is open of it is worked out from the payments.
      if (!txn || type === 'JournalEntry') continue;
      const change = (before.get(key) ?? new Dec(0)).sub(wanted.get(key) ?? new Dec(0));
      if (change.isZero()) continue;
      txn.Balance = money(dec(txn.Balance).add(change));
      if ('RemainingCredit' in txn) txn.RemainingCredit = txn.Balance;
      txn.SyncToken = String(Number(txn.SyncToken) + 1);
      txn.MetaData = this.meta(txn.MetaData);
    }
    return {
      ...out,
      TotalAmt: money(total),
      UnappliedAmt: money(total.sub(applied)),
      CurrencyRef: { value: this.currencyOf(out) },
      Line: lines.map((l) => ({ ...l, Amount: money(dec(l.Amount)) })),
    };
  }

  /**
   * An expense paid at once (a bank fee): PaymentType Cash or Check out of a bank account,
   * CreditCard out of a credit card account; account-based lines on existing accounts, positive
   * amounts; the total is their sum (the simulator keeps no tax on purchases).
   */
  private purchase(out: Record<string, unknown>, current: Entity | null): Record<string, unknown> {
    if (current)
      throw validation(
        '6000',
        'A business validation error has occurred while processing your request',
        'The simulator does not update purchases',
      );
    const account = this.get('Account', ref(out.AccountRef) ?? '');
    const wants = out.PaymentType === 'CreditCard' ? 'Credit Card' : 'Bank';
    if (!account) throw validation('2500', 'Invalid Reference Id', 'Invalid Reference Id : AccountRef', 'AccountRef');
    if (account.AccountType !== wants)
      throw validation(
        '6000',
        'A business validation error has occurred while processing your request',
        `Business Validation Error: a ${str(out.PaymentType)} purchase is paid out of a ${wants} account, not ${str(account.Name)} (${str(account.AccountType)})`,
        'AccountRef',
      );
    const docNumber = out.DocNumber === undefined ? '' : str(out.DocNumber);
    if (docNumber.length > 21)
      throw validation(
        '6000',
        'A business validation error has occurred while processing your request',
        `Business Validation Error: DocNumber is longer than 21 characters (${docNumber.length}).`,
        'DocNumber',
      );
    if (this.setup.country === 'US' && out.GlobalTaxCalculation !== undefined)
      throw validation(
        '6000',
        'A business validation error has occurred while processing your request',
        'Business Validation Error: GlobalTaxCalculation is not supported for US companies',
        'GlobalTaxCalculation',
      );
    const lines = (out.Line as Record<string, unknown>[] | undefined) ?? [];
    if (lines.length === 0)
      throw validation(
        '2020',
        'Required param missing, need to supply the required value for the API',
        'Required parameter Line is missing in the request',
        'Line',
      );
    let total = new Dec(0);
    const outLines = lines.map((l, n) => {
      const d = l.AccountBasedExpenseLineDetail as Record<string, unknown> | undefined;
      if (l.DetailType !== 'AccountBasedExpenseLineDetail' || !d)
        throw validation(
          '6000',
          'A business validation error has occurred while processing your request',
          `Line ${n + 1}: only AccountBasedExpenseLineDetail lines are simulated on purchases`,
          'Line',
        );
      if (!this.get('Account', ref(d.AccountRef) ?? ''))
        throw validation(
          '2500',
          'Invalid Reference Id',
          `Invalid Reference Id : Line ${n + 1}: Account ${ref(d.AccountRef)} does not exist`,
          'AccountRef',
        );
      const amount = dec(l.Amount);
      if (amount.lte(0))
        throw validation(
          '6000',
          'A business validation error has occurred while processing your request',
          `Business Validation Error: Line ${n + 1}: the amount must be more than zero`,
          'Amount',
        );
      total = total.add(amount);
      return { ...l, Id: String(n + 1), Amount: money(amount) };
    });
    return {
      ...out,
      ...(docNumber ? { DocNumber: docNumber } : {}),
      TxnDate: out.TxnDate ?? this.clock().toISOString().slice(0, 10),
      CurrencyRef: { value: this.currencyOf(out) },
      Line: outLines,
      TotalAmt: money(total),
    };
  }

  /** What the payments other than `except` apply to a journal entry's receivable. */
  private journalApplied(journalId: string, except: string | undefined): Dec {
    let sum = new Dec(0);
    for (const p of this.all('Payment'))
      if (p.Id !== except) sum = sum.add(applications(p).get(`JournalEntry:${journalId}`) ?? new Dec(0));
    return sum;
  }

  /**
   * As QuickBooks does, an invoice or credit memo a payment applies to links back to it (and no
   * longer once it does not). Whether a journal entry does is not documented: it is left as written.
   */
  private relink(paymentId: string, before: Map<string, Dec>, after: Map<string, Dec>): void {
    for (const key of new Set([...before.keys(), ...after.keys()])) {
      const [type, id] = key.split(':') as [EntityType, string];
      const txn = this.get(type, id);
      if (!txn || type === 'JournalEntry') continue;
      const others = ((txn.LinkedTxn as { TxnId: string; TxnType: string }[] | undefined) ?? []).filter(
        (l) => !(l.TxnType === 'Payment' && l.TxnId === paymentId),
      );
      txn.LinkedTxn = after.has(key) ? [...others, { TxnId: paymentId, TxnType: 'Payment' }] : others;
    }
  }

  private release(type: EntityType, e: Entity): void {
    if (type !== 'Payment') return;
    const before = applications(e);
    for (const [key, amount] of before) {
      const [t, id] = key.split(':') as [EntityType, string];
      const txn = this.get(t, id);
      if (!txn || t === 'JournalEntry') continue;
      txn.Balance = money(dec(txn.Balance).add(amount));
      if ('RemainingCredit' in txn) txn.RemainingCredit = txn.Balance;
    }
    this.relink(e.Id, before, new Map());
  }
}
