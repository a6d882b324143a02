import { StripeSimulator } from '../../src/connectors/stripe/simulator.ts';
import type { Pipeline } from '../../src/sync/pipelines.ts';
import { ADMIN_TOKEN, createTestApp, type TestApp } from '../../test/helpers/app.ts';
import { seedCustomer } from '../../test/helpers/ledger.ts';
import { definePipeline } from '../../test/helpers/sync.ts';
import { fuzzedRoutes } from './routes.ts';
import { StateProbe } from './state.ts';

/** One app on one database (PGlite, or its own schema on DATABASE_URL's server), shared by every family. */
export interface FuzzContext {
  t: TestApp;
  probe: StateProbe;
  entityId: string;
  /** The API's JSON body limit: the route family sends bodies just over it. */
  bodyLimitBytes: number;
  webhookSecret: string;
  stripeSigningSecret: string;
  pipelines: { shop: Pipeline; stripe: Pipeline; files: Pipeline };
  /** Sends a raw body with the session's token (admin, entity, or none) as `auth` asks. */
  send(
    method: string,
    url: string,
    body: string | Buffer,
    auth: string,
    n: number,
    headers?: Record<string, string>,
  ): Promise<Answer>;
  renewSessions(): Promise<void>;
  /** The entity session's bearer token, for requests the families send themselves. */
  token(): string;
  progress(family: string, done: number, total: number): void;
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  body: unknown;
  text: string;
}

const ENTITY = 'FUZZ';

export async function createFuzzContext(log: (line: string) => void): Promise<FuzzContext> {
  const bodyLimitBytes = 256 * 1024;
  const t = await createTestApp({ bodyLimitBytes });
  const created = await t.request(
    'POST',
    '/v1/admin/entities',
    { code: ENTITY, name: 'Fuzzed Ltd', baseCurrency: 'EUR', standardTaxRate: '0.21' },
    { authorization: `Bearer ${ADMIN_TOKEN}` },
  );
  if (created.status !== 201) throw new Error(`entity create failed: ${JSON.stringify(created.body)}`);
  const keys = {
    entityId: created.body.entityId as string,
    partnerKey: created.body.partnerKey,
    userKey: created.body.userKey,
  };
  let token = '';
  const renewSessions = async () => {
    const login = await t.request('POST', '/v1/auth/login', keys);
    if (login.status !== 200) throw new Error(`the fuzzer's own sign-in failed: ${JSON.stringify(login.body)}`);
    token = login.body.token as string;
  };
  await renewSessions();
  await seedCustomer(t.db, keys.entityId, 'CUST001');
  await seedCustomer(t.db, keys.entityId, 'C1');

  const webhookSecret = 'fuzz-webhook-secret-0123456789';
  const stripeSigningSecret = 'whsec_fuzz_0123456789';
  const sim = await new StripeSimulator().start();
  const pipelines = {
    shop: await definePipeline(t.db, ENTITY, { name: 'shop', source: { type: 'webhook' }, webhookSecret }),
    stripe: await definePipeline(t.db, ENTITY, { name: 'stripe', source: sim.sourceConfig(stripeSigningSecret) }),
    files: await definePipeline(t.db, ENTITY, { name: 'files', source: { type: 'file' } }),
  };

  const send: FuzzContext['send'] = async (method, url, body, auth, n, headers = {}) => {
    const bearer = auth === 'admin' ? ADMIN_TOKEN : auth === 'none' ? null : token;
    const res = await t.app.inject({
      method: method as 'POST',
      url,
      headers: {
        'content-type': 'application/json',
        ...(n % 3 === 0 ? { 'idempotency-key': `fuzz-${n}` } : {}),
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        ...headers,
      },
      payload: body,
    });
    let parsed: unknown = res.body;
    if (String(res.headers['content-type'] ?? '').includes('json') && res.body) {
      try {
        parsed = JSON.parse(res.body);
      } catch {
        parsed = { unparsable: res.body.slice(0, 200) };
      }
    }
    return { status: res.statusCode, body: parsed, text: res.body };
  };

  // Warm-up, not counted: each route's documented example once, so that ids and codes the cases name exist.
  for (const route of fuzzedRoutes()) {
    if (route.example === undefined) continue;
    const url = route.path.replace(/\{(\w+)\}/g, (_, name: string) =>
      name === 'id' ? '1' : name === 'date' ? '2026-11-21' : 'CUST001',
    );
    await send(route.method, url, JSON.stringify(route.example), route.auth, 1);
  }
  await renewSessions();

  const probe = new StateProbe(t.db);
  await probe.init();
  const last: Record<string, number> = {};
  return {
    t,
    probe,
    entityId: keys.entityId,
    bodyLimitBytes,
    webhookSecret,
    stripeSigningSecret,
    pipelines,
    send,
    renewSessions,
    token: () => token,
    progress(family, done, total) {
      const now = Date.now();
      if (done === total || now - (last[family] ?? 0) > 5000) {
        last[family] = now;
        log(`fuzz ${family}: ${done}/${total}`);
      }
    },
    async close() {
      await sim.close();
      await t.close();
    },
  };
}
