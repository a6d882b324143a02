import type { Queryable } from '../../db/database.ts';
import { ageOpenItems } from '../../domain/aging.ts';
import { documentLabel } from '../../domain/documents.ts';
import { listReportCustomers } from '../../ledger/reports/customer.ts';
import { listOpenItems } from '../../ledger/reports/open-items.ts';
import type { CanonicalCustomer } from '../../sync/canonical.ts';
import type { FoundDocument, TargetDocument, TargetFee, UnlinkedScope } from '../../sync/target.ts';
import { withReference } from '../../ledger/reference-lookup.ts';

/** A ledger customer as a canonical record under a source id of the caller's choosing. */
export async function customerRecord(
  db: Queryable,
  entityId: string,
  code: string,
  sourceId: string,
): Promise<CanonicalCustomer | null> {
  const { rows } = await db.query<{
    code: string;
    name: string;
    email: string | null;
    phone: string | null;
    address: { street?: string; postalCode?: string; city?: string; country?: string };
    vat_number: string | null;
    currency: string;
  }>(
    `SELECT code, name, email, phone, address, vat_number, currency FROM customers WHERE entity_id = $1 AND code = $2`,
    [entityId, code],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    kind: 'customer',
    sourceId,
    code: r.code,
    name: r.name,
    email: r.email,
    phone: r.phone,
    street: r.address.street ?? null,
    postalCode: r.address.postalCode ?? null,
    city: r.address.city ?? null,
    country: r.address.country ?? null,
    vatNumber: r.vat_number,
    currency: r.currency.trim(),
  };
}

const DOC_BASE = `t.id, t.type, t.number, t.customer_code, trim(t.currency) AS currency, t.transaction_date::text AS date,
  t.due_date::text AS due_date, t.gross::text AS gross, t.external_reference`;
const DOC_COLUMNS = `${DOC_BASE}, (SELECT count(*) FROM transaction_items i WHERE i.transaction_id = t.id)::text AS lines`;

interface DocRow {
  id: string;
  type: string;
  number: string;
  customer_code: string;
  currency: string;
  date: string;
  due_date: string | null;
  gross: string;
  external_reference: string;
  lines: string;
  /** With fees asked for: a receipt's fee journal (receipt_fees), null when it has none. */
  fee_id?: string | null;
  fee_number?: string | null;
  fee_reference?: string | null;
  fee_currency?: string | null;
  fee_gross?: string | null;
}

const KIND_OF: Record<string, TargetDocument['kind']> = {
  SI: 'invoice',
  SN: 'creditNote',
  SR: 'payment',
  SD: 'refund',
};

/** A receipt's fee journal as a target's fee: null when it has none. */
function feeOf(r: DocRow): TargetFee | null {
  if (!r.fee_id) return null;
  return {
    targetId: r.fee_id,
    label: documentLabel({ type: 'GJ', number: r.fee_number ?? '', externalReference: r.fee_reference ?? '' }),
    currency: r.fee_currency ?? r.currency,
    amount: BigInt(r.fee_gross ?? '0'),
  };
}

function toDocument(r: DocRow, fees = false): TargetDocument {
  return {
    targetId: r.id,
    kind: KIND_OF[r.type] ?? 'invoice',
    number: r.number,
    customerTargetId: r.customer_code,
    externalReference: r.external_reference,
    date: r.date,
    dueDate: r.due_date,
    currency: r.currency,
    gross: BigInt(r.gross),
    lines: Number(r.lines),
    // The ledger always knows a receipt's fee: the journal receipt_fees ties to it, or none.
    ...(fees && r.type === 'SR' ? { fee: feeOf(r) } : {}),
  };
}

/** A receipt's fee journal (receipt_fees, migration 0114): reversing the journal takes the row off. */
const FEE_COLUMNS = `f.fee_transaction_id::text AS fee_id, ft.number::text AS fee_number, ft.external_reference AS fee_reference,
  trim(ft.currency) AS fee_currency, ft.gross::text AS fee_gross`;
const FEE_JOIN = `LEFT JOIN receipt_fees f ON f.receipt_id = t.id AND f.entity_id = t.entity_id
  LEFT JOIN transactions ft ON ft.id = f.fee_transaction_id`;

/** Documents by id; with `fees`, each receipt's payment provider's fee (TargetDocument.fee). */
export async function documents(
  db: Queryable,
  entityId: string,
  ids: string[],
  options: { lines?: boolean; fees?: boolean } = {},
): Promise<Map<string, TargetDocument>> {
  const numeric = [...new Set(ids.filter((id) => /^\d{1,18}$/.test(id)))];
  if (numeric.length === 0) return new Map();
  const columns = options.lines === false ? `${DOC_BASE}, '0' AS lines` : DOC_COLUMNS;
  const fees = options.fees === true;
  const { rows } = await db.query<DocRow>(
    `SELECT ${columns}${fees ? `, ${FEE_COLUMNS}` : ''} FROM transactions t ${fees ? FEE_JOIN : ''}
      WHERE t.entity_id = $1 AND t.id = ANY($2::bigint[])`,
    [entityId, numeric],
  );
  return new Map(rows.map((r) => [r.id, toDocument(r, fees)]));
}

/** Invoices, credit notes, receipts and refunds dated in [from, to] of these customers, or carrying these references. */
export async function documentsInWindow(
  db: Queryable,
  entityId: string,
  scope: UnlinkedScope,
  from: string,
  to: string,
): Promise<TargetDocument[]> {
  const { rows } = await db.query<DocRow>(
    `SELECT ${DOC_COLUMNS}
       FROM transactions t
      WHERE t.entity_id = $1 AND t.type IN ('SI', 'SN', 'SR', 'SD') AND t.transaction_date BETWEEN $2::date AND $3::date
        AND (t.customer_code = ANY($4::text[]) OR (t.external_reference <> '' AND t.external_reference = ANY($5::text[])))
        AND NOT (t.id::text = ANY($6::text[]))
      ORDER BY t.transaction_date, t.id`,
    [entityId, from, to, scope.customerTargetIds, scope.references, scope.linkedTargetIds],
  );
  return rows.map((r) => toDocument(r));
}

const TYPE_OF: Record<string, string> = { invoice: 'SI', creditNote: 'SN', payment: 'SR', refund: 'SD' };

export async function findByReference(
  db: Queryable,
  entityId: string,
  kind: string,
  reference: string,
  customerCode: string | null | undefined,
): Promise<FoundDocument | null> {
  if (kind === 'customer' || kind === 'product') {
    const table = kind === 'customer' ? 'customers' : 'products';
    const { rows } = await db.query<{ code: string }>(`SELECT code FROM ${table} WHERE entity_id = $1 AND code = $2`, [
      entityId,
      reference,
    ]);
    return rows[0] ? { targetId: rows[0].code, number: rows[0].code } : null;
  }
  const type = TYPE_OF[kind];
  if (!type) return null;
  const { rows } = await db.query<{ id: string; number: string; customer_code: string }>(
    `SELECT id, number, customer_code FROM ${withReference('$1', '$3', 'id, number, customer_code, type')} d
      WHERE d.type = $2 AND ($4::text IS NULL OR d.customer_code = $4) ORDER BY id LIMIT 1`,
    [entityId, type, reference, customerCode ?? null],
  );
  const r = rows[0];
  return r ? { targetId: r.id, number: r.number, customerTargetId: r.customer_code } : null;
}

/** Of these invoices, those paid in full, with the reference of the receipt (else credit) that settled them last. */
export async function paidInvoices(db: Queryable, entityId: string, ids: string[]): Promise<Map<string, string>> {
  const numeric = ids.filter((id) => /^\d{1,18}$/.test(id));
  if (numeric.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; payment_reference: string | null }>(
    `SELECT t.id,
            (SELECT c.external_reference FROM allocations a JOIN transactions c ON c.id = a.credit_transaction_id
              WHERE a.debit_transaction_id = t.id AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)
              ORDER BY (c.type = 'SR') DESC, a.id DESC LIMIT 1) AS payment_reference
       FROM transactions t
      WHERE t.entity_id = $1 AND t.id = ANY($2::bigint[])
        AND t.gross <= (SELECT coalesce(sum(a.amount), 0) FROM allocations a
                         WHERE a.debit_transaction_id = t.id AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id))`,
    [entityId, numeric],
  );
  return new Map(rows.map((r) => [r.id, r.payment_reference ?? `TX${r.id}`]));
}

/** Of these drafts, those posted since, with the invoice they became. */
export async function postedDrafts(
  db: Queryable,
  entityId: string,
  ids: string[],
): Promise<Map<string, FoundDocument>> {
  const numeric = ids.filter((id) => /^\d{1,18}$/.test(id));
  if (numeric.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; transaction_id: string; number: string }>(
    `SELECT d.id, d.transaction_id, t.number FROM draft_invoices d JOIN transactions t ON t.id = d.transaction_id
      WHERE d.entity_id = $1 AND d.id = ANY($2::bigint[]) AND d.status = 'posted' ORDER BY d.id`,
    [entityId, numeric],
  );
  return new Map(rows.map((r) => [r.id, { targetId: r.transaction_id, number: r.number }]));
}

/** What the source is told about a draft: "D" + its number, its due date, its reference. */
export async function describeDrafts(
  db: Queryable,
  entityId: string,
  ids: string[],
): Promise<Map<string, { number: string; dueDate: string; externalReference: string }>> {
  const numeric = ids.filter((id) => /^\d{1,18}$/.test(id));
  if (numeric.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; number: string; due_date: string; external_reference: string | null }>(
    `SELECT id, number, due_date::text AS due_date, input->>'externalReference' AS external_reference
       FROM draft_invoices WHERE entity_id = $1 AND id = ANY($2::bigint[])`,
    [entityId, numeric],
  );
  return new Map(
    rows.map((r) => [
      r.id,
      { number: 'D' + r.number, dueDate: r.due_date, externalReference: r.external_reference ?? '' },
    ]),
  );
}

/** Each customer's open balance as at a date, computed as the customer statement computes it. */
export async function openBalances(
  db: Queryable,
  entityId: string,
  codes: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  const scope = new Set(codes);
  const customers = new Map((await listReportCustomers(db, entityId)).map((c) => [c.code, c]));
  const items = await listOpenItems(db, entityId, asAt);
  const byCustomer = new Map<string, typeof items>();
  for (const item of items) {
    if (!scope.has(item.customerCode)) continue;
    byCustomer.set(item.customerCode, [...(byCustomer.get(item.customerCode) ?? []), item]);
  }
  return [...scope]
    .filter((code) => customers.has(code))
    .map((code) => ({
      customerTargetId: code,
      currency: customers.get(code)!.currency,
      balance: ageOpenItems(byCustomer.get(code) ?? [], 'dueDate', asAt).balance,
    }));
}
