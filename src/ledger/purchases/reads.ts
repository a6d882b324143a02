import type { Queryable, SqlParam } from '../../db/database.ts';
import { DomainError } from '../../domain/errors.ts';
import { Dec, formatAmount } from '../../domain/money.ts';

export type LinkKind = 'back_to_back' | 'intercompany';

/**
 * Records that a sales invoice and a purchase invoice are the two halves of one deal. Written in
 * the same database transaction as both; the table refuses updates and deletes.
 */
export async function linkDocuments(
  db: Queryable,
  link: {
    kind: LinkKind;
    salesTransactionId: number;
    salesEntityId: string;
    purchaseTransactionId: number;
    purchaseEntityId: string;
    createdBy: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO transaction_links (kind, sales_transaction_id, purchase_transaction_id, sales_entity_id,
                                    purchase_entity_id, created_by)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [
      link.kind,
      link.salesTransactionId,
      link.purchaseTransactionId,
      link.salesEntityId,
      link.purchaseEntityId,
      link.createdBy,
    ],
  );
}

export interface LinkedDocument {
  kind: LinkKind;
  transactionId: number;
  /** The entity the other half lives in (this one for back-to-back). */
  entityCode: string;
}

/** The other half of a linked document, or null. Only its id and its entity's code are told. */
export async function linkedDocument(
  db: Queryable,
  side: 'sales' | 'purchase',
  transactionId: number,
): Promise<LinkedDocument | null> {
  const [mine, other, otherEntity] =
    side === 'sales'
      ? ['sales_transaction_id', 'purchase_transaction_id', 'purchase_entity_id']
      : ['purchase_transaction_id', 'sales_transaction_id', 'sales_entity_id'];
  const { rows } = await db.query<{ kind: LinkKind; id: string; code: string }>(
    `SELECT l.kind, l.${other}::text AS id, e.code
       FROM transaction_links l JOIN entities e ON e.id = l.${otherEntity}
      WHERE l.${mine} = $1`,
    [transactionId],
  );
  const r = rows[0];
  return r ? { kind: r.kind, transactionId: Number(r.id), entityCode: r.code } : null;
}

interface PurchaseRow {
  id: string;
  number: string;
  supplier_code: string;
  transaction_date: string;
  due_date: string;
  external_reference: string;
  description: string;
  currency: string;
  exchange_rate: string;
  net: string;
  tax: string;
  gross: string;
  created_at: Date | string;
}

const PURCHASE_COLUMNS = `t.id::text AS id, t.number::text AS number, t.supplier_code, t.transaction_date::text AS transaction_date,
  t.due_date::text AS due_date, t.external_reference, t.description, t.currency, t.exchange_rate::text AS exchange_rate,
  t.net::text AS net, t.tax::text AS tax, t.gross::text AS gross, t.created_at`;

function summary(r: PurchaseRow) {
  const currency = r.currency.trim();
  const fmt = (v: string) => formatAmount(BigInt(v), currency);
  return {
    transactionId: Number(r.id),
    number: Number(r.number),
    supplierCode: r.supplier_code,
    invoiceDate: r.transaction_date,
    dueDate: r.due_date,
    supplierReference: r.external_reference,
    description: r.description,
    currency,
    exchangeRate: new Dec(r.exchange_rate).toFixed(),
    netAmount: fmt(r.net),
    taxAmount: fmt(r.tax),
    grossAmount: fmt(r.gross),
  };
}

/**
 * The other half of a document of this entity (a sales or a purchase invoice of a back-to-back or
 * intercompany pair); NOT_FOUND for another entity's document or one without a link.
 */
export async function linkOf(db: Queryable, entityId: string, transactionId: number): Promise<LinkedDocument> {
  const { rows } = await db.query<{ type: string }>('SELECT type FROM transactions WHERE id = $1 AND entity_id = $2', [
    transactionId,
    entityId,
  ]);
  const type = rows[0]?.type;
  const link =
    type === 'SI' || type === 'PI'
      ? await linkedDocument(db, type === 'SI' ? 'sales' : 'purchase', transactionId)
      : null;
  if (!link) throw new DomainError('NOT_FOUND', `Transaction ${transactionId} of this entity has no linked document.`);
  return link;
}

/** One purchase invoice of this entity with its lines, journal and linked sales invoice; NOT_FOUND otherwise. */
export async function getPurchaseInvoice(db: Queryable, entityId: string, baseCurrency: string, id: number) {
  const { rows } = await db.query<PurchaseRow>(
    `SELECT ${PURCHASE_COLUMNS} FROM transactions t WHERE t.id = $1 AND t.entity_id = $2 AND t.type = 'PI'`,
    [id, entityId],
  );
  const r = rows[0];
  if (!r) throw new DomainError('NOT_FOUND', `No purchase invoice ${id} in this entity.`, { transactionId: id });
  const view = summary(r);
  const items = await db.query<{
    line_no: number;
    gl_account_code: string;
    tax_code: string;
    tax_rate: string;
    description: string;
    department_id: string | null;
    net: string;
    tax: string;
  }>(
    `SELECT line_no, gl_account_code, tax_code, tax_rate::text AS tax_rate, description, department_id,
            net::text AS net, tax::text AS tax
       FROM transaction_items WHERE transaction_id = $1 ORDER BY line_no`,
    [id],
  );
  const journal = await db.query<{
    role: string;
    gl_account_code: string;
    tax_code: string | null;
    amount: string;
    base_amount: string;
  }>(
    `SELECT role, gl_account_code, tax_code, amount::text AS amount, base_amount::text AS base_amount
       FROM journal_lines WHERE transaction_id = $1 ORDER BY line_no`,
    [id],
  );
  const fmt = (v: string) => formatAmount(BigInt(v), view.currency);
  return {
    ...view,
    lines: items.rows.map((i) => ({
      lineNo: i.line_no,
      glAccountCode: i.gl_account_code,
      taxCode: i.tax_code,
      taxRate: new Dec(i.tax_rate).toFixed(),
      description: i.description,
      departmentId: i.department_id,
      netAmount: fmt(i.net),
      taxAmount: fmt(i.tax),
    })),
    journal: journal.rows.map((j) => ({
      role: j.role,
      glAccountCode: j.gl_account_code,
      taxCode: j.tax_code,
      amount: fmt(j.amount),
      baseAmount: formatAmount(BigInt(j.base_amount), baseCurrency),
    })),
    linked: await linkedDocument(db, 'purchase', id),
  };
}

export interface PurchaseFilter {
  supplierCode?: string | undefined;
  fromDate?: string | undefined;
  toDate?: string | undefined;
  page: number;
  pageSize: number;
}

/** A page of the entity's purchase invoices, by id. */
export async function listPurchaseInvoices(db: Queryable, entityId: string, f: PurchaseFilter) {
  const params: SqlParam[] = [entityId];
  const where = [`t.entity_id = $1`, `t.type = 'PI'`];
  const add = (condition: string, value: SqlParam) => {
    params.push(value);
    where.push(condition.replace('?', `$${params.length}`));
  };
  if (f.supplierCode !== undefined) add('t.supplier_code = ?', f.supplierCode);
  if (f.fromDate !== undefined) add('t.transaction_date >= ?::date', f.fromDate);
  if (f.toDate !== undefined) add('t.transaction_date <= ?::date', f.toDate);
  const whereSql = where.join(' AND ');
  const count = await db.query<{ total: string }>(
    `SELECT count(*) AS total FROM transactions t WHERE ${whereSql}`,
    params,
  );
  const { rows } = await db.query<PurchaseRow>(
    `SELECT ${PURCHASE_COLUMNS} FROM transactions t WHERE ${whereSql}
      ORDER BY t.id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, f.pageSize, (f.page - 1) * f.pageSize],
  );
  return {
    items: rows.map(summary),
    page: f.page,
    pageSize: f.pageSize,
    total: Number(count.rows[0]?.total ?? '0'),
  };
}
