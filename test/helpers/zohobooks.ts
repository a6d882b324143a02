import type { Database } from '../../src/db/database.ts';
import { GRANT_GONE_ERRORS, SYSTEM } from '../../src/connectors/zohobooks/settings.ts';
import { type ZohoBooksSimulator, startZohoBooksSimulator } from '../../src/connectors/zohobooks/simulator.ts';
import { createZohoBooksTarget } from '../../src/connectors/zohobooks/target.ts';
import type { TokenEndpoint } from '../../src/sync/remote/oauth-endpoint.ts';
import { createRatePlanner } from '../../src/sync/remote/rate-planner.ts';
import type { TargetConnector } from '../../src/sync/target.ts';
import { ONE_ATTEMPT, type SimulatedGrant, directTargetDeps, simulatedGrant } from './direct-target.ts';
import { useDirectTarget } from './use-direct-target.ts';

/*
 * The Zoho Books target called directly against the simulated Zoho Books (test/zohobooks-target,
 * test/zohobooks-refunds): the simulator's Zoho Accounts as the token endpoint, and the target on
 * an organisation of the simulator, limits no test reaches.
 */

/** A Zoho API client: its id and secret. */
export interface ZohoApp {
  clientId: string;
  clientSecret: string;
}

/** The simulator's Zoho Accounts as a token endpoint: client credentials in the form, a revoked grant's error words. */
export const zohoAccounts = (sim: ZohoBooksSimulator, app: ZohoApp): TokenEndpoint => ({
  system: SYSTEM,
  tokenUrl: sim.tokenUrl,
  ...app,
  clientAuthentication: 'body',
  grantGoneErrors: GRANT_GONE_ERRORS,
});

/**
 * The target into the organisation `organizationId`, with the tokens of `grant`, one attempt per
 * call; `settings` adds to (or replaces) the target's settings.
 */
export function directZohoBooksTarget(
  db: Database,
  sim: ZohoBooksSimulator,
  o: { app: ZohoApp; organizationId: string; grant: SimulatedGrant; settings?: Record<string, unknown> },
): TargetConnector {
  return createZohoBooksTarget(
    directTargetDeps(
      db,
      {
        type: 'zohobooks',
        ...o.app,
        refreshToken: o.grant.refreshToken,
        organizationId: o.organizationId,
        baseUrl: sim.baseUrl,
        tokenUrl: sim.tokenUrl,
        limits: { callsPerMinute: 10_000, callsPerDay: 100_000 },
        ...o.settings,
      },
      'zoho',
    ),
    { auth: o.grant.auth(), planner: createRatePlanner(db), client: ONE_ATTEMPT },
  );
}

/**
 * For a test file: a test database and a simulated Zoho Books with one EUR organisation `orgId`
 * (limits no test reaches), the target on it, and three customers upserted through the target,
 * made before all and closed after all; the fields are set once `beforeAll` has run. `keyed` is
 * what a person keys into the organisation by hand.
 */
export function useZohoOrganisation(o: {
  orgId: string;
  name: string;
  seed: number;
  app: ZohoApp;
  customers: readonly [code: string, name: string][];
}) {
  const base = useDirectTarget({
    start: () =>
      startZohoBooksSimulator({
        ...o.app,
        organisations: { [o.orgId]: { name: o.name, currency: 'EUR' } },
        seed: o.seed,
        limits: { perMinute: 10_000, perDay: 100_000 },
      }),
    target: (db, sim) =>
      directZohoBooksTarget(db, sim, {
        app: o.app,
        organizationId: o.orgId,
        grant: simulatedGrant(() => zohoAccounts(sim, o.app), sim.issueRefreshToken()),
        settings: {},
      }),
    customers: o.customers,
  });
  const org = () => base.sim.org(o.orgId);
  return Object.assign(base, {
    org,
    keyed: {
      /** An invoice of one line at `rate` (no tax), marked sent unless a draft. */
      invoice: (customerId: string, ref: string, rate: string, date: string, sent = true): string => {
        const d = org().createInvoice({
          customer_id: customerId,
          reference_number: ref,
          date,
          line_items: [{ name: 'Service', rate, quantity: '1' }],
        });
        if (sent) org().markSent(d.id);
        return d.id;
      },
      /** A credit note of one line at `rate` (no tax). */
      creditNote: (customerId: string, ref: string, rate: string, date: string): string =>
        org().createCreditNote({
          customer_id: customerId,
          reference_number: ref,
          date,
          line_items: [{ name: 'Credit', rate, quantity: '1' }],
        }).id,
      /** A payment, applied in full to `invoiceId` or kept on account. */
      paid: (customerId: string, ref: string, amount: string, date: string, invoiceId?: string): string =>
        org().createPayment({
          customer_id: customerId,
          reference_number: ref,
          amount,
          date,
          invoices: invoiceId ? [{ invoice_id: invoiceId, amount_applied: amount }] : [],
        }).payment_id,
    },
  });
}
