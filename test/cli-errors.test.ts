import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusalOf } from '../src/cli/common.ts';
import { databaseOpenError, openDatabase } from '../src/db/open.ts';
import { CLI_ERROR_CODES, ERROR_CODES } from '../src/domain/errors.ts';
import { REASON_CODES } from '../src/sync/reasons.ts';
import { SettingsError } from '../src/settings.ts';
import { type CliPlace, type CliResult, cliPlace } from './helpers/cli.ts';
import { onPostgres } from './helpers/db.ts';

/*
 * Every refusal of the command line has a code of ours and the field at fault, in text
 * (`error: CODE: message`) and with --json (the API's error body on stdout): a database that
 * cannot be opened (named by DATABASE_URL, whatever the command), a data folder that is not there
 * or is `memory` (never created, never thrown away with keys printed), a file that cannot be read,
 * a setting that does not parse, and commander's own refusals (USAGE_ERROR, pointing to --help).
 * Node's and the driver's codes (ERR_INVALID_URL, ECONNREFUSED) are never passed off as ours.
 */

/** A port nothing listens on: connecting is refused at once. */
const CLOSED = 'postgres://postgres@127.0.0.1:1/ledgerlink';

let place: CliPlace;
let empty: CliPlace;

beforeAll(async () => {
  [place, empty] = await Promise.all([cliPlace(), cliPlace({ data: 'none' })]);
  const created = await place.run(['entity', 'create', '--code', 'CLUB', '--name', 'Club', '--json']);
  expect(created.code, created.stderr).toBe(0);
}, 180_000);
afterAll(async () => {
  await place?.close();
  await empty?.close();
});

/** Runs the command where nothing is stored, on PGlite unless `env` names a database. */
function runEmpty(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return empty.run(args, { DATABASE_URL: '', LEDGERLINK_DB_SCHEMA: '', ...env });
}

/** The API's error body a --json command prints on stdout, with exit code 1 and nothing on stderr. */
function jsonError(r: CliResult) {
  expect(r.code, `${r.stdout}${r.stderr}`).toBe(1);
  expect(r.stderr).toBe('');
  return (JSON.parse(r.stdout) as { error: { code: string; message: string; details?: unknown } }).error;
}

describe('a database that cannot be opened is said as which setting to change, for every command', () => {
  it('DATABASE_URL that is no URL: DATABASE_URL_INVALID naming it, never Node’s ERR_INVALID_URL', async () => {
    const [json, text] = await Promise.all([
      runEmpty(['entity', 'list', '--json'], { DATABASE_URL: 'notaurl' }),
      runEmpty(['verify'], { DATABASE_URL: 'mysql://user:s3cret@db.example/books' }),
    ]);
    expect(jsonError(json)).toEqual({
      code: 'DATABASE_URL_INVALID',
      message: 'DATABASE_URL is not a URL: write it as postgres://user:password@host:5432/database',
      details: [{ field: 'DATABASE_URL', message: 'not a URL; expected postgres://user:password@host:5432/database' }],
    });
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/^error: DATABASE_URL_INVALID: DATABASE_URL is not a PostgreSQL URL/);
    expect(text.stderr).not.toContain('s3cret');
  }, 120_000);

  it('a closed port: DATABASE_UNREACHABLE for one-shot commands and for serve and worker at start', async () => {
    const env = { DATABASE_URL: CLOSED, LEDGERLINK_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64') };
    const [text, json, serve, worker] = await Promise.all([
      runEmpty(['entity', 'list'], env),
      runEmpty(['runs', 'list', '--json'], env),
      runEmpty(['serve', '--no-demo'], { ...env, PORT: '0' }),
      runEmpty(['worker'], env),
    ]);
    const said =
      'no PostgreSQL server answers at 127.0.0.1:1 (ECONNREFUSED): check the host and port in DATABASE_URL and that the server runs';
    expect(text.code).toBe(1);
    expect(text.stderr).toBe(`error: DATABASE_UNREACHABLE: ${said}\n`);
    expect(jsonError(json)).toEqual({
      code: 'DATABASE_UNREACHABLE',
      message: said,
      details: [{ field: 'DATABASE_URL', message: 'no server answers at 127.0.0.1:1' }],
    });
    for (const r of [serve, worker]) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`error: DATABASE_UNREACHABLE: ${said}`);
    }
  }, 120_000);

  it('a schema name the server cannot take: SETTING_INVALID naming LEDGERLINK_DB_SCHEMA, before connecting', async () => {
    const r = await runEmpty(['entity', 'list', '--json'], {
      DATABASE_URL: CLOSED,
      LEDGERLINK_DB_SCHEMA: 'bad schema',
    });
    expect(jsonError(r)).toMatchObject({
      code: 'SETTING_INVALID',
      details: [{ field: 'LEDGERLINK_DB_SCHEMA', message: expect.stringContaining('is not a schema name') }],
    });
  }, 120_000);

  it('names the setting it was given in (copy-to-postgres --to), and says what to do for each refusal', () => {
    const missing = Object.assign(new Error('database "books" does not exist'), { code: '3D000' });
    const notFound = databaseOpenError(missing, 'postgres://ann:s3cret@db.example:6543/books', '--to');
    expect(notFound).toMatchObject({ code: 'DATABASE_NOT_FOUND', details: [{ field: '--to' }] });
    expect(notFound!.message).toContain('createdb -h db.example -p 6543 -U ann books');
    expect(notFound!.message).toContain('correct the database name in --to');
    expect(notFound!.message).not.toContain('s3cret');
    const password = Object.assign(new Error('password authentication failed for user "ann"'), { code: '28P01' });
    expect(databaseOpenError(password, 'postgres://ann:wrong@db.example/books')).toMatchObject({
      code: 'DATABASE_AUTH_FAILED',
      message: expect.stringContaining('check the user and password in DATABASE_URL'),
    });
    const noPassword = new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string');
    expect(databaseOpenError(noPassword, 'postgres://ann@db.example/books')).toMatchObject({
      code: 'DATABASE_AUTH_FAILED',
      message: expect.stringContaining('DATABASE_URL gives none'),
    });
    const unknownHost = Object.assign(new Error('getaddrinfo ENOTFOUND db.example'), { code: 'ENOTFOUND' });
    expect(databaseOpenError(new Error('x', { cause: unknownHost }), 'postgres://a@db.example/b')).toMatchObject({
      code: 'DATABASE_UNREACHABLE',
      message: 'the host db.example is not known (ENOTFOUND): check the host name in DATABASE_URL',
    });
    expect(databaseOpenError(new Error('something else'), 'postgres://a@b/c')).toBeNull();
  });

  it('only codes of ours are printed as codes: not Node’s, not a SQLSTATE', () => {
    expect(refusalOf(Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL' }))).toBeNull();
    expect(refusalOf(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeNull();
    expect(refusalOf(Object.assign(new Error('relation "x" does not exist'), { code: '42P01' }))).toBeNull();
    // A connector's error carries an exception reason code: ours too.
    expect(refusalOf(Object.assign(new Error('down'), { code: 'TARGET_UNAVAILABLE' }))).toMatchObject({
      code: 'TARGET_UNAVAILABLE',
    });
    // One code means one thing: the command line's codes are neither the API's nor reasons.
    expect(Object.keys(CLI_ERROR_CODES).filter((c) => c in ERROR_CODES || c in REASON_CODES)).toEqual([]);
    expect(refusalOf(new SettingsError('PORT', '"abc" is not a whole number'))).toEqual({
      code: 'SETTING_INVALID',
      message: 'PORT: "abc" is not a whole number',
      details: [{ field: 'PORT', message: '"abc" is not a whole number' }],
    });
  });
});

describe.runIf(onPostgres)('PostgreSQL: a database or role that is not there', () => {
  const url = (change: (u: URL) => void) => {
    const u = new URL(process.env.DATABASE_URL!);
    change(u);
    return u.href;
  };

  it('a database that does not exist: DATABASE_NOT_FOUND, saying to create it, for commands and serve', async () => {
    const missing = url((u) => (u.pathname = '/ledgerlink_nosuchdb'));
    const env = { DATABASE_URL: missing, LEDGERLINK_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64') };
    const [json, serve] = await Promise.all([
      runEmpty(['entity', 'list', '--json'], env),
      runEmpty(['serve', '--no-demo'], { ...env, PORT: '0' }),
    ]);
    const error = jsonError(json);
    expect(error).toMatchObject({ code: 'DATABASE_NOT_FOUND', details: [{ field: 'DATABASE_URL' }] });
    expect(error.message).toMatch(/^database "ledgerlink_nosuchdb" does not exist on .*: create it first \(createdb /);
    expect(serve.code).toBe(1);
    expect(serve.stderr).toContain('error: DATABASE_NOT_FOUND: database "ledgerlink_nosuchdb" does not exist');
  }, 120_000);

  it('a role that does not exist: DATABASE_AUTH_FAILED naming DATABASE_URL', async () => {
    const r = await runEmpty(['verify', '--json'], {
      DATABASE_URL: url((u) => (u.username = 'ledgerlink_nosuchrole')),
    });
    const error = jsonError(r);
    expect(error).toMatchObject({ code: 'DATABASE_AUTH_FAILED', details: [{ field: 'DATABASE_URL' }] });
    expect(error.message).toContain('refused user "ledgerlink_nosuchrole"');
    expect(error.message).toContain('check the user in DATABASE_URL');
  }, 120_000);
});

describe('a data folder that is not there is never created', () => {
  it('keys rotate, entity keys (and revoke) and config validate refuse it: DATA_FOLDER_NOT_FOUND', async () => {
    const typo = join(empty.dir, 'typo');
    await writeFile(
      join(empty.dir, 'good.yaml'),
      'entities:\n  - code: CLUB\n    name: Club\n    baseCurrency: EUR\n    standardTaxRate: "0.2"\n',
    );
    const env = { LEDGERLINK_DATA_DIR: typo };
    const [rotate, keys, revoke, validate] = await Promise.all([
      runEmpty(['keys', 'rotate'], env),
      runEmpty(['entity', 'keys', 'CLUB', '--list', '--json'], env),
      runEmpty(['entity', 'keys', 'revoke', 'CLUB', '00000000-0000-0000-0000-000000000000', '--json'], env),
      runEmpty(['config', 'validate', 'good.yaml'], env),
    ]);
    expect(rotate.code).toBe(1);
    expect(rotate.stdout).toBe('');
    expect(rotate.stderr).toMatch(/^error: DATA_FOLDER_NOT_FOUND: no data folder at /);
    for (const r of [keys, revoke])
      expect(jsonError(r)).toMatchObject({
        code: 'DATA_FOLDER_NOT_FOUND',
        details: [{ field: 'LEDGERLINK_DATA_DIR' }],
      });
    expect(validate.code).toBe(1);
    expect(validate.stderr).toMatch(/^error: DATA_FOLDER_NOT_FOUND: /);
    expect(validate.stderr).toContain('ledgerlink config validate --offline good.yaml');
    expect(existsSync(typo)).toBe(false);
    // The file alone is still checked without a database.
    const offline = await runEmpty(['config', 'validate', '--offline', 'good.yaml'], env);
    expect(offline.code, offline.stderr).toBe(0);
    expect(existsSync(typo)).toBe(false);
  }, 180_000);

  it('a file where the folder should be: DATA_FOLDER_UNWRITABLE, never EEXIST', async () => {
    const file = join(empty.dir, 'afile');
    await writeFile(file, 'not a folder');
    const [here, below] = await Promise.all([
      runEmpty(['verify', '--json'], { LEDGERLINK_DATA_DIR: file }),
      runEmpty(['entity', 'create', '--code', 'X', '--name', 'X'], { LEDGERLINK_DATA_DIR: join(file, 'sub') }),
    ]);
    expect(jsonError(here)).toMatchObject({
      code: 'DATA_FOLDER_UNWRITABLE',
      message: expect.stringContaining('a file stands where the folder should be'),
      details: [{ field: 'LEDGERLINK_DATA_DIR' }],
    });
    expect(below.code).toBe(1);
    expect(below.stderr).toMatch(/^error: DATA_FOLDER_UNWRITABLE: Cannot write to the data folder /);
  }, 120_000);
});

describe('LEDGERLINK_DATA_DIR=memory: one-shot commands refuse a database thrown away when they end', () => {
  it('entity create, user create, keys rotate, config apply, import and sync run say memory keeps nothing', async () => {
    await mkdir(join(empty.dir, 'in'), { recursive: true });
    await writeFile(join(empty.dir, 'in', 'customers.csv'), 'customer_id,name\nC-1,Someone\n');
    const env = { LEDGERLINK_DATA_DIR: 'memory' };
    const commands = [
      ['entity', 'create', '--code', 'MEM', '--name', 'Mem', '--json'],
      ['user', 'create', '--entity', 'MEM', '--email', 'ann@example.com', '--role', 'owner', '--json'],
      ['keys', 'rotate', '--json'],
      ['config', 'apply', 'good.yaml', '--json'],
      ['import', join('in', 'customers.csv'), '--pipeline', 'files', '--json'],
      ['sync', 'run', 'files', '--json'],
    ];
    await writeFile(
      join(empty.dir, 'good.yaml'),
      'entities:\n  - code: CLUB\n    name: Club\n    baseCurrency: EUR\n    standardTaxRate: "0.2"\n',
    );
    const results = await Promise.all(commands.map((args) => runEmpty(args, env)));
    results.forEach((r, i) => {
      const error = jsonError(r);
      expect(error.code, commands[i]!.join(' ')).toBe('VALIDATION_ERROR');
      expect(error.message).toMatch(/^LEDGERLINK_DATA_DIR=memory \(--data-dir memory\) keeps nothing/);
      expect(error.message).toContain('Only `ledgerlink serve` (npm start) makes sense with it');
      expect(error.details).toEqual([
        { field: 'LEDGERLINK_DATA_DIR', message: expect.stringContaining('keeps nothing') },
      ]);
      expect(r.stdout).not.toContain('partnerKey');
    });
  }, 180_000);
});

describe('refusals have a code and honour --json', () => {
  it('entity keys: an unknown entity is the API’s error body with --json; revoke prints JSON and its refusals too', async () => {
    const unknown = await place.run(['entity', 'keys', 'club', '--list', '--json']);
    expect(jsonError(unknown)).toMatchObject({ code: 'ENTITY_DOES_NOT_EXIST', details: [{ field: 'CODE' }] });
    const listed = await place.run(['entity', 'keys', 'CLUB', '--list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const keyId = (JSON.parse(listed.stdout) as { items: { keyId: string }[] }).items[0]!.keyId;
    const revoked = await place.run(['entity', 'keys', 'revoke', 'CLUB', keyId, '--json']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({
      keyId,
      revokedAt: expect.any(String),
      alreadyRevoked: false,
      sessionsEnded: 0,
    });
    const nope = await place.run([
      'entity',
      'keys',
      'revoke',
      'CLUB',
      '00000000-0000-0000-0000-000000000000',
      '--json',
    ]);
    expect(jsonError(nope)).toMatchObject({ code: 'NOT_FOUND', details: [{ field: 'KEYID' }] });
  }, 180_000);

  it('config validate and apply: a file that cannot be read, no file, and a file refused', async () => {
    await writeFile(join(empty.dir, 'broken.yaml'), 'pipelines: 3\n');
    await mkdir(join(empty.dir, 'a-folder'), { recursive: true });
    const [missing, folder, none, broken, brokenText] = await Promise.all([
      runEmpty(['config', 'validate', 'missing.yaml', '--json']),
      runEmpty(['config', 'apply', 'a-folder', '--json']),
      runEmpty(['config', 'apply', '--json']),
      runEmpty(['config', 'apply', 'broken.yaml', '--json']),
      runEmpty(['config', 'apply', 'broken.yaml']),
    ]);
    expect(jsonError(missing)).toEqual({
      code: 'FILE_NOT_READABLE',
      message: 'cannot read missing.yaml: there is no such file',
      details: [{ field: 'FILE', message: 'there is no such file' }],
    });
    expect(jsonError(folder)).toMatchObject({
      code: 'FILE_NOT_READABLE',
      message: 'cannot read a-folder: it is a folder, not a file',
    });
    expect(jsonError(none)).toMatchObject({
      code: 'CONFIG_FILE_NOT_FOUND',
      message: expect.stringContaining('ledgerlink config apply FILE'),
    });
    expect(jsonError(broken)).toEqual({
      code: 'VALIDATION_ERROR',
      message: 'broken.yaml: 1 problem: pipelines: Invalid input: expected array, received number',
      details: [{ field: 'pipelines', message: 'Invalid input: expected array, received number' }],
    });
    expect(brokenText.code).toBe(1);
    expect(brokenText.stderr).toBe(
      'error: VALIDATION_ERROR: broken.yaml: 1 problem; nothing was written\n' +
        '  pipelines: Invalid input: expected array, received number\n',
    );
  }, 120_000);

  it('a setting that does not parse: SETTING_INVALID naming the option or variable', async () => {
    const [url, port] = await Promise.all([
      runEmpty([
        'user',
        'create',
        '--entity',
        'CLUB',
        '--email',
        'a@example.com',
        '--role',
        'owner',
        '--url',
        'notaurl',
        '--json',
      ]),
      runEmpty(['serve', '--no-demo'], { PORT: 'abc', LEDGERLINK_DATA_DIR: 'memory' }),
    ]);
    expect(jsonError(url)).toMatchObject({
      code: 'SETTING_INVALID',
      message: expect.stringMatching(/^--url: "notaurl" is not a URL/),
      details: [{ field: '--url' }],
    });
    expect(port.code).toBe(1);
    expect(port.stderr).toContain('error: SETTING_INVALID: PORT: "abc" is not a whole number');
  }, 120_000);
});

describe("commander's refusals: USAGE_ERROR, pointing to the command's --help", () => {
  it('an unknown option, a missing option or argument, an unknown command; JSON with --json', async () => {
    const [unknown, unknownJson, required, argument, command, choice] = await Promise.all([
      runEmpty(['import', 'f.csv', '--bogus']),
      runEmpty(['import', 'f.csv', '--pipe', 'x', '--json']),
      runEmpty(['entity', 'create', '--name', 'x', '--json']),
      runEmpty(['entity', 'keys', '--json']),
      runEmpty(['nosuchcommand']),
      runEmpty(['import', 'f.csv', '--pipeline', 'p', '--kind', 'zzz']),
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("error: USAGE_ERROR: unknown option '--bogus'; see ledgerlink import --help\n");
    expect(jsonError(unknownJson)).toEqual({
      code: 'USAGE_ERROR',
      message: "unknown option '--pipe'; see ledgerlink import --help",
      details: [{ field: '--pipe', message: "unknown option '--pipe'" }],
    });
    expect(jsonError(required)).toMatchObject({
      code: 'USAGE_ERROR',
      message: "required option '--code <code>' not specified; see ledgerlink entity create --help",
      details: [{ field: '--code' }],
    });
    expect(jsonError(argument)).toMatchObject({
      code: 'USAGE_ERROR',
      message: "missing required argument 'code'; see ledgerlink entity keys --help",
      details: [{ field: 'CODE' }],
    });
    expect(command.stderr).toBe("error: USAGE_ERROR: unknown command 'nosuchcommand'; see ledgerlink --help\n");
    expect(choice.stderr).toMatch(
      /^error: USAGE_ERROR: option '--kind <kind>' argument 'zzz' is invalid\. Allowed choices are /,
    );
    expect(choice.stderr).toMatch(/; see ledgerlink import --help\n$/);
  }, 120_000);

  it('help and --version are untouched', async () => {
    const [help, version] = await Promise.all([runEmpty(['entity', 'keys', '--help']), runEmpty(['--version'])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: ledgerlink entity keys');
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n', stderr: '' });
  }, 120_000);
});

describe('openDatabase refuses before connecting what would fail later', () => {
  it('a URL that is none, or a schema that is no plain name', async () => {
    await expect(openDatabase({ databaseUrl: 'postgres//x' })).rejects.toMatchObject({ code: 'DATABASE_URL_INVALID' });
    await expect(openDatabase({ databaseUrl: CLOSED, schema: 'Upper' })).rejects.toMatchObject({
      code: 'SETTING_INVALID',
      variable: 'LEDGERLINK_DB_SCHEMA',
    });
  });
});
