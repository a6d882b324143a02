import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);
const own = (name: string) => new URL(`./assets/${name}`, import.meta.url);

/**
 * The dashboard's static files, read once at start: htmx and Pico CSS from node_modules (their
 * versions pinned in package.json), and our own small stylesheet and script. Nothing is built.
 */
const FILES: Record<string, { path: string | URL; type: string }> = {
  'htmx.min.js': { path: require.resolve('htmx.org/dist/htmx.min.js'), type: 'text/javascript; charset=utf-8' },
  'pico.min.css': { path: require.resolve('@picocss/pico/css/pico.min.css'), type: 'text/css; charset=utf-8' },
  'app.css': { path: own('app.css'), type: 'text/css; charset=utf-8' },
  'app.js': { path: own('app.js'), type: 'text/javascript; charset=utf-8' },
};

interface Asset {
  body: Buffer;
  type: string;
  version: string;
}

let loaded: Map<string, Asset> | null = null;

function assets(): Map<string, Asset> {
  loaded ??= new Map(
    Object.entries(FILES).map(([name, f]) => {
      const body = readFileSync(f.path);
      return [name, { body, type: f.type, version: createHash('sha256').update(body).digest('hex').slice(0, 12) }];
    }),
  );
  return loaded;
}

/** The URL of an asset, with its content hash: a new version is a new URL, so browsers may keep each for good. */
export function assetUrl(name: string): string {
  const a = assets().get(name);
  return a ? `/assets/${name}?v=${a.version}` : `/assets/${name}`;
}

/** GET /assets/{name}: the files above, cached for a year (their URLs change with their content). */
export function registerAssets(app: FastifyInstance): void {
  assets();
  app.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) => {
    const a = assets().get(request.params.name);
    if (!a) return reply.status(404).type('text/plain; charset=utf-8').send('No such file.');
    return reply
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('etag', `"${a.version}"`)
      .type(a.type)
      .send(a.body);
  });
}
