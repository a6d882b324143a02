/**
 * Test files that change state of the process the files after them would see: connectors
 * registered for the test, a connector's runtime settings, hosts allowed out, environment
 * variables. vitest.config.ts runs each of these in a process of its own; every other file shares
 * its worker with the files before it (docs/testing.md). test/isolated-files.test.ts keeps the list
 * complete. A file that makes such changes through processScope() (test/helpers/scoped.ts), which
 * undoes them when the file ends, needs no process of its own and is not listed.
 */
export const CHANGES_PROCESS_STATE = [
  // Counts on registries that hold nothing but its own entries: a fresh module graph.
  'src/sync/registry.test.ts',
  // Allows the demo's loopback address out, as `serve` does.
  'test/cli-demo.test.ts',
];

/** Calls and assignments that leave state behind in the process, as they are written in a test. */
export const PROCESS_STATE_CHANGES =
  /register(Source|Target|Inbound|FileFormat)\(|process\.env *=[^=]|configure[A-Za-z]*Runtime\(|allowOutboundHost\(|process\.env\.[A-Za-z_]+ *=[^=]|process\.env\[[^\]]+\] *=[^=]|delete process\.env|Object\.assign\(process\.env|vi\.(spyOn|stubEnv|stubGlobal|useFakeTimers|mock|doMock)\(|globalThis\.[A-Za-z_]+ *=[^=]|setGlobalDispatcher\(|process\.on\(|process\.chdir\(/;
