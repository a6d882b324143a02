import pino from 'pino';
import { afterEach } from 'vitest';
import {
  type NetSuiteSimulator,
  startNetSuiteSimulator,
  testKeyPair,
} from '../../src/connectors/netsuite/simulator.ts';
import { createNetSuiteTarget } from '../../src/connectors/netsuite/target.ts';
import type { RatePlanner } from '../../src/sync/remote/contracts.ts';
import type { TargetDeps } from '../../src/sync/target.ts';

/*
 * The NetSuite target called directly, without a pipeline or the engine, against the simulated
 * account 1234567 in EUR: a client of its own (a key pair made for the file), the account's one
 * item as the default, its 21 % tax code, a planner that never waits, a single attempt a request.
 */

/** A planner that never waits nor records anything. */
const netsuitePlanner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};

/**
 * For a test file: the simulator closed after each test, and a `setup()` that starts it with the
 * client `client` and gives the simulator `s`, the target and a context to call it with.
 */
export function useNetSuiteTarget(client: { clientId: string; certificateId: string }) {
  const keys = testKeyPair();
  const log = pino({ level: 'silent' });
  let sim: NetSuiteSimulator | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });
  return async function setup() {
    const s = await startNetSuiteSimulator({
      accountId: '1234567',
      clients: [{ ...client, publicKey: keys.publicKey }],
      items: ['Sales'],
      currency: 'EUR',
    });
    sim = s;
    const deps = {
      db: {} as never,
      log,
      mapping: {} as never,
      settings: {
        type: 'netsuite',
        accountId: '1234567',
        ...client,
        privateKey: keys.privateKey,
        currency: 'EUR',
        defaultItemId: [...s.account.items.values()][0]!.id,
        taxRates: { '0.21': s.account.taxCodes.find((t) => t.rate === '21')!.id },
        baseUrl: s.baseUrl,
        tokenUrl: s.tokenUrl,
      },
      entityId: 'e',
      pipelineId: 'p',
      pipelineName: 'unit',
      box: {} as never,
    } satisfies TargetDeps;
    const target = createNetSuiteTarget(deps, {
      planner: netsuitePlanner,
      client: { backoffBaseMs: 1, backoffMaxMs: 5, maxAttempts: 1 },
    });
    const ctx = { db: {} as never, log, actor: 'pipeline:unit' };
    return { s, target, ctx };
  };
}
