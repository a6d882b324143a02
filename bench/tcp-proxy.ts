import { type Server, type Socket, connect, createServer } from 'node:net';

/*
 * A TCP proxy in front of a database server, for the outage bench (bench/db-outage.ts): it passes
 * bytes both ways until told to `cut`, which drops every connection and stops listening (new
 * connections are refused, as while a server restarts), and `restore`, which listens again on the
 * same port.
 */

export interface TcpProxy {
  readonly port: number;
  /** The local ports of the proxy's connections to the server: the `client_port`s the server sees. */
  upstreamPorts(): number[];
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const onConnection = (client: Socket) => {
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  };
  let server: Server = createServer(onConnection);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as { port: number }).port);
      });
    });
  const port = await listen(0);
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  return {
    port,
    upstreamPorts: () => [...pairs].map((p) => p.upstream.localPort).filter((x): x is number => x !== undefined),
    cut: stop,
    async restore() {
      server = createServer(onConnection);
      await listen(port);
    },
    close: stop,
  };
}
