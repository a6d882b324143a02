import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { webhookRoutes } from '../src/api/routes/webhooks.ts';
import { DomainError } from '../src/domain/errors.ts';
import { headerValue } from '../src/sync/registry.ts';
import { createTestApp, serverBeside, type TestApp } from './helpers/app.ts';
import { definePipeline } from './helpers/sync.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * A connector contributes its own webhook route through the registry alone: nothing in src/api
 * names it. This one, "echo", trusts a shared token header and ignores "ping" events.
 */
const seen: { body: string; token: string | undefined }[] = [];
const scope = processScope();
scope.source('echo', () => ({ type: 'echo', pages: async function* () {} }));
scope.inbound({
  sourceType: 'echo',
  pathSuffix: '/echo',
  docs: {
    operationId: 'receiveEchoWebhook',
    summary: 'Receive an echo event',
    description: 'For the test.',
    body: z.object({ id: z.string(), type: z.string() }),
    accepted: 'Stored and queued.',
    errors: ['WEBHOOK_SIGNATURE_INVALID', 'NOT_FOUND'],
  },
  verify(pipeline, rawBody, headers) {
    if (!pipeline.webhookSecret) return { ok: false, noEndpoint: true };
    const token = headerValue(headers, 'X-Echo-Token');
    seen.push({ body: rawBody.toString('utf8'), token });
    if (token !== pipeline.webhookSecret)
      return { ok: false, error: new DomainError('WEBHOOK_SIGNATURE_INVALID', 'wrong token') };
    const event = JSON.parse(rawBody.toString('utf8')) as { id: string; type: string };
    if (event.type === 'ping') return { ok: true, ignored: { eventId: event.id } };
    return { ok: true, event: { eventId: event.id, type: event.type, payload: event } };
  },
});

let t: TestApp;
let app: FastifyInstance;

beforeAll(async () => {
  t = await createTestApp();
  await t.entity('ECHO', 'EUR');
  // Disabled: the events are stored and wait for a run, so this test needs no engine run.
  await definePipeline(t.db, 'ECHO', {
    name: 'echoes',
    source: { type: 'echo' },
    webhookSecret: 'echo-token-0123456789',
    enabled: false,
  });
  await definePipeline(t.db, 'ECHO', { name: 'mute', source: { type: 'echo' }, enabled: false });
  await definePipeline(t.db, 'ECHO', {
    name: 'shop',
    source: { type: 'webhook' },
    webhookSecret: 'echo-token-0123456789',
    enabled: false,
  });
  // The server's routes were listed before this file registered "echo"; serve its route beside them.
  const echo = webhookRoutes().filter((r) => r.path.endsWith('/echo'));
  app = await serverBeside(t.db, t.sync, echo);
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

async function post(pipeline: string, body: string, token?: string) {
  const res = await app.inject({
    method: 'POST',
    url: `/v1/webhooks/${pipeline}/echo`,
    headers: { 'content-type': 'application/json', ...(token ? { 'x-echo-token': token } : {}) },
    payload: body,
  });
  return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, unknown> };
}

async function stored() {
  const { rows } = await t.db.query<{ event_id: string; event_type: string; payload: unknown }>(
    `SELECT event_id, event_type, payload FROM webhook_events ORDER BY event_id`,
  );
  return rows;
}

describe('a connector contributes its own webhook route', () => {
  it('is served and documented from the registry, next to the built-in ones', () => {
    const paths = webhookRoutes().map((r) => `${r.operationId} ${r.path}`);
    expect(paths).toEqual([
      'receiveWebhook /v1/webhooks/{pipeline}',
      'receiveEchoWebhook /v1/webhooks/{pipeline}/echo',
      'receiveStripeWebhook /v1/webhooks/{pipeline}/stripe',
      // Targets' routes (TargetDefinition.inbound), after the sources'.
      'receiveQuickBooksWebhook /v1/webhooks/{pipeline}/quickbooks',
      'receiveXeroWebhook /v1/webhooks/{pipeline}/xero',
    ]);
    const echo = webhookRoutes()[1]!;
    expect(echo).toMatchObject({ method: 'POST', auth: 'none', rawBody: true, write: false, tags: ['webhooks'] });
    expect(echo.success.status).toBe(202);
    // The same route object each time it is listed (the test helpers compare routes by identity).
    expect(webhookRoutes()[1]).toBe(echo);
  });

  it('hands the handler the exact body and the headers, stores what it accepts once, and acknowledges what it ignores', async () => {
    const body = '{"id":"e-1",  "type":"thing.happened"}';
    expect(await post('echoes', body, 'echo-token-0123456789')).toEqual({
      status: 202,
      body: { eventId: 'e-1', duplicate: false },
    });
    expect(seen.at(-1)).toEqual({ body, token: 'echo-token-0123456789' });
    expect(await post('echoes', body, 'echo-token-0123456789')).toEqual({
      status: 202,
      body: { eventId: 'e-1', duplicate: true },
    });
    expect(await post('echoes', '{"id":"p-1","type":"ping"}', 'echo-token-0123456789')).toEqual({
      status: 202,
      body: { eventId: 'p-1', duplicate: false, ignored: true },
    });
    expect(await stored()).toEqual([
      { event_id: 'e-1', event_type: 'thing.happened', payload: { id: 'e-1', type: 'thing.happened' } },
    ]);
  });

  it("answers the handler's refusal with its code and status, storing nothing", async () => {
    const before = await stored();
    const res = await post('echoes', '{"id":"e-2","type":"x"}', 'wrong');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'WEBHOOK_SIGNATURE_INVALID', message: 'wrong token' } });
    expect(await stored()).toEqual(before);
  });

  it('answers 404 alike for an unknown pipeline, a pipeline of another source and one the handler has no endpoint for', async () => {
    const calls = seen.length;
    const body = '{"id":"e-3","type":"x"}';
    const unknown = await post('nope', body, 'echo-token-0123456789');
    const otherSource = await post('shop', body, 'echo-token-0123456789');
    const noSecret = await post('mute', body, 'echo-token-0123456789');
    expect(unknown.status).toBe(404);
    expect(otherSource).toEqual(unknown);
    expect(noSecret).toEqual(unknown);
    // The handler never saw the delivery for a pipeline of another source.
    expect(seen.length).toBe(calls);
  });
});
