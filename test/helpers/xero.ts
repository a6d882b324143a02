import type { XeroSimulator } from '../../src/connectors/xero/simulator.ts';
import { type XeroTargetOptions, createXeroTarget } from '../../src/connectors/xero/target.ts';
import type { TokenSource } from '../../src/sync/remote/contracts.ts';
import type { TargetConnector } from '../../src/sync/target.ts';
import { specValidator } from './openapi-requests.ts';

/**
 * Requests to Xero checked against its official contract (../shared/specs), closed to undeclared
 * fields: the simulator's `validate` option. Undefined, `file` warning of it, when ../shared is absent.
 */
export const xeroContract = (file: string) => specValidator(file, 'xero/xero_accounting.yaml', { closed: true });

/** The app the simulated Xero is started with (`startXeroSimulator({ oauth: XERO_APP })`). */
export const XERO_APP = { clientId: 'ledgerlink-test-app', clientSecret: 'xero-client-secret-0123456789' };

/**
 * A pipeline's `target:` block for the simulated Xero: a grant of its own, the simulator's
 * organisation, sales on 200 and the bank 090, and limits no test waits out (Xero's 60 calls a
 * minute would make them take minutes).
 */
export function xeroTarget(sim: XeroSimulator, extra: Record<string, unknown> = {}) {
  return {
    type: 'xero',
    ...XERO_APP,
    refreshToken: sim.oauth!.issueGrant().refreshToken,
    tenantId: sim.tenantId,
    baseUrl: sim.url,
    tokenUrl: sim.tokenUrl,
    accounts: { sales: '200', bank: '090' },
    limits: { callsPerMinute: 100_000, callsPerDay: 100_000 },
    ...extra,
  };
}

/**
 * The Xero target called directly, without a pipeline or the engine, against a simulator started
 * without OAuth (which takes any access token): its organisation, sales on 200 and the bank 090, a
 * fixed token, retries almost without waiting. `settings` adds to the target's settings (the
 * client secret a test looks for); `options` replaces the token source or the client's knobs.
 */
export function directXeroTarget(
  sim: XeroSimulator,
  o: { settings?: Record<string, unknown>; options?: Partial<XeroTargetOptions> } = {},
): TargetConnector {
  const auth: TokenSource = {
    accessToken: () => Promise.resolve('token'),
    invalidate: () => undefined,
    secrets: () => ['token'],
  };
  return createXeroTarget(
    {
      type: 'xero',
      clientId: 'client',
      clientSecret: 'client-secret-0123456789',
      tenantId: sim.tenantId,
      baseUrl: sim.url,
      accounts: { bank: '090', sales: '200' },
      ...o.settings,
    },
    { auth, client: { backoffBaseMs: 1, backoffMaxMs: 5 }, ...o.options },
  );
}
