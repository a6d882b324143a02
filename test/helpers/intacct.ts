import { type IntacctSimulator, startIntacctSimulator } from '../../src/connectors/intacct/simulator.ts';
import { createIntacctTarget } from '../../src/connectors/intacct/target.ts';
import type { Queryable } from '../../src/db/database.ts';
import type { TargetConnector } from '../../src/sync/target.ts';
import { ONE_ATTEMPT, UNLIMITED_PLANNER, callContext, directTargetDeps, makeCustomers } from './direct-target.ts';

/*
 * The Sage Intacct target called directly against its simulated XML gateway, without a database
 * (test/intacct-open-balances.test.ts, test/intacct-unlinked.test.ts).
 */

/**
 * Starts the simulated XML gateway for the sender `sender` and the user `user`, whose company
 * keeps EUR, the GL accounts 4000 and 2200 and the bank account BANK1, with `seed`, and an Intacct
 * target over it for the pipeline `pipelineName` (sales on 4000, 21 % VAT on 2200, payments into
 * BANK1, one attempt a call, no rate limit), that must not use `db`; makes the customers
 * `customers` in it.
 */
export async function startDirectIntacct(o: {
  db: Queryable;
  sender: { senderId: string; senderPassword: string };
  user: { companyId: string; userId: string; password: string };
  seed: number;
  pipelineName: string;
  customers: string[];
}): Promise<{ sim: IntacctSimulator; target: TargetConnector }> {
  const sim = await startIntacctSimulator({
    ...o.sender,
    users: [o.user],
    companies: { [o.user.companyId]: { currency: 'EUR', glAccounts: ['4000', '2200'], bankAccounts: ['BANK1'] } },
    seed: o.seed,
  });
  const target = createIntacctTarget(
    directTargetDeps(
      o.db,
      {
        type: 'intacct',
        endpoint: sim.endpoint,
        ...o.sender,
        companyId: o.user.companyId,
        userId: o.user.userId,
        userPassword: o.user.password,
        currency: 'EUR',
        salesGlAccount: '4000',
        taxGlAccounts: { '0.21': '2200' },
        bankAccountId: 'BANK1',
      },
      o.pipelineName,
    ),
    { planner: UNLIMITED_PLANNER, client: ONE_ATTEMPT },
  );
  await makeCustomers(target, callContext(o.db), o.customers);
  return { sim, target };
}
