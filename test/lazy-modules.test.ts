import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * The Stripe SDK (218 modules) and pdfkit are loaded when first used, not by every process that starts
 * (docs/performance.md, "Starting a process"): `ledgerlink --help` loads every command's module, the
 * server's and every connector's, and must load neither. A helper that uses both shows that the
 * recording would see them.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'll-loads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a run of the command loaded; `exitCode` 1 for a command that is to fail (no data folder). */
async function loads(args: string[], name: string, exitCode = 0): Promise<string[]> {
  const file = join(dir, name);
  const run = promisify(execFile)(process.execPath, ['--import', './test/helpers/record-loads.js', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, LEDGERLINK_RECORD_LOADS: file },
    timeout: 60_000,
  });
  const code = await run.then(
    () => 0,
    (err: { code?: unknown }) => (typeof err.code === 'number' ? err.code : -1),
  );
  expect(code, args.join(' ')).toBe(exitCode);
  return readFileSync(file, 'utf8').trim().split('\n');
}

const from = (urls: string[], pkg: string) => urls.filter((u) => u.includes(`/node_modules/${pkg}/`));

describe('modules loaded on first use', () => {
  it('`ledgerlink --help` loads every command, the server and the connectors, but neither Stripe nor pdfkit', async () => {
    const urls = await loads(['bin/ledgerlink.js', '--help'], 'help.txt');
    expect(urls.some((u) => u.endsWith('/src/api/server.ts'))).toBe(true);
    expect(urls.some((u) => u.endsWith('/src/connectors/stripe/index.ts'))).toBe(true);
    expect(from(urls, 'stripe')).toEqual([]);
    expect(from(urls, 'pdfkit')).toEqual([]);
  }, 60_000);

  it('`ledgerlink entity list` loads no connector and not the server, and `--version` no command', async () => {
    const src = (urls: string[]) => urls.filter((u) => u.includes('/src/'));
    // Run where no data is: it says so and exits 1, having loaded what the command needs.
    const entity = await loads(
      ['bin/ledgerlink.js', '--data-dir', join(dir, 'none'), 'entity', 'list'],
      'entity.txt',
      1,
    );
    expect(entity.some((u) => u.endsWith('/src/cli/entity.ts'))).toBe(true);
    // It checks its arguments with the API's own schemas, but needs neither the server nor a connector.
    expect(src(entity).filter((u) => /\/src\/(connectors\/|api\/server\.ts)/.test(u))).toEqual([]);
    const version = await loads(['bin/ledgerlink.js', '--version'], 'version.txt');
    expect([...new Set(src(version).map((u) => u.slice(u.indexOf('/src/'))))]).toEqual(['/src/cli/main.ts']);
  }, 60_000);

  it('first use loads them', async () => {
    const urls = await loads(['bin/run-ts.js', 'test/helpers/load-lazy.ts'], 'used.txt');
    expect(from(urls, 'stripe').length).toBeGreaterThan(100);
    expect(from(urls, 'pdfkit').length).toBeGreaterThan(0);
  }, 60_000);
});
