import type { TargetCallContext, TargetDocument } from '../../sync/target.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { type BatchOperation, type QboEntity, type QuickBooksApi, describeFault, quote } from './api.ts';
import { type Company, docNumberFor, minorUnits, scalar } from './map.ts';
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
    gross: entity === 'CreditMemo' ? -total : total,
    lines: ((e.Line as { DetailType?: string }[] | undefined) ?? []).filter(
      (l) => l.DetailType === 'SalesItemLineDetail',
    ).length,
  };
}

const KINDS = [
  ['Invoice', 'invoice'],
  ['CreditMemo', 'invoice'],
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
