import type { Queryable } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { DomainError, type ErrorCode } from '../../domain/errors.ts';
import {
  type Item,
  type JournalLine,
  type PostingWarning,
  SIDE_OF,
  type TransactionType,
  referenceKey,
} from '../../domain/documents.ts';
import { isStorable } from '../../domain/money.ts';
import type { DeferralPlan } from '../../domain/deferrals.ts';
import type { Analysis } from '../../domain/analysis.ts';
import { withReference } from '../reference-lookup.ts';
import { outOfRange } from './common.ts';
import { type RateBounds, type RateCheck, checkExchangeRates } from './rate-bounds.ts';

export interface NewTransaction {
  entityId: string;
  type: TransactionType;
  /** Null only for general journals (GJ), which involve no customer. */
  customerCode: string | null;
  currency: string;
  exchangeRate: string;
  /** How the rate is checked against the last known one (rate-bounds.ts); absent: unconfirmed, as `exchangeRate`. */
  rateCheck?: RateCheck;
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
  /** Item invoices only (migration 0072): the customer's order number and the delivery date. */
  orderNumber?: string | null;
  deliveryDate?: string | null;
  /** What the caller should hear about although the document posts (not stored). */
  warnings?: PostingWarning[];
  /** Schedules of deferred invoice lines, saved by the invoice's poster (deferrals.ts). */
  deferrals?: DeferralPlan[];
}

/** A document of a customer (every type but GJ). */
export type CustomerTransaction = NewTransaction & { customerCode: string };

/** A document of the same batch (by its index) or one already posted (by its id). */
export type DocRef = { ord: number } | { id: number };

export interface NewAllocation {
  customerCode: string;
  debit: DocRef;
  credit: DocRef;
  amount: bigint;
  debitBase: bigint;
  creditBase: bigint;
  date: string;
  reference: string;
  fx: DocRef | null;
  createdBy: string;
}

export interface PostedTransaction {
  id: number;
  number: number;
}

export interface WriteResult {
  documents: PostedTransaction[];
  allocationIds: number[];
}

const DUPLICATE_CODE: Partial<Record<TransactionType, ErrorCode>> = {
  SI: 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
  SR: 'RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS',
  SN: 'CREDIT_NOTE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
  SD: 'JOURNAL_EXTERNAL_REFERENCE_ALREADY_EXISTS',
  SC: 'JOURNAL_EXTERNAL_REFERENCE_ALREADY_EXISTS',
};

export function duplicateError(
  type: TransactionType,
  customerCode: string,
  reference: string,
  field: string,
): DomainError {
  return new DomainError(
    DUPLICATE_CODE[type] ?? 'JOURNAL_EXTERNAL_REFERENCE_ALREADY_EXISTS',
    `Customer ${customerCode} already has a ${type} with reference "${reference}"`,
    [{ field, message: 'already used for this customer' }],
  );
}

/**
 * Whether the customer already has a document of this type with this reference (posted with or
 * without the check), compared trimmed and case-insensitively (`referenceKey`). The partial
 * unique index on the same key is the backstop for concurrent posters.
 */
export async function referenceExists(
  db: Queryable,
  entityId: string,
  customerCode: string,
  type: TransactionType,
  reference: string,
): Promise<boolean> {
  if (referenceKey(reference) === '') return false;
  const { rows } = await db.query(
    `SELECT 1 FROM ${withReference('$1', '$4', 'customer_code, type')} d
      WHERE d.customer_code = $2 AND d.type = $3 LIMIT 1`,
    [entityId, customerCode, type, reference],
  );
  return rows.length > 0;
}

/**
 * Every amount fits its bigint column. Each input amount was checked as it was parsed, but a
 * total of many lines, or a base value at a tiny exchange rate, can still pass the limit: it is
 * the caller's input at fault (400), not a server error.
 */
export function checkStorable(docs: NewTransaction[], allocations: NewAllocation[], prefix = ''): void {
  for (const d of docs) {
    const amounts = [d.net, d.tax, d.gross, d.baseGross, ...d.items.flatMap((i) => [i.net, i.tax, i.net + i.tax])];
    amounts.push(...d.lines.flatMap((l) => [l.amount, l.baseAmount]));
    if (!amounts.every(isStorable)) throw outOfRange(prefix + (d.items.length > 0 ? 'lines' : 'amount'));
  }
  for (const a of allocations) {
    if (![a.amount, a.debitBase, a.creditBase].every(isStorable)) throw outOfRange('amount');
  }
}

function refColumns(refs: (DocRef | null)[]): [(number | null)[], (number | null)[]] {
  return [refs.map((r) => (r && 'ord' in r ? r.ord + 1 : null)), refs.map((r) => (r && 'id' in r ? r.id : null))];
}

/**
 * Posts a batch of documents and allocations in ONE statement: gapless numbers for each type,
 * the transaction rows, their items and journal lines, and allocations between them or existing
 * transactions. The balance and allocation-limit triggers run once for the whole batch, so a
 * thousand documents cost about what one does in round trips. All of it or none of it is written.
 * Every document's exchange rate is checked here against the last known rate of its currency,
 * so no posting path escapes; a caller that checked each document already passes its `rates`.
 */
export async function writeDocuments(
  db: Queryable,
  entityId: string,
  docs: NewTransaction[],
  allocations: NewAllocation[] = [],
  rates?: RateBounds,
): Promise<WriteResult> {
  if (docs.length === 0 && allocations.length === 0) return { documents: [], allocationIds: [] };
  checkStorable(docs, allocations);
  if (rates) for (const d of docs) rates.check(d);
  else await checkExchangeRates(db, entityId, docs);
  const counts = new Map<string, number>();
  for (const d of docs) counts.set(d.type, (counts.get(d.type) ?? 0) + 1);
  const items = docs.flatMap((d, ord) => d.items.map((i) => ({ ord: ord + 1, i })));
  const lines = docs.flatMap((d, ord) => d.lines.map((l, n) => ({ ord: ord + 1, n: n + 1, l })));
  const [debitOrd, debitId] = refColumns(allocations.map((a) => a.debit));
  const [creditOrd, creditId] = refColumns(allocations.map((a) => a.credit));
  const [fxOrd, fxId] = refColumns(allocations.map((a) => a.fx));
  try {
    const { rows } = await db.query<{ kind: 'doc' | 'alloc'; ord: string | null; id: string; number: string | null }>(
      `WITH seq_in AS (
         SELECT * FROM unnest($2::text[], $3::bigint[]) AS s(type, n)
       ), seq AS (
         INSERT INTO document_sequences (entity_id, type, last_number)
         SELECT $1, type, n FROM seq_in
         ON CONFLICT (entity_id, type) DO UPDATE SET last_number = document_sequences.last_number + EXCLUDED.last_number
         RETURNING type, last_number
       ), d_in AS (
         SELECT d.*, seq.last_number - seq_in.n + row_number() OVER (PARTITION BY d.type ORDER BY d.ord) AS number
           FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::date[], $10::date[], $11::text[],
                       $12::text[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::boolean[], $18::bigint[],
                       $19::text[], $20::text[])
                WITH ORDINALITY AS d(type, side, customer_code, currency, exchange_rate, transaction_date, due_date,
                                     external_reference, description, net, tax, gross, base_gross, duplicate_checked,
                                     related_transaction_id, details, created_by, ord)
           JOIN seq ON seq.type = d.type JOIN seq_in ON seq_in.type = d.type
       ), docs AS (
         INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate, transaction_date,
                                   due_date, external_reference, description, net, tax, gross, base_gross,
                                   duplicate_checked, related_transaction_id, details, created_by, order_number, delivery_date)
         SELECT $1, type, side, number, customer_code, currency, exchange_rate::numeric, transaction_date, due_date,
                external_reference, description, net, tax, gross, base_gross, duplicate_checked, related_transaction_id,
                details::jsonb, created_by, (($54::text[])[ord::int]), (($55::date[])[ord::int])
           FROM d_in ORDER BY ord
         RETURNING id, type, number
       ), ids AS (
         SELECT d_in.ord, docs.id, docs.number FROM d_in JOIN docs ON docs.type = d_in.type AND docs.number = d_in.number
       ), items AS (
         INSERT INTO transaction_items (transaction_id, line_no, entity_id, gl_account_code, tax_code, tax_rate,
                                        description, department_id, net, tax, analysis, item_code, quantity, unit_price,
                                        discount_rate, note)
         SELECT ids.id, i.line_no, $1, i.gl, i.tax_code, i.rate::numeric, i.descr, i.dept, i.net, i.tax, i.analysis::jsonb,
                (($56::text[])[i.n::int]), (($57::text[])[i.n::int])::numeric, (($58::text[])[i.n::int])::numeric,
                (($59::text[])[i.n::int])::numeric, (($60::text[])[i.n::int])
           FROM unnest($21::bigint[], $22::int[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[],
                       $28::bigint[], $29::bigint[], $52::text[])
                WITH ORDINALITY AS i(ord, line_no, gl, tax_code, rate, descr, dept, net, tax, analysis, n)
           JOIN ids ON ids.ord = i.ord
       ), lines AS (
         INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, department_id, tax_code,
                                    description, amount, base_amount, analysis)
         SELECT ids.id, $1, l.line_no, l.role, l.gl, l.dept, l.tax_code, l.descr, l.amount, l.base, l.analysis::jsonb
           FROM unnest($30::bigint[], $31::int[], $32::text[], $33::text[], $34::text[], $35::text[], $36::text[],
                       $37::bigint[], $38::bigint[], $53::text[])
                AS l(ord, line_no, role, gl, dept, tax_code, descr, amount, base, analysis)
           JOIN ids ON ids.ord = l.ord
       ), allocs AS (
         INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id, amount,
                                  debit_base_amount, credit_base_amount, allocation_date, reference, fx_transaction_id, created_by)
         SELECT $1, a.customer_code, coalesce(a.debit_id, dd.id), coalesce(a.credit_id, cd.id), a.amount, a.debit_base,
                a.credit_base, a.allocation_date, a.reference, coalesce(a.fx_id, fx.id), a.created_by
           FROM unnest($39::text[], $40::bigint[], $41::bigint[], $42::bigint[], $43::bigint[], $44::bigint[], $45::bigint[],
                       $46::bigint[], $47::date[], $48::text[], $49::bigint[], $50::bigint[], $51::text[])
                WITH ORDINALITY AS a(customer_code, debit_ord, debit_id, credit_ord, credit_id, amount, debit_base,
                                     credit_base, allocation_date, reference, fx_ord, fx_id, created_by, aord)
           LEFT JOIN ids dd ON dd.ord = a.debit_ord
           LEFT JOIN ids cd ON cd.ord = a.credit_ord
           LEFT JOIN ids fx ON fx.ord = a.fx_ord
          ORDER BY a.aord
         RETURNING id
       )
       SELECT 'doc' AS kind, ord, id, number FROM ids
       UNION ALL
       SELECT 'alloc', NULL, id, NULL FROM allocs`,
      [
        entityId,
        [...counts.keys()],
        [...counts.values()],
        docs.map((d) => d.type),
        docs.map((d) => SIDE_OF[d.type]),
        docs.map((d) => d.customerCode),
        docs.map((d) => d.currency),
        docs.map((d) => d.exchangeRate),
        docs.map((d) => d.transactionDate),
        docs.map((d) => d.dueDate),
        docs.map((d) => d.externalReference),
        docs.map((d) => d.description),
        docs.map((d) => d.net),
        docs.map((d) => d.tax),
        docs.map((d) => d.gross),
        docs.map((d) => d.baseGross),
        docs.map((d) => d.duplicateChecked),
        docs.map((d) => d.relatedTransactionId),
        docs.map((d) => JSON.stringify(d.details)),
        docs.map((d) => d.createdBy),
        items.map((x) => x.ord),
        items.map((x) => x.i.lineNo),
        items.map((x) => x.i.glAccountCode),
        items.map((x) => x.i.taxCode),
        items.map((x) => x.i.taxRate),
        items.map((x) => x.i.description),
        items.map((x) => x.i.departmentId),
        items.map((x) => x.i.net),
        items.map((x) => x.i.tax),
        lines.map((x) => x.ord),
        lines.map((x) => x.n),
        lines.map((x) => x.l.role),
        lines.map((x) => x.l.glAccountCode),
        lines.map((x) => x.l.departmentId),
        lines.map((x) => x.l.taxCode),
        lines.map((x) => x.l.description),
        lines.map((x) => x.l.amount),
        lines.map((x) => x.l.baseAmount),
        allocations.map((a) => a.customerCode),
        debitOrd,
        debitId,
        creditOrd,
        creditId,
        allocations.map((a) => a.amount),
        allocations.map((a) => a.debitBase),
        allocations.map((a) => a.creditBase),
        allocations.map((a) => a.date),
        allocations.map((a) => a.reference),
        fxOrd,
        fxId,
        allocations.map((a) => a.createdBy),
        // Analysis codes as given (JSON), the database fills the rest from the department (0078).
        items.map((x) => analysisText(x.i.analysis)),
        lines.map((x) => analysisText(x.l.analysis)),
        docs.map((d) => d.orderNumber ?? null),
        docs.map((d) => d.deliveryDate ?? null),
        items.map((x) => x.i.itemCode ?? null),
        items.map((x) => x.i.quantity ?? null),
        items.map((x) => x.i.unitPrice ?? null),
        items.map((x) => x.i.discountRate ?? null),
        items.map((x) => x.i.note ?? null),
      ],
    );
    const documents: PostedTransaction[] = new Array<PostedTransaction>(docs.length);
    const allocationIds: number[] = [];
    for (const r of rows) {
      if (r.kind === 'doc') documents[Number(r.ord) - 1] = { id: Number(r.id), number: Number(r.number) };
      else allocationIds.push(Number(r.id));
    }
    // Identity values are drawn in insertion order, which follows the ORDER BY above.
    allocationIds.sort((a, b) => a - b);
    return { documents, allocationIds };
  } catch (err) {
    if (isUniqueViolation(err, 'transactions_external_reference_checked') && docs.length === 1) {
      throw duplicateError(docs[0]!.type, docs[0]!.customerCode ?? '', docs[0]!.externalReference, 'externalReference');
    }
    throw err;
  }
}

function analysisText(a: Analysis | null | undefined): string | null {
  return a && Object.keys(a).length > 0 ? JSON.stringify(a) : null;
}

/** Posts one document. */
export async function insertTransaction(db: Queryable, t: NewTransaction): Promise<PostedTransaction> {
  const r = await writeDocuments(db, t.entityId, [t]);
  return r.documents[0]!;
}
