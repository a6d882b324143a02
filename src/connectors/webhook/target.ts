import type { Logger } from 'pino';
import { parseJsonExact } from '../../domain/json.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { type GuardOptions, isOutboundRefused, outboundRequest, safeReason } from '../../sync/http.ts';
import {
  type FoundDocument,
  type ItemResult,
  type TargetCallContext,
  type TargetConnector,
  type TargetKind,
  failed,
  ok,
} from '../../sync/target.ts';
import { signatureHeader } from './signature.ts';
import { WebhookTargetSettings, fillLookup } from './target-settings.ts';
import {
  type Answer,
  BatchAnswer,
  Created,
  Found,
  Refused,
  UNCERTAIN,
  type WireItem,
  batchKey,
  clip,
  contentKey,
  retryAfterMs,
} from './wire.ts';

export { WebhookTargetSettings, fillLookup } from './target-settings.ts';
export { batchKey } from './wire.ts';

/*
 * The `webhook` target: each booked document is POSTed as JSON to a URL of the user's (an in-house
 * ERP, a middleware), signed like our inbound webhooks. It is also the reference remote target:
 * everything another platform's connector must get right (a result per item, an idempotency key,
 * uncertain outcomes thrown as retryable so the engine looks the document up before resending) is
 * here in its smallest form. docs/webhooks.md ("Webhook target") describes the wire protocol.
 */

export const SYSTEM = 'webhook target';

/** What an error repeats of a failed answer beyond its status: its error code, when it has one (never free text). */
function withReason(text: string): string {
  const code = safeReason(text);
  return code ? `: ${code}` : '';
}

/** Reason codes of the item errors this target returns (see src/sync/reasons.ts). */
export const TARGET_REJECTED = 'TARGET_REFUSED' as const;
export const TARGET_REQUEST_REFUSED = 'TARGET_REFUSED' as const;

/**
 * Creates the connector from settings already checked by {@link WebhookTargetSettings}. `guard`
 * replaces the outbound policy and name resolution in tests (src/sync/http.ts).
 */
export function createWebhookTarget(
  input: WebhookTargetSettings | Record<string, unknown>,
  opts: { log?: Logger | undefined; guard?: GuardOptions | undefined } = {},
): TargetConnector {
  const settings = WebhookTargetSettings.parse(input);
  const secret = settings.secret;
  // A receiver may echo what it was sent; nothing it says leaves this module with a secret in it: the
  // signing secret, every extra header's value (declared secret), and the token of one such as "Bearer <token>".
  const hidden = [secret, ...Object.values(settings.headers ?? {}).flatMap((v) => [v, ...v.split(/\s+/)])]
    .filter((v) => v.length >= 8)
    .sort((a, b) => b.length - a.length);
  const redact = (text: string) => hidden.reduce((t, h) => t.split(h).join('[redacted]'), text);
  const fail = (message: string, opts: ConstructorParameters<typeof ConnectorError>[2]) =>
    new ConnectorError(SYSTEM, redact(message), {
      ...opts,
      cause: opts.cause instanceof Error ? redact(opts.cause.message) : undefined,
    });

  async function call(
    ctx: TargetCallContext,
    method: 'GET' | 'POST',
    url: string,
    body: string,
    extra: Record<string, string>,
  ): Promise<Answer> {
    const what = `${method} ${new URL(url).origin}${new URL(url).pathname}`;
    // A stopping worker starts no call; one under way is let finish, so that its outcome is known.
    if (ctx.signal?.aborted) throw fail(`${what}: not sent: this worker is stopping`, { retryable: true });
    const timeout = AbortSignal.timeout(settings.timeoutMs);
    try {
      // A redirect is answered as the refusal it is, never followed (outboundRequest follows none):
      // the signed body goes only where configured. The answer is read under the same deadline: a
      // receiver that stalls mid-answer is as lost as a silent one.
      const a = await outboundRequest(
        url,
        {
          method,
          headers: {
            ...settings.headers,
            accept: 'application/json',
            ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
            'x-ledgerlink-signature': signatureHeader(body, secret),
            ...extra,
          },
          ...(method === 'POST' ? { body } : {}),
          signal: timeout,
        },
        opts.guard,
      );
      if (a.status < 200 || a.status >= 300) {
        opts.log?.debug({ request: what, status: a.status, body: redact(clip(a.text, 2000)) }, 'webhook target answer');
      }
      return a;
    } catch (err) {
      // Nothing was sent: the outcome is known, and sending again cannot change it until the URL does.
      if (isOutboundRefused(err)) throw fail(`${what}: not sent: ${err.message}`, { retryable: false });
      const why = timeout.aborted
        ? `no answer within ${settings.timeoutMs} ms`
        : `connection failed (${err instanceof Error ? clip(String((err.cause as Error | undefined)?.message ?? err.message), 200) : 'unknown'})`;
      // Sent or not, committed or not: unknown. The engine looks the documents up before sending them again.
      throw fail(`${what}: ${why}; the outcome is unknown`, { retryable: true, cause: err });
    }
  }

  function uncertain(what: string, a: Answer): ConnectorError {
    return fail(`${what} answered ${a.status}${withReason(a.text)}`, {
      status: a.status,
      retryable: true,
      retryAfterMs: a.status === 429 || a.status === 503 ? retryAfterMs(a.headers.get('retry-after')) : null,
    });
  }

  /** One request for one chunk of items; a result per item, or a throw when the outcome is unknown or unreadable. */
  async function postChunk(ctx: TargetCallContext, kind: TargetKind, items: WireItem[]): Promise<ItemResult[]> {
    const body = JSON.stringify({ kind, items });
    const a = await call(ctx, 'POST', settings.url, body, {
      'idempotency-key': batchKey(items.map((i) => i.idempotencyKey)),
    });
    const what = `POST ${kind} ×${items.length}`;
    if (UNCERTAIN(a.status)) throw uncertain(what, a);
    if (a.status < 200 || a.status >= 300) {
      // The receiver refused the request as a whole and committed nothing: no document of it can go as it is.
      const error = {
        code: TARGET_REQUEST_REFUSED,
        message: redact(`The webhook target refused the request (HTTP ${a.status})${withReason(a.text)}`),
        retryable: false,
      };
      return items.map(() => failed(error));
    }
    let parsed: unknown;
    try {
      parsed = parseJsonExact(a.text);
    } catch {
      throw fail(`${what} answered ${a.status} with a body that is not JSON`, { status: a.status, retryable: false });
    }
    const batch = BatchAnswer.safeParse(parsed);
    // One item may be answered with its bare result (a receiver written for one document per request).
    const results = batch.success ? batch.data.results : items.length === 1 ? [parsed] : null;
    if (!results) {
      throw fail(`${what} answered ${a.status} without {results: [...]} of one result per item`, {
        status: a.status,
        retryable: false,
      });
    }
    if (results.length !== items.length) {
      throw fail(`${what} answered ${results.length} results for ${items.length} items`, {
        status: a.status,
        retryable: false,
      });
    }
    return results.map((raw, i) => {
      const created = Created.safeParse(raw);
      if (created.success) {
        const r = created.data;
        const update = Boolean(items[i]!.document.targetId);
        return ok(r.id, { number: r.number ?? null, outcome: r.outcome ?? (update ? 'updated' : 'created') });
      }
      const refused = Refused.safeParse(raw);
      if (!refused.success) {
        // Committed or not, this item cannot be told: the answer breaks the protocol, which a resend will not mend.
        throw fail(`${what} answered ${a.status} with result ${i} neither {id} nor {error}`, {
          status: a.status,
          retryable: false,
        });
      }
      const e = refused.data.error;
      return failed({
        code: TARGET_REJECTED,
        message: redact(
          clip(
            `Refused by the webhook target${e.code ? ` (${clip(e.code, 100)})` : ''}: ${e.message ?? 'no reason given'}`,
            500,
          ),
        ),
        retryable: e.retryable ?? false,
        field: e.field ?? undefined,
      });
    });
  }

  /**
   * Sends items in chunks of batchSize, `concurrency` requests at a time. A chunk whose outcome is
   * unknown makes the whole call throw: the engine then looks up every item of it, those of chunks
   * that did succeed included (they are found), which keeps one protocol for every remote target.
   */
  async function send(ctx: TargetCallContext, kind: TargetKind, items: WireItem[]): Promise<ItemResult[]> {
    const chunks: WireItem[][] = [];
    for (let i = 0; i < items.length; i += settings.batchSize) chunks.push(items.slice(i, i + settings.batchSize));
    const out: ItemResult[][] = new Array<ItemResult[]>(chunks.length);
    let next = 0;
    let failure: { error: unknown } | null = null;
    const worker = async () => {
      // After a failure no new request starts; those in flight are let finish.
      while (next < chunks.length && !failure) {
        const n = next++;
        try {
          out[n] = await postChunk(ctx, kind, chunks[n]!);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    // Thrown only once every request has settled: the engine's lookups must not race a write still in flight.
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, chunks.length) }, worker));
    if (failure) throw (failure as { error: unknown }).error;
    return out.flat();
  }

  const keyed = (kind: TargetKind, sourceId: string, document: Record<string, unknown>, key?: string): WireItem => ({
    idempotencyKey: key ?? contentKey(kind, sourceId, document),
    sourceId,
    document,
  });

  async function findByReference(
    ctx: TargetCallContext,
    kind: TargetKind,
    reference: string,
    customerTargetId?: string | null,
  ): Promise<FoundDocument | null> {
    // Without a lookup URL there is nothing to ask: a resend carries the same keys, and the receiver must honour them.
    if (!settings.lookupUrl) return null;
    const url = fillLookup(settings.lookupUrl, kind, reference, customerTargetId);
    const what = `lookup of ${kind} ${clip(reference, 60)}`;
    const a = await call(ctx, 'GET', url, '', {});
    if (a.status === 404) return null;
    if (UNCERTAIN(a.status)) throw uncertain(what, a);
    if (a.status < 200 || a.status >= 300) {
      throw fail(`${what} answered ${a.status}${withReason(a.text)}`, { status: a.status, retryable: false });
    }
    let parsed: unknown;
    try {
      parsed = parseJsonExact(a.text);
    } catch {
      throw fail(`${what} answered ${a.status} with a body that is not JSON`, { status: a.status, retryable: false });
    }
    const found = Found.safeParse(parsed);
    if (!found.success) {
      throw fail(`${what} answered ${a.status} without {id, number?}`, { status: a.status, retryable: false });
    }
    return {
      targetId: found.data.id,
      number: found.data.number ?? null,
      customerTargetId: found.data.customerTargetId ?? null,
    };
  }

  return {
    type: 'webhook',
    transactional: false,
    capabilities: {
      customers: true,
      items: true,
      invoices: true,
      creditNotes: false,
      payments: true,
      // Payments carry the invoice's target id, so the receiver can apply them.
      allocations: true,
      refunds: true,
      fees: true,
      paymentStatus: false,
      pdf: false,
      drafts: false,
      reconciliation: false,
    },
    limits: {
      concurrency: settings.concurrency,
      batchSize: settings.batchSize,
      callsPerSecond: settings.callsPerSecond,
      callsPerMinute: settings.callsPerMinute,
    },

    upsertCustomers: (ctx, items) =>
      send(
        ctx,
        'customer',
        items.map((c) =>
          keyed('customer', c.sourceId, { ...c.record, code: c.code, targetId: c.targetId }, c.idempotencyKey),
        ),
      ),
    upsertProducts: (ctx, items) =>
      send(
        ctx,
        'product',
        items.map((p) =>
          keyed('product', p.sourceId, { ...p.record, code: p.code, targetId: p.targetId }, p.idempotencyKey),
        ),
      ),
    createInvoices: (ctx, items) =>
      send(
        ctx,
        'invoice',
        items.map((d) =>
          keyed(
            'invoice',
            d.sourceId,
            { ...d.record, customerTargetId: d.customerTargetId, productTargetIds: d.productTargetIds },
            d.idempotencyKey,
          ),
        ),
      ),
    createPayments: (ctx, items) =>
      send(
        ctx,
        'payment',
        items.map((d) =>
          keyed(
            'payment',
            d.sourceId,
            {
              ...d.record,
              customerTargetId: d.customerTargetId,
              invoiceTargetId: d.invoiceTargetId,
              bankAccountCode: d.bankAccountCode,
            },
            d.idempotencyKey,
          ),
        ),
      ),
    createRefunds: (ctx, items) =>
      send(
        ctx,
        'refund',
        items.map((d) =>
          keyed(
            'refund',
            d.sourceId,
            {
              ...d.record,
              customerTargetId: d.customerTargetId,
              paymentTargetId: d.paymentTargetId,
              bankAccountCode: d.bankAccountCode,
            },
            d.idempotencyKey,
          ),
        ),
      ),

    findByReference,
    // The lookup URL is the one read the receiver offers: a reference nothing was booked under must answer 404.
    ...(settings.lookupUrl
      ? {
          async checkConnection(ctx: TargetCallContext) {
            await findByReference(ctx, 'invoice', 'ledgerlink-connection-test');
            return 'the lookup URL';
          },
        }
      : {}),
  };
}
