import type { XeroSimulator } from '../../src/connectors/xero/simulator.ts';

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
