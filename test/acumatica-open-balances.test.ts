import { describe, expect, it } from 'vitest';
import type { AcumaticaSimulator } from '../src/connectors/acumatica/simulator.ts';
import { CUSTOMERS_PER_REQUEST, BALANCE_PAGE } from '../src/connectors/acumatica/balances.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TargetCallContext, TargetConnector, TargetCreditNote } from '../src/sync/target.ts';
import { specValidator } from './helpers/openapi-requests.ts';
import {
  directCustomer,
  directInvoice as invoice,
  directPayment as payment,
  directRefund as refund,
  targetIdOf,
} from './helpers/direct-target.ts';
import { useAcumaticaTarget } from './helpers/acumatica-target.ts';

/*
 * Each customer's open balance as the simulated Acumatica instance holds it (balances.ts): released
 * invoices and credit memos, payments (applied or not) and refunds dated up to the day, of the
 * customers asked only; voided, held and unreleased documents left out; customers batched and
 * documents paged, every request checked against the official contract.
 */

const validate = specValidator('test/acumatica-open-balances.test.ts', 'acumatica/Default_24.200.001.openapi.json');
const PASSWORD = 'acu-balance-SECRET-0123456789';
let sim: AcumaticaSimulator;
let ctx: TargetCallContext;
let target: TargetConnector;
useAcumaticaTarget({ validate, password: PASSWORD, pipelineName: 'acu-balances' }, (t) => ({ sim, ctx, target } = t));

const creditNote = (ref: string, customerTargetId: string, net: string, date: string): TargetCreditNote => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}`,
  customerTargetId,
  productTargetIds: {},
  invoiceTargetId: null,
  record: {
    kind: 'creditNote',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: customerTargetId,
    date,
    currency: 'EUR',
    description: 'Returned',
    lines: [{ description: 'Returned', netAmount: net, vatRate: '0.21' }],
  },
});

async function customers(...codes: string[]) {
  const r = await target.upsertCustomers(
    ctx,
    codes.map((c) => directCustomer(c, `Customer ${c}`)),
  );
  return r.map(targetIdOf);
}
const balances = (ids: string[], asAt: string) => target.openBalances!(ctx, ids, asAt);
/** Requests under the endpoint (sign-in and sign-out are not) that `fn` makes. */
async function requests<T>(fn: () => Promise<T>): Promise<{ value: T; n: number }> {
  const before = sim.stats.counted;
  const value = await fn();
  return { value, n: sim.stats.counted - before };
}

describe('openBalances', () => {
  it('counts each customer’s released documents dated up to the day, as Acumatica signs them', async () => {
    const [a, b] = await customers('OB-A', 'OB-B');
    const [i1, i2, i3, i4] = (
      await target.createInvoices(ctx, [
        invoice('OB-I1', a!, '100.00', '0.21', '2026-11-02'),
        invoice('OB-I2', a!, '100.00', '0.21', '2026-11-20'),
        // Dated after the day asked.
        invoice('OB-I3', a!, '100.00', '0.21', '2026-12-03'),
        // Voided in Acumatica below.
        invoice('OB-I4', a!, '50.00', '0.21', '2026-11-03'),
      ])
    ).map(targetIdOf);
    // Another customer's, under the same references.
    const [bi1] = (await target.createInvoices(ctx, [invoice('OB-I1', b!, '10.00', '0.21', '2026-11-02')])).map(
      targetIdOf,
    );
    // Listed by Invoice and by Payment (Payments and Applications holds it too): counted once.
    targetIdOf((await target.createCreditNotes!(ctx, [creditNote('OB-N1', a!, '20.00', '2026-11-04')]))[0]);
    const [p1, p2, p3, p4] = (
      await target.createPayments!(ctx, [
        payment('OB-P1', a!, i1!, '50.00'),
        // On account: money the customer has paid counts, applied or not.
        payment('OB-P2', a!, null, '30.00', { date: '2026-11-10' }),
        // After the day asked.
        payment('OB-P3', a!, i3!, '20.00', { date: '2026-12-02' }),
        // Voided in Acumatica below.
        payment('OB-P4', a!, i2!, '15.00', { date: '2026-11-12' }),
      ])
    ).map(targetIdOf);
    targetIdOf((await target.createPayments!(ctx, [payment('OB-P1', b!, bi1!, '5.00')]))[0]);
    // Paid back of what P2 holds on account: owed again.
    const r1 = targetIdOf(
      (await target.createRefunds!(ctx, [refund('OB-R1', a!, p2!, '10.00', { date: '2026-11-12' })]))[0],
    );
    expect([p1, p3].every(Boolean)).toBe(true);
    sim.books.voidInvoice(i4!);
    sim.books.voidPayment(p4!, '2026-11-16');
    // Saved by a person and not released (Balanced), and one on hold: not posted.
    const line = { Qty: { value: '1' }, UnitPrice: { value: '40.00' }, TaxCategory: { value: 'STANDARD' } };
    for (const hold of [false, true])
      expect(
        sim.books.putInvoice({
          Type: { value: 'Invoice' },
          Customer: { value: a },
          Date: { value: '2026-11-05T00:00:00+00:00' },
          Hold: { value: hold },
          Details: [line],
        }).status,
      ).toBe(200);

    // 121 + 121 − 24.20 (credit memo) − 50 − 30 (on account) + 10 (refund); I3, P3 later; I4, P4 voided.
    expect(await balances([a!], '2026-11-30')).toEqual([{ customerTargetId: a, currency: 'EUR', balance: 14780n }]);
    // The day itself counts: I2 is dated the 20th.
    expect(await balances([a!], '2026-11-20')).toEqual([{ customerTargetId: a, currency: 'EUR', balance: 14780n }]);
    expect(await balances([a!], '2026-11-19')).toEqual([{ customerTargetId: a, currency: 'EUR', balance: 2680n }]);
    // I3 and P3 by December.
    expect(await balances([a!, b!], '2026-12-31')).toEqual([
      { customerTargetId: a, currency: 'EUR', balance: 24880n },
      { customerTargetId: b, currency: 'EUR', balance: 710n },
    ]);
    // Before anything: nothing held, left out.
    expect(await balances([a!, b!], '2026-10-31')).toEqual([]);

    // The refund adds what documents() reports for it asked alone, as the source side counts it.
    const read = await target.documents!(ctx, [r1], { kind: 'refund' });
    expect(read.get(r1)).toMatchObject({ kind: 'refund', customerTargetId: a, gross: 1000n, date: '2026-11-12' });
    expect(read.get(r1)?.balanceEffect).toBeUndefined();
  });

  it('leaves out ids that cannot be a CustomerID, and asks nothing for none', async () => {
    const [c] = await customers('OB-C');
    await target.createInvoices(ctx, [invoice('OB-C1', c!, '10.00', '0', '2026-11-02')]);
    const bad = ['', ' OB-C', 'X'.repeat(31), 'OB\u0000C'];
    expect(await balances([...bad, c!], '2026-11-30')).toEqual([
      { customerTargetId: c, currency: 'EUR', balance: 1000n },
    ]);
    const none = await requests(() => balances(bad, '2026-11-30'));
    expect(none).toEqual({ value: [], n: 0 });
  });

  it(`batches ${CUSTOMERS_PER_REQUEST} customers a request and pages ${BALANCE_PAGE} documents at a time`, async () => {
    // Straight into the books (released), to have many without as many requests.
    const book = (customer: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const put = sim.books.putInvoice({
          Type: { value: 'Invoice' },
          Customer: { value: customer },
          Date: { value: '2026-11-02T00:00:00+00:00' },
          Hold: { value: false },
          Details: [{ Qty: { value: '1' }, UnitPrice: { value: '1.00' } }],
        });
        expect(put.status).toBe(200);
        const nbr = (put.body.ReferenceNbr as { value: string }).value;
        expect(sim.books.releaseDocument(`Invoice/${nbr}`)).toBeNull();
      }
    };
    const ids = Array.from({ length: 2 * CUSTOMERS_PER_REQUEST + 1 }, (_, i) => `OB-M${String(i).padStart(2, '0')}`);
    for (const id of ids)
      expect(sim.books.putCustomer({ CustomerID: { value: id }, CustomerName: { value: id } }).status).toBe(200);
    for (const id of ids) book(id, 1);
    // One customer of the first batch holds more than a page of invoices.
    book(ids[0]!, BALANCE_PAGE);
    const { value, n } = await requests(() => balances(ids, '2026-11-30'));
    expect(value).toHaveLength(ids.length);
    expect(value.find((b) => b.customerTargetId === ids[0])?.balance).toBe(BigInt(BALANCE_PAGE + 1) * 100n);
    expect(value.filter((b) => b.customerTargetId !== ids[0]).every((b) => b.balance === 100n)).toBe(true);
    // Three batches of Invoice (the first two pages) and three of Payment.
    expect(n).toBe(3 + 1 + 3);
  });

  it('answers Acumatica’s error as a ConnectorError, retryable when asking again may help', async () => {
    const [d] = await customers('OB-D');
    sim.failNext(500);
    const err = await balances([d!], '2026-11-30').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({ status: 500, retryable: true });
    expect((err as Error).message).not.toContain(PASSWORD);
    // An HttpError refusing the request: final, in Acumatica's words.
    sim.failNext(400);
    const refused = await balances([d!], '2026-11-30').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectorError);
    expect(refused).toMatchObject({ status: 400, retryable: false });
    expect((refused as Error).message).toContain('Simulated 400');
  });
});
