/**
 * Each customer's open balance as AccountsIQ holds it at a date (`openBalances`):
 * GetCustomerBalanceInformation, 500 customers a call, against the simulated Integration web
 * service (every envelope checked against wsdl.ts). The as-at date honoured (an invoice and a
 * receipt dated after it not counted), the scope (another customer's documents, also under the same
 * reference, not counted), a reversed invoice out, a receipt on account counted, a refund (a sales
 * debit journal) counted as its documents() read says, the calls for many customers, and AccountsIQ's
 * refusals as ConnectorErrors. The connector alone, no database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDirectAccountsIq } from './helpers/accountsiq.ts';
import {
  bookBalanceDocuments,
  callContext,
  customerRefund,
  noDatabase,
  openBalancesOf,
  targetIdOf,
} from './helpers/direct-target.ts';
import { CODES_PER_CALL } from '../src/connectors/accountsiq/balances.ts';
import type { AccountsIqSimulator } from '../src/connectors/accountsiq/simulator.ts';
import { TYPES, violations } from '../src/connectors/accountsiq/wsdl.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TargetConnector } from '../src/sync/target.ts';

const noDb = noDatabase('AccountsIQ');
const ctx = callContext(noDb);
const CLIENT = { clientId: 'aiq-balances-app', clientSecret: 'aiq-balances-secret-0123456789abcd' };

let sim: AccountsIqSimulator;
let t: TargetConnector;
beforeAll(async () => {
  ({ sim, target: t } = await startDirectAccountsIq({
    db: noDb,
    entityId: 'BAL',
    client: CLIENT,
    seed: 11,
    pipelineName: 'balances',
    customers: ['B-1', 'B-2', 'B-3'],
  }));
});
afterAll(() => sim.close());

const balances = (codes: string[], asAt: string) => openBalancesOf(t, ctx, codes, asAt);

const calls = () => sim.stats.byOperation.GetCustomerBalanceInformation ?? 0;

describe('AccountsIQ open balances (GetCustomerBalanceInformation)', () => {
  // B-1: I1 121.00 on 11-02, paid 50.00 on 11-05; I2 60.50 on 12-03; a receipt of 20.00 on account
  // on 11-20, and 30.00 more on 12-04. B-2: an invoice under B-1's reference I1, 242.00.
  let i3: string;
  let receipt: string;
  beforeAll(async () => {
    ({ i3, p1: receipt } = await bookBalanceDocuments(t, ctx, 'B-1', 'B-2'));
  });

  it('counts what is dated up to the day asked, the day itself included, each customer its own', async () => {
    // 121.00 + 12.10 − 50.00 − 20.00 (on account): I2 and P3 come later.
    expect(await balances(['B-1', 'B-2'], '2026-11-30')).toEqual({ 'B-1': ['EUR', 6310n], 'B-2': ['EUR', 24200n] });
    // The day of I2 counts it; P3, a day later, not yet.
    expect(await balances(['B-1'], '2026-12-03')).toEqual({ 'B-1': ['EUR', 12360n] });
    expect(await balances(['B-1'], '2026-12-31')).toEqual({ 'B-1': ['EUR', 9360n] });
    // Before anything: nothing owed (listed at zero); B-2 not asked for, not answered.
    expect(await balances(['B-1'], '2026-11-01')).toEqual({ 'B-1': ['EUR', 0n] });
    expect(sim.violations).toEqual([]);
  });

  it('counts an invoice a person reversed in AccountsIQ no more', async () => {
    sim.books.reverse(Number(i3));
    expect(await balances(['B-1'], '2026-11-30')).toEqual({ 'B-1': ['EUR', 5100n] });
  });

  it('adds a refund as the sales debit journal AccountsIQ books, as documents() reports it', async () => {
    const [booked] = await t.createRefunds!(ctx, [customerRefund('B-1', 'R1', '2026-11-25', '10.00', receipt)]);
    const journal = targetIdOf(booked);
    const read = (await t.documents!(ctx, [journal], { kind: 'refund' })).get(journal)!;
    expect([read.kind, read.balanceEffect ?? read.gross]).toEqual(['refund', 1000n]);
    expect(await balances(['B-1'], '2026-11-30')).toEqual({ 'B-1': ['EUR', 6100n] });
    expect(await balances(['B-1'], '2026-11-24')).toEqual({ 'B-1': ['EUR', 5100n] });
  });

  it(`asks for ${CODES_PER_CALL} customers a call, leaves out codes that cannot be AccountsIQ's and customers it does not hold`, async () => {
    const before = calls();
    expect(await t.openBalances!(ctx, ['b-1', '', 'X'.repeat(51)], '2026-11-30')).toEqual([]);
    expect(calls() - before).toBe(0);
    const unknown = Array.from({ length: CODES_PER_CALL }, (_, i) => `NONE-${i}`);
    const got = await balances([...unknown, 'B-2', 'b-1', 'B-2'], '2026-11-30');
    expect(got).toEqual({ 'B-2': ['EUR', 24200n] });
    expect(calls() - before).toBe(2);
    expect(sim.violations).toEqual([]);
  });

  it('answers in the WSDL’s AccountBalanceInformation', () => {
    const info = sim.books.balanceInformation('B-1', '2026-11-30T23:59:59')!;
    expect(violations(TYPES.AccountBalanceInformation!, info as never, 'AccountBalanceInformation')).toEqual([]);
  });

  it('throws AccountsIQ’s refusal and a failed call as ConnectorErrors', async () => {
    const refused = await t.openBalances!(ctx, ['B-1'], '1700-01-01').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectorError);
    expect((refused as ConnectorError).message).toMatch(/GetCustomerBalanceInformation refused: DATE_IS_OUT_OF_RANGE/);
    expect((refused as ConnectorError).retryable).toBe(false);
    sim.failNext(503, 1, 'GetCustomerBalanceInformation');
    const failed = await t.openBalances!(ctx, ['B-1'], '2026-11-30').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ConnectorError);
    expect((failed as ConnectorError).retryable).toBe(true);
  });
});
