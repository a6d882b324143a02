import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/*
 * The HTTP server under each platform's simulator (src/connectors/<name>/simulator.ts): it listens
 * on the loopback address, on a free port unless one is named, hands every request to the
 * simulator, and closes with the connections still open (a keep-alive client would otherwise hold
 * `close` until its socket times out).
 */

export interface LocalServer {
  server: Server;
  /** `http://127.0.0.1:PORT`, or with the host named in the options; an IPv6 address in brackets. */
  origin: string;
  port: number;
  close(): Promise<void>;
}

export interface LocalServerOptions {
  /** Default 0: a free port. */
  port?: number | undefined;
  /** Default 127.0.0.1. */
  host?: string | undefined;
}

/** Starts a server answering through `handle`; rejects when the port cannot be listened on. */
export async function startLocalServer(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
  opts: LocalServerOptions = {},
): Promise<LocalServer> {
  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  // The host as named (a name a certificate or a redirect may carry), else the address listened on.
  const named = opts.host ?? address.address;
  const host = named.includes(':') ? `[${named}]` : named;
  return {
    server,
    origin: `http://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** A request's whole body as UTF-8 text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
