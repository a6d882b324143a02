import type { GuardOptions } from '../../sync/http.ts';
import { registerTarget } from '../../sync/registry.ts';
import type { RemoteClientOptions } from '../../sync/remote/contracts.ts';
import { oauthTokenSourceFor } from '../../sync/remote/oauth.ts';
import { type RatePlannerOptions, createRatePlanner } from '../../sync/remote/rate-planner.ts';
import { XERO, XERO_SECRETS, XeroTargetSettings, connectionsUrl, xeroOAuth, xeroScopes } from './settings.ts';
import { xeroInbound } from './inbound.ts';
import { createXeroTarget } from './target.ts';

/*
 * The `xero` target: a Xero organisation, connected through OAuth 2.0 (GET
 * /v1/connections/{pipeline}/oauth/start) or a refresh token in the settings. docs/connectors/xero.md.
 */

/**
 * Knobs of this process for tests and the benchmark, never set from user input: the rate planner's
 * windows scaled down to match a simulator's scaled clock, faster client backoff, another outbound
 * guard.
 */
export interface XeroRuntime {
  planner?: Pick<RatePlannerOptions, 'windowsMs' | 'pollMs' | 'leaseMs'> | undefined;
  client?: Partial<RemoteClientOptions> | undefined;
  guard?: GuardOptions | undefined;
}
let runtime: XeroRuntime = {};

/** Replaces this process's Xero runtime knobs (tests, the benchmark); returns the ones it replaced. */
export function configureXeroRuntime(r: XeroRuntime): XeroRuntime {
  const before = runtime;
  runtime = r;
  return before;
}

registerTarget({
  type: 'xero',
  description: 'Books into a Xero organisation: contacts, items, invoices, payments, refunds (OAuth 2.0)',
  settings: XeroTargetSettings,
  secrets: XERO_SECRETS,
  oauth: xeroOAuth,
  inbound: xeroInbound,
  rateScopes: (input, connected) => {
    const s = XeroTargetSettings.safeParse(input);
    const tenantId = s.success ? (s.data.tenantId ?? connected) : null;
    return s.success && tenantId ? xeroScopes(tenantId, s.data.clientId, s.data.limits).slice(0, 1) : [];
  },
  outbound: (s) => {
    const base = typeof s.baseUrl === 'string' ? s.baseUrl : XERO.baseUrl;
    return [
      { field: 'baseUrl', url: base },
      { field: 'baseUrl', url: connectionsUrl(base) },
      { field: 'tokenUrl', url: typeof s.tokenUrl === 'string' ? s.tokenUrl : XERO.tokenUrl },
    ];
  },
  create: async (deps) => {
    const auth = oauthTokenSourceFor(deps, { system: XERO.system, provider: xeroOAuth, guard: runtime.guard });
    return createXeroTarget(deps.settings, {
      auth,
      planner: createRatePlanner(deps.db, { log: deps.log, ...runtime.planner }),
      log: deps.log,
      guard: runtime.guard,
      client: runtime.client,
    });
  },
});
