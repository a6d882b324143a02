import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import type { EntityContext } from './entities.ts';
import { type InvoiceDocument, type PartyAddress, renderDocument } from './pdf-layout.ts';

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
                        FROM transaction_items i WHERE i.transaction_id = t.id), '[]'::json) AS items
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
    seller: { name: entity.name, address: entity.address, vatNumber: entity.vatNumber, code: null },
    buyer: {
      name: r.customer_name ?? r.customer_code,
      code: r.customer_code,
      address: r.customer_address ?? {},
      vatNumber: r.customer_vat_number,
    },
    lines: r.items.map((i) => ({ description: i.description, rate: i.rate, net: BigInt(i.net), tax: BigInt(i.tax) })),
    net: BigInt(r.net),
    tax: BigInt(r.tax),
    gross: BigInt(r.gross),
  };
}

/**
 * An invoice or credit note as PDF (A4, built-in Helvetica). The same posted document always
 * renders the same bytes: the PDF's creation date is the posting time and its ID derives from it.
 */
export async function renderInvoicePdf(db: Queryable, entity: EntityContext, transactionId: number): Promise<Buffer> {
  return renderDocument(await loadInvoiceDocument(db, entity, transactionId));
}

/**
 * The renderer the sync engine attaches to invoice write-back (iXpole's "PDF layout"); it has the
 * shape of the engine's `PdfRenderer` without the ledger depending on the sync engine.
 */
export function ledgerPdfRenderer(db: Queryable): (entity: EntityContext, transactionId: number) => Promise<Buffer> {
  return (entity, transactionId) => renderInvoicePdf(db, entity, transactionId);
}
