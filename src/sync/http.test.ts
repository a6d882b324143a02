import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  OutboundRefusedError,
  addressProblem,
  checkOutboundUrl,
  guardedAgent,
  outboundPolicyFromEnv,
  outboundRequest,
  safeReason,
} from './http.ts';

const strict = { allowPrivateNetworks: false, allow: [] };
const privateOk = { allowPrivateNetworks: true, allow: [] };

describe('addressProblem', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'CGNAT'],
    ['fd12:3456::1', 'ULA'],
    ['fe80::1', 'link-local'],
    ['169.254.10.10', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['2002:7f00:1::', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
  ])('refuses %s (%s)', (address, kind) => {
    expect(addressProblem(address, strict)).toContain(kind);
  });

  it.each(['93.184.216.34', '172.32.0.1', '100.128.0.1', '2606:2800:220:1:248:1893:25c8:1946', '1.1.1.1'])(
    'lets %s through',
    (address) => {
      expect(addressProblem(address, strict)).toBeNull();
    },
  );

  it('opens private ranges with LEDGERLINK_ALLOW_PRIVATE_NETWORKS, never metadata nor multicast', () => {
    for (const a of ['127.0.0.1', '10.0.0.1', 'fd12::1', '169.254.1.1', '100.64.0.1'])
      expect(addressProblem(a, privateOk)).toBeNull();
    for (const a of ['169.254.169.254', 'fd00:ec2::254', '224.0.0.1'])
      expect(addressProblem(a, privateOk)).not.toBeNull();
  });
});

describe('checkOutboundUrl', () => {
  it('wants https, no credentials, no loopback or private literal; names are judged at connect time', () => {
    expect(checkOutboundUrl('https://club.example/', strict)).toBeNull();
    expect(checkOutboundUrl('http://club.example/', strict)).toMatch(/https/);
    expect(checkOutboundUrl('ftp://club.example/', strict)).toMatch(/https/);
    expect(checkOutboundUrl('https://a:b@club.example/', strict)).toMatch(/credentials/);
    expect(checkOutboundUrl('https://2130706433/', strict)).toMatch(/loopback/);
    expect(checkOutboundUrl('https://app.localhost/', strict)).toMatch(/loopback/);
    expect(checkOutboundUrl('not a url', strict)).toBe('not a URL');
  });

  it('lets an allow-listed host through over http and at any address, on its port only when one is given', () => {
    const policy = outboundPolicyFromEnv({ LEDGERLINK_OUTBOUND_ALLOW: ' erp.internal:8080 , 10.1.2.3,[::1]:9000' });
    expect(checkOutboundUrl('http://erp.internal:8080/in', policy)).toBeNull();
    expect(checkOutboundUrl('http://erp.internal:8081/in', policy)).toMatch(/https/);
    expect(checkOutboundUrl('http://10.1.2.3:1234/', policy)).toBeNull();
    expect(checkOutboundUrl('http://[::1]:9000/', policy)).toBeNull();
    expect(checkOutboundUrl('https://[::1]:9001/', policy)).toMatch(/loopback/);
  });

  it('refuses a malformed setting rather than ignoring it', () => {
    expect(() => outboundPolicyFromEnv({ LEDGERLINK_OUTBOUND_ALLOW: 'http://erp.internal' })).toThrow(/host:port/);
    expect(() => outboundPolicyFromEnv({ LEDGERLINK_ALLOW_PRIVATE_NETWORKS: 'yes' })).toThrow(/true/);
  });
});

describe('safeReason', () => {
  it('keeps a code-like token of a body, never free text', () => {
    expect(safeReason('{"error":{"code":"TENANT_CLOSED","message":"secret page"}}')).toBe('TENANT_CLOSED');
    expect(safeReason({ error: 'invalid_request_error' })).toBe('invalid_request_error');
    expect(safeReason('{"message":"root:x:0:0"}')).toBeNull();
    expect(safeReason('{"code":"has spaces in it"}')).toBeNull();
    expect(safeReason('<html>internal</html>')).toBeNull();
  });
});

describe('connection reuse (keep-alive) under the policy', () => {
  /** A local server that counts the connections it accepts. */
  async function counting(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
    let connections = 0;
    const server = http.createServer((_req, res) => res.end('ok'));
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    return {
      port,
      connections: () => connections,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  function get(agent: http.Agent, host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host, port, path: '/', agent }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('reuses a checked connection, pinned to the checked address, and checks every new connection again', async () => {
    const s = await counting();
    // A name that first resolves to the (allowed) loopback, then is rebound to the metadata address.
    let answer = '127.0.0.1';
    const asked: string[] = [];
    const lookup = (
      host: string,
      _o: unknown,
      cb: (e: NodeJS.ErrnoException | null, a: { address: string; family: number }[]) => void,
    ) => {
      asked.push(host);
      cb(null, [{ address: answer, family: 4 }]);
    };
    const agent = guardedAgent('http', { policy: privateOk, lookup });
    try {
      expect(await get(agent, 'svc.test', s.port)).toBe('ok');
      expect(await get(agent, 'svc.test', s.port)).toBe('ok');
      expect(s.connections()).toBe(1);
      answer = '169.254.169.254';
      // The kept connection stays on the address that was checked: no second resolution.
      expect(await get(agent, 'svc.test', s.port)).toBe('ok');
      expect(s.connections()).toBe(1);
      expect(asked).toEqual(['svc.test']);
      // A new connection on the same agent is checked, and refused, before anything is sent.
      await expect(get(agent, 'other.test', s.port)).rejects.toThrow(
        /other\.test: 169\.254\.169\.254 is a cloud metadata/,
      );
      expect(s.connections()).toBe(1);
    } finally {
      agent.destroy();
      await s.close();
    }
  });

  it('outboundRequest reuses one connection for consecutive calls to a system', async () => {
    const s = await counting();
    const policy = { allowPrivateNetworks: false, allow: [{ host: '127.0.0.1', port: s.port }] };
    try {
      for (let i = 0; i < 3; i++) {
        const a = await outboundRequest(`http://127.0.0.1:${s.port}/`, { method: 'GET' }, { policy });
        expect(a.text).toBe('ok');
      }
      expect(s.connections()).toBe(1);
    } finally {
      await s.close();
    }
  });

  it('never hands a connection opened under one policy to a request under a stricter one', async () => {
    const s = await counting();
    const lookup = (
      _host: string,
      _o: unknown,
      cb: (e: NodeJS.ErrnoException | null, a: { address: string; family: number }[]) => void,
    ) => cb(null, [{ address: '127.0.0.1', family: 4 }]);
    const open = { allowPrivateNetworks: false, allow: [{ host: '127.0.0.1', port: s.port }] };
    try {
      expect(
        (await outboundRequest(`http://127.0.0.1:${s.port}/`, { method: 'GET' }, { policy: open, lookup })).text,
      ).toBe('ok');
      // The same address without the allow entry: refused, though a kept connection to it exists.
      await expect(
        outboundRequest(`http://127.0.0.1:${s.port}/`, { method: 'GET' }, { policy: strict, lookup }),
      ).rejects.toBeInstanceOf(OutboundRefusedError);
      expect(s.connections()).toBe(1);
    } finally {
      await s.close();
    }
  });
});
