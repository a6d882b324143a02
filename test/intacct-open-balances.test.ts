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
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../src/db/database.ts';
import { type IntacctSimulator, startIntacctSimulator } from '../src/connectors/intacct/simulator.ts';
import { createIntacctTarget } from '../src/connectors/intacct/target.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { RatePlanner } from '../src/sync/remote/contracts.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import type {
  ItemResult,
  TargetCallContext,
  TargetConnector,
  TargetCreditNote,
  TargetInvoice,
  TargetPayment,
} from '../src/sync/target.ts';

const noDb = new Proxy({} as Queryable, {
  get() {
    throw new Error('the Intacct target must not use the database in these tests');
  },
});
const ctx: TargetCallContext = { db: noDb, log: pino({ level: 'silent' }), actor: 'test' };
const planner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};
const SENDER = { senderId: 'bal_sender', senderPassword: 'bal-sender-secret-0123' };
const USER = { companyId: 'BAL', userId: 'xml_user', password: 'bal-user-secret-4567' };

let sim: IntacctSimulator;
let t: TargetConnector;
beforeAll(async () => {
  sim = await startIntacctSimulator({
    ...SENDER,
    users: [USER],
    companies: { BAL: { currency: 'EUR', glAccounts: ['4000', '2200'], bankAccounts: ['BANK1'] } },
    seed: 13,
  });
  t = createIntacctTarget(
    {
      db: noDb,
      log: ctx.log,
      mapping: {},
      settings: {
        type: 'intacct',
        endpoint: sim.endpoint,
        ...SENDER,
        companyId: USER.companyId,
        userId: USER.userId,
        userPassword: USER.password,
        currency: 'EUR',
        salesGlAccount: '4000',
        taxGlAccounts: { '0.21': '2200' },
        bankAccountId: 'BANK1',
      },
      entityId: 'e1',
      pipelineId: 'p1',
      pipelineName: 'balances',
      box: new SecretBox(Buffer.alloc(32, 1)),
    },
    { planner, client: { backoffBaseMs: 1, backoffMaxMs: 5, maxAttempts: 1 } },
  );
  const made = await t.upsertCustomers(
    ctx,
    ['C-1', 'C-2', 'C-3'].map((code) => ({
      sourceId: code,
      code,
      targetId: null,
      record: { kind: 'customer' as const, sourceId: code, name: `Customer ${code}` },
    })),
  );
  expect(made.every((r) => r.ok)).toBe(true);
});
afterAll(() => sim.close());

const invoice = (customer: string, ref: string, date: string, net: string, vat: string): TargetInvoice => ({
  sourceId: `${customer}:${ref}`,
  customerTargetId: customer,
  productTargetIds: {},
  idempotencyKey: `p1:invoice:${customer}:${ref}`,
  record: {
    kind: 'invoice',
    sourceId: `${customer}:${ref}`,
    externalReference: ref,
    customerSourceId: customer,
    invoiceDate: date,
    dueDate: date,
    currency: 'EUR',
    description: '',
    lines: [{ description: 'Ticket', netAmount: net, vatRate: '0.21', vatAmount: vat }],
  },
});

const creditNote = (customer: string, ref: string, date: string, net: string, vat: string): TargetCreditNote => ({
  sourceId: `${customer}:${ref}`,
  customerTargetId: customer,
  productTargetIds: {},
  invoiceTargetId: null,
  idempotencyKey: `p1:creditNote:${customer}:${ref}`,
  record: {
    kind: 'creditNote',
    sourceId: `${customer}:${ref}`,
    externalReference: ref,
    customerSourceId: customer,
    date,
    currency: 'EUR',
    description: '',
    lines: [{ description: 'Ticket', netAmount: net, vatRate: '0.21', vatAmount: vat }],
  },
});

const payment = (
  customer: string,
  ref: string,
  date: string,
  amount: string,
  invoiceTargetId: string | null,
): TargetPayment => ({
  sourceId: `${customer}:${ref}`,
  customerTargetId: customer,
  invoiceTargetId,
  bankAccountCode: 'BANK1',
  idempotencyKey: `p1:payment:${customer}:${ref}`,
  record: {
    kind: 'payment',
    sourceId: `${customer}:${ref}`,
    externalReference: ref,
    customerSourceId: customer,
    date,
    amount,
    currency: 'EUR',
    description: '',
  },
});

const booked = (results: ItemResult[]) =>
  results.map((r) => {
    expect(r.ok).toBe(true);
    return r.ok ? r.targetId : '';
  });

const balances = async (codes: string[], asAt: string) =>
  Object.fromEntries(
    (await t.openBalances!(ctx, codes, asAt)).map((b) => [b.customerTargetId, [b.currency, b.balance]]),
  );

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
    const [i1, , third] = booked(
      await t.createInvoices(ctx, [
        invoice('C-1', 'I1', '2026-11-02', '100.00', '21.00'),
        invoice('C-1', 'I2', '2026-12-03', '50.00', '10.50'),
        invoice('C-1', 'I3', '2026-11-10', '10.00', '2.10'),
        invoice('C-2', 'I1', '2026-11-02', '200.00', '42.00'),
      ]),
    );
    i3 = third!;
    booked(await t.createCreditNotes!(ctx, [creditNote('C-1', 'N1', '2026-11-15', '20.00', '4.20')]));
    booked(
      await t.createPayments!(ctx, [
        payment('C-1', 'P1', '2026-11-05', '50.00', i1!),
        payment('C-1', 'P2', '2026-11-20', '20.00', null),
        payment('C-1', 'P3', '2026-12-04', '30.00', null),
      ]),
    );
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
