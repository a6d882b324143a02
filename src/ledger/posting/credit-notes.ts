import { DomainError } from '../../domain/errors.ts';
import { laterDate, today } from '../../domain/dates.ts';
import {
  type Item,
  type JournalLine,
  type PostingWarning,
  computeItems,
  documentLabel,
  itemJournal,
} from '../../domain/documents.ts';
import { formatAmount, minBig } from '../../domain/money.ts';
import { type Analysis, NO_ANALYSIS } from '../../domain/analysis.ts';
import { exchangeRateFor, rateWanted } from './common.ts';
import { RatesInForce } from './dated-rates.ts';
import { lineReferences, lineWarnings, parseLines } from './invoices.ts';
import { loadReferences, lockCustomer } from './references.ts';
import { loadOpenTransactions } from './open-items.ts';
import { duplicateError, insertTransaction, referenceExists } from './write.ts';
import { type AllocationResult, allocate } from './allocations.ts';
import type { CreditNoteInput, PostingContext } from './types.ts';
import { requirePeriodOpen } from '../periods.ts';
import { cancelReleases, creditDeferrals, refuseDeferrals, reverseReleases } from './deferrals.ts';
import { type AccountUse, requireOpenAccounts } from './role-accounts.ts';

export interface PostedCreditNote {
  id: number;
  number: number;
  net: bigint;
  tax: bigint;
  gross: bigint;
  currency: string;
  allocation: AllocationResult | null;
  warnings: PostingWarning[];
  /** With allocateToInvoice: why the credit note was not, or only partly, allocated. */
  reason: string | null;
}

/** The invoice a credit note is raised from, with what earlier credit notes already credited. */
export interface SourceInvoice {
  id: number;
  label: string;
  customerCode: string;
  exchangeRate: string;
  transactionDate: string;
  gross: bigint;
  credited: bigint;
  /** Lines copied whole by earlier credit notes (batch credit notes copying the invoice). */
  creditedLines: Set<number>;
  /** Net and VAT of each line that earlier item credit notes reversed in part or whole (`details.invoiceLines`). */
  creditedParts: Map<number, { net: bigint; tax: bigint }>;
}

export async function loadSourceInvoice(ctx: PostingContext, id: number): Promise<SourceInvoice> {
  const { rows } = await ctx.db.query<{
    type: string;
    number: string;
    external_reference: string;
    customer_code: string;
    exchange_rate: string;
    transaction_date: string;
    gross: string;
  }>(
    `SELECT type, number, external_reference, customer_code, exchange_rate::text AS exchange_rate,
            transaction_date::text AS transaction_date, gross
       FROM transactions WHERE entity_id = $1 AND id = $2`,
    [ctx.entity.id, id],
  );
  const r = rows[0];
  if (!r)
    throw new DomainError('TRANSACTION_DOES_NOT_EXIST', `Transaction ${id} does not exist`, [
      { field: 'fromInvoiceTransactionId', message: 'unknown transaction' },
    ]);
  if (r.type !== 'SI')
    throw new DomainError(
      'TRANSACTION_IS_NOT_AN_INVOICE',
      `${documentLabel({ type: r.type as 'SI', number: r.number, externalReference: r.external_reference })} is not an invoice`,
      [{ field: 'fromInvoiceTransactionId', message: 'not an invoice' }],
    );
  return {
    id,
    label: documentLabel({ type: 'SI', number: r.number, externalReference: r.external_reference }),
    customerCode: r.customer_code,
    exchangeRate: r.exchange_rate,
    transactionDate: r.transaction_date,
    gross: BigInt(r.gross),
    credited: 0n,
    creditedLines: new Set(),
    creditedParts: new Map(),
  };
}

/**
 * What earlier credit notes of the invoice credited, in total and line by line: whole lines a
 * batch credit note copied, and the parts of lines item credit notes reversed (each item credit
 * note names, per line, the invoice line it reverses). Read under the customer's row lock, which
 * every credit note of that customer takes, so two cannot both pass.
 */
export async function readCredited(ctx: PostingContext, invoice: SourceInvoice): Promise<void> {
  const { rows } = await ctx.db.query<{ gross: string; lines: number[] | null }>(
    `SELECT gross, coalesce(details->'creditedLines', details->'lineNumbers') AS lines
       FROM transactions WHERE entity_id = $1 AND type = 'SN' AND related_transaction_id = $2`,
    [ctx.entity.id, invoice.id],
  );
  for (const r of rows) {
    invoice.credited += BigInt(r.gross);
    for (const n of r.lines ?? []) invoice.creditedLines.add(n);
  }
  const parts = await ctx.db.query<{ line_no: number; net: string; tax: string }>(
    `SELECT (x.line #>> '{}')::int AS line_no, sum(i.net)::text AS net, sum(i.tax)::text AS tax
       FROM transactions t
       CROSS JOIN LATERAL jsonb_array_elements(t.details->'invoiceLines') WITH ORDINALITY AS x(line, n)
       JOIN transaction_items i ON i.transaction_id = t.id AND i.line_no = x.n
      WHERE t.entity_id = $1 AND t.type = 'SN' AND t.related_transaction_id = $2 AND jsonb_typeof(x.line) = 'number'
      GROUP BY 1`,
    [ctx.entity.id, invoice.id],
  );
  for (const r of parts.rows) invoice.creditedParts.set(r.line_no, { net: BigInt(r.net), tax: BigInt(r.tax) });
}

/** Refuses a credit note that would credit more than what is left of the invoice, or a line twice. */
export function checkBound(
  invoice: SourceInvoice,
  gross: bigint,
  lineNumbers: number[] | null,
  currency: string,
): void {
  const fmt = (v: bigint) => formatAmount(v, currency);
  // A line an item credit note reversed in part cannot be copied whole: its VAT would be reversed twice.
  const again = lineNumbers?.filter((n) => invoice.creditedLines.has(n) || invoice.creditedParts.has(n)) ?? [];
  if (again.length > 0) {
    throw new DomainError(
      'CREDIT_NOTE_EXCEEDS_INVOICE',
      `${invoice.label}: ${again.length > 1 ? 'lines' : 'line'} ${again.join(', ')} ${again.length > 1 ? 'were' : 'was'} ` +
        'already credited by an earlier credit note',
      [{ field: 'lineNumbers', message: `line ${again.join(', ')} already credited` }],
    );
  }
  const available = invoice.gross - invoice.credited;
  if (gross > available) {
    throw new DomainError(
      'CREDIT_NOTE_EXCEEDS_INVOICE',
      `${invoice.label} is ${fmt(invoice.gross)} ${currency} and earlier credit notes credited ${fmt(invoice.credited)}; ` +
        `at most ${fmt(available)} can still be credited, not ${fmt(gross)}`,
      {
        field: 'fromInvoiceTransactionId',
        invoiceGross: fmt(invoice.gross),
        alreadyCredited: fmt(invoice.credited),
        available: fmt(available),
        creditNoteGross: fmt(gross),
      },
    );
  }
}

/** The tax account of each tax code as the invoice's own journal used it. */
export async function invoiceTaxAccounts(ctx: PostingContext, invoiceId: number): Promise<Map<string, string>> {
  const { rows } = await ctx.db.query<{ tax_code: string; gl_account_code: string }>(
    `SELECT DISTINCT tax_code, gl_account_code FROM journal_lines
      WHERE transaction_id = $1 AND entity_id = $2 AND role = 'tax'`,
    [invoiceId, ctx.entity.id],
  );
  return new Map(rows.map((r) => [r.tax_code, r.gl_account_code]));
}

/** A use of the VAT account the credited invoice posted a tax code to (invoiceTaxAccounts). */
export function invoiceVatUse(
  invoice: SourceInvoice,
  taxCode: string,
  glAccountCode: string,
  field: string,
  otherwise: string,
): AccountUse {
  return {
    glAccountCode,
    field,
    what: `The credit note's VAT on tax code ${taxCode}`,
    why: `the VAT account ${invoice.label} posted tax code ${taxCode} to`,
    otherwise,
  };
}

/** A use of the account an invoice line was posted to, which a credit note copying it reverses. */
export function invoiceLineUse(
  invoice: SourceInvoice,
  lineNo: number,
  glAccountCode: string,
  field: string,
  otherwise: string,
): AccountUse {
  return {
    glAccountCode,
    field,
    what: `The credit of invoice line ${lineNo} of ${invoice.label}`,
    why: 'the account that invoice line was posted to',
    otherwise,
  };
}

/**
 * Refuses a copy of invoice lines when an account its journal reverses is no longer an active
 * posting account (closed with `isActive: false` since the invoice, or data from before the
 * rules): a line's sales account, or the VAT account the invoice posted a tax code to. A copy
 * goes where the invoice went, so those accounts are not checked as a line of the credit note's
 * own is; without this it posted to a closed account. Only accounts the journal really posts to
 * are checked: what is still deferred of a line goes to its schedule's deferred account instead
 * (creditDeferrals checks that one).
 */
async function requireCopiedAccounts(
  ctx: PostingContext,
  invoice: SourceInvoice,
  items: Item[],
  invoiceLineNos: number[],
  lines: JournalLine[],
  field: string,
): Promise<void> {
  const posted = lines.filter((l) => l.amount !== 0n || l.baseAmount !== 0n);
  const net = new Set(posted.flatMap((l) => (l.role === 'net' ? [l.glAccountCode] : [])));
  const uses: AccountUse[] = [];
  // A credit note of its own lines posts where its lines and their tax codes say now.
  const ownLines = "(lines, without copying the invoice's)";
  items.forEach((item, n) => {
    if (item.net !== 0n && net.has(item.glAccountCode)) {
      const otherwise = `or credit the line with a credit note of its own lines on an active posting account ${ownLines}`;
      uses.push(invoiceLineUse(invoice, invoiceLineNos[n]!, item.glAccountCode, field, otherwise));
    }
  });
  for (const l of posted) {
    if (l.role !== 'tax' || l.taxCode === null) continue;
    const otherwise = `or credit it with a credit note of its own lines ${ownLines}, whose VAT goes to the tax code's account of now`;
    uses.push(invoiceVatUse(invoice, l.taxCode, l.glAccountCode, field, otherwise));
  }
  await requireOpenAccounts(ctx.db, ctx.entity.id, uses);
}

interface ItemRow {
  line_no: number;
  gl_account_code: string;
  tax_code: string;
  tax_rate: string;
  description: string;
  department_id: string | null;
  net: string;
  tax: string;
  analysis: Analysis | null;
}

/** The lines of a posted invoice to copy, whole or the selected line numbers. */
async function invoiceItems(
  ctx: PostingContext,
  invoice: SourceInvoice,
  lineNumbers: number[] | undefined,
): Promise<{ items: Item[]; lineNumbers: number[] }> {
  const invoiceId = invoice.id;
  const { rows } = await ctx.db.query<ItemRow>(
    `SELECT line_no, gl_account_code, tax_code, tax_rate::text AS tax_rate, description, department_id, net, tax, analysis
       FROM transaction_items WHERE transaction_id = $1 AND entity_id = $2 ORDER BY line_no`,
    [invoiceId, ctx.entity.id],
  );
  const wanted = lineNumbers ? new Set(lineNumbers) : null;
  if (wanted) {
    const have = new Set(rows.map((r) => r.line_no));
    const missing = [...wanted].find((n) => !have.has(n));
    if (missing !== undefined) {
      throw new DomainError('INVOICE_LINE_DOES_NOT_EXIST', `${invoice.label} has no line ${missing}`, [
        { field: 'lineNumbers', message: `no line ${missing}` },
      ]);
    }
  }
  const copied = rows.filter((r) => !wanted || wanted.has(r.line_no));
  const items = copied.map((r, n) => ({
    lineNo: n + 1,
    glAccountCode: r.gl_account_code,
    taxCode: r.tax_code,
    taxRate: r.tax_rate,
    description: r.description,
    departmentId: r.department_id,
    net: BigInt(r.net),
    tax: BigInt(r.tax),
    // Exactly the invoice line's codes: every dimension it had none in stays without one.
    analysis: { ...NO_ANALYSIS, ...r.analysis },
  }));
  return { items, lineNumbers: copied.map((r) => r.line_no) };
}

/**
 * A sales credit note: from its own lines, or copying a posted invoice (whole or some lines, at
 * the invoice's exchange rate unless another is given), optionally allocated to that invoice.
 * Credit notes raised from an invoice never credit more than its gross, nor a copied line twice;
 * a copy reverses the sales and VAT accounts the invoice itself used, whatever the tax code says now.
 */
export async function postCreditNote(
  ctx: PostingContext,
  input: CreditNoteInput,
  duplicateCheck: boolean,
): Promise<PostedCreditNote> {
  let customerCode = input.customerCode;
  const fromId = input.fromInvoiceTransactionId;
  const date = input.creditNoteDate ?? today();
  const invoice = fromId !== undefined ? await loadSourceInvoice(ctx, fromId) : null;
  if (invoice) {
    if (customerCode !== undefined && customerCode !== invoice.customerCode) {
      throw new DomainError(
        'TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS',
        `${invoice.label} belongs to ${invoice.customerCode}`,
        [{ field: 'customerCode', message: 'not the invoice customer' }],
      );
    }
    customerCode = invoice.customerCode;
  }
  if (customerCode === undefined) {
    throw new DomainError('VALIDATION_ERROR', 'customerCode: required without fromInvoiceTransactionId', [
      { field: 'customerCode', message: 'required' },
    ]);
  }
  const customer = await lockCustomer(ctx.db, ctx.entity.id, customerCode, 'customerCode');
  const currency = customer.currency;
  const givenRate = input.exchangeRate ?? (currency === ctx.entity.baseCurrency ? undefined : invoice?.exchangeRate);
  const rates = await RatesInForce.load(ctx.db, ctx.entity.id, rateWanted(ctx, currency, givenRate, date));
  const rate = exchangeRateFor(ctx, currency, givenRate, 'exchangeRate', { rates, date });
  let items: Item[];
  let taxAccounts: Map<string, string>;
  let creditedLines: number[] | null = null;
  let warnings: PostingWarning[] = [];
  if (invoice && !input.lines) {
    const copy = await invoiceItems(ctx, invoice, input.lineNumbers);
    items = copy.items;
    creditedLines = copy.lineNumbers;
    taxAccounts = await invoiceTaxAccounts(ctx, invoice.id);
  } else {
    const lines = input.lines ?? [];
    refuseDeferrals(lines, '', 'a credit note');
    const refs = await loadReferences(ctx.db, ctx.entity.id, lineReferences(lines));
    const inputs = parseLines(lines, currency, refs, '', date);
    items = computeItems(inputs).items;
    warnings = lineWarnings(inputs, currency, refs, '');
    taxAccounts = new Map([...refs.tax].map(([code, t]) => [code, t.glAccountCode]));
  }
  const net = items.reduce((s, i) => s + i.net, 0n);
  const tax = items.reduce((s, i) => s + i.tax, 0n);
  if (net + tax <= 0n) {
    throw new DomainError('DOCUMENT_TOTAL_MUST_BE_POSITIVE', 'The credit note total is zero', [
      { field: 'lines', message: 'total is zero' },
    ]);
  }
  if (invoice) {
    await readCredited(ctx, invoice);
    checkBound(invoice, net + tax, creditedLines, currency);
  }
  const reference = input.externalReference ?? '';
  await requirePeriodOpen(ctx.db, ctx.entity.id, date, 'creditNoteDate', 'post a credit note');
  if (duplicateCheck && (await referenceExists(ctx.db, ctx.entity.id, customer.code, 'SN', reference))) {
    throw duplicateError('SN', customer.code, reference, 'externalReference');
  }
  const description = input.description ?? (invoice ? `Credit for ${invoice.label}` : '');
  const journal = itemJournal(
    items,
    taxAccounts,
    customer.controlGlAccountCode,
    description,
    { currency, baseCurrency: ctx.entity.baseCurrency, rate },
    -1n,
  );
  const deferred =
    invoice && creditedLines
      ? await creditDeferrals(ctx.db, ctx.entity.id, invoice.id, creditedLines, date, items, journal.lines)
      : { lines: journal.lines, cancel: [], reverse: [] };
  if (invoice && creditedLines)
    await requireCopiedAccounts(
      ctx,
      invoice,
      items,
      creditedLines,
      deferred.lines,
      input.lineNumbers ? 'lineNumbers' : 'fromInvoiceTransactionId',
    );
  const posted = await insertTransaction(ctx.db, {
    entityId: ctx.entity.id,
    type: 'SN',
    customerCode: customer.code,
    currency,
    exchangeRate: rate,
    // A rate copied from the credited invoice was booked before; only a rate sent is checked.
    rateCheck: {
      field: 'exchangeRate',
      confirmed: input.exchangeRate === undefined || input.confirmExchangeRate === true,
    },
    transactionDate: date,
    dueDate: null,
    externalReference: reference,
    description,
    net,
    tax,
    gross: net + tax,
    baseGross: journal.baseGross,
    duplicateChecked: duplicateCheck,
    relatedTransactionId: fromId ?? null,
    details:
      fromId !== undefined
        ? {
            fromInvoiceTransactionId: fromId,
            ...(input.lineNumbers ? { lineNumbers: input.lineNumbers } : {}),
            ...(creditedLines ? { creditedLines } : {}),
          }
        : {},
    createdBy: ctx.actor,
    items,
    lines: deferred.lines,
  });
  await cancelReleases(ctx.db, ctx.entity.id, deferred.cancel, posted.id);
  const self = documentLabel({ type: 'SN', number: posted.number, externalReference: reference });
  await reverseReleases(ctx, deferred.reverse, { id: posted.id, label: self });
  let allocation: AllocationResult | null = null;
  let reason: string | null = null;
  if (input.allocateToInvoice) {
    if (!invoice || fromId === undefined) {
      throw new DomainError('VALIDATION_ERROR', 'allocateToInvoice: needs fromInvoiceTransactionId', [
        { field: 'allocateToInvoice', message: 'needs fromInvoiceTransactionId' },
      ]);
    }
    const outstanding = (await loadOpenTransactions(ctx.db, ctx.entity.id, [fromId])).get(fromId)!.outstanding;
    const amount = minBig(outstanding, net + tax);
    const fmt = (v: bigint) => formatAmount(v, currency);
    if (amount > 0n) {
      allocation = await allocate(
        ctx,
        {
          transactionId1: fromId,
          transactionId2: posted.id,
          amount: formatAmount(amount, currency),
          // Never before either document: a credit note dated before its invoice settles it on the invoice's date.
          date: laterDate(date, invoice.transactionDate),
          reference: reference || `Credit note ${posted.number}`,
        },
        customer,
      );
    }
    if (amount === 0n) {
      reason =
        `${invoice.label} is already settled; ${self} is left open for ${fmt(net + tax)} ${currency}: ` +
        'refund it with a debit journal or allocate it to another invoice';
    } else if (amount < net + tax) {
      reason =
        `${invoice.label} had ${fmt(outstanding)} ${currency} outstanding; ${self} is left open for ` +
        `${fmt(net + tax - amount)}: refund it with a debit journal or allocate it to another invoice`;
    }
  }
  return { ...posted, net, tax, gross: net + tax, currency, allocation, reason, warnings };
}
