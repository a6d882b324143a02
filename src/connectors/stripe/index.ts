import { webhookEventPages } from '../../sync/webhook-events.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { registerSource } from '../../sync/registry.ts';
import { STRIPE_SECRETS, StripeApi, StripeSourceConfig, stripeBaseUrl, stripeConfigOf } from './api.ts';
import { type ConvertContext, convertStripeEvents } from './convert.ts';
import { registerStripeInbound } from './webhook.ts';

/**
 * The Stripe source: payments and refunds from Stripe's signed webhooks (stored by POST
 * /v1/webhooks/{pipeline}/stripe before it answered), completed through the Stripe API with the
 * customer and the balance transaction's fee. A run of the pipeline of any trigger works through
 * the events not yet processed.
 */
registerSource(
  'stripe',
  (pipeline, deps) => ({
    type: 'stripe',
    async checkConnection(ctx) {
      const config = stripeConfigOf(pipeline);
      if (!config) throw new ConnectorError('stripe', 'the source needs {apiKey, signingSecret}', { retryable: false });
      await new StripeApi(config, ctx.log).balance();
      return 'the account balance';
    },
    pages(ctx) {
      // Checked here rather than in the factory: workers create every pipeline's source to flush
      // write-back, and one misconfigured pipeline must not stop the others.
      const config = stripeConfigOf(pipeline);
      if (!config) throw new Error(`Pipeline ${pipeline.name}: the stripe source needs {apiKey, signingSecret}`);
      const cx: ConvertContext = {
        api: new StripeApi(config, ctx.log),
        db: deps.db,
        pipeline,
        config,
        target: deps.target,
        customers: new Map(),
      };
      ctx.log.debug('stripe: converting received events');
      return webhookEventPages(deps.db, pipeline.id, deps.runId, (events) => convertStripeEvents(cx, events), 50);
    },
  }),
  {
    settings: StripeSourceConfig,
    secrets: STRIPE_SECRETS,
    outbound: (s) => [{ field: s.host ? 'host' : 'protocol', url: stripeBaseUrl(s) }],
  },
);

registerStripeInbound();
