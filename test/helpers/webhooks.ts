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

export interface WebhookClient {
  /** POSTs a raw body with the given headers. */
  post<T = any>(path: string, body: string, headers: Record<string, string>): Promise<TestResponse<T>>;
  close(): Promise<void>;
}

/**
 * Posts to the webhook endpoints. While the sync routes are not in allRoutes (reported), they are
 * served by a second server on the same database and sync service.
 */
export async function webhookClient(t: TestApp): Promise<WebhookClient> {
  const mounted = allRoutes.some((r) => r.path === '/v1/webhooks/{pipeline}');
  const app = mounted ? t.app : await serverBeside(t.db, t.sync, [...webhookRoutes(), ...dailySummaryRoutes]);
  return {
    post: async (path, body, headers) => {
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
    },
    close: async () => {
      if (!mounted) await app.close();
    },
  };
}
