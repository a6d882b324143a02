import type { Database } from '../src/db/database.ts';
import { type Line, RECEIPT_DETAILS, RESERVE, invoiceJournal } from './baseline.ts';
import { INVOICE_DESCRIPTION, RECEIPT_DESCRIPTION, type QuerySpec } from './workload.ts';

/**
 * The set-based raw-SQL floor: the same rows as the row-by-row baseline, but each table's rows of
 * a whole batch go in one `INSERT … SELECT FROM unnest(…)`: 8 statements per batch of 1,000
 * queries whatever its size. No validation, locks or duplicate checks; triggers and foreign keys
 * run. Nothing written this way can report a result per query, so it is a floor, not a rival.
 */

const INSERT_TRANSACTIONS = `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate,
   transaction_date, due_date, external_reference, description, net, tax, gross, base_gross, duplicate_checked, details,
   created_by)
 SELECT $1, $2, $3, d.number, d.customer_code, 'EUR', 1, d.transaction_date, d.due_date, d.external_reference, $4,
        d.net, d.tax, d.gross, d.gross, true, $5::jsonb, $6
   FROM unnest($7::bigint[], $8::text[], $9::date[], $10::date[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[])
        AS d(number, customer_code, transaction_date, due_date, external_reference, net, tax, gross)
 RETURNING id, number`;

const INSERT_ITEMS = `INSERT INTO transaction_items (transaction_id, line_no, entity_id, gl_account_code, tax_code, tax_rate,
   description, net, tax)
 SELECT i.transaction_id, i.line_no, $1, '4000', i.tax_code, i.tax_rate, i.description, i.net, i.tax
   FROM unnest($2::bigint[], $3::int[], $4::text[], $5::numeric[], $6::text[], $7::bigint[], $8::bigint[])
        AS i(transaction_id, line_no, tax_code, tax_rate, description, net, tax)`;

const INSERT_LINES = `INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, tax_code,
   description, amount, base_amount)
 SELECT l.transaction_id, $1, l.line_no, l.role, l.gl, l.tax_code, l.description, l.amount, l.amount
   FROM unnest($2::bigint[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[])
        AS l(transaction_id, line_no, role, gl, tax_code, description, amount)`;

const INSERT_ALLOCATIONS = `INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id,
   amount, debit_base_amount, credit_base_amount, allocation_date, reference, created_by)
 SELECT $1, a.customer_code, a.debit, a.credit, a.amount, a.amount, a.amount, a.allocation_date, a.reference, $2
   FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::date[], $8::text[])
        AS a(customer_code, debit, credit, amount, allocation_date, reference)`;

type Doc = {
  number: number;
  customer: string;
  date: string;
  due: string | null;
  ref: string;
  net: bigint;
  tax: bigint;
  gross: bigint;
};

async function insertDocs(
  tx: Pick<Database, 'query'>,
  entityId: string,
  actor: string,
  kind: ['SI', 'debit', string, string] | ['SR', 'credit', string, string],
  docs: Doc[],
): Promise<Map<number, string>> {
  const [type, side, description, details] = kind;
  const { rows } = await tx.query<{ id: string; number: string }>(INSERT_TRANSACTIONS, [
    entityId,
    type,
    side,
    description,
    details,
    actor,
    docs.map((d) => d.number),
    docs.map((d) => d.customer),
    docs.map((d) => d.date),
    docs.map((d) => d.due),
    docs.map((d) => d.ref),
    docs.map((d) => d.net),
    docs.map((d) => d.tax),
    docs.map((d) => d.gross),
  ]);
  // RETURNING follows no promised order: match by number.
  return new Map(rows.map((r) => [Number(r.number), r.id]));
}

async function insertLines(tx: Pick<Database, 'query'>, entityId: string, journals: [string, Line[]][]): Promise<void> {
  const flat = journals.flatMap(([id, lines]) => lines.map((l, n) => [id, n + 1, ...l] as const));
  await tx.query(INSERT_LINES, [
    entityId,
    flat.map((l) => l[0]),
    flat.map((l) => l[1]),
    flat.map((l) => l[2]),
    flat.map((l) => l[3]),
    flat.map((l) => l[4]),
    flat.map((l) => l[5]),
    flat.map((l) => l[6]),
  ]);
}

export async function setBasedBatch(db: Database, entityId: string, actor: string, batch: QuerySpec[]): Promise<void> {
  await db.transaction(async (tx) => {
    const reserve = async (type: 'SI' | 'SR') => {
      const { rows } = await tx.query<{ last_number: string }>(RESERVE, [entityId, type, batch.length]);
      return Number(rows[0]!.last_number) - batch.length;
    };
    const siBefore = await reserve('SI');
    const srBefore = await reserve('SR');
    const invoiceIds = await insertDocs(
      tx,
      entityId,
      actor,
      ['SI', 'debit', INVOICE_DESCRIPTION, '{}'],
      batch.map((q, k) => ({
        number: siBefore + k + 1,
        customer: q.customer,
        date: q.invoiceDate,
        due: q.dueDate,
        ref: q.invoiceReference,
        net: q.net,
        tax: q.tax,
        gross: q.gross,
      })),
    );
    const invoiceId = (k: number) => invoiceIds.get(siBefore + k + 1)!;
    const items = batch.flatMap((q, k) => q.items.map((i, n) => ({ id: invoiceId(k), n: n + 1, i })));
    await tx.query(INSERT_ITEMS, [
      entityId,
      items.map((x) => x.id),
      items.map((x) => x.n),
      items.map((x) => x.i.taxCode),
      items.map((x) => x.i.taxRate),
      items.map((x) => x.i.description),
      items.map((x) => x.i.net),
      items.map((x) => x.i.tax),
    ]);
    await insertLines(
      tx,
      entityId,
      batch.map((q, k) => [invoiceId(k), invoiceJournal(q)]),
    );
    const receiptIds = await insertDocs(
      tx,
      entityId,
      actor,
      ['SR', 'credit', RECEIPT_DESCRIPTION, RECEIPT_DETAILS],
      batch.map((q, k) => ({
        number: srBefore + k + 1,
        customer: q.customer,
        date: q.paymentDate,
        due: null,
        ref: q.receiptReference,
        net: q.gross,
        tax: 0n,
        gross: q.gross,
      })),
    );
    const receiptId = (k: number) => receiptIds.get(srBefore + k + 1)!;
    await insertLines(
      tx,
      entityId,
      batch.map((q, k) => [
        receiptId(k),
        [
          ['control', '1100', null, RECEIPT_DESCRIPTION, -q.gross],
          ['bank', '1200', null, RECEIPT_DESCRIPTION, q.gross],
        ],
      ]),
    );
    await tx.query(INSERT_ALLOCATIONS, [
      entityId,
      actor,
      batch.map((q) => q.customer),
      batch.map((_, k) => invoiceId(k)),
      batch.map((_, k) => receiptId(k)),
      batch.map((q) => q.gross),
      batch.map((q) => q.paymentDate),
      batch.map((q) => q.allocationReference),
    ]);
  });
}
