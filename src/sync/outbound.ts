import { createHash } from 'node:crypto';
import { storableJson } from '../domain/storable.ts';
import { ConnectorError } from './connector.ts';
import type { Delivered, Delivery, Outgoing } from './engine/deliver.ts';
import { parkFailure } from './engine/deliver.ts';
import { type PageOutcome, type SyncContext, callContext, chunks } from './engine/context.ts';
import { BatchInterrupted, type ItemError, type ItemResult } from './target.ts';

/*
 * The exactly-once protocol for remote targets, written once for every platform:
 *
 * 1. Intent: each document is recorded in the outbox (direction `target`) with an idempotency
 *    key derived from the pipeline, the document and the operation, before anything is sent.
 * 2. Call: the attempt is counted and committed, then the batch is sent with those keys.
 * 3. Mapping: each success is saved in the source map, with its write-back and the closing of
 *    its earlier exceptions, in one transaction that also marks the outbox item done.
 * 4. After any uncertain outcome (timeout, reset, 5xx, a lost answer) the document is looked up
 *    by its reference (`findByReference`) before it is ever sent again; found means done.
 *
 * A refusal parks only its own document, and counts on its outbox item: sent again (a retry of the
 * exception, the document changed at the source), it goes under a key derived from that count, as
 * a target that replays the answer to a key it has seen would give the refusal back
 * (`keyAfterRefusals`). A refusal means nothing was written, so a new key cannot double it. A
 * document the target keeps failing on is retried with
 * backoff from the outbox (by the next run or the workers' timer) and parked as
 * TARGET_UNAVAILABLE after the retry policy's last attempt. The map is kept for good.
 */

/** The key a target is sent for one operation on one document: the same on every attempt. */
export function idempotencyKey(pipelineId: string, kind: string, sourceId: string, operation = 'create'): string {
  return (
    'll-' +
    createHash('sha256')
      .update(`${pipelineId}\u0000${kind}\u0000${sourceId}\u0000${operation}`)
      .digest('hex')
      .slice(0, 40)
  );
}

/**
 * The key a document is sent under after the target has refused it `refusals` times: one the
 * target has not seen, the same on every attempt until the next refusal.
 */
export function keyAfterRefusals(key: string, refusals: number): string {
  if (refusals === 0) return key;
  return 'll-' + createHash('sha1').update(`${key}\u0000refused\u0000${refusals}`).digest('hex').slice(0, 40);
}

/** The document to send: with a fresh key once the target has refused it (`keyAfterRefusals`). */
function rekeyed<D>(doc: D, outboxKey: string, refusals: number): D {
  if (refusals === 0) return doc;
  const own = (doc as { idempotencyKey?: unknown }).idempotencyKey;
  return { ...doc, idempotencyKey: keyAfterRefusals(typeof own === 'string' ? own : outboxKey, refusals) };
}

interface IntentRow {
  id: string;
  source_id: string;
  payload: { doc: unknown; raw: unknown };
  idempotency_key: string;
  refusals: number;
  attempts: number;
  /** The last failure of an earlier attempt: no answer, or one to try again (kept when a parked item is sent again). */
  last_error: string | null;
  /** The run that last sent it: what becomes of it is reported to that run. */
  run_id: string | null;
}

/** Rounds of lookup-then-resend within one flush after uncertain outcomes. */
const ROUNDS = 3;

/** Records the documents' intents, then sends them (and any of their kind due for a retry). */
export async function deliverRemote<D>(
  ctx: SyncContext,
  delivery: Delivery<D>,
  items: Outgoing<D>[],
  out: PageOutcome,
): Promise<void> {
  const written = await ctx.db.query<{ source_id: string }>(
    `INSERT INTO outbox (pipeline_id, direction, kind, source_id, payload, idempotency_key, run_id)
     SELECT $1, 'target', $2, s, p, k, $6 FROM unnest($3::text[], $4::jsonb[], $5::text[]) AS u(s, p, k)
     ON CONFLICT (pipeline_id, direction, kind, source_id) DO UPDATE
       SET payload = EXCLUDED.payload, status = 'pending', attempts = 0, next_attempt_at = now(),
           run_id = EXCLUDED.run_id,
           -- A new operation (changed master data) starts certain; a failed one sent again keeps its
           -- last error, so that it is looked up before it is ever sent again.
           last_error = CASE WHEN outbox.idempotency_key = EXCLUDED.idempotency_key THEN outbox.last_error END,
           refusals = CASE WHEN outbox.idempotency_key = EXCLUDED.idempotency_key THEN outbox.refusals ELSE 0 END,
           idempotency_key = EXCLUDED.idempotency_key, result = NULL, done_at = NULL
       WHERE outbox.status = 'failed' OR (outbox.status = 'done' AND outbox.idempotency_key <> EXCLUDED.idempotency_key)
     RETURNING source_id`,
    [
      ctx.pipeline.id,
      delivery.kind,
      items.map((i) => i.sourceId),
      // The source's raw record may hold text jsonb refuses in fields the document does not use.
      items.map((i) => storableJson({ doc: i.doc, raw: i.raw ?? null })),
      items.map((i) => idempotencyKey(ctx.pipeline.id, delivery.kind, i.sourceId, i.operation)),
      ctx.runId,
    ],
  );
  // Those the insert left as they were may still wait from an earlier run, sent again by this one:
  // this run reports them now (usually there are none, and nothing more is sent).
  const kept = written.rows.length < items.length ? new Set(written.rows.map((r) => r.source_id)) : null;
  if (ctx.runId && kept)
    await ctx.db.query(
      `UPDATE outbox SET run_id = $4
        WHERE pipeline_id = $1 AND direction = 'target' AND kind = $2 AND source_id = ANY($3::text[])
          AND status = 'pending' AND run_id IS DISTINCT FROM $4`,
      [ctx.pipeline.id, delivery.kind, items.filter((i) => !kept.has(i.sourceId)).map((i) => i.sourceId), ctx.runId],
    );
  await flushTarget(
    ctx,
    delivery,
    out,
    items.map((i) => i.sourceId),
  );
}

/**
 * Sends a kind's pending documents: those named (whatever their next attempt time) and those
 * due. Returns how many are still pending afterwards.
 */
export async function flushTarget<D>(
  ctx: SyncContext,
  delivery: Delivery<D>,
  out: PageOutcome,
  only: string[] = [],
): Promise<number> {
  const { rows } = await ctx.db.query<IntentRow>(
    `SELECT id, source_id, payload, idempotency_key, refusals, attempts, last_error, run_id FROM outbox
      WHERE pipeline_id = $1 AND direction = 'target' AND kind = $2 AND status = 'pending'
        AND (next_attempt_at <= now() OR source_id = ANY($3::text[]))
      ORDER BY id LIMIT 5000`,
    [ctx.pipeline.id, delivery.kind, only],
  );
  let pending = rows.map((r) => ({
    row: r,
    item: {
      sourceId: r.source_id,
      doc: rekeyed(r.payload.doc as D, r.idempotency_key, r.refusals),
      raw: r.payload.raw,
    },
    // A document attempted before may have been written: look before sending again.
    uncertain: r.attempts > 0 || r.last_error !== null,
  }));
  const attempts = new Map(rows.map((r) => [r.id, r.attempts]));
  // What becomes of each document is reported to the run that sent it (a flush by the workers'
  // timer, or by a later run, sends documents earlier runs left waiting).
  const sentBy = new Map(rows.map((r) => [r.id, r.run_id]));
  const outOf = (id: string) => out.forRun(sentBy.get(id) ?? null, ctx.runId);
  // Each document's last failure, kept on its row and said when it is given up.
  const lastError = new Map(rows.map((r) => [r.id, r.last_error]));
  const noted = async (ids: string[], message: string) => {
    for (const id of ids) lastError.set(id, message);
    await note(ctx, ids, message);
  };
  let waiting = 0;
  let waitAtLeastMs = 0;
  // The worker is stopping (`SyncContext.signal`): no call is started, what was not sent waits.
  const stopping = () => ctx.signal?.aborted === true;
  for (let round = 0; round < ROUNDS && pending.length > 0 && !stopping(); round++) {
    const retry: typeof pending = [];
    const toSend: typeof pending = [];
    let stop = false;
    let retryAfterMs = 0;
    for (const p of pending) {
      if (!p.uncertain || delivery.resendSafe) {
        toSend.push(p);
        continue;
      }
      if (stop || stopping()) {
        retry.push(p);
        continue;
      }
      let found: Awaited<ReturnType<typeof ctx.target.findByReference>>;
      try {
        found = delivery.find
          ? await delivery.find(ctx, p.item.doc)
          : await ctx.target.findByReference(
              callContext(ctx),
              delivery.targetKind,
              delivery.reference(p.item.doc),
              delivery.customerTargetId(p.item.doc),
            );
      } catch (err) {
        // A lookup that fails is this document's failed attempt, not the flush's: its neighbours
        // are still looked up and sent (under a steady share of failures, a flush that any one
        // failed lookup ended would never get through a backlog of uncertain documents), and it
        // counts towards the retry policy, so that a target that never answers parks it.
        const retryable = !(err instanceof ConnectorError) || err.retryable;
        const message = sanitise(err instanceof Error ? err.message : String(err));
        ctx.log.warn(
          { kind: delivery.kind, sourceId: p.item.sourceId, retryable, err: message },
          'target lookup failed',
        );
        await ctx.db.query(`UPDATE outbox SET attempts = attempts + 1 WHERE id = $1`, [p.row.id]);
        attempts.set(p.row.id, (attempts.get(p.row.id) ?? 0) + 1);
        if (!retryable) {
          await fail(ctx, delivery, outOf, [{ id: p.row.id, item: p.item }], {
            code: (err instanceof ConnectorError ? err.code : null) ?? 'TARGET_REFUSED',
            message: `looking it up after an uncertain answer: ${message}`,
            retryable: false,
          });
          continue;
        }
        retry.push(p);
        await noted([p.row.id], message);
        if (err instanceof ConnectorError && err.retryAfterMs !== null) {
          // The target said when: no more calls this flush.
          stop = true;
          retryAfterMs = Math.max(retryAfterMs, err.retryAfterMs);
        }
        continue;
      }
      if (found) {
        await settle(ctx, delivery, outOf, [
          {
            id: p.row.id,
            done: {
              item: p.item,
              result: {
                ok: true,
                targetId: found.targetId,
                number: found.number,
                outcome: 'linked',
                message: 'found in the target after an uncertain answer; linked',
                ...(found.awaitsInvoice !== undefined ? { awaitsInvoice: found.awaitsInvoice } : {}),
              },
            },
          },
        ]);
      } else toSend.push(p);
    }
    for (const batch of chunks(toSend, Math.max(1, ctx.target.limits.batchSize))) {
      if (stop || stopping()) {
        retry.push(...batch);
        continue;
      }
      // The attempt is on record before the call: a crash during it leaves the document uncertain.
      await ctx.db.query(`UPDATE outbox SET attempts = attempts + 1 WHERE id = ANY($1::bigint[])`, [
        batch.map((b) => b.row.id),
      ]);
      for (const b of batch) attempts.set(b.row.id, (attempts.get(b.row.id) ?? 0) + 1);
      // The results of the batch's documents (undefined: unknown, because the call failed).
      let results: readonly (ItemResult | undefined)[] = [];
      let failure: unknown = null;
      try {
        results = await delivery.send(
          ctx.target,
          callContext(ctx),
          batch.map((b) => b.item.doc),
        );
        if (results.length !== batch.length)
          [results, failure] = [
            [],
            new ConnectorError(ctx.target.type, `answered ${results.length} results for ${batch.length} documents`, {
              retryable: true,
            }),
          ];
      } catch (err) {
        // A batch stopped part-way: what it finished is kept, the rest is as uncertain as the error says.
        if (err instanceof BatchInterrupted && err.results.length === batch.length)
          [results, failure] = [err.results, err.error];
        else failure = err;
      }
      const settled: { id: string; done: Delivered<D> }[] = [];
      const refused: { id: string; item: Outgoing<D>; error: ItemError }[] = [];
      const unknown: typeof batch = [];
      const failing: { id: string; message: string }[] = [];
      batch.forEach((b, n) => {
        const r = results[n];
        if (!r) unknown.push(b);
        else if (r.ok) settled.push({ id: b.row.id, done: { item: b.item, result: r } });
        else if (r.error.retryable) {
          retry.push({ ...b, uncertain: true });
          failing.push({ id: b.row.id, message: sanitise(r.error.message) });
        } else refused.push({ id: b.row.id, item: b.item, error: r.error });
      });
      for (const f of failing) await noted([f.id], f.message);
      await settle(ctx, delivery, outOf, settled);
      for (const r of refused) await fail(ctx, delivery, outOf, [{ id: r.id, item: r.item }], r.error, 'refused');
      if (unknown.length === 0) continue;
      const retryable = !(failure instanceof ConnectorError) || failure.retryable;
      const message = sanitise(failure instanceof Error ? failure.message : String(failure));
      ctx.log.warn({ kind: delivery.kind, documents: unknown.length, retryable, err: message }, 'target call failed');
      if (!retryable) {
        await fail(
          ctx,
          delivery,
          outOf,
          unknown.map((b) => ({ id: b.row.id, item: b.item })),
          {
            code: (failure instanceof ConnectorError ? failure.code : null) ?? 'TARGET_REFUSED',
            message,
            retryable: false,
          },
          'refused',
        );
        continue;
      }
      // Uncertain: the target may have written some of them. Look them up before resending.
      retry.push(...unknown.map((b) => ({ ...b, uncertain: true })));
      if (failure instanceof ConnectorError && failure.retryAfterMs !== null) {
        // The target said when: nothing more this flush, and no retry before that.
        stop = true;
        retryAfterMs = Math.max(retryAfterMs, failure.retryAfterMs);
      }
      await noted(
        unknown.map((b) => b.row.id),
        message,
      );
    }
    pending = retry;
    waitAtLeastMs = Math.max(waitAtLeastMs, retryAfterMs);
    if (stop) break;
  }
  // Left by a stopping worker: due at once for the next one, neither backed off nor parked (the
  // stop is not the target's failure).
  if (stopping() && pending.length > 0) {
    await ctx.db.query(`UPDATE outbox SET next_attempt_at = now() WHERE id = ANY($1::bigint[])`, [
      pending.map((p) => p.row.id),
    ]);
    for (const p of pending)
      outOf(p.row.id).record({
        kind: delivery.recordKind ?? delivery.kind,
        sourceId: p.item.sourceId,
        outcome: 'failed',
        message: `waiting for the ${ctx.target.type} target: this worker stopped before it was taken; the next worker sends it`,
      });
    return pending.length;
  }
  // Still pending: back off, or park for good after the policy's last attempt.
  for (const p of pending) {
    const n = attempts.get(p.row.id) ?? 0;
    if (n >= ctx.retry.maxAttempts) {
      await fail(ctx, delivery, outOf, [{ id: p.row.id, item: p.item }], {
        code: 'TARGET_UNAVAILABLE',
        message: `The ${ctx.target.type} target did not take this document after ${n} attempts${lastAnswer(lastError.get(p.row.id))}`,
        retryable: true,
      });
      continue;
    }
    const delay = Math.min(
      3600,
      Math.max(ctx.retry.baseSeconds * 2 ** Math.max(0, n - 1), Math.ceil(waitAtLeastMs / 1000)),
    );
    await ctx.db.query(`UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1`, [
      p.row.id,
      delay,
    ]);
    waiting++;
    outOf(p.row.id).record({
      kind: delivery.recordKind ?? delivery.kind,
      sourceId: p.item.sourceId,
      outcome: 'failed',
      message: `waiting for the ${ctx.target.type} target; retried automatically in ${delay} s (attempt ${n} of ${ctx.retry.maxAttempts})${lastAnswer(lastError.get(p.row.id))}`,
    });
  }
  return waiting;
}

/** Saves successes: the delivery's own commit and the outbox items done, in one transaction. */
async function settle<D>(
  ctx: SyncContext,
  delivery: Delivery<D>,
  outOf: (id: string) => PageOutcome,
  settled: { id: string; done: Delivered<D> }[],
): Promise<void> {
  if (settled.length === 0) return;
  // Each run's documents committed into its own outcome; all of them in one transaction.
  const byRun = new Map<PageOutcome, Delivered<D>[]>();
  for (const s of settled) {
    const out = outOf(s.id);
    byRun.set(out, (byRun.get(out) ?? []).concat(s.done));
  }
  await ctx.db.transaction(async (tx) => {
    for (const [out, done] of byRun) await delivery.commit(ctx, tx, done, out);
    await tx.query(
      `UPDATE outbox SET status = 'done', done_at = now(), last_error = NULL,
              result = jsonb_build_object('targetId', r.target_id, 'number', r.number)
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS r(id, target_id, number)
        WHERE outbox.id = r.id`,
      [
        settled.map((s) => s.id),
        settled.map((s) => s.done.result.targetId),
        settled.map((s) => s.done.result.number ?? null),
      ],
    );
  });
}

/**
 * The item fails for now and its document is parked with the reason. `refused`: the target
 * answered the attempt with a refusal (nothing written), so the next one goes under a new key.
 */
async function fail<D>(
  ctx: SyncContext,
  delivery: Delivery<D>,
  outOf: (id: string) => PageOutcome,
  items: { id: string; item: Outgoing<D> }[],
  error: ItemError,
  answer: 'refused' | 'unsure' = 'unsure',
): Promise<void> {
  await ctx.db.query(
    `UPDATE outbox SET status = 'failed', last_error = coalesce(last_error, $2), result = $3,
            refusals = refusals + $4
      WHERE id = ANY($1::bigint[])`,
    [items.map((i) => i.id), error.message.slice(0, 1000), JSON.stringify({ error }), answer === 'refused' ? 1 : 0],
  );
  for (const i of items) parkFailure(outOf(i.id), delivery.recordKind ?? delivery.kind, i.item, error);
}

async function note(ctx: SyncContext, ids: string[], message: string): Promise<void> {
  await ctx.db.query(`UPDATE outbox SET last_error = $2 WHERE id = ANY($1::bigint[])`, [ids, message.slice(0, 1000)]);
}

/** The last failure of a document, as the tail of what is said of it. */
const lastAnswer = (message: string | null | undefined) => (message ? `; the last: ${message}` : '');

/** A short, printable reason: never a remote body beyond a few hundred characters. */
export function sanitise(message: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = message.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > 300 ? clean.slice(0, 297) + '...' : clean;
}
