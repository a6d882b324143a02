import type { Queryable } from '../../db/database.ts';
import { type AllocationStatus, type Side, allocationStatus } from '../../domain/aging.ts';
import { DomainError } from '../../domain/errors.ts';
import { Dec, formatAmount } from '../../domain/money.ts';
import type { Analysis } from '../../domain/analysis.ts';

export interface TransactionItemView {
  lineNo: number;
  glAccountCode: string;
  taxCode: string;
  taxRate: string;
  description: string;
  departmentId: string | null;
  net: string;
  tax: string;
  gross: string;
  /** The analysis codes stored on the line, by dimension ({} when none). */
  analysis: Analysis;
  /** Item lines only (item invoices and credit notes): what the net was computed from. */
  itemCode?: string | null;
  quantity?: string;
  unitPrice?: string;
  discountRate?: string | null;
  note?: string | null;
}

/** A row of a document's VAT breakdown: as stored for item documents, else summed from its lines. */
export interface TaxBreakdownView {
  taxCode: string;
  taxRate: string;
  net: string;
  tax: string;
}

export interface JournalLineView {
  lineNo: number;
  role: string;
  glAccountCode: string;
  departmentId: string | null;
  taxCode: string | null;
  description: string;
  debit: string;
  credit: string;
  baseDebit: string;
  baseCredit: string;
  analysis: Analysis;
}

export interface AllocationView {
  allocationId: number;
  /** The document on the other side of the allocation. */
  transactionId: number;
  type: string;
  number: number;
  externalReference: string;
  amount: string;
  date: string;
  reference: string;
  active: boolean;
  reversalDate: string | null;
}

export interface TransactionView {
  transactionId: number;
  type: string;
  side: Side;
  number: number;
  /** Null only for general journals (GJ), which involve no customer. */
  customerCode: string | null;
  currency: string;
  exchangeRate: string;
  transactionDate: string;
  dueDate: string | null;
  externalReference: string;
  description: string;
  net: string;
  tax: string;
  gross: string;
  baseGross: string;
  outstanding: string;
  status: AllocationStatus;
  relatedTransactionId: number | null;
  disputed: boolean;
  disputeReason: string | null;
  details: unknown;
  createdAt: string;
  orderNumber: string | null;
  deliveryDate: string | null;
  vatBreakdown: TaxBreakdownView[];
  items: TransactionItemView[];
  lines: JournalLineView[];
  allocations: AllocationView[];
}

// Child rows arrive through json_agg with every int8 cast to text, so no amount is ever a JSON number.
interface ItemJson {
  line_no: number;
  gl_account_code: string;
  tax_code: string;
  tax_rate: string;
  description: string;
  department_id: string | null;
  net: string;
  tax: string;
  analysis: Analysis | null;
  item_code: string | null;
  quantity: string | null;
  unit_price: string | null;
  discount_rate: string | null;
  note: string | null;
}

interface BreakdownJson {
  tax_code: string;
  tax_rate: string;
  net: string;
  tax: string;
}

interface LineJson {
  line_no: number;
  role: string;
  gl_account_code: string;
  department_id: string | null;
  tax_code: string | null;
  description: string;
  amount: string;
  base_amount: string;
  analysis: Analysis | null;
}

interface AllocationJson {
  id: string;
  other_id: string;
  other_type: string;
  other_number: string;
  other_external_reference: string;
  amount: string;
  allocation_date: string;
  reference: string;
  reversal_date: string | null;
}

interface TransactionRow {
  id: string;
  type: string;
  side: Side;
  number: string;
  customer_code: string | null;
  currency: string;
  exchange_rate: string;
  transaction_date: string;
  due_date: string | null;
  external_reference: string;
  description: string;
  net: string;
  tax: string;
  gross: string;
  base_gross: string;
  related_transaction_id: string | null;
  disputed: boolean;
  dispute_reason: string | null;
  details: unknown;
  created_at: Date | string;
  order_number: string | null;
  delivery_date: string | null;
  breakdown: BreakdownJson[];
  items: ItemJson[];
  lines: LineJson[];
  allocations: AllocationJson[];
}

const TRANSACTION_SQL = `
  SELECT t.id, t.type, t.side, t.number, t.customer_code, t.currency, t.exchange_rate, t.transaction_date,
         t.due_date, t.external_reference, t.description, t.net, t.tax, t.gross, t.base_gross,
         t.related_transaction_id, t.disputed, t.dispute_reason, t.details, t.created_at,
         t.order_number, t.delivery_date::text AS delivery_date,
         COALESCE((
           SELECT json_agg(json_build_object('tax_code', b.tax_code, 'tax_rate', b.tax_rate::text, 'net', b.net::text,
                                             'tax', b.tax::text) ORDER BY b.tax_code, b.tax_rate)
             FROM transaction_tax_breakdown b WHERE b.transaction_id = t.id), (
           SELECT json_agg(json_build_object('tax_code', s.tax_code, 'tax_rate', s.tax_rate::text, 'net', s.net::text,
                                             'tax', s.tax::text) ORDER BY s.tax_code, s.tax_rate)
             FROM (SELECT tax_code, tax_rate, sum(net) AS net, sum(tax) AS tax FROM transaction_items
                    WHERE transaction_id = t.id GROUP BY tax_code, tax_rate) s), '[]') AS breakdown,
         COALESCE((
           SELECT json_agg(json_build_object(
                    'line_no', i.line_no, 'gl_account_code', i.gl_account_code, 'tax_code', i.tax_code,
                    'tax_rate', i.tax_rate::text, 'description', i.description, 'department_id', i.department_id,
                    'net', i.net::text, 'tax', i.tax::text, 'analysis', i.analysis,
                    'item_code', i.item_code, 'quantity', i.quantity::text, 'unit_price', i.unit_price::text,
                    'discount_rate', i.discount_rate::text, 'note', i.note)
                    ORDER BY i.line_no)
             FROM transaction_items i WHERE i.transaction_id = t.id), '[]') AS items,
         COALESCE((
           SELECT json_agg(json_build_object(
                    'line_no', j.line_no, 'role', j.role, 'gl_account_code', j.gl_account_code,
                    'department_id', j.department_id, 'tax_code', j.tax_code, 'description', j.description,
                    'amount', j.amount::text, 'base_amount', j.base_amount::text, 'analysis', j.analysis)
                    ORDER BY j.line_no)
             FROM journal_lines j WHERE j.transaction_id = t.id), '[]') AS lines,
         COALESCE((
           SELECT json_agg(json_build_object(
                    'id', a.id::text, 'other_id', o.id::text, 'other_type', o.type, 'other_number', o.number::text,
                    'other_external_reference', o.external_reference, 'amount', a.amount::text,
                    'allocation_date', a.allocation_date, 'reference', a.reference,
                    'reversal_date', r.reversal_date) ORDER BY a.id)
             FROM allocations a
             JOIN transactions o
               ON o.id = CASE WHEN a.debit_transaction_id = t.id THEN a.credit_transaction_id
                              ELSE a.debit_transaction_id END
             LEFT JOIN allocation_reversals r ON r.allocation_id = a.id
            WHERE a.debit_transaction_id = t.id OR a.credit_transaction_id = t.id), '[]') AS allocations
    FROM transactions t
   WHERE t.id = $1 AND t.entity_id = $2`;

/** A numeric column as the shortest exact decimal ("1.0000000000" → "1"). */
function plainDecimal(text: string): string {
  return new Dec(text).toFixed();
}

function isoTimestamp(v: Date | string): string {
  return (v instanceof Date ? v : new Date(v)).toISOString();
}

/**
 * One posted document with its lines as entered, its journal and every allocation it took part
 * in (reversed ones included, flagged). Another entity's transaction is NOT_FOUND. One query.
 */
export async function getTransaction(
  db: Queryable,
  entityId: string,
  baseCurrency: string,
  transactionId: number,
): Promise<TransactionView> {
  const { rows } = await db.query<TransactionRow>(TRANSACTION_SQL, [transactionId, entityId]);
  const t = rows[0];
  if (!t) throw new DomainError('NOT_FOUND', `No transaction ${transactionId} in this entity.`, { transactionId });
  const currency = t.currency.trim();
  const fmt = (v: bigint) => formatAmount(v, currency);
  const fmtBase = (v: bigint) => formatAmount(v, baseCurrency);
  const gross = BigInt(t.gross);
  let allocated = 0n;
  const allocations = t.allocations.map((a) => {
    const amount = BigInt(a.amount);
    const active = a.reversal_date === null;
    if (active) allocated += amount;
    return {
      allocationId: Number(a.id),
      transactionId: Number(a.other_id),
      type: a.other_type,
      number: Number(a.other_number),
      externalReference: a.other_external_reference,
      amount: fmt(amount),
      date: a.allocation_date,
      reference: a.reference,
      active,
      reversalDate: a.reversal_date,
    };
  });
  const outstanding = t.side === 'none' ? 0n : gross - allocated;
  return {
    transactionId: Number(t.id),
    type: t.type,
    side: t.side,
    number: Number(t.number),
    customerCode: t.customer_code,
    currency,
    exchangeRate: plainDecimal(t.exchange_rate),
    transactionDate: t.transaction_date,
    dueDate: t.due_date,
    externalReference: t.external_reference,
    description: t.description,
    net: fmt(BigInt(t.net)),
    tax: fmt(BigInt(t.tax)),
    gross: fmt(gross),
    baseGross: fmtBase(BigInt(t.base_gross)),
    outstanding: fmt(outstanding),
    status: allocationStatus(t.side, gross, outstanding),
    relatedTransactionId: t.related_transaction_id === null ? null : Number(t.related_transaction_id),
    disputed: t.disputed,
    disputeReason: t.dispute_reason,
    details: t.details,
    createdAt: isoTimestamp(t.created_at),
    orderNumber: t.order_number,
    deliveryDate: t.delivery_date,
    vatBreakdown: t.breakdown.map((b) => ({
      taxCode: b.tax_code,
      taxRate: plainDecimal(b.tax_rate),
      net: fmt(BigInt(b.net)),
      tax: fmt(BigInt(b.tax)),
    })),
    items: t.items.map((i) => {
      const net = BigInt(i.net);
      const tax = BigInt(i.tax);
      return {
        lineNo: i.line_no,
        glAccountCode: i.gl_account_code,
        taxCode: i.tax_code,
        taxRate: plainDecimal(i.tax_rate),
        description: i.description,
        departmentId: i.department_id,
        net: fmt(net),
        tax: fmt(tax),
        gross: fmt(net + tax),
        analysis: i.analysis ?? {},
        // Only item lines say what their net was computed from; lines entered as amounts are shown as before.
        ...(i.quantity === null
          ? {}
          : {
              itemCode: i.item_code,
              quantity: plainDecimal(i.quantity),
              unitPrice: plainDecimal(i.unit_price!),
              discountRate: i.discount_rate === null ? null : plainDecimal(i.discount_rate),
              note: i.note,
            }),
      };
    }),
    lines: t.lines.map((l) => {
      const amount = BigInt(l.amount);
      const base = BigInt(l.base_amount);
      return {
        lineNo: l.line_no,
        role: l.role,
        glAccountCode: l.gl_account_code,
        departmentId: l.department_id,
        taxCode: l.tax_code,
        description: l.description,
        debit: fmt(amount > 0n ? amount : 0n),
        credit: fmt(amount < 0n ? -amount : 0n),
        baseDebit: fmtBase(base > 0n ? base : 0n),
        baseCredit: fmtBase(base < 0n ? -base : 0n),
        analysis: l.analysis ?? {},
      };
    }),
    allocations,
  };
}

/** A type of transaction the ledger knows, with its name (`SI`, "Sales invoice"). */
export interface TransactionTypeInfo {
  type: string;
  name: string;
}

/** Every transaction type of the ledger (the `transaction_types` rows), by code. */
export async function listTransactionTypes(db: Queryable): Promise<TransactionTypeInfo[]> {
  const { rows } = await db.query<{ type: string; description: string }>(
    'SELECT type, description FROM transaction_types ORDER BY type',
  );
  return rows.map((r) => ({ type: r.type, name: r.description.charAt(0).toUpperCase() + r.description.slice(1) }));
}
