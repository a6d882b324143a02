import type { Queryable } from '../../db/database.ts';
import { ConnectorError, type WriteBackItem } from '../connector.ts';
import { parkRecords } from '../exceptions.ts';
import type { SyncContext } from './context.ts';
import { queueWriteBack } from './context.ts';
import { describeDrafts, promotePostedDrafts } from './drafts.ts';

/**
 * Finds invoices of this pipeline that are now fully paid in the ledger and not yet reported so,
 * and queues a payment write-back naming the receipt that settled them last.
 */
export async function queuePaidInvoices(ctx: SyncContext): Promise<void> {
  if (!ctx.source.writeBackKinds?.includes('payment')) return;
  const { rows } = await ctx.db.query<{ source_id: string; transaction_id: string; payment_reference: string | null }>(
    `SELECT m.source_id, t.id AS transaction_id,
            (SELECT c.external_reference FROM allocations a JOIN transactions c ON c.id = a.credit_transaction_id
              WHERE a.debit_transaction_id = t.id AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)
              ORDER BY (c.type = 'SR') DESC, a.id DESC LIMIT 1) AS payment_reference
       FROM sync_map m JOIN transactions t ON t.id = m.target_id::bigint
      WHERE m.pipeline_id = $1 AND m.kind = 'invoice' AND m.written_back = 'invoice'
        AND t.gross <= (SELECT coalesce(sum(a.amount), 0) FROM allocations a
                         WHERE a.debit_transaction_id = t.id AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id))
        AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.pipeline_id = m.pipeline_id AND o.kind = 'payment' AND o.source_id = m.source_id)
      LIMIT 1000`,
    [ctx.pipeline.id],
  );
  await queueWriteBack(
    ctx.db,
    ctx.pipeline.id,
    rows.map((r) => ({
      kind: 'payment',
      sourceId: r.source_id,
      payload: {
        transactionId: Number(r.transaction_id),
        paymentReference: r.payment_reference ?? `TX${r.transaction_id}`,
      },
    })),
  );
}

interface OutboxRow {
  id: string;
  kind: WriteBackItem['kind'];
  source_id: string;
  /** An invoice item names a posted invoice (`transactionId`) or, in draft mode, a draft (`draftId`). */
  payload: { transactionId?: number; draftId?: number; code?: string; paymentReference?: string };
  attempts: number;
}

async function describe(
  db: Queryable,
  entityId: string,
  ids: number[],
): Promise<Map<number, { number: string; dueDate: string | null; externalReference: string }>> {
  const { rows } = await db.query<{ id: string; number: string; due_date: string | null; external_reference: string }>(
    `SELECT id, number, due_date, external_reference FROM transactions WHERE entity_id = $1 AND id = ANY($2::bigint[])`,
    [entityId, ids],
  );
  return new Map(
    rows.map((r) => [Number(r.id), { number: r.number, dueDate: r.due_date, externalReference: r.external_reference }]),
  );
}

/** Items per write-back call: one PUT of 500 instalments costs little more than one of 100. */
const WRITE_BACK_GROUP = 500;

const WRITTEN_BACK: Record<WriteBackItem['kind'], string> = {
  invoice: 'invoice',
  payment: 'paid',
  'customer-code': 'code',
};

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
      WHERE pipeline_id = $1 AND status = 'pending' AND next_attempt_at <= now() ORDER BY id LIMIT $2`,
    [ctx.pipeline.id, limit],
  );
  let written = 0;
  const wantPdf = ctx.pipeline.options.pdf !== false && ctx.pdf !== undefined;
  for (let i = 0; i < rows.length; i += WRITE_BACK_GROUP) {
    const group = rows.slice(i, i + WRITE_BACK_GROUP);
    const docs = await describe(
      ctx.db,
      ctx.entity.id,
      group.map((r) => r.payload.transactionId).filter((x): x is number => typeof x === 'number'),
    );
    const draftRows = group.filter((r) => r.kind === 'invoice' && typeof r.payload.draftId === 'number');
    const drafts = await describeDrafts(
      ctx.db,
      ctx.entity.id,
      draftRows.map((r) => r.payload.draftId!),
    );
    const items: WriteBackItem[] = [];
    for (const r of group) {
      if (r.kind === 'invoice' && typeof r.payload.draftId === 'number') {
        // "D" + draft number, no PDF: the source marks the instalment pending until the final one.
        const d = drafts.get(r.payload.draftId);
        if (d)
          items.push({
            kind: 'invoice',
            sourceId: r.source_id,
            externalReference: d.externalReference,
            number: d.number,
            dueDate: d.dueDate,
          });
      } else if (r.kind === 'invoice') {
        const d = docs.get(r.payload.transactionId!);
        if (!d) continue;
        const pdf = wantPdf ? (await ctx.pdf!(ctx.entity, r.payload.transactionId!)).toString('base64') : undefined;
        items.push({
          kind: 'invoice',
          sourceId: r.source_id,
          externalReference: d.externalReference,
          number: d.number,
          dueDate: d.dueDate ?? '',
          pdfBase64: pdf,
        });
      } else if (r.kind === 'payment') {
        items.push({
          kind: 'payment',
          sourceId: r.source_id,
          externalReference: r.source_id,
          paymentReference: r.payload.paymentReference ?? '',
        });
      } else {
        items.push({ kind: 'customer-code', sourceId: r.source_id, code: r.payload.code ?? '' });
      }
    }
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
