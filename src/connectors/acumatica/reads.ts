import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext, TargetDocument } from '../../sync/target.ts';
import { type AcumaticaApi, type Entity, literal, val } from './api.ts';
import { chargesOf } from './fees.ts';
import { DOC_TYPES, dateOf, docId, minorOf, parseDocId } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Documents read back by target id (write-back, reconciliation), in batches: one GET of an entity
 * with `$filter=ReferenceNbr eq 'A' or ReferenceNbr eq 'B' …` (and `$expand`) a batch, the type of
 * each row checked here, for Invoice and Credit Memo (Invoice entity), Payment and Refund (Payment
 * entity) are numbered apart and may share a number. A document voided in Acumatica stays there
 * with its Status (`Voided`, or `Canceled`, `Reversed`): read as voided. One deleted (only an
 * unreleased one can be) is not found, and left out.
 */

/** References in one `$filter`: about 45 characters each, encoded, keeps the query under IIS's default 2,048. */
export const REFERENCES_PER_REQUEST = 40;

/** Statuses of a document Acumatica keeps out of the books. */
const VOIDED = new Set(['Voided', 'Canceled', 'Reversed']);

/** One document as a TargetDocument; `fees`: a payment's charges are its fee. */
function toDocument(id: string, row: Entity, fees: boolean, fallbackCurrency: string): TargetDocument {
  const key = parseDocId(id)!;
  const spec = DOC_TYPES[key.type];
  const isPayment = spec.entity === 'Payment';
  const currency = val(row, 'CurrencyID') || fallbackCurrency;
  const gross = minorOf(row, isPayment ? 'PaymentAmount' : 'Amount', currency);
  if (gross === null)
    throw new ConnectorError(SYSTEM, `${id} has an amount that is not one of ${currency}`, { retryable: false });
  return {
    targetId: id,
    kind: spec.kind,
    number: val(row, 'ReferenceNbr'),
    customerTargetId: val(row, isPayment ? 'CustomerID' : 'Customer'),
    externalReference: val(row, isPayment ? 'PaymentRef' : 'CustomerOrder'),
    date: dateOf(row, isPayment ? 'ApplicationDate' : 'Date'),
    dueDate: isPayment ? null : dateOf(row, 'DueDate') || null,
    currency,
    gross,
    lines: Array.isArray(row.Details) ? row.Details.length : 0,
    ...(VOIDED.has(val(row, 'Status')) ? { voided: true } : {}),
    ...(fees && spec.kind === 'payment' ? { fee: chargesOf(row, id, currency) } : {}),
  };
}

/**
 * Documents by target id (`Type/ReferenceNbr`): one request per {@link REFERENCES_PER_REQUEST} of
 * each entity. `lines`: invoices and credit memos with their Details (the line count); `fees`:
 * payments with their Charges.
 */
export async function readDocuments(
  api: AcumaticaApi,
  ctx: TargetCallContext,
  ids: string[],
  o: { lines: boolean; fees: boolean; currency: string },
): Promise<Map<string, TargetDocument>> {
  const out = new Map<string, TargetDocument>();
  for (const entity of ['Invoice', 'Payment'] as const) {
    const wanted = new Map<string, string>();
    for (const id of ids) {
      const key = parseDocId(id);
      if (key && DOC_TYPES[key.type].entity === entity) wanted.set(docId(key.type, key.nbr), id);
    }
    const numbers = [...new Set([...wanted.keys()].map((k) => parseDocId(k)!.nbr))];
    const expanded = entity === 'Invoice' ? (o.lines ? 'Details' : null) : o.fees ? 'Charges' : null;
    const expand: Record<string, string> = expanded ? { $expand: expanded } : {};
    for (let at = 0; at < numbers.length; at += REFERENCES_PER_REQUEST) {
      const batch = numbers.slice(at, at + REFERENCES_PER_REQUEST);
      const rows = await api.list(
        entity,
        { $filter: batch.map((n) => `ReferenceNbr eq ${literal(n)}`).join(' or '), ...expand },
        ctx.signal,
      );
      for (const row of rows) {
        // Another type under the same number (a Voided Payment beside its payment) is not asked for.
        const id = wanted.get(docId(val(row, 'Type'), val(row, 'ReferenceNbr')));
        if (id !== undefined) out.set(id, toDocument(id, row, o.fees, o.currency));
      }
    }
  }
  return out;
}
