import { Dec, formatAmount, multiplyAmount, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import {
  type ItemError,
  type ItemResult,
  type TargetCallContext,
  type TargetInvoice,
  type TargetPayment,
  failed,
  ok,
} from '../../sync/target.ts';
import {
  type BatchOperation,
  type QboEntity,
  type QuickBooksApi,
  describeFault,
  faultCode,
  quote,
  requestIdFor,
} from './api.ts';
import {
  type Company,
  amount,
  carriesReference,
  depositAccount,
  docNumberFor,
  findAccount,
  isUS,
  minorUnits,
  money,
  referenceNote,
  salesAccount,
  scalar,
  taxCodeFor,
} from './map.ts';
import { type Refused, type Retried, againUnderSharedNumber, refusedForNumber } from './doc-numbers.ts';
import { type BookedFee, bookFees } from './fees.ts';
import { readByIds } from './names.ts';
import { SYSTEM } from './settings.ts';

/*
 * Invoices (a negative one as a CreditMemo) and payments applied to their invoice through
 * Line[].LinkedTxn: each batch one call with a requestid derived from the documents' idempotency
 * keys, each answer handled item by item. Refunds are in refunds.ts.
 */

export interface DocumentContext {
  api: QuickBooksApi;
  company: Company;
  accounts: Record<string, string> | undefined;
  taxRates: Record<string, string> | undefined;
  /** The item lines without a product are sold as. */
  defaultItem(): Promise<string>;
}

export const isError = (v: unknown): v is ItemError =>
  typeof v === 'object' && v !== null && 'code' in v && 'retryable' in v;

export interface Built {
  entity: 'Invoice' | 'CreditMemo' | 'Payment' | 'RefundReceipt';
  body: Record<string, unknown>;
  message?: string;
  /** A payment naming an invoice: whether it was booked without it (`ItemResult.awaitsInvoice`). */
  awaitsInvoice?: boolean;
}

/**
 * An Invoice (or, for a negative total, a CreditMemo) from a canonical invoice; `as: 'CreditMemo'`
 * books a credit note, whose lines are positive like an invoice's, as a CreditMemo.
 */
export async function buildInvoice(
  c: DocumentContext,
  d: Pick<TargetInvoice, 'record' | 'customerTargetId' | 'productTargetIds'>,
  as?: 'CreditMemo',
): Promise<Built | ItemError> {
  const inv = d.record;
  const lines: { net: bigint; tax: bigint; units: Units | null; line: Record<string, unknown> }[] = [];
  const sales = c.accounts?.sales !== undefined ? salesAccount(c.company, c.accounts) : null;
  if (isError(sales)) return sales;
  for (const [n, l] of inv.lines.entries()) {
    const net = parseAmount(l.netAmount, inv.currency);
    if (!net.ok)
      return {
        code: 'AMOUNT_INVALID',
        message: `lines[${n}].netAmount: ${net.error.message}`,
        retryable: false,
        field: `lines[${n}].netAmount`,
      };
    const vat = l.vatAmount === null || l.vatAmount === undefined ? null : parseAmount(l.vatAmount, inv.currency);
    if (vat && !vat.ok)
      return {
        code: 'AMOUNT_INVALID',
        message: `lines[${n}].vatAmount: ${vat.error.message}`,
        retryable: false,
        field: `lines[${n}].vatAmount`,
      };
    const tax = vat ? vat.value : multiplyAmount(net.value, l.vatRate, 'halfUp');
    const taxCode = taxCodeFor(c.company, l.vatRate, c.taxRates);
    if (isError(taxCode)) return taxCode;
    const item = l.productSourceId ? d.productTargetIds[l.productSourceId] : undefined;
    // The income account: accounts.sales overrides; a line's GL account is used when the company has it; else the item's own.
    const account = sales ?? (l.glAccountCode ? findAccount(c.company, l.glAccountCode) : undefined);
    lines.push({
      net: net.value,
      tax,
      units: l.quantity !== undefined && l.unitPrice !== undefined ? { qty: l.quantity, price: l.unitPrice } : null,
      line: {
        ...(l.description ? { Description: l.description } : {}),
        DetailType: 'SalesItemLineDetail',
        SalesItemLineDetail: {
          ItemRef: { value: item ?? (await c.defaultItem()) },
          TaxCodeRef: { value: taxCode },
          ...(account ? { ItemAccountRef: { value: account.Id } } : {}),
        },
      },
    });
  }
  const gross = lines.reduce((s, l) => s + l.net + l.tax, 0n);
  if (as === 'CreditMemo' && gross < 0n)
    return {
      code: 'AMOUNT_INVALID',
      message: `the credit note's total is negative (${formatAmount(gross, inv.currency)}): a credit note credits a positive amount`,
      retryable: false,
      field: 'lines',
    };
  const credit = as === 'CreditMemo' || gross < 0n;
  const sign = gross < 0n ? -1n : 1n;
  const totalTax = lines.reduce((s, l) => s + l.tax, 0n) * sign;
  const body: Record<string, unknown> = {
    DocNumber: docNumberFor(inv.externalReference),
    PrivateNote: referenceNote(inv.externalReference),
    TxnDate: inv.invoiceDate,
    ...(inv.dueDate && !credit ? { DueDate: inv.dueDate } : {}),
    CustomerRef: { value: d.customerTargetId },
    CurrencyRef: { value: inv.currency },
    ...exchangeRate(c.company, inv.currency, inv.exchangeRate),
    ...(inv.description ? { CustomerMemo: { value: inv.description.slice(0, 1000) } } : {}),
    Line: lines.map((l) => ({ ...withUnits(l.line, l.units, sign), Amount: money(l.net * sign, inv.currency) })),
    // The source's own VAT, so that the totals are the source's to the cent (QuickBooks would round per document).
    TxnTaxDetail: { TotalTax: money(totalTax, inv.currency) },
    ...(isUS(c.company) ? {} : { GlobalTaxCalculation: 'TaxExcluded' }),
  };
  return { entity: credit ? 'CreditMemo' : 'Invoice', body };
}

/** A line's quantity and unit price, as the canonical line gives them. */
interface Units {
  qty: string;
  price: string;
}

/**
 * A sales line with its Qty and UnitPrice when the source gave them. QuickBooks checks that Amount
 * is UnitPrice × Qty (error 6070) rounded to the cent; the engine has already checked our net is
 * exactly that. In a CreditMemo every amount is turned positive, the unit price with it (the
 * quantity stays positive, as canonical quantities always are).
 */
function withUnits(line: Record<string, unknown>, units: Units | null, sign: bigint): Record<string, unknown> {
  if (!units) return line;
  const price = sign < 0n ? new Dec(units.price).neg().toFixed() : units.price;
  const detail = line.SalesItemLineDetail as Record<string, unknown>;
  return { ...line, SalesItemLineDetail: { ...detail, Qty: amount(units.qty), UnitPrice: amount(price) } };
}

/** QuickBooks' ExchangeRate is home currency per unit of the document's; ours is the reverse. */
function exchangeRate(c: Company, currency: string, rate: string | null | undefined) {
  if (currency === c.homeCurrency || !rate) return {};
  return { ExchangeRate: amount(new Dec(1).div(rate).toDecimalPlaces(10, Dec.ROUND_HALF_UP).toFixed()) };
}

/** Sends built documents in one batch; errors already known are answered without a call. */
export async function send(
  c: DocumentContext,
  ctx: TargetCallContext,
  kind: string,
  built: (Built | ItemError)[],
  keys: string[],
  number: (e: QboEntity, n: number) => string,
): Promise<ItemResult[]> {
  const results: ItemResult[] = built.map((b) => (isError(b) ? failed(b) : ok('')));
  const todo = built.flatMap((b, n) => (isError(b) ? [] : [{ n, b }]));
  if (todo.length === 0) return results;
  const ops: BatchOperation[] = todo.map(({ b }) => ({ entity: b.entity, operation: 'create', body: b.body }));
  const answers = await c.api.batch(
    ops,
    requestIdFor(
      todo.map(({ n }) => keys[n]!),
      kind,
    ),
    ctx.signal,
  );
  // A number another customer's document of ours holds: sent again as Intuit allows (doc-numbers.ts).
  const again = new Map<number, Retried>();
  const shared = answers.flatMap((a, k): Refused[] => {
    const { n, b } = todo[k]!;
    const customer = (b.body.CustomerRef as { value?: string } | undefined)?.value;
    return refusedForNumber(a) && customer
      ? [{ n: k, entity: b.entity, body: b.body, customerTargetId: customer, key: keys[n]! }]
      : [];
  });
  if (shared.length > 0)
    for (const r of await againUnderSharedNumber(c.api, ctx, shared, customerOf)) again.set(r.n, r);
  answers.forEach((first, k) => {
    const { n, b } = todo[k]!;
    const retried = again.get(k);
    const a = retried && 'answer' in retried ? retried.answer : first;
    if (a.ok) {
      results[n] = ok(a.entity!.Id, {
        number: number(a.entity!, n),
        outcome: retried && 'held' in retried && retried.held ? 'linked' : 'created',
        message: b.message ?? null,
        ...(b.awaitsInvoice !== undefined ? { awaitsInvoice: b.awaitsInvoice } : {}),
      });
      return;
    }
    const why = retried && 'refusedBecause' in retried ? ` (${retried.refusedBecause})` : '';
    const code = faultCode(a.fault);
    // A system fault inside a 200: QuickBooks did not write it; the engine looks it up and sends it again.
    const retryable = code === '10000' || /SystemFault/i.test(a.fault.type ?? '');
    results[n] = failed({
      code: 'TARGET_REFUSED',
      message: `QuickBooks refused the ${b.entity === 'CreditMemo' ? 'credit memo' : kind}: ${describeFault(a.fault)}${why}`,
      retryable,
      field: a.fault.Error?.[0]?.element || undefined,
    });
  });
  return results;
}

export async function createInvoices(
  c: DocumentContext,
  ctx: TargetCallContext,
  items: TargetInvoice[],
): Promise<ItemResult[]> {
  const built: (Built | ItemError)[] = [];
  for (const d of items) built.push(await buildInvoice(c, d));
  return send(
    c,
    ctx,
    'invoice',
    built,
    items.map((i) => i.idempotencyKey),
    (e) => scalar(e.DocNumber),
  );
}

/**
 * The first line of the PrivateNote of a payment booked before the invoice it names: whoever reads
 * it in QuickBooks knows what it waits for, and `applyEarlyPayments` applies only such a payment.
 * (The reference line stays last: `referenceOf` reads it to the end of the note.)
 */
export const EARLY_NOTE = 'ledgerlink for invoice: ';

/**
 * Payments applied to the invoice they pay: as much as the invoice still owes (read just before),
 * the rest left unapplied on the customer (a credit QuickBooks offers on their next invoice). A
 * provider's fee is booked first, as an expense out of the bank (src/connectors/quickbooks/fees.ts).
 */
export async function createPayments(
  c: DocumentContext,
  ctx: TargetCallContext,
  items: TargetPayment[],
): Promise<ItemResult[]> {
  const invoices = await readByIds(
    c.api,
    ctx,
    'Invoice',
    items.flatMap((i) => (i.invoiceTargetId ? [i.invoiceTargetId] : [])),
  );
  // An invoice another pipeline (or a person) booked: found by the reference the payment names, for its customer.
  const byReference = await invoicesByReference(
    c.api,
    ctx,
    items.flatMap((i) =>
      !i.invoiceTargetId && i.record.invoiceExternalReference
        ? [{ reference: i.record.invoiceExternalReference, customerTargetId: i.customerTargetId }]
        : [],
    ),
  );
  for (const e of byReference.values()) invoices.set(e.Id, e);
  const invoiceFor = (d: TargetPayment) =>
    d.invoiceTargetId ??
    (d.record.invoiceExternalReference
      ? byReference.get(`${d.customerTargetId}\u0000${d.record.invoiceExternalReference}`)?.Id
      : undefined);
  const open = new Map([...invoices].map(([id, e]) => [id, minorUnits(e.Balance, currencyOf(e, c.company)) ?? 0n]));
  const built = items.map((d): Built | ItemError => {
    const p = d.record;
    const total = parseAmount(p.amount, p.currency);
    if (!total.ok)
      return { code: 'AMOUNT_INVALID', message: `amount: ${total.error.message}`, retryable: false, field: 'amount' };
    const account = depositAccount(c.company, c.accounts, d.bankAccountCode);
    if (isError(account)) return account;
    const invoiceId = invoiceFor(d);
    const inv = invoiceId ? invoices.get(invoiceId) : undefined;
    let applied = 0n;
    if (inv && currencyOf(inv, c.company) === p.currency) {
      const balance = open.get(inv.Id) ?? 0n;
      applied = total.value < balance ? total.value : balance;
      open.set(inv.Id, balance - applied);
    }
    const notes: string[] = [];
    if (inv && applied < total.value)
      notes.push(`${formatAmount(total.value - applied, p.currency)} left unapplied (the invoice owed less)`);
    // Named but not in QuickBooks yet (its webhook came after the payment's): booked unapplied,
    // and applied once that invoice is booked (applyEarlyPayments).
    const early = !invoiceId && p.invoiceExternalReference ? p.invoiceExternalReference : null;
    if (early)
      notes.push(`booked unapplied: invoice ${early} is not in QuickBooks yet; applied to it once it is booked`);
    return {
      entity: 'Payment',
      body: {
        CustomerRef: { value: d.customerTargetId },
        TxnDate: p.date,
        TotalAmt: money(total.value, p.currency),
        CurrencyRef: { value: p.currency },
        PaymentRefNum: docNumberFor(p.externalReference),
        PrivateNote: early
          ? `${EARLY_NOTE}${early}\n${referenceNote(p.externalReference)}`
          : referenceNote(p.externalReference),
        DepositToAccountRef: { value: account.Id },
        Line:
          applied > 0n
            ? [{ Amount: money(applied, p.currency), LinkedTxn: [{ TxnId: inv!.Id, TxnType: 'Invoice' }] }]
            : [],
      },
      ...(notes.length > 0 ? { message: notes.join('; ') } : {}),
      ...(p.invoiceExternalReference && !d.invoiceTargetId ? { awaitsInvoice: early !== null } : {}),
    };
  });
  const fees = await withFees(c, ctx, items, built);
  const results = await send(
    c,
    ctx,
    'payment',
    built,
    items.map((i) => i.idempotencyKey),
    (_e, n) => items[n]!.record.externalReference,
  );
  // A payment refused after its fee was booked: said, so that nobody books the fee again by hand.
  return results.map((r, n) => {
    const fee = fees.get(n);
    if (r.ok || !fee || isError(fee)) return r;
    return failed({
      ...r.error,
      message: `${r.error.message} (its fee ${fee.label} is booked as Purchase ${fee.id} and is not booked again when the payment is sent again)`,
    });
  });
}

/**
 * Books the fees of the payments about to be sent (src/connectors/quickbooks/fees.ts), first: a
 * payment whose fee QuickBooks does not hold is not sent (its fee's refusal is its own), and one
 * that is says where its fee went.
 */
async function withFees(
  c: DocumentContext,
  ctx: TargetCallContext,
  items: TargetPayment[],
  built: (Built | ItemError)[],
): Promise<Map<number, BookedFee | ItemError>> {
  const fees = await bookFees(
    c.api,
    c.company,
    c.accounts,
    ctx,
    items.flatMap((payment, n) => (isError(built[n]) ? [] : [{ n, payment }])),
  );
  for (const [n, fee] of fees) {
    const b = built[n] as Built;
    if (isError(fee)) built[n] = fee;
    else {
      const said = `fee ${fee.label} ${fee.found ? 'already booked' : 'booked'} as expense (Purchase ${fee.id})`;
      built[n] = { ...b, message: b.message ? `${said}; ${b.message}` : said };
    }
  }
  return fees;
}

/** A document's currency: its CurrencyRef, else the company's home currency. */
export const currencyOf = (e: QboEntity, c: Company) =>
  (e.CurrencyRef as { value?: string } | undefined)?.value ?? c.homeCurrency;

/**
 * Documents of one entity type by the reference they carry (DocNumber, checked against the whole
 * reference) and their customer (`customerOf`): a query per 100 references, 30 queries a call.
 * Keyed by customer and reference.
 */
export async function byReference(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  entity: string,
  wanted: { reference: string; customerTargetId: string }[],
  customerOf: (e: QboEntity) => string | undefined,
): Promise<Map<string, QboEntity>> {
  const out = new Map<string, QboEntity>();
  const numbers = [...new Set(wanted.map((w) => docNumberFor(w.reference)))];
  if (numbers.length === 0) return out;
  const ops: BatchOperation[] = [];
  for (let i = 0; i < numbers.length; i += 100)
    ops.push({
      query: `SELECT * FROM ${entity} WHERE DocNumber IN (${numbers
        .slice(i, i + 100)
        .map(quote)
        .join(', ')}) MAXRESULTS 1000`,
    });
  const rows: QboEntity[] = [];
  for (let i = 0; i < ops.length; i += 30) {
    for (const a of await api.batch(ops.slice(i, i + 30), null, ctx.signal)) {
      if (!a.ok) throw new ConnectorError(SYSTEM, `${entity} lookup: ${describeFault(a.fault)}`, { retryable: false });
      rows.push(...((a.query?.[entity] as QboEntity[] | undefined) ?? []));
    }
  }
  for (const w of wanted) {
    const found = rows.find((e) => carriesReference(e, w.reference) && customerOf(e) === w.customerTargetId);
    if (found) out.set(`${w.customerTargetId}\u0000${w.reference}`, found);
  }
  return out;
}

/** The customer a sales document is for. */
const customerOf = (e: QboEntity) => (e.CustomerRef as { value?: string } | undefined)?.value;

/** Invoices by the reference they carry and their customer. */
export const invoicesByReference = (
  api: QuickBooksApi,
  ctx: TargetCallContext,
  wanted: { reference: string; customerTargetId: string }[],
) => byReference(api, ctx, 'Invoice', wanted, customerOf);

/** The QuickBooks entity types a kind of ours is written as, and the field its reference is in. */
export const LOOKUP: Record<string, { entity: string; field: string }[]> = {
  invoice: [
    { entity: 'Invoice', field: 'DocNumber' },
    { entity: 'CreditMemo', field: 'DocNumber' },
  ],
  creditNote: [{ entity: 'CreditMemo', field: 'DocNumber' }],
  payment: [{ entity: 'Payment', field: 'PaymentRefNum' }],
  refund: [{ entity: 'RefundReceipt', field: 'DocNumber' }],
};

/** Finds a document by the reference ledgerlink gave it: one batch call of a query per entity type. */
export async function findDocument(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  kind: string,
  reference: string,
  customerTargetId: string | null | undefined,
): Promise<QboEntity | null> {
  const where = LOOKUP[kind];
  if (!where) return null;
  const answers = await api.batch(
    where.map((w) => ({
      query: `SELECT * FROM ${w.entity} WHERE ${w.field} = ${quote(docNumberFor(reference))}${customerTargetId ? ` AND CustomerRef = ${quote(customerTargetId)}` : ''} MAXRESULTS 1000`,
    })),
    null,
    ctx.signal,
  );
  for (const [k, a] of answers.entries()) {
    if (!a.ok)
      throw new ConnectorError(SYSTEM, `lookup of ${kind} ${reference.slice(0, 60)}: ${describeFault(a.fault)}`, {
        retryable: false,
      });
    const rows = (a.query?.[where[k]!.entity] as QboEntity[] | undefined) ?? [];
    const found = rows.find((e) => carriesReference(e, reference, where[k]!.field));
    if (found) return found;
  }
  return null;
}
