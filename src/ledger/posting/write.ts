import type { Queryable } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { DomainError, type ErrorCode } from '../../domain/errors.ts';
import { type Item, type JournalLine, SIDE_OF, type TransactionType } from '../../domain/documents.ts';

export interface NewTransaction {
  entityId: string;
  type: TransactionType;
  customerCode: string;
  currency: string;
  exchangeRate: string;
  transactionDate: string;
  dueDate: string | null;
  externalReference: string;
  description: string;
  net: bigint;
  tax: bigint;
  gross: bigint;
  baseGross: bigint;
  duplicateChecked: boolean;
  relatedTransactionId: number | null;
  details: Record<string, unknown>;
  createdBy: string;
  items: Item[];
  lines: JournalLine[];
}

export interface PostedTransaction {
  id: number;
  number: number;
}

const DUPLICATE_CODE: Partial<Record<TransactionType, ErrorCode>> = {
  SI: 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
  SR: 'RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS',
  SN: 'CREDIT_NOTE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
  SD: 'JOURNAL_EXTERNAL_REFERENCE_ALREADY_EXISTS',
  SC: 'JOURNAL_EXTERNAL_REFERENCE_ALREADY_EXISTS',
};

export function duplicateError(type: TransactionType, customerCode: string, reference: string, field: string): DomainError {
  return new DomainError(
    DUPLICATE_CODE[type] ?? 'JOURNAL_EXTERNAL_REFERENCE_ALREADY_EXISTS',
    `Customer ${customerCode} already has a ${type} with reference "${reference}"`,
    [{ field, message: 'already used for this customer' }],
  );
}

/**
 * Whether the customer already has a document of this type with this reference (posted with or
 * without the check). The partial unique index is the backstop for concurrent posters.
 */
export async function referenceExists(
  db: Queryable,
  entityId: string,
  customerCode: string,
  type: TransactionType,
  reference: string,
): Promise<boolean> {
  if (reference === '') return false;
  const { rows } = await db.query(
    `SELECT 1 FROM transactions WHERE entity_id = $1 AND customer_code = $2 AND type = $3 AND external_reference = $4 LIMIT 1`,
    [entityId, customerCode, type, reference],
  );
  return rows.length > 0;
}

/**
 * Posts one document in one statement: the next gapless number, the transaction row, its items
 * and its journal lines. Writing all lines in one statement is what the balance trigger checks.
 */
export async function insertTransaction(db: Queryable, t: NewTransaction): Promise<PostedTransaction> {
  try {
    const { rows } = await db.query<{ id: string; number: string }>(
      `WITH seq AS (
         INSERT INTO document_sequences (entity_id, type, last_number) VALUES ($1, $2, 1)
         ON CONFLICT (entity_id, type) DO UPDATE SET last_number = document_sequences.last_number + 1
         RETURNING last_number
       ), doc AS (
         INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate, transaction_date,
                                   due_date, external_reference, description, net, tax, gross, base_gross,
                                   duplicate_checked, related_transaction_id, details, created_by)
         SELECT $1, $2, $3, seq.last_number, $4, $5, $6::numeric, $7::date, $8::date, $9, $10, $11::bigint, $12::bigint,
                $13::bigint, $14::bigint, $15, $16::bigint, $17::jsonb, $18
           FROM seq
         RETURNING id, number
       ), items AS (
         INSERT INTO transaction_items (transaction_id, line_no, entity_id, gl_account_code, tax_code, tax_rate,
                                        description, department_id, net, tax)
         SELECT doc.id, i.line_no, $1, i.gl, i.tax_code, i.rate::numeric, i.descr, i.dept, i.net::bigint, i.tax::bigint
           FROM doc, unnest($19::int[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::text[], $26::text[])
                AS i(line_no, gl, tax_code, rate, descr, dept, net, tax)
       ), lines AS (
         INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, department_id, tax_code,
                                    description, amount, base_amount)
         SELECT doc.id, $1, l.line_no, l.role, l.gl, l.dept, l.tax_code, l.descr, l.amount::bigint, l.base::bigint
           FROM doc, unnest($27::int[], $28::text[], $29::text[], $30::text[], $31::text[], $32::text[], $33::text[], $34::text[])
                AS l(line_no, role, gl, dept, tax_code, descr, amount, base)
       )
       SELECT id, number FROM doc`,
      [
        t.entityId,
        t.type,
        SIDE_OF[t.type],
        t.customerCode,
        t.currency,
        t.exchangeRate,
        t.transactionDate,
        t.dueDate,
        t.externalReference,
        t.description,
        t.net,
        t.tax,
        t.gross,
        t.baseGross,
        t.duplicateChecked,
        t.relatedTransactionId,
        JSON.stringify(t.details),
        t.createdBy,
        t.items.map((i) => i.lineNo),
        t.items.map((i) => i.glAccountCode),
        t.items.map((i) => i.taxCode),
        t.items.map((i) => i.taxRate),
        t.items.map((i) => i.description),
        t.items.map((i) => i.departmentId),
        t.items.map((i) => i.net.toString()),
        t.items.map((i) => i.tax.toString()),
        t.lines.map((_, n) => n + 1),
        t.lines.map((l) => l.role),
        t.lines.map((l) => l.glAccountCode),
        t.lines.map((l) => l.departmentId),
        t.lines.map((l) => l.taxCode),
        t.lines.map((l) => l.description),
        t.lines.map((l) => l.amount.toString()),
        t.lines.map((l) => l.baseAmount.toString()),
      ],
    );
    const row = rows[0]!;
    return { id: Number(row.id), number: Number(row.number) };
  } catch (err) {
    if (isUniqueViolation(err, 'transactions_external_reference_checked')) {
      throw duplicateError(t.type, t.customerCode, t.externalReference, 'externalReference');
    }
    throw err;
  }
}
