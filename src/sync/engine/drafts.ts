import type { Queryable } from '../../db/database.ts';
import { isDomainError } from '../../domain/errors.ts';
import { createDraft } from '../../ledger/drafts.ts';
import type { BatchInvoiceInput } from '../../ledger/posting/types.ts';
import type { CanonicalInvoice } from '../canonical.ts';
import { resolveSucceeded } from '../exceptions.ts';
import { type PageOutcome, type SyncContext, queueWriteBack, saveMapping } from './context.ts';
import { canonicalGross, recordSourceDocuments } from './invoices.ts';

/*
 * iXpole's draft mode (pipeline option `invoiceMode: draft`): "If your interface creates a draft
 * invoice … you should first return 'D' + document number … Afterwards, when the real invoice has
 * been created, you can still provide us the actual data using the same PUT api/instalments."
 *
 * 1. A run creates a ledger draft per source invoice, exactly once (sync_map kind `draft`), and
 *    queues an `invoice` write-back whose payload is `{ draftId }`: the source is told "D" + the
 *    draft number, the draft's due date, and no PDF.
 * 2. Someone posts the draft (POST /v1/sales/draft-invoices/{id}/post).
 * 3. The next write-back flush (after every page of a run, at the end of a run, and on the
 *    workers' timer) finds the pipeline's drafts that are now posted and not yet mapped as invoices,
 *    maps them (sync_map kind `invoice`) and re-queues the same outbox item with
 *    `{ transactionId }`: the source gets the final number, due date and PDF with the same PUT.
 *    The `invoice` mapping is what makes this happen once; payment status follows as for any invoice.
 */

export interface DraftCandidate {
  record: CanonicalInvoice;
  raw: unknown;
  customerCode: string;
  invoice: BatchInvoiceInput;
}

/**
 * Creates drafts for a page's mapped invoices in one transaction, each in a savepoint so one
 * refused draft parks only itself. A reference the ledger already has is linked, not drafted again:
 * a posted invoice (mapped as `invoice`) or an open draft (mapped as `draft`).
 */
export async function createDrafts(
  ctx: SyncContext,
  candidates: DraftCandidate[],
  wantsWriteBack: boolean,
  out: PageOutcome,
): Promise<void> {
  const p = ctx.pipeline;
  await ctx.db.transaction(async (tx) => {
    const postingCtx = { db: tx, entity: ctx.entity, actor: ctx.actor };
    const drafts: { c: DraftCandidate; draftId: string; number: string }[] = [];
    const invoices: { c: DraftCandidate; transactionId: string; number: string }[] = [];
    for (const c of candidates) {
      const sourceId = c.record.sourceId;
      try {
        const d = await createDraft(postingCtx, {
          ...c.invoice,
          performExternalReferenceDuplicateCheck: true,
          enforceCreditLimit: false,
        });
        drafts.push({ c, draftId: String(d.id), number: String(d.number) });
        out.record({
          kind: 'invoice',
          sourceId,
          outcome: 'created',
          targetId: `draft:${d.id}`,
          message: `draft D${d.number}`,
        });
      } catch (err) {
        if (!isDomainError(err)) throw err;
        const existing =
          err.code === 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS' ? await findExisting(tx, ctx.entity.id, c) : null;
        if (existing?.kind === 'invoice') {
          invoices.push({ c, transactionId: existing.id, number: existing.number });
          out.record({
            kind: 'invoice',
            sourceId,
            outcome: 'skipped',
            targetId: existing.id,
            message: 'already in the ledger; linked',
          });
        } else if (existing?.kind === 'draft') {
          drafts.push({ c, draftId: existing.id, number: existing.number });
          out.record({
            kind: 'invoice',
            sourceId,
            outcome: 'skipped',
            targetId: `draft:${existing.id}`,
            message: `open draft D${existing.number} in the ledger; linked`,
          });
        } else {
          const field = Array.isArray(err.details) ? err.details[0]?.field : undefined;
          out.park({
            kind: 'invoice',
            sourceId,
            reasonCode: err.code,
            message: err.message,
            field,
            payload: { record: c.record, raw: c.raw },
          });
        }
      }
    }
    await saveMapping(
      tx,
      p.id,
      'draft',
      drafts.map((d) => ({ sourceId: d.c.record.sourceId, targetId: d.draftId, number: d.number })),
    );
    await saveMapping(
      tx,
      p.id,
      'invoice',
      invoices.map((i) => ({ sourceId: i.c.record.sourceId, targetId: i.transactionId, number: i.number })),
    );
    if (wantsWriteBack) {
      await queueWriteBack(tx, p.id, [
        ...drafts.map((d) => ({
          kind: 'invoice',
          sourceId: d.c.record.sourceId,
          payload: { draftId: Number(d.draftId) },
        })),
        ...invoices.map((i) => ({
          kind: 'invoice',
          sourceId: i.c.record.sourceId,
          payload: { transactionId: Number(i.transactionId) },
        })),
      ]);
    }
    const booked = [...drafts, ...invoices].map((b) => b.c);
    await resolveSucceeded(
      tx,
      p.id,
      'invoice',
      booked.map((c) => c.record.sourceId),
      ctx.actor,
    );
    await recordSourceDocuments(
      tx,
      p.id,
      booked.map(({ record: inv, customerCode }) => ({
        kind: 'invoice',
        sourceId: inv.sourceId,
        externalReference: inv.externalReference,
        customerSourceId: inv.customerSourceId,
        customerCode,
        date: inv.invoiceDate,
        currency: inv.currency,
        gross: canonicalGross(inv) ?? 0n,
        location: inv.location,
        payload: {},
      })),
    );
  });
}

/** The posted invoice, else the open draft, that already carries this customer's reference. */
async function findExisting(
  db: Queryable,
  entityId: string,
  c: DraftCandidate,
): Promise<{ kind: 'invoice' | 'draft'; id: string; number: string } | null> {
  const { rows } = await db.query<{ kind: 'invoice' | 'draft'; id: string; number: string }>(
    `(SELECT 'invoice' AS kind, id, number FROM transactions
       WHERE entity_id = $1 AND customer_code = $2 AND type = 'SI' AND external_reference = $3 ORDER BY id LIMIT 1)
     UNION ALL
     (SELECT 'draft', id, number FROM draft_invoices
       WHERE entity_id = $1 AND customer_code = $2 AND status = 'draft' AND input->>'externalReference' = $3 ORDER BY id LIMIT 1)`,
    [entityId, c.customerCode, c.record.externalReference],
  );
  return rows.find((r) => r.kind === 'invoice') ?? rows[0] ?? null;
}

/**
 * Step 3 above: maps this pipeline's drafts that have been posted since as invoices, and queues
 * the final write-back (replacing the draft's outbox item, sent or not), once per draft.
 */
export async function promotePostedDrafts(ctx: SyncContext): Promise<number> {
  const p = ctx.pipeline;
  const { rows } = await ctx.db.query<{ source_id: string; transaction_id: string; number: string }>(
    `SELECT m.source_id, d.transaction_id, t.number
       FROM sync_map m
       JOIN draft_invoices d ON d.id = m.target_id::bigint AND d.entity_id = $2
       JOIN transactions t ON t.id = d.transaction_id
      WHERE m.pipeline_id = $1 AND m.kind = 'draft' AND d.status = 'posted'
        AND NOT EXISTS (SELECT 1 FROM sync_map i WHERE i.pipeline_id = m.pipeline_id AND i.kind = 'invoice' AND i.source_id = m.source_id)
      ORDER BY d.id LIMIT 1000`,
    [p.id, ctx.entity.id],
  );
  if (rows.length === 0) return 0;
  const wantsWriteBack = ctx.source.writeBackKinds?.includes('invoice') ?? false;
  await ctx.db.transaction(async (tx) => {
    await saveMapping(
      tx,
      p.id,
      'invoice',
      rows.map((r) => ({ sourceId: r.source_id, targetId: r.transaction_id, number: r.number })),
    );
    if (!wantsWriteBack) return;
    // The outbox holds one `invoice` item per source record: it becomes pending again, now final.
    await tx.query(
      `INSERT INTO outbox (pipeline_id, kind, source_id, payload)
       SELECT $1, 'invoice', s.source_id, jsonb_build_object('transactionId', s.transaction_id)
         FROM unnest($2::text[], $3::bigint[]) AS s(source_id, transaction_id)
       ON CONFLICT (pipeline_id, kind, source_id) DO UPDATE
         SET payload = EXCLUDED.payload, status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL, done_at = NULL`,
      [p.id, rows.map((r) => r.source_id), rows.map((r) => r.transaction_id)],
    );
  });
  return rows.length;
}

/** What the source is told about a draft: "D" + its number, its due date, its reference. */
export async function describeDrafts(
  db: Queryable,
  entityId: string,
  ids: number[],
): Promise<Map<number, { number: string; dueDate: string; externalReference: string }>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; number: string; due_date: string; external_reference: string | null }>(
    `SELECT id, number, due_date::text AS due_date, input->>'externalReference' AS external_reference
       FROM draft_invoices WHERE entity_id = $1 AND id = ANY($2::bigint[])`,
    [entityId, ids],
  );
  return new Map(
    rows.map((r) => [
      Number(r.id),
      { number: 'D' + r.number, dueDate: r.due_date, externalReference: r.external_reference ?? '' },
    ]),
  );
}
