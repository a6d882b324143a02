import { addDays } from '../../domain/dates.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext, TargetDocument } from '../../sync/target.ts';
import { type AcumaticaApi, type Entity, literal, val } from './api.ts';
import { FIELDS, POSTED, customerDocuments, isCustomerId } from './balances.ts';
import { chargesOf } from './fees.ts';
import { DOC_TYPES, dateOf, dateTime, docId, minorOf, parseDocId } from './map.ts';
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

/**
 * Invoices, credit memos, payments and refunds dated in [from, to] of these customers that no
 * pipeline booked (keyed into Acumatica by hand), each as {@link readDocuments} reads it. Listed as
 * the open balances list them (balances.ts: 25 customers a request, pages of 500, the type, number,
 * status, customer and date selected), Invoice by `Date` and Payment by `ApplicationDate`, from
 * the day before `from` to the day after `to` (the instance compares dates in its own time zone;
 * the day read decides); released (Open, Closed) documents of the four types the connector books,
 * not linked, are then read by id as `documents()` reads them. Left out: unreleased and voided
 * documents, other types (debit memos, prepayments, a voided payment's `Voided Payment`), and a
 * credit memo's row under Payment (it is read from Invoice). Not read by reference: 40 references a
 * request for two entities is two requests per 40 of the pipeline's references, whatever their dates.
 */
export async function unlinkedDocuments(
  api: AcumaticaApi,
  ctx: TargetCallContext,
  scope: { customerTargetIds: string[]; linkedTargetIds: string[] },
  from: string,
  to: string,
  o: { lines: boolean; fees: boolean; currency: string },
): Promise<TargetDocument[]> {
  for (const day of [from, to])
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`${SYSTEM}: "${day}" is not a date`);
  const ids = [...new Set(scope.customerTargetIds.filter(isCustomerId))];
  if (ids.length === 0 || from > to) return [];
  // Keys compare as the database does, ignoring case.
  const customers = new Set(ids.map((id) => id.toUpperCase()));
  const linked = new Set(scope.linkedTargetIds.map((id) => id.toUpperCase()));
  const within = (day: string) => day >= from && day <= to;
  const found: string[] = [];
  for (const entity of ['Invoice', 'Payment'] as const) {
    const f = FIELDS[entity];
    const dated = `${f.date} ge datetimeoffset'${dateTime(addDays(from, -1))}' and ${f.date} lt datetimeoffset'${dateTime(addDays(to, 1))}'`;
    await customerDocuments(
      api,
      ctx,
      entity,
      ids,
      dated,
      ['Type', 'ReferenceNbr', 'Status', f.customer, f.date],
      (row) => {
        const type = val(row, 'Type');
        if (!Object.hasOwn(DOC_TYPES, type) || DOC_TYPES[type as keyof typeof DOC_TYPES].entity !== entity) return;
        if (!customers.has(val(row, f.customer).toUpperCase()) || !within(dateOf(row, f.date))) return;
        if (!POSTED.has(val(row, 'Status'))) return;
        const id = docId(type, val(row, 'ReferenceNbr'));
        if (!linked.has(id.toUpperCase())) found.push(id);
      },
    );
  }
  const read = await readDocuments(api, ctx, found, o);
  return [...read.values()]
    .filter((d) => !d.voided && within(d.date))
    .sort((a, b) => a.date.localeCompare(b.date) || a.targetId.localeCompare(b.targetId));
}
