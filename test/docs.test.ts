import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { allRoutes } from '../src/api/routes/index.ts';
import { renderApiReference, renderErrorReference } from '../src/api/reference-docs.ts';

describe('generated reference docs', () => {
  it('docs/api.md and docs/errors.md match the code (run `npm run docs` after changing routes or codes)', async () => {
    expect(await readFile('docs/api.md', 'utf8')).toBe(renderApiReference(allRoutes));
    expect(await readFile('docs/errors.md', 'utf8')).toBe(renderErrorReference());
  });

  it('documents every route', () => {
    const md = renderApiReference(allRoutes);
    for (const r of allRoutes) expect(md).toContain(`\`${r.method} ${r.path}\``);
  });
});
