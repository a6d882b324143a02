import { afterAll, beforeAll } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import type { TargetConnector } from '../../src/sync/target.ts';
import { createTestDatabase } from './db.ts';
import { callContext, directCustomer, targetIdOf } from './direct-target.ts';

/**
 * For a test file of a target called directly against its simulator: a test database and the
 * simulator `start` starts, the target `target` makes on them, and `customers` upserted through
 * the target, made before all and closed after all. The fields are set once `beforeAll` has run;
 * `customers` holds the customers' target ids in the order given.
 */
export function useDirectTarget<S extends { close(): Promise<void> }>(o: {
  start: () => Promise<S>;
  target: (db: Database, sim: S) => TargetConnector;
  customers: readonly [code: string, name: string][];
}) {
  const z = {
    db: undefined as unknown as Database,
    sim: undefined as unknown as S,
    target: undefined as unknown as TargetConnector,
    customers: [] as string[],
    ctx: () => callContext(z.db),
  };
  beforeAll(async () => {
    z.db = await createTestDatabase();
    z.sim = await o.start();
    z.target = o.target(z.db, z.sim);
    z.customers = (
      await z.target.upsertCustomers(
        z.ctx(),
        o.customers.map(([code, name]) => directCustomer(code, name)),
      )
    ).map(targetIdOf);
  }, 60_000);
  afterAll(async () => {
    await z.sim.close();
    await z.db.close();
  });
  return z;
}
