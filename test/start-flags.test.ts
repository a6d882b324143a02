import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { serverNodeFlags } from '../bench/stats.ts';

/*
 * The memory flags of the server (docs/performance.md, "Memory (issue 8)") are given in two places:
 * the command's first line (`npx ledgerlink …`) and `npm start`. Both must say the same, and the
 * command must really run with them.
 */
const run = promisify(execFile);
const root = new URL('../', import.meta.url);

describe('the Node.js flags the server runs with', () => {
  const flags = serverNodeFlags(root.pathname);

  it('are the same in bin/ledgerlink.js and in npm start', () => {
    expect(flags).toEqual(['--max-semi-space-size=8', '--v8-pool-size=1', '--heap-growing-percent=30']);
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${flags.join(' ')} bin/ledgerlink.js serve`);
  });

  it('are in force when the command is run through its first line', async () => {
    // A module preloaded into the command reports the flags its process was started with.
    const probe = new URL('test/helpers/exec-argv-probe.js', root).href;
    const { stdout, stderr } = await run(new URL('bin/ledgerlink.js', root).pathname, ['--version'], {
      cwd: root.pathname,
      env: { ...process.env, NODE_OPTIONS: `--import=${probe}` },
    });
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const report = JSON.parse(/PROBE (.*)$/m.exec(stderr)![1]!) as { argv: string[] };
    expect(report.argv).toEqual(expect.arrayContaining(flags));
  });
});
