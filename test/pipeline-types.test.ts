import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import '../src/connectors/all.ts';
import { sourceTypes } from '../src/sync/registry.ts';
import { applyConfig, parseConfig } from '../src/sync/config.ts';
import { assertPipelineTypes, PipelineDefinition, requirePipeline, savePipeline } from '../src/sync/pipelines.ts';
import { DomainError } from '../src/domain/errors.ts';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { testBox } from './helpers/sync.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * Source and target types are checked wherever a pipeline comes in (ledgerlink.yaml, PUT
 * /v1/pipelines/{name}) and again when a run starts. No real target is registered at this point of
 * the code, so a throwaway one stands in: what matters is the registry and its settings schema.
 */
const scope = processScope();
scope.target({
  type: 'test-sink',
  description: 'A target for this test only',
  settings: z.strictObject({
    url: z.url(),
    apiKey: z.string().optional(),
    batchSize: z.number().int().positive().optional(),
  }),
  // Declared secret: encrypted at rest and shown as "[secret]" (src/sync/secrets.ts).
  secrets: ['apiKey'],
  create: () => Promise.reject(new Error('test-sink is never run')),
});

const sink = { type: 'test-sink', url: 'https://erp.example/hook' };

interface Refusal {
  name: string;
  source: Record<string, unknown>;
  target: Record<string, unknown>;
  code: string;
  /** The field at fault, relative to the pipeline. */
  field: string;
  /** Words the message must contain (the known types it names). */
  mentions: string[];
  /** Refused where users name it (API, config) but allowed to the engine's own callers. */
  internal?: boolean;
}

const refusals: Refusal[] = [
  {
    name: 'an unknown source type',
    source: { type: 'salesforce' },
    target: sink,
    code: 'PIPELINE_UNKNOWN_SOURCE_TYPE',
    field: 'source.type',
    mentions: ['salesforce', 'file', 'ixpole', 'stripe', 'webhook'],
  },
  {
    name: 'an internal source type',
    source: { type: 'records' },
    target: sink,
    code: 'PIPELINE_UNKNOWN_SOURCE_TYPE',
    field: 'source.type',
    mentions: ['records', 'file'],
    internal: true,
  },
  {
    name: 'an unknown target type',
    source: { type: 'file' },
    target: { type: 'sage' },
    code: 'PIPELINE_UNKNOWN_TARGET_TYPE',
    field: 'target.type',
    mentions: ['sage', 'test-sink'],
  },
  {
    name: 'target settings missing a required field',
    source: { type: 'file' },
    target: { type: 'test-sink' },
    code: 'PIPELINE_TARGET_SETTINGS_INVALID',
    field: 'target.url',
    mentions: ['test-sink', 'url'],
  },
  {
    name: 'target settings of the wrong type',
    source: { type: 'file' },
    target: { ...sink, batchSize: 'ten' },
    code: 'PIPELINE_TARGET_SETTINGS_INVALID',
    field: 'target.batchSize',
    mentions: ['batchSize'],
  },
  {
    name: 'a target setting its schema does not know',
    source: { type: 'file' },
    target: { ...sink, urll: 'typo' },
    code: 'PIPELINE_TARGET_SETTINGS_INVALID',
    // The unknown key itself, so the sender sees which one to drop or correct.
    field: 'target.urll',
    mentions: ['urll'],
  },
];

function yaml(pipelines: { name: string; source: Record<string, unknown>; target: Record<string, unknown> }[]) {
  return JSON.stringify({
    entities: [{ code: 'CFG', name: 'Config entity', baseCurrency: 'EUR' }],
    pipelines: pipelines.map((p) => ({ entity: 'CFG', ...p })),
  });
}

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('PT');
});
afterAll(async () => t?.close());

describe.each(refusals)('$name', (r) => {
  it('is refused by PUT /v1/pipelines/{name}, naming the field and the known types, and nothing is saved', async () => {
    const res = await c.put('/v1/pipelines/bad', { source: r.source, target: r.target });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(r.code);
    expect(res.body.error.details[0].field).toBe(`body.${r.field}`);
    for (const word of r.mentions) expect(res.body.error.message).toContain(word);
    expect((await c.get('/v1/pipelines/bad')).status).toBe(404);
  });

  it('is refused the same way when ledgerlink.yaml is loaded, naming the pipeline', () => {
    const text = yaml([
      { name: 'fine', source: { type: 'file' }, target: sink },
      { name: 'bad', source: r.source, target: r.target },
    ]);
    let err: unknown;
    try {
      parseConfig(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DomainError);
    const d = err as DomainError;
    expect(d.code).toBe(r.code);
    expect(d.message).toContain(`pipelines[1].${r.field}: `);
    for (const word of r.mentions) expect(d.message).toContain(word);
    expect((d.details as { field: string }[])[0]!.field).toBe(`pipelines[1].${r.field}`);
  });

  it.runIf(!r.internal)('is refused by savePipeline itself, whoever calls it', async () => {
    const def = PipelineDefinition.parse({ name: 'bad', entity: 'PT', source: r.source, target: r.target });
    await expect(t.db.transaction((tx) => savePipeline(tx, testBox, c.entityId, def, 'api'))).rejects.toMatchObject({
      code: r.code,
    });
  });

  it.runIf(r.internal === true)("is allowed to the engine's own pipelines (savePipeline, run start)", async () => {
    const def = PipelineDefinition.parse({ name: 'internal', entity: 'PT', source: r.source, target: r.target });
    const { pipeline } = await t.db.transaction((tx) => savePipeline(tx, testBox, c.entityId, def, 'api'));
    expect(pipeline.sourceType).toBe('records');
    expect(() => assertPipelineTypes(pipeline)).not.toThrow();
  });
});

describe('a pipeline whose types and settings check out', () => {
  it('is saved through the API and from the config file alike', async () => {
    const res = await c.put('/v1/pipelines/good', { source: { type: 'file' }, target: { ...sink, apiKey: 'k-123' } });
    expect(res.status).toBe(201);
    expect(res.body.target).toEqual({ type: 'test-sink', url: sink.url, apiKey: '[secret]' });

    const config = parseConfig(yaml([{ name: 'from-yaml', source: { type: 'file' }, target: sink }]));
    const applied = await applyConfig(t.db, testBox, config);
    expect(applied.pipelines).toEqual(['from-yaml']);
    const saved = await requirePipeline(t.db, testBox, 'from-yaml');
    expect(saved.targetType).toBe('test-sink');
    expect(saved.targetConfig).toEqual({ url: sink.url });
    expect(() => assertPipelineTypes(saved)).not.toThrow();
  });

  it('lists every user-facing source type in the refusal, and no internal one', async () => {
    const res = await c.put('/v1/pipelines/bad', { source: { type: 'nope' }, target: sink });
    const known = res.body.error.message.slice(res.body.error.message.indexOf('known: ') + 7);
    expect(known.split(', ')).toEqual(sourceTypes());
    expect(known).not.toContain('records');
  });
});

describe('at run start', () => {
  async function savedThenAltered(name: string, sql: string) {
    expect((await c.put(`/v1/pipelines/${name}`, { source: { type: 'file' }, target: sink })).status).toBe(201);
    await t.db.query(`UPDATE pipelines SET ${sql} WHERE name = $1`, [name]);
    return requirePipeline(t.db, testBox, name);
  }

  async function runsOf(name: string) {
    const { rows } = await t.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE p.name = $1',
      [name],
    );
    return rows[0]!.n;
  }

  it.each([
    ['gone-target', `target_type = 'gone'`, 'PIPELINE_UNKNOWN_TARGET_TYPE', 'target.type'],
    ['gone-source', `source_type = 'gone'`, 'PIPELINE_UNKNOWN_SOURCE_TYPE', 'source.type'],
    ['bad-settings', `target_config = '{"url": 42}'::jsonb`, 'PIPELINE_TARGET_SETTINGS_INVALID', 'target.url'],
  ])(
    '%s: assertPipelineTypes refuses a stored pipeline, and POST /v1/pipelines/{name}/runs starts no run',
    async (name, sql, code, field) => {
      const pipeline = await savedThenAltered(name, sql);
      let err: unknown;
      try {
        assertPipelineTypes(pipeline);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code, details: [{ field }] });
      // Each side is checked where the engine creates it (createTarget, runSource): the other
      // side's check lets it pass, so reconciling (target only) does not trip on its source.
      const side = field.startsWith('source') ? 'source' : 'target';
      expect(() => assertPipelineTypes(pipeline, side)).toThrow(expect.objectContaining({ code }));
      expect(() => assertPipelineTypes(pipeline, side === 'source' ? 'target' : 'source')).not.toThrow();

      const res = await c.post(`/v1/pipelines/${name}/runs`, {});
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(code);
      expect(await runsOf(name)).toBe(0);
    },
  );

  it('the admin token is refused alike', async () => {
    const res = await t.request(
      'PUT',
      '/v1/pipelines/admin-bad',
      { entity: 'PT', source: { type: 'file' }, target: { type: 'sage50' } },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    );
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('PIPELINE_UNKNOWN_TARGET_TYPE');
  });
});
