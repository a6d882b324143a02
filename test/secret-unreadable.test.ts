import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEntityByCode } from '../src/ledger/entities.ts';
import { PipelineDefinition, savePipeline } from '../src/sync/pipelines.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import { getRun } from '../src/sync/runs.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { webhookClient, type WebhookClient } from './helpers/webhooks.ts';

/*
 * A pipeline whose secret was stored with another key (another working directory's key file,
 * before keys belonged to the database) fails alone, saying why; the listing, the scheduler and
 * every other pipeline go on.
 */
let t: TestApp;
let c: Client;
let hooks: WebhookClient;
const strangerBox = new SecretBox(Buffer.alloc(32, 9));

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('SU');
  hooks = await webhookClient(t);
  const good = await c.put('/v1/pipelines/good', {
    source: { type: 'webhook' },
    webhookSecret: 'good-webhook-secret-0123',
    schedule: '*/5 * * * *',
  });
  expect(good.status).toBe(201);
  const entity = (await findEntityByCode(t.db, 'SU'))!;
  const stray = PipelineDefinition.parse({
    name: 'stray',
    entity: 'SU',
    source: { type: 'ixpole', baseUrl: 'https://club.example/', apiKey: 'ix-key' },
    webhookSecret: 'stray-webhook-secret-0123',
    schedule: '*/5 * * * *',
  });
  await t.db.transaction((tx) => savePipeline(tx, strangerBox, entity.id, stray, 'config'));
  const hook = PipelineDefinition.parse({
    name: 'stray-hook',
    entity: 'SU',
    source: { type: 'webhook' },
    webhookSecret: 'stray-webhook-secret-0123',
  });
  await t.db.transaction((tx) => savePipeline(tx, strangerBox, entity.id, hook, 'config'));
});
afterAll(async () => {
  await hooks.close();
  await t.close();
});

describe('a secret stored with another key', () => {
  it('GET /v1/pipelines lists the pipeline with its secret shown as unreadable, no 500', async () => {
    const list = await c.get('/v1/pipelines');
    expect(list.status).toBe(200);
    const stray = list.body.items.find((p: { name: string }) => p.name === 'stray');
    expect(stray).toMatchObject({
      source: { type: 'ixpole', baseUrl: 'https://club.example/', apiKey: '[unreadable]' },
      hasWebhookSecret: true,
      unreadableSecrets: ['source.apiKey', 'webhookSecret'],
    });
    expect(JSON.stringify(list.body)).not.toContain('enc:v1:');
    const good = list.body.items.find((p: { name: string }) => p.name === 'good');
    expect(good.unreadableSecrets).toEqual([]);
    expect((await c.get('/v1/pipelines/stray')).status).toBe(200);
  });

  it('refuses a run of that pipeline with SECRET_UNREADABLE, naming the secret and the fix', async () => {
    const res = await c.post('/v1/pipelines/stray/runs', {});
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('SECRET_UNREADABLE');
    expect(res.body.error.message).toMatch(/source\.apiKey, webhookSecret cannot be decrypted/);
    expect(res.body.error.message).toMatch(/Enter the secret again.*or start ledgerlink with the key/);
    expect(res.body.error.details).toContainEqual({
      field: 'source.apiKey',
      message: 'stored with another encryption key',
    });
    expect(JSON.stringify(res.body)).not.toContain('ix-key');
  });

  it('fails only its own scheduled run: the scheduler and the other pipeline go on', async () => {
    const started = await t.sync.tick(new Date());
    expect(started).toBe(2);
    const { rows } = await t.db.query<{ name: string; id: string }>(
      `SELECT p.name, r.id FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE r.trigger = 'schedule' ORDER BY p.name`,
    );
    expect(rows.map((r) => r.name)).toEqual(['good', 'stray']);
    const good = (await getRun(t.db, rows[0]!.id))!;
    const stray = (await getRun(t.db, rows[1]!.id))!;
    expect(good.status).toBe('succeeded');
    expect(stray.status).toBe('failed');
    expect(stray.error).toMatch(
      /^SECRET_UNREADABLE: Pipeline stray: source\.apiKey, webhookSecret cannot be decrypted/,
    );
    await expect(t.sync.flushAll()).resolves.toBeUndefined();
  });

  it('refuses its webhooks without taking them unverified, and without a 500', async () => {
    const event = { id: 'evt-1', type: 'invoice.created', data: {} };
    const res = await hooks.deliver('stray-hook', event, 'stray-webhook-secret-0123');
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('SECRET_UNREADABLE');
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM webhook_events`);
    expect(rows[0]).toEqual({ n: 0 });
  });

  it('is readable again once entered again through the API', async () => {
    const res = await c.put('/v1/pipelines/stray', {
      source: { type: 'ixpole', baseUrl: 'https://club.example/', apiKey: 'ix-key' },
      webhookSecret: 'stray-webhook-secret-0123',
    });
    expect(res.status).toBe(200);
    expect(res.body.unreadableSecrets).toEqual([]);
    expect(res.body.source.apiKey).toBe('[secret]');
  });
});
