import type { Queryable } from '../../db/database.ts';
import { formatAmount, parseAmount } from '../../domain/money.ts';
import type { CanonicalAllocation, CanonicalRefund } from '../canonical.ts';

/*
 * A document the source sends again after it was booked is skipped: a posted document never
 * changes. When what the source now says differs from what it said when the document was booked
 * (its date, currency or gross, as `source_documents` holds them), the skip says so in the run, and
 * the source side of reconciliation takes the new figures (its customer and reference untouched),
 * so that the difference shows there, an amount or date mismatch, until a correction is booked.
 * Without this a changed document went by as "already posted" and the books disagreed with the
 * sales system with nothing to say so.
 */

/** What a re-sent, already booked document says now. */
export interface Resent {
  kind: 'invoice' | 'creditNote' | 'payment';
  sourceId: string;
  date: string;
  currency: string;
  /** Minor units; null when it cannot be worked out (the document is then not compared). */
  gross: bigint | null;
}

/** The skip's words for a document the source changed after it was booked. */
export function changedSinceBooked(change: string): string {
  return `already posted; the source has changed it since (${change}): a posted document never changes, so book the correction (a credit note or another document); reconciliation shows the difference until then`;
}

/*
 * Allocations and refunds are not in `source_documents`: what each was booked as is kept in its map
 * entry (`sync_map.fingerprint`, as JSON of the fields below), and a copy sent again is compared
 * with it. Entries made before 2026-12-05 kept nothing, and are not compared.
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

/** What is kept in the map entry. */
export const keepBooked = (booked: Booked): string => JSON.stringify(booked);

/** What changed since it was booked, in words ("amount EUR 50.00 → EUR 60.00"), or null. */
export function changedFrom(kept: string | null | undefined, now: Booked): string | null {
  if (!kept?.startsWith('{')) return null;
  let was: Record<string, unknown>;
  try {
    was = JSON.parse(kept) as Record<string, unknown>;
  } catch {
    return null;
  }
  const said = Object.entries(now)
    .filter(([field, value]) => typeof was[field] === 'string' && was[field] !== value)
    .map(([field, value]) => `${field} ${String(was[field])} → ${value}`);
  return said.length > 0 ? said.join(', ') : null;
}

/** The skip's words for an allocation the source changed after it was made. */
export function allocationChanged(change: string): string {
  return `already allocated; the source has changed it since (${change}): an allocation made is not changed here, so reverse it and allocate again in the target if the source's is right`;
}

/** The skip's words for a refund the source changed after it was booked. */
export function refundChanged(change: string): string {
  return `already posted; the source has changed it since (${change}): a refund booked is not changed, so book the difference in the target (another refund, or its reversal)`;
}

/**
 * The re-sent documents that differ from what was booked, by source id, each with the change in
 * words ("gross EUR 121.00 → EUR 131.00"); the source side of reconciliation is brought up to date.
 */
export async function changesSinceBooked(
  db: Queryable,
  pipelineId: string,
  docs: Resent[],
): Promise<Map<string, string>> {
  const changes = new Map<string, string>();
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
    if (was.currency !== d.currency || BigInt(was.gross) !== d.gross)
      said.push(
        `gross ${was.currency} ${formatAmount(BigInt(was.gross), was.currency)} → ${d.currency} ${formatAmount(d.gross, d.currency)}`,
      );
    if (was.date !== d.date) said.push(`date ${was.date} → ${d.date}`);
    if (said.length === 0) continue;
    changes.set(d.sourceId, said.join(', '));
    changed.push(d);
  }
  if (changed.length > 0)
    await db.query(
      `UPDATE source_documents sd
          SET document_date = c.date, currency = c.currency, gross = c.gross, last_seen_at = now()
         FROM unnest($2::text[], $3::text[], $4::date[], $5::text[], $6::bigint[]) AS c(kind, source_id, date, currency, gross)
        WHERE sd.pipeline_id = $1 AND sd.kind = c.kind AND sd.source_id = c.source_id`,
      [
        pipelineId,
        changed.map((d) => d.kind),
        changed.map((d) => d.sourceId),
        changed.map((d) => d.date),
        changed.map((d) => d.currency),
        changed.map((d) => d.gross),
      ],
    );
  return changes;
}
