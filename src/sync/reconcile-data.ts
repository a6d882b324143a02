import type { Queryable } from '../db/database.ts';
import { isValidDate } from '../domain/dates.ts';
import { parseAmount } from '../domain/money.ts';
import { CanonicalRecord, canonicalGross, creditNoteAsInvoice } from './canonical.ts';
import { chunks } from './engine/context.ts';
import { keptFee } from './engine/changed.ts';
import type { TargetCallContext, TargetConnector, TargetDocument, TargetFee } from './target.ts';

/** The document kinds reconciliation counts per day: invoices, credit notes and payments. */
export type DocKind = 'invoice' | 'creditNote' | 'payment';
export const DOC_KINDS: readonly DocKind[] = ['invoice', 'creditNote', 'payment'];

/**
 * The kinds of document compared one by one and named in mismatches: those above, and refunds.
 * Refunds are not counted per day; a booked refund counts in its customer's open balance as
 * booked (`loadSourceBalances`). Refunds booked before 2026-12-06 were not recorded as the source
 * sent them, and are not compared.
 */
export type SourceKind = DocKind | 'refund';

/**
 * Target ids asked for in one call of `documents()`, and so one step of the progress a caller
 * shows. A remote target splits each call into requests of its own size (Xero asks for 50 invoices
 * at a time): smaller pages would show progress more often but add a request for each remainder.
 */
export const TARGET_READ_PAGE = 5000;

/** How messages name a kind. */
export const KIND_WORD: Record<SourceKind, string> = {
  invoice: 'invoice',
  creditNote: 'credit note',
  payment: 'payment',
  refund: 'refund',
};

export interface ExceptionRef {
  id: number;
  status: 'open' | 'resolved';
  reasonCode: string;
  message: string;
}

/** A document as the source sent it: from `source_documents`, or from a parked record that never got there. */
export interface SourceDoc {
  kind: SourceKind;
  sourceId: string;
  externalReference: string | null;
  customerCode: string | null;
  customerSourceId: string | null;
  /** Null only for a record that could not even be read (a bad import row). */
  date: string | null;
  /**
   * Set when `date` is not the document's but the day it was parked, its own date being unreadable
   * (a bad import row): so that reconciliation lists it, and says so.
   */
  dateIsParkedDay?: true;
  currency: string | null;
  gross: bigint | null;
  /** The target document it was booked as (itself, or through its daily summary). */
  targetId: string | null;
  /** The summary it was posted in, for point-of-sale sales summarised per day. */
  summarizedIn: string | null;
  /** Its exception, when it was parked and never posted. */
  exception: ExceptionRef | null;
  /** A point-of-sale sale, recorded to be posted in its day's summary. */
  daily: boolean;
  /**
   * A booked payment's provider fee as the source last sent it (0 for none), kept in its map
   * entry (for a sale of a daily summary, its summary's: the day's fees summed); null when it is
   * not known (not a payment, not booked, or booked before 2026-12-06): not compared.
   */
  fee: { currency: string; amount: bigint } | null;
}

/** A sales invoice, credit note, payment or refund in the target (a credit note's or refund's gross as a positive amount). */
export interface TargetDoc {
  /** The target's id (a ledger transaction id, a platform's document id). */
  id: string;
  kind: SourceKind;
  customerCode: string;
  currency: string;
  date: string;
  gross: bigint;
  externalReference: string;
  /** Lines on the document: each may round its VAT by one minor unit differently from the source. */
  items: number;
  /** How messages name it: its number and external reference, never an internal id. */
  label: string;
  /** A payment's provider fee in the target (null: none); undefined when the target cannot tell. */
  fee?: TargetFee | null | undefined;
}

/** A target id as a mismatch's `transactionId` (ledger ids are numbers) and `targetId`. */
export const mismatchIds = (id: string) => ({
  transactionId: /^\d{1,15}$/.test(id) ? Number(id) : null,
  targetId: id,
});

/** `invoice 12 (INV-77)`: a document as people see it, by number and reference. */
export function labelOf(kind: SourceKind, number: string, externalReference: string): string {
  const ref = externalReference.trim();
  return `${KIND_WORD[kind]} ${number}${ref ? ` (${ref})` : ''}`;
}

/**
 * A target's document as reconciliation compares it. `booked` is the kind the pipeline booked it
 * as, when it did: platforms label a credit note or a refund in their own terms (Xero's credit
 * notes are one kind whether they refund or credit) and may sign its total, so what the pipeline
 * booked as a credit note or a refund is one, its gross taken as a positive amount. What the
 * target calls a refund and the pipeline booked as something else is not compared, and a
 * document the target voided or deleted is not there.
 */
function toTarget(d: TargetDocument, booked?: SourceKind): TargetDoc | null {
  const kind = booked === 'creditNote' || booked === 'refund' ? booked : d.kind;
  if (kind === 'refund' && booked !== undefined && booked !== 'refund') return null;
  // Voided or deleted there: not in the books, so missing from the target.
  if (d.voided) return null;
  return {
    id: d.targetId,
    kind,
    customerCode: d.customerTargetId,
    currency: d.currency,
    date: d.date,
    gross: (kind === 'creditNote' || kind === 'refund') && d.gross < 0n ? -d.gross : d.gross,
    externalReference: d.externalReference,
    items: d.lines,
    label: labelOf(kind, d.number, d.externalReference),
    ...(kind === 'payment' && d.fee !== undefined ? { fee: d.fee } : {}),
  };
}

// A daily-summary pipeline records each sale and posts one summary per day; the summary's own
// source_documents row would count the same money twice, so rows some sale names as its summary are left out.
const NOT_A_SUMMARY = `sd.source_id NOT IN (SELECT s.summarized_in FROM source_documents s WHERE s.pipeline_id = $1 AND s.summarized_in IS NOT NULL)`;

/** Source documents dated in [from, to], each with the ledger transaction it was posted as. */
export async function loadSourceDocs(
  db: Queryable,
  pipelineId: string,
  from: string,
  to: string,
): Promise<SourceDoc[]> {
  const { rows } = await db.query<{
    kind: SourceKind;
    source_id: string;
    external_reference: string;
    customer_source_id: string | null;
    customer_code: string | null;
    date: string;
    currency: string;
    gross: string;
    summarized_in: string | null;
    target_id: string | null;
    daily: boolean;
    kept: string | null;
  }>(
    `SELECT sd.kind, sd.source_id, sd.external_reference, sd.customer_source_id, sd.customer_code, sd.document_date::text AS date,
            trim(sd.currency) AS currency, sd.gross::text AS gross, sd.summarized_in, coalesce(own.target_id, summ.target_id) AS target_id,
            sd.payload ? 'daily' AS daily, CASE WHEN sd.kind = 'payment' THEN coalesce(own.fingerprint, summ.fingerprint) END AS kept
       FROM source_documents sd
       LEFT JOIN sync_map own ON own.pipeline_id = sd.pipeline_id AND own.kind = sd.kind AND own.source_id = sd.source_id
       LEFT JOIN sync_map summ ON summ.pipeline_id = sd.pipeline_id AND summ.kind = sd.kind AND summ.source_id = sd.summarized_in
      WHERE sd.pipeline_id = $1 AND sd.kind IN ('invoice', 'creditNote', 'payment', 'refund') AND sd.document_date BETWEEN $2::date AND $3::date AND ${NOT_A_SUMMARY}
      ORDER BY sd.document_date, sd.kind, sd.source_id`,
    [pipelineId, from, to],
  );
  return rows.map((r) => ({
    kind: r.kind,
    sourceId: r.source_id,
    externalReference: r.external_reference,
    customerCode: r.customer_code,
    customerSourceId: r.customer_source_id,
    date: r.date,
    currency: r.currency,
    gross: BigInt(r.gross),
    targetId: r.target_id,
    summarizedIn: r.summarized_in,
    exception: null,
    daily: r.daily,
    fee: r.target_id === null ? null : keptFee(r.kept),
  }));
}

/**
 * What a bad import row still tells (its cells as the file had them, see connectors/csv): its
 * reference, customer and date when those cells are readable, so a refused row is reconciled on
 * its own day instead of the day it was imported.
 */
function importedRow(
  payload: unknown,
): { reference: string | null; customer: string | null; date: string | null } | null {
  const rows = (payload as { rows?: { cells?: Record<string, string> }[] } | null)?.rows;
  const cells = Array.isArray(rows) ? rows[0]?.cells : undefined;
  if (!cells || typeof cells !== 'object') return null;
  const pick = (...names: string[]) =>
    names.map((n) => cells[n]).find((v): v is string => typeof v === 'string' && v !== '') ?? null;
  // The columns each file kind reads them from (src/connectors/csv): invoices, credit notes and
  // receipts; GoCardless (payment, refund ids, customer, charge date); SmartDebit (payer, DD/MM/YYYY date).
  let date = pick('invoice_date', 'date', 'resources.charge_date', 'charge_date');
  const dmy = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(pick('date_of_payment', 'debit_date', 'collection_date') ?? '');
  if (date === null && dmy) date = `${dmy[3]}-${dmy[2]}-${dmy[1]}`;
  const payer = pick('payer_reference', 'reference_number');
  const reference =
    pick(
      'invoice_reference',
      'credit_note_reference',
      'payment_reference',
      'refunds.id',
      'payments.id',
      'payment_id',
    ) ?? (payer && date && isValidDate(date) ? `SD-${payer}-${date}` : payer);
  return {
    reference: reference?.slice(0, 50) ?? null,
    customer: pick('customer_id', 'customers.id', 'links.customer') ?? payer,
    date: date && isValidDate(date) ? date : null,
  };
}

/**
 * Documents the source sent that were parked and never posted (still open, or closed by hand):
 * they never reached `source_documents`, so they are read back from their exceptions. A record
 * the exception holds gives date, customer and amount; a bad import row gives only its id and the
 * day it was parked. Also returns the latest exception of every record, for the reasons.
 */
export async function loadUnpostedDocs(
  db: Queryable,
  pipelineId: string,
): Promise<{ docs: SourceDoc[]; exceptions: Map<string, ExceptionRef> }> {
  const { rows } = await db.query<{
    id: string;
    kind: SourceKind;
    source_id: string;
    status: 'open' | 'resolved';
    reason_code: string;
    message: string;
    payload: { record?: unknown } | null;
    created: string;
    posted: boolean;
    summary: boolean;
  }>(
    `SELECT DISTINCT ON (x.kind, x.source_id) x.id, x.kind, x.source_id, x.status, x.reason_code, x.message, x.payload, x.created_at::date::text AS created,
            EXISTS (SELECT 1 FROM sync_map m WHERE m.pipeline_id = x.pipeline_id AND m.kind = x.kind AND m.source_id = x.source_id)
              OR EXISTS (SELECT 1 FROM source_documents d WHERE d.pipeline_id = x.pipeline_id AND d.kind = x.kind AND d.source_id = x.source_id) AS posted,
            x.source_id IN (SELECT d.summarized_in FROM source_documents d WHERE d.pipeline_id = $1 AND d.summarized_in IS NOT NULL) AS summary
       FROM exceptions x
      WHERE x.pipeline_id = $1 AND x.kind IN ('invoice', 'creditNote', 'payment', 'refund')
      ORDER BY x.kind, x.source_id, x.id DESC`,
    [pipelineId],
  );
  const exceptions = new Map<string, ExceptionRef>();
  const docs: SourceDoc[] = [];
  const pending: { doc: SourceDoc; customerSourceId: string | null }[] = [];
  for (const r of rows) {
    const ref: ExceptionRef = { id: Number(r.id), status: r.status, reasonCode: r.reason_code, message: r.message };
    exceptions.set(`${r.kind}\u0000${r.source_id}`, ref);
    // Posted later, or a daily summary whose sales stand for it: not a missing document of its own.
    if (r.posted || r.summary) continue;
    const parsed = CanonicalRecord.safeParse(r.payload?.record);
    const rec =
      parsed.success &&
      (parsed.data.kind === 'invoice' ||
        parsed.data.kind === 'creditNote' ||
        parsed.data.kind === 'payment' ||
        parsed.data.kind === 'refund')
        ? parsed.data
        : null;
    let gross: bigint | null = null;
    if (rec?.kind === 'invoice') gross = canonicalGross(rec);
    else if (rec?.kind === 'creditNote') gross = canonicalGross(creditNoteAsInvoice(rec));
    else if (rec?.kind === 'payment' || rec?.kind === 'refund') {
      const v = parseAmount(rec.amount, rec.currency);
      gross = v.ok ? v.value : null;
    }
    const row = rec ? null : importedRow(r.payload);
    const doc: SourceDoc = {
      kind: r.kind,
      sourceId: r.source_id,
      externalReference: rec?.externalReference ?? row?.reference ?? null,
      customerCode: null,
      customerSourceId: rec?.customerSourceId ?? row?.customer ?? null,
      date: rec ? (rec.kind === 'invoice' ? rec.invoiceDate : rec.date) : (row?.date ?? r.created),
      ...(!rec && !row?.date ? { dateIsParkedDay: true as const } : {}),
      currency: rec?.currency ?? null,
      gross,
      targetId: null,
      summarizedIn: null,
      exception: ref,
      daily: false,
      fee: null,
    };
    docs.push(doc);
    pending.push({ doc, customerSourceId: doc.customerSourceId });
  }
  const ids = [...new Set(pending.map((p) => p.customerSourceId).filter((x): x is string => x !== null))];
  if (ids.length) {
    const { rows: codes } = await db.query<{ source_id: string; target_id: string }>(
      `SELECT source_id, target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'customer' AND source_id = ANY($2::text[])`,
      [pipelineId, ids],
    );
    const byId = new Map(codes.map((c) => [c.source_id, c.target_id]));
    for (const p of pending) p.doc.customerCode = p.customerSourceId ? (byId.get(p.customerSourceId) ?? null) : null;
  }
  return { docs, exceptions };
}

/**
 * The key of a target document the pipeline booked: its kind and id. A platform may number kinds
 * apart (FreshBooks' invoices and payments), so that an invoice and a
 * payment of one pipeline can have the same id.
 */
export const bookedKey = (kind: SourceKind, id: string): string => `${kind}\u0000${id}`;

/**
 * The target's documents the pipeline's documents were booked as (each id with the kind it was
 * booked as), by `bookedKey`, payments with the provider fee the target holds for them where it
 * can tell. They are asked for a kind at a time (`documents(…, { kind })`), so that a target
 * numbering kinds apart reads each id as the kind it was booked as. A target that cannot list what
 * it holds (reconciliation capability off) is compared with what it acknowledged: the documents
 * as they were sent, under the ids it answered (their fees unknown). `onPage` is told how many ids
 * have been read so far, after each page of `TARGET_READ_PAGE`.
 */
export async function loadTransactions(
  db: Queryable,
  pipelineId: string,
  target: TargetConnector,
  ctx: TargetCallContext,
  booked: { id: string; kind: SourceKind }[],
  onPage?: (read: number) => void,
): Promise<Map<string, TargetDoc>> {
  const ids = [...new Set(booked.map((b) => b.id))];
  if (ids.length === 0) return new Map();
  if (!target.documents || !target.capabilities.reconciliation) {
    const { rows } = await db.query<{
      target_id: string;
      kind: SourceKind;
      customer_code: string;
      currency: string;
      date: string;
      gross: string;
      external_reference: string;
      number: string | null;
    }>(
      `SELECT DISTINCT ON (m.kind, m.target_id) m.target_id, sd.kind, sd.customer_code, trim(sd.currency) AS currency,
              sd.document_date::text AS date, sd.gross::text AS gross, sd.external_reference, m.target_number AS number
         FROM sync_map m JOIN source_documents sd ON sd.pipeline_id = m.pipeline_id AND sd.kind = m.kind AND sd.source_id = m.source_id
        WHERE m.pipeline_id = $1 AND m.kind IN ('invoice', 'creditNote', 'payment', 'refund') AND m.target_id = ANY($2::text[])
        ORDER BY m.kind, m.target_id, sd.first_seen_at`,
      [pipelineId, ids],
    );
    onPage?.(ids.length);
    return new Map(
      rows.map((r) => [
        bookedKey(r.kind, r.target_id),
        {
          id: r.target_id,
          kind: r.kind,
          customerCode: r.customer_code,
          currency: r.currency,
          date: r.date,
          gross: BigInt(r.gross),
          externalReference: r.external_reference,
          items: 1,
          label: labelOf(r.kind, r.number ?? r.target_id, r.external_reference),
        },
      ]),
    );
  }
  const out = new Map<string, TargetDoc>();
  let read = 0;
  const kindsOf = new Map<string, Set<SourceKind>>();
  for (const b of booked) kindsOf.set(b.id, (kindsOf.get(b.id) ?? new Set()).add(b.kind));
  for (const { kind, of } of readGroups(booked, kindsOf))
    for (const page of chunks(of, TARGET_READ_PAGE)) {
      for (const [id, d] of await target.documents(ctx, page, { fees: true, ...(kind ? { kind } : {}) })) {
        // Read without a kind (payments and refunds together): the one of them it was booked as.
        const as = kind ?? (kindsOf.get(id)?.has('refund') ? 'refund' : 'payment');
        const t = toTarget(d, as);
        if (t) out.set(bookedKey(as, id), t);
      }
      read += page.length;
      onPage?.(read);
    }
  return out;
}

const isMoney = (kind: SourceKind) => kind === 'payment' || kind === 'refund';

/**
 * The calls that read what the pipeline booked: invoices, credit notes, and payments with refunds
 * together, each call naming its kind where it holds one (`documents(…, { kind })`). Payments and
 * refunds go together because a platform may find a refund only beside its payment (Zoho Books
 * lists a payment's refunds under it); an id booked as both (a platform numbering them apart) is
 * read a kind at a time.
 */
function readGroups(
  booked: { id: string; kind: SourceKind }[],
  kindsOf: ReadonlyMap<string, ReadonlySet<SourceKind>>,
): { kind: SourceKind | undefined; of: string[] }[] {
  const of = (kind: SourceKind) => [...new Set(booked.filter((b) => b.kind === kind).map((b) => b.id))];
  const both = new Set([...kindsOf].filter(([, k]) => k.has('payment') && k.has('refund')).map(([id]) => id));
  const money = [...new Set([...of('payment'), ...of('refund')])].filter((id) => !both.has(id));
  const moneyKinds = new Set(money.flatMap((id) => [...kindsOf.get(id)!].filter(isMoney)));
  return [
    { kind: 'invoice' as const, of: of('invoice') },
    { kind: 'creditNote' as const, of: of('creditNote') },
    { kind: moneyKinds.size === 1 ? [...moneyKinds][0] : undefined, of: money },
    { kind: 'payment' as const, of: of('payment').filter((id) => both.has(id)) },
    { kind: 'refund' as const, of: of('refund').filter((id) => both.has(id)) },
  ].filter((g) => g.of.length > 0);
}

/**
 * Invoices, credit notes, payments and refunds dated in [from, to] that no pipeline of the entity booked into this kind
 * of target, of the pipeline's customers or carrying one of its references: typed in by hand, or
 * imported some other way. Documents another pipeline booked are that pipeline's to reconcile.
 */
export async function loadUnlinkedTransactions(
  db: Queryable,
  target: TargetConnector,
  ctx: TargetCallContext,
  pipeline: { id: string; entityId: string; targetType: string },
  from: string,
  to: string,
): Promise<TargetDoc[]> {
  if (!target.unlinkedDocuments) return [];
  const customerTargetIds = await loadPipelineCustomers(db, pipeline.id);
  const { rows: refs } = await db.query<{ r: string }>(
    `SELECT DISTINCT external_reference AS r FROM source_documents WHERE pipeline_id = $1 AND external_reference <> ''`,
    [pipeline.id],
  );
  const { rows: linked } = await db.query<{ target_id: string }>(
    `SELECT m.target_id FROM sync_map m JOIN pipelines p ON p.id = m.pipeline_id
      WHERE p.entity_id = $1 AND p.target_type = $2 AND m.kind IN ('invoice', 'creditNote', 'payment', 'refund')`,
    [pipeline.entityId, pipeline.targetType],
  );
  const docs = await target.unlinkedDocuments(
    ctx,
    { customerTargetIds, references: refs.map((r) => r.r), linkedTargetIds: linked.map((l) => l.target_id) },
    from,
    to,
  );
  return docs.map((d) => toTarget(d)).filter((d): d is TargetDoc => d !== null);
}

/**
 * What the source says each customer owes as at `to`: its invoices less its credit notes and
 * payments, by customer and currency. Refunds the pipeline booked are added as booked (the source's own refund
 * amounts are not recorded yet), so that refunding a payment does not read as a difference: by what
 * each added to the customer's balance in the target (`balanceEffect`, else its gross).
 */
export async function loadSourceBalances(
  db: Queryable,
  target: TargetConnector,
  ctx: TargetCallContext,
  pipelineId: string,
  to: string,
): Promise<{ customerCode: string; currency: string; balance: bigint }[]> {
  const { rows } = await db.query<{ customer_code: string; currency: string; balance: string }>(
    `SELECT sd.customer_code, trim(sd.currency) AS currency, sum(CASE sd.kind WHEN 'invoice' THEN sd.gross ELSE -sd.gross END)::text AS balance
       FROM source_documents sd
      WHERE sd.pipeline_id = $1 AND sd.kind IN ('invoice', 'creditNote', 'payment') AND sd.customer_code IS NOT NULL AND sd.document_date <= $2::date AND ${NOT_A_SUMMARY}
      GROUP BY sd.customer_code, trim(sd.currency)`,
    [pipelineId, to],
  );
  const sums = new Map(rows.map((r) => [`${r.customer_code}\u0000${r.currency}`, BigInt(r.balance)]));
  if (target.documents) {
    const { rows: refunds } = await db.query<{ target_id: string }>(
      `SELECT target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'refund'`,
      [pipelineId],
    );
    for (const page of chunks(
      refunds.map((r) => r.target_id),
      TARGET_READ_PAGE,
    ))
      for (const d of (await target.documents(ctx, page, { kind: 'refund' })).values()) {
        if (d.date > to) continue;
        const key = `${d.customerTargetId}\u0000${d.currency}`;
        sums.set(key, (sums.get(key) ?? 0n) + (d.balanceEffect ?? d.gross));
      }
  }
  return [...sums]
    .map(([key, balance]) => {
      const [customerCode, currency] = key.split('\u0000') as [string, string];
      return { customerCode, currency, balance };
    })
    .sort((a, b) =>
      a.customerCode === b.customerCode
        ? a.currency.localeCompare(b.currency)
        : a.customerCode < b.customerCode
          ? -1
          : 1,
    );
}

/** Every ledger customer code the pipeline has created or linked. */
export async function loadPipelineCustomers(db: Queryable, pipelineId: string): Promise<string[]> {
  const { rows } = await db.query<{ code: string }>(
    `SELECT target_id AS code FROM sync_map WHERE pipeline_id = $1 AND kind = 'customer'
     UNION SELECT customer_code FROM source_documents WHERE pipeline_id = $1 AND customer_code IS NOT NULL ORDER BY 1`,
    [pipelineId],
  );
  return rows.map((r) => r.code);
}
