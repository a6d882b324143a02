import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPlace, type CliPlace } from './helpers/cli.ts';

/*
 * `ledgerlink serve --help` lists every environment variable the code reads (docs/deploy.md says it
 * does): the names are found in src/ as the code reads them, so that a new setting cannot be added
 * without a line in the help.
 */
const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Set by the test runner, never by an operator. */
const NOT_SETTINGS = new Set(['VITEST']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : /\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name)
        ? [join(dir, e.name)]
        : [],
  );
}

/** Every variable name read from the environment under src/: `env.X`, `env['X']`, `…Setting(env, 'X'`. */
function variablesRead(): Set<string> {
  const names = new Set<string>();
  const patterns = [
    /\benv\??\.([A-Z][A-Z0-9_]+)\b/g,
    /\benv\[\s*['"]([A-Z][A-Z0-9_]+)['"]\s*\]/g,
    /Setting\(\s*(?:process\.)?env\s*,\s*['"]([A-Z][A-Z0-9_]+)['"]/g,
  ];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of patterns) for (const m of text.matchAll(pattern)) names.add(m[1]!);
  }
  for (const name of NOT_SETTINGS) names.delete(name);
  return names;
}

let place: CliPlace;
beforeAll(async () => {
  place = await cliPlace({ data: 'none' });
});
afterAll(async () => place?.close());

describe('ledgerlink serve --help', () => {
  it('names every environment variable the code reads', async () => {
    const read = variablesRead();
    // The search finds what it should: a pattern that matched nothing would pass every name.
    for (const known of ['PORT', 'HOST', 'DATABASE_URL', 'LEDGERLINK_DB_POOL', 'LEDGERLINK_PUBLIC_URL', 'LOG_JSON'])
      expect(read).toContain(known);
    const r = await place.run(['serve', '--help']);
    expect(r.code, r.stderr).toBe(0);
    const listed = new Set([...r.stdout.matchAll(/^ {2}([A-Z][A-Z0-9_]+) /gm)].map((m) => m[1]!));
    expect([...read].filter((name) => !listed.has(name)).sort()).toEqual([]);
  }, 120_000);
});
