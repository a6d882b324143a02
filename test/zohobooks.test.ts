import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectNumbersWrittenBack,
  expectSecondRunWritesNothing,
  expectAmountsAsGiven,
  e2eRecords,
} from './helpers/platform-e2e.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, drainTarget, openExceptions, syncService } from './helpers/sync.ts';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { zohoBooksTarget } from '../src/connectors/zohobooks/index.ts';
import { type ZohoBooksSimulator, startZohoBooksSimulator } from '../src/connectors/zohobooks/simulator.ts';
import { createZohoBooksTarget } from '../src/connectors/zohobooks/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import { processScope } from './helpers/scoped.ts';
import { getRun } from '../src/sync/runs.ts';
import type { SyncService } from '../src/sync/service.ts';

/*
 * The Zoho Books target end to end, through the engine, against the simulated Zoho Books and its
 * Zoho Accounts, with 5% of write answers lost after committing and the organisation's limits
 * enforced on a scaled clock (a "minute" of one second), some 500s, and access tokens that expire
 * during the run: zero duplicates, zero missing documents,
 * no call refused for its rate, Zoho's numbers and PDFs written back to the source, payments and
 * credit notes set against the invoices they name, refunds of a payment's unused amount booked
 * once (one too large parked, not resent), and a revoked connection parked with
 * TARGET_AUTH_REVOKED. Every request is checked against the contract the simulator keeps.
 */

const CLIENT = { clientId: '1000.E2ETESTCLIENT', clientSecret: 'zoho-e2e-secret-0123456789' };
const ORG = '20077000001';
/** The organisation's 100 a minute, scaled: 40 calls in a "minute" of one second. */
const MINUTE_MS = 1000;
const PER_MINUTE = 40;

let t: TestApp;
let sync: SyncService;
let zoho: ZohoBooksSimulator;
const closers: { close(): Promise<void> }[] = [];

const scope = processScope();

beforeAll(async () => {
  t = await createTestApp();
  sync = syncService(t.db, { pdfs: true, engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  zoho = await startZohoBooksSimulator({
    ...CLIENT,
    organisations: { [ORG]: { name: 'Zoho E2E BV', currency: 'EUR' } },
    // The faults fall by seed. Under this one (as under 2 and 6) the records test's invoices are
    // still waiting for a retry when its allocations come: the allocations wait behind them
    // (src/sync/engine/waiting.ts). Before they did, they were parked ALLOCATION_DOCUMENT_NOT_SYNCED
    // and the test failed under these seeds.
    seed: 11,
    dropAfterCommitRate: 0.05,
    // And some 500s before anything is committed; access tokens that live 4 s, refreshed during the runs.
    failRate: 0.03,
    accessTokenSeconds: 4,
    limits: { perMinute: PER_MINUTE, perDay: 100_000, minuteMs: MINUTE_MS },
  });
  // The planner on the simulator's scaled clock, with the margin production gives a minute.
  scope.target({
    ...zohoBooksTarget,
    create: (deps) =>
      Promise.resolve(
        createZohoBooksTarget(deps, {
          planner: createRatePlanner(t.db, { windowsMs: { minute: MINUTE_MS }, marginMs: () => 250 }),
          client: { backoffBaseMs: 5, backoffMaxMs: 40 },
        }),
      ),
  });
}, 60_000);
afterAll(async () => {
  for (const c of closers) await c.close();
  await zoho.close();
  await t.close();
});

function settings(refreshToken = zoho.issueRefreshToken()) {
  return {
    type: 'zohobooks',
    ...CLIENT,
    refreshToken,
    organizationId: ORG,
    dataCenter: 'eu',
    baseUrl: zoho.baseUrl,
    tokenUrl: zoho.tokenUrl,
    // A little below Zoho's count: a grant reaches the simulator a moment later on a busy machine.
    limits: { callsPerMinute: PER_MINUTE - 4, callsPerDay: 100_000 },
  };
}

const org = () => zoho.org(ORG);
const invoicesBy = (ref: string) => [...org().invoices.values()].filter((d) => d.reference_number === ref);

describe('Zoho Books end to end', () => {
  it('iXpole → Zoho Books: every instalment once through lost answers, paced under the limits, Zoho’s numbers and PDFs written back', async () => {
    await t.entity('ZB1', 'EUR', { standardTaxRate: '0.21' });
    const ix: IxpoleSimulator = await startIxpoleSimulator({ seed: 9, instalments: 40, customers: 8, products: 3 });
    closers.push(ix);
    // Beyond the random 5%: the engine must look these invoices up before sending them again.
    zoho.dropNext(4, (r) => r.method === 'POST' && r.route === '/invoices');
    const pipeline = await definePipeline(t.db, 'ZB1', {
      name: 'ix-to-zoho',
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
    await drainTarget(t.db, sync, pipeline, 'Zoho Books');
    await sync.flushAll();

    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const codes = [...Array(ix.total).keys()].map((i) => ix.instalmentAt(i).InstalmentCode);
    // Zero missing, zero duplicates, each invoice open (marked sent).
    for (const code of codes) expect(invoicesBy(code).map((d) => d.status)).toEqual(['sent']);
    expect(zoho.duplicates(ORG)).toEqual([]);
    expect(zoho.stats.dropped).toBeGreaterThanOrEqual(4);
    // Paced: Zoho never had to refuse a call for its rate.
    expect(zoho.stats.rateRefused).toBe(0);

    // Written back: Zoho's own number, and Zoho's PDF of that invoice.
    expectNumbersWrittenBack(ix, {
      atLeast: codes.length,
      numberOf: (code) => invoicesBy(code)[0]?.number,
      format: /^INV-\d{6}$/,
      // The simulator's PDF draws its text unencoded.
      pdf: (pdf, number) => expect(pdf.toString('latin1')).toContain(`(Invoice ${number} total`),
    });
    // Amounts as iXpole gave them.
    expectAmountsAsGiven(ix, 10, (code) => invoicesBy(code)[0]!.lines);

    // A second run books nothing again.
    await expectSecondRunWritesNothing(t.db, sync, pipeline, () => zoho.stats.writes);
    expect(zoho.violations).toEqual([]);
    expect(zoho.stats.refreshes).toBeGreaterThan(1);
  }, 120_000);

  it('records → Zoho Books: payments applied to the invoices they name, credit notes and unused payments set against invoices, nothing lost or doubled', async () => {
    await t.entity('ZB2', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'ZB2', {
      name: 'records-to-zoho',
      source: { type: 'records' },
      target: settings(),
    });
    const customers = e2eRecords().customers();
    const inv = e2eRecords().invoice;
    const pay = e2eRecords().payment;
    const invoices = [...Array(12).keys()].map((i) => inv(i + 1, ['A', 'B', 'C'][i % 3]!, '100.00', '21.00'));
    const records: CanonicalRecord[] = [
      ...customers,
      ...invoices,
      // Paid in full, in part, and one unassigned then set against an invoice.
      pay(1, 'A', '121.00', 'E2-I1'),
      pay(2, 'B', '50.00', 'E2-I2'),
      pay(3, 'C', '30.00', null),
      {
        kind: 'allocation',
        sourceId: 'E2-A1',
        customerSourceId: 'E2-C',
        date: '2026-11-06',
        currency: 'EUR',
        amount: '30.00',
        invoiceExternalReference: 'E2-I3',
        from: 'payment',
        fromExternalReference: 'E2-P3',
      },
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
    zoho.dropNext(2, (r) => r.method === 'POST' && r.route === '/customerpayments');
    zoho.dropNext(1, (r) => r.method === 'POST' && /^\/creditnotes\/\d+\/invoices$/.test(r.route));
    await sync.processRecords(
      pipeline,
      'import',
      'e2e',
      records.map((record) => ({ record })),
    );
    await drainTarget(t.db, sync, pipeline, 'Zoho Books');
    expect(await openExceptions(t.db, pipeline)).toEqual([]);

    const one = (ref: string) => {
      const found = invoicesBy(ref);
      expect(found, ref).toHaveLength(1);
      return found[0]!;
    };
    for (let n = 1; n <= 12; n++) expect(one(`E2-I${n}`).total).toBe(12100n);
    const due = (ref: string) => one(ref).balance;
    expect([due('E2-I1'), due('E2-I2'), due('E2-I3'), due('E2-I4'), due('E2-I5')]).toEqual([
      0n,
      7100n,
      9100n,
      9680n,
      12100n,
    ]);
    const payments = [...org().payments.values()];
    const paymentOf = (ref: string) => payments.filter((p) => p.reference_number === ref);
    expect(paymentOf('E2-P1').map((p) => p.invoices)).toEqual([
      [{ invoice_id: one('E2-I1').id, amount_applied: 12100n }],
    ]);
    expect(paymentOf('E2-P2').map((p) => p.invoices)).toEqual([
      [{ invoice_id: one('E2-I2').id, amount_applied: 5000n }],
    ]);
    expect(paymentOf('E2-P3').map((p) => p.invoices)).toEqual([
      [{ invoice_id: one('E2-I3').id, amount_applied: 3000n }],
    ]);
    const notes = [...org().creditNotes.values()].filter((d) => d.reference_number === 'E2-N1');
    expect(notes.map((d) => [d.total, d.balance, d.status])).toEqual([[2420n, 0n, 'closed']]);
    expect(
      org()
        .credits.filter((c) => c.creditnote_id === notes[0]!.id)
        .map((c) => [c.invoice_id, c.amount_applied]),
    ).toEqual([[one('E2-I4').id, 2420n]]);
    // What the engine mapped is what Zoho holds, with Zoho's numbers.
    const { rows } = await t.db.query<{ source_id: string; target_id: string; target_number: string | null }>(
      `SELECT source_id, target_id, target_number FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice' ORDER BY source_id`,
      [pipeline.id],
    );
    expect(rows).toHaveLength(12);
    for (const r of rows)
      expect({ id: r.target_id, number: r.target_number }).toEqual({
        id: one(r.source_id).id,
        number: one(r.source_id).number,
      });
    expect(zoho.duplicates(ORG)).toEqual([]);
    expect(zoho.stats.rateRefused).toBe(0);
    expect(zoho.violations).toEqual([]);

    // Sent again: nothing new.
    const writes = zoho.stats.writes;
    await sync.processRecords(
      pipeline,
      'import',
      'e2e',
      records.map((record) => ({ record })),
    );
    await drainTarget(t.db, sync, pipeline, 'Zoho Books');
    expect(zoho.stats.writes).toBe(writes);
  }, 120_000);

  it('records → Zoho Books: a refund of a payment’s unused amount booked once through a lost answer; one too large, or naming no payment, parked and not resent', async () => {
    await t.entity('ZB4', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'ZB4', {
      name: 'refunds-to-zoho',
      source: { type: 'records' },
      target: settings(),
    });
    const refund = (n: number, amount: string, paymentRef: string | null): CanonicalRecord => ({
      kind: 'refund',
      sourceId: `RF-${n}`,
      externalReference: `RF-${n}`,
      customerSourceId: 'RF-C',
      date: '2026-11-10',
      amount,
      currency: 'EUR',
      paymentExternalReference: paymentRef,
      description: 'Overpaid',
    });
    const records: CanonicalRecord[] = [
      { kind: 'customer', sourceId: 'RF-C', name: 'E2E refund customer' },
      {
        kind: 'invoice',
        sourceId: 'RF-I1',
        externalReference: 'RF-I1',
        customerSourceId: 'RF-C',
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
      },
      // 200.00 paid against 121.00: 79.00 unused.
      {
        kind: 'payment',
        sourceId: 'RF-P1',
        externalReference: 'RF-P1',
        customerSourceId: 'RF-C',
        date: '2026-11-05',
        amount: '200.00',
        currency: 'EUR',
        invoiceExternalReference: 'RF-I1',
        description: '',
      },
      refund(1, '50.00', 'RF-P1'),
    ];
    zoho.dropNext(1, (r) => r.method === 'POST' && /^\/customerpayments\/\d+\/refunds$/.test(r.route));
    const dropped = zoho.stats.dropped;
    await sync.processRecords(
      pipeline,
      'import',
      'e2e',
      records.map((record) => ({ record })),
    );
    await drainTarget(t.db, sync, pipeline, 'Zoho Books');
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    expect(zoho.stats.dropped).toBeGreaterThan(dropped);
    const payment = [...org().payments.values()].filter((p) => p.reference_number === 'RF-P1');
    expect(payment).toHaveLength(1);
    const unused = () => {
      const p = org().payments.get(payment[0]!.payment_id)!;
      return p.amount - p.invoices.reduce((s, i) => s + i.amount_applied, 0n) - p.refunded;
    };
    const refunds = () => org().refunds.filter((r) => r.reference_number.startsWith('RF-'));
    // Once, though its answer was lost: 79.00 - 50.00 unused.
    expect(refunds().map((r) => [r.reference_number, r.payment_id, r.amount])).toEqual([
      ['RF-1', payment[0]!.payment_id, 5000n],
    ]);
    expect(unused()).toBe(2900n);
    const { rows } = await t.db.query<{ target_id: string }>(
      `SELECT target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'refund'`,
      [pipeline.id],
    );
    expect(rows.map((r) => r.target_id)).toEqual([refunds()[0]!.payment_refund_id]);

    // 150.01 is more than the payment still holds (29.00 unused, 121.00 applied to its invoice); a
    // refund naming no payment has nothing to return.
    const more = [refund(2, '150.01', 'RF-P1'), refund(3, '5.00', null)];
    const writes = zoho.stats.writes;
    for (let round = 0; round < 2; round++) {
      await sync.processRecords(
        pipeline,
        'import',
        'e2e',
        more.map((record) => ({ record })),
      );
      await drainTarget(t.db, sync, pipeline, 'Zoho Books');
    }
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code, p.field])).toEqual([
      ['RF-2', 'TARGET_REFUSED', 'amount'],
      ['RF-3', 'TARGET_REFUSED', 'paymentExternalReference'],
    ]);
    expect(parked[0]!.message).toMatch(
      /payment RF-P1 has 150\.00 EUR left to refund in Zoho Books \(29\.00 EUR unused, 121\.00 EUR applied to invoices\), less than the 150\.01 refunded/,
    );
    // Refused before anything was written, and not sent again.
    expect(zoho.stats.writes).toBe(writes);
    expect(refunds()).toHaveLength(1);
    expect(unused()).toBe(2900n);
    expect(zoho.duplicates(ORG)).toEqual([]);
    expect(zoho.violations).toEqual([]);
  }, 120_000);

  it('a revoked connection parks the documents with TARGET_AUTH_REVOKED, saying how to reconnect; nothing is written', async () => {
    await t.entity('ZB3', 'EUR', { standardTaxRate: '0.21' });
    const refresh = zoho.issueRefreshToken();
    const pipeline = await definePipeline(t.db, 'ZB3', {
      name: 'revoked-zoho',
      source: { type: 'records' },
      target: settings(refresh),
    });
    zoho.revoke(refresh);
    const writes = zoho.stats.writes;
    await sync.processRecords(pipeline, 'import', 'e2e', [
      { record: { kind: 'customer', sourceId: 'R-C', name: 'Revoked customer' } },
    ]);
    await drainTarget(t.db, sync, pipeline, 'Zoho Books').catch(() => undefined);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((p) => p.reason_code)).toEqual(['TARGET_AUTH_REVOKED']);
    expect(parked[0]!.message).toMatch(/Reconnect/);
    expect(parked[0]!.message).not.toContain(refresh);
    expect(parked[0]!.message).not.toContain(CLIENT.clientSecret);
    expect(zoho.stats.writes).toBe(writes);
  });
});
