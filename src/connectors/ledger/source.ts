import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { formatAmount } from '../../domain/money.ts';
import { IsoDate } from '../../domain/schemas.ts';
import type { CanonicalLine, CanonicalRecord, RecordKind } from '../../sync/canonical.ts';
import { ConnectorError, type SourceConnector, type SourceItem, type SourcePage } from '../../sync/connector.ts';
import { findEntityById } from '../../ledger/entities.ts';
import type { Pipeline } from '../../sync/pipelines.ts';
import { customerRecord } from './reads.ts';

/*
 * The embedded ledger as a source: an entity's invoices, credit notes, receipts, refunds and
 * allocations, in the order they were committed, mirrored into an accounting platform (`ledger →
 * xero`). Each document goes once: the engine maps it by its source id, and the run's cursor
 * resumes after the last page it finished.
 *
 * The order: rows carry the id of the transaction that wrote them (migration 0068). A page takes
 * only rows below the oldest transaction still running, ordered by (xid, rank, id): a document
 * before the allocations written with it, and nothing a late commit could slip in behind.
 *
 * What is not a customer document of its own is not sent: exchange differences (FX), which a
 * platform computes itself, and general journals. What has no canonical form yet (sales credit
 * journals, settlement discounts, a reversed allocation) is parked with the reason, so nothing in
 * the ledger is passed over without a trace.
 */

export const LedgerSourceConfig = z.strictObject({
  from: IsoDate.optional().meta({
    description:
      'Mirror documents dated on or after this day only (the platform holds what came before as opening balances).',
  }),
});

/** How a ledger document is named in the target: its type and number, unique in the entity. */
export const ledgerReference = (type: string, number: string): string => `${type}-${number}`;

const PAGE = 500;

/** `xid:rank:id`, after which the next page starts. */
interface Position {
  xid: string;
  rank: number;
  id: string;
}

const START: Position = { xid: '0', rank: 0, id: '0' };

function parsePosition(cursor: string | null): Position {
  const m = cursor ? /^(\d+):([012]):(\d+)$/.exec(cursor) : null;
  return m ? { xid: m[1]!, rank: Number(m[2]), id: m[3]! } : START;
}

interface ChangeRow {
  xid: string;
  rank: number;
  id: string;
}

interface TxRow {
  id: string;
  xid: string;
  type: string;
  number: string;
  customer_code: string;
  currency: string;
  exchange_rate: string;
  transaction_date: string;
  due_date: string | null;
  external_reference: string;
  description: string;
  gross: string;
  related: string | null;
  bank: boolean;
}

interface AllocationRow {
  id: string;
  xid: string;
  customer_code: string;
  amount: string;
  allocation_date: string;
  parent: string | null;
  debit_type: string;
  debit_number: string;
  debit_xid: string;
  credit_type: string;
  credit_number: string;
  credit_xid: string;
  currency: string;
  /** Allocations of the credit document written in its own transaction, and their total. */
  credit_same_xid_count: string;
  credit_gross: string;
}

/** What changed after `from`, below the horizon no running transaction can still write under. */
async function changes(db: Queryable, entityId: string, from: Position): Promise<ChangeRow[]> {
  const { rows } = await db.query<ChangeRow>(
    `WITH h AS (SELECT ll_change_horizon() AS xmin)
     SELECT xid::text AS xid, rank, id::text AS id FROM (
       SELECT t.xid, 0 AS rank, t.id FROM transactions t, h
        WHERE t.entity_id = $1 AND t.customer_code IS NOT NULL AND t.xid < h.xmin AND (t.xid, 0, t.id) > ($2::xid8, $3::int, $4::bigint)
       UNION ALL
       SELECT a.xid, 1, a.id FROM allocations a, h
        WHERE a.entity_id = $1 AND a.xid < h.xmin AND (a.xid, 1, a.id) > ($2::xid8, $3::int, $4::bigint)
       UNION ALL
       SELECT r.xid, 2, r.allocation_id FROM allocation_reversals r, h
        WHERE r.entity_id = $1 AND r.xid < h.xmin AND (r.xid, 2, r.allocation_id) > ($2::xid8, $3::int, $4::bigint)
     ) c ORDER BY xid, rank, id LIMIT ${PAGE}`,
    [entityId, from.xid, from.rank, from.id],
  );
  return rows.map((r) => ({ ...r, rank: Number(r.rank) }));
}

async function loadTransactions(db: Queryable, entityId: string, ids: string[]): Promise<Map<string, TxRow>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<TxRow>(
    `SELECT t.id::text AS id, t.xid::text AS xid, t.type, t.number::text AS number, t.customer_code, t.currency,
            t.exchange_rate::text AS exchange_rate, t.transaction_date::text AS transaction_date,
            t.due_date::text AS due_date, t.external_reference, t.description, t.gross::text AS gross,
            CASE WHEN r.id IS NULL THEN NULL ELSE r.type || '-' || r.number END AS related,
            EXISTS (SELECT 1 FROM journal_lines j WHERE j.transaction_id = t.id AND j.role = 'bank') AS bank
       FROM transactions t LEFT JOIN transactions r ON r.id = t.related_transaction_id
      WHERE t.entity_id = $1 AND t.id = ANY($2::bigint[])`,
    [entityId, ids],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

async function loadLines(db: Queryable, ids: string[]): Promise<Map<string, TxLine[]>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<TxLine & { transaction_id: string }>(
    `SELECT transaction_id::text AS transaction_id, tax_rate::text AS tax_rate, description, department_id,
            net::text AS net, tax::text AS tax
       FROM transaction_items WHERE transaction_id = ANY($1::bigint[]) ORDER BY transaction_id, line_no`,
    [ids],
  );
  const out = new Map<string, TxLine[]>();
  for (const r of rows) out.set(r.transaction_id, [...(out.get(r.transaction_id) ?? []), r]);
  return out;
}

interface TxLine {
  tax_rate: string;
  description: string;
  department_id: string | null;
  net: string;
  tax: string;
}

async function loadAllocations(db: Queryable, entityId: string, ids: string[]): Promise<Map<string, AllocationRow>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<AllocationRow>(
    `SELECT a.id::text AS id, a.xid::text AS xid, a.customer_code, a.amount::text AS amount,
            a.allocation_date::text AS allocation_date, a.parent_allocation_id::text AS parent,
            d.type AS debit_type, d.number::text AS debit_number, d.xid::text AS debit_xid,
            c.type AS credit_type, c.number::text AS credit_number, c.xid::text AS credit_xid, c.currency,
            (SELECT count(*) FROM allocations o WHERE o.credit_transaction_id = c.id AND o.xid = c.xid)::text AS credit_same_xid_count,
            c.gross::text AS credit_gross
       FROM allocations a
       JOIN transactions d ON d.id = a.debit_transaction_id
       JOIN transactions c ON c.id = a.credit_transaction_id
      WHERE a.entity_id = $1 AND a.id = ANY($2::bigint[])`,
    [entityId, ids],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/** The one allocation a receipt was posted with, for its whole amount: sent as the payment of that invoice. */
async function carriedAllocations(db: Queryable, receiptIds: string[]): Promise<Map<string, string>> {
  if (receiptIds.length === 0) return new Map();
  const { rows } = await db.query<{ receipt: string; invoice: string }>(
    `SELECT c.id::text AS receipt, d.type || '-' || d.number AS invoice
       FROM transactions c
       JOIN allocations a ON a.credit_transaction_id = c.id AND a.xid = c.xid AND a.parent_allocation_id IS NULL
       JOIN transactions d ON d.id = a.debit_transaction_id AND d.type = 'SI'
      WHERE c.id = ANY($1::bigint[]) AND a.amount = c.gross
        AND (SELECT count(*) FROM allocations o WHERE o.credit_transaction_id = c.id AND o.xid = c.xid) = 1`,
    [receiptIds],
  );
  return new Map(rows.map((r) => [r.receipt, r.invoice]));
}

/** An allocation made with its receipt, for the receipt's whole amount, that the payment itself carries. */
function isCarried(a: AllocationRow): boolean {
  return (
    a.credit_type === 'SR' &&
    a.debit_type === 'SI' &&
    a.parent === null &&
    a.xid === a.credit_xid &&
    Number(a.credit_same_xid_count) === 1 &&
    a.amount === a.credit_gross
  );
}

function description(t: TxRow): string {
  return [t.description.trim(), t.external_reference.trim() ? `ref ${t.external_reference.trim()}` : '']
    .filter(Boolean)
    .join(' · ')
    .slice(0, 500);
}

function lines(t: TxRow, items: TxLine[]): CanonicalLine[] {
  return items.map((l) => ({
    description: l.description,
    netAmount: formatAmount(BigInt(l.net), t.currency),
    vatAmount: formatAmount(BigInt(l.tax), t.currency),
    vatRate: l.tax_rate,
    departmentId: l.department_id,
  }));
}

/** A ledger row with no canonical form yet: parked with what to do, never passed over. */
function unsupported(kind: RecordKind, sourceId: string, message: string, payload: unknown): SourceItem {
  return { invalid: { kind, sourceId, reasonCode: 'SOURCE_DOCUMENT_UNSUPPORTED', message, payload } };
}

function transactionItem(
  baseCurrency: string,
  t: TxRow,
  items: Map<string, TxLine[]>,
  carried: Map<string, string>,
  refunded: Map<string, string>,
): SourceItem | null {
  const reference = ledgerReference(t.type, t.number);
  const common = {
    sourceId: reference,
    externalReference: reference,
    customerSourceId: t.customer_code,
    currency: t.currency.trim(),
    description: description(t),
  };
  const rate =
    t.currency.trim() === baseCurrency ? null : t.exchange_rate.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  const amount = formatAmount(BigInt(t.gross), t.currency);
  let record: CanonicalRecord;
  switch (t.type) {
    case 'SI':
      record = {
        ...common,
        kind: 'invoice',
        invoiceDate: t.transaction_date,
        dueDate: t.due_date,
        exchangeRate: rate,
        lines: lines(t, items.get(t.id) ?? []),
      };
      break;
    case 'SN':
      record = {
        ...common,
        kind: 'creditNote',
        date: t.transaction_date,
        exchangeRate: rate,
        invoiceExternalReference: t.related,
        lines: lines(t, items.get(t.id) ?? []),
      };
      break;
    case 'SR':
      record = {
        ...common,
        kind: 'payment',
        date: t.transaction_date,
        amount,
        invoiceExternalReference: carried.get(t.id) ?? null,
      };
      break;
    case 'SD':
      // A debit journal paid out of the bank is a refund; one to a GL account has no canonical form.
      if (!t.bank)
        return unsupported(
          'refund',
          reference,
          `${reference} is a sales debit journal to a GL account, which is not mirrored; book it in the target by hand`,
          t,
        );
      record = {
        ...common,
        kind: 'refund',
        date: t.transaction_date,
        amount,
        paymentExternalReference: refunded.get(t.id) ?? null,
      };
      break;
    case 'SC':
    case 'DS':
    case 'DX':
      return unsupported(
        'creditNote',
        reference,
        `${reference} (${t.type === 'SC' ? 'a sales credit journal' : 'a settlement discount'}) is not mirrored; book it in the target by hand`,
        t,
      );
    default:
      // FX: exchange differences, which a platform computes from its own rates.
      return null;
  }
  return { record };
}

function allocationItem(a: AllocationRow): SourceItem | null {
  const sourceId = `AL-${a.id}`;
  const debit = ledgerReference(a.debit_type, a.debit_number);
  const credit = ledgerReference(a.credit_type, a.credit_number);
  // Sent with the document it was posted with: the receipt that pays one invoice, the refund of a receipt.
  if (isCarried(a) || (a.debit_type === 'SD' && a.credit_type === 'SR' && a.xid === a.debit_xid)) return null;
  if (a.debit_type !== 'SI' || (a.credit_type !== 'SR' && a.credit_type !== 'SN') || a.parent !== null)
    return unsupported(
      'allocation',
      sourceId,
      `The allocation of ${credit} to ${debit} is not mirrored (only receipts and credit notes set against invoices are); allocate it in the target by hand`,
      a,
    );
  return {
    record: {
      kind: 'allocation',
      sourceId,
      customerSourceId: a.customer_code,
      date: a.allocation_date,
      currency: a.currency.trim(),
      amount: formatAmount(BigInt(a.amount), a.currency),
      invoiceExternalReference: debit,
      from: a.credit_type === 'SR' ? 'payment' : 'creditNote',
      fromExternalReference: credit,
    },
  };
}

/** The receipt each refund was allocated against when it was posted, by refund id. */
async function refundedReceipts(db: Queryable, refundIds: string[]): Promise<Map<string, string>> {
  if (refundIds.length === 0) return new Map();
  const { rows } = await db.query<{ refund: string; receipt: string }>(
    `SELECT DISTINCT ON (d.id) d.id::text AS refund, c.type || '-' || c.number AS receipt
       FROM transactions d
       JOIN allocations a ON a.debit_transaction_id = d.id AND a.xid = d.xid
       JOIN transactions c ON c.id = a.credit_transaction_id AND c.type = 'SR'
      WHERE d.id = ANY($1::bigint[]) ORDER BY d.id, a.id`,
    [refundIds],
  );
  return new Map(rows.map((r) => [r.refund, r.receipt]));
}

export function createLedgerSource(pipeline: Pipeline, db: Queryable): SourceConnector {
  const config = LedgerSourceConfig.parse(pipeline.sourceConfig);
  const entityId = pipeline.entityId;
  const dated = (date: string) => !config.from || date >= config.from;
  return {
    type: 'ledger',
    // Nothing remote: the books it mirrors are this entity's, so the check is that the entity is there.
    async checkConnection() {
      const entity = await findEntityById(db, entityId);
      if (!entity)
        throw new ConnectorError('ledger', `entity ${pipeline.entityCode} no longer exists`, { retryable: false });
      return `the embedded ledger of ${entity.code}`;
    },
    async *pages(_ctx, cursor): AsyncIterable<SourcePage> {
      let at = parsePosition(cursor ?? (await lastCursor(db, pipeline.id)));
      const { rows: entity } = await db.query<{ base_currency: string }>(
        `SELECT base_currency FROM entities WHERE id = $1`,
        [entityId],
      );
      const baseCurrency = entity[0]!.base_currency.trim();
      for (;;) {
        const rows = await changes(db, entityId, at);
        if (rows.length === 0) return;
        const txIds = rows.filter((r) => r.rank === 0).map((r) => r.id);
        const txs = await loadTransactions(db, entityId, txIds);
        const withLines = [...txs.values()].filter((t) => t.type === 'SI' || t.type === 'SN').map((t) => t.id);
        const items = await loadLines(db, withLines);
        const receipts = [...txs.values()].filter((t) => t.type === 'SR').map((t) => t.id);
        const carried = await carriedAllocations(db, receipts);
        const refunds = [...txs.values()].filter((t) => t.type === 'SD').map((t) => t.id);
        const refunded = await refundedReceipts(db, refunds);
        const allocations = await loadAllocations(
          db,
          entityId,
          rows.filter((r) => r.rank === 1).map((r) => r.id),
        );
        const reversed = await loadAllocations(
          db,
          entityId,
          rows.filter((r) => r.rank === 2).map((r) => r.id),
        );
        const out: SourceItem[] = [];
        for (const r of rows) {
          if (r.rank === 0) {
            const t = txs.get(r.id)!;
            const item = dated(t.transaction_date) ? transactionItem(baseCurrency, t, items, carried, refunded) : null;
            if (item) out.push(item);
          } else if (r.rank === 1) {
            const a = allocations.get(r.id)!;
            const item = dated(a.allocation_date) ? allocationItem(a) : null;
            if (item) out.push(item);
          } else {
            const a = reversed.get(r.id)!;
            const debit = ledgerReference(a.debit_type, a.debit_number);
            const credit = ledgerReference(a.credit_type, a.credit_number);
            if (dated(a.allocation_date))
              out.push(
                unsupported(
                  'allocation',
                  `AL-${a.id}-reversed`,
                  `The allocation of ${credit} to ${debit} was reversed in the ledger; remove it in the target by hand`,
                  a,
                ),
              );
          }
        }
        const last = rows.at(-1)!;
        at = last;
        yield { items: out, cursor: `${last.xid}:${last.rank}:${last.id}` };
        if (rows.length < PAGE) return;
      }
    },
    async customer(sourceId) {
      const c = await customerRecord(db, entityId, sourceId, sourceId);
      return c ? { found: c } : { missing: `No customer ${sourceId} in the ledger` };
    },
  };
}

/** Where the pipeline's last run stopped: the next run starts after it. */
async function lastCursor(db: Queryable, pipelineId: string): Promise<string | null> {
  const { rows } = await db.query<{ cursor: string }>(
    // Runs of this pipeline with another source (a retry replays records in hand) have other cursors.
    `SELECT cursor FROM runs WHERE pipeline_id = $1 AND cursor ~ '^[0-9]+:[012]:[0-9]+$'
      ORDER BY created_at DESC, id DESC LIMIT 1`,
    [pipelineId],
  );
  return rows[0]?.cursor ?? null;
}
