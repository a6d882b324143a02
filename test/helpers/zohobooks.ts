import type { Database } from '../../src/db/database.ts';
import { GRANT_GONE_ERRORS, SYSTEM } from '../../src/connectors/zohobooks/settings.ts';
import type { ZohoBooksSimulator } from '../../src/connectors/zohobooks/simulator.ts';
import { createZohoBooksTarget } from '../../src/connectors/zohobooks/target.ts';
import type { TokenEndpoint } from '../../src/sync/remote/oauth-endpoint.ts';
import { createRatePlanner } from '../../src/sync/remote/rate-planner.ts';
import type { TargetConnector } from '../../src/sync/target.ts';
import { ONE_ATTEMPT, type SimulatedGrant, directTargetDeps } from './direct-target.ts';

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
