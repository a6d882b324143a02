/**
 * The reports at dashboard scale through the real API routes (issue #14): the app listening on a
 * loopback port, each probe one `GET` with the entity's bearer token, timed from request to the
 * last byte of the answer, which must be 200. The statement's aim is a p95 under 100 ms.
 */
import type { Database } from '../src/db/database.ts';
import { issueKeys } from '../src/ledger/entities.ts';
import { login } from '../src/ledger/sessions.ts';
import type { Probe } from './dashboard.ts';
import { LARGE_CUSTOMER, TYPICAL_CUSTOMER } from './dashboard-seed.ts';
import { startApp } from './harness.ts';

export const STATEMENT_TARGET_P95_MS = 100;
/** Probes whose p95 is held to STATEMENT_TARGET_P95_MS. */
export const STATEMENT_PROBE_PREFIX = 'API statement';

/** Report probes over HTTP on `db`'s entity; `close` stops the server. */
export async function reportProbes(
  db: Database,
  entityId: string,
): Promise<{ probes: Probe[]; close(): Promise<void> }> {
  const app = await startApp(db);
  try {
    const base = await app.listen();
    const keys = await issueKeys(db, entityId, 'bench:reports');
    const { token } = await login(db, keys, 3600);
    const headers = { authorization: `Bearer ${token}` };
    const get = (path: string) => async () => {
      const res = await fetch(`${base}${path}`, { headers });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${text.slice(0, 300)}`);
      return text.length;
    };
    const probe = (name: string, path: string): Probe => ({ name, run: get(path) });
    return {
      probes: [
        probe(
          `${STATEMENT_PROBE_PREFIX}: typical (${TYPICAL_CUSTOMER})`,
          `/v1/customers/${TYPICAL_CUSTOMER}/statement`,
        ),
        probe(`${STATEMENT_PROBE_PREFIX}: large (${LARGE_CUSTOMER})`, `/v1/customers/${LARGE_CUSTOMER}/statement`),
        probe('API aged debtors: whole ledger', '/v1/customers/statements'),
        // The same figures without the documents: each customer's balance and buckets, from the cache's index.
        probe('API aged debtors summary: whole ledger', '/v1/reports/aged-debtors'),
        probe(
          `API aged debtors: one customer (${TYPICAL_CUSTOMER})`,
          `/v1/customers/statements?codes=${TYPICAL_CUSTOMER}`,
        ),
        probe(`API balance: typical (${TYPICAL_CUSTOMER})`, `/v1/customers/${TYPICAL_CUSTOMER}/balance`),
        probe(`API balance: large (${LARGE_CUSTOMER})`, `/v1/customers/${LARGE_CUSTOMER}/balance`),
        probe('API trial balance', '/v1/reports/trial-balance'),
        probe('API baseline: GET /health', '/health'),
      ],
      close: () => app.close(),
    };
  } catch (err) {
    await app.close();
    throw err;
  }
}
