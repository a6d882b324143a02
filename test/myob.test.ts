import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNumbersWrittenBack, expectSecondRunWritesNothing, e2eRecords } from './helpers/platform-e2e.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, drainTarget, openExceptions, syncService } from './helpers/sync.ts';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { myobTarget } from '../src/connectors/myob/index.ts';
import { type MyobSimulator, startMyobSimulator } from '../src/connectors/myob/simulator.ts';
import { createMyobTarget } from '../src/connectors/myob/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import { processScope } from './helpers/scoped.ts';
import { getRun } from '../src/sync/runs.ts';
import type { SyncService } from '../src/sync/service.ts';

/*
 * The MYOB target end to end, through the engine, against the simulated MYOB and its token
 * endpoint, with 5% of write answers lost after committing, the API key's per-second limit
 * enforced, a storm of 403 RateLimitError answers, access tokens that expire during the run and
 * company file credentials required: zero duplicates, zero missing documents, MYOB's numbers and
 * PDFs written back to the source, payments and credit notes set against the invoices they name,
 * refusals parked with a stable reason and not sent again, and a revoked connection parked with
 * TARGET_AUTH_REVOKED. Every request is checked against the contract the simulator keeps.
 */

const CLIENT = { clientId: 'myob-e2e-api-key', clientSecret: 'myob-e2e-secret-0123456789' };
const FILE = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
const PER_SECOND = 20;

let t: TestApp;
let sync: SyncService;
let myob: MyobSimulator;
const closers: { close(): Promise<void> }[] = [];

const scope = processScope();

beforeAll(async () => {
  t = await createTestApp();
  sync = syncService(t.db, { pdfs: true, engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  myob = await startMyobSimulator({
    ...CLIENT,
    companyFiles: {
      [FILE]: {
        currency: 'EUR',
        taxCodes: { V21: '21', V9: '9', V0: '0' },
        credentials: { user: 'Administrator', password: 'cf-pass' },
      },
    },
    seed: 11,
    dropAfterCommitRate: 0.05,
    // Access tokens that live 4 s (MYOB: 20 minutes), refreshed during the runs.
    accessTokenSeconds: 4,
    limits: { perSecond: PER_SECOND, perDay: 1_000_000 },
  });
  scope.target({
    ...myobTarget,
    create: (deps) =>
      Promise.resolve(
        createMyobTarget(deps, {
          planner: createRatePlanner(t.db, { marginMs: () => 100 }),
          rateWaitMs: 20,
          client: { backoffBaseMs: 5, backoffMaxMs: 40 },
        }),
      ),
  });
}, 60_000);
afterAll(async () => {
  for (const c of closers) await c.close();
  await myob.close();
  await t.close();
});

function settings(refreshToken = myob.issueRefreshToken()) {
  return {
    type: 'myob',
    ...CLIENT,
    refreshToken,
    companyFileId: FILE,
    companyFileUser: 'Administrator',
    companyFilePassword: 'cf-pass',
    currency: 'EUR',
    customerTaxCode: 'V21',
    accounts: { sales: '4-1000', bank: '1-1110' },
    baseUrl: myob.baseUrl,
    tokenUrl: myob.tokenUrl,
    // A little below the simulator's count: a grant reaches it a moment later on a busy machine.
    limits: { callsPerSecond: PER_SECOND - 4, callsPerDay: 1_000_000 },
  };
}

const drain = (pipeline: Pipeline) => drainTarget(t.db, sync, pipeline, 'MYOB');
const file = () => myob.file(FILE);
const salesBy = (ref: string) => [...file().sales.values()].filter((s) => s.reference === ref);

describe('MYOB end to end', () => {
  it('iXpole → MYOB: every instalment once through lost answers, a 403 storm and expiring tokens, MYOB’s numbers and PDFs written back', async () => {
    await t.entity('MY1', 'EUR', { standardTaxRate: '0.21' });
    const ix: IxpoleSimulator = await startIxpoleSimulator({ seed: 9, instalments: 40, customers: 8, products: 3 });
    closers.push(ix);
    // Beyond the random 5%: the engine must look these sales up before sending them again.
    myob.dropNext(4, (r) => r.method === 'POST' && r.route === 'Sale/Invoice/Service');
    // A storm: MYOB refuses the next calls for the key's rate; they are paced and sent again.
    myob.failNext(403, 403, 403, 403);
    const pipeline = await definePipeline(t.db, 'MY1', {
      name: 'ix-to-myob',
      source: {
        type: 'ixpole',
        baseUrl: ix.url,
        apiKey: ix.apiKey,
        backoffBaseMs: 5,
        backoffMaxMs: 20,
        maxAttempts: 4,
      },
      target: settings(),
      options: { pageSize: 20 },
    });
    const run = (await getRun(t.db, (await sync.trigger(pipeline, 'manual', 'test'))!))!;
    expect(['succeeded', 'partial']).toContain(run.status);
    await drain(pipeline);
    await sync.flushAll();

    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const codes = [...Array(ix.total).keys()].map((i) => ix.instalmentAt(i).InstalmentCode);
    // Zero missing, zero duplicates.
    for (const code of codes) expect(salesBy(code), code).toHaveLength(1);
    expect(myob.duplicates(FILE)).toEqual([]);
    expect(myob.stats.dropped).toBeGreaterThanOrEqual(4);
    // The storm’s four, and none beyond what the planner could not foresee.
    expect(myob.stats.rateRefused).toBeGreaterThanOrEqual(4);
    expect(myob.stats.rateRefused).toBeLessThanOrEqual(8);

    // Written back: MYOB's own number, and MYOB's PDF of that sale.
    expectNumbersWrittenBack(ix, {
      atLeast: codes.length,
      numberOf: (code) => salesBy(code)[0]?.Number,
      format: /^\d{8}$/,
      // The simulator's PDF draws its text unencoded.
      pdf: (pdf, number) => expect(pdf.toString('latin1')).toContain(`(Tax invoice ${number} total`),
    });
    // Amounts as iXpole gave them: MYOB's tax from the tax code matches iXpole's VAT.
    for (let i = 0; i < 10; i++) {
      const inst = ix.instalmentAt(i);
      const s = salesBy(inst.InstalmentCode)[0]!;
      const net = s.lines.reduce((x, l) => x + l.total, 0n);
      const vat = s.lines.reduce((x, l) => x + l.tax, 0n);
      expect([(Number(net) / 100).toFixed(2), (Number(vat) / 100).toFixed(2)]).toEqual([
        inst.NetAmount,
        inst.VatAmount,
      ]);
    }

    // A second run books nothing again.
    await expectSecondRunWritesNothing(t.db, sync, pipeline, () => myob.stats.writes);
    expect(myob.violations).toEqual([]);
    expect(myob.stats.refreshes).toBeGreaterThan(1);
  }, 180_000);

  it('records → MYOB: payments applied to the invoices they name, a credit note settled, refusals parked and not sent again', async () => {
    await t.entity('MY2', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'MY2', {
      name: 'records-to-myob',
      source: { type: 'records' },
      target: settings(),
    });
    const customers = e2eRecords().customers();
    const inv = (n: number, c: string, ref = `E2-I${n}`, date = '2026-11-02'): CanonicalRecord => ({
      kind: 'invoice',
      sourceId: `E2-I${n}`,
      externalReference: ref,
      customerSourceId: `E2-${c}`,
      invoiceDate: date,
      dueDate: '2026-12-02',
      currency: 'EUR',
      description: '',
      lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
    });
    const pay = e2eRecords().payment;
    const invoices = [...Array(9).keys()].map((i) => inv(i + 1, ['A', 'B', 'C'][i % 3]!));
    const records: CanonicalRecord[] = [
      ...customers,
      ...invoices,
      // Refused by MYOB (before the financial year) and by us (a reference MYOB cannot keep whole).
      inv(10, 'A', 'E2-I10', '2000-01-15'),
      inv(11, 'B', 'E2-I11-A-REFERENCE-TOO-LONG'),
      pay(1, 'A', '121.00', 'E2-I1'),
      pay(2, 'B', '50.00', 'E2-I2'),
      // Unassigned: MYOB keeps no unapplied payment.
      pay(3, 'C', '30.00', null),
      // Paying an invoice that is not booked (refused above): parked with it, saying so.
      pay(4, 'A', '10.00', 'E2-I10'),
      {
        kind: 'creditNote',
        sourceId: 'E2-N1',
        externalReference: 'E2-N1',
        customerSourceId: 'E2-A',
        date: '2026-11-04',
        currency: 'EUR',
        description: 'Returned',
        invoiceExternalReference: 'E2-I4',
        lines: [{ description: 'Returned', netAmount: '20.00', vatRate: '0.21', vatAmount: '4.20' }],
      },
      {
        kind: 'allocation',
        sourceId: 'E2-A2',
        customerSourceId: 'E2-A',
        date: '2026-11-04',
        currency: 'EUR',
        amount: '24.20',
        invoiceExternalReference: 'E2-I4',
        from: 'creditNote',
        fromExternalReference: 'E2-N1',
      },
    ];
    file().financialYearStart = '2001-07-01';
    myob.dropNext(2, (r) => r.method === 'POST' && r.route === 'Sale/CustomerPayment');
    myob.dropNext(1, (r) => r.method === 'POST' && r.route === 'Sale/CreditSettlement');
    myob.expireAccessTokens();
    await sync.processRecords(
      pipeline,
      'import',
      'e2e',
      records.map((record) => ({ record })),
    );
    await drain(pipeline);

    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code])).toEqual([
      ['E2-I10', 'TARGET_REFUSED'],
      ['E2-I11', 'TARGET_REFUSED'],
      ['E2-P3', 'TARGET_CAPABILITY_MISSING'],
      ['E2-P4', 'ALLOCATION_DOCUMENT_NOT_SYNCED'],
    ]);
    expect(parked[0]!.message).toMatch(/DatePriorToBeginningOfFinancialYear 25008: Date cannot be prior/);
    expect(parked[1]!.message).toMatch(/is 27 characters; MYOB keeps 20 in its CustomerPurchaseOrderNumber/);
    expect(parked[2]!.message).toMatch(/keeps no unapplied payment/);
    // The engine knows the invoice is parked and does not send the payment without it.
    expect(parked[3]!.message).toBe(
      'The invoice E2-I10 it settles is parked by this pipeline, not booked in the myob target; ' +
        'runs again by itself once invoice E2-I10 is booked',
    );
    for (const p of parked) expect(p.message).not.toContain('cf-pass');

    const one = (ref: string) => {
      const found = salesBy(ref);
      expect(found, ref).toHaveLength(1);
      return found[0]!;
    };
    for (let n = 1; n <= 9; n++) expect(one(`E2-I${n}`).total).toBe(12100n);
    // Due 30 days after the sale's date (2026-11-02 → 2026-12-02).
    expect(one('E2-I1').dueDays).toBe(30);
    expect(salesBy('E2-I10')).toEqual([]);
    expect([one('E2-I1'), one('E2-I2'), one('E2-I3'), one('E2-I4')].map((s) => s.balance)).toEqual([
      0n,
      7100n,
      12100n,
      9680n,
    ]);
    const payments = [...file().payments.values()];
    const paymentOf = (ref: string) => payments.filter((p) => p.memo === ref).map((p) => p.invoices);
    expect(paymentOf('E2-P1')).toEqual([[{ uid: one('E2-I1').UID, amount: 12100n }]]);
    expect(paymentOf('E2-P2')).toEqual([[{ uid: one('E2-I2').UID, amount: 5000n }]]);
    expect(paymentOf('E2-P3')).toEqual([]);
    const note = one('E2-N1');
    expect([note.total, note.balance]).toEqual([-2420n, 0n]);
    expect([...file().settlements.values()].filter((s) => s.creditUid === note.UID).map((s) => s.lines)).toEqual([
      [{ saleUid: one('E2-I4').UID, amount: 2420n }],
    ]);
    // What the engine mapped is what MYOB holds, with MYOB's numbers.
    const { rows } = await t.db.query<{ source_id: string; target_id: string; target_number: string | null }>(
      `SELECT source_id, target_id, target_number FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice' ORDER BY source_id`,
      [pipeline.id],
    );
    expect(rows).toHaveLength(9);
    for (const r of rows)
      expect({ id: r.target_id, number: r.target_number }).toEqual({
        id: one(r.source_id).UID,
        number: one(r.source_id).Number,
      });
    expect(myob.duplicates(FILE)).toEqual([]);
    expect(myob.violations).toEqual([]);

    // Refused is final: the timer's flushes send nothing again and leave the refusals parked as they were.
    const writes = myob.stats.writes;
    await sync.flushAll();
    await drain(pipeline);
    expect(myob.stats.writes).toBe(writes);
    expect(await openExceptions(t.db, pipeline)).toEqual(parked);
    // The source sending the batch again books nothing new (the engine tries the refused sale once more; MYOB refuses it again).
    const sales = file().sales.size;
    await sync.processRecords(
      pipeline,
      'import',
      'e2e',
      records.map((record) => ({ record })),
    );
    await drain(pipeline);
    expect(file().sales.size).toBe(sales);
    expect(file().payments.size).toBe(2);
    expect((await openExceptions(t.db, pipeline)).map((p) => [p.source_id, p.reason_code])).toEqual(
      parked.map((p) => [p.source_id, p.reason_code]),
    );
  }, 120_000);

  it('a revoked connection parks the documents with TARGET_AUTH_REVOKED, saying how to reconnect; nothing is written', async () => {
    await t.entity('MY3', 'EUR', { standardTaxRate: '0.21' });
    const refresh = myob.issueRefreshToken();
    const pipeline = await definePipeline(t.db, 'MY3', {
      name: 'revoked-myob',
      source: { type: 'records' },
      target: settings(refresh),
    });
    myob.revoke(refresh);
    const writes = myob.stats.writes;
    await sync.processRecords(pipeline, 'import', 'e2e', [
      { record: { kind: 'customer', sourceId: 'R-C', name: 'Revoked customer' } },
    ]);
    await drain(pipeline).catch(() => undefined);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((p) => p.reason_code)).toEqual(['TARGET_AUTH_REVOKED']);
    expect(parked[0]!.message).toMatch(/Reconnect/);
    expect(parked[0]!.message).not.toContain(refresh);
    expect(parked[0]!.message).not.toContain(CLIENT.clientSecret);
    expect(myob.stats.writes).toBe(writes);
  });
});
