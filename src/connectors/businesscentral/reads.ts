import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext, TargetDocument } from '../../sync/target.ts';
import { type BusinessCentralApi, key } from './api.ts';
import { minor, text } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * What the target reads back: documents as booked (write-back, the number and due date), the
 * invoice's PDF, and which invoices are paid.
 */

export async function toDocument(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  id: string,
  lines: boolean,
): Promise<TargetDocument | null> {
  for (const [set, kind, linesSet, dateField] of [
    ['salesInvoices', 'invoice', 'salesInvoiceLines', 'invoiceDate'],
    ['salesCreditMemos', 'creditNote', 'salesCreditMemoLines', 'creditMemoDate'],
  ] as const) {
    const e = await api.get(`/${set}${key(id)}`, ctx.signal);
    if (!e) continue;
    const currency = text(e.currencyCode);
    const gross = minor(e.totalAmountIncludingTax, currency);
    if (gross === null)
      throw new ConnectorError(SYSTEM, `${set} ${id} answered without a usable totalAmountIncludingTax`, {
        retryable: false,
      });
    const count = lines ? (await api.list(`${set}${key(id)}/${linesSet}`, null, ctx.signal)).length : 0;
    return {
      targetId: e.id,
      kind,
      number: text(e.number),
      customerTargetId: text(e.customerId),
      externalReference: text(e.externalDocumentNumber),
      date: text(e[dateField]),
      dueDate: e.dueDate ? text(e.dueDate) : null,
      currency,
      gross,
      lines: count,
    };
  }
  return null;
}

/** Documents by id: sales invoices, else credit memos. */
export async function documents(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  ids: string[],
  lines: boolean,
): Promise<Map<string, TargetDocument>> {
  const out = new Map<string, TargetDocument>();
  for (const id of ids) {
    const d = await toDocument(api, ctx, id, lines);
    if (d) out.set(id, d);
  }
  return out;
}

/** The posted invoice as Business Central renders it (pdfDocument → pdfDocumentContent). */
export async function invoicePdf(api: BusinessCentralApi, ctx: TargetCallContext, invoiceId: string): Promise<Buffer> {
  const doc = await api.get(`/salesInvoices${key(invoiceId)}/pdfDocument`, ctx.signal).catch((err: unknown) => {
    // The part answers as a collection on some versions.
    if (err instanceof ConnectorError && /without an id/.test(err.message)) return null;
    throw err;
  });
  let link = doc?.['pdfDocumentContent@odata.mediaReadLink'];
  if (typeof link !== 'string') {
    const rows = await api.list(`salesInvoices${key(invoiceId)}/pdfDocument`, null, ctx.signal);
    link = rows[0]?.['pdfDocumentContent@odata.mediaReadLink'];
  }
  if (typeof link !== 'string')
    throw new ConnectorError(SYSTEM, 'the invoice has no pdfDocumentContent link', { retryable: false });
  const body = await api.media(link, ctx.signal);
  if (!body.subarray(0, 5).equals(Buffer.from('%PDF-')))
    throw new ConnectorError(SYSTEM, 'pdfDocumentContent answered with something that is not a PDF', {
      retryable: false,
    });
  return body;
}

/** Of these invoices, those Business Central holds as paid in full. */
export async function paidInvoices(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  ids: string[],
): Promise<Map<string, string>> {
  const paid = new Map<string, string>();
  for (const id of ids) {
    const e = await api.get(`/salesInvoices${key(id)}`, ctx.signal);
    if (e && e.status === 'Paid' && minor(e.remainingAmount, text(e.currencyCode)) === 0n) paid.set(id, '');
  }
  return paid;
}
