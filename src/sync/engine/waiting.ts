import type { Queryable } from '../../db/database.ts';
import { storable, storableJson } from '../../domain/storable.ts';
import type { Needs, ParkedRecord, WaitsFor } from '../exceptions.ts';
import type { ExceptionCode } from '../reasons.ts';
import type { PageOutcome, SyncContext } from './context.ts';

/*
 * Dependants wait; they are not parked for what is only late.
 *
 * A remote target may take a customer, or an invoice, only on a later attempt (a timeout, a 429,
 * a lost answer: the document waits in the outbox for its retry). What depends on it (the invoices
 * of that customer, the payment and the allocations of that invoice) is then held in
 * `held_records`, naming the one item it waits for, instead of being parked for a person to retry.
 * At the end of every run and on the workers' timer, once that item is no longer pending, the
 * held records are run through the engine again (`releaseHeld`, src/sync/engine/deliveries.ts):
 * booked now, held again behind something else, or parked with the reason of the moment (the item
 * they waited for was refused, say). The embedded ledger books in one transaction and never holds.
 */

/** Why a customer or product a document refers to cannot be had; `waitsFor` when it only waits. */
export interface Unavailability {
  reasonCode: ExceptionCode;
  message: string;
  waitsFor?: WaitsFor | undefined;
}

export type Unavailable = Map<string, Unavailability>;

/**
 * Why a document cannot have the customer or product it names (by its source id): what it waits
 * for while that only waits for a retry; otherwise what it needs booked to run again by itself.
 */
export function lacking(
  ctx: SyncContext,
  unavailable: Unavailable,
  kind: 'customer' | 'product',
  sourceId: string,
): Unavailability & { needs: Needs } {
  const why = unavailable.get(kind === 'customer' ? sourceId : `product:${sourceId}`) ?? {
    reasonCode: kind === 'customer' ? 'CUSTOMER_NOT_SYNCED' : 'PRODUCT_NOT_SYNCED',
    message: `${kind === 'customer' ? 'Customer' : 'Product'} ${sourceId} is not in the ${ctx.target.type} target`,
  };
  return { ...why, needs: { kind, sourceId } };
}

/**
 * Marks the customers (or products) a page could not have that only wait for a retry in the
 * target: the documents that need them are held behind them, not parked.
 */
export async function markPending(
  ctx: SyncContext,
  kind: 'customer' | 'product',
  missing: Unavailable,
  notSynced: ExceptionCode,
): Promise<void> {
  if (ctx.target.transactional) return;
  const ids = [...missing].filter(([, why]) => why.reasonCode === notSynced).map(([id]) => id);
  if (ids.length === 0) return;
  const { rows } = await ctx.db.query<{ source_id: string }>(
    `SELECT source_id FROM outbox
      WHERE pipeline_id = $1 AND direction = 'target' AND kind = $2 AND status = 'pending' AND source_id = ANY($3::text[])`,
    [ctx.pipeline.id, kind, ids],
  );
  const label = kind === 'customer' ? 'Customer' : 'Product';
  for (const { source_id: id } of rows)
    missing.set(id, {
      reasonCode: notSynced,
      message: `${label} ${id} waits for a retry in the ${ctx.target.type} target; this is sent once it is there`,
      waitsFor: { kind, sourceId: id },
    });
}

/** A document a dependant names: by its customer (in the target and in the source) and reference. */
export interface DocumentKey {
  customerTargetId: string;
  customerSourceId: string;
  reference: string;
}

/** How a named document is looked up: by its customer in the target and its reference. */
export const documentKey = (customerTargetId: string, reference: string) => `${customerTargetId}\u0000${reference}`;
const keyOf = documentKey;

/**
 * The documents of a kind this pipeline has on their way to the target but not booked: waiting in
 * the outbox for a retry, or held themselves (earlier, or in this page). What a dependant that
 * names one waits for, by `customerTargetId` and reference.
 */
export async function onTheirWay(
  ctx: SyncContext,
  out: PageOutcome,
  kind: 'invoice' | 'creditNote' | 'payment',
  keys: DocumentKey[],
): Promise<Map<string, WaitsFor>> {
  const found = new Map<string, WaitsFor>();
  if (ctx.target.transactional || keys.length === 0) return found;
  const { rows: pending } = await ctx.db.query<{ source_id: string; customer: string; reference: string }>(
    `SELECT source_id, payload->'doc'->>'customerTargetId' AS customer, payload->'doc'->'record'->>'externalReference' AS reference
       FROM outbox
      WHERE pipeline_id = $1 AND direction = 'target' AND kind = $2 AND status = 'pending'
        AND (payload->'doc'->>'customerTargetId', payload->'doc'->'record'->>'externalReference')
            IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
    [ctx.pipeline.id, kind, keys.map((k) => k.customerTargetId), keys.map((k) => k.reference)],
  );
  for (const r of pending) found.set(keyOf(r.customer, r.reference), { kind, sourceId: r.source_id });
  // A held document is known by its customer in the source: it may not be in the target yet.
  const bySource = new Map(keys.map((k) => [`${k.customerSourceId}\u0000${k.reference}`, k.customerTargetId]));
  const held = (customerSourceId: string, reference: string, sourceId: string) => {
    const customerTargetId = bySource.get(`${customerSourceId}\u0000${reference}`);
    if (customerTargetId !== undefined && !found.has(keyOf(customerTargetId, reference)))
      found.set(keyOf(customerTargetId, reference), { kind, sourceId });
  };
  for (const h of out.held) {
    const record = (h.payload as { record?: { customerSourceId?: string; externalReference?: string } }).record;
    if (h.kind === kind && record?.customerSourceId && record.externalReference)
      held(record.customerSourceId, record.externalReference, h.sourceId);
  }
  const { rows: earlier } = await ctx.db.query<{ source_id: string; customer: string; reference: string }>(
    `SELECT source_id, payload->'record'->>'customerSourceId' AS customer, payload->'record'->>'externalReference' AS reference
       FROM held_records
      WHERE pipeline_id = $1 AND kind = $2
        AND (payload->'record'->>'customerSourceId', payload->'record'->>'externalReference')
            IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
    [ctx.pipeline.id, kind, keys.map((k) => k.customerSourceId), keys.map((k) => k.reference)],
  );
  for (const r of earlier) held(r.customer, r.reference, r.source_id);
  return found;
}

/**
 * The documents of a kind this pipeline has parked, not booked: an open exception (refused, failed
 * for good, or lacking something itself), or parked earlier in this page. A dependant that names
 * one is parked too, needing it booked (it then runs again by itself), rather than go without it:
 * a payment booked unallocated would stay so when its invoice is booked after all. By
 * `customerTargetId` and reference, as onTheirWay.
 */
export async function parkedHere(
  ctx: SyncContext,
  out: PageOutcome,
  kind: 'invoice' | 'creditNote' | 'payment',
  keys: DocumentKey[],
): Promise<Set<string>> {
  const found = new Set<string>();
  if (keys.length === 0) return found;
  // A parked document is known by its customer in the source: it may not be in the target at all.
  const bySource = new Map(keys.map((k) => [`${k.customerSourceId}\u0000${k.reference}`, k.customerTargetId]));
  const parked = (customerSourceId: string, reference: string) => {
    const customerTargetId = bySource.get(`${customerSourceId}\u0000${reference}`);
    if (customerTargetId !== undefined) found.add(keyOf(customerTargetId, reference));
  };
  for (const p of out.parked) {
    const record = (p.payload as { record?: { customerSourceId?: string; externalReference?: string } }).record;
    if (p.kind === kind && record?.customerSourceId && record.externalReference)
      parked(record.customerSourceId, record.externalReference);
  }
  const { rows } = await ctx.db.query<{ customer: string; reference: string }>(
    `SELECT DISTINCT payload->'record'->>'customerSourceId' AS customer, payload->'record'->>'externalReference' AS reference
       FROM exceptions
      WHERE pipeline_id = $1 AND kind = $2 AND status = 'open'
        AND (payload->'record'->>'customerSourceId', payload->'record'->>'externalReference')
            IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
    [ctx.pipeline.id, kind, keys.map((k) => k.customerSourceId), keys.map((k) => k.reference)],
  );
  for (const r of rows) parked(r.customer, r.reference);
  return found;
}

/**
 * Keeps `held_records` in step with a page's outcome, in its transaction: the records it held are
 * saved (again, with what they wait for now), and those it booked, parked or sent are no longer held.
 */
export async function saveHeld(
  db: Queryable,
  pipelineId: string,
  out: PageOutcome,
  runId: string | null,
): Promise<void> {
  const held = new Map<string, ParkedRecord>();
  for (const h of out.held) held.set(`${h.kind}\u0000${h.sourceId}`, h);
  const settled = new Map<string, { kind: string; sourceId: string }>();
  for (const r of [...out.records, ...out.parked]) {
    const key = `${r.kind}\u0000${r.sourceId}`;
    if (!held.has(key)) settled.set(key, r);
  }
  if (settled.size > 0)
    await db.query(
      `DELETE FROM held_records
        WHERE pipeline_id = $1 AND (kind, source_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
      [pipelineId, [...settled.values()].map((s) => s.kind), [...settled.values()].map((s) => s.sourceId)],
    );
  if (held.size === 0) return;
  const rows = [...held.values()];
  // A parked record run again (a person's retry) that now only waits: its exception says so.
  await db.query(
    `UPDATE exceptions x SET reason_code = h.reason_code, message = h.message, field = h.field, updated_at = now(),
            needs_kind = NULL, needs_source_id = NULL, needs_customer = NULL, needs_reference = NULL
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS h(kind, source_id, reason_code, message, field)
      WHERE x.pipeline_id = $1 AND x.status = 'open' AND x.kind = h.kind AND x.source_id = h.source_id`,
    [
      pipelineId,
      rows.map((r) => r.kind),
      rows.map((r) => storable(r.sourceId)),
      rows.map((r) => r.reasonCode),
      rows.map((r) => storable(`waiting: ${r.message}`.slice(0, 2000))),
      rows.map((r) => (r.field === undefined || r.field === null ? null : storable(r.field))),
    ],
  );
  await db.query(
    `INSERT INTO held_records (pipeline_id, kind, source_id, waits_for_kind, waits_for, reason_code, message, field, payload, run_id)
     SELECT $1, *, $10 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[])
     ON CONFLICT (pipeline_id, kind, source_id) DO UPDATE
       SET waits_for_kind = EXCLUDED.waits_for_kind, waits_for = EXCLUDED.waits_for, reason_code = EXCLUDED.reason_code,
           message = EXCLUDED.message, field = EXCLUDED.field, payload = EXCLUDED.payload, held_at = now(),
           run_id = coalesce(EXCLUDED.run_id, held_records.run_id)`,
    [
      pipelineId,
      rows.map((r) => r.kind),
      rows.map((r) => storable(r.sourceId)),
      rows.map((r) => r.waitsFor!.kind),
      rows.map((r) => storable(r.waitsFor!.sourceId)),
      rows.map((r) => r.reasonCode),
      rows.map((r) => storable(r.message.slice(0, 2000))),
      rows.map((r) => (r.field === undefined || r.field === null ? null : storable(r.field))),
      rows.map((r) => storableJson(r.payload ?? {})),
      runId,
    ],
  );
}
