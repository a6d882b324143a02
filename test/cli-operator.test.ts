import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/connectors/all.ts';
import { findEntityByCode } from '../src/ledger/entities.ts';
import { authenticate, login } from '../src/ledger/sessions.ts';
import { DomainError } from '../src/domain/errors.ts';
import { PipelineDefinition, savePipeline } from '../src/sync/pipelines.ts';
import { createRun, setRunStatus } from '../src/sync/runs.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import { cliPlace, type CliPlace } from './helpers/cli.ts';
import { onPostgres } from './helpers/db.ts';

/*
 * The operator's command line, spawned as users run it (bin/ledgerlink.js): entity, pipeline and
 * runs commands; arguments checked as the API checks them, never a raw database message; a typo
 * in --pipeline or a missing data folder is said, not answered with an empty list.
 */
const box = new SecretBox(Buffer.alloc(32, 3)); // the key helpers/cli.ts gives the command
let place: CliPlace;

beforeAll(async () => {
  place = await cliPlace();
}, 120_000);
afterAll(async () => place?.close());

const RAW_DB = /violates|constraint|relation|syntax|invalid input/i;

describe('arguments are checked like the API checks them', () => {
  it('entity create --code club says codes are upper case', async () => {
    const r = await place.run(['entity', 'create', '--code', 'club', '--name', 'Club']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('VALIDATION_ERROR: --code: must be upper case');
    expect(r.stderr).toContain('--code CLUB');
    expect(r.stderr).not.toMatch(RAW_DB);
    // Two rules broken, one example given.
    const two = await place.run(['entity', 'create', '--code', 'club2', '--name', 'Club']);
    expect(two.stderr.match(/--code CLUB2/g)).toHaveLength(1);
  }, 120_000);

  it('--help marks required options, and a misspelt option is named before a missing required one', async () => {
    for (const [args, flag] of [
      [['import', '--help'], '--pipeline <name>'],
      [['user', 'create', '--help'], '--entity <code>'],
      [['exceptions', 'resolve', '--help'], '--note <text>'],
      [['copy-to-postgres', '--help'], '--to <url>'],
    ] as const) {
      const r = await place.run([...args]);
      expect(r.code, r.stderr).toBe(0);
      // The option's line, and its description's last line, say "(required)".
      const from = r.stdout.indexOf(flag);
      expect(from, r.stdout).toBeGreaterThanOrEqual(0);
      expect(r.stdout.slice(from).split(/\n {2}-/)[0]).toContain('(required)');
    }
    const typo = await place.run(['import', 'x.csv', '--pipe', 'shop']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain("unknown option '--pipe'");
    expect(typo.stderr).not.toContain('required option');
    const missing = await place.run(['import', 'x.csv']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      "error: USAGE_ERROR: required option '--pipeline <name>' not specified; see ledgerlink import --help",
    );
  }, 120_000);

  it('--standard-tax-rate 21 says to write 0.21 or 21%; 21% is accepted as 0.21', async () => {
    const r = await place.run(['entity', 'create', '--code', 'CLUB', '--name', 'Club', '--standard-tax-rate', '21']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--standard-tax-rate');
    expect(r.stderr).toContain('0.21');
    expect(r.stderr).toContain('21%');
    const ok = await place.run([
      'entity',
      'create',
      '--code',
      'CLUB',
      '--name',
      'Example Sports Club',
      '--standard-tax-rate',
      '21%',
      '--json',
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).code).toBe('CLUB');
    const db = await place.open();
    try {
      const { rows } = await db.query<{ rate: string }>(
        `SELECT t.rate::text AS rate FROM tax_codes t JOIN entities e ON e.id = t.entity_id WHERE e.code = 'CLUB' AND t.code = 'STD'`,
      );
      expect(Number(rows[0]!.rate)).toBe(0.21);
    } finally {
      await db.close();
    }
  }, 120_000);

  it('exceptions retry abc says ids are numbers', async () => {
    const r = await place.run(['exceptions', 'retry', 'abc']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('exception ids are numbers');
    expect(r.stderr).not.toMatch(RAW_DB);
  }, 120_000);
});

describe('entity, pipeline and runs commands', () => {
  let shopId = '';
  beforeAll(async () => {
    const db = await place.open();
    try {
      const club = (await findEntityByCode(db, 'CLUB'))!;
      await db.transaction(async (tx) => {
        const shop = PipelineDefinition.parse({
          name: 'shop',
          entity: 'CLUB',
          source: { type: 'ixpole', baseUrl: 'https://club.example/', apiKey: 'sk-very-secret-1234' },
          schedule: '*/15 * * * *',
        });
        shopId = (await savePipeline(tx, box, club.id, shop, 'api')).pipeline.id;
        await savePipeline(
          tx,
          box,
          club.id,
          PipelineDefinition.parse({ name: 'tills', entity: 'CLUB', source: { type: 'file' } }),
          'api',
        );
      });
      const runId = (await createRun(db, {
        pipelineId: shopId,
        entityId: club.id,
        trigger: 'manual',
        createdBy: 'test',
      }))!;
      await setRunStatus(db, runId, 'succeeded');
    } finally {
      await db.close();
    }
  }, 120_000);

  it('entity list: code, name, pipelines count, and no keys', async () => {
    const r = await place.run(['entity', 'list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { items } = JSON.parse(r.stdout);
    expect(items).toEqual([expect.objectContaining({ code: 'CLUB', name: 'Example Sports Club', pipelines: 2 })]);
    expect(r.stdout).not.toMatch(/pk_|uk_|partnerKey|userKey/);
  }, 120_000);

  it('pipeline list and show: settings with secrets redacted, schedule, last run', async () => {
    const list = await place.run(['pipeline', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/shop\s+CLUB\s+ixpole\s+ledger\s+\*\/15 \* \* \* \*\s+yes\s+succeeded/);
    expect(list.stdout).toMatch(/tills\s+CLUB\s+file\s+ledger\s+-\s+yes\s+never/);
    const show = await place.run(['pipeline', 'show', 'shop']);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('https://club.example/');
    expect(show.stdout).toContain('*/15 * * * *');
    expect(show.stdout).toMatch(/last run\s+succeeded/);
    expect(show.stdout).toContain('"apiKey":"[secret]"');
    expect(show.stdout).not.toContain('sk-very-secret-1234');
  }, 120_000);

  it('pipeline show of a name that is none names the known ones', async () => {
    const r = await place.run(['pipeline', 'show', 'shp']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('known pipelines: shop, tills');
  }, 120_000);

  it('pipeline disable and enable change the pipeline and are audited', async () => {
    expect((await place.run(['pipeline', 'disable', 'tills'])).stdout).toContain('pipeline tills disabled');
    let db = await place.open();
    try {
      const { rows } = await db.query<{ enabled: boolean }>(`SELECT enabled FROM pipelines WHERE name = 'tills'`);
      expect(rows[0]!.enabled).toBe(false);
    } finally {
      await db.close();
    }
    expect((await place.run(['pipeline', 'enable', 'tills'])).code).toBe(0);
    db = await place.open();
    try {
      const { rows } = await db.query<{ action: string }>(
        `SELECT action FROM audit_log WHERE object_type = 'pipeline' AND object_id = 'tills' ORDER BY id`,
      );
      expect(rows.map((r) => r.action)).toEqual(['pipeline.disabled', 'pipeline.enabled']);
    } finally {
      await db.close();
    }
  }, 120_000);

  it('runs list; --pipeline with a typo names the known pipelines', async () => {
    const r = await place.run(['runs', 'list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).items.map((x: { pipeline: string }) => x.pipeline)).toEqual(['shop']);
    const typo = await place.run(['runs', 'list', '--pipeline', 'shp']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('PIPELINE_NOT_FOUND');
    expect(typo.stderr).toContain('known pipelines: shop, tills');
    const ex = await place.run(['exceptions', 'list', '--pipeline', 'shp']);
    expect(ex.code).toBe(1);
    expect(ex.stderr).toContain('known pipelines: shop, tills');
  }, 120_000);

  it('pipeline delete keeps the runs listed and frees the name', async () => {
    const r = await place.run(['pipeline', 'delete', 'shop']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('pipeline shop deleted');
    const runs = await place.run(['runs', 'list', '--pipeline', 'shop', '--json']);
    expect(runs.code, runs.stderr).toBe(0);
    expect(JSON.parse(runs.stdout).items).toHaveLength(1);
  }, 120_000);
});

describe('a command with no data folder', () => {
  it('says so instead of answering "no open exceptions", and creates nothing', async () => {
    const empty = await cliPlace({ data: 'none' });
    try {
      // The PGlite default: no DATABASE_URL, ./data absent.
      const env = { DATABASE_URL: '', LEDGERLINK_DB_SCHEMA: '' };
      for (const args of [
        ['exceptions', 'list'],
        ['reconcile', 'demo'],
      ]) {
        const r = await empty.run(args, env);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr).toContain('DATA_FOLDER_NOT_FOUND');
        expect(r.stderr).toContain('--data-dir');
        expect(r.stdout).not.toContain('no open exceptions');
      }
      expect(existsSync(join(empty.dir, 'data'))).toBe(false);
      // --data-dir names another folder, where there is data.
      if (!onPostgres) {
        const named = await empty.run(['--data-dir', join(place.dir, 'data'), 'entity', 'list', '--json'], env);
        expect(named.code, named.stderr).toBe(0);
        expect(JSON.parse(named.stdout).items[0].code).toBe('CLUB');
      }
    } finally {
      await empty.close();
    }
  }, 180_000);
});

describe('entity keys: another key pair, the list, and revocation that ends sessions at once', () => {
  it('issues a second pair that logs in, lists both, and revokes one: its login and its session end', async () => {
    const created = await place.run(['entity', 'create', '--code', 'KEYS', '--name', 'Keys Ltd', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const first = JSON.parse(created.stdout) as { entityId: string; partnerKey: string; userKey: string };
    const issued = await place.run(['entity', 'keys', 'KEYS', '--label', 'second', '--json']);
    expect(issued.code, issued.stderr).toBe(0);
    const second = JSON.parse(issued.stdout) as { keyId: string; partnerKey: string; userKey: string };
    expect(second.partnerKey).not.toBe(first.partnerKey);

    const plain = await place.run(['entity', 'keys', 'KEYS', '--list']);
    expect(plain.stdout.split('\n')[0]).toMatch(/^key id\s+created\s+status\s+label$/);
    expect(plain.stdout).toContain(second.keyId);
    const unknown = await place.run(['entity', 'keys', 'keys', '--list']);
    expect(unknown.stderr).toContain(
      'ENTITY_DOES_NOT_EXIST: No entity keys; entity codes are upper case: did you mean KEYS?',
    );

    const listed = await place.run(['entity', 'keys', 'KEYS', '--list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const { items } = JSON.parse(listed.stdout) as {
      items: { keyId: string; label: string | null; revokedAt: string | null }[];
    };
    expect(items).toHaveLength(2);
    expect(items.map((k) => k.revokedAt)).toEqual([null, null]);
    expect(items[1]).toMatchObject({ keyId: second.keyId, label: 'second' });
    expect(listed.stdout).not.toContain(second.userKey);

    // Both pairs log in; a session is opened with the second.
    let token = '';
    let db = await place.open();
    try {
      await login(db, { entityId: first.entityId, ...pick(first) }, 600);
      token = (await login(db, { entityId: first.entityId, ...pick(second) }, 600)).token;
      expect((await authenticate(db, token)).entityId).toBe(first.entityId);
    } finally {
      await db.close();
    }

    const revoked = await place.run(['entity', 'keys', 'revoke', 'KEYS', second.keyId]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain('1 session(s) ended');
    db = await place.open();
    try {
      await expect(login(db, { entityId: first.entityId, ...pick(second) }, 600)).rejects.toMatchObject({
        code: 'INVALID_CREDENTIALS',
      });
      await expect(authenticate(db, token)).rejects.toBeInstanceOf(DomainError);
      // The first pair is untouched.
      await login(db, { entityId: first.entityId, ...pick(first) }, 600);
    } finally {
      await db.close();
    }

    const bad = await place.run(['entity', 'keys', 'revoke', 'KEYS', 'abc']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('has no key pair abc');
    expect(bad.stderr).not.toMatch(RAW_DB);
  }, 300_000);
});

function pick(k: { partnerKey: string; userKey: string }) {
  return { partnerKey: k.partnerKey, userKey: k.userKey };
}
