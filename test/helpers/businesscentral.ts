import type { BusinessCentralSimulator } from '../../src/connectors/businesscentral/simulator.ts';
import { createBusinessCentralTarget } from '../../src/connectors/businesscentral/target.ts';
import type { Queryable } from '../../src/db/database.ts';
import type { TargetCallContext, TargetConnector, TargetPayment } from '../../src/sync/target.ts';
import { UNLIMITED_PLANNER, callContext, directTargetDeps } from './direct-target.ts';

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

/*
 * The Business Central target called directly against its simulator, without a database
 * (test/businesscentral-open-balances.test.ts, test/businesscentral-payment-ids.test.ts,
 * test/businesscentral-unlinked.test.ts): what each call is made with, the target, its customers
 * and payments.
 */

/** What each call to the Business Central target called directly is made with: no database (it keeps nothing there), no log. */
export const businessCentralCallContext: TargetCallContext = callContext(null as unknown as Queryable);

/**
 * A Business Central target over `sim` (its settings as businessCentralSettings gives them) for
 * the pipeline `bc`, without a database: one attempt a call, short waits, no rate limit.
 */
export function directBusinessCentral(sim: BusinessCentralSimulator): TargetConnector {
  return createBusinessCentralTarget(
    directTargetDeps(businessCentralCallContext.db, businessCentralSettings(sim), 'bc'),
    { planner: UNLIMITED_PLANNER, client: { backoffBaseMs: 1, backoffMaxMs: 5, maxAttempts: 1 } },
  );
}

/** Makes the customer `code` (named `Customer <code>`) in `target`; its id (throws when it is refused). */
export async function businessCentralCustomer(target: TargetConnector, code: string): Promise<string> {
  const [r] = await target.upsertCustomers(businessCentralCallContext, [
    { sourceId: code, code, targetId: null, record: { kind: 'customer', sourceId: code, name: `Customer ${code}` } },
  ]);
  if (!r?.ok) throw new Error(JSON.stringify(r));
  return r.targetId;
}

/**
 * A payment `ref` (its source id and key `<customer>-<ref>`) of `amount` EUR, dated `date`, of the
 * invoice `invoiceTargetId` (or on account), into no bank account named.
 */
export const businessCentralPayment = (
  customerTargetId: string,
  ref: string,
  amount: string,
  date: string,
  invoiceTargetId: string | null = null,
): TargetPayment => ({
  sourceId: `${customerTargetId}-${ref}`,
  idempotencyKey: `${customerTargetId}-${ref}`,
  customerTargetId,
  invoiceTargetId,
  bankAccountCode: '',
  record: {
    kind: 'payment',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    date,
    amount,
    currency: 'EUR',
    description: '',
  },
});
