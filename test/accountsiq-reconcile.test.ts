/**
 * What reconciliation reads back from AccountsIQ (`documents(ids, { fees: true })`): transactions by
 * ID, one a person reversed there voided (AccountsIQ deletes no posted transaction: it stays,
 * `IsReversed`, beside its reversing transaction), one it does not list left out, and each
 * payment's provider fee: its sundry bank payment under the payment's reference, none (null), or
 * none once that bank payment is reversed. Against the simulated Integration web service (every
 * envelope checked against wsdl.ts); the connector alone, no database.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../src/db/database.ts';
import { type AccountsIqSimulator, startAccountsIqSimulator } from '../src/connectors/accountsiq/simulator.ts';
import { createAccountsIqTarget } from '../src/connectors/accountsiq/target.ts';
import type { RatePlanner } from '../src/sync/remote/contracts.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import type { TargetCallContext, TargetConnector, TargetInvoice, TargetPayment } from '../src/sync/target.ts';

const noDb = new Proxy({} as Queryable, {
  get() {
    throw new Error('the AccountsIQ target must not use the database in these tests');
  },
});
const ctx: TargetCallContext = { db: noDb, log: pino({ level: 'silent' }), actor: 'test' };
const planner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};
const CLIENT = { clientId: 'aiq-reconcile-app', clientSecret: 'aiq-reconcile-secret-0123456789ab' };

let sim: AccountsIqSimulator;
let t: TargetConnector;
beforeAll(async () => {
  sim = await startAccountsIqSimulator({ entityId: 'RECON', ...CLIENT, glAccounts: ['4000', '6100'], seed: 7 });
  t = createAccountsIqTarget(
    {
      db: noDb,
      log: ctx.log,
      mapping: { defaultGlAccountCode: '4000' },
      settings: { type: 'accountsiq', url: sim.url, entityId: 'RECON', ...CLIENT, feesGlAccountCode: '6100' },
      entityId: 'e1',
      pipelineId: 'p1',
      pipelineName: 'reconcile',
      box: new SecretBox(Buffer.alloc(32, 1)),
    },
    { planner, client: { maxAttempts: 1, backoffBaseMs: 1, backoffMaxMs: 2 } },
  );
  const [c] = await t.upsertCustomers(ctx, [
    {
      sourceId: 'R-1',
      code: 'R-1',
      targetId: null,
      record: { kind: 'customer', sourceId: 'R-1', name: 'Customer R-1' },
    },
  ]);
  expect(c?.ok).toBe(true);
});
afterAll(() => sim.close());

const invoice = (ref: string, net: string, vat: string): TargetInvoice => ({
  sourceId: ref,
  customerTargetId: 'R-1',
  productTargetIds: {},
  idempotencyKey: `p1:invoice:${ref}`,
  record: {
    kind: 'invoice',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'R-1',
    invoiceDate: '2026-11-02',
    dueDate: '2026-12-02',
    currency: 'EUR',
    description: '',
    lines: [{ description: 'Ticket', netAmount: net, vatRate: '0.21', vatAmount: vat }],
  },
});

const payment = (ref: string, amount: string, fee?: string): TargetPayment => ({
  sourceId: ref,
  customerTargetId: 'R-1',
  invoiceTargetId: null,
  bankAccountCode: 'BANK',
  idempotencyKey: `p1:payment:${ref}`,
  record: {
    kind: 'payment',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'R-1',
    date: '2026-11-05',
    amount,
    currency: 'EUR',
    description: '',
    ...(fee === undefined ? {} : { fee }),
  },
});

const ids = (results: { ok: boolean }[]) => results.map((r) => ('targetId' in r ? (r.targetId as string) : ''));

describe('AccountsIQ read back for reconciliation', () => {
  it('reports an invoice reversed in AccountsIQ as voided, one it does not list as absent, the others as booked', async () => {
    const [kept, reversed] = ids(
      await t.createInvoices(ctx, [invoice('RI-1', '100.00', '21.00'), invoice('RI-2', '10.00', '2.10')]),
    );
    // A person reverses RI-2 in AccountsIQ: it stays there, flagged, beside its reversing transaction.
    sim.books.reverse(Number(reversed));
    const docs = await t.documents!(ctx, [kept!, reversed!, '999999'], { fees: true });
    expect([...docs.keys()].sort()).toEqual([kept, reversed].sort());
    expect(docs.get(kept!)).toMatchObject({
      kind: 'invoice',
      customerTargetId: 'R-1',
      externalReference: 'RI-1',
      date: '2026-11-02',
      currency: 'EUR',
      gross: 12100n,
      lines: 1,
    });
    expect(docs.get(kept!)!.voided).toBeUndefined();
    expect(docs.get(reversed!)).toMatchObject({ kind: 'invoice', externalReference: 'RI-2', voided: true });
    // Nor is the reversed invoice found again by its reference: it is out of the books.
    expect(await t.findByReference(ctx, 'invoice', 'RI-2', 'R-1')).toBeNull();
    expect(sim.violations).toEqual([]);
  });

  it("reads each payment's provider fee: its bank payment, none, and none once that bank payment is reversed", async () => {
    const [withFee, without] = ids(
      await t.createPayments!(ctx, [payment('RP-1', '121.00', '2.50'), payment('RP-2', '50.00')]),
    );
    const fee = [...sim.books.transactions.values()].find((x) => x.type === 'BankPayment' && x.reference === 'RP-1')!;
    const before = sim.stats.byOperation.GetTransactionsBy ?? 0;
    const docs = await t.documents!(ctx, [withFee!, without!], { fees: true });
    expect(docs.get(withFee!)).toMatchObject({
      kind: 'payment',
      externalReference: 'RP-1',
      gross: 12100n,
      fee: { targetId: String(fee.id), label: `bank payment ${fee.number}`, currency: 'EUR', amount: 250n },
    });
    expect(docs.get(without!)!.fee).toBeNull();
    // The payments in one call, their fees in the pages of the payments' dates (the last one empty).
    expect((sim.stats.byOperation.GetTransactionsBy ?? 0) - before).toBe(3);
    // Without `fees`, no fee is read: reconciliation's balances and write-back do not need them.
    expect((await t.documents!(ctx, [withFee!])).get(withFee!)!.fee).toBeUndefined();
    expect(t.feeRemedy!('missing', { targetId: withFee!, reference: 'RP-1', currency: 'EUR', fee: null })).toMatch(
      /bank payment .* with the reference RP-1/,
    );
    // A person reverses the fee in AccountsIQ: the payment holds none.
    sim.books.reverse(fee.id);
    const after = await t.documents!(ctx, [withFee!], { fees: true });
    expect(after.get(withFee!)!.fee).toBeNull();
    expect(sim.violations).toEqual([]);
  });
});
