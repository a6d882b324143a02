import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkOutboundUrl, outboundRequest } from '../src/sync/http.ts';
import { type Client, type TestApp, createTestApp } from './helpers/app.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * Attack review, finding 7: the check made when a pipeline is saved refuses every spelling of a
 * name that is loopback without asking DNS, as the connect-time guard refuses it after DNS.
 */

const strict = { allowPrivateNetworks: false, allow: [] };
const LOOPBACK_NAMES = [
  'https://localhost./',
  'https://localhost../',
  'https://LOCALHOST/',
  'https://LocalHost.:8443/x',
  'https://app.localhost./',
  'https://loc%61lhost/',
  'https://localhost%2e/',
  'https://localhost.localdomain/',
  'https://localhost.localdomain./',
  'https://ip6-localhost/',
  'https://ip6-loopback/',
  'https://localhost6.localdomain6/',
];

describe('names that are loopback without DNS', () => {
  it.each(LOOPBACK_NAMES)('refuses %s when a pipeline is saved', (url) => {
    expect(checkOutboundUrl(url, strict)).toMatch(/is a loopback address, which the server does not call/);
  });

  it('refuses them before any lookup at connect time too', async () => {
    const lookup = () => {
      throw new Error('no lookup expected');
    };
    await expect(
      outboundRequest('https://localhost./x', { method: 'GET' }, { policy: strict, lookup }),
    ).rejects.toMatchObject({ code: 'OUTBOUND_REFUSED' });
  });

  it('leaves other names alone, and allows them all with LEDGERLINK_ALLOW_PRIVATE_NETWORKS', () => {
    for (const url of ['https://localhost.example/', 'https://mylocalhost/', 'https://localhost-api.example/'])
      expect(checkOutboundUrl(url, strict), url).toBeNull();
    for (const url of LOOPBACK_NAMES)
      expect(checkOutboundUrl(url, { allowPrivateNetworks: true, allow: [] }), url).toBeNull();
  });
});

describe('a pipeline saved with such a name', () => {
  let t: TestApp;
  let a: Client;
  const scope = processScope();
  beforeAll(async () => {
    t = await createTestApp();
    a = await t.entity('LOOPNAME');
  });
  afterAll(async () => t.close());
  beforeEach(() => {
    scope.env('LEDGERLINK_OUTBOUND_ALLOW', '');
    scope.env('LEDGERLINK_ALLOW_PRIVATE_NETWORKS', '');
  });

  it('is refused (400 PIPELINE_URL_REFUSED naming the field) and not stored', async () => {
    for (const baseUrl of ['https://localhost./', 'https://LOCALHOST./api/', 'https://localhost.localdomain/']) {
      const res = await a.put('/v1/pipelines/loop', { source: { type: 'ixpole', baseUrl, apiKey: 'k' } });
      expect(res.status, baseUrl).toBe(400);
      expect(res.body.error.code, baseUrl).toBe('PIPELINE_URL_REFUSED');
      expect(res.body.error.details, baseUrl).toEqual([
        { field: 'body.source.baseUrl', message: expect.stringContaining('is a loopback address') },
      ]);
    }
    expect((await a.get('/v1/pipelines/loop')).status).toBe(404);
  });
});
