import { createHmac } from 'node:crypto';
import { allRoutes } from '../../src/api/routes/index.ts';
import { webhookRoutes } from '../../src/api/routes/webhooks.ts';
import { dailySummaryRoutes } from '../../src/api/routes/daily-summary.ts';
import { type TestApp, type TestResponse, serverBeside } from './app.ts';

/**
 * Signs a canonical webhook the way a sender following the docs would, written here from the
 * documented rule (HMAC-SHA256 of "<t>.<body>", hex), not with ledgerlink's own code, so that a bug
 * shared by signer and verifier cannot pass unseen.
 */
export function senderSignature(body: string, secret: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex')}`;
}

/** An event's JSON body and the headers a sender following the docs sends with it, signed with `secret`. */
export function signedDelivery(event: unknown, secret: string): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(event);
  return {
    body,
    headers: { 'content-type': 'application/json', 'x-ledgerlink-signature': senderSignature(body, secret) },
  };
}

/** The customer a canonical event may embed. */
export interface EventCustomer {
  sourceId: string;
  name: string;
  email?: string;
}

/** A line of a canonical invoice event, by its net amount. */
export interface EventLine {
  description: string;
  netAmount: string;
  vatRate: string;
  vatAmount?: string;
}

/** The `data` of a canonical invoice event, as the tests send it. */
export interface InvoiceEventData {
  sourceId: string;
  externalReference: string;
  customerSourceId: string;
  customer?: EventCustomer;
  invoiceDate: string;
  dueDate?: string;
  currency: string;
  lines: EventLine[];
}

/** A canonical webhook event: `data` in its envelope, created now unless `created` is given. */
export function webhookEvent<D>(id: string, type: string, data: D, created = Math.floor(Date.now() / 1000)) {
  return { id, type, created, data };
}

/**
 * A canonical invoice event as a shop sends it: `invoice.created` of the order `order-<ref>`
 * (external reference `ref`), its customer embedded (cust-1, "Customer 1"), of 2026-11-21 in EUR,
 * one line ("Service", 10.00 net at 21 %, its VAT left to the ledger unless `vatAmount` is
 * given). `data` sets or replaces any of its keys.
 */
export function invoiceEvent(
  id: string,
  ref: string,
  o: {
    type?: string;
    created?: number;
    customer?: EventCustomer;
    description?: string;
    net?: string;
    vatRate?: string;
    vatAmount?: string;
    data?: Partial<InvoiceEventData>;
  } = {},
) {
  const customer = o.customer ?? { sourceId: 'cust-1', name: 'Customer 1' };
  const data: InvoiceEventData = {
    sourceId: `order-${ref}`,
    externalReference: ref,
    customerSourceId: customer.sourceId,
    customer,
    invoiceDate: '2026-11-21',
    currency: 'EUR',
    lines: [
      {
        description: o.description ?? 'Service',
        netAmount: o.net ?? '10.00',
        ...(o.vatAmount === undefined ? {} : { vatAmount: o.vatAmount }),
        vatRate: o.vatRate ?? '0.21',
      },
    ],
    ...o.data,
  };
  return webhookEvent(id, o.type ?? 'invoice.created', data, o.created);
}

export interface WebhookClient {
  /** POSTs a raw body with the given headers. */
  post<T = any>(path: string, body: string, headers: Record<string, string>): Promise<TestResponse<T>>;
  /** POSTs an event to the pipeline's webhook endpoint, signed with `secret` as a sender would. */
  deliver<T = any>(pipeline: string, event: unknown, secret: string): Promise<TestResponse<T>>;
  close(): Promise<void>;
}

/**
 * Posts to the webhook endpoints. While the sync routes are not in allRoutes (reported), they are
 * served by a second server on the same database and sync service.
 */
export async function webhookClient(t: TestApp): Promise<WebhookClient> {
  const mounted = allRoutes.some((r) => r.path === '/v1/webhooks/{pipeline}');
  const app = mounted ? t.app : await serverBeside(t.db, t.sync, [...webhookRoutes(), ...dailySummaryRoutes]);
  const post: WebhookClient['post'] = async (path, body, headers) => {
    const res = await app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/json', ...headers },
      payload: body,
    });
    return {
      status: res.statusCode,
      body: res.body ? JSON.parse(res.body) : undefined,
      headers: res.headers,
    };
  };
  return {
    post,
    deliver: (pipeline, event, secret) => {
      const { body, headers } = signedDelivery(event, secret);
      return post(`/v1/webhooks/${pipeline}`, body, headers);
    },
    close: async () => {
      if (!mounted) await app.close();
    },
  };
}
