import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectorError } from '../../sync/connector.ts';
import type { RatePlanner, TokenSource } from '../../sync/remote/contracts.ts';
import type { TargetDeps } from '../../sync/target.ts';
import { type MyobSimulator, startMyobSimulator } from './simulator.ts';
import { createMyobTarget } from './target.ts';

/*
 * The connector against the simulated MYOB without the engine: the connection check, the key's
 * daily limit (retryable, the budget paused an hour), a per-second refusal sent again after a
 * pause, and company file credentials MYOB refuses (401: read as a revoked connection, no secret told).
 */

const CLIENT = { clientId: 'unit-api-key', clientSecret: 'unit-secret-0123456789' };
const FILE = '22222222-3333-4444-8555-666666666666';
const log = pino({ level: 'silent' });
let sim: MyobSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** A token source over the simulator's token endpoint, and a planner that records its pauses. */
async function setup(limits: { perSecond?: number; perDay?: number }, password = 'pw') {
  sim = await startMyobSimulator({
    ...CLIENT,
    companyFiles: { [FILE]: { credentials: { user: 'Administrator', password: 'pw' } } },
    limits,
  });
  const s = sim;
  let refresh = s.issueRefreshToken();
  let access: string | null = null;
  const auth: TokenSource = {
    async accessToken() {
      if (access) return access;
      const form = new URLSearchParams({
        ...{ client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret },
        grant_type: 'refresh_token',
        refresh_token: refresh,
      });
      const body = (await (await fetch(s.tokenUrl, { method: 'POST', body: form })).json()) as Record<string, string>;
      refresh = body.refresh_token!;
      access = body.access_token!;
      return access;
    },
    invalidate: () => {
      access = null;
    },
    secrets: () => [CLIENT.clientSecret],
  };
  const pauses: { keys: string[]; ms: number }[] = [];
  const planner: RatePlanner = {
    acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
    pause: (keys, ms) => {
      pauses.push({ keys, ms });
      return Promise.resolve();
    },
    observe: () => Promise.resolve(),
  };
  const settings = {
    ...CLIENT,
    companyFileId: FILE,
    companyFileUser: 'Administrator',
    companyFilePassword: password,
    accounts: { sales: '4-1000', bank: '1-1110' },
    baseUrl: s.baseUrl,
    tokenUrl: s.tokenUrl,
  };
  const deps = { db: null, log, settings, pipelineId: 'p', pipelineName: 'p', entityId: 'e' } as unknown as TargetDeps;
  const target = createMyobTarget(deps, {
    auth,
    planner,
    rateWaitMs: 5,
    client: { backoffBaseMs: 1, backoffMaxMs: 5 },
  });
  const ctx = { db: null as never, log, actor: 'test' };
  return { s, target, ctx, pauses };
}

describe('the MYOB connector', () => {
  it('checks the connection: the company file, its currency and tax codes', async () => {
    const { target, ctx } = await setup({});
    expect(await target.checkConnection!(ctx)).toBe(`company file ${FILE} (AUD, 2 tax codes)`);
  });

  it('a refusal for the second is sent again after pausing the key; the day spent is retryable after an hour', async () => {
    const { s, target, ctx, pauses } = await setup({ perDay: 3 });
    s.failNext(403, 403);
    expect(await target.checkConnection!(ctx)).toMatch(/^company file/);
    expect(pauses.slice(0, 2)).toEqual([
      { keys: ['myob:key:unit-api-key'], ms: 5 },
      { keys: ['myob:key:unit-api-key'], ms: 10 },
    ]);
    // Three calls made (tax codes, two accounts): the fourth is over the day.
    const err = await target.checkConnection!(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({
      retryable: true,
      retryAfterMs: 3_600_000,
      message: expect.stringMatching(/daily rate limit/),
    });
    expect(pauses.at(-1)).toEqual({ keys: ['myob:key:unit-api-key'], ms: 3_600_000 });
  });

  it('company file credentials MYOB refuses end as a revoked connection, telling no secret', async () => {
    const { target, ctx } = await setup({}, 'wrong-password');
    const err = (await target.checkConnection!(ctx).catch((e: unknown) => e)) as ConnectorError;
    expect(err).toMatchObject({ code: 'TARGET_AUTH_REVOKED', retryable: false });
    expect(err.message).not.toContain('wrong-password');
    expect(err.message).not.toContain(Buffer.from('Administrator:wrong-password').toString('base64'));
  });
});
