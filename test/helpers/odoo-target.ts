import { afterAll, beforeAll } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { type OdooSimulator, startOdooSimulator } from '../../src/connectors/odoo/simulator.ts';
import { createOdooTarget } from '../../src/connectors/odoo/target.ts';
import { createRatePlanner } from '../../src/sync/remote/rate-planner.ts';
import { createTestDatabase } from './db.ts';
import { ONE_ATTEMPT, callContext, directTargetDeps } from './direct-target.ts';

/*
 * The Odoo target called directly, without the engine, against the simulated Odoo: a test database
 * for the file, a company in EUR with a 21 % tax, an API key of its own, the database's rate
 * planner with limits no test waits out, a single attempt a call.
 */

/**
 * For a test file: its test database made before all and closed after all, with every simulator
 * started; `ctx()` a call context over that database; `setup(version)` starts a simulated Odoo of
 * that version and gives it, the API key issued and the target of a pipeline named `pipelineName`.
 */
export function useOdooTarget(pipelineName: string) {
  let db: Database;
  const sims: OdooSimulator[] = [];
  const ctx = () => callContext(db);

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const s of sims) await s.close();
    await db.close();
  });

  async function setup(version: '16' | '17' | '18' = '17') {
    const sim = await startOdooSimulator({ version, company: { currency: 'EUR', taxes: { '21% S': '21' } } });
    sims.push(sim);
    const apiKey = sim.issueApiKey();
    const target = createOdooTarget(
      directTargetDeps(
        db,
        {
          type: 'odoo',
          url: sim.url,
          database: sim.database,
          login: sim.login,
          apiKey,
          version,
          limits: { callsPerMinute: 100_000 },
        },
        pipelineName,
      ),
      { planner: createRatePlanner(db), client: ONE_ATTEMPT },
    );
    return { sim, apiKey, target };
  }

  return { ctx, setup };
}
