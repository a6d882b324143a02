import type { TargetDocument, UnlinkedScope } from '../../sync/target.ts';
import { CUSTOMERS_PER_CALL, checkedDay, partnerIds } from './balances.ts';
import {
  type DocumentContext,
  MOVE_DOCUMENT_FIELDS,
  PAYMENT_OUT_OF_BOOKS,
  moveDocument,
  paymentDocumentFields,
  paymentDocuments,
} from './documents.ts';
import { paymentReferenceField } from './settings.ts';

/*
 * Documents in Odoo that no pipeline booked, for reconciliation: the customer invoices and credit
 * notes (`account.move` of `move_type` out_invoice / out_refund, posted) dated by their invoice
 * date, and the customer payments and refunds (`account.payment` of `partner_type` customer, an
 * outbound one a refund, neither a draft nor cancelled nor rejected) dated by their date, of the
 * pipeline's customers (`partner_id in`) or under one of its references (`ref`, the payment's
 * `ref`/`memo` by version, `in`), each read as documents() reads it (documents.ts).
 *
 * Requests: per model, one `search_read` per 1,000 customers and one per 1,000 references, each
 * read in pages of 1,000 rows (`limit`/`offset`, id order) until a page comes back short; and for
 * each page of payments one more `search_read` of their receivable lines (what each settles).
 */

/** Rows a `search_read` page. */
export const ROWS_PER_PAGE = 1000;

/**
 * Invoices, credit notes, payments and refunds dated from..to inclusive of these customers, or
 * carrying one of these references under any customer, in the books, that no pipeline booked
 * (`linkedTargetIds`: a move's id, a payment's `payment:{id}`).
 */
export async function unlinkedDocuments(
  c: DocumentContext,
  scope: UnlinkedScope,
  from: string,
  to: string,
): Promise<TargetDocument[]> {
  checkedDay('documents no pipeline booked asked from', from);
  checkedDay('documents no pipeline booked asked to', to);
  const linked = new Set(scope.linkedTargetIds);
  const partners = partnerIds(scope.customerTargetIds);
  const references = [...new Set(scope.references.filter((r) => r !== ''))];
  const paymentRef = paymentReferenceField(c.version);
  // Each filter of who: customers, then references, a thousand a request.
  const whos = (refField: string): unknown[][] => [
    ...slices(partners, CUSTOMERS_PER_CALL).map((s) => ['partner_id', 'in', s]),
    ...slices(references, CUSTOMERS_PER_CALL).map((s) => [refField, 'in', s]),
  ];
  const out = new Map<string, TargetDocument>();
  const keep = (d: TargetDocument | null) => {
    if (d && !d.voided && !linked.has(d.targetId) && !out.has(d.targetId)) out.set(d.targetId, d);
  };
  for (const who of whos('ref'))
    for (const e of await c.rpc.searchReadAll(
      'account.move',
      [
        ['move_type', 'in', ['out_invoice', 'out_refund']],
        ['state', '=', 'posted'],
        who,
        ['invoice_date', '>=', from],
        ['invoice_date', '<=', to],
      ],
      MOVE_DOCUMENT_FIELDS,
      c.signal,
      ROWS_PER_PAGE,
    ))
      keep(moveDocument(c, e));
  for (const who of whos(paymentRef)) {
    const rows = await c.rpc.searchReadAll(
      'account.payment',
      [
        ['partner_type', '=', 'customer'],
        ['state', 'not in', [...PAYMENT_OUT_OF_BOOKS]],
        who,
        ['date', '>=', from],
        ['date', '<=', to],
      ],
      paymentDocumentFields(c),
      c.signal,
      ROWS_PER_PAGE,
    );
    for (const page of slices(rows, ROWS_PER_PAGE)) for (const d of await paymentDocuments(c, page)) keep(d);
  }
  return [...out.values()];
}

/** In slices of `size`. */
function slices<T>(all: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < all.length; i += size) out.push(all.slice(i, i + size));
  return out;
}
