/**
 * Each customer's open balance as Intacct holds it at a date (`openBalances`): the AR records summed,
 * read with readByQuery by CUSTOMERID IN (…) and date up to the day, pages followed with readMore,
 * against the simulated XML gateway (every request checked against the contract). The as-at date
 * honoured (an invoice and a payment dated after it not counted, the day itself counted), the scope
 * (another customer's invoice under the same reference not counted), a credit adjustment taken
 * away, a reversed invoice out, a payment on account counted, the requests for a thousand and one
 * customers and for more than a page of rows, and a gateway failure as a ConnectorError. Intacct
 * takes no refunds through this target (capabilities.refunds is false): none to count. The
 * connector alone, no database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bookBalanceDocuments,
  callContext,
  customerCreditNote,
  noDatabase,
  openBalancesOf,
} from './helpers/direct-target.ts';
import { startDirectIntacct } from './helpers/intacct.ts';
import type { IntacctSimulator } from '../src/connectors/intacct/simulator.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TargetConnector } from '../src/sync/target.ts';

const noDb = noDatabase('Intacct');
const ctx = callContext(noDb);
const SENDER = { senderId: 'bal_sender', senderPassword: 'bal-sender-secret-0123' };
const USER = { companyId: 'BAL', userId: 'xml_user', password: 'bal-user-secret-4567' };

let sim: IntacctSimulator;
let t: TargetConnector;
beforeAll(async () => {
  ({ sim, target: t } = await startDirectIntacct({
    db: noDb,
    sender: SENDER,
    user: USER,
    seed: 13,
    pipelineName: 'balances',
    customers: ['C-1', 'C-2', 'C-3'],
  }));
});
afterAll(() => sim.close());

const balances = (codes: string[], asAt: string) => openBalancesOf(t, ctx, codes, asAt);

const reads = () => ({
  readByQuery: sim.requests.filter((r) => r.function === 'readByQuery').length,
  readMore: sim.requests.filter((r) => r.function === 'readMore').length,
});

describe('Intacct open balances (AR records summed by readByQuery)', () => {
  // C-1: I1 121.00 on 11-02 paid 50.00 on 11-05; I3 12.10 on 11-10; a credit adjustment of 24.20 on
  // 11-15; 20.00 on account on 11-20; I2 60.50 on 12-03; 30.00 more on account on 12-04.
  // C-2: an invoice under C-1's reference I1, 242.00.
  let i3: string;
  beforeAll(async () => {
    ({ i3 } = await bookBalanceDocuments(t, ctx, 'C-1', 'C-2'));
    const [note] = await t.createCreditNotes!(ctx, [customerCreditNote('C-1', 'N1', '2026-11-15', '20.00', '4.20')]);
    expect(note?.ok).toBe(true);
  });

  it('counts what is dated up to the day asked, the day itself included, each customer its own', async () => {
    // 121.00 + 12.10 − 24.20 − 50.00 − 20.00 (on account): I2 and P3 come later.
    expect(await balances(['C-1', 'C-2'], '2026-11-30')).toEqual({
      'C-1': ['EUR', 3890n],
      'C-2': ['EUR', 24200n],
    });
    // The day of I2 counts it; P3, a day later, not yet.
    expect(await balances(['C-1'], '2026-12-03')).toEqual({ 'C-1': ['EUR', 9940n] });
    expect(await balances(['C-1'], '2026-12-31')).toEqual({ 'C-1': ['EUR', 6940n] });
    // Before anything: nothing (a customer with nothing is left out); C-2 not asked for, not answered.
    expect(await balances(['C-1'], '2026-11-01')).toEqual({});
    expect(sim.violations).toEqual([]);
  });

  it('counts an invoice a person reversed in Intacct no more, nor its reversal, whatever their dates', async () => {
    // Reversed in December: out of the books at the end of November too.
    sim.company('BAL').reverse(i3, '2026-12-10');
    expect(await balances(['C-1'], '2026-11-30')).toEqual({ 'C-1': ['EUR', 2680n] });
    expect(await balances(['C-1'], '2026-12-31')).toEqual({ 'C-1': ['EUR', 5730n] });
  });

  it('asks for a thousand customers a query, three queries, and leaves out ids that cannot be one', async () => {
    const before = reads();
    expect(await t.openBalances!(ctx, ['', ' C-1'], '2026-11-30')).toEqual([]);
    expect(reads()).toEqual(before);
    const unknown = Array.from({ length: 1000 }, (_, i) => `NONE-${i}`);
    expect(await balances([...unknown, 'C-2', 'C-2'], '2026-11-30')).toEqual({ 'C-2': ['EUR', 24200n] });
    expect(reads()).toEqual({ readByQuery: before.readByQuery + 6, readMore: before.readMore });
    expect(sim.violations).toEqual([]);
  });

  it('reads every page of a query with readMore', async () => {
    const company = sim.company('BAL');
    for (let n = 0; n < 1001; n++)
      company.createInvoice({
        customerid: 'C-3',
        datecreated: { year: '2026', month: '11', day: '01' },
        ponumber: `BULK-${n}`,
        invoiceitems: { lineitem: [{ glaccountno: '4000', amount: '1.00' }] },
      });
    const before = reads();
    expect(await balances(['C-3'], '2026-11-30')).toEqual({ 'C-3': ['EUR', 100100n] });
    expect(reads()).toEqual({ readByQuery: before.readByQuery + 3, readMore: before.readMore + 1 });
    expect(sim.violations).toEqual([]);
  });

  it('throws a failed request as a ConnectorError', async () => {
    sim.failNext(500);
    const failed = await t.openBalances!(ctx, ['C-1'], '2026-11-30').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ConnectorError);
    expect((failed as ConnectorError).system).toBe('Sage Intacct');
  });
});
