import pino from 'pino';
import { afterEach } from 'vitest';
import { type MyobSimulator, startMyobSimulator } from '../../src/connectors/myob/simulator.ts';
import { createMyobTarget } from '../../src/connectors/myob/target.ts';
import type { TokenSource } from '../../src/sync/remote/contracts.ts';
import type { TargetDeps } from '../../src/sync/target.ts';

/*
 * The MYOB target called directly, without a pipeline or the engine, against the simulated MYOB:
 * one company file, a token source over the simulator's token endpoint, a planner that never waits,
 * sales on 4-1000 and the bank 1-1110, retries almost without waiting.
 */

/** The lists of a customer's documents the reads ask MYOB for: sales, customer payments, credit refunds. */
export const MYOB_LISTS = ['Sale/Invoice', 'Sale/CustomerPayment', 'Sale/CreditRefund'];

/** The lists' requests `s` was sent. */
export const myobListRequests = (s: MyobSimulator) =>
  s.requests.filter((r) => r.method === 'GET' && MYOB_LISTS.includes(r.route));

/** A token source over the simulator's token endpoint, refreshing once and again after `invalidate`. */
function myobTokenSource(s: MyobSimulator, client: { clientId: string; clientSecret: string }): TokenSource {
  let refresh = s.issueRefreshToken();
  let access: string | null = null;
  return {
    async accessToken() {
      if (access) return access;
      const form = new URLSearchParams({
        ...{ client_id: client.clientId, client_secret: client.clientSecret },
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
    secrets: () => [client.clientSecret],
  };
}

/**
 * For a test file: the simulator closed after each test, and a `setup(maxAttempts?, maxPages?)`
 * that starts it with the company file `file` (limits no test waits out) and gives the simulator
 * `s`, the company file `f`, the target and a context to call it with.
 */
export function useMyobTarget(client: { clientId: string; clientSecret: string }, file: string) {
  const log = pino({ level: 'silent' });
  let sim: MyobSimulator | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });
  return async function setup(maxAttempts?: number, maxPages?: number) {
    sim = await startMyobSimulator({ ...client, companyFiles: { [file]: {} }, limits: { perSecond: 100_000 } });
    const s = sim;
    const auth = myobTokenSource(s, client);
    const settings = {
      ...client,
      companyFileId: file,
      accounts: { sales: '4-1000', bank: '1-1110' },
      baseUrl: s.baseUrl,
      tokenUrl: s.tokenUrl,
    };
    const deps = {
      db: null,
      log,
      settings,
      pipelineId: 'p',
      pipelineName: 'p',
      entityId: 'e',
    } as unknown as TargetDeps;
    const target = createMyobTarget(deps, {
      auth,
      planner: {
        acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
        pause: () => Promise.resolve(),
        observe: () => Promise.resolve(),
      },
      rateWaitMs: 1,
      maxPages,
      client: { backoffBaseMs: 1, backoffMaxMs: 5, ...(maxAttempts ? { maxAttempts } : {}) },
    });
    const ctx = { db: null as never, log, actor: 'test' };
    const f = s.file(file);
    return { s, f, target, ctx };
  };
}
