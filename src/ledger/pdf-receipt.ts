import type { Queryable } from '../db/database.ts';
import { formatAmount } from '../domain/money.ts';
import { loadLetterhead, type Letterhead } from './branding.ts';
import type { EntityContext } from './entities.ts';
import {
  BOLD,
  buyerBlock,
  footers,
  letterhead,
  META,
  metaBlock,
  PAGE,
  type Party,
  type PartyAddress,
  REGULAR,
  RIGHT,
  startDocument,
  Writer,
} from './pdf-layout.ts';

/** How the PDFs name document types. */
export const DOCUMENT_NAMES: Record<string, string> = {
  SI: 'Invoice',
  SN: 'Credit note',
  SR: 'Receipt',
  SD: 'Debit journal',
  SC: 'Credit journal',
  DS: 'Discount',
  DX: 'Exchange difference',
  FX: 'Exchange difference',
};

/** What a receipt PDF shows: the payment, and the documents it has been allocated to. */
export interface ReceiptDocument {
  transactionId: number;
  number: string;
  date: string;
  externalReference: string;
  description: string;
  currency: string;
  bankAccount: string | null;
  createdAt: Date;
  seller: Letterhead;
  buyer: Party;
  amount: bigint;
  allocations: { type: string; number: string; date: string; reference: string; amount: bigint }[];
}

interface ReceiptRow {
  id: string;
  number: string;
  customer_code: string;
  currency: string;
  transaction_date: string;
  external_reference: string;
  description: string;
  gross: string;
  created_at: string;
  bank_account: string | null;
  customer_name: string | null;
  customer_address: PartyAddress | null;
  customer_vat_number: string | null;
  allocations: { type: string; number: string; date: string; reference: string; amount: string }[];
}

/**
 * Reads a posted receipt (SR) of the entity with the allocations that stand (not reversed), the
 * documents it paid. The caller has checked that the transaction is a receipt of this entity.
 */
export async function loadReceiptDocument(
  db: Queryable,
  entity: EntityContext,
  transactionId: number,
): Promise<ReceiptDocument> {
  const { rows } = await db.query<ReceiptRow>(
    `SELECT t.id, t.number, t.customer_code, t.currency, t.transaction_date::text AS transaction_date,
            t.external_reference, t.description, t.gross,
            to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at,
            coalesce(b.name || ' (' || b.code || ')', t.details->>'bankAccountCode') AS bank_account,
            c.name AS customer_name, c.address AS customer_address, c.vat_number AS customer_vat_number,
            coalesce((SELECT json_agg(json_build_object('type', d.type, 'number', d.number::text,
                                                        'date', a.allocation_date::text, 'reference', d.external_reference,
                                                        'amount', a.amount::text) ORDER BY a.allocation_date, a.id)
                        FROM allocations a JOIN transactions d ON d.id = a.debit_transaction_id
                       WHERE a.credit_transaction_id = t.id
                         AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)),
                     '[]'::json) AS allocations
       FROM transactions t
       LEFT JOIN customers c ON c.entity_id = t.entity_id AND c.code = t.customer_code
       LEFT JOIN bank_accounts b ON b.entity_id = t.entity_id AND b.code = t.details->>'bankAccountCode'
      WHERE t.id = $1 AND t.entity_id = $2 AND t.type = 'SR'`,
    [transactionId, entity.id],
  );
  const r = rows[0]!;
  return {
    transactionId: Number(r.id),
    number: String(r.number),
    date: r.transaction_date,
    externalReference: r.external_reference,
    description: r.description,
    currency: r.currency.trim(),
    bankAccount: r.bank_account,
    createdAt: new Date(r.created_at),
    seller: await loadLetterhead(db, entity),
    buyer: {
      name: r.customer_name ?? r.customer_code,
      code: r.customer_code,
      address: r.customer_address ?? {},
      vatNumber: r.customer_vat_number,
    },
    amount: BigInt(r.gross),
    allocations: r.allocations.map((a) => ({ ...a, amount: BigInt(a.amount) })),
  };
}

const COLS = { document: PAGE.margin, number: 190, date: 270, reference: 350, amount: RIGHT };

function allocationHeader(w: Writer): void {
  w.at('Document', COLS.document, w.y, BOLD);
  w.right('Number', COLS.number, w.y, BOLD);
  w.at('Allocated on', COLS.date, w.y, BOLD);
  w.at('Reference', COLS.reference, w.y, BOLD);
  w.right('Amount', COLS.amount, w.y, BOLD);
  w.rule(w.y + 13);
  w.y += 18;
}

/** Draws a receipt: who paid, how much, into which account, and what it settled. */
export function renderReceipt(d: ReceiptDocument): Promise<Buffer> {
  const { doc, done } = startDocument({
    title: `Receipt ${d.number}`,
    author: d.seller.name,
    subject: `Receipt ${d.number} from ${d.buyer.name}`,
    createdAt: d.createdAt,
  });
  const w = new Writer(doc);
  const c = d.currency;
  const sellerEnd = letterhead(w, { ...d.seller, code: null }, d.seller.logo);
  const meta: [string, string][] = [
    ['Receipt number', d.number],
    ['Payment date', d.date],
  ];
  if (d.externalReference) meta.push(['Reference', d.externalReference]);
  if (d.bankAccount) meta.push(['Paid into', d.bankAccount]);
  meta.push(['Currency', c]);
  const metaEnd = metaBlock(w, 'RECEIPT', meta);
  w.y = buyerBlock(w, 'Received from', d.buyer, Math.max(sellerEnd, metaEnd) + 18) + 14;
  if (d.description) {
    w.wrapped(d.description, PAGE.margin, w.y, RIGHT - PAGE.margin, REGULAR, 10);
    w.y += w.height(d.description, RIGHT - PAGE.margin, REGULAR, 10) + 10;
  }
  w.at(`We received ${formatAmount(d.amount, c)} ${c} on ${d.date}. Thank you.`, PAGE.margin, w.y, REGULAR, 10);
  w.y += 24;

  let allocated = 0n;
  if (d.allocations.length > 0) {
    w.at('Allocated to', PAGE.margin, w.y, BOLD, 10);
    w.y += 16;
    allocationHeader(w);
    for (const a of d.allocations) {
      if (w.ensure(16)) allocationHeader(w);
      w.at(DOCUMENT_NAMES[a.type] ?? a.type, COLS.document, w.y, REGULAR, 9, COLS.number - COLS.document - 60);
      w.right(a.number, COLS.number, w.y, REGULAR, 9, 70);
      w.at(a.date, COLS.date, w.y);
      w.at(a.reference, COLS.reference, w.y, REGULAR, 9, COLS.amount - COLS.reference - 80);
      w.right(formatAmount(a.amount, c), COLS.amount, w.y, REGULAR, 9, 75);
      allocated += a.amount;
      w.y += 14;
    }
    w.rule(w.y);
    w.y += 10;
  }
  w.ensure(50);
  const row = (label: string, value: string, font = REGULAR, size = 9) => {
    w.at(label, META.label, w.y, font, size, META.labelWidth);
    w.right(value, RIGHT, w.y, font, size, RIGHT - META.label - META.labelWidth - 4);
    w.y += size + 5;
  };
  row('Amount received', formatAmount(d.amount, c), BOLD, 11);
  row('Allocated', formatAmount(allocated, c));
  row('Unallocated', formatAmount(d.amount - allocated, c));
  footers(doc, `${d.seller.name} - Receipt ${d.number}`, d.seller.footer);
  doc.end();
  return done;
}
