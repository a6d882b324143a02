import type { Queryable } from '../../db/database.ts';
import { formatAmount, parseAmount } from '../../domain/money.ts';
import type { CanonicalAllocation, CanonicalPayment, CanonicalRefund } from '../canonical.ts';
import type { ReasonCode } from '../reasons.ts';
import type { PageOutcome } from './context.ts';

/*
 * A document the source sends again after it was booked is not booked again: a posted document
 * never changes. When what the source now says differs from what it said when the document was
 * booked (its date, currency or gross, as `source_documents` holds them), it is parked for a
 * person (INVOICE_ALREADY_POSTED_CHANGED and its kin: book the correction, then resolve it), and
 * the source side of reconciliation takes the new figures (its customer and reference untouched),
 * so that the difference shows there, an amount or date mismatch, until a correction is booked.
 * The new figures are kept, so a change is parked once, not again each time the source sends
 * the same document (which a resolved exception would otherwise reopen). Without this a changed
 * document went by as "already posted" and the books disagreed with the sales system with
 * nothing to say so.
 */

/** The kinds of document a change after booking is parked for, and their reason codes. */
export const CHANGED_AFTER_BOOKING = {
  invoice: 'INVOICE_ALREADY_POSTED_CHANGED',
  creditNote: 'CREDIT_NOTE_ALREADY_POSTED_CHANGED',
  payment: 'PAYMENT_ALREADY_POSTED_CHANGED',
  refund: 'REFUND_ALREADY_POSTED_CHANGED',
  allocation: 'ALLOCATION_ALREADY_MADE_CHANGED',
} as const satisfies Record<string, ReasonCode>;

export type ChangedKind = keyof typeof CHANGED_AFTER_BOOKING;

/** What changed since it was booked: in words ("gross EUR 121.00 → EUR 133.10"), and the record's field at fault (the first). */
export interface Change {
  said: string;
  field: string;
}

/** What a person does about each kind's change. */
const REMEDY: Record<ChangedKind, string> = {
  invoice: 'a posted invoice never changes, so book the difference (a credit note or a further invoice)',
  creditNote: 'a posted credit note never changes, so book the difference (a further credit note, or an invoice)',
  payment:
    'a posted payment never changes, so book the difference (a further payment, or a refund; a fee, by correcting the fee the target holds for it: in the embedded ledger, reverse its fee journal and record the right one, PUT /v1/transactions/{id}/fee)',
  refund: 'a refund booked is not changed, so book the difference in the target (another refund, or its reversal)',
  allocation:
    'an allocation made is not changed here, so reverse it and allocate again in the target if the source’s is right',
};

/**
 * Parks a document the source changed after it was booked. The exception holds what the source
 * sent (`received`), not a record to retry: nothing is sent again, and a person books the
 * correction, then resolves it.
 */
export function parkChanged(
  out: PageOutcome,
  kind: ChangedKind,
  input: { record: { sourceId: string }; raw?: unknown },
  targetId: string,
  change: Change,
): void {
  const reconciled = kind !== 'allocation';
  out.park({
    kind,
    sourceId: input.record.sourceId,
    reasonCode: CHANGED_AFTER_BOOKING[kind],
    message: `Booked (target id ${targetId}), and the source has changed it since (${change.said}): ${REMEDY[kind]}, then resolve this${reconciled ? '; reconciliation shows the difference until then' : ''}`,
    field: change.field,
    payload: { received: input.record, raw: input.raw ?? null, booked: { targetId } },
  });
}

/** What a re-sent, already booked document says now. */
export interface Resent {
  kind: 'invoice' | 'creditNote' | 'payment';
  sourceId: string;
  date: string;
  currency: string;
  /** Minor units; null when it cannot be worked out (the document is then not compared). */
  gross: bigint | null;
}

/*
 * Allocations and refunds are told changed by their map entry: what each was booked as is kept
 * there (`sync_map.fingerprint`, as JSON of the fields below; once a change is parked, what the
 * source said then), and a copy sent again is compared with it. Entries made before 2026-12-05
 * kept nothing, and are not compared. Refunds booked from 2026-12-06 on are also in
 * `source_documents`, for reconciliation, which takes a parked change's new figures like the others'.
 */

/** The fields of an allocation or a refund as booked, in words. */
export type Booked = Record<string, string>;

const money = (amount: string, currency: string) => {
  const parsed = parseAmount(amount, currency);
  return `${currency} ${parsed.ok ? formatAmount(parsed.value, currency) : amount}`;
};

export const allocationAsBooked = (a: CanonicalAllocation): Booked => ({
  amount: money(a.amount, a.currency),
  date: a.date,
  invoice: a.invoiceExternalReference,
  from: `${a.from} ${a.fromExternalReference}`,
});

export const refundAsBooked = (r: CanonicalRefund): Booked => ({
  amount: money(r.amount, r.currency),
  date: r.date,
  payment: r.paymentExternalReference ?? '',
});

/**
 * A payment's provider fee as booked, kept in its map entry (its date, currency and amount are
 * compared through `source_documents`). Payments booked before 2026-12-06 kept none: their fee is
 * not compared.
 */
export const paymentFeeAsBooked = (p: CanonicalPayment): Booked => ({
  fee: money(p.fee ?? '0', p.currency),
});

/** What is kept in the map entry. */
export const keepBooked = (booked: Booked): string => JSON.stringify(booked);

/**
 * A payment's provider fee as its map entry keeps it (`paymentFeeAsBooked`; once a change of the
 * payment is parked, what the source sent then, so the newest): its currency and minor units, 0
 * for none. Null when the entry kept none (payments booked before 2026-12-06) or holds a fee that
 * does not read as an amount: reconciliation then does not compare the fee.
 */
export function keptFee(kept: string | null | undefined): { currency: string; amount: bigint } | null {
  if (!kept?.startsWith('{')) return null;
  let fee: unknown;
  try {
    fee = (JSON.parse(kept) as Record<string, unknown>).fee;
  } catch {
    return null;
  }
  const m = typeof fee === 'string' ? /^([A-Z]{3}) (\S+)$/.exec(fee) : null;
  if (!m) return null;
  const parsed = parseAmount(m[2]!, m[1]!);
  return parsed.ok && parsed.value >= 0n ? { currency: m[1]!, amount: parsed.value } : null;
}

/** The record's field each kept field is read from. */
const FIELD_OF: Record<string, string> = {
  amount: 'amount',
  date: 'date',
  invoice: 'invoiceExternalReference',
  from: 'fromExternalReference',
  payment: 'paymentExternalReference',
  fee: 'fee',
};

/** What changed since it was booked ("amount EUR 50.00 → EUR 60.00"), or null. */
export function changedFrom(kept: string | null | undefined, now: Booked): Change | null {
  if (!kept?.startsWith('{')) return null;
  let was: Record<string, unknown>;
  try {
    was = JSON.parse(kept) as Record<string, unknown>;
  } catch {
    return null;
  }
  const fields = Object.entries(now).filter(([field, value]) => typeof was[field] === 'string' && was[field] !== value);
  if (fields.length === 0) return null;
  return {
    said: fields.map(([field, value]) => `${field} ${String(was[field])} → ${value}`).join(', '),
    field: FIELD_OF[fields[0]![0]] ?? fields[0]![0],
  };
}

/**
 * Keeps what the source now says of allocations, refunds or payments' fees whose change was parked, so that the
 * same change is not parked again each time the source sends them; with the page's outcome.
 */
export function keepChanged(
  out: PageOutcome,
  pipelineId: string,
  kind: 'allocation' | 'refund' | 'payment',
  now: { sourceId: string; booked: Booked }[],
): void {
  if (now.length === 0) return;
  out.saves.push((tx) =>
    tx.query(
      `UPDATE sync_map m SET fingerprint = c.fingerprint
         FROM unnest($3::text[], $4::text[]) AS c(source_id, fingerprint)
        WHERE m.pipeline_id = $1 AND m.kind = $2 AND m.source_id = c.source_id`,
      [pipelineId, kind, now.map((n) => n.sourceId), now.map((n) => keepBooked(n.booked))],
    ),
  );
}

/**
 * Brings the source side of reconciliation up to what the source now says of documents whose
 * change was parked (refunds: their change is told by the map entry), with the page's outcome.
 * Only rows already there are updated; a figure that cannot be worked out is left as it was.
 */
export function keepChangedFigures(
  out: PageOutcome,
  pipelineId: string,
  docs: { kind: string; sourceId: string; date: string; currency: string; gross: bigint | null }[],
): void {
  const usable = docs.filter((d): d is (typeof docs)[number] & { gross: bigint } => d.gross !== null);
  if (usable.length === 0) return;
  out.saves.push((tx) =>
    tx.query(
      `UPDATE source_documents sd
          SET document_date = c.date, currency = c.currency, gross = c.gross, last_seen_at = now()
         FROM unnest($2::text[], $3::text[], $4::date[], $5::text[], $6::bigint[]) AS c(kind, source_id, date, currency, gross)
        WHERE sd.pipeline_id = $1 AND sd.kind = c.kind AND sd.source_id = c.source_id`,
      [
        pipelineId,
        usable.map((d) => d.kind),
        usable.map((d) => d.sourceId),
        usable.map((d) => d.date),
        usable.map((d) => d.currency),
        usable.map((d) => d.gross),
      ],
    ),
  );
}

/**
 * The re-sent documents that differ from what was booked, by source id, each with the change in
 * words ("gross EUR 121.00 → EUR 131.00"); the source side of reconciliation is brought up to date,
 * so the next copy with the same figures is not a change.
 */
export async function changesSinceBooked(
  db: Queryable,
  pipelineId: string,
  docs: Resent[],
  out: PageOutcome,
): Promise<Map<string, Change>> {
  const changes = new Map<string, Change>();
  const usable = docs.filter((d): d is Resent & { gross: bigint } => d.gross !== null);
  if (usable.length === 0) return changes;
  const { rows } = await db.query<{ kind: string; source_id: string; date: string; currency: string; gross: string }>(
    `SELECT sd.kind, sd.source_id, sd.document_date::text AS date, trim(sd.currency) AS currency, sd.gross::text AS gross
       FROM source_documents sd
       JOIN unnest($2::text[], $3::text[]) AS d(kind, source_id) ON d.kind = sd.kind AND d.source_id = sd.source_id
      WHERE sd.pipeline_id = $1`,
    [pipelineId, usable.map((d) => d.kind), usable.map((d) => d.sourceId)],
  );
  const booked = new Map(rows.map((r) => [`${r.kind}\u0000${r.source_id}`, r]));
  const changed: (typeof usable)[number][] = [];
  for (const d of usable) {
    const was = booked.get(`${d.kind}\u0000${d.sourceId}`);
    if (!was) continue;
    const said: string[] = [];
    const fields: string[] = [];
    if (was.currency !== d.currency || BigInt(was.gross) !== d.gross) {
      said.push(
        `gross ${was.currency} ${formatAmount(BigInt(was.gross), was.currency)} → ${d.currency} ${formatAmount(d.gross, d.currency)}`,
      );
      fields.push(BigInt(was.gross) !== d.gross ? (d.kind === 'payment' ? 'amount' : 'lines') : 'currency');
    }
    if (was.date !== d.date) {
      said.push(`date ${was.date} → ${d.date}`);
      fields.push(d.kind === 'invoice' ? 'invoiceDate' : 'date');
    }
    if (said.length === 0) continue;
    changes.set(d.sourceId, { said: said.join(', '), field: fields[0]! });
    changed.push(d);
  }
  // Kept with the page's outcome, in the transaction that parks the changes: a crash loses both.
  keepChangedFigures(out, pipelineId, changed);
  return changes;
}
