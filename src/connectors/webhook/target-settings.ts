import { z } from 'zod';

/* The settings of the webhook target (its `target:` block), checked when a pipeline is loaded or saved. */

/** Headers the target sets itself; the settings may not override them. */
const OWN_HEADERS = new Set(['content-type', 'accept', 'x-ledgerlink-signature', 'idempotency-key']);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

/** The `target:` block of a pipeline whose target is a webhook. */
export const WebhookTargetSettings = z
  .strictObject({
    type: z.literal('webhook').optional(),
    url: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .meta({
        description:
          'Where each batch of documents is POSTed as {kind, items: [{idempotencyKey, sourceId, document}]}; ' +
          'the answer must be a 2xx {results: [{id, number?} | {error: {code, message, retryable?, field?}}]}, one per item, in order.',
      }),
    lookupUrl: z
      .string()
      .max(2000)
      .refine((v) => /^https?:\/\//i.test(v) && URL.canParse(fillLookup(v, 'invoice', 'x')), 'must be an http(s) URL')
      .optional()
      .meta({
        description:
          'Where a document is looked up by its reference (GET, signed): "{kind}" and "{reference}" in it are replaced, ' +
          'otherwise kind, reference (and customerTargetId) are added as query parameters. 200 {id, number?} when found, 404 when not. ' +
          'Without it, after an uncertain outcome (timeout, dropped connection, 5xx) the same documents are sent again with the ' +
          'same Idempotency-Key and item idempotencyKey, and exactly-once then relies on the receiver honouring those keys.',
      }),
    secret: z.string().min(16).max(500).meta({
      description:
        'Signs every request in X-Ledgerlink-Signature exactly as inbound webhooks are signed (HMAC-SHA256 of "<t>.<body>"). Encrypted at rest.',
    }),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000).meta({
      description:
        'Per request, the whole exchange. A timeout is an uncertain outcome: the documents are looked up before being sent again.',
    }),
    batchSize: z.number().int().min(1).max(1000).default(100).meta({
      description:
        "Documents per request. With 1, the Idempotency-Key is the document's own key and a bare {id, number?} answer is accepted.",
    }),
    concurrency: z.number().int().min(1).max(16).default(1).meta({ description: 'Requests in flight at once.' }),
    callsPerSecond: z.number().positive().max(1000).optional(),
    callsPerMinute: z.number().positive().max(60_000).optional(),
    headers: z
      .record(
        z.string().regex(HEADER_NAME, 'must be an HTTP header name'),
        z
          .string()
          .max(2000)
          .refine((v) => !/[\r\n\0]/.test(v), 'must not contain line breaks'),
      )
      .refine((h) => Object.keys(h).every((k) => !OWN_HEADERS.has(k.toLowerCase())), {
        message: `may not set ${[...OWN_HEADERS].join(', ')}`,
      })
      .optional()
      .meta({
        description:
          'Extra headers on every request (an Authorization header, an API key). Their values are encrypted at rest and shown as "[secret]".',
      }),
  })
  .meta({ description: 'Settings of the webhook target.' });
export type WebhookTargetSettings = z.output<typeof WebhookTargetSettings>;

/** The lookup URL for one document: placeholders filled, or query parameters added. */
export function fillLookup(
  template: string,
  kind: string,
  reference: string,
  customerTargetId?: string | null,
): string {
  const placeholders = template.includes('{kind}') || template.includes('{reference}');
  const filled = template
    .replaceAll('{kind}', encodeURIComponent(kind))
    .replaceAll('{reference}', encodeURIComponent(reference));
  if (!URL.canParse(filled)) return filled;
  const url = new URL(filled);
  if (!placeholders) {
    url.searchParams.set('kind', kind);
    url.searchParams.set('reference', reference);
  }
  if (customerTargetId) url.searchParams.set('customerTargetId', customerTargetId);
  return url.toString();
}
