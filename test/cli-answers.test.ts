import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { cliPlace, type CliPlace } from './helpers/cli.ts';

/*
 * The command line answers as the API does, spawned as users run it: `sync run --json` prints the
 * run as GET /v1/runs/{runId} does; a pipeline name that names none is PIPELINE_NOT_FOUND naming the
 * argument or option given; an exception resolved already is EXCEPTION_ALREADY_RESOLVED; every
 * refusal reads `error: CODE: message` (or the API's error body with --json), the data folder in use
 * by another process included; and a key pair revoked twice says so the second time.
 */
const KEY = 'ixsim_cli_answers_key';

let place: CliPlace;
let sim: IxpoleSimulator;

beforeAll(async () => {
  sim = await startIxpoleSimulator({ seed: 11, instalments: 6, customers: 2, products: 2, apiKey: KEY });
  place = await cliPlace();
  await writeFile(
    join(place.dir, 'ledgerlink.json'),
    JSON.stringify({
      entities: [{ code: 'CLUB', name: 'Club', baseCurrency: 'EUR', standardTaxRate: '0.21' }],
      pipelines: [
        { name: 'ix', entity: 'CLUB', source: { type: 'ixpole', baseUrl: sim.url, apiKey: KEY } },
        { name: 'tills', entity: 'CLUB', source: { type: 'file' } },
      ],
    }),
  );
  const applied = await run(['config', 'apply', 'ledgerlink.json']);
  expect(applied.code, applied.stderr).toBe(0);
}, 120_000);
afterAll(async () => {
  await sim?.close();
  await place?.close();
});

/** Runs the command in the place, allowed to call the simulator. */
function run(args: string[]) {
  return place.run(args, { LEDGERLINK_OUTBOUND_ALLOW: `127.0.0.1:${new URL(sim.url).port}` });
}

/** The API's error body a --json command prints on stdout (and nothing on stderr but the log). */
function jsonError(r: { code: number; stdout: string }) {
  expect(r.code, r.stdout).toBe(1);
  return (JSON.parse(r.stdout) as { error: { code: string; message: string; details?: unknown } }).error;
}

describe('sync run --json', () => {
  it('prints the run as GET /v1/runs/{runId} and `runs list` show it, not the stored row', async () => {
    const r = await run(['sync', 'run', 'ix', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const printed = JSON.parse(r.stdout) as Record<string, any>;
    expect(printed).toMatchObject({ pipeline: 'ix', trigger: 'manual', status: 'succeeded', createdBy: 'cli' });
    expect(printed.counts.createdByKind.invoices).toBeGreaterThan(0);
    expect(printed.counts.createdByKind.customers).toBe(2);
    expect(printed.counts).not.toHaveProperty('createdInvoices');
    expect(printed).not.toHaveProperty('pipelineId');
    expect(printed).not.toHaveProperty('cursor');
    const listed = await run(['runs', 'list', '--pipeline', 'ix', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const items = (JSON.parse(listed.stdout) as { items: Record<string, unknown>[] }).items;
    expect(items).toHaveLength(1);
    expect(printed).toEqual(items[0]);
  }, 120_000);
});

describe('a pipeline name that names none', () => {
  const message = 'No pipeline named nope; known pipelines: ix, tills';

  it('sync run NAME and reconcile PIPELINE: PIPELINE_NOT_FOUND naming the argument', async () => {
    const text = await run(['sync', 'run', 'nope']);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(`error: PIPELINE_NOT_FOUND: ${message}`);
    for (const [args, field] of [
      [['sync', 'run', 'nope', '--json'], 'NAME'],
      [['reconcile', 'nope', '--json'], 'PIPELINE'],
    ] as const) {
      expect(jsonError(await run([...args]))).toEqual({
        code: 'PIPELINE_NOT_FOUND',
        message,
        details: [{ field, message: 'unknown pipeline; known pipelines: ix, tills' }],
      });
    }
  }, 120_000);

  it('import --pipeline: PIPELINE_NOT_FOUND naming --pipeline', async () => {
    await writeFile(join(place.dir, 'customers.csv'), 'customer_id,name\nC-1,Someone\n');
    const text = await run(['import', 'customers.csv', '--pipeline', 'nope']);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(`error: PIPELINE_NOT_FOUND: ${message}`);
    expect(jsonError(await run(['import', 'customers.csv', '--pipeline', 'nope', '--json']))).toMatchObject({
      code: 'PIPELINE_NOT_FOUND',
      details: [{ field: '--pipeline' }],
    });
  }, 120_000);
});

describe('an exception resolved already', () => {
  it('is EXCEPTION_ALREADY_RESOLVED for resolve and retry, in the form of every refusal', async () => {
    await writeFile(
      join(place.dir, 'bad.csv'),
      'invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate\nB-1,C-1,2026-11-02,EUR,abc,0.21\n',
    );
    expect((await run(['import', 'bad.csv', '--pipeline', 'tills'])).code).toBe(1);
    const open = await run(['exceptions', 'list', '--pipeline', 'tills', '--json']);
    const id = String((JSON.parse(open.stdout) as { items: { id: number }[] }).items[0]!.id);
    const first = await run(['exceptions', 'resolve', id, '--note', 'booked by hand']);
    expect(first.code, first.stderr).toBe(0);

    const again = await run(['exceptions', 'resolve', id, '--note', 'once more']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`^error: EXCEPTION_ALREADY_RESOLVED: Exception ${id} is already resolved`));
    const retry = await run(['exceptions', 'retry', id]);
    expect(retry.code).toBe(1);
    expect(retry.stderr).toMatch(new RegExp(`^error: EXCEPTION_ALREADY_RESOLVED: Exception ${id} is already resolved`));
    expect(jsonError(await run(['exceptions', 'retry', id, '--json']))).toMatchObject({
      code: 'EXCEPTION_ALREADY_RESOLVED',
      details: [{ field: 'ID', message: 'already resolved' }],
    });
  }, 180_000);

  it('exceptions retry --help says what its exit codes mean', async () => {
    const r = await run(['exceptions', 'retry', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/\s+/g, ' ')).toContain(
      'Exit code 0 when the record went through and the exception is resolved, 2 when it stays open',
    );
  }, 60_000);
});

describe('refusals read `error: CODE: message`', () => {
  it('reconcile --from after --to, or not a date: VALIDATION_ERROR naming --from, as the API names query.from', async () => {
    const after = await run(['reconcile', 'tills', '--from', '2026-11-30', '--to', '2026-11-01']);
    expect(after.code).toBe(1);
    expect(after.stderr).toBe('error: VALIDATION_ERROR: --from: must not be after --to\n');
    const word = await run(['reconcile', 'tills', '--from', 'yesterday']);
    expect(word.code).toBe(1);
    expect(word.stderr).toBe('error: VALIDATION_ERROR: --from: must be a date as YYYY-MM-DD\n');
    expect(jsonError(await run(['reconcile', 'tills', '--to', '2026-02-30', '--json']))).toEqual({
      code: 'VALIDATION_ERROR',
      message: '--to: 2026-02-30 does not exist: February 2026 has 28 days',
      details: [{ field: '--to', message: '2026-02-30 does not exist: February 2026 has 28 days' }],
    });
  }, 120_000);

  it('keys rotate --new-key that is no key: VALIDATION_ERROR naming --new-key, and nothing changes', async () => {
    const fingerprint = async () => {
      const db = await place.open();
      try {
        return (await db.query<{ fingerprint: string }>('SELECT fingerprint FROM encryption_key')).rows;
      } finally {
        await db.close();
      }
    };
    const before = await fingerprint();
    expect(before).toHaveLength(1);
    const r = await run(['keys', 'rotate', '--new-key', 'abc']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'error: VALIDATION_ERROR: --new-key: not an encryption key: it must be 32 random bytes written as base64 (make one with: openssl rand -base64 32)\n',
    );
    expect(jsonError(await run(['keys', 'rotate', '--new-key', 'abc', '--json']))).toMatchObject({
      code: 'VALIDATION_ERROR',
      details: [{ field: '--new-key' }],
    });
    expect(await fingerprint()).toEqual(before);
  }, 120_000);

  it('a data folder another process uses: DATA_FOLDER_IN_USE, as JSON with --json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cli-api-in-use-'));
    try {
      // This test's own process stands for the other ledgerlink process: it is alive and not the command.
      await writeFile(join(dir, '.ledgerlink.pid'), String(process.pid));
      const env = { DATABASE_URL: '', LEDGERLINK_DB_SCHEMA: '', LEDGERLINK_DATA_DIR: dir };
      const text = await place.run(['runs', 'list'], env);
      expect(text.code).toBe(1);
      expect(text.stderr).toMatch(
        new RegExp(
          `^error: DATA_FOLDER_IN_USE: Another ledgerlink process \\(pid ${process.pid}\\) is using ${dir}\\.`,
        ),
      );
      for (const args of [
        ['import', join(place.dir, 'customers.csv'), '--pipeline', 'tills', '--json'],
        ['sync', 'run', 'ix', '--json'],
        ['reconcile', 'tills', '--json'],
      ]) {
        const r = await place.run(args, env);
        const error = jsonError(r);
        expect(error.code, args.join(' ')).toBe('DATA_FOLDER_IN_USE');
        expect(error.message).toContain(`(pid ${process.pid}) is using ${dir}`);
        expect(r.stderr, args.join(' ')).toBe('');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('entity keys revoke', () => {
  it('says a key pair revoked already was, rather than "Revoked" again; exit code 0 both times', async () => {
    const issued = await run(['entity', 'keys', 'CLUB', '--json']);
    expect(issued.code, issued.stderr).toBe(0);
    const { keyId } = JSON.parse(issued.stdout) as { keyId: string };
    const first = await run(['entity', 'keys', 'revoke', 'CLUB', keyId]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`Revoked key pair ${keyId} of CLUB; 0 session(s) ended.\n`);
    const again = await run(['entity', 'keys', 'revoke', 'CLUB', keyId]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(
        `^Key pair ${keyId} of CLUB was already revoked \\(\\d{4}-\\d\\d-\\d\\dT[^)]+\\); nothing changed\\.\\n$`,
      ),
    );
  }, 120_000);
});
