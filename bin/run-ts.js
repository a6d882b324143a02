#!/usr/bin/env node
// Runs a TypeScript file of this repository: node bin/run-ts.js path/to/file.ts [args...]
import { register } from 'tsx/esm/api';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
// As in bin/ledgerlink.js: loaded before tsx's loader, PGlite's JavaScript does not stay in its thread (about 40 MB).
await import('@electric-sql/pglite');
register();
const file = process.argv[2];
if (!file) {
  console.error('usage: node bin/run-ts.js FILE.ts [args...]');
  process.exit(2);
}
process.argv.splice(1, 1);
await import(pathToFileURL(resolve(file)).href);
