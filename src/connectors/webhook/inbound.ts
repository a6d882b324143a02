import { DomainError } from '../../domain/errors.ts';
import { parseJsonExact } from '../../domain/json.ts';
import { type InboundVerdict, headerValue, registerInbound } from '../../sync/registry.ts';
import { WEBHOOK_EXAMPLE, WebhookEvent } from './events.ts';
import { SIGNATURE_HEADER, signatureProblem } from './signature.ts';

/** Reads a verified body as a canonical event: INVALID_JSON, or VALIDATION_ERROR naming each field at fault. */
function parseEvent(body: Buffer): InboundVerdict {
  let json: unknown;
  try {
    json = parseJsonExact(body.toString('utf8'));
  } catch (err) {
    return {
      ok: false,
      error: new DomainError('INVALID_JSON', `The body is not valid JSON: ${(err as Error).message}`),
    };
  }
  const r = WebhookEvent.safeParse(json);
  if (!r.success) {
    const problems = r.error.issues.map((i) => ({
      field: ['body', ...i.path.map(String)].join('.'),
      message: i.message,
    }));
    return {
      ok: false,
      error: new DomainError('VALIDATION_ERROR', problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems),
    };
  }
  return { ok: true, event: { eventId: r.data.id, type: r.data.type, payload: r.data } };
}

/** `POST /v1/webhooks/{pipeline}`: canonical events from any system, signed with X-Ledgerlink-Signature. */
export function registerCanonicalInbound(): void {
  registerInbound({
    sourceType: 'webhook',
    pathSuffix: '',
    docs: {
      operationId: 'receiveWebhook',
      summary: 'Receive a sales event (canonical webhook) for a pipeline whose source is `webhook`',
      description:
        'Authenticated by signature, not by token: `X-Ledgerlink-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the pipeline\'s webhookSecret>`. ' +
        'Refused (401) when the signature does not match the exact body bytes (WEBHOOK_SIGNATURE_INVALID) or its timestamp is more than 5 minutes ' +
        'from the server clock either way (WEBHOOK_TIMESTAMP_OUT_OF_RANGE). The event is stored before the 202, once per event id (a replay answers ' +
        '`duplicate: true` and changes nothing), then processed by a run of trigger "webhook". A posted invoice is never changed: an update with ' +
        'different amounts is parked as INVOICE_ALREADY_POSTED_CHANGED.',
      body: WebhookEvent,
      example: WEBHOOK_EXAMPLE,
      accepted: 'Stored (or already stored) and queued for processing.',
      errors: ['WEBHOOK_SIGNATURE_INVALID', 'WEBHOOK_TIMESTAMP_OUT_OF_RANGE', 'INVALID_JSON', 'NOT_FOUND'],
    },
    verify(pipeline, body, headers) {
      if (!pipeline.webhookSecret) return { ok: false, noEndpoint: true };
      const refused = signatureProblem(headerValue(headers, SIGNATURE_HEADER), body, pipeline.webhookSecret);
      return refused ? { ok: false, error: refused } : parseEvent(body);
    },
  });
}
