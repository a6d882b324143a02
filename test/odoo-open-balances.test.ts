import { describe, expect, it } from 'vitest';
import { thrown } from './helpers/direct-target.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import { useOdooTarget } from './helpers/odoo-target.ts';

/*
 * The Odoo target's open balances (balances.ts) against the simulated Odoo, its documents keyed
 * into the database as a person would: the receivable items each customer's posted entries hold up
 * to the day asked (that day included), its own only (also where another customer's invoice has
 * the same reference), cancelled, draft and deleted entries counting nothing, money on account
 * counted, a refund (an outbound payment) counted as its documents() read tells it, one read_group
 * per 1,000 customers, and Odoo's refusal thrown as a ConnectorError, on 16, 17 and 18.
 */

const { ctx, setup: start } = useOdooTarget('odoo-open-balances');

async function setup(version: '16' | '17' | '18' = '17') {
  const { sim, apiKey, target, book } = await start(version);
  const d = sim.db;
  const balances = async (ids: string[], asAt: string) =>
    (await target.openBalances!(ctx(), ids, asAt)).map((b) => [b.customerTargetId, b.currency, b.balance]);
  const groupReads = () =>
    sim.calls.filter((c) => c.model === 'account.move.line' && c.modelMethod === 'read_group').length;
  return { sim, d, apiKey, target, book, balances, groupReads };
}

describe('Odoo open balances', () => {
  for (const version of ['16', '17', '18'] as const)
    it(`counts what is dated up to the day asked, that day included, and nothing after (Odoo ${version})`, async () => {
      const { book, balances } = await setup(version);
      const c = book.customer('C');
      book.move('out_invoice', 'INV-1', c, '100.00', '2026-11-10');
      book.move('out_invoice', 'INV-2', c, '50.00', '2026-12-03');
      book.payment('inbound', 'PAY-1', c, '50.00', '2026-11-20');
      book.payment('inbound', 'PAY-2', c, '21.00', '2026-12-04');
      expect(await balances([c], '2026-11-09')).toEqual([]);
      expect(await balances([c], '2026-11-10')).toEqual([[c, 'EUR', 12100n]]);
      expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 7100n]]);
      expect(await balances([c], '2026-12-03')).toEqual([[c, 'EUR', 13150n]]);
      expect(await balances([c], '2026-12-31')).toEqual([[c, 'EUR', 11050n]]);
    });

  it('answers for the customers asked only, each its own, also under a reference another customer holds', async () => {
    const { book, balances } = await setup();
    const c = book.customer('C');
    const d = book.customer('D');
    const idle = book.customer('E');
    book.move('out_invoice', 'INV-1', c, '100.00', '2026-11-10');
    book.move('out_invoice', 'INV-1', d, '50.00', '2026-11-10');
    book.move('out_refund', 'CN-1', d, '10.00', '2026-11-11');
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 12100n]]);
    expect(await balances([d], '2026-11-30')).toEqual([[d, 'EUR', 4840n]]);
    // Ids that cannot be Odoo's are left out; a customer with nothing has no row.
    const all = await balances([d, 'CUST-9', c, '', idle, c, 'payment:3'], '2026-11-30');
    expect(all.sort((x, y) => String(x[0]).localeCompare(String(y[0])))).toEqual(
      [
        [c, 'EUR', 12100n],
        [d, 'EUR', 4840n],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    expect(await balances(['not-an-id'], '2026-11-30')).toEqual([]);
  });

  it('counts nothing of an invoice cancelled, a draft, a draft deleted, or a payment cancelled', async () => {
    const { d, book, balances } = await setup();
    const c = book.customer('C');
    book.move('out_invoice', 'INV-1', c, '100.00', '2026-11-10');
    const cancelled = book.move('out_invoice', 'INV-2', c, '10.00', '2026-11-10');
    book.move('out_invoice', 'INV-3', c, '20.00', '2026-11-10', false);
    const deleted = book.move('out_invoice', 'INV-4', c, '30.00', '2026-11-10', false);
    const pay = book.payment('inbound', 'PAY-1', c, '5.00', '2026-11-12');
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 12810n]]);
    d.cancelMove(Number(cancelled));
    d.unlink('account.move', [Number(deleted)]);
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 11600n]]);
    d.payments.get(Number(pay.slice('payment:'.length)))!.state = 'cancel';
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 12100n]]);
  });

  it('counts money on account, and a refund of it as its documents() read tells the refund', async () => {
    const { book, balances, target } = await setup();
    const c = book.customer('C');
    book.move('out_invoice', 'INV-1', c, '100.00', '2026-11-10');
    book.payment('inbound', 'PAY-1', c, '150.00', '2026-11-12');
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', -2900n]]);
    const refund = book.payment('outbound', 'RF-1', c, '29.00', '2026-12-01');
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', -2900n]]);
    expect(await balances([c], '2026-12-01')).toEqual([[c, 'EUR', 0n]]);
    // The source side adds a refund as documents() reports it, asked alone: the same amount.
    const [read] = [...(await target.documents!(ctx(), [refund], { kind: 'refund' })).values()];
    expect([read?.kind, read?.balanceEffect ?? read?.gross]).toEqual(['refund', 2900n]);
  });

  it('asks one read_group per 1,000 customers', async () => {
    const { book, balances, groupReads } = await setup();
    const customers = Array.from({ length: 1500 }, (_, i) => book.customer(`C${i}`));
    for (const [i, c] of customers.entries()) book.move('out_invoice', `INV-${i}`, c, '10.00', '2026-11-10');
    const before = groupReads();
    const got = await balances(customers, '2026-11-30');
    expect(got).toHaveLength(1500);
    expect(new Set(got.map(([id]) => id))).toEqual(new Set(customers));
    expect(got.every(([, currency, balance]) => currency === 'EUR' && balance === 1210n)).toBe(true);
    expect(groupReads() - before).toBe(2);
  });

  it('throws Odoo’s refusal and an unanswered call as ConnectorErrors, retryable where they are', async () => {
    const { sim, apiKey, book, balances } = await setup();
    const c = book.customer('C');
    book.move('out_invoice', 'INV-1', c, '100.00', '2026-11-10');
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 12100n]]);
    const restore = sim.failWhile((call) => call.modelMethod === 'read_group', 502);
    const failed = await thrown(balances([c], '2026-11-30'));
    expect(failed).toBeInstanceOf(ConnectorError);
    expect(failed.retryable).toBe(true);
    restore();
    sim.revokeApiKey(apiKey);
    const refused = await thrown(balances([c], '2026-11-30'));
    expect(refused).toBeInstanceOf(ConnectorError);
    expect(refused.retryable).toBe(false);
    expect(refused.message).toMatch(/Access ?Denied/i);
  });
});
