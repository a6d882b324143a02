import type { Database, Queryable, SqlParam } from '../src/db/database.ts';
import { INVOICE_DESCRIPTION, RECEIPT_DESCRIPTION, type QuerySpec } from './workload.ts';

/**
 * The raw-SQL baseline, row by row: the rows ledgerlink writes for a batch of post-pay-allocate queries,
 * written with plain parameterised INSERTs through the same Database port, one transaction per
 * batch. No validation, no customer lock, no duplicate check, no savepoints, no audit row; the
 * schema's triggers (journal balance, allocation limit, immutability) and foreign keys still run.
 *
 * Statements: 2 per batch (one sequence upsert per document type reserves the batch's numbers)
 * plus 6 per query: invoice row, its items, its journal, receipt row, its journal, allocation.
 * A journal must be one statement: the balance trigger checks each statement's journals.
 */

const INSERT_TRANSACTION = `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate,
   transaction_date, due_date, external_reference, description, net, tax, gross, base_gross, duplicate_checked, details,
   created_by)
 VALUES ($1, $2, $3, $4, $5, 'EUR', 1, $6, $7, $8, $9, $10, $11, $12, $12, true, $13, $14) RETURNING id`;

const INSERT_ALLOCATION = `INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id,
   amount, debit_base_amount, credit_base_amount, allocation_date, reference, created_by)
 VALUES ($1, $2, $3, $4, $5, $5, $5, $6, $7, $8)`;

export const RESERVE = `INSERT INTO document_sequences (entity_id, type, last_number) VALUES ($1, $2, $3)
 ON CONFLICT (entity_id, type) DO UPDATE SET last_number = document_sequences.last_number + EXCLUDED.last_number
 RETURNING last_number`;

const sqlCache = new Map<string, string>();

/** `INSERT INTO table (cols) VALUES (...), (...)` for `rows` rows of `cols.length` parameters. */
function multiRowInsert(table: string, cols: string[], rows: number): string {
  const key = `${table}/${rows}`;
  let sql = sqlCache.get(key);
  if (!sql) {
    const values = Array.from(
      { length: rows },
      (_, r) => `(${cols.map((_c, c) => `$${r * cols.length + c + 1}`).join(', ')})`,
    ).join(', ');
    sql = `INSERT INTO ${table} (${cols.join(', ')}) VALUES ${values}`;
    sqlCache.set(key, sql);
  }
  return sql;
}

const ITEM_COLS = [
  'transaction_id',
  'line_no',
  'entity_id',
  'gl_account_code',
  'tax_code',
  'tax_rate',
  'description',
  'net',
  'tax',
];
const LINE_COLS = [
  'transaction_id',
  'entity_id',
  'line_no',
  'role',
  'gl_account_code',
  'tax_code',
  'description',
  'amount',
  'base_amount',
];

export type Line = [role: string, gl: string, taxCode: string | null, description: string, amount: bigint];

async function insertJournal(tx: Queryable, entityId: string, transactionId: string, lines: Line[]): Promise<void> {
  const params: SqlParam[] = [];
  lines.forEach(([role, gl, taxCode, description, amount], n) => {
    // The entity's base currency is the document's (EUR, rate 1): base amounts equal amounts.
    params.push(transactionId, entityId, n + 1, role, gl, taxCode, description, amount, amount);
  });
  await tx.query(multiRowInsert('journal_lines', LINE_COLS, lines.length), params);
}

/** Journal of an invoice as ledgerlink builds it: control, a net line per item, a tax line per taxed code. */
export function invoiceJournal(q: QuerySpec): Line[] {
  const lines: Line[] = [['control', '1100', null, INVOICE_DESCRIPTION, q.gross]];
  for (const i of q.items) if (i.net !== 0n) lines.push(['net', '4000', i.taxCode, i.description, -i.net]);
  const taxByCode = new Map<string, bigint>();
  for (const i of q.items) taxByCode.set(i.taxCode, (taxByCode.get(i.taxCode) ?? 0n) + i.tax);
  for (const [code, tax] of taxByCode) if (tax !== 0n) lines.push(['tax', '2200', code, `Tax ${code}`, -tax]);
  return lines;
}

export const RECEIPT_DETAILS = JSON.stringify({ bankAccountCode: 'BANK', bankCurrency: 'EUR', bankExchangeRate: '1' });

/** Writes one batch in one transaction. */
export async function rowByRowBatch(db: Database, entityId: string, actor: string, batch: QuerySpec[]): Promise<void> {
  await db.transaction(async (tx) => {
    const reserve = async (type: 'SI' | 'SR') => {
      const { rows } = await tx.query<{ last_number: string }>(RESERVE, [entityId, type, batch.length]);
      return Number(rows[0]!.last_number) - batch.length;
    };
    const siBefore = await reserve('SI');
    const srBefore = await reserve('SR');
    for (const [k, q] of batch.entries()) {
      const inv = await tx.query<{ id: string }>(INSERT_TRANSACTION, [
        entityId,
        'SI',
        'debit',
        siBefore + k + 1,
        q.customer,
        q.invoiceDate,
        q.dueDate,
        q.invoiceReference,
        INVOICE_DESCRIPTION,
        q.net,
        q.tax,
        q.gross,
        '{}',
        actor,
      ]);
      const invoiceId = inv.rows[0]!.id;
      const itemParams: SqlParam[] = [];
      q.items.forEach((i, n) => {
        itemParams.push(invoiceId, n + 1, entityId, '4000', i.taxCode, i.taxRate, i.description, i.net, i.tax);
      });
      await tx.query(multiRowInsert('transaction_items', ITEM_COLS, q.items.length), itemParams);
      await insertJournal(tx, entityId, invoiceId, invoiceJournal(q));

      const rec = await tx.query<{ id: string }>(INSERT_TRANSACTION, [
        entityId,
        'SR',
        'credit',
        srBefore + k + 1,
        q.customer,
        q.paymentDate,
        null,
        q.receiptReference,
        RECEIPT_DESCRIPTION,
        q.gross,
        0n,
        q.gross,
        RECEIPT_DETAILS,
        actor,
      ]);
      const receiptId = rec.rows[0]!.id;
      await insertJournal(tx, entityId, receiptId, [
        ['control', '1100', null, RECEIPT_DESCRIPTION, -q.gross],
        ['bank', '1200', null, RECEIPT_DESCRIPTION, q.gross],
      ]);
      await tx.query(INSERT_ALLOCATION, [
        entityId,
        q.customer,
        invoiceId,
        receiptId,
        q.gross,
        q.paymentDate,
        q.allocationReference,
        actor,
      ]);
    }
  });
}
