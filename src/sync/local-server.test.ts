import { Agent, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { readBody, startLocalServer } from './local-server.ts';

describe('startLocalServer', () => {
  it('answers on a free loopback port and closes although a keep-alive client still holds a connection', async () => {
    const server = await startLocalServer((req, res) => {
      void readBody(req).then((body) => res.end(`got ${body}`));
    });
    expect(server.origin).toBe(`http://127.0.0.1:${server.port}`);
    const agent = new Agent({ keepAlive: true });
    const answer = await new Promise<string>((resolve, reject) => {
      const req = request(`${server.origin}/x`, { method: 'POST', agent }, (res) => {
        void readBody(res).then(resolve, reject);
      });
      req.on('error', reject);
      req.end('hello');
    });
    expect(answer).toBe('got hello');
    // The agent keeps its socket open; without closing connections, close() would wait for it.
    await server.close();
    expect(server.server.listening).toBe(false);
    agent.destroy();
  });

  it('refuses a port already in use', async () => {
    const a = await startLocalServer((_req, res) => res.end(), { host: '127.0.0.1' });
    expect(a.origin).toBe(`http://127.0.0.1:${a.port}`);
    await expect(startLocalServer((_req, res) => res.end(), { host: '127.0.0.1', port: a.port })).rejects.toThrow(
      /EADDRINUSE/,
    );
    await a.close();
  });
});
