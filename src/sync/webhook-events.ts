import type { Queryable } from '../db/database.ts';
import type { SourceItem, SourcePage } from './connector.ts';

/** A webhook event as received and stored, before it is turned into canonical records. */
export interface StoredWebhookEvent {
  eventId: string;
  type: string;
  payload: unknown;
}

/**
 * Stores an event once per pipeline and event id, inside the caller's transaction. Returns false
 * when the event was already there: a sender's retry or a replay, which must change nothing. (Once
 * processed, an event is kept for LEDGERLINK_WEBHOOK_EVENTS_RETENTION_DAYS, far longer than senders
 * retry; one sent again after it went is stored anew and posts nothing: src/sync/retention.ts.)
 */
export async function storeWebhookEvent(
  db: Queryable,
  pipelineId: string,
  event: StoredWebhookEvent,
): Promise<boolean> {
  const { rows } = await db.query<{ event_id: string }>(
    `INSERT INTO webhook_events (pipeline_id, event_id, event_type, payload) VALUES ($1, $2, $3, $4)
     ON CONFLICT (pipeline_id, event_id) DO NOTHING RETURNING event_id`,
    [pipelineId, event.eventId, event.type, JSON.stringify(event.payload)],
  );
  return rows.length > 0;
}

async function pendingEvents(db: Queryable, pipelineId: string, limit: number): Promise<StoredWebhookEvent[]> {
  const { rows } = await db.query<{ event_id: string; event_type: string; payload: unknown }>(
    `SELECT event_id, event_type, payload FROM webhook_events WHERE pipeline_id = $1 AND processed_at IS NULL
      ORDER BY received_at, event_id LIMIT $2`,
    [pipelineId, limit],
  );
  return rows.map((r) => ({ eventId: r.event_id, type: r.event_type, payload: r.payload }));
}

async function markProcessed(
  db: Queryable,
  pipelineId: string,
  eventIds: string[],
  runId: string | null,
): Promise<void> {
  await db.query(
    `UPDATE webhook_events SET processed_at = now(), run_id = $3 WHERE pipeline_id = $1 AND event_id = ANY($2::text[])`,
    [pipelineId, eventIds, runId],
  );
}

/**
 * What a connector makes of a batch of stored events: the records of a page, and the events that
 * page stands for (a prefix of the batch; the rest come in the next page).
 */
export type EventConverter = (
  events: StoredWebhookEvent[],
) => Promise<{ items: SourceItem[]; used: StoredWebhookEvent[] }>;

/**
 * Pages of a pipeline's unprocessed webhook events, oldest first. A page's events are marked
 * processed only when the engine asks for the next page, that is once it has processed this one
 * (a generator resumes after its consumer's loop body), and never when the run fails.
 *
 * The marking is not in the transactions that post the page, and need not be: if the process dies
 * between posting and marking, the next run sees the same events again and processing them again
 * is a no-op. Every document is found in the engine's source→ledger map (`sync_map`, written in
 * the posting transaction) and skipped, or, failing that, the ledger's unique external reference
 * refuses a second copy and the engine links the first; unchanged customers are skipped by their
 * fingerprint. Events are at-least-once; postings stay exactly-once.
 */
export async function* webhookEventPages(
  db: Queryable,
  pipelineId: string,
  runId: string | null,
  convert: EventConverter,
  pageSize = 200,
): AsyncIterable<SourcePage> {
  for (;;) {
    const events = await pendingEvents(db, pipelineId, pageSize);
    if (events.length === 0) return;
    const page = await convert(events);
    // A converter that took nothing would have this loop fetch the same events for ever.
    const used = page.used.length > 0 ? page.used : events.slice(0, 1);
    yield { items: page.items, cursor: null };
    await markProcessed(
      db,
      pipelineId,
      used.map((e) => e.eventId),
      runId,
    );
  }
}
