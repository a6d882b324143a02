import { createHmac } from 'node:crypto';
import { safeEqual } from '../../domain/safe-equal.ts';
import { z } from 'zod';
import { DomainError } from '../../domain/errors.ts';

/*
 * QuickBooks Online webhooks come in two formats, both POSTed as JSON and signed the same way:
 * `intuit-signature` is the Base64 HMAC-SHA256 of the exact body, keyed with the app's Verifier Token
 * (Intuit's SDKs verify both formats with one function). Production may aggregate a few minutes of
 * events, and several companies, into one delivery.
 *
 * - Legacy: an object `{eventNotifications: [{realmId, dataChangeEvent: {entities: [{name, id,
 *   operation, lastUpdated}]}}]}`.
 * - CloudEvents (https://blogs.intuit.com/2025/11/12/upcoming-change-to-webhooks-payload-structure/,
 *   the format every app must take since Intuit's 2026 migration deadline): an array of CloudEvents 1.0 `{specversion, id, source, type:
 *   "qbo.<entity>.<operation>.v<n>", time, intuitentityid, intuitaccountid (the realm), data}`.
 *
 * They are told apart by the body's top-level shape (an array, or an object with `eventNotifications`),
 * as Intuit's sample app does; any other body is refused. What a Payment, Invoice or CreditMemo change
 * means for ledgerlink: a payment may have been applied in QuickBooks, so the paid status of the
 * pipeline's invoices is read back (`paidInvoices`) for the source. The route that receives
 * deliveries for a pipeline whose target is QuickBooks is ./inbound.ts.
 */

const Entity = z.object({
  name: z.string(),
  id: z.string(),
  operation: z.string(),
  lastUpdated: z.string().optional(),
});

/** The legacy format: one notification per company, each with the entities that changed. */
export const IntuitLegacyDelivery = z.object({
  eventNotifications: z.array(
    z.object({
      realmId: z.string(),
      dataChangeEvent: z.object({ entities: z.array(Entity) }).optional(),
    }),
  ),
});

/**
 * One CloudEvent as Intuit sends it. The CloudEvents attributes (specversion, id, source, type) and
 * the company (`intuitaccountid`) are required: without the company an event cannot be matched to a
 * pipeline, and a value that does not parse is refused rather than skipped. `intuitentityid`, `time`,
 * `datacontenttype` and `data` are optional (Intuit's own samples omit some).
 */
export const IntuitCloudEvent = z.object({
  specversion: z.string().regex(/^1\.\d+$/, 'a CloudEvents 1.x specversion such as "1.0"'),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.string().min(1),
  time: z.string().optional(),
  datacontenttype: z.string().optional(),
  intuitentityid: z.string().optional(),
  intuitaccountid: z.string().min(1),
  data: z.unknown().optional(),
});

/** The CloudEvents format: a batch of events, possibly of several companies. */
export const IntuitCloudEventsDelivery = z.array(IntuitCloudEvent);

/** Either format, as the API reference documents the route's body. */
export const IntuitWebhookBody = z.union([IntuitCloudEventsDelivery, IntuitLegacyDelivery]);

export type IntuitDeliveryFormat = 'legacy' | 'cloudevents';

/** One change a delivery names, whichever format it came in. */
export interface IntuitChange {
  /** The company it happened in (legacy `realmId`, CloudEvents `intuitaccountid`). */
  realmId: string;
  /** The entity's name in lower case, so that both formats compare alike: 'payment', 'invoice', 'creditmemo'. */
  entity: string;
  /** The entity's id; empty when a CloudEvent names none. */
  id: string;
  /** As sent: 'Create' (legacy) or 'created' (CloudEvents). Nothing depends on it. */
  operation: string;
}

/** `qbo.<entity>.<operation>.v<n>`: QuickBooks Online's data-change event types. */
const QBO_EVENT_TYPE = /^qbo\.([a-z0-9]+)\.([a-z]+)\.v\d+$/i;

/** The signature Intuit sends for a body: Base64 HMAC-SHA256 of the exact bytes, keyed with the verifier token. */
export function intuitSignature(rawBody: Buffer | string, verifierToken: string): string {
  return createHmac('sha256', verifierToken).update(rawBody).digest('base64');
}

/** Whether `intuit-signature` is right for these exact bytes (compared in constant time). */
export function verifyIntuitSignature(rawBody: Buffer, header: string | undefined, verifierToken: string): boolean {
  if (!header || verifierToken === '') return false;
  const want = Buffer.from(intuitSignature(rawBody, verifierToken), 'base64');
  const got = Buffer.from(header.trim(), 'base64');
  return safeEqual(got, want);
}

function validationError(what: string, issues: z.ZodError['issues']): DomainError {
  const details = issues.slice(0, 20).map((i) => ({
    field: ['body', ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  return new DomainError('VALIDATION_ERROR', `The body is not a QuickBooks Online webhook delivery (${what})`, details);
}

function legacyChanges(delivery: z.output<typeof IntuitLegacyDelivery>): IntuitChange[] {
  return delivery.eventNotifications.flatMap((n) =>
    (n.dataChangeEvent?.entities ?? []).map((e) => ({
      realmId: n.realmId,
      entity: e.name.toLowerCase(),
      id: e.id,
      operation: e.operation,
    })),
  );
}

/** Events whose type is not a QuickBooks Online data change (another Intuit product, a future family) name no change. */
function cloudEventChanges(events: z.output<typeof IntuitCloudEventsDelivery>): IntuitChange[] {
  return events.flatMap((e) => {
    const type = QBO_EVENT_TYPE.exec(e.type);
    if (!type) return [];
    return [
      { realmId: e.intuitaccountid, entity: type[1]!.toLowerCase(), id: e.intuitentityid ?? '', operation: type[2]! },
    ];
  });
}

/**
 * Reads a delivery's body (already verified) in either format. Refused with INVALID_JSON when it is
 * not JSON, WEBHOOK_PAYLOAD_UNRECOGNIZED when it is JSON of neither shape, and VALIDATION_ERROR
 * (naming each field) when it has a format's shape but a field is wrong.
 */
export function readIntuitDelivery(
  rawBody: Buffer,
): { format: IntuitDeliveryFormat; changes: IntuitChange[] } | DomainError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return new DomainError('INVALID_JSON', 'The body is not JSON');
  }
  if (Array.isArray(parsed)) {
    const events = IntuitCloudEventsDelivery.safeParse(parsed);
    if (!events.success) return validationError('an array of CloudEvents', events.error.issues);
    return { format: 'cloudevents', changes: cloudEventChanges(events.data) };
  }
  if (typeof parsed === 'object' && parsed !== null && Object.hasOwn(parsed, 'eventNotifications')) {
    const delivery = IntuitLegacyDelivery.safeParse(parsed);
    if (!delivery.success) return validationError('eventNotifications', delivery.error.issues);
    return { format: 'legacy', changes: legacyChanges(delivery.data) };
  }
  return new DomainError(
    'WEBHOOK_PAYLOAD_UNRECOGNIZED',
    'The body is neither a QuickBooks Online CloudEvents delivery (a JSON array of events) nor a legacy one (an object with eventNotifications)',
    [{ field: 'body', message: 'an array of CloudEvents, or an object with eventNotifications' }],
  );
}

/** Entities whose change can change an invoice's paid status (lower case, as IntuitChange.entity). */
export const PAYMENT_STATUS_ENTITIES: ReadonlySet<string> = new Set(['payment', 'invoice', 'creditmemo']);

/**
 * What a delivery's changes ask of company `realmId`: whether payment status should be read back (a
 * Payment, Invoice or CreditMemo of that company changed, whatever the operation), and the invoice
 * ids named. Changes of other companies ask nothing: one app's deliveries cover every company
 * connected to it.
 */
export function paymentStatusChanges(
  changes: IntuitChange[],
  realmId: string,
): { readBack: boolean; invoiceIds: string[] } {
  const relevant = changes.filter((c) => c.realmId === realmId && PAYMENT_STATUS_ENTITIES.has(c.entity));
  const invoiceIds = [...new Set(relevant.filter((c) => c.entity === 'invoice' && c.id !== '').map((c) => c.id))];
  return { readBack: relevant.length > 0, invoiceIds };
}
