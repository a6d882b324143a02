import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { buildServer } from '../../src/api/server.ts';
import { allRoutes } from '../../src/api/routes/index.ts';
import { syncRoutes } from '../../src/api/routes/sync.ts';
import { ADMIN_TOKEN, type TestApp } from './app.ts';

/**
 * The test app's server, with the sync engine's routes mounted when the route index does not
 * list them yet: a second server on the same database and sync service (tokens are sessions in
 * the database, so they work on both).
 */
export async function syncServer(t: TestApp): Promise<FastifyInstance> {
  const missing = syncRoutes.filter((r) => !allRoutes.includes(r));
  if (missing.length === 0) return t.app;
  const app = await buildServer({
    db: t.db,
    sync: t.sync,
    routes: missing,
    logger: false,
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: ADMIN_TOKEN,
      tokenTtlSeconds: 1200,
      logLevel: 'silent',
      bodyLimitBytes: 20 * 1024 * 1024,
    },
  });
  await app.ready();
  return app;
}

export interface UploadFile {
  name: string;
  content: Buffer | string;
  type?: string;
}

/** A multipart/form-data body, built by hand so the test sends exactly what a browser or curl would. */
export function multipart(fields: Record<string, string>, file?: UploadFile): { payload: Buffer; contentType: string } {
  return multipartParts([
    ...Object.entries(fields).map(([name, value]) => ({ name, value })),
    ...(file ? [{ name: 'file', file }] : []),
  ]);
}

/** One part of a form: a text field, or a file. */
export type FormPart = { name: string; value: string } | { name: string; file: UploadFile };

/** A multipart/form-data body of these parts in this order, a name repeated as often as given (curl's `-F a=1 -F a=2`). */
export function multipartParts(parts: FormPart[]): { payload: Buffer; contentType: string } {
  const boundary = `----ledgerlink${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    if ('value' in part) {
      chunks.push(
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`),
      );
      continue;
    }
    const { file } = part;
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${file.name}"\r\nContent-Type: ${file.type ?? 'text/csv'}\r\n\r\n`,
      ),
      Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** POSTs a file to /v1/imports. */
export async function upload(
  app: FastifyInstance,
  token: string | null,
  fields: Record<string, string>,
  file?: UploadFile,
) {
  const body = multipart(fields, file);
  const res = await app.inject({
    method: 'POST',
    url: '/v1/imports',
    headers: { 'content-type': body.contentType, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    payload: body.payload,
  });
  return { status: res.statusCode, body: res.json() };
}
