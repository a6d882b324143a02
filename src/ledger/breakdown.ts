import type { Queryable } from '../db/database.ts';
import { currencyExponent } from '../domain/currency.ts';
import { DomainError } from '../domain/errors.ts';
import { Dec, formatAmount } from '../domain/money.ts';
import { type AttachmentInfo, addAttachment, findBreakdown } from './attachments.ts';
import type { EntityContext } from './entities.ts';
import { vatByRate } from './pdf-layout.ts';

/** One line of the breakdown; quantity and unit price only where the line has them (item lines). */
export interface BreakdownLine {
  description: string;
  quantity: string | null;
  unitPrice: string | null;
  rate: string;
  net: bigint;
  tax: bigint;
}

export interface BreakdownDocument {
  type: 'SI' | 'SN';
  number: string;
  date: string;
  externalReference: string;
  customerCode: string;
  customerName: string;
  currency: string;
  createdAt: Date;
  lines: BreakdownLine[];
}

interface Row {
  type: string;
  number: string;
  transaction_date: string;
  external_reference: string;
  customer_code: string;
  customer_name: string | null;
  currency: string;
  created_at: string;
  /** Amounts and decimals as text: amounts beyond 2^53 keep their digits. */
  items: {
    description: string;
    quantity: string | null;
    unit_price: string | null;
    tax_rate: string;
    net: string;
    tax: string;
  }[];
}

/**
 * Reads an invoice or credit note for its breakdown, with the quantity and unit price of item lines
 * (null on lines entered as amounts).
 */
export async function loadBreakdown(
  db: Queryable,
  entity: EntityContext,
  transactionId: number,
): Promise<BreakdownDocument> {
  const { rows } = await db.query<Row>(
    `SELECT t.type, t.number::text AS number, t.transaction_date::text AS transaction_date, t.external_reference,
            t.customer_code, c.name AS customer_name, t.currency,
            to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at,
            coalesce((SELECT json_agg(json_build_object('description', i.description, 'quantity', i.quantity::text,
                                                        'unit_price', i.unit_price::text, 'tax_rate', i.tax_rate::text,
                                                        'net', i.net::text, 'tax', i.tax::text) ORDER BY i.line_no)
                        FROM transaction_items i WHERE i.transaction_id = t.id), '[]'::json) AS items
       FROM transactions t
       LEFT JOIN customers c ON c.entity_id = t.entity_id AND c.code = t.customer_code
      WHERE t.id = $1 AND t.entity_id = $2`,
    [transactionId, entity.id],
  );
  const r = rows[0];
  if (!r) throw new DomainError('NOT_FOUND', `No transaction ${transactionId} in this entity`);
  if (r.type !== 'SI' && r.type !== 'SN') {
    throw new DomainError(
      'TRANSACTION_HAS_NO_LINES',
      `Transaction ${transactionId} is a ${r.type}; only invoices (SI) and credit notes (SN) have a breakdown`,
      [{ field: 'params.id', message: `a ${r.type}, not an invoice or credit note` }],
    );
  }
  return {
    type: r.type,
    number: r.number,
    date: r.transaction_date,
    externalReference: r.external_reference,
    customerCode: r.customer_code,
    customerName: r.customer_name ?? r.customer_code,
    currency: r.currency.trim(),
    createdAt: new Date(r.created_at),
    lines: r.items.map((i) => ({
      description: i.description,
      quantity: i.quantity === null ? null : new Dec(i.quantity).toFixed(),
      unitPrice: i.unit_price === null ? null : new Dec(i.unit_price).toFixed(),
      rate: new Dec(i.tax_rate).toFixed(),
      net: BigInt(i.net),
      tax: BigInt(i.tax),
    })),
  };
}

/**
 * An amount for a cell: a number when its decimal text has at most 15 significant digits (a
 * double then holds it and Excel shows it exactly as written), else the text, never rounded.
 */
function amountCell(minor: bigint, currency: string): number | string {
  const text = formatAmount(minor, currency);
  return text.replace(/[-.]/g, '').replace(/^0+/, '').length <= 15 ? Number(text) : text;
}

/** The breakdown as an .xlsx workbook: one sheet with the lines, the totals and VAT per rate. */
export async function renderBreakdownXlsx(d: BreakdownDocument): Promise<Buffer> {
  const { default: ExcelJS } = await import('exceljs');
  const wb = new ExcelJS.Workbook();
  wb.creator = 'ledgerlink';
  wb.created = d.createdAt;
  wb.modified = d.createdAt;
  const kind = d.type === 'SI' ? 'Invoice' : 'Credit note';
  const ws = wb.addWorksheet('Breakdown');
  const decimals = currencyExponent(d.currency);
  const money = decimals > 0 ? `#,##0.${'0'.repeat(decimals)}` : '#,##0';
  const c = d.currency;
  ws.columns = [
    { key: 'line', width: 6 },
    { key: 'description', width: 44 },
    { key: 'quantity', width: 11 },
    { key: 'unitPrice', width: 13 },
    { key: 'net', width: 15 },
    { key: 'rate', width: 10 },
    { key: 'vat', width: 14 },
    { key: 'gross', width: 15 },
  ];
  ws.addRow([`${kind} ${d.number} - breakdown`]).font = { bold: true, size: 13 };
  ws.addRow(['Customer', `${d.customerName} (${d.customerCode})`]);
  ws.addRow(['Date', d.date]);
  if (d.externalReference) ws.addRow(['Reference', d.externalReference]);
  ws.addRow(['Currency', c]);
  ws.addRow([]);
  const header = ws.addRow(['Line', 'Description', 'Quantity', 'Unit price', 'Net', 'VAT rate', 'VAT', 'Gross']);
  header.font = { bold: true };
  let net = 0n;
  let tax = 0n;
  d.lines.forEach((l, i) => {
    const row = ws.addRow([
      i + 1,
      l.description,
      l.quantity === null ? null : Number(l.quantity),
      l.unitPrice === null ? null : Number(l.unitPrice),
      amountCell(l.net, c),
      `${new Dec(l.rate).mul(100).toFixed()}%`,
      amountCell(l.tax, c),
      amountCell(l.net + l.tax, c),
    ]);
    for (const col of [5, 7, 8]) row.getCell(col).numFmt = money;
    net += l.net;
    tax += l.tax;
  });
  const total = ws.addRow([
    '',
    'Total',
    null,
    null,
    amountCell(net, c),
    null,
    amountCell(tax, c),
    amountCell(net + tax, c),
  ]);
  total.font = { bold: true };
  for (const col of [5, 7, 8]) total.getCell(col).numFmt = money;
  ws.addRow([]);
  ws.addRow(['', 'VAT per rate', null, null, 'Net', 'VAT rate', 'VAT']).font = { bold: true };
  for (const g of vatByRate(d.lines)) {
    const row = ws.addRow([
      '',
      '',
      null,
      null,
      amountCell(g.net, c),
      `${new Dec(g.rate).mul(100).toFixed()}%`,
      amountCell(g.tax, c),
    ]);
    for (const col of [5, 7]) row.getCell(col).numFmt = money;
  }
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/**
 * Generates the invoice's breakdown and attaches it, once: asked again, it answers the attachment
 * made the first time (`created: false`). The transaction row is locked so two requests at once
 * make one file.
 */
export async function attachBreakdown(
  db: Queryable,
  entity: EntityContext,
  transactionId: number,
  actor: string,
): Promise<{ attachment: AttachmentInfo; created: boolean }> {
  const doc = await loadBreakdown(db, entity, transactionId);
  await db.query(`SELECT id FROM transactions WHERE id = $1 AND entity_id = $2 FOR UPDATE`, [transactionId, entity.id]);
  const existing = await findBreakdown(db, entity.id, transactionId);
  if (existing) return { attachment: existing, created: false };
  const bytes = await renderBreakdownXlsx(doc);
  const name = `${doc.type === 'SI' ? 'invoice' : 'credit-note'}-${doc.number}-breakdown.xlsx`;
  const attachment = await addAttachment(db, entity.id, { transactionId }, { name, bytes, kind: 'breakdown' }, actor);
  return { attachment, created: true };
}
