import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConnectorError } from '../../sync/connector.ts';
import { IxpoleClient, parseRetryAfter } from './client.ts';
import { type IxpoleSimulator, startIxpoleSimulator } from './simulator.ts';

let sim: IxpoleSimulator;
beforeAll(async () => {
  sim = await startIxpoleSimulator({ instalments: 5, seed: 9 });
});
afterAll(async () => sim.close());
beforeEach(() => sim.control.reset());

/** A client whose pauses are recorded instead of waited. */
function client(extra: Partial<ConstructorParameters<typeof IxpoleClient>[0]> = {}) {
  const waits: number[] = [];
  const c = new IxpoleClient({
    baseUrl: sim.url,
    apiKey: sim.apiKey,
    maxAttempts: 5,
    backoffBaseMs: 100,
    backoffMaxMs: 250,
    retryAfterMaxMs: 30_000,
    random: () => 1,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...extra,
  });
  return { c, waits };
}

describe('iXpole HTTP client', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT')).toBe(0);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(null)).toBeNull();
  });

  it('backs off exponentially with jitter, capped', () => {
    const { c } = client({ random: () => 0 });
    expect([1, 2, 3, 4].map((n) => c.backoffMs(n))).toEqual([50, 100, 125, 125]);
    const { c: high } = client({ random: () => 1 });
    expect([1, 2, 3, 4].map((n) => high.backoffMs(n))).toEqual([100, 200, 250, 250]);
  });

  it('retries 429, 502, 503 and 504, honouring Retry-After (seconds, date, clamped)', async () => {
    const { c, waits } = client({ retryAfterMaxMs: 5000 });
    sim.control.fail({ status: 429, times: 1, retryAfter: 2 });
    sim.control.fail({ status: 503, times: 1, retryAfter: new Date(Date.now() + 60_000) });
    sim.control.fail({ status: 502, times: 1 });
    sim.control.fail({ status: 503, times: 1, retryAfter: 0 });
    const res = await c.request('GET', 'api/instalments?page=1');
    expect(res.status).toBe(200);
    expect(waits[0]).toBe(2000);
    expect(waits[1]).toBe(5000); // a minute asked for, clamped
    expect(waits[2]).toBe(250); // no Retry-After: backoff (third attempt: 100·2², capped at 250)
    expect(waits[3]).toBe(250); // "Retry-After: 0" is not taken as leave to hammer
    expect(sim.control.stats.faults).toBeGreaterThanOrEqual(3);
  });

  it('gives up after the last attempt with a retryable error that names the status, not the key', async () => {
    const { c, waits } = client();
    sim.control.fail({ status: 504, times: 10 });
    const err = await c.request('GET', 'api/instalments?page=1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({ system: 'iXpole', status: 504, retryable: true });
    expect((err as Error).message).toContain('gave up after 5 attempts');
    expect((err as Error).message).not.toContain(sim.apiKey);
    expect(waits).toHaveLength(4);
  });

  it('does not retry a refusal, and says so without the key', async () => {
    const { c, waits } = client({ apiKey: 'wrong-key-123' });
    const err = await c.expectOk('GET', 'api/instalments?page=1').catch((e: unknown) => e);
    expect(err).toMatchObject({ system: 'iXpole', status: 401, retryable: false });
    expect((err as Error).message).toContain('check the API key');
    expect((err as Error).message).not.toContain('wrong-key-123');
    expect(waits).toHaveLength(0);
  });

  it('times out a slow answer and tries again', async () => {
    const { c, waits } = client({ timeoutMs: 300 });
    sim.control.delay({ ms: 1500, times: 1 });
    const started = Date.now();
    const res = await c.request('GET', 'api/instalments?page=1');
    expect(res.status).toBe(200);
    expect(waits.length).toBeGreaterThanOrEqual(1);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('retries a dropped connection, and fails on one that never comes back', async () => {
    const { c } = client();
    sim.control.dropResponses({ times: 1 });
    expect((await c.request('GET', 'api/customer/1')).status).toBe(200);
    const down = new IxpoleClient({
      baseUrl: 'http://127.0.0.1:9/',
      apiKey: 'k-secret',
      maxAttempts: 2,
      backoffBaseMs: 1,
      backoffMaxMs: 1,
    });
    const err = await down.request('GET', 'api/customer/1').catch((e: unknown) => e);
    expect(err).toMatchObject({ system: 'iXpole', status: null, retryable: true });
    expect((err as Error).message).not.toContain('k-secret');
  });
});
