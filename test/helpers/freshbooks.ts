import type { Database } from '../../src/db/database.ts';
import { SYSTEM } from '../../src/connectors/freshbooks/settings.ts';
import { type FreshBooksSimulator, startFreshBooksSimulator } from '../../src/connectors/freshbooks/simulator.ts';
import { createFreshBooksTarget } from '../../src/connectors/freshbooks/target.ts';
import type { TokenEndpoint } from '../../src/sync/remote/oauth-endpoint.ts';
import { createRatePlanner } from '../../src/sync/remote/rate-planner.ts';
import type { TargetConnector } from '../../src/sync/target.ts';
import { ONE_ATTEMPT, type SimulatedGrant, directTargetDeps, simulatedGrant } from './direct-target.ts';
import { useDirectTarget } from './use-direct-target.ts';

/*
 * The FreshBooks target called directly against the simulated FreshBooks: the simulator's token
 * endpoint (client credentials in the form), and the target on one of its accounts, with limits
 * no test reaches and one attempt a call.
 */

/** A FreshBooks API client: its id and secret. */
export interface FreshBooksApp {
  clientId: string;
  clientSecret: string;
}

/** The simulator's token endpoint: client credentials in the form. */
export const freshBooksTokens = (sim: FreshBooksSimulator, app: FreshBooksApp): TokenEndpoint => ({
  system: SYSTEM,
  tokenUrl: sim.tokenUrl,
  ...app,
  clientAuthentication: 'body',
});

/**
 * The target into the account `accountId`, with the tokens of `grant`, one attempt per call;
 * `settings` adds to (or replaces) the target's settings.
 */
export function directFreshBooksTarget(
  db: Database,
  sim: FreshBooksSimulator,
  o: { app: FreshBooksApp; accountId: string; grant: SimulatedGrant; settings?: Record<string, unknown> },
): TargetConnector {
  return createFreshBooksTarget(
    directTargetDeps(
      db,
      {
        type: 'freshbooks',
        ...o.app,
        refreshToken: o.grant.refreshToken,
        tenantId: o.accountId,
        baseUrl: sim.baseUrl,
        tokenUrl: sim.tokenUrl,
        limits: { callsPerMinute: 100_000 },
        ...o.settings,
      },
      'freshbooks',
    ),
    { auth: o.grant.auth(), planner: createRatePlanner(db), client: ONE_ATTEMPT },
  );
}

/**
 * For a test file: a test database and a simulated FreshBooks with one account `accountId`, the
 * target on it, and the clients upserted through the target, made before all and closed after all;
 * the fields are set once `beforeAll` has run. `keyed` is what a person keys into the account by
 * hand, in EUR.
 */
export function useFreshBooksAccount(o: {
  accountId: string;
  seed: number;
  app: FreshBooksApp;
  customers: readonly [code: string, name: string][];
}) {
  const eur = (amount: string) => ({ amount, code: 'EUR' });
  const base = useDirectTarget({
    start: () => startFreshBooksSimulator({ ...o.app, accounts: { [o.accountId]: {} }, seed: o.seed }),
    target: (db, sim) =>
      directFreshBooksTarget(db, sim, {
        app: o.app,
        accountId: o.accountId,
        grant: simulatedGrant(() => freshBooksTokens(sim, o.app), sim.issueRefreshToken()),
      }),
    customers: o.customers,
  });
  const acc = () => base.sim.account(o.accountId);
  return Object.assign(base, {
    acc,
    keyed: {
      /** An invoice of one line at `cost` (no tax) under `ref` (its PO number), marked sent unless a draft. */
      invoice: (client: string, ref: string, cost: string, date: string, sent = true): string => {
        const inv = acc().createInvoice({
          customerid: client,
          currency_code: 'EUR',
          create_date: date,
          po_number: ref,
          lines: [{ name: 'Service', qty: '1', unit_cost: eur(cost) }],
        });
        if (sent) acc().updateInvoice(inv.id, { action_mark_as_sent: true });
        return inv.id;
      },
      /** A payment of `amount` on an invoice, by cheque unless `type` says otherwise. */
      paid: (invoiceId: string, amount: string, date: string, type = 'Check'): string =>
        acc().createPayment({ invoiceid: invoiceId, amount: eur(amount), date, type }).id,
      /** A credit note of one line at `cost` (no tax). */
      credit: (client: string, cost: string, date: string): string =>
        acc().createCreditNote({
          clientid: client,
          currency_code: 'EUR',
          create_date: date,
          lines: [{ name: 'Credit', qty: '1', unit_cost: eur(cost) }],
        }).creditid,
    },
  });
}
