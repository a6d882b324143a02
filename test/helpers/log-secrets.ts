import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The names of the secrets found in `text` in any form a log could hold them: as they are,
 * URL-encoded, JSON-escaped, and inside any base64 run of the text (plain or URL-safe), so that a
 * secret in `Basic base64(user:password)` or an encoded body shows too.
 */
export function leaks(text: string, secrets: Record<string, string>): string[] {
  const decoded = [...text.matchAll(/[A-Za-z0-9+/_-]{12,}={0,2}/g)].map((m) =>
    Buffer.from(m[0].replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('latin1'),
  );
  const found: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    const forms = [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)];
    if (forms.some((f) => text.includes(f)) || decoded.some((d) => d.includes(secret))) found.push(name);
  }
  return found;
}

/**
 * A receiver for the webhook target that, like many real servers, repeats what it was sent when it
 * refuses: the lookup answers 401 echoing the `x-api-key` header while `refuseLookups` is set (404
 * otherwise), and an invoice whose body holds `refuse` is refused with a message echoing it too.
 */
export async function echoingReceiver(refuse: string) {
  const posts: { kind: string; items: { document: unknown }[] }[] = [];
  const state = { refuseLookups: false, lookups: 0 };
  let next = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const key = String(req.headers['x-api-key']);
      const json = (status: number, value: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.method === 'GET') {
        state.lookups++;
        if (state.refuseLookups)
          json(401, { error: { code: 'UNAUTHORIZED', message: `API key ${key} is not valid for this tenant` } });
        else json(404, { error: { code: 'NOT_FOUND' } });
        return;
      }
      const batch = JSON.parse(body) as { kind: string; items: { document: unknown }[] };
      posts.push(batch);
      json(200, {
        results: batch.items.map((item) =>
          batch.kind === 'invoice' && JSON.stringify(item.document).includes(refuse)
            ? { error: { code: 'KEY_NOT_ALLOWED', message: `key ${key} may not book this document` } }
            : { id: `R-${++next}`, number: `N-${next}` },
        ),
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    posts,
    state,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
