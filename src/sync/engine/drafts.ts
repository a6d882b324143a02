import type { SyncContext } from './context.ts';
import { callContext, saveMapping } from './context.ts';

/*
 * iXpole's draft mode (pipeline option `invoiceMode: draft`): "If your interface creates a draft
 * invoice … you should first return 'D' + document number … Afterwards, when the real invoice has
 * been created, you can still provide us the actual data using the same PUT api/instalments."
 *
 * 1. A run asks the target for a draft per source invoice, exactly once (sync_map kind `draft`),
 *    and queues an `invoice` write-back whose payload is `{ draftId }`: the source is told "D" +
 *    the draft number, the draft's due date, and no PDF (invoices.ts).
 * 2. Someone posts the draft in the target (for the ledger: POST /v1/sales/draft-invoices/{id}/post).
 * 3. The next write-back flush (after every page of a run, at the end of a run, and on the
 *    workers' timer) asks the target which of the pipeline's drafts are now posted and not yet
 *    mapped as invoices, maps them (sync_map kind `invoice`) and re-queues the same outbox item
 *    with `{ targetId }`: the source gets the final number, due date and PDF with the same PUT.
 *    The `invoice` mapping is what makes this happen once; payment status follows as for any invoice.
 */

/**
 * Step 3 above: maps this pipeline's drafts that have been posted since as invoices, and queues
 * the final write-back (replacing the draft's outbox item, sent or not), once per draft.
 */
export async function promotePostedDrafts(ctx: SyncContext): Promise<number> {
  const target = ctx.target;
  if (!target.postedDrafts) return 0;
  const p = ctx.pipeline;
  let promoted = 0;
  for (let after = ''; ;) {
    const { rows } = await ctx.db.query<{ source_id: string; target_id: string }>(
      `SELECT m.source_id, m.target_id FROM sync_map m
        WHERE m.pipeline_id = $1 AND m.kind = 'draft' AND m.source_id > $2
          AND NOT EXISTS (SELECT 1 FROM sync_map i WHERE i.pipeline_id = m.pipeline_id AND i.kind = 'invoice' AND i.source_id = m.source_id)
        ORDER BY m.source_id LIMIT 5000`,
      [p.id, after],
    );
    if (rows.length === 0) return promoted;
    after = rows.at(-1)!.source_id;
    const posted = await target.postedDrafts(
      callContext(ctx),
      rows.map((r) => r.target_id),
    );
    const now = rows.filter((r) => posted.has(r.target_id));
    if (now.length === 0) continue;
    promoted += now.length;
    const wantsWriteBack = ctx.source.writeBackKinds?.includes('invoice') ?? false;
    await ctx.db.transaction(async (tx) => {
      await saveMapping(
        tx,
        p.id,
        'invoice',
        now.map((r) => ({
          sourceId: r.source_id,
          targetId: posted.get(r.target_id)!.targetId,
          number: posted.get(r.target_id)!.number ?? null,
        })),
      );
      if (!wantsWriteBack) return;
      // The outbox holds one `invoice` item per source record: it becomes pending again, now final.
      await tx.query(
        `INSERT INTO outbox (pipeline_id, direction, kind, source_id, payload, idempotency_key)
         SELECT $1, 'source', 'invoice', s.source_id, jsonb_build_object('targetId', s.target_id), 'source:invoice:' || s.source_id
           FROM unnest($2::text[], $3::text[]) AS s(source_id, target_id)
         ON CONFLICT (pipeline_id, direction, kind, source_id) DO UPDATE
           SET payload = EXCLUDED.payload, status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL, done_at = NULL`,
        [p.id, now.map((r) => r.source_id), now.map((r) => posted.get(r.target_id)!.targetId)],
      );
    });
  }
}
