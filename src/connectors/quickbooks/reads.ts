import type { TargetCallContext, TargetDocument } from '../../sync/target.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { type BatchOperation, type QboEntity, type QuickBooksApi, describeFault, quote } from './api.ts';
import { type Company, docNumberFor, minorUnits, scalar } from './map.ts';
import { readByIds } from './names.ts';
import { journalRefund, journalsByReference } from './refund-cash.ts';
import { readFees } from './fees.ts';
import { SYSTEM } from './settings.ts';

/*
 * Documents as QuickBooks holds them, for write-back and reconciliation: by id, and those booked
 * outside any pipeline (typed in by hand) for the pipeline's customers or references.
 */

const REFERENCE_NOTE = /ledgerlink reference: (.+)$/;

/** The reference a document carries: whole in its private note, else its number field. */
export function referenceOf(e: QboEntity, field: string): string {
  const note = typeof e.PrivateNote === 'string' ? REFERENCE_NOTE.exec(e.PrivateNote)?.[1] : undefined;
  return note ?? scalar(e[field]);
}

export function toDocument(
  e: QboEntity,
  entity: string,
  kind: TargetDocument['kind'],
  company: Company,
): TargetDocument {
  const currency = (e.CurrencyRef as { value?: string } | undefined)?.value ?? company.homeCurrency;
  const total = minorUnits(e.TotalAmt, currency) ?? 0n;
  const field = entity === 'Payment' ? 'PaymentRefNum' : 'DocNumber';
  return {
    targetId: e.Id,
    kind,
    number: scalar(e[field]),
    customerTargetId: (e.CustomerRef as { value?: string } | undefined)?.value ?? '',
    externalReference: referenceOf(e, field),
    date: scalar(e.TxnDate),
    dueDate: typeof e.DueDate === 'string' ? e.DueDate : null,
    currency,
    gross: total,
    lines: ((e.Line as { DetailType?: string }[] | undefined) ?? []).filter(
      (l) => l.DetailType === 'SalesItemLineDetail',
    ).length,
    ...(voidedIn(e, total) ? { voided: true } : {}),
  };
}

/**
 * Voided in QuickBooks: kept, its amounts zeroed and "Voided" put before its private note (Intuit,
 * "Voiding Invoice Objects"); counted missing by reconciliation rather than as a zero amount.
 */
const voidedIn = (e: QboEntity, total: bigint) =>
  total === 0n && typeof e.PrivateNote === 'string' && e.PrivateNote.startsWith('Voided');

/**
 * The pipeline's documents by target id: invoices and credit memos, payments, and refunds. A refund
 * is a RefundReceipt (the sale reversed: the customer's receivable untouched), a JournalEntry (cash
 * out of the customer's credit: its A/R debit adds to what the customer owes, taking the credit
 * off), or both, under the receipt's id: its gross is the two together.
 */
export async function documentsById(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  company: Company,
  targetIds: string[],
  options: { fees?: boolean; kind?: TargetDocument['kind'] } = {},
): Promise<Map<string, TargetDocument>> {
  const out = new Map<string, TargetDocument>();
  const receipts: QboEntity[] = [];
  // Asked a kind, only the entity types it is booked as are read (a refund asked alone: its receipt or journal entry).
  const read = [...KINDS, ['JournalEntry', 'refund'] as const].filter(
    ([entity, kind]) =>
      !options.kind || kind === options.kind || (options.kind === 'invoice' && entity === 'CreditMemo'),
  );
  for (const [entity, kind] of read) {
    const missing = targetIds.filter((id) => !out.has(id));
    if (missing.length === 0) break;
    for (const [id, e] of await readByIds(api, ctx, entity, missing)) {
      if (entity === 'JournalEntry') {
        const doc = journalDocument(e, company);
        if (doc) out.set(id, doc);
        continue;
      }
      out.set(id, toDocument(e, entity, kind, company));
      if (entity === 'RefundReceipt') receipts.push(e);
    }
  }
  // Reconciliation: each payment's fee, the Purchase carrying its reference (fees.ts).
  if (options.fees)
    await readFees(
      api,
      ctx,
      company,
      [...out.values()].filter((d) => d.kind === 'payment'),
    );
  if (receipts.length === 0) return out;
  const customerOf = (e: QboEntity) => (e.CustomerRef as { value?: string } | undefined)?.value ?? '';
  const journals = await journalsByReference(
    api,
    ctx,
    company,
    receipts.map((e) => ({ reference: referenceOf(e, 'DocNumber'), customerTargetId: customerOf(e) })),
  );
  for (const e of receipts) {
    const doc = out.get(e.Id)!;
    const je = journals.get(`${customerOf(e)}\u0000${doc.externalReference}`);
    const cash = je ? (journalRefund(je, doc.currency)?.amount ?? 0n) : 0n;
    out.set(e.Id, { ...doc, gross: doc.gross + cash, balanceEffect: cash });
  }
  return out;
}

/** A refund's JournalEntry as a document: its A/R debit for the customer, no tax. */
function journalDocument(e: QboEntity, company: Company): TargetDocument | null {
  const currency = (e.CurrencyRef as { value?: string } | undefined)?.value ?? company.homeCurrency;
  const cash = journalRefund(e, currency);
  if (!cash) return null;
  return {
    targetId: e.Id,
    kind: 'refund',
    number: scalar(e.DocNumber),
    customerTargetId: cash.customerId,
    externalReference: referenceOf(e, 'DocNumber'),
    date: scalar(e.TxnDate),
    dueDate: null,
    currency,
    gross: cash.amount,
    lines: 0,
    balanceEffect: cash.amount,
  };
}

const KINDS = [
  ['Invoice', 'invoice'],
  ['CreditMemo', 'creditNote'],
  ['Payment', 'payment'],
  ['RefundReceipt', 'refund'],
] as const;

/**
 * Invoices, credit memos, payments and refund receipts dated in [from, to] of these customers or
 * carrying one of these references, that no pipeline booked: queries of 100 customers or
 * references each, 30 a batch call, each paged to the end.
 */
export async function unlinkedDocuments(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  company: Company,
  scope: { customerTargetIds: string[]; references: string[]; linkedTargetIds: string[] },
  from: string,
  to: string,
): Promise<TargetDocument[]> {
  const linked = new Set(scope.linkedTargetIds);
  const dated = `TxnDate >= ${quote(from)} AND TxnDate <= ${quote(to)}`;
  const wanted: { entity: (typeof KINDS)[number][0]; where: string }[] = [];
  const customers = [...new Set(scope.customerTargetIds)];
  const numbers = [...new Set(scope.references.map(docNumberFor))];
  for (const [entity] of KINDS) {
    for (let i = 0; i < customers.length; i += 100)
      wanted.push({
        entity,
        where: `${dated} AND CustomerRef IN (${customers
          .slice(i, i + 100)
          .map(quote)
          .join(', ')})`,
      });
    const field = entity === 'Payment' ? 'PaymentRefNum' : 'DocNumber';
    for (let i = 0; i < numbers.length; i += 100)
      wanted.push({
        entity,
        where: `${dated} AND ${field} IN (${numbers
          .slice(i, i + 100)
          .map(quote)
          .join(', ')})`,
      });
  }
  const found = new Map<string, TargetDocument>();
  const keep = (entity: (typeof KINDS)[number][0], rows: QboEntity[]) => {
    const kind = KINDS.find(([e]) => e === entity)![1];
    for (const e of rows) {
      if (linked.has(e.Id) || found.has(e.Id)) continue;
      const doc = toDocument(e, entity, kind, company);
      // A Payment of 0 moves no money: it applies a credit memo to an invoice (an allocation).
      if (entity === 'Payment' && doc.gross === 0n) continue;
      found.set(e.Id, doc);
    }
  };
  for (let i = 0; i < wanted.length; i += 30) {
    const chunk = wanted.slice(i, i + 30);
    const ops: BatchOperation[] = chunk.map((w) => ({
      query: `SELECT * FROM ${w.entity} WHERE ${w.where} MAXRESULTS 1000`,
    }));
    const answers = await api.batch(ops, null, ctx.signal);
    for (const [k, a] of answers.entries()) {
      const w = chunk[k]!;
      if (!a.ok)
        throw new ConnectorError(SYSTEM, `reading ${w.entity} for reconciliation: ${describeFault(a.fault)}`, {
          retryable: false,
        });
      const rows = (a.query?.[w.entity] as QboEntity[] | undefined) ?? [];
      keep(w.entity, rows);
      // A full page: the rest, page by page.
      if (rows.length === 1000) keep(w.entity, (await api.queryAll(w.entity, w.where, ctx.signal)).slice(1000));
    }
  }
  return [...found.values()];
}
