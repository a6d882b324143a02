import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/connectors/all.ts';
import type { Database } from '../src/db/database.ts';
import { createEntity, findEntityByCode } from '../src/ledger/entities.ts';
import { PipelineDefinition, requirePipeline, savePipeline } from '../src/sync/pipelines.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import { keyFilePath, openSecretBox, recordedFingerprint, rotateKey, rotateKeyFile } from '../src/sync/keys.ts';
import { createTestDatabase } from './helpers/db.ts';

/*
 * The encryption key belongs to the database: required on PostgreSQL, checked against a
 * fingerprint recorded at first use, rotated by re-encrypting every secret in one transaction.
 */
const keyA = SecretBox.fromBase64(Buffer.alloc(32, 1).toString('base64'), 'a');
const keyB = SecretBox.fromBase64(Buffer.alloc(32, 2).toString('base64'), 'b');
const envOf = (box: SecretBox) => ({ LEDGERLINK_ENCRYPTION_KEY: box.exportKey() });
const onServer = { databaseUrl: 'postgres://db.example/ledger' };

let db: Database;
const dirs: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await db.transaction((tx) => createEntity(tx, { code: 'KEYS', name: 'Keys Ltd', baseCurrency: 'EUR' }));
});
afterAll(async () => {
  await db.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function forget() {
  await db.query('DELETE FROM encryption_key');
  await db.query('DELETE FROM pipelines');
}

async function save(box: SecretBox, name: string, apiKey = `key-of-${name}`) {
  const entity = (await findEntityByCode(db, 'KEYS'))!;
  const def = PipelineDefinition.parse({
    name,
    entity: 'KEYS',
    source: { type: 'ixpole', baseUrl: 'https://club.example/', apiKey },
    webhookSecret: `whsec-${name}-0123456789abcdef`,
  });
  await db.transaction((tx) => savePipeline(tx, box, entity.id, def, 'api'));
}

async function storedRows() {
  const { rows } = await db.query(`SELECT name, source_config, webhook_secret FROM pipelines ORDER BY name`);
  return rows;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ledgerlink-keys-'));
  dirs.push(d);
  return d;
}

describe('the key of a PostgreSQL database', () => {
  beforeEach(forget);

  it('must be given: without LEDGERLINK_ENCRYPTION_KEY the start is refused, saying what to do', async () => {
    await expect(openSecretBox(db, onServer, {})).rejects.toMatchObject({
      code: 'ENCRYPTION_KEY_MISSING',
      message: expect.stringContaining('LEDGERLINK_ENCRYPTION_KEY is not set'),
    });
    expect(await recordedFingerprint(db)).toBeNull();
  });

  it('missing on a database that has a key (a copy from PGlite): points to that key, never to a new one', async () => {
    await openSecretBox(db, onServer, envOf(keyA));
    const refused = openSecretBox(db, onServer, {});
    await expect(refused).rejects.toMatchObject({ code: 'ENCRYPTION_KEY_MISSING' });
    const { message } = (await refused.catch((err: unknown) => err)) as Error;
    expect(message).toContain(
      `This database has one already (fingerprint ${keyA.fingerprint.replace(/^hmac-sha256:/, '').slice(0, 12)})`,
    );
    expect(message).toContain('data/.encryption-key');
    expect(message).not.toContain('openssl rand');
    // A database without a key is still told how to make one.
    await forget();
    await expect(openSecretBox(db, onServer, {})).rejects.toThrow(
      /For a new database make one with: openssl rand -base64 32/,
    );
  });

  it('is refused when it is not 32 bytes of base64', async () => {
    await expect(openSecretBox(db, onServer, { LEDGERLINK_ENCRYPTION_KEY: 'hunter2' })).rejects.toThrow(
      /LEDGERLINK_ENCRYPTION_KEY is not an encryption key/,
    );
  });

  it('is recorded by its fingerprint at first use, never the key itself', async () => {
    const { box } = await openSecretBox(db, onServer, envOf(keyA));
    expect(box.fingerprint).toBe(keyA.fingerprint);
    const recorded = await recordedFingerprint(db);
    expect(recorded).toBe(keyA.fingerprint);
    const keyHex = Buffer.alloc(32, 1).toString('hex');
    expect(recorded).not.toContain(keyA.exportKey());
    expect(recorded).not.toContain(keyHex);
    // A second start with the same key goes on.
    await expect(openSecretBox(db, onServer, envOf(keyA))).resolves.toBeTruthy();
  });

  it('refuses another key at start, with a clear message, and writes nothing', async () => {
    await openSecretBox(db, onServer, envOf(keyA));
    await save(keyA, 'club');
    const before = await storedRows();
    await expect(openSecretBox(db, onServer, envOf(keyB))).rejects.toMatchObject({
      code: 'ENCRYPTION_KEY_MISMATCH',
      message: expect.stringMatching(/is not this database's encryption key.*Nothing was written.*keys rotate/),
    });
    expect(await recordedFingerprint(db)).toBe(keyA.fingerprint);
    expect(await storedRows()).toEqual(before);
  });

  it('is checked against the secrets stored before fingerprints existed', async () => {
    await save(keyA, 'old');
    await expect(openSecretBox(db, onServer, envOf(keyB))).rejects.toMatchObject({ code: 'ENCRYPTION_KEY_MISMATCH' });
    expect(await recordedFingerprint(db)).toBeNull();
    await openSecretBox(db, onServer, envOf(keyA));
    expect(await recordedFingerprint(db)).toBe(keyA.fingerprint);
  });
});

describe('the key file of a PGlite data folder', () => {
  beforeEach(forget);

  it('is created at first use, read afterwards, and its absence refused once the database has a key', async () => {
    const dir = tempDir();
    const first = await openSecretBox(db, { dataDir: dir }, {});
    expect(first.origin).toEqual({ kind: 'file', path: keyFilePath(dir) });
    const again = await openSecretBox(db, { dataDir: dir }, {});
    expect(again.box.fingerprint).toBe(first.box.fingerprint);
    unlinkSync(keyFilePath(dir));
    await expect(openSecretBox(db, { dataDir: dir }, {})).rejects.toMatchObject({
      code: 'ENCRYPTION_KEY_FILE_MISSING',
    });
    expect(existsSync(keyFilePath(dir))).toBe(false);
  });

  it("of another folder is refused: the database's fingerprint decides", async () => {
    await openSecretBox(db, { dataDir: tempDir() }, {});
    const other = tempDir();
    writeFileSync(keyFilePath(other), keyB.exportKey());
    await expect(openSecretBox(db, { dataDir: other }, {})).rejects.toMatchObject({
      code: 'ENCRYPTION_KEY_MISMATCH',
      message: expect.stringContaining(keyFilePath(other)),
    });
  });
});

describe('keys rotate', () => {
  beforeEach(forget);

  it('re-encrypts every stored secret with the new key and moves the fingerprint, in one go', async () => {
    await openSecretBox(db, onServer, envOf(keyA));
    await save(keyA, 'club');
    await save(keyA, 'shop');
    const done = await rotateKey(db, keyA, keyB);
    expect(done).toEqual({ rows: 2, secrets: 4 });
    expect(await recordedFingerprint(db)).toBe(keyB.fingerprint);
    const club = await requirePipeline(db, keyB, 'club');
    expect(club.sourceConfig.apiKey).toBe('key-of-club');
    expect(club.webhookSecret).toBe('whsec-club-0123456789abcdef');
    expect(club.unreadableSecrets).toEqual([]);
    expect((await requirePipeline(db, keyA, 'club')).unreadableSecrets).toEqual(['source.apiKey', 'webhookSecret']);
    await expect(openSecretBox(db, onServer, envOf(keyA))).rejects.toMatchObject({ code: 'ENCRYPTION_KEY_MISMATCH' });
    await expect(openSecretBox(db, onServer, envOf(keyB))).resolves.toBeTruthy();
  });

  it('is refused, changing nothing, when a stored secret does not open with the current key', async () => {
    await save(keyA, 'club');
    await save(keyB, 'stray');
    await openSecretBox(db, onServer, envOf(keyA));
    const before = await storedRows();
    await expect(rotateKey(db, keyA, SecretBox.generate())).rejects.toMatchObject({
      code: 'SECRETS_UNREADABLE',
      message: expect.stringContaining('pipelines stray: source_config.apiKey'),
    });
    expect(await storedRows()).toEqual(before);
    expect(await recordedFingerprint(db)).toBe(keyA.fingerprint);
  });

  it('leaves a process on the old key unable to store secrets nobody else could read', async () => {
    await openSecretBox(db, onServer, envOf(keyA));
    await rotateKey(db, keyA, keyB);
    await expect(save(keyA, 'late')).rejects.toMatchObject({ code: 'ENCRYPTION_KEY_OUTDATED' });
    await expect(save(keyB, 'late')).resolves.toBeUndefined();
  });

  it('is refused with a key that is not the current one', async () => {
    await openSecretBox(db, onServer, envOf(keyA));
    await expect(rotateKey(db, keyB, SecretBox.generate())).rejects.toMatchObject({ code: 'ENCRYPTION_KEY_MISMATCH' });
    await expect(rotateKey(db, keyA, keyA)).rejects.toMatchObject({ code: 'ENCRYPTION_KEY_UNCHANGED' });
  });

  it('replaces a PGlite key file, and a start after a crash before the rename finishes it', async () => {
    const dir = tempDir();
    const file = keyFilePath(dir);
    const { box } = await openSecretBox(db, { dataDir: dir }, {});
    await save(box, 'club');
    await rotateKeyFile(db, file, box, keyA);
    expect(readFileSync(file, 'utf8')).toBe(keyA.exportKey());
    expect(existsSync(`${file}.next`)).toBe(false);
    // The database moved to keyB but the process stopped before renaming the file.
    writeFileSync(`${file}.next`, keyB.exportKey());
    await rotateKey(db, keyA, keyB);
    const reopened = await openSecretBox(db, { dataDir: dir }, {});
    expect(reopened.box.fingerprint).toBe(keyB.fingerprint);
    expect(readFileSync(file, 'utf8')).toBe(keyB.exportKey());
    expect((await requirePipeline(db, reopened.box, 'club')).sourceConfig.apiKey).toBe('key-of-club');
  });
});
