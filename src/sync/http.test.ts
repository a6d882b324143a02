import { describe, expect, it } from 'vitest';
import { addressProblem, checkOutboundUrl, outboundPolicyFromEnv, safeReason } from './http.ts';

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
