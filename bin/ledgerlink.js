#!/usr/bin/env -S node --max-semi-space-size=8 --v8-pool-size=1 --heap-growing-percent=30
// The flags above (also in package.json's `start`) keep the server's memory down (docs/performance.md, "Memory
// (issue 8)"): semi-spaces of 8 MB instead of 16, one V8 helper thread (the memory its compiler mallocs stays in
// the thread's arena for good), and an old generation collected at 1.3 times what survived the last collection
// instead of up to 4 times (a long sync's garbage).
// Runs the TypeScript sources directly through tsx's loader, so there is no build step to forget.
import { register } from 'tsx/esm/api';
// Embedded PostgreSQL's JavaScript (1 MB) is loaded before the loader: through it, its copies stay in the
// loader's thread for good, about 40 MB (docs/performance.md, "Memory (issue 8)").
await import('@electric-sql/pglite');
register();
await import('../src/cli/main.ts');
