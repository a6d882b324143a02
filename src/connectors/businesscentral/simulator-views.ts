import { Decimal } from 'decimal.js';
import { LosslessNumber } from 'lossless-json';
import {
  type Company,
  type GlJournalLine,
  type JournalLine,
  ODataError,
  type Row,
  type SalesDoc,
} from './simulator-store.ts';
import { onePagePdf } from '../../sync/remote/simulated-pdf.ts';

/*
 * How the simulated Business Central answers: entities as the API v2.0 pages show them (amounts
 * as exact JSON numbers), the `$filter` it understands, and an invoice's PDF.
 */

export const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const EMPTY_GUID = '00000000-0000-0000-0000-000000000000';
const n2 = (d: Decimal) => new LosslessNumber(d.toFixed(2));

/** A minimal one-page PDF whose text says which invoice it is. */
export function invoicePdf(d: SalesDoc, total: Decimal): Buffer {
  return onePagePdf(
    `Invoice ${d.number} ${d.externalDocumentNumber} ${total.toFixed(2)} ${d.currencyCode}`.replace(/[()\\]/g, ''),
    {
      hex: true,
    },
  );
}

/** The nodes Business Central's OData layer lets a `$filter` hold (MaxNodeCount). */
export const FILTER_NODES = 100;

/** One comparison of a `$filter`: `field op value`, or `contains(field,'value')`. */
export interface FilterTerm {
  op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'contains';
  value: string;
}

/** Whether a row's value (as text) passes a term; dates (YYYY-MM-DD) and numbers compare in order. */
export function passes(actual: string, t: FilterTerm): boolean {
  // Text compares as it is kept (AL filters are case-sensitive); GUIDs in any case.
  const same = GUID.test(t.value) ? actual.toLowerCase() === t.value.toLowerCase() : actual === t.value;
  if (t.op === 'contains') return actual.includes(t.value);
  if (t.op === 'eq') return same;
  if (t.op === 'ne') return !same;
  const numeric = /^-?[0-9]+(\.[0-9]+)?$/.test(actual) && /^-?[0-9]+(\.[0-9]+)?$/.test(t.value);
  const c = numeric ? new Decimal(actual).comparedTo(t.value) : actual < t.value ? -1 : actual > t.value ? 1 : 0;
  return t.op === 'lt' ? c < 0 : t.op === 'le' ? c <= 0 : t.op === 'gt' ? c > 0 : c >= 0;
}

/**
 * The conditions of an OData `$filter` as Business Central takes them: comparisons (`eq`, `ne`,
 * `lt`, `le`, `gt`, `ge`; strings quoted, GUIDs, numbers and dates bare) and `contains(field,'x')`,
 * joined by `and`, or by `or` in a parenthesised group (or the whole filter) on one field. Each
 * condition is a field and the terms of which a row must pass one. As Business Central: an `or`
 * joining two fields refused, and a filter of more than {@link FILTER_NODES} nodes (three a
 * comparison or `contains`, one a joining `and`/`or`) refused.
 */
export function parseFilter(filter: string): [string, FilterTerm[]][] {
  const tokens: { field: string; term: FilterTerm; open: boolean; close: boolean; joiner: string }[] = [];
  const value = String.raw`(?:'((?:[^']|'')*)'|([0-9a-fA-F]{8}-[0-9a-fA-F-]{27}|[0-9]{4}-[0-9]{2}-[0-9]{2}|-?[0-9.]+))`;
  const re = new RegExp(
    String.raw`\s*(\()?\s*(?:contains\(\s*([A-Za-z][A-Za-z0-9]*)\s*,\s*'((?:[^']|'')*)'\s*\)|([A-Za-z][A-Za-z0-9]*)\s+(eq|ne|lt|le|gt|ge)\s+${value})\s*(\))?\s*(?:(and|or)\s+|$)`,
    'y',
  );
  let at = 0;
  while (at < filter.length) {
    re.lastIndex = at;
    const m = re.exec(filter);
    if (!m)
      throw new ODataError(400, 'BadRequest_InvalidFilter', `Could not parse the filter: ${filter.slice(at, at + 40)}`);
    const unquote = (v: string) => v.replace(/''/g, "'");
    tokens.push({
      field: m[2] ?? m[4]!,
      term: m[2]
        ? { op: 'contains', value: unquote(m[3]!) }
        : { op: m[5] as FilterTerm['op'], value: m[6] !== undefined ? unquote(m[6]) : m[7]! },
      open: m[1] !== undefined,
      close: m[8] !== undefined,
      joiner: m[9] ?? '',
    });
    at = re.lastIndex;
  }
  if (tokens.length * 4 - 1 > FILTER_NODES)
    throw new ODataError(
      400,
      'BadRequest',
      `The node count limit of '${FILTER_NODES}' has been exceeded. To increase the limit, set the 'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings.`,
    );
  // Groups: a parenthesised run, else a run joined by `or` (the whole filter when it has no `and`).
  const groups: (typeof tokens)[] = [];
  let current: typeof tokens = [];
  let depth = 0;
  for (const t of tokens) {
    if (t.open) depth++;
    current.push(t);
    if (t.close) depth--;
    if (depth < 0 || depth > 1)
      throw new ODataError(400, 'BadRequest_InvalidFilter', 'Unbalanced parentheses in the filter.');
    if (depth === 0 && t.joiner !== 'or') {
      groups.push(current);
      current = [];
    }
  }
  if (depth !== 0 || current.length > 0)
    throw new ODataError(400, 'BadRequest_InvalidFilter', 'Unbalanced parentheses in the filter.');
  return groups.map((g) => {
    if (g.slice(0, -1).some((t) => t.joiner !== 'or'))
      throw new ODataError(400, 'BadRequest_InvalidFilter', `Could not parse the filter: ${filter.slice(0, 40)}`);
    if (new Set(g.map((t) => t.field)).size > 1)
      throw new ODataError(
        400,
        'BadRequest_InvalidFilter',
        "The 'OR' operator is not supported on distinct fields on an OData filter.",
      );
    return [g[0]!.field, g.map((t) => t.term)];
  });
}

export const docView = (company: Company, d: SalesDoc): Row => {
  const total = company.total(d);
  const net = d.lines.reduce((s, l) => s.plus(l.net), new Decimal(0));
  const inv = d.invoiceId ? company.docs.get(d.invoiceId) : undefined;
  return {
    id: d.id,
    number: d.number,
    externalDocumentNumber: d.externalDocumentNumber,
    [d.set === 'salesInvoices' ? 'invoiceDate' : 'creditMemoDate']: d.date,
    postingDate: d.postingDate,
    dueDate: d.dueDate,
    customerId: d.customerId,
    customerNumber: company.customers.get(d.customerId)?.number,
    currencyCode: d.currencyCode,
    status: d.status,
    totalAmountExcludingTax: n2(net),
    totalTaxAmount: n2(total.minus(net)),
    totalAmountIncludingTax: n2(total),
    ...(d.set === 'salesInvoices'
      ? { remainingAmount: n2(d.status === 'Draft' ? total : d.remaining) }
      : { invoiceId: d.invoiceId ?? EMPTY_GUID, invoiceNumber: inv?.number ?? '' }),
  };
};
export const lineView = (d: SalesDoc) =>
  d.lines.map((l) => ({
    id: l.id,
    documentId: d.id,
    sequence: l.sequence,
    lineType: l.lineType,
    itemId: l.itemId ?? EMPTY_GUID,
    lineObjectNumber: l.lineObjectNumber ?? '',
    description: l.description,
    quantity: new LosslessNumber(l.quantity.toString()),
    unitPrice: new LosslessNumber(l.unitPrice.toString()),
    taxCode: l.taxCode,
    amountExcludingTax: n2(l.net),
    totalTaxAmount: n2(l.tax),
    amountIncludingTax: n2(l.net.plus(l.tax)),
  }));
export const journalLineView = (company: Company, l: JournalLine): Row => ({
  id: l.id,
  journalId: l.journalId,
  journalDisplayName: company.journals.get(l.journalId)?.code,
  lineNumber: l.lineNumber,
  customerId: l.customerId,
  customerNumber: company.customers.get(l.customerId)?.number,
  postingDate: l.postingDate,
  documentNumber: l.documentNumber,
  externalDocumentNumber: l.externalDocumentNumber,
  amount: new LosslessNumber(l.amount.toString()),
  appliesToInvoiceId: l.appliesToInvoiceId ?? EMPTY_GUID,
  appliesToInvoiceNumber: l.appliesToInvoiceId ? (company.docs.get(l.appliesToInvoiceId)?.number ?? '') : '',
  description: l.description,
});
/** A general journal line as APIV2 - JournalLines shows it. */
export const glJournalLineView = (company: Company, l: GlJournalLine): Row => {
  const idOf = (type: string, number: string) =>
    (type === 'Bank Account' ? company.banks.get(number)?.id : company.accounts.get(number)?.id) ?? EMPTY_GUID;
  return {
    id: l.id,
    journalId: l.journalId,
    journalDisplayName: company.journals.get(l.journalId)?.code,
    lineNumber: l.lineNumber,
    accountType: l.accountType,
    accountId: idOf(l.accountType, l.accountNumber),
    accountNumber: l.accountNumber,
    postingDate: l.postingDate,
    documentNumber: l.documentNumber,
    externalDocumentNumber: l.externalDocumentNumber,
    amount: new LosslessNumber(l.amount.toString()),
    description: l.description,
    comment: '',
    taxCode: '',
    balanceAccountType: l.balanceAccountType,
    balancingAccountId: idOf(l.balanceAccountType, l.balancingAccountNumber),
    balancingAccountNumber: l.balancingAccountNumber,
  };
};
export const glView = (r: Row): Row => ({
  ...r,
  debitAmount: n2(r.debitAmount as Decimal),
  creditAmount: n2(r.creditAmount as Decimal),
});
