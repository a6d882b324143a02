import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { type AcumaticaSimulator, startAcumaticaSimulator } from '../../src/connectors/acumatica/simulator.ts';
import { createAcumaticaTarget } from '../../src/connectors/acumatica/target.ts';
import type { TargetCallContext, TargetConnector } from '../../src/sync/target.ts';
import { createTestDatabase } from './db.ts';
import { callContext, directTargetDeps } from './direct-target.ts';
import type { specValidator } from './openapi-requests.ts';

/*
 * The Acumatica target called directly, without the engine, against one simulated instance for a
 * test file: the tenant Company in EUR, STANDARD at 21 %, the cash account 10200, two API users at
 * most, every request checked by `validate`; limits no test waits out, a single attempt a request,
 * actions polled every 10 ms.
 */

/** What a test file calls the target with: its test database, the simulator, a call context, the target. */
export interface AcumaticaTarget {
  db: Database;
  sim: AcumaticaSimulator;
  ctx: TargetCallContext;
  target: TargetConnector;
}

/**
 * For a test file: before all, its test database and the simulated instance (the user `api` with
 * `password`) started and the target of a pipeline named `pipelineName` made, handed to `started`;
 * after all, the simulator found to have seen no request outside the contract and closed with the
 * database; before each test, the instance's sessions expired.
 */
export function useAcumaticaTarget(
  o: { validate: ReturnType<typeof specValidator>; password: string; pipelineName: string },
  started: (t: AcumaticaTarget) => void,
) {
  let db: Database;
  let sim: AcumaticaSimulator;

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = await startAcumaticaSimulator({
      users: [{ name: 'api', password: o.password }],
      tenant: 'Company',
      currency: 'EUR',
      taxCategories: { STANDARD: '0.21' },
      cashAccounts: ['10200'],
      maxApiUsers: 2,
      validate: o.validate,
    });
    const ctx = callContext(db);
    const target = createAcumaticaTarget(
      directTargetDeps(
        db,
        {
          type: 'acumatica',
          instanceUrl: sim.url,
          username: 'api',
          password: o.password,
          tenant: 'Company',
          currency: 'EUR',
          taxCategories: { '0.21': 'STANDARD' },
          cashAccount: '10200',
          actionPollMs: 10,
          limits: { callsPerMinute: 100_000, concurrent: 4 },
        },
        o.pipelineName,
      ),
      { client: { backoffBaseMs: 1, backoffMaxMs: 5, maxAttempts: 1 }, sleep: () => Promise.resolve() },
    );
    started({ db, sim, ctx, target });
  }, 60_000);
  afterAll(async () => {
    expect(sim.violations).toEqual([]);
    await sim.close();
    await db.close();
  });
  beforeEach(() => {
    sim.expireSessions();
  });
}
