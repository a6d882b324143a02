import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { appConfigFromEnv } from '../src/api/services.ts';
import { databaseConfigFromEnv } from '../src/db/open.ts';
import { publicBaseUrl, SettingsError } from '../src/settings.ts';

const run = promisify(execFile);

function refusal(fn: () => unknown): SettingsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SettingsError);
    return err as SettingsError;
  }
  throw new Error('expected a SettingsError');
}

describe('settings from the environment', () => {
  it('takes the defaults when nothing is set, and whole numbers in range', () => {
    const config = appConfigFromEnv({});
    expect(config.port).toBe(3000);
    expect(config.tokenTtlSeconds).toBe(1200);
    expect(config.idempotencyTtlSeconds).toBe(86400);
    const set = appConfigFromEnv({ PORT: '8080', LEDGERLINK_TOKEN_TTL_SECONDS: ' 600 ', LOG_LEVEL: 'debug' });
    expect([set.port, set.tokenTtlSeconds, set.logLevel]).toEqual([8080, 600, 'debug']);
  });

  it.each([
    ['LEDGERLINK_TOKEN_TTL_SECONDS', 'abc'],
    ['LEDGERLINK_TOKEN_TTL_SECONDS', '-60'],
    ['LEDGERLINK_TOKEN_TTL_SECONDS', '1.5'],
    ['LEDGERLINK_TOKEN_TTL_SECONDS', '1e3'],
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['LEDGERLINK_IDEMPOTENCY_TTL_SECONDS', '0'],
    ['LEDGERLINK_LOGIN_MAX_FAILURES', 'ten'],
    ['LEDGERLINK_LOGIN_WINDOW_SECONDS', '-1'],
    ['LOG_LEVEL', 'loud'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    const err = refusal(() => appConfigFromEnv({ [name]: value }));
    expect(err.variable).toBe(name);
    expect(err.message).toContain(name);
  });

  it('refuses a pool size that is not a whole number', () => {
    expect(refusal(() => databaseConfigFromEnv({ LEDGERLINK_DB_POOL: 'many' })).variable).toBe('LEDGERLINK_DB_POOL');
  });

  it('stops `ledgerlink serve` at start with a message naming the variable', async () => {
    const outcome = await run(process.execPath, ['bin/ledgerlink.js', 'serve', '--no-demo'], {
      env: { ...process.env, LEDGERLINK_TOKEN_TTL_SECONDS: 'abc', LEDGERLINK_DATA_DIR: 'memory', PORT: '0' },
      timeout: 20_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('LEDGERLINK_TOKEN_TTL_SECONDS');
  });
});

describe('LEDGERLINK_PUBLIC_URL', () => {
  it('is an http(s) base URL, its trailing slash dropped; unset, the OAuth redirects use http://localhost:PORT', () => {
    expect(appConfigFromEnv({}).publicUrl).toBeNull();
    expect(appConfigFromEnv({ LEDGERLINK_PUBLIC_URL: 'https://ll.example.com/' }).publicUrl).toBe(
      'https://ll.example.com',
    );
    expect(appConfigFromEnv({ LEDGERLINK_PUBLIC_URL: 'https://example.com/ledgerlink/' }).publicUrl).toBe(
      'https://example.com/ledgerlink',
    );
    expect(publicBaseUrl({ PORT: '8080' })).toBe('http://localhost:8080');
    expect(publicBaseUrl({ PORT: '8080', LEDGERLINK_PUBLIC_URL: 'https://ll.example.com' })).toBe(
      'https://ll.example.com',
    );
  });

  it.each(['ll.example.com', 'ftp://ll.example.com', 'https://user:pw@ll.example.com', 'https://ll.example.com/?a=1'])(
    'refuses %s, naming the variable',
    (value) => {
      const err = refusal(() => appConfigFromEnv({ LEDGERLINK_PUBLIC_URL: value }));
      expect(err.variable).toBe('LEDGERLINK_PUBLIC_URL');
      expect(err.message).not.toContain('pw@');
    },
  );
});
