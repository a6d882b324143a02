import { describe, expect, it } from 'vitest';
import {
  expectNumbersWrittenBack,
  expectSecondRunWritesNothing,
  expectAmountsAsGiven,
  expectInvoicesMapped,
  e2eRecords,
  heldOnce,
} from './helpers/platform-e2e.ts';
import { onScaledMinute, platformEngine } from './helpers/platform-engine.ts';
import { openExceptions } from './helpers/sync.ts';
import { zohoBooksTarget } from '../src/connectors/zohobooks/index.ts';
import { type ZohoBooksSimulator, startZohoBooksSimulator } from '../src/connectors/zohobooks/simulator.ts';
import { createZohoBooksTarget } from '../src/connectors/zohobooks/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';

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

let zoho: ZohoBooksSimulator;

const e2e = platformEngine({
  name: 'Zoho Books',
  pdfs: true,
  start: async (e) => {
    zoho = e.closeLater(
      await startZohoBooksSimulator({
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
      }),
    );
  },
  // The planner on the simulator's scaled clock, with the margin production gives a minute.
  target: onScaledMinute(zohoBooksTarget, createZohoBooksTarget, MINUTE_MS),
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
    // Beyond the random 5%: the engine must look these invoices up before sending them again.
    zoho.dropNext(4, (r) => r.method === 'POST' && r.route === '/invoices');
    const { ix, pipeline, codes } = await e2e.ixpoleRun({
      entity: 'ZB1',
      name: 'ix-to-zoho',
      target: settings(),
      pageSize: 20,
    });
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
    await expectSecondRunWritesNothing(e2e.db, e2e.sync, pipeline, () => zoho.stats.writes);
    expect(zoho.violations).toEqual([]);
    expect(zoho.stats.refreshes).toBeGreaterThan(1);
  }, 120_000);

  it('records → Zoho Books: payments applied to the invoices they name, credit notes and unused payments set against invoices, nothing lost or doubled', async () => {
    const pipeline = await e2e.recordsPipeline('ZB2', 'records-to-zoho', settings());
    const { customers, invoices, payment: pay, creditNote, allocation } = e2eRecords();
    const records: CanonicalRecord[] = [
      ...customers(),
      ...invoices(12),
      // Paid in full, in part, and one unassigned then set against an invoice.
      pay(1, 'A', '121.00', 'E2-I1'),
      pay(2, 'B', '50.00', 'E2-I2'),
      pay(3, 'C', '30.00', null),
      allocation(1, 'C', '30.00', 'E2-I3', 'payment', 'E2-P3'),
      creditNote(1, 'A', 'E2-I4'),
      allocation(2, 'A', '24.20', 'E2-I4', 'creditNote', 'E2-N1'),
    ];
    zoho.dropNext(2, (r) => r.method === 'POST' && r.route === '/customerpayments');
    zoho.dropNext(1, (r) => r.method === 'POST' && /^\/creditnotes\/\d+\/invoices$/.test(r.route));
    await e2e.send(pipeline, records);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);

    const one = (ref: string) => heldOnce(invoicesBy(ref), ref);
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
    await expectInvoicesMapped(e2e.db, pipeline, 12, (ref) => ({ id: one(ref).id, number: one(ref).number }));
    expect(zoho.duplicates(ORG)).toEqual([]);
    expect(zoho.stats.rateRefused).toBe(0);
    expect(zoho.violations).toEqual([]);

    // Sent again: nothing new.
    await e2e.expectResendWritesNothing(pipeline, records, () => zoho.stats.writes);
  }, 120_000);

  it('records → Zoho Books: a refund of a payment’s unused amount booked once through a lost answer; one too large, or naming no payment, parked and not resent', async () => {
    const pipeline = await e2e.recordsPipeline('ZB4', 'refunds-to-zoho', settings());
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
    await e2e.send(pipeline, records);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
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
    const { rows } = await e2e.db.query<{ target_id: string }>(
      `SELECT target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'refund'`,
      [pipeline.id],
    );
    expect(rows.map((r) => r.target_id)).toEqual([`${refunds()[0]!.payment_id}:${refunds()[0]!.payment_refund_id}`]);

    // 150.01 is more than the payment still holds (29.00 unused, 121.00 applied to its invoice); a
    // refund naming no payment has nothing to return.
    const more = [refund(2, '150.01', 'RF-P1'), refund(3, '5.00', null)];
    const writes = zoho.stats.writes;
    for (let round = 0; round < 2; round++) await e2e.send(pipeline, more);
    const parked = await openExceptions(e2e.db, pipeline);
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
    const refresh = zoho.issueRefreshToken();
    const pipeline = await e2e.recordsPipeline('ZB3', 'revoked-zoho', settings(refresh));
    zoho.revoke(refresh);
    await e2e.expectRevokedParked(pipeline, {
      writes: () => zoho.stats.writes,
      message: /Reconnect/,
      secrets: [refresh, CLIENT.clientSecret],
    });
  });
});
