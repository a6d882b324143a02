import type { Queryable } from '../../db/database.ts';
import { formatAmount } from '../../domain/money.ts';
import type { CanonicalInvoice } from '../../sync/canonical.ts';
import type { SourceItem } from '../../sync/connector.ts';
import { canonicalGross } from '../../sync/engine/invoices.ts';
import type { Pipeline } from '../../sync/pipelines.ts';
import { type StoredWebhookEvent, webhookEventPages } from '../../sync/webhook-events.ts';
import { registerSource, registerTarget } from '../../sync/registry.ts';
import { WebhookEvent, eventRecords } from './events.ts';
import { registerCanonicalInbound } from './inbound.ts';
import { WebhookTargetSettings, createWebhookTarget, fillLookup } from './target.ts';

/**
 * Posted invoices are immutable. An event that sends again an invoice the pipeline already posted
 * is let through when its total is unchanged (the engine records it as skipped, "already
 * posted"); when the total or currency differs it is parked with INVOICE_ALREADY_POSTED_CHANGED,
 * so that a person books the difference (a credit note or a further invoice) instead of the change
 * vanishing. The parked record holds no retryable record on purpose: retrying cannot change a
 * posted invoice; it is resolved by hand.
 */
async function refusePostedChanges(db: Queryable, pipeline: Pipeline, items: SourceItem[]): Promise<SourceItem[]> {
  const invoices = items.flatMap((i) => ('record' in i && i.record.kind === 'invoice' ? [i.record] : []));
  if (invoices.length === 0) return items;
  const { rows } = await db.query<{
    source_id: string;
    target_id: string;
    gross: string | null;
    currency: string | null;
  }>(
    `SELECT m.source_id, m.target_id, d.gross::text AS gross, trim(d.currency) AS currency
       FROM sync_map m
       LEFT JOIN source_documents d ON d.pipeline_id = m.pipeline_id AND d.kind = 'invoice' AND d.source_id = m.source_id
      WHERE m.pipeline_id = $1 AND m.kind = 'invoice' AND m.source_id = ANY($2::text[])`,
    [pipeline.id, invoices.map((i) => i.sourceId)],
  );
  const posted = new Map(rows.map((r) => [r.source_id, r]));
  return items.map((item) => {
    if (!('record' in item) || item.record.kind !== 'invoice') return item;
    const inv: CanonicalInvoice = item.record;
    const was = posted.get(inv.sourceId);
    const gross = canonicalGross(inv);
    if (!was || was.gross === null || gross === null) return item;
    if (BigInt(was.gross) === gross && was.currency === inv.currency) return item;
    const before = was.currency ? formatAmount(BigInt(was.gross), was.currency) : was.gross;
    return {
      invalid: {
        kind: 'invoice',
        sourceId: inv.sourceId,
        reasonCode: 'INVOICE_ALREADY_POSTED_CHANGED',
        message:
          `Invoice ${inv.externalReference} was posted (transaction ${was.target_id}) for ${was.currency} ${before}; the source now says ` +
          `${inv.currency} ${formatAmount(gross, inv.currency)}. Posted invoices cannot change: book the difference with a credit note or a further invoice, then resolve this.`,
        field: 'lines',
        payload: {
          received: inv,
          posted: { transactionId: was.target_id, currency: was.currency, gross: before },
          raw: item.raw,
        },
      },
    };
  });
}

/**
 * Turns stored canonical webhook events into a page of records, in arrival order. A page ends
 * before a second event about an invoice already in it: the engine posts a page's invoices
 * together, so the later version must meet the posted one in the next page to be checked.
 */
async function convertEvents(db: Queryable, pipeline: Pipeline, events: StoredWebhookEvent[]) {
  const items: SourceItem[] = [];
  const used: StoredWebhookEvent[] = [];
  const invoicesInPage = new Set<string>();
  for (const stored of events) {
    const parsed = WebhookEvent.safeParse(stored.payload);
    if (!parsed.success) {
      // Validated when received; this only happens for events stored under an older schema.
      const kind = stored.type.startsWith('payment')
        ? 'payment'
        : stored.type.startsWith('refund')
          ? 'refund'
          : 'invoice';
      items.push({
        invalid: {
          kind,
          sourceId: stored.eventId,
          reasonCode: 'WEBHOOK_EVENT_INVALID',
          message: parsed.error.message.slice(0, 1000),
          payload: { event: stored.payload },
        },
      });
      used.push(stored);
      continue;
    }
    const records = eventRecords(parsed.data);
    const invoice = records.find((r) => r.kind === 'invoice');
    if (invoice && invoicesInPage.has(invoice.sourceId)) break;
    if (invoice) invoicesInPage.add(invoice.sourceId);
    for (const record of records) items.push({ record, raw: { eventId: stored.eventId, type: stored.type } });
    used.push(stored);
  }
  return { items: await refusePostedChanges(db, pipeline, items), used };
}

/**
 * The canonical webhook source: the pipeline's received events (stored by POST
 * /v1/webhooks/{pipeline} before it answered), processed by a run of trigger "webhook" or by any
 * other run of the pipeline, which thereby also sweeps up events whose run failed.
 */
registerSource('webhook', (pipeline, deps) => ({
  type: 'webhook',
  pages: () =>
    webhookEventPages(deps.db, pipeline.id, deps.runId, (events) => convertEvents(deps.db, pipeline, events)),
}));

registerCanonicalInbound();
/**
 * The webhook target: every booked document POSTed as signed JSON to a URL of the user's (an
 * in-house ERP, a middleware). See src/connectors/webhook/target.ts and docs/webhooks.md.
 */
registerTarget({
  type: 'webhook',
  description: 'POSTs each document as signed JSON to a URL, with an Idempotency-Key; optional lookup URL',
  settings: WebhookTargetSettings,
  // Extra headers usually carry credentials (Authorization, an API key): every value is a secret.
  secrets: ['secret', 'headers.*'],
  outbound: (s) => [
    { field: 'url', url: String(s.url) },
    ...(typeof s.lookupUrl === 'string' ? [{ field: 'lookupUrl', url: fillLookup(s.lookupUrl, 'invoice', 'x') }] : []),
  ],
  create: async (deps) => createWebhookTarget(deps.settings, { log: deps.log }),
});
