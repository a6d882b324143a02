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

/*
 * How the simulated Business Central answers: entities as the API v2.0 pages show them (amounts
 * as exact JSON numbers), the `$filter` it understands, and an invoice's PDF.
 */

export const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const EMPTY_GUID = '00000000-0000-0000-0000-000000000000';
const n2 = (d: Decimal) => new LosslessNumber(d.toFixed(2));

/** A minimal one-page PDF whose text says which invoice it is. */
export function invoicePdf(d: SalesDoc, total: Decimal): Buffer {
  const text = `Invoice ${d.number} ${d.externalDocumentNumber} ${total.toFixed(2)} ${d.currencyCode}`.replace(
    /[()\\]/g,
    '',
  );
  // Text as a hex string in a TJ array, as pdfkit writes it.
  const stream = `BT /F1 12 Tf 72 720 Td [<${Buffer.from(text, 'latin1').toString('hex')}>] TJ ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  for (const [i, o] of objects.entries()) {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  }
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** The nodes Business Central's OData layer lets a `$filter` hold (MaxNodeCount). */
export const FILTER_NODES = 100;

/**
 * `a eq 'x' and b eq <guid>`, or `a eq 'x' or a eq 'y'`: the conditions of an OData `$filter` this
 * simulator understands, each a field and the values it may take. As Business Central: `or` only
 * between values of one field, and a filter of more than {@link FILTER_NODES} nodes (three a
 * comparison, one a joining `and`/`or`) refused.
 */
export function parseFilter(filter: string): [string, string[]][] {
  const terms: { field: string; value: string; joiner: string }[] = [];
  const re = /\s*([A-Za-z][A-Za-z0-9]*)\s+eq\s+(?:'((?:[^']|'')*)'|([0-9a-fA-F-]{36}|[0-9.]+))\s*(?:(and|or)\s+|$)/y;
  let at = 0;
  while (at < filter.length) {
    re.lastIndex = at;
    const m = re.exec(filter);
    if (!m)
      throw new ODataError(400, 'BadRequest_InvalidFilter', `Could not parse the filter: ${filter.slice(at, at + 40)}`);
    terms.push({ field: m[1]!, value: m[2] !== undefined ? m[2].replace(/''/g, "'") : m[3]!, joiner: m[4] ?? '' });
    at = re.lastIndex;
  }
  if (terms.length * 4 - 1 > FILTER_NODES)
    throw new ODataError(
      400,
      'BadRequest',
      `The node count limit of '${FILTER_NODES}' has been exceeded. To increase the limit, set the 'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings.`,
    );
  const joiners = new Set(terms.slice(0, -1).map((t) => t.joiner));
  if (joiners.has('or')) {
    if (joiners.size > 1 || new Set(terms.map((t) => t.field)).size > 1)
      throw new ODataError(
        400,
        'BadRequest_InvalidFilter',
        'OR operators apply filters on one field only; they cannot join filters on different fields.',
      );
    return [[terms[0]!.field, terms.map((t) => t.value)]];
  }
  return terms.map((t) => [t.field, [t.value]]);
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
