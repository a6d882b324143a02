import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import type { EntityContext } from './entities.ts';
import { type InvoiceDocument, type PartyAddress, renderDocument } from './pdf-layout.ts';
import { loadLetterhead } from './branding.ts';
import { loadReceiptDocument, renderReceipt } from './pdf-receipt.ts';

export type { InvoiceDocument } from './pdf-layout.ts';

interface DocumentRow {
  id: string;
  type: string;
  number: string;
  customer_code: string;
  currency: string;
  transaction_date: string;
  due_date: string | null;
  external_reference: string;
  description: string;
  net: string;
  tax: string;
  gross: string;
  created_at: string;
  customer_name: string | null;
  customer_address: PartyAddress | null;
  customer_vat_number: string | null;
  related_number: string | null;
  items: { description: string; rate: string; net: string; tax: string }[];
  breakdown: { rate: string; net: string; tax: string }[] | null;
}

/**
 * Reads a posted invoice (SI) or credit note (SN) of the entity as the document model the PDF is
 * drawn from. Another entity's transaction is simply not found; any other type is refused.
 */
export async function loadInvoiceDocument(
  db: Queryable,
  entity: EntityContext,
  transactionId: number,
): Promise<InvoiceDocument> {
  // Amounts leave json_agg as text: a JSON number above 2^53 would lose digits in JavaScript.
  const { rows } = await db.query<DocumentRow>(
    `SELECT t.id, t.type, t.number, t.customer_code, t.currency, t.transaction_date::text AS transaction_date,
            t.due_date::text AS due_date, t.external_reference, t.description, t.net, t.tax, t.gross,
            to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at,
            c.name AS customer_name, c.address AS customer_address, c.vat_number AS customer_vat_number,
            r.number AS related_number,
            coalesce((SELECT json_agg(json_build_object('description', i.description, 'rate', i.tax_rate::text,
                                                        'net', i.net::text, 'tax', i.tax::text) ORDER BY i.line_no)
                        FROM transaction_items i WHERE i.transaction_id = t.id), '[]'::json) AS items,
            (SELECT json_agg(json_build_object('rate', b.tax_rate::text, 'net', b.net::text, 'tax', b.tax::text)
                             ORDER BY b.tax_rate, b.tax_code)
               FROM transaction_tax_breakdown b WHERE b.transaction_id = t.id) AS breakdown
       FROM transactions t
       LEFT JOIN customers c ON c.entity_id = t.entity_id AND c.code = t.customer_code
       LEFT JOIN transactions r ON r.id = t.related_transaction_id
      WHERE t.id = $1 AND t.entity_id = $2`,
    [transactionId, entity.id],
  );
  const r = rows[0];
  if (!r) throw new DomainError('NOT_FOUND', `No transaction ${transactionId} in this entity`);
  if (r.type !== 'SI' && r.type !== 'SN') {
    throw new DomainError(
      'TRANSACTION_IS_NOT_AN_INVOICE',
      `Transaction ${transactionId} is a ${r.type}; only invoices (SI) and credit notes (SN) have a PDF`,
      [{ field: 'params.id', message: `a ${r.type}, not an invoice or credit note` }],
    );
  }
  const seller = await loadLetterhead(db, entity);
  return {
    kind: r.type === 'SI' ? 'invoice' : 'creditNote',
    transactionId: Number(r.id),
    number: r.number,
    date: r.transaction_date,
    dueDate: r.due_date,
    externalReference: r.external_reference,
    description: r.description,
    currency: r.currency.trim(),
    relatedNumber: r.related_number,
    createdAt: new Date(r.created_at),
    seller: { name: seller.name, address: seller.address, vatNumber: seller.vatNumber, code: null },
    buyer: {
      name: r.customer_name ?? r.customer_code,
      code: r.customer_code,
      address: r.customer_address ?? {},
      vatNumber: r.customer_vat_number,
    },
    lines: r.items.map((i) => ({ description: i.description, rate: i.rate, net: BigInt(i.net), tax: BigInt(i.tax) })),
    vatBreakdown: r.breakdown?.map((b) => ({ rate: b.rate, net: BigInt(b.net), tax: BigInt(b.tax) })) ?? null,
    net: BigInt(r.net),
    tax: BigInt(r.tax),
    gross: BigInt(r.gross),
    branding: { logo: seller.logo, bank: seller.bank, footer: seller.footer },
  };
}

/**
 * An invoice or credit note as PDF (A4, built-in Helvetica). The same posted document always
 * renders the same bytes: the PDF's creation date is the posting time and its ID derives from it.
 */
export async function renderInvoicePdf(db: Queryable, entity: EntityContext, transactionId: number): Promise<Buffer> {
  return renderDocument(await loadInvoiceDocument(db, entity, transactionId));
}

/** The transaction types that have a PDF: invoices, credit notes and receipts. */
export const PDF_TYPES: readonly string[] = ['SI', 'SN', 'SR'];

/**
 * The PDF of any posted document that has one: an invoice or credit note, or a receipt with what
 * it was allocated to. Another entity's transaction is NOT_FOUND; a journal, discount or exchange
 * difference has none.
 */
export async function renderTransactionPdf(
  db: Queryable,
  entity: EntityContext,
  transactionId: number,
): Promise<Buffer> {
  const { rows } = await db.query<{ type: string }>(`SELECT type FROM transactions WHERE id = $1 AND entity_id = $2`, [
    transactionId,
    entity.id,
  ]);
  const type = rows[0]?.type;
  if (!type) throw new DomainError('NOT_FOUND', `No transaction ${transactionId} in this entity`);
  if (type === 'SI' || type === 'SN') return renderInvoicePdf(db, entity, transactionId);
  if (type === 'SR') return renderReceipt(await loadReceiptDocument(db, entity, transactionId));
  throw new DomainError(
    'DOCUMENT_TYPE_HAS_NO_PDF',
    `Transaction ${transactionId} is a ${type}; only invoices (SI), credit notes (SN) and receipts (SR) have a PDF`,
    [{ field: 'params.id', message: `a ${type}, which has no PDF` }],
  );
}

/**
 * The renderer the sync engine attaches to invoice write-back (iXpole's "PDF layout"); it has the
 * shape of the engine's `PdfRenderer` without the ledger depending on the sync engine.
 */
export function ledgerPdfRenderer(db: Queryable): (entity: EntityContext, transactionId: number) => Promise<Buffer> {
  return (entity, transactionId) => renderInvoicePdf(db, entity, transactionId);
}
