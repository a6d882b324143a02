import type { Database } from '../../src/db/database.ts';
import { quickbooksTarget } from '../../src/connectors/quickbooks/index.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../../src/connectors/quickbooks/simulator.ts';
import { type QuickBooksTargetOptions, createQuickBooksTarget } from '../../src/connectors/quickbooks/target.ts';
import { OAuthSimulator } from '../../src/sync/remote/oauth-simulator.ts';
import { createRatePlanner } from '../../src/sync/remote/rate-planner.ts';
import type { TargetConnector, TargetInvoice } from '../../src/sync/target.ts';
import type { TokenSource } from '../../src/sync/remote/contracts.ts';
import type { processScope } from './scoped.ts';
import { directInvoice, directTargetDeps } from './direct-target.ts';

/*
 * QuickBooks companies for engine tests: the simulator with an OAuth server mounted and a
 * pipeline's `target:` into one of its companies; scaled, its limits on a clock ten and sixty times
 * faster (a "second" of 100 ms, a "minute" of 1 s, as in test/quickbooks.test.ts), and the
 * quickbooks target registered with a planner on the same clock.
 */

const CLIENT = { clientId: 'ledgerlink-test-app', clientSecret: 'qbo-client-secret-0123456789' };
const TOKEN_PATH = '/oauth2/v1/tokens/bearer';
const LIMITS = { callsPerSecond: 10, callsPerMinute: 100 };
const IRISH = { country: 'IE', currency: 'EUR', vatRates: [['23% S', '23']] as [string, string][] };

/** A Dutch company's books: EUR, VAT codes of 21 % (S), 9 % (R) and 0 % (Z). */
export const DUTCH = {
  country: 'NL',
  currency: 'EUR',
  vatRates: [
    ['21% S', '21'],
    ['9% R', '9'],
    ['0% Z', '0'],
  ] as [string, string][],
};

/** Intuit's OAuth server for the simulator to mount (`startQuickBooksSimulator({ oauth })`): the test app, these companies, tokens of an hour. */
export function quickbooksOAuth(realms: string[]): OAuthSimulator {
  return new OAuthSimulator({
    ...CLIENT,
    callbackTenantParam: 'realmId',
    tenants: realms.map((tenantId) => ({ tenantId })),
    accessTokenSeconds: 3600,
    paths: { token: TOKEN_PATH },
  });
}

/** A pipeline's `target:` into the company `realmId` of `qbo`, with a grant of its own from `oauth`; `extra` adds to it. */
export function quickbooksTargetSettings(
  qbo: QuickBooksSimulator,
  oauth: OAuthSimulator,
  realmId: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    type: 'quickbooks',
    ...CLIENT,
    refreshToken: oauth.issueGrant().refreshToken,
    realmId,
    baseUrl: qbo.url,
    tokenUrl: `${qbo.url}${TOKEN_PATH}`,
    ...extra,
  };
}

export interface ScaledQuickBooks {
  qbo: QuickBooksSimulator;
  /** A pipeline's `target` into a company, with a grant of its own. */
  target(realmId: string): Record<string, unknown>;
}

export async function scaledQuickBooks(
  db: Database,
  scope: ReturnType<typeof processScope>,
  opts: { realms: string[]; seed: number; wrap?: (target: TargetConnector) => TargetConnector },
): Promise<ScaledQuickBooks> {
  const oauth = quickbooksOAuth(opts.realms);
  const qbo = await startQuickBooksSimulator({
    realms: Object.fromEntries(opts.realms.map((r) => [r, IRISH])),
    oauth,
    seed: opts.seed,
    limits: { ...LIMITS, batchPerMinute: 8, secondMs: 100, minuteMs: 1000 },
  });
  scope.target({
    ...quickbooksTarget,
    create: (deps) => {
      const target = createQuickBooksTarget(deps, {
        planner: createRatePlanner(db, {
          windowsMs: { second: 100, minute: 1000 },
          // The margin production gives the windows these stand for (test/quickbooks.test.ts says why).
          marginMs: (w) => (w === 100 ? 100 : 250),
        }),
        client: { backoffBaseMs: 5, backoffMaxMs: 50 },
      });
      return Promise.resolve(opts.wrap ? opts.wrap(target) : target);
    },
  });
  return {
    qbo,
    target: (realmId) => quickbooksTargetSettings(qbo, oauth, realmId, { limits: LIMITS }),
  };
}

/**
 * The QuickBooks target called directly, without a pipeline or the engine, against a simulator:
 * the simulator's own access token, retries without waiting. `settings` adds to the target's
 * settings (a realm, limits); `options` replaces the planner or the client's knobs.
 */
export function directQuickBooksTarget(
  db: Database,
  sim: QuickBooksSimulator,
  realmId: string,
  o: { settings?: Record<string, unknown>; options?: Partial<QuickBooksTargetOptions> } = {},
): TargetConnector {
  const auth: TokenSource = {
    accessToken: () => Promise.resolve(sim.accessToken),
    invalidate: () => {},
    secrets: () => [sim.accessToken],
  };
  return createQuickBooksTarget(
    directTargetDeps(
      db,
      {
        type: 'quickbooks',
        clientId: 'app',
        clientSecret: 'secret-0123456789',
        realmId,
        baseUrl: sim.url,
        ...o.settings,
      },
      'qbo',
    ),
    { auth, planner: createRatePlanner(db), client: { backoffBaseMs: 5, backoffMaxMs: 20 }, ...o.options },
  );
}

/**
 * An invoice `ref` in US dollars, the currency of the simulator's default company, of `lines`
 * (otherwise as directInvoice makes it).
 */
export function usInvoice(
  ref: string,
  customerTargetId: string,
  lines: TargetInvoice['record']['lines'],
): TargetInvoice {
  const invoice = directInvoice(ref, customerTargetId);
  return { ...invoice, record: { ...invoice.record, currency: 'USD', lines } };
}
