import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext, TargetDocument } from '../../sync/target.ts';
import { feeDocs, matchFees } from '../../sync/fee-match.ts';
import { type BcEntity, type BusinessCentralApi, key, literal } from './api.ts';
import { customerGroups, customerIds, inBooks, paymentEntries, postedDocuments } from './balances.ts';
import { markOf } from './fees.ts';
import { minor, paymentOf, paymentTargetId, text } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * What the target reads back: documents as booked (write-back: the number and due date;
 * reconciliation: what Business Central holds now, payments' fees included), the invoice's PDF,
 * and which invoices are paid.
 *
 * Documents are read by id in batches (`$filter=id eq … or id eq …`): an OData filter may hold
 * 100 nodes in Business Central (each `field eq value` is three, each `or` one), so
 * {@link IDS_PER_REQUEST} ids a request. A posted invoice or credit memo is never deleted: a
 * person cancels it (Posted Sales Invoice → Cancel, or the API's `Microsoft.NAV.cancel`), which
 * posts a corrective document against it and leaves it with status `Canceled`; that is read as
 * voided. A payment's target id is its Document No. and its customer (the bare Document No. for
 * payments mapped before): it is read from its G/L entries marked with the customer, and a payment
 * whose entries a reversal has netted to nothing is voided.
 */

/** Ids in one `$filter` of `or`s: 4 nodes each, under Business Central's limit of 100 nodes a filter. */
export const IDS_PER_REQUEST = 20;

const SETS = [
  ['salesInvoices', 'invoice', 'salesInvoiceLines', 'invoiceDate'],
  ['salesCreditMemos', 'creditNote', 'salesCreditMemoLines', 'creditMemoDate'],
] as const;

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function* batches<T>(items: readonly T[]): Generator<T[]> {
  for (let at = 0; at < items.length; at += IDS_PER_REQUEST) yield items.slice(at, at + IDS_PER_REQUEST);
}

/** What reading documents needs besides the API. */
export interface DocumentReads {
  lines: boolean;
  fees: boolean;
  /** The company's local currency (LCY), in which G/L entries, and so payments and fees, are kept. */
  localCurrency: () => Promise<string>;
  /** The G/L account fees are posted to, when known: an unmarked entry elsewhere is no fee. */
  feesAccount: () => string | null;
}

function salesDocument(
  e: BcEntity,
  set: (typeof SETS)[number][0],
  kind: 'invoice' | 'creditNote',
  linesSet: string,
  dateField: string,
  lines: boolean,
): TargetDocument {
  const currency = text(e.currencyCode);
  const gross = minor(e.totalAmountIncludingTax, currency);
  if (gross === null)
    throw new ConnectorError(SYSTEM, `${set} ${e.id} answered without a usable totalAmountIncludingTax`, {
      retryable: false,
    });
  const expanded = e[linesSet];
  if (lines && !Array.isArray(expanded))
    throw new ConnectorError(SYSTEM, `${set} answered without the ${linesSet} it was asked to expand`, {
      retryable: false,
    });
  return {
    targetId: e.id,
    kind,
    number: text(e.number),
    customerTargetId: text(e.customerId),
    externalReference: text(e.externalDocumentNumber),
    date: text(e[dateField]),
    dueDate: e.dueDate ? text(e.dueDate) : null,
    currency,
    gross,
    lines: Array.isArray(expanded) ? expanded.length : 0,
    // Cancelled in Business Central: a corrective document reverses it, out of the books.
    ...(e.status === 'Canceled' ? { voided: true } : {}),
  };
}

/** Invoices, else credit memos, by id: one request per {@link IDS_PER_REQUEST} ids of each set asked. */
async function salesDocuments(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  ids: string[],
  lines: boolean,
  out: Map<string, TargetDocument>,
): Promise<void> {
  // Business Central answers ids lower-cased; the caller's spelling is the key.
  const asked = new Map(ids.map((id) => [id.toLowerCase(), id]));
  let left = [...asked.keys()];
  for (const [set, kind, linesSet, dateField] of SETS) {
    if (left.length === 0) return;
    for (const batch of batches(left)) {
      const rows = await api.list(
        set,
        batch.map((id) => `id eq ${id}`).join(' or '),
        ctx.signal,
        lines ? { $expand: linesSet } : {},
      );
      for (const e of rows) {
        const id = asked.get(e.id.toLowerCase());
        if (id !== undefined) out.set(id, salesDocument(e, set, kind, linesSet, dateField, lines));
      }
    }
    left = left.filter((id) => !out.has(asked.get(id)!));
  }
}

interface Net {
  mark: string | null;
  account: string;
  /** Debits less credits, in minor units of the local currency. */
  net: bigint;
  entry: string;
  date: string;
}

/** Entries summed per customer mark and account: a reversal nets its original to nothing. */
function nets(entries: BcEntity[], currency: string): Net[] {
  const by = new Map<string, Net>();
  for (const e of entries) {
    const debit = minor(e.debitAmount, currency);
    const credit = minor(e.creditAmount, currency);
    if (debit === null || credit === null)
      throw new ConnectorError(SYSTEM, `G/L entry ${text(e.entryNumber)} answered without usable amounts`, {
        retryable: false,
      });
    const mark = markOf({ description: text(e.description) });
    const account = text(e.accountNumber);
    const key = `${mark ?? ''}\u0000${account}`;
    const n = by.get(key) ?? { mark, account, net: 0n, entry: text(e.entryNumber), date: text(e.postingDate) };
    n.net += debit - credit;
    by.set(key, n);
  }
  return [...by.values()];
}

/**
 * A posted payment from the G/L entries under its Document No.: the customer's of the target id
 * (`<Document No.>@<customer>`), or for an id of the old, bare form the first customer a mark
 * names; null when none is posted.
 */
function payment(
  targetId: string,
  entries: BcEntity[],
  currency: string,
  o: Pick<DocumentReads, 'fees' | 'feesAccount'>,
): TargetDocument | null {
  const { documentNumber, customerId } = paymentOf(targetId);
  const own = nets(
    entries.filter((e) => text(e.documentType) === 'Payment'),
    currency,
  );
  // The customer its description's mark names (entries posted before payments were marked name none).
  const customer: string | undefined =
    customerId === null
      ? (own.find((n) => n.mark !== null)?.mark ?? '')
      : (own.find((n) => n.mark?.toLowerCase() === customerId.toLowerCase())?.mark ?? undefined);
  if (customer === undefined) return null;
  const mine = own.filter((n) => n.mark === (customer || null));
  if (mine.length === 0) return null;
  // What reached the bank (the debit side), after any reversal.
  const gross = mine.reduce((s, n) => (n.net > 0n ? s + n.net : s), 0n);
  const doc: TargetDocument = {
    targetId,
    kind: 'payment',
    number: documentNumber,
    customerTargetId: customer,
    // G/L entries carry no External Document No.: the Document No. is our reference upper-cased (or its hash).
    externalReference: documentNumber,
    date: mine[0]!.date,
    dueDate: null,
    currency,
    gross,
    lines: 1,
    ...(gross === 0n ? { voided: true } : {}),
  };
  if (!o.fees) return doc;
  // The fee: a debit not of type Payment, marked with the customer (or unmarked on the fees account).
  const account = o.feesAccount();
  const fees = nets(
    entries.filter((e) => text(e.documentType) !== 'Payment'),
    currency,
  ).filter((n) => n.net > 0n && (n.mark !== null || account === null || n.account === account));
  const [match] = matchFees(
    [{ reference: documentNumber, customer }],
    new Map([[documentNumber, fees]]),
    (n) => n.mark,
  );
  const held = feeDocs(match!);
  if (held === null) return doc;
  doc.fee =
    held.length === 0
      ? null
      : {
          targetId: `G/L entry ${held[0]!.entry}`,
          label: `G/L entry ${held.map((n) => n.entry).join(', ')} (the fee under document ${documentNumber})`,
          currency,
          amount: held.reduce((s, n) => s + n.net, 0n),
        };
  return doc;
}

/** Payments by target id, from their G/L entries: one request per {@link IDS_PER_REQUEST} Document Nos. */
async function payments(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  ids: string[],
  o: DocumentReads,
  out: Map<string, TargetDocument>,
): Promise<void> {
  if (ids.length === 0) return;
  const currency = await o.localCurrency();
  // Two customers' payments under one Document No. are read by one request.
  const byNumber = new Map<string, string[]>();
  for (const id of ids) {
    const n = paymentOf(id).documentNumber.toUpperCase();
    byNumber.set(n, [...(byNumber.get(n) ?? []), id]);
  }
  for (const batch of batches([...byNumber.keys()])) {
    const entries = await api.list(
      'generalLedgerEntries',
      batch.map((n) => `documentNumber eq ${literal(n)}`).join(' or '),
      ctx.signal,
    );
    for (const n of batch) {
      const under = entries.filter((e) => text(e.documentNumber).toUpperCase() === n);
      for (const id of byNumber.get(n)!) {
        const d = payment(id, under, currency, o);
        if (d) out.set(id, d);
      }
    }
  }
}

/**
 * Documents by target id: invoices and credit memos (GUIDs), and payments (`<Document No.>@<customer>`,
 * or a bare Document No.: never a GUID). One left out is not in Business Central (a payment never
 * posted). Refunds are never booked here (API v2.0 has none): asked for alone, none is found.
 */
export async function documents(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  ids: string[],
  o: DocumentReads,
): Promise<Map<string, TargetDocument>> {
  const out = new Map<string, TargetDocument>();
  await salesDocuments(
    api,
    ctx,
    ids.filter((id) => GUID.test(id)),
    o.lines,
    out,
  );
  await payments(
    api,
    ctx,
    ids.filter((id) => !GUID.test(id)),
    o,
    out,
  );
  return out;
}

/**
 * Invoices, credit memos and payments dated in [from, to] of these customers that no pipeline
 * booked (keyed into Business Central by hand), each as {@link documents} reads it. Per 20
 * customers (balances.ts's groups and queries): the posted (`Open` or `Paid`) salesInvoices and
 * salesCreditMemos by document date, and the G/L entries of type Payment by posting date marked
 * with one of them; the payments found, not linked, are then read by id as `documents()` reads
 * them (all their entries: a reversal after the window nets one to nothing, voided, left out).
 * Not read by reference: 20 references a request (the 100-node filter) for three lists is three
 * requests per 20 of the pipeline's references, whatever their date. Refunds: API v2.0 has none.
 */
export async function unlinkedDocuments(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  scope: { customerTargetIds: string[]; linkedTargetIds: string[] },
  from: string,
  to: string,
  o: DocumentReads,
): Promise<TargetDocument[]> {
  for (const day of [from, to])
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`${SYSTEM}: "${day}" is not a date`);
  const asked = customerIds(scope.customerTargetIds);
  if (asked.size === 0 || from > to) return [];
  // Ids as the connector booked them: GUIDs and `<Document No.>@<customer>` in any case, and
  // payments mapped in the old, bare form (their Document No.), which stand for every customer's under it.
  const linked = new Set(scope.linkedTargetIds.map((id) => id.toLowerCase()));
  const bare = new Set(
    scope.linkedTargetIds
      .filter((id) => !GUID.test(id) && paymentOf(id).customerId === null)
      .map((id) => id.toUpperCase()),
  );
  const within = (day: string) => day >= from && day <= to;
  const out: TargetDocument[] = [];
  const candidates = new Map<string, string>();
  for (const group of customerGroups([...asked.keys()])) {
    for (const [set, kind, linesSet, dateField] of SETS) {
      const rows = await postedDocuments(
        api,
        ctx,
        set,
        group,
        `${dateField} ge ${from} and ${dateField} le ${to}`,
        o.lines ? { $expand: linesSet } : {},
      );
      for (const e of rows) {
        // What the filter asked, checked again.
        if (!asked.has(text(e.customerId).toLowerCase()) || !within(text(e[dateField])) || !inBooks(e)) continue;
        if (linked.has(e.id.toLowerCase())) continue;
        out.push(salesDocument(e, set, kind, linesSet, dateField, o.lines));
      }
    }
    for (const e of await paymentEntries(api, ctx, group, `postingDate ge ${from} and postingDate le ${to}`)) {
      const mark = markOf({ description: text(e.description) });
      const number = text(e.documentNumber).toUpperCase();
      if (text(e.documentType) !== 'Payment' || !within(text(e.postingDate))) continue;
      if (mark === null || !asked.has(mark.toLowerCase()) || bare.has(number)) continue;
      const id = paymentTargetId(text(e.documentNumber), mark);
      if (!linked.has(id.toLowerCase())) candidates.set(id.toLowerCase(), id);
    }
  }
  const paid = new Map<string, TargetDocument>();
  await payments(api, ctx, [...candidates.values()], o, paid);
  for (const d of paid.values()) if (!d.voided && within(d.date)) out.push(d);
  return out.sort((a, b) => a.date.localeCompare(b.date) || a.targetId.localeCompare(b.targetId));
}

/** The posted invoice as Business Central renders it (pdfDocument → pdfDocumentContent). */
export async function invoicePdf(api: BusinessCentralApi, ctx: TargetCallContext, invoiceId: string): Promise<Buffer> {
  const doc = await api.get(`/salesInvoices${key(invoiceId)}/pdfDocument`, ctx.signal).catch((err: unknown) => {
    // The part answers as a collection on some versions.
    if (err instanceof ConnectorError && /without an id/.test(err.message)) return null;
    throw err;
  });
  let link = doc?.['pdfDocumentContent@odata.mediaReadLink'];
  if (typeof link !== 'string') {
    const rows = await api.list(`salesInvoices${key(invoiceId)}/pdfDocument`, null, ctx.signal);
    link = rows[0]?.['pdfDocumentContent@odata.mediaReadLink'];
  }
  if (typeof link !== 'string')
    throw new ConnectorError(SYSTEM, 'the invoice has no pdfDocumentContent link', { retryable: false });
  const body = await api.media(link, ctx.signal);
  if (!body.subarray(0, 5).equals(Buffer.from('%PDF-')))
    throw new ConnectorError(SYSTEM, 'pdfDocumentContent answered with something that is not a PDF', {
      retryable: false,
    });
  return body;
}

/** Of these invoices, those Business Central holds as paid in full. */
export async function paidInvoices(
  api: BusinessCentralApi,
  ctx: TargetCallContext,
  ids: string[],
): Promise<Map<string, string>> {
  const paid = new Map<string, string>();
  for (const id of ids) {
    const e = await api.get(`/salesInvoices${key(id)}`, ctx.signal);
    if (e && e.status === 'Paid' && minor(e.remainingAmount, text(e.currencyCode)) === 0n) paid.set(id, '');
  }
  return paid;
}
