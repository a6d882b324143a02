import { type AccountsIqSimulator, startAccountsIqSimulator } from '../../src/connectors/accountsiq/simulator.ts';
import { createAccountsIqTarget } from '../../src/connectors/accountsiq/target.ts';
import type { Queryable } from '../../src/db/database.ts';
import type { TargetConnector } from '../../src/sync/target.ts';
import { ONE_ATTEMPT, UNLIMITED_PLANNER, directTargetDeps, makeCustomers, callContext } from './direct-target.ts';

/*
 * The AccountsIQ target called directly against its simulator, without a database
 * (test/accountsiq-open-balances.test.ts, test/accountsiq-unlinked.test.ts).
 */

/**
 * Starts the simulated AccountsIQ Integration web service for the entity `entityId` with the app
 * `client`, the GL account 4000 and `seed` (`transactionsPageSize` when given), and an AccountsIQ
 * target over it for the pipeline `pipelineName` (sales on 4000, one attempt a call, no rate
 * limit), that must not use `db`; makes the customers `customers` in it.
 */
export async function startDirectAccountsIq(o: {
  db: Queryable;
  entityId: string;
  client: { clientId: string; clientSecret: string };
  seed: number;
  pipelineName: string;
  customers: string[];
  transactionsPageSize?: number;
}): Promise<{ sim: AccountsIqSimulator; target: TargetConnector }> {
  const sim = await startAccountsIqSimulator({
    entityId: o.entityId,
    ...o.client,
    glAccounts: ['4000'],
    seed: o.seed,
    ...(o.transactionsPageSize === undefined ? {} : { transactionsPageSize: o.transactionsPageSize }),
  });
  const target = createAccountsIqTarget(
    directTargetDeps(o.db, { type: 'accountsiq', url: sim.url, entityId: o.entityId, ...o.client }, o.pipelineName, {
      defaultGlAccountCode: '4000',
    }),
    { planner: UNLIMITED_PLANNER, client: ONE_ATTEMPT },
  );
  await makeCustomers(target, callContext(o.db), o.customers);
  return { sim, target };
}
