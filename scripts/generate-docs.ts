// Regenerates docs/api.md and docs/errors.md from the route schemas, the error table and the exception reason codes.
import { writeFile } from 'node:fs/promises';
import { allRoutes } from '../src/api/routes/index.ts';
import { renderApiReference, renderErrorReference } from '../src/api/reference-docs.ts';
import { benchArgs } from '../bench/cli-args.ts';

benchArgs(
  { options: {} },
  `Usage: npm run docs

Regenerates docs/api.md and docs/errors.md from the route schemas, the error table and the exception
reason codes (test/docs.test.ts fails while they are stale).`,
);

await writeFile('docs/api.md', renderApiReference(allRoutes));
await writeFile('docs/errors.md', renderErrorReference());
console.log('wrote docs/api.md and docs/errors.md');
