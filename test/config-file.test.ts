import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { applyConfig, checkConfigInDatabase, checkConfigText, parseConfig } from '../src/sync/config.ts';
import { formatPlan } from '../src/sync/config-plan.ts';
import { findEntityByCode } from '../src/ledger/entities.ts';
import { requirePipeline } from '../src/sync/pipelines.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { testBox } from './helpers/sync.ts';

/*
 * ledgerlink.yaml and PUT /v1/pipelines/{name} accept and refuse the same things, through the same
 * schema and checks; `config validate` lists every problem with its path; `config apply` shows what
 * it changes first, secrets never in clear.
 */
let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('CF');
});
afterAll(async () => t?.close());

const file = (pipelines: Record<string, unknown>[], entities: Record<string, unknown>[] = []) =>
  stringify({ entities, pipelines: pipelines.map((p) => ({ entity: 'CF', source: { type: 'webhook' }, ...p })) });

async function pipelineCount(): Promise<number> {
  const { rows } = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM pipelines');
  return rows[0]!.n;
}

describe('a schedule that is not a cron expression', () => {
  for (const schedule of ['every 15 minutes', '* * *']) {
    it(`"${schedule}" is refused by the file and by the API, naming the field`, async () => {
      const { config, problems } = checkConfigText(file([{ name: 'ok' }, { name: 'cron', schedule }]));
      expect(config).toBeNull();
      expect(problems).toEqual([
        {
          field: 'pipelines[1].schedule',
          message: expect.stringContaining('not a cron expression'),
          code: 'VALIDATION_ERROR',
        },
      ]);
      const res = await c.put('/v1/pipelines/cron', { source: { type: 'webhook' }, schedule });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
      expect(res.body.error.details).toContainEqual({
        field: 'body.schedule',
        message: expect.stringContaining('not a cron expression'),
      });
      expect(await pipelineCount()).toBe(0);
    });
  }

  it('a real one is accepted by both', async () => {
    expect(checkConfigText(file([{ name: 'cron', schedule: '*/15 * * * *' }])).problems).toEqual([]);
    expect((await c.put('/v1/pipelines/cron-ok', { source: { type: 'webhook' }, schedule: '0 6 * * 1' })).status).toBe(
      201,
    );
  });
});

describe('the file is checked as a whole', () => {
  it('lists every problem with its path, not only the first', () => {
    const { problems } = checkConfigText(
      file([
        { name: 'a', source: { type: 'ixpol' } },
        { name: 'b', schedule: 'every 15 minutes', mode: 'hourly' },
        { name: 'a' },
      ]),
    );
    expect(problems.map((p) => p.field)).toEqual([
      'pipelines[0].source.type',
      'pipelines[1].mode',
      'pipelines[1].schedule',
      'pipelines[2].name',
    ]);
    expect(problems[0]).toMatchObject({
      code: 'PIPELINE_UNKNOWN_SOURCE_TYPE',
      message: expect.stringMatching(/Unknown source type "ixpol"; known: file, ixpole, ledger, stripe, webhook/),
    });
    expect(() => parseConfig(file([{ name: 'a', source: { type: 'ixpol' } }]))).toThrow(
      /Invalid configuration:\n {2}pipelines\[0\]\.source\.type: Unknown source type "ixpol"/,
    );
  });

  it('refuses an entity name of only blanks or invisible characters, as the API does, naming the field', () => {
    for (const name of ['   ', '\u200b\u200d', ' \u00a0\u2060 ', '\u3000']) {
      const { config, problems } = checkConfigText(file([], [{ code: 'BLANK', name, baseCurrency: 'EUR' }]));
      expect(config).toBeNull();
      expect(problems).toEqual([{ field: 'entities[0].name', message: 'must not be empty', code: 'VALIDATION_ERROR' }]);
    }
    expect(() => parseConfig(file([], [{ code: 'BLANK', name: '\u200b', baseCurrency: 'EUR' }]))).toThrow(
      /Invalid configuration:\n {2}entities\[0\]\.name: must not be empty/,
    );
    // A name with something to show is taken as written.
    expect(checkConfigText(file([], [{ code: 'SHOWN', name: ' Club\u200b ', baseCurrency: 'EUR' }])).problems).toEqual(
      [],
    );
  });

  it('names every missing ${VARIABLE}, never an empty secret', () => {
    const { problems } = checkConfigText(file([{ name: 'a', webhookSecret: '${NOT_SET_A}${NOT_SET_B}' }]), {});
    expect(problems.map((p) => p.field)).toEqual(['${NOT_SET_A}', '${NOT_SET_B}']);
  });
});

describe('what only the database knows', () => {
  const badMapping = { defaultGlAccountCode: '4999', vatRates: { '0.21': 'NOPE' }, bankAccountCode: 'BANK' };

  it('an unknown entity and mapping codes the ledger lacks are refused by the file, with paths, writing nothing', async () => {
    const config = parseConfig(
      file(
        [
          { name: 'new-entity', entity: 'NEWCO', mapping: { defaultGlAccountCode: '4000' } },
          { name: 'nowhere', entity: 'NOPE' },
          { name: 'mapped', mapping: badMapping },
        ],
        [{ code: 'NEWCO', name: 'New Co', baseCurrency: 'EUR' }],
      ),
    );
    const problems = await checkConfigInDatabase(t.db, config);
    expect(problems).toEqual([
      {
        field: 'pipelines[1].entity',
        message: expect.stringContaining('no entity NOPE'),
        code: 'ENTITY_DOES_NOT_EXIST',
      },
      {
        field: 'pipelines[2].mapping.vatRates.0.21',
        message: 'NOPE is not an active tax code of entity CF',
        code: 'PIPELINE_MAPPING_TARGET_UNKNOWN',
      },
      {
        field: 'pipelines[2].mapping.defaultGlAccountCode',
        message: expect.stringContaining('4999 is not an active posting GL account'),
        code: 'PIPELINE_MAPPING_TARGET_UNKNOWN',
      },
    ]);
    // The check created NEWCO (to check its mapping against its default chart) and rolled back.
    expect(await findEntityByCode(t.db, 'NEWCO')).toBeNull();
    await expect(applyConfig(t.db, testBox, config)).rejects.toMatchObject({
      name: 'ConfigError',
      message: expect.stringContaining('pipelines[1].entity: no entity NOPE'),
    });
    expect(await findEntityByCode(t.db, 'NEWCO')).toBeNull();
  });

  it('the same mapping is refused by the API, naming each field', async () => {
    const res = await c.put('/v1/pipelines/mapped', { source: { type: 'webhook' }, mapping: badMapping });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('PIPELINE_MAPPING_TARGET_UNKNOWN');
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual([
      'body.mapping.vatRates.0.21',
      'body.mapping.defaultGlAccountCode',
    ]);
    expect((await c.get('/v1/pipelines/mapped')).status).toBe(404);
    const fixed = { ...badMapping, defaultGlAccountCode: '4000', vatRates: { '0.21': 'STD' } };
    expect((await c.put('/v1/pipelines/mapped', { source: { type: 'webhook' }, mapping: fixed })).status).toBe(201);
    expect(await checkConfigInDatabase(t.db, parseConfig(file([{ name: 'mapped', mapping: fixed }])))).toEqual([]);
  });
});

describe('config apply', () => {
  const tickets = (apiKey: string, schedule: string) => ({
    name: 'tickets',
    source: { type: 'ixpole', baseUrl: 'https://club.example/', apiKey },
    schedule,
    webhookSecret: 'tickets-webhook-secret-1',
  });

  it('shows what it would change, secrets as changed or unchanged, and writes nothing on a dry run', async () => {
    const first = parseConfig(file([tickets('ix-key-1', '*/15 * * * *')]));
    const dry = await applyConfig(t.db, testBox, first, { dryRun: true });
    expect(dry.plan.pipelines).toEqual([
      {
        name: 'tickets',
        entity: 'CF',
        action: 'create',
        changed: [],
        secrets: [
          { field: 'source.apiKey', change: 'added' },
          { field: 'webhookSecret', change: 'added' },
        ],
      },
    ]);
    await expect(requirePipeline(t.db, testBox, 'tickets')).rejects.toMatchObject({ code: 'PIPELINE_NOT_FOUND' });

    await applyConfig(t.db, testBox, first);
    const again = await applyConfig(t.db, testBox, first, { dryRun: true });
    expect(again.plan.pipelines[0]).toMatchObject({ action: 'unchanged', changed: [] });

    const second = parseConfig(file([tickets('ix-key-2', '0 * * * *')]));
    const plan = (await applyConfig(t.db, testBox, second, { dryRun: true })).plan;
    expect(plan.pipelines[0]).toEqual({
      name: 'tickets',
      entity: 'CF',
      action: 'update',
      changed: ['source.apiKey', 'schedule'],
      secrets: [
        { field: 'source.apiKey', change: 'changed' },
        { field: 'webhookSecret', change: 'unchanged' },
      ],
    });
    const text = formatPlan(plan);
    expect(text).toBe(
      '~ pipeline tickets (CF): update source.apiKey, schedule; secrets: source.apiKey changed, webhookSecret unchanged',
    );
    for (const secret of ['ix-key-1', 'ix-key-2', 'tickets-webhook-secret-1'])
      expect(JSON.stringify(plan) + text).not.toContain(secret);
    expect((await requirePipeline(t.db, testBox, 'tickets')).schedule).toBe('*/15 * * * *');
    await applyConfig(t.db, testBox, second);
    const saved = await requirePipeline(t.db, testBox, 'tickets');
    expect(saved.schedule).toBe('0 * * * *');
    expect(saved.sourceConfig.apiKey).toBe('ix-key-2');
  });
});
