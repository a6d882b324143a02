import { describe, expect, it } from 'vitest';
import {
  expectAmountsAsGiven,
  expectInvoicesMapped,
  expectNumbersWrittenBack,
  expectSecondRunWritesNothing,
  e2eRecords,
  heldOnce,
} from './helpers/platform-e2e.ts';
import { platformEngine } from './helpers/platform-engine.ts';
import { openExceptions } from './helpers/sync.ts';
import { myobTarget } from '../src/connectors/myob/index.ts';
import { type MyobSimulator, startMyobSimulator } from '../src/connectors/myob/simulator.ts';
import { createMyobTarget } from '../src/connectors/myob/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';

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

let myob: MyobSimulator;

const e2e = platformEngine({
  name: 'MYOB',
  pdfs: true,
  start: async (e) => {
    myob = e.closeLater(
      await startMyobSimulator({
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
      }),
    );
  },
  target: (t) => ({
    ...myobTarget,
    create: (deps) =>
      Promise.resolve(
        createMyobTarget(deps, {
          planner: createRatePlanner(t.db, { marginMs: () => 100 }),
          rateWaitMs: 20,
          client: { backoffBaseMs: 5, backoffMaxMs: 40 },
        }),
      ),
  }),
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

const file = () => myob.file(FILE);
const salesBy = (ref: string) => [...file().sales.values()].filter((s) => s.reference === ref);

describe('MYOB end to end', () => {
  it('iXpole → MYOB: every instalment once through lost answers, a 403 storm and expiring tokens, MYOB’s numbers and PDFs written back', async () => {
    // Beyond the random 5%: the engine must look these sales up before sending them again.
    myob.dropNext(4, (r) => r.method === 'POST' && r.route === 'Sale/Invoice/Service');
    // A storm: MYOB refuses the next calls for the key's rate; they are paced and sent again.
    myob.failNext(403, 403, 403, 403);
    const { ix, pipeline, codes } = await e2e.ixpoleRun({
      entity: 'MY1',
      name: 'ix-to-myob',
      target: settings(),
      pageSize: 20,
    });
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
    // Amounts as iXpole gave them: MYOB's tax from the tax code matches iXpole's VAT (a line's total is its net).
    expectAmountsAsGiven(ix, 10, (code) => salesBy(code)[0]!.lines.map((l) => ({ net: l.total, tax: l.tax })));

    // A second run books nothing again.
    await expectSecondRunWritesNothing(e2e.db, e2e.sync, pipeline, () => myob.stats.writes);
    expect(myob.violations).toEqual([]);
    expect(myob.stats.refreshes).toBeGreaterThan(1);
  }, 180_000);

  it('records → MYOB: payments applied to the invoices they name, a credit note settled, refusals parked and not sent again', async () => {
    const pipeline = await e2e.recordsPipeline('MY2', 'records-to-myob', settings());
    const { customers, payment: pay, creditNote, allocation } = e2eRecords();
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
    const invoices = [...Array(9).keys()].map((i) => inv(i + 1, ['A', 'B', 'C'][i % 3]!));
    const records: CanonicalRecord[] = [
      ...customers(),
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
      creditNote(1, 'A', 'E2-I4'),
      allocation(2, 'A', '24.20', 'E2-I4', 'creditNote', 'E2-N1'),
    ];
    file().financialYearStart = '2001-07-01';
    myob.dropNext(2, (r) => r.method === 'POST' && r.route === 'Sale/CustomerPayment');
    myob.dropNext(1, (r) => r.method === 'POST' && r.route === 'Sale/CreditSettlement');
    myob.expireAccessTokens();
    await e2e.send(pipeline, records);

    const parked = await openExceptions(e2e.db, pipeline);
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

    const one = (ref: string) => heldOnce(salesBy(ref), ref);
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
    await expectInvoicesMapped(e2e.db, pipeline, 9, (ref) => ({ id: one(ref).UID, number: one(ref).Number }));
    expect(myob.duplicates(FILE)).toEqual([]);
    expect(myob.violations).toEqual([]);

    // Refused is final: the timer's flushes send nothing again and leave the refusals parked as they were.
    await e2e.expectFlushesSendNothing(pipeline, { parked, sent: () => myob.stats.writes });
    // The source sending the batch again books nothing new (the engine tries the refused sale once more; MYOB refuses it again).
    const sales = file().sales.size;
    await e2e.send(pipeline, records);
    expect(file().sales.size).toBe(sales);
    expect(file().payments.size).toBe(2);
    expect((await openExceptions(e2e.db, pipeline)).map((p) => [p.source_id, p.reason_code])).toEqual(
      parked.map((p) => [p.source_id, p.reason_code]),
    );
  }, 120_000);

  it('a revoked connection parks the documents with TARGET_AUTH_REVOKED, saying how to reconnect; nothing is written', async () => {
    const refresh = myob.issueRefreshToken();
    const pipeline = await e2e.recordsPipeline('MY3', 'revoked-myob', settings(refresh));
    myob.revoke(refresh);
    await e2e.expectRevokedParked(pipeline, {
      writes: () => myob.stats.writes,
      message: /Reconnect/,
      secrets: [refresh, CLIENT.clientSecret],
    });
  });
});
