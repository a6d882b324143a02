import type { SourceItem } from '../../sync/connector.ts';
import { type StoredWebhookEvent, webhookEventPages } from '../../sync/webhook-events.ts';
import { registerSource, registerTarget } from '../../sync/registry.ts';
import { WebhookEvent, eventRecords } from './events.ts';
import { registerCanonicalInbound } from './inbound.ts';
import { WebhookTargetSettings, createWebhookTarget, fillLookup } from './target.ts';

/**
 * Turns stored canonical webhook events into a page of records, in arrival order. A page ends
 * before a second event about an invoice already in it: the engine posts a page's invoices
 * together, so the later version must meet the posted one in the next page to be checked. An
 * invoice changed after it was posted is the engine's to park (INVOICE_ALREADY_POSTED_CHANGED,
 * src/sync/engine/changed.ts), as for every source.
 */
function convertEvents(events: StoredWebhookEvent[]) {
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
  return { items, used };
}

/**
 * The canonical webhook source: the pipeline's received events (stored by POST
 * /v1/webhooks/{pipeline} before it answered), processed by a run of trigger "webhook" or by any
 * other run of the pipeline, which thereby also sweeps up events whose run failed.
 */
registerSource('webhook', (pipeline, deps) => ({
  type: 'webhook',
  pages: () => webhookEventPages(deps.db, pipeline.id, deps.runId, (events) => Promise.resolve(convertEvents(events))),
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
