import type { Queryable } from '../../db/database.ts';
import { ConnectorError } from '../connector.ts';
import { resolveSucceeded } from '../exceptions.ts';
import { BatchInterrupted, type EarlyPayment, type ItemResult, type TargetPayment } from '../target.ts';
import { type PageOutcome, type SyncContext, callContext } from './context.ts';
import type { Delivered } from './deliver.ts';

/*
 * Payments a remote target booked before the invoice they name (migration 0106). A payment webhook
 * may overtake its invoice's, a payout file may be imported before the invoices: the payment goes
 * to the target unapplied (on the customer; an overpayment in Xero). The engine notes it in the
 * transaction that maps it; once an invoice of that customer and reference is booked (by any
 * pipeline of the entity into that kind of target), the end of a run of the payment's pipeline
 * (and the workers' timer) hands both to the target's `applyEarlyPayments`, which applies what
 * both still have open. The embedded ledger settles its own in the invoice's transaction
 * (migration 0104); a target that applies a payment only as it books it (Business Central, MYOB,
 * FreshBooks) has the payment wait for its invoice instead (`needs`).
 */

/** Notes to apply in one call to the target, and passes at most per sweep. */
const BATCH = 100;
const PASSES = 20;
/** Failed calls after which a note is given up, with an exception for a person. */
const EARLY_PAYMENT_ATTEMPTS = 10;
/** How long a sweep holds the notes it works on; one whose process died lets go after it. */
const CLAIM_SECONDS = 300;

/**
 * Notes the payments just mapped that named an invoice the pipeline had not booked, unless the
 * target found that invoice itself (`awaitsInvoice: false`), and those the target says wait to be
 * applied to a booked one (`awaitsInvoice: true`). In the transaction that maps them.
 */
export async function notePaymentsBeforeInvoice(
  ctx: SyncContext,
  tx: Queryable,
  done: Delivered<TargetPayment>[],
): Promise<void> {
  if (ctx.target.transactional || !ctx.target.applyEarlyPayments) return;
  const early = done.filter(
    ({ item, result }) =>
      item.doc.record.invoiceExternalReference &&
      // Booked without its invoice, or (`awaitsInvoice: true`) not applied to it though it is booked
      // (a Xero payment larger than what the invoice owes, booked as an overpayment).
      ((item.doc.invoiceTargetId === null && result.awaitsInvoice !== false) || result.awaitsInvoice === true),
  );
  if (early.length === 0) return;
  await tx.query(
    `INSERT INTO payments_before_invoice
       (pipeline_id, payment_source_id, payment_target_id, payment_reference, customer_target_id, invoice_reference)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
     ON CONFLICT (pipeline_id, payment_source_id) DO NOTHING`,
    [
      ctx.pipeline.id,
      early.map((d) => d.item.sourceId),
      early.map((d) => d.result.targetId),
      early.map((d) => d.item.doc.record.externalReference),
      early.map((d) => d.item.doc.customerTargetId),
      early.map((d) => d.item.doc.record.invoiceExternalReference!),
    ],
  );
}

/** A note as an exception keeps it, to note the payment again when the exception is retried. */
export interface EarlyNote {
  paymentTargetId: string;
  paymentReference: string;
  customerTargetId: string;
  invoiceReference: string;
}

const noteOf = (r: Note): EarlyNote => ({
  paymentTargetId: r.payment_target_id,
  paymentReference: r.payment_reference,
  customerTargetId: r.customer_target_id,
  invoiceReference: r.invoice_reference,
});

/**
 * Notes a payment again, its attempts from nought, for the retry of its `EARLY_PAYMENT_NOT_APPLIED`
 * exception (a person has fixed what stood in the way: approved the invoice, opened the period);
 * the run the retry starts sweeps it.
 */
export async function noteAgain(
  db: Queryable,
  pipelineId: string,
  paymentSourceId: string,
  n: EarlyNote,
): Promise<void> {
  await db.query(
    `INSERT INTO payments_before_invoice
       (pipeline_id, payment_source_id, payment_target_id, payment_reference, customer_target_id, invoice_reference)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (pipeline_id, payment_source_id) DO UPDATE SET attempts = 0, claimed_until = NULL`,
    [pipelineId, paymentSourceId, n.paymentTargetId, n.paymentReference, n.customerTargetId, n.invoiceReference],
  );
}

interface Note {
  payment_source_id: string;
  payment_target_id: string;
  payment_reference: string;
  customer_target_id: string;
  invoice_reference: string;
  invoice_target_id: string;
  currency: string;
  attempts: number;
}

/**
 * Applies the noted payments whose invoice has been booked since, by this pipeline or another of
 * the entity into the same kind of target (a shop's invoices and a payment provider's payments
 * are often two pipelines; this one's booking first, and the target checks that the invoice it is
 * handed is the one named, in its own books). The notes are claimed first (another run or worker
 * sweeping at the same moment leaves them be), then sent to the target a hundred at a time.
 * Applied: the note goes and the payment's run record says what was applied. A failed call keeps
 * the note for the next sweep, ten times at most; refused, or given up, the note goes and an
 * exception (`EARLY_PAYMENT_NOT_APPLIED`) tells a person to apply it in the target. What it did
 * goes into `out`, which the caller saves.
 */
export async function applyEarlyPayments(ctx: SyncContext, out: PageOutcome): Promise<void> {
  const target = ctx.target;
  if (target.transactional || !target.applyEarlyPayments) return;
  // Each note once a sweep: one the target could not take now waits for the next.
  const tried: string[] = [];
  for (let pass = 0; pass < PASSES; pass++) {
    const { rows } = await ctx.db.query<Note>(
      `WITH due AS (
         SELECT DISTINCT ON (n.payment_source_id) n.payment_source_id, m.target_id AS invoice_target_id, ps.currency
           FROM payments_before_invoice n
           JOIN source_documents ps ON ps.pipeline_id = n.pipeline_id AND ps.kind = 'payment' AND ps.source_id = n.payment_source_id
           JOIN pipelines p ON p.entity_id = $6 AND p.target_type = $7
           JOIN source_documents sd ON sd.pipeline_id = p.id AND sd.kind = 'invoice'
                                   AND sd.customer_code = n.customer_target_id AND sd.external_reference = n.invoice_reference
           JOIN sync_map m ON m.pipeline_id = sd.pipeline_id AND m.kind = 'invoice' AND m.source_id = sd.source_id
          WHERE n.pipeline_id = $1 AND n.attempts < $2 AND (n.claimed_until IS NULL OR n.claimed_until < now())
            AND n.payment_source_id <> ALL($5::text[])
          ORDER BY n.payment_source_id, sd.pipeline_id = n.pipeline_id DESC, m.created_at
          LIMIT $3)
       UPDATE payments_before_invoice n SET claimed_until = now() + make_interval(secs => $4)
         FROM due
        WHERE n.pipeline_id = $1 AND n.payment_source_id = due.payment_source_id
          AND (n.claimed_until IS NULL OR n.claimed_until < now())
       RETURNING n.payment_source_id, n.payment_target_id, n.payment_reference, n.customer_target_id,
                 n.invoice_reference, due.invoice_target_id, due.currency, n.attempts`,
      [ctx.pipeline.id, EARLY_PAYMENT_ATTEMPTS, BATCH, CLAIM_SECONDS, tried, ctx.entity.id, ctx.pipeline.targetType],
    );
    if (rows.length === 0) return;
    tried.push(...rows.map((r) => r.payment_source_id));
    const items: EarlyPayment[] = rows.map((r) => ({
      paymentSourceId: r.payment_source_id,
      paymentTargetId: r.payment_target_id,
      paymentReference: r.payment_reference,
      customerTargetId: r.customer_target_id,
      invoiceTargetId: r.invoice_target_id,
      invoiceReference: r.invoice_reference,
      currency: r.currency,
    }));
    let failure: string | null = null;
    let results: readonly (ItemResult | undefined)[] = [];
    try {
      results = await target.applyEarlyPayments(callContext(ctx), items);
    } catch (err) {
      // A target applying one payment a call that stopped part-way: what it finished stands.
      const stopped = err instanceof BatchInterrupted ? err.error : err;
      if (!(stopped instanceof ConnectorError)) {
        await release(ctx, rows, []);
        throw stopped;
      }
      if (err instanceof BatchInterrupted) results = err.results;
      // The target could not be reached or refused the call as a whole: every note left is tried again.
      failure = stopped.message;
      ctx.log.warn({ err: stopped.message }, `could not apply payments booked before their invoice in ${target.type}`);
    }
    const gone: string[] = [];
    const applied: string[] = [];
    const again: Note[] = [];
    rows.forEach((r, n) => {
      const result = results[n];
      const payment = `payment ${r.payment_reference}`;
      const invoice = `invoice ${r.invoice_reference}`;
      if (result?.ok) {
        gone.push(r.payment_source_id);
        applied.push(r.payment_source_id);
        out.record({
          kind: 'payment',
          sourceId: r.payment_source_id,
          outcome: result.outcome === 'unchanged' ? 'skipped' : 'updated',
          targetId: r.payment_target_id,
          message: result.message ?? `applied to ${invoice}, booked after it`,
        });
        return;
      }
      const error = result ? result.error : { message: failure ?? 'no answer', retryable: true };
      const last = r.attempts + 1 >= EARLY_PAYMENT_ATTEMPTS;
      if (error.retryable && !last) return void again.push(r);
      gone.push(r.payment_source_id);
      // For a person: an exception that names both documents (nothing to retry: both are booked).
      out.park({
        kind: 'payment',
        sourceId: r.payment_source_id,
        reasonCode: 'EARLY_PAYMENT_NOT_APPLIED',
        message: `${payment} (${target.type} id ${r.payment_target_id}) was booked before ${invoice} (${
          target.type
        } id ${r.invoice_target_id}) and is not applied to it: ${error.message}${
          error.retryable ? ` (gave up after ${EARLY_PAYMENT_ATTEMPTS} attempts)` : ''
        }; apply it in ${target.type}, then resolve this exception, or fix what stood in the way and retry it`,
        field: 'invoiceExternalReference',
        // What retrying the exception notes again (src/sync/exceptions.ts, retryException).
        payload: { early: noteOf(r) },
      });
    });
    await release(ctx, again, gone, applied);
    if (failure !== null) return;
  }
}

/**
 * Lets go of the notes tried again later (one more attempt each), and removes those done with;
 * the exceptions of the payments applied now (an earlier sweep gave up, a person retried) are resolved.
 */
async function release(ctx: SyncContext, again: Note[], gone: string[], applied: string[] = []): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    await resolveSucceeded(tx, ctx.pipeline.id, 'payment', applied, ctx.actor);
    if (gone.length > 0)
      await tx.query(
        `DELETE FROM payments_before_invoice WHERE pipeline_id = $1 AND payment_source_id = ANY($2::text[])`,
        [ctx.pipeline.id, gone],
      );
    if (again.length > 0)
      await tx.query(
        `UPDATE payments_before_invoice SET attempts = attempts + 1, claimed_until = NULL
          WHERE pipeline_id = $1 AND payment_source_id = ANY($2::text[])`,
        [ctx.pipeline.id, again.map((r) => r.payment_source_id)],
      );
  });
}
