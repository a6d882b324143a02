import type { BusinessCentralSimulator } from '../../src/connectors/businesscentral/simulator.ts';

/**
 * A pipeline's `target:` block for the simulated Business Central: the app the simulator was
 * started with, its company, sales on 40100, VAT codes for 21 %, 9 % and 0 %, and limits no test
 * waits out; `extra` adds to (or replaces) them.
 */
export function businessCentralSettings(sim: BusinessCentralSimulator, extra: Record<string, unknown> = {}) {
  return {
    type: 'businesscentral',
    ...sim.client,
    tenantId: sim.tenantId,
    environment: sim.environment,
    companyId: sim.companyId,
    baseUrl: sim.baseUrl,
    tokenUrl: sim.tokenUrl,
    accounts: { sales: '40100' },
    taxRates: { '0.21': 'VAT21', '0.09': 'VAT9', '0': 'VAT0' },
    limits: { callsPerMinute: 100_000, concurrent: 20 },
    ...extra,
  };
}
