import { ConnectorError, type WriteBackItem } from '../connector.ts';
import type { TargetDocument } from '../target.ts';
import { parkRecords } from '../exceptions.ts';
import type { SyncContext } from './context.ts';
import { callContext, chunks, queueWriteBack } from './context.ts';
import { promotePostedDrafts } from './drafts.ts';

/**
 * Finds invoices of this pipeline the target now reports paid in full and not yet reported so to
 * the source, and queues a payment write-back naming the payment that settled them last.
 */
export async function queuePaidInvoices(ctx: SyncContext): Promise<void> {
  const target = ctx.target;
  if (!ctx.source.writeBackKinds?.includes('payment') || !target.capabilities.paymentStatus || !target.paidInvoices)
    return;
  for (let after = ''; ;) {
    const { rows } = await ctx.db.query<{ source_id: string; target_id: string }>(
      `SELECT m.source_id, m.target_id FROM sync_map m
        WHERE m.pipeline_id = $1 AND m.kind = 'invoice' AND m.written_back = 'invoice' AND m.source_id > $2
          AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.pipeline_id = m.pipeline_id AND o.direction = 'source' AND o.kind = 'payment' AND o.source_id = m.source_id)
        ORDER BY m.source_id LIMIT 5000`,
      [ctx.pipeline.id, after],
    );
    if (rows.length === 0) return;
    after = rows.at(-1)!.source_id;
    const paid = await target.paidInvoices(
      callContext(ctx),
      rows.map((r) => r.target_id),
    );
    await queueWriteBack(
      ctx.db,
      ctx.pipeline.id,
      rows
        .filter((r) => paid.has(r.target_id))
        .map((r) => ({
          kind: 'payment',
          sourceId: r.source_id,
          payload: { targetId: r.target_id, paymentReference: paid.get(r.target_id)! },
        })),
    );
  }
}

interface OutboxRow {
  id: string;
  kind: WriteBackItem['kind'];
  source_id: string;
  /**
   * An invoice item names the target's document (`targetId`; `transactionId` in items queued
   * before targets were pluggable) or, in draft mode, a draft (`draftId`).
   */
  payload: {
    targetId?: string;
    transactionId?: number;
    number?: string | null;
    dueDate?: string | null;
    draftId?: string | number;
    code?: string;
    paymentReference?: string;
  };
  attempts: number;
}

const invoiceIdOf = (r: OutboxRow): string | null =>
  r.payload.targetId ?? (r.payload.transactionId !== undefined ? String(r.payload.transactionId) : null);
const isDraftItem = (r: OutboxRow) => r.kind === 'invoice' && r.payload.draftId !== undefined;

/** Items per write-back call: one PUT of 500 instalments costs little more than one of 100. */
const WRITE_BACK_GROUP = 500;

const WRITTEN_BACK: Record<WriteBackItem['kind'], string> = {
  invoice: 'invoice',
  payment: 'paid',
  'customer-code': 'code',
};

/** The write-back items of a group: numbers, due dates and PDFs as the target holds them. */
async function describe(ctx: SyncContext, group: OutboxRow[]): Promise<WriteBackItem[]> {
  const target = ctx.target;
  const tctx = callContext(ctx);
  const invoiceIds = group.filter((r) => r.kind === 'invoice' && !isDraftItem(r)).map(invoiceIdOf);
  const docs = target.documents
    ? await target.documents(
        tctx,
        invoiceIds.filter((x): x is string => x !== null),
        { lines: false, kind: 'invoice' },
      )
    : new Map<string, TargetDocument>();
  const draftIds = group.filter(isDraftItem).map((r) => String(r.payload.draftId));
  const drafts =
    target.describeDrafts && draftIds.length
      ? await target.describeDrafts(tctx, draftIds)
      : new Map<string, { number: string; dueDate: string; externalReference: string }>();
  const wantPdf = ctx.pipeline.options.pdf !== false && ctx.pdfs && target.capabilities.pdf && target.pdf !== undefined;
  const items: WriteBackItem[] = [];
  for (const r of group) {
    if (isDraftItem(r)) {
      // "D" + draft number, no PDF: the source marks the instalment pending until the final one.
      const d = drafts.get(String(r.payload.draftId));
      if (d) items.push({ kind: 'invoice', sourceId: r.source_id, ...d });
    } else if (r.kind === 'invoice') {
      const id = invoiceIdOf(r);
      const d = id ? docs.get(id) : undefined;
      if (!id || (!d && target.documents)) continue;
      const pdf = wantPdf ? (await target.pdf!(tctx, id)).toString('base64') : undefined;
      items.push({
        kind: 'invoice',
        sourceId: r.source_id,
        externalReference: d?.externalReference ?? '',
        number: d?.number ?? r.payload.number ?? id,
        dueDate: d?.dueDate ?? r.payload.dueDate ?? '',
        pdfBase64: pdf,
      });
    } else if (r.kind === 'payment') {
      items.push({
        kind: 'payment',
        sourceId: r.source_id,
        externalReference: r.source_id,
        paymentReference: r.payload.paymentReference ?? '',
      });
    } else items.push({ kind: 'customer-code', sourceId: r.source_id, code: r.payload.code ?? '' });
  }
  return items;
}

/**
 * Sends queued write-back to the source in groups of up to 500. Sent items are marked done (and
 * the map remembers what was reported); a retryable failure waits with exponential backoff; a
 * final refusal parks the item as an exception. Returns how many items were written back.
 */
export async function flushWriteBack(ctx: SyncContext, limit = 1000): Promise<number> {
  const source = ctx.source;
  // Drafts posted since the last flush get their final write-back queued (see drafts.ts).
  await promotePostedDrafts(ctx);
  if (!source.writeBack) return 0;
  const { rows } = await ctx.db.query<OutboxRow>(
    `SELECT id, kind, source_id, payload, attempts FROM outbox
      WHERE pipeline_id = $1 AND direction = 'source' AND status = 'pending' AND next_attempt_at <= now() ORDER BY id LIMIT $2`,
    [ctx.pipeline.id, limit],
  );
  let written = 0;
  for (const group of chunks(rows, WRITE_BACK_GROUP)) {
    const draftRows = group.filter(isDraftItem);
    const items = await describe(ctx, group);
    try {
      await source.writeBack(items);
      await ctx.db.transaction(async (tx) => {
        // A draft item made final meanwhile (promotePostedDrafts) stays pending: the final is still to send.
        await tx.query(
          `UPDATE outbox SET status = 'done', done_at = now(), attempts = attempts + 1
            WHERE id = ANY($1::bigint[]) AND (NOT id = ANY($2::bigint[]) OR payload ? 'draftId')`,
          [group.map((r) => r.id), draftRows.map((r) => r.id)],
        );
        if (draftRows.length) {
          await tx.query(
            `UPDATE sync_map SET written_back = 'draft', updated_at = now() WHERE pipeline_id = $1 AND kind = 'draft' AND source_id = ANY($2::text[])`,
            [ctx.pipeline.id, draftRows.map((r) => r.source_id)],
          );
        }
        for (const kind of Object.keys(WRITTEN_BACK) as WriteBackItem['kind'][]) {
          const ids = group.filter((r) => r.kind === kind && !draftRows.includes(r)).map((r) => r.source_id);
          if (ids.length === 0) continue;
          const mapKind = kind === 'customer-code' ? 'customer' : 'invoice';
          await tx.query(
            `UPDATE sync_map SET written_back = $4, updated_at = now() WHERE pipeline_id = $1 AND kind = $2 AND source_id = ANY($3::text[])`,
            [ctx.pipeline.id, mapKind, ids, WRITTEN_BACK[kind]],
          );
        }
      });
      written += items.length;
    } catch (err) {
      const retryable = err instanceof ConnectorError ? err.retryable : true;
      const message = err instanceof Error ? err.message : String(err);
      ctx.log.warn({ pipeline: ctx.pipeline.name, retryable, err: message }, 'write-back failed');
      await ctx.db.transaction(async (tx) => {
        const attempts = Math.max(...group.map((r) => r.attempts)) + 1;
        const giveUp = !retryable || attempts >= 10;
        const delaySeconds = Math.min(3600, 2 ** attempts);
        await tx.query(
          `UPDATE outbox SET attempts = attempts + 1, last_error = $2, status = $3, next_attempt_at = now() + make_interval(secs => $4)
            WHERE id = ANY($1::bigint[]) AND (NOT id = ANY($5::bigint[]) OR payload ? 'draftId')`,
          [
            group.map((r) => r.id),
            message.slice(0, 1000),
            giveUp ? 'failed' : 'pending',
            delaySeconds,
            draftRows.map((r) => r.id),
          ],
        );
        if (giveUp) {
          await parkRecords(
            tx,
            ctx.pipeline.id,
            ctx.entity.id,
            ctx.runId,
            group.map((r) => ({
              kind: `write-back:${r.kind}`,
              sourceId: r.source_id,
              reasonCode: 'WRITE_BACK_FAILED',
              message,
              payload: r.payload,
            })),
          );
        }
      });
      if (err instanceof ConnectorError && err.retryable) break;
    }
  }
  return written;
}
