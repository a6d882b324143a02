import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
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
  },
});
