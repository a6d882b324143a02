import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHANGES_PROCESS_STATE, PROCESS_STATE_CHANGES } from './helpers/isolated-files.ts';

/*
 * Most test files share a worker process with the files run before them (vitest.config.ts). A file
 * that leaves state behind in the process must run in one of its own, or the files after it would
 * see its connectors, settings or environment: this keeps the list of such files complete.
 */

function testFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => join(dir, name));
}

describe('test files that change the process', () => {
  it('each runs in a process of its own', () => {
    const changing = [...testFiles('src'), ...testFiles('test')]
      .filter((file) => PROCESS_STATE_CHANGES.test(readFileSync(file, 'utf8')))
      .sort();
    expect(changing.filter((file) => !CHANGES_PROCESS_STATE.includes(file))).toEqual([]);
  });

  it('are all files that exist', () => {
    expect(CHANGES_PROCESS_STATE.filter((file) => !existsSync(file))).toEqual([]);
  });

  it('are found by the pattern (a file that changes nothing needs no process of its own)', () => {
    const found = CHANGES_PROCESS_STATE.filter((file) => PROCESS_STATE_CHANGES.test(readFileSync(file, 'utf8')));
    expect(found).toEqual(CHANGES_PROCESS_STATE);
  });
});
