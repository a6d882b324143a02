import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/*
 * Every script a reader is told to run (each `npm run` script through bin/run-ts.js: `bench`,
 * `bench:*`, `fuzz`, `docs`, `audit:prod`; and the bench tools docs/performance.md names) answers `--help` with its usage, and a mistyped option with what is
 * wrong and exit code 2: never a stack trace, and never a run started on a typo.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const scripts = (JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { scripts: Record<string, string> })
  .scripts;
const entries = [
  ...Object.entries(scripts)
    .filter(([, command]) => command.startsWith('node bin/run-ts.js '))
    .map(([, command]) => /^node bin\/run-ts\.js ((?:bench|scripts)\/\S+\.ts)$/.exec(command)?.[1] ?? command),
  'bench/backfill.ts',
  'bench/dashboard.ts',
  'bench/statement-compare.ts',
  'bench/explain.ts',
];

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/run-ts.js', file, ...args],
      { cwd: root, timeout: 60_000, env: { ...process.env, DATABASE_URL: '', BENCH_DATABASE_URL: '' } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('bench and maintenance scripts on the command line', () => {
  it('are all run through bin/run-ts.js from bench/ or scripts/', () => {
    expect(entries.filter((e) => !/^(bench|scripts)\/[\w-]+\.ts$/.test(e))).toEqual([]);
    expect(entries).toEqual(expect.arrayContaining(['bench/run.ts', 'bench/fuzz.ts', 'scripts/audit.ts']));
  });

  it('answer --help with their usage and exit 0', async () => {
    const answers = await Promise.all(entries.map(async (file) => [file, await run(file, ['--help'])] as const));
    for (const [file, a] of answers) {
      expect(a.code, `${file}: ${a.stderr}`).toBe(0);
      expect(a.stdout, file).toMatch(/^Usage: /);
    }
  }, 120_000);

  it('refuse an unknown option with what is wrong, the usage and exit 2, no stack trace', async () => {
    const answers = await Promise.all(
      entries.map(async (file) => [file, await run(file, ['--no-such-option'])] as const),
    );
    for (const [file, a] of answers) {
      expect(a.code, `${file}: ${a.stderr}`).toBe(2);
      expect(a.stderr, file).toContain("Unknown option '--no-such-option'");
      expect(a.stderr, file).toMatch(/^Usage: .*\n\(--help for every option\)\n$/m);
      expect(a.stderr, file).not.toMatch(/^\s+at /m);
      expect(a.stdout, file).toBe('');
    }
  }, 120_000);

  it('refuse a number that is not one, naming the option', async () => {
    const a = await run('bench/run.ts', ['--queries', 'lots']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--queries must be a positive whole number, not "lots"');
    const b = await run('bench/fuzz.ts', ['--only', 'routes,nope']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--only nope: no such family');
  }, 60_000);
});
