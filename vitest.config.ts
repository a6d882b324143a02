import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';
import { CHANGES_PROCESS_STATE } from './test/helpers/isolated-files.ts';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default (cores − 1) runs the files one by one on a 2-core machine; many of them wait on
    // child processes, sockets and timers, so two at a time takes about two thirds of the time there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // One migrated PGlite saved once, which each file's fresh in-memory database starts from.
    globalSetup: ['test/helpers/pglite-template.ts'],
    // The connectors' tests talk to local simulators over http on 127.0.0.1, which the outbound
    // policy refuses by default (docs/security.md): the tests allow that one host, nothing else.
    env: { TZ: 'UTC', LEDGERLINK_OUTBOUND_ALLOW: '127.0.0.1' },
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...CHANGES_PROCESS_STATE],
          // A fresh process per file imports the 327 modules of src/ again and compiles PGlite's
          // WebAssembly again; each file still opens a database of its own (docs/testing.md).
          isolate: false,
        },
      },
      // Files that leave state behind in their process (test/helpers/isolated-files.ts): one process each.
      { extends: true, test: { name: 'isolated', include: CHANGES_PROCESS_STATE } },
    ],
  },
});
