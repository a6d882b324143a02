import fc from 'fast-check';
import Stripe from 'stripe';
import { STRIPE_EVENT_TYPES } from '../../src/connectors/stripe/convert.ts';
import { WebhookEvent } from '../../src/connectors/webhook/events.ts';
import { WEBHOOK_BODY_LIMIT_BYTES } from '../../src/api/routes/webhooks.ts';
import type { Pipeline } from '../../src/sync/pipelines.ts';
import { senderSignature } from '../../test/helpers/webhooks.ts';
import type { Answer, FuzzContext } from './context.ts';
import { countStatus, difference, excerpt, type FamilyResult, newResult } from './state.ts';
import { anyValue, fromZod, hostileNumber, hostileString, nestedText } from './values.ts';

/**
 * The webhook families: signed deliveries through the inbound endpoints, the canonical webhook
 * (`POST /v1/webhooks/{pipeline}`, bodies drawn from its event schema) and Stripe's
 * (`/stripe`, events of the types ledgerlink books with hostile objects; the pipeline's source
 * reads the Stripe simulator). A delivery is refused (4xx, nothing written) or accepted (202); an
 * accepted event is processed by its run, each record it yields is booked or parked with a reason.
 */

type Shape = 'event' | 'json' | 'malformed' | 'deep' | 'unsigned';
const SHAPES: Shape[] = [
  'event',
  'event',
  'event',
  'event',
  'event',
  'event',
  'event',
  'json',
  'malformed',
  'deep',
  'event',
  'unsigned',
];

const draw = <T>(arb: fc.Arbitrary<T>, seed: number): T => fc.sample(arb, { seed, numRuns: 1 })[0]!;

function bodyOf(shape: Shape, event: () => unknown, seed: number): string {
  switch (shape) {
    case 'event':
    case 'unsigned':
      return JSON.stringify(event());
    case 'json':
      return JSON.stringify(draw(fc.jsonValue({ maxDepth: 3 }), seed) ?? null);
    case 'malformed':
      return draw(
        fc.constantFrom('{"id": ', '{id: 1}', '', 'null', '[]', '{"id":"x","type":"invoice.created","data":}'),
        seed,
      );
    case 'deep':
      return `{"id":"deep-${seed}","type":"invoice.created","data":${nestedText(draw(fc.integer({ min: 40, max: 20_000 }), seed))}}`;
  }
}

/**
 * What is wrong with how an accepted event was handled, or null: it must be marked processed by a
 * run that did not fail, and every record the run parked or failed must say why (and be parked as
 * an exception), so that nothing is skipped in silence.
 */
async function processingProblem(ctx: FuzzContext, pipeline: Pipeline, eventId: string): Promise<string | null> {
  const { rows } = await ctx.t.db.query<{
    processed: boolean;
    status: string | null;
    error: string | null;
    unexplained: string;
    unparked: string;
  }>(
    `SELECT e.processed_at IS NOT NULL AS processed, r.status, r.error,
            (SELECT count(*) FROM run_records rr WHERE rr.run_id = e.run_id AND rr.outcome IN ('parked', 'failed')
               AND coalesce(rr.message, '') = '')::text AS unexplained,
            (SELECT count(*) FROM run_records rr WHERE rr.run_id = e.run_id AND rr.outcome = 'parked'
               AND NOT EXISTS (SELECT 1 FROM exceptions x WHERE x.pipeline_id = e.pipeline_id AND x.source_id = rr.source_id))::text AS unparked
       FROM webhook_events e LEFT JOIN runs r ON r.id = e.run_id
      WHERE e.pipeline_id = $1 AND e.event_id = $2`,
    [pipeline.id, eventId],
  );
  const row = rows[0];
  if (!row) return 'accepted (202) but not stored';
  if (!row.processed) {
    const { rows: runs } = await ctx.t.db.query<{ status: string; error: string | null; attempts: number }>(
      `SELECT status, error, attempts FROM runs WHERE pipeline_id = $1 ORDER BY created_at DESC LIMIT 1`,
      [pipeline.id],
    );
    return `stored but not processed (last run ${runs[0]?.status}, attempt ${runs[0]?.attempts}: ${excerpt(runs[0]?.error, 300)})`;
  }
  if (row.status === 'failed') return `its run failed: ${excerpt(row.error, 200)}`;
  if (row.unexplained !== '0') return `${row.unexplained} record(s) parked or failed without a reason`;
  if (row.unparked !== '0') return `${row.unparked} parked record(s) with no exception to show for them`;
  return null;
}

interface DeliveryFamily {
  family: string;
  pipeline: (ctx: FuzzContext) => Pipeline;
  url: string;
  event: (n: number, seed: number) => unknown;
  sign: (ctx: FuzzContext, body: string) => Record<string, string>;
}

async function fuzzDeliveries(
  ctx: FuzzContext,
  spec: DeliveryFamily,
  runs: number,
  seed: number,
): Promise<FamilyResult> {
  const result = newResult(spec.family);
  const started = Date.now();
  const pipeline = spec.pipeline(ctx);
  let before = await ctx.probe.read();
  for (let n = 0; n < runs; n++) {
    const caseSeed = (seed + n * 104729) | 0;
    const shape = SHAPES[n % SHAPES.length]!;
    const body = bodyOf(shape, () => spec.event(n, caseSeed), caseSeed);
    const headers =
      shape === 'unsigned'
        ? { 'x-ledgerlink-signature': 't=1,v1=00', 'stripe-signature': 't=1,v1=00' }
        : spec.sign(ctx, body);
    const report = (problem: string) =>
      result.findings.push({
        family: spec.family,
        target: spec.url,
        seed,
        path: `${n}:${shape}`,
        problem,
        input: excerpt(body),
      });
    result.cases++;
    const res: Answer = await ctx.send('POST', spec.url, body, 'none', n + 1, headers);
    countStatus(result, res.status);
    const answer = res.body as {
      error?: { code?: unknown };
      eventId?: string;
      duplicate?: boolean;
      ignored?: boolean;
    } | null;
    if (res.status >= 500) report(`answered ${res.status}: ${excerpt(res.body)}`);
    if (res.status >= 400 && typeof answer?.error?.code !== 'string')
      report(`answered ${res.status} without an error code`);
    // A body over the limit (the webhook routes' own, or the server's if that is smaller, as in this
    // harness) is refused 413 before it is read, so before its signature or its JSON is looked at.
    const tooLarge = Buffer.byteLength(body) > Math.min(WEBHOOK_BODY_LIMIT_BYTES, ctx.bodyLimitBytes);
    if (tooLarge && res.status !== 413) report(`answered ${res.status} to a body over the limit, expected 413`);
    if (!tooLarge && (shape === 'malformed' || shape === 'deep') && res.status !== 400)
      report(`answered ${res.status} to a body that is not a usable event, expected 400`);
    if (!tooLarge && shape === 'unsigned' && res.status !== 401)
      report(`answered ${res.status} to an unsigned delivery, expected 401`);
    const after = await ctx.probe.read();
    if (res.status >= 400) {
      const changed = difference(before, after);
      if (changed) report(`refused with ${res.status} but wrote: ${changed}`);
    } else if (res.status === 202 && answer?.eventId && !answer.duplicate && !answer.ignored) {
      const problem = await processingProblem(ctx, pipeline, answer.eventId);
      if (problem) report(problem);
    }
    before = after;
    ctx.progress(spec.family, n + 1, runs);
  }
  result.ms = Date.now() - started;
  return result;
}

const canonicalEvent = fc.oneof(
  { weight: 3, arbitrary: fromZod(WebhookEvent, 'shaped') },
  { weight: 1, arbitrary: fromZod(WebhookEvent) },
);

export function fuzzWebhooks(ctx: FuzzContext, runs: number, seed: number): Promise<FamilyResult> {
  return fuzzDeliveries(
    ctx,
    {
      family: 'webhook',
      pipeline: (c) => c.pipelines.shop,
      url: '/v1/webhooks/shop',
      event: (n, s) => {
        const e = draw(canonicalEvent, s) as Record<string, unknown> | null;
        // Mostly a fresh id, so that most deliveries are processed rather than acknowledged as replays.
        if (!e || typeof e !== 'object' || Array.isArray(e)) return e;
        if (n % 8 !== 0) e.id = `fz-${seed}-${n}`;
        const data = e.data as { customerSourceId?: unknown; customer?: { sourceId?: unknown } } | null;
        // The embedded customer is the document's own, mostly (else the event is refused before anything is booked).
        if (data?.customer && typeof data.customer === 'object' && n % 3 !== 0)
          data.customer.sourceId = data.customerSourceId;
        return e;
      },
      sign: (c, body) => ({ 'x-ledgerlink-signature': senderSignature(body, c.webhookSecret) }),
    },
    runs,
    seed,
  );
}

const money = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 10_000_000 }) },
  { weight: 2, arbitrary: hostileNumber },
  { weight: 1, arbitrary: anyValue },
);
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: anyValue });
const stripeId = (prefix: string) =>
  maybe(
    fc.oneof(
      fc.nat(40).map((i) => `${prefix}_${i}`),
      hostileString,
    ),
  );

const stripeObject = fc.record(
  {
    id: stripeId('ch'),
    object: maybe(fc.constantFrom('charge', 'payment_intent', 'refund')),
    amount: money,
    amount_received: money,
    amount_refunded: money,
    currency: maybe(fc.constantFrom('eur', 'usd', 'jpy', 'kwd', 'EUR')),
    status: maybe(fc.constantFrom('succeeded', 'pending', 'failed')),
    paid: maybe(fc.boolean()),
    created: maybe(fc.integer({ min: 0, max: 2 ** 31 })),
    customer: maybe(fc.option(stripeId('cus'))),
    charge: stripeId('ch'),
    payment_intent: stripeId('pi'),
    latest_charge: stripeId('ch'),
    balance_transaction: stripeId('txn'),
    description: maybe(hostileString),
    metadata: maybe(
      fc.dictionary(fc.constantFrom('invoice_reference', 'order', '__proto__'), hostileString, { maxKeys: 2 }),
    ),
    billing_details: maybe(fc.record({ name: hostileString, email: hostileString })),
  },
  { requiredKeys: ['id', 'object'] },
);

export function fuzzStripe(ctx: FuzzContext, runs: number, seed: number): Promise<FamilyResult> {
  const types = [...STRIPE_EVENT_TYPES, 'customer.created', 'invoice.paid'];
  return fuzzDeliveries(
    ctx,
    {
      family: 'stripe',
      pipeline: (c) => c.pipelines.stripe,
      url: '/v1/webhooks/stripe/stripe',
      event: (n, s) => {
        const [type, object] = draw(fc.tuple(fc.constantFrom(...types), stripeObject), s);
        return {
          id: `evt_fz_${seed}_${n}`,
          object: 'event',
          api_version: '2024-06-20',
          created: 1795267200,
          type,
          data: { object },
        };
      },
      sign: (c, body) => ({
        'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: body, secret: c.stripeSigningSecret }),
      }),
    },
    runs,
    seed,
  );
}
