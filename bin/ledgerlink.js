#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader, so there is no build step to forget.
import { register } from 'tsx/esm/api';
// Embedded PostgreSQL's JavaScript (1 MB) is loaded before the loader: through it, its copies stay in the
// loader's thread for good, about 40 MB (docs/performance.md, "Memory (issue 8)").
await import('@electric-sql/pglite');
register();
await import('../src/cli/main.ts');
