import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import '../src/connectors/all.ts';
import type { Database } from '../src/db/database.ts';
import { createEntity, findEntityByCode } from '../src/ledger/entities.ts';
import { recordedFingerprint, rotateKey } from '../src/sync/keys.ts';
import { applyConfig, ConfigFile } from '../src/sync/config.ts';
import { planConfig } from '../src/sync/config-plan.ts';
import {
  PipelineDefinition,
  pipelineAuditChange,
  publicPipeline,
  requirePipeline,
  savePipeline,
} from '../src/sync/pipelines.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import { createTestDatabase } from './helpers/db.ts';

/*
 * Where the key belonging to the database (keys rotate, unreadable secrets, config plans, audit
 * diffs) meets the secrets each connector declares, at any depth (`headers.*` of the webhook
 * target): no name-based guess is left, so a header's value is a secret like an apiKey.
 */
const keyA = SecretBox.fromBase64(Buffer.alloc(32, 5).toString('base64'), 'a');
const keyB = SecretBox.fromBase64(Buffer.alloc(32, 6).toString('base64'), 'b');
const HEADER = 'Bearer header-token-abcdef0123';
const TARGET_SECRET = 'target-secret-0123456789';

let db: Database;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.transaction((tx) => createEntity(tx, { code: 'DS', name: 'Declared Ltd', baseCurrency: 'EUR' }));
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  await db.query('DELETE FROM pipelines');
  await db.query('DELETE FROM encryption_key');
  await db.query(`INSERT INTO encryption_key (fingerprint) VALUES ($1)`, [keyA.fingerprint]);
});

const def = (headers: Record<string, string> = { Authorization: HEADER }) =>
  PipelineDefinition.parse({
    name: 'erp',
    entity: 'DS',
    source: { type: 'webhook' },
    target: { type: 'webhook', url: 'https://erp.example/in', secret: TARGET_SECRET, headers },
  });

async function save(box: SecretBox, d = def()) {
  const entity = (await findEntityByCode(db, 'DS'))!;
  return db.transaction((tx) => savePipeline(tx, box, entity.id, d, 'api'));
}

async function storedTarget(): Promise<Record<string, unknown>> {
  const { rows } = await db.query<{ target_config: Record<string, unknown> }>(
    `SELECT target_config FROM pipelines WHERE name = 'erp'`,
  );
  return rows[0]!.target_config;
}

describe('a nested declared secret (webhook target headers.*)', () => {
  it('is re-encrypted by keys rotate, not left sealed with the old key', async () => {
    await save(keyA);
    expect(JSON.stringify(await storedTarget())).not.toContain(HEADER);
    const done = await rotateKey(db, keyA, keyB);
    expect(done).toEqual({ rows: 1, secrets: 2 });
    expect(await recordedFingerprint(db)).toBe(keyB.fingerprint);
    const p = await requirePipeline(db, keyB, 'erp');
    expect(p.unreadableSecrets).toEqual([]);
    expect(p.targetConfig).toMatchObject({ secret: TARGET_SECRET, headers: { Authorization: HEADER } });
  });

  it('read with another key is listed at its path, shown as [unreadable] there, and left out of the settings', async () => {
    await save(keyA);
    const p = await requirePipeline(db, keyB, 'erp');
    expect(p.unreadableSecrets).toEqual(['target.secret', 'target.headers.Authorization']);
    expect(p.targetConfig).toEqual({ url: 'https://erp.example/in', headers: {} });
    expect(publicPipeline(p).target).toEqual({
      type: 'webhook',
      url: 'https://erp.example/in',
      secret: '[unreadable]',
      headers: { Authorization: '[unreadable]' },
    });
  });

  it('sent back as [unreadable] is refused, naming the field, rather than stored as a secret', async () => {
    await db.query(`UPDATE encryption_key SET fingerprint = $1`, [keyB.fingerprint]);
    await save(keyB);
    await db.query(`UPDATE encryption_key SET fingerprint = $1`, [keyA.fingerprint]);
    const shown = publicPipeline(await requirePipeline(db, keyA, 'erp'));
    const back = PipelineDefinition.parse({ name: 'erp', entity: 'DS', source: shown.source, target: shown.target });
    await expect(save(keyA, back)).rejects.toMatchObject({
      code: 'PIPELINE_TARGET_SETTINGS_INVALID',
      details: expect.arrayContaining([{ field: 'target.secret', message: expect.stringContaining('[unreadable]') }]),
    });
  });

  it('is redacted in the audit diff (a header name is not one of any list of secret names)', async () => {
    const first = await save(keyA);
    const second = await save(keyA, def({ Authorization: 'Bearer another-token-0123456789' }));
    const created = pipelineAuditChange(null, first.pipeline);
    const changed = pipelineAuditChange(second.before, second.pipeline);
    expect(changed).toEqual({
      before: { target: { headers: { Authorization: '[secret]' } } },
      after: { target: { headers: { Authorization: '[secret]' } } },
    });
    const text = JSON.stringify([created, changed]);
    for (const secret of [HEADER, TARGET_SECRET, 'another-token']) expect(text).not.toContain(secret);
  });

  it('is planned by config apply as a secret change, never shown, and [secret] plans as unchanged', async () => {
    const config = (headers: Record<string, string>, secret = '[secret]') =>
      ConfigFile.parse({
        pipelines: [
          {
            name: 'erp',
            entity: 'DS',
            source: { type: 'webhook' },
            target: { type: 'webhook', url: 'https://erp.example/in', secret, headers },
          },
        ],
      });
    await applyConfig(db, keyA, config({ Authorization: HEADER }, TARGET_SECRET));
    const changed = await planConfig(db, keyA, config({ Authorization: 'Bearer another-token-0123456789' }));
    expect(changed.pipelines[0]).toMatchObject({
      action: 'update',
      changed: ['target.headers.Authorization'],
      secrets: [
        { field: 'target.headers.Authorization', change: 'changed' },
        { field: 'target.secret', change: 'unchanged' },
      ],
    });
    expect(JSON.stringify(changed)).not.toContain('another-token');
    const same = await planConfig(db, keyA, config({ Authorization: '[secret]' }));
    expect(same.pipelines[0]).toMatchObject({ action: 'unchanged', changed: [] });
    // Applying "[secret]" keeps the stored values.
    await applyConfig(db, keyA, config({ Authorization: '[secret]' }));
    expect((await requirePipeline(db, keyA, 'erp')).targetConfig).toMatchObject({
      secret: TARGET_SECRET,
      headers: { Authorization: HEADER },
    });
  });
});
