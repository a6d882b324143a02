import { describe, expect, it } from 'vitest';
import {
  e2eRecords,
  expectInvoicesMapped,
  expectNumbersWrittenBack,
  expectSecondRunWritesNothing,
  expectAmountsAsGiven,
  heldOnce,
} from './helpers/platform-e2e.ts';
import { platformEngine } from './helpers/platform-engine.ts';
import { migrate } from '../src/db/migrate.ts';
import { openExceptions } from './helpers/sync.ts';
import { netSuiteTarget } from '../src/connectors/netsuite/index.ts';
import {
  type NetSuiteSimulator,
  type SimulatedRequest,
  startNetSuiteSimulator,
  testKeyPair,
  writes,
} from '../src/connectors/netsuite/simulator.ts';
import { createNetSuiteTarget } from '../src/connectors/netsuite/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { retryException } from '../src/sync/exceptions.ts';

/*
 * The NetSuite target end to end, through the engine, against the simulated account and its
 * token endpoint: 5% of write answers lost after committing, some 500s, the account's
 * concurrency limit enforced (requests take a while, so that they overlap), access tokens that
 * expire during the run and a 429 storm: zero duplicates, zero missing documents, NetSuite's
 * numbers (tranId) written back to the source, payments and credit memos applied to the invoices
 * they name, refusals parked with a stable reason and not sent again, and a revoked certificate
 * parked with TARGET_AUTH_REVOKED. Every request is checked against the simulator's contract.
 */

const ACCOUNT = '7654321';
const KEYS = testKeyPair();
const CLIENT = { clientId: 'e2e0c0ffee0123456789abcdef', certificateId: 'CERT-E2E-1' };
const REVOKED = { clientId: 'e2e0revoked0123456789', certificateId: 'CERT-E2E-2' };
const TBA = {
  consumerKey: 'e2e-consumer-key',
  consumerSecret: 'e2e-consumer-secret',
  tokenId: 'e2e-token',
  tokenSecret: 'e2e-token-secret',
};

let ns: NetSuiteSimulator;

const e2e = platformEngine({
  name: 'NetSuite',
  start: async (e) => {
    ns = e.closeLater(
      await startNetSuiteSimulator({
        accountId: ACCOUNT,
        clients: [
          { ...CLIENT, publicKey: KEYS.publicKey },
          { ...REVOKED, publicKey: KEYS.publicKey },
        ],
        tba: [TBA],
        currency: 'EUR',
        items: ['Sales'],
        seed: 11,
        dropAfterCommitRate: 0.05,
        failRate: 0.03,
        // Tokens that live 3 s, and at most 40 calls whatever the clock: new ones are asked for during the runs.
        accessTokenSeconds: 3,
        accessTokenUses: 40,
        concurrency: 3,
        latencyMs: 3,
      }),
    );
  },
  target: () => ({
    ...netSuiteTarget,
    create: (deps) => Promise.resolve(createNetSuiteTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40 } })),
  }),
});

const acct = () => ns.account;
const tax = (rate: string) => acct().taxCodes.find((c) => c.rate === rate)!.id;

function settings(client: Record<string, string> = { ...CLIENT, privateKey: KEYS.privateKey }) {
  return {
    type: 'netsuite',
    accountId: ACCOUNT,
    ...client,
    currency: 'EUR',
    defaultItemId: [...acct().items.values()].find((i) => i.itemId === 'Sales')!.id,
    taxRates: { '0.21': tax('21'), '0.09': tax('9'), '0': tax('0') },
    baseUrl: ns.baseUrl,
    tokenUrl: ns.tokenUrl,
    limits: { concurrent: 3 },
  };
}

/** Imports the records and drains what waits for NetSuite. */
const importAll = (pipeline: Pipeline, records: CanonicalRecord[]) => e2e.send(pipeline, records);
/** An invoice of 121.00 (100.00 + 21% VAT) under its source id as reference, unless `o` says otherwise. */
const invoice = (sourceId: string, customer: string, o: Partial<Extract<CanonicalRecord, { kind: 'invoice' }>> = {}) =>
  ({
    kind: 'invoice',
    sourceId,
    externalReference: sourceId,
    customerSourceId: customer,
    invoiceDate: '2026-11-02',
    dueDate: '2026-12-02',
    currency: 'EUR',
    description: '',
    lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
    ...o,
  }) satisfies CanonicalRecord;
const invoicesBy = (ref: string) =>
  acct()
    .invoices()
    .filter((d) => d.externalId === ref);

describe('NetSuite end to end', () => {
  it('iXpole → NetSuite: every instalment once through lost answers, within the concurrency limit, NetSuite’s numbers written back', async () => {
    // Beyond the random 5%: upserts whose answers are lost are sent again, updating what the first made.
    ns.dropNext(4, (r) => writes(r, 'invoice'));
    const tokens = ns.stats.tokens;
    const { ix, pipeline, codes } = await e2e.ixpoleRun({
      entity: 'NS1',
      name: 'ix-to-netsuite',
      target: settings(),
      pageSize: 20,
    });
    for (const code of codes) expect(invoicesBy(code), code).toHaveLength(1);
    expect(ns.duplicates()).toEqual([]);
    expect(ns.stats.dropped).toBeGreaterThanOrEqual(4);
    // Paced: the account never had more in flight than it allows.
    expect(ns.stats.rateRefused).toBe(0);
    expect(ns.stats.maxInFlight).toBeLessThanOrEqual(3);

    // Written back: NetSuite's own number of each invoice.
    expectNumbersWrittenBack(ix, {
      atLeast: codes.length,
      numberOf: (code) => invoicesBy(code)[0]?.tranId,
      format: /^INV\d{5}$/,
    });
    // Amounts as iXpole gave them.
    expectAmountsAsGiven(ix, 10, (code) => invoicesBy(code)[0]!.lines);

    // A second run books nothing again.
    await expectSecondRunWritesNothing(e2e.db, e2e.sync, pipeline, () => ns.stats.writes);
    expect(ns.violations).toEqual([]);
    // Tokens expired during the run and new ones were granted.
    expect(ns.stats.tokens - tokens).toBeGreaterThan(1);
  }, 120_000);

  it('records → NetSuite: payments applied to the invoices they name, credit memos and unapplied payments set against invoices, through lost answers and a 429 storm', async () => {
    const pipeline = await e2e.recordsPipeline('NS2', 'records-to-netsuite', settings());
    const { customers, invoices, payment: pay, refund, creditNote, allocation } = e2eRecords('N2');
    const records: CanonicalRecord[] = [
      ...customers(),
      ...invoices(12),
      pay(1, 'A', '121.00', 'N2-I1'),
      pay(2, 'B', '50.00', 'N2-I2'),
      pay(3, 'C', '30.00', null),
      // Paid on account, then 20.00 of it refunded.
      pay(4, 'B', '50.00', null),
      refund(1, 'B', '20.00', 'N2-P4', { date: '2026-11-07', description: 'Overpaid' }),
      allocation(1, 'C', '30.00', 'N2-I3', 'payment', 'N2-P3'),
      creditNote(1, 'A', 'N2-I4'),
      allocation(2, 'A', '24.20', 'N2-I4', 'creditNote', 'N2-N1'),
    ];
    const dropped = ns.stats.dropped;
    const refused429 = ns.stats.rateRefused;
    ns.dropNext(2, (r) => writes(r, 'customerPayment'));
    ns.dropNext(1, (r) => r.method === 'PATCH' && r.route.startsWith('/creditMemo/'));
    ns.dropNext(1, (r) => r.method === 'PATCH' && r.route.startsWith('/customerPayment/'));
    ns.dropNext(1, (r) => writes(r, 'customerRefund'));
    // A storm: the account answers 429 to the next requests, whoever sends them.
    ns.failNext(429, 429, 429, 429, 429, 429);
    ns.expireAccessTokens();
    await importAll(pipeline, records);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);

    const one = (ref: string) => heldOnce(invoicesBy(ref), ref);
    for (let n = 1; n <= 12; n++) expect(one(`N2-I${n}`).total).toBe(12100n);
    const due = (ref: string) => acct().remaining(one(ref));
    expect(['N2-I1', 'N2-I2', 'N2-I3', 'N2-I4', 'N2-I5'].map(due)).toEqual([0n, 7100n, 9100n, 9680n, 12100n]);
    const paymentOf = (ref: string) => [...acct().payments.values()].filter((p) => p.externalId === ref);
    expect(paymentOf('N2-P1').map((p) => [...p.apply])).toEqual([[[one('N2-I1').id, 12100n]]]);
    expect(paymentOf('N2-P2').map((p) => [...p.apply])).toEqual([[[one('N2-I2').id, 5000n]]]);
    expect(paymentOf('N2-P3').map((p) => [...p.apply])).toEqual([[[one('N2-I3').id, 3000n]]]);
    const notes = acct()
      .creditMemos()
      .filter((d) => d.externalId === 'N2-N1');
    expect(notes.map((d) => [d.total, [...d.apply]])).toEqual([[2420n, [[one('N2-I4').id, 2420n]]]]);
    // The refund took 20.00 of the payment on account, once.
    const p4 = paymentOf('N2-P4')[0]!;
    const refunds = [...acct().refunds.values()].filter((r) => r.externalId === 'N2-R1');
    expect(refunds.map((r) => [...r.apply])).toEqual([[[p4.id, 2000n]]]);
    expect(acct().unapplied(p4)).toBe(3000n);
    // What the engine mapped is what NetSuite holds, with NetSuite's numbers.
    await expectInvoicesMapped(e2e.db, pipeline, 12, (ref) => ({ id: one(ref).id, number: one(ref).tranId }));
    expect(ns.duplicates()).toEqual([]);
    expect(ns.violations).toEqual([]);
    // The storm was answered, and the four answers were lost.
    expect(ns.stats.rateRefused - refused429).toBeGreaterThanOrEqual(6);
    expect(ns.stats.dropped - dropped).toBeGreaterThanOrEqual(5);

    // Sent again: nothing new.
    await e2e.expectResendWritesNothing(pipeline, records, () => ns.stats.writes);
  }, 120_000);

  it('records → NetSuite: a payment and its refund before their invoice: the refund takes the unapplied money at once, the invoice the rest once booked', async () => {
    const pipeline = await e2e.recordsPipeline('NS6', 'early-to-netsuite', settings());
    const { customers, payment, refund } = e2eRecords('N6');
    await importAll(pipeline, [
      ...customers(),
      payment(1, 'A', '121.00', 'N6-I1'),
      refund(1, 'A', '20.00', 'N6-P1', { date: '2026-11-07', description: 'Refunded in part' }),
    ]);
    // NetSuite refunds what a payment holds unapplied: the refund does not wait for the invoice
    // (into QuickBooks it would: capabilities.refundsNeedAppliedPayment).
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    const p1 = [...acct().payments.values()].find((p) => p.externalId === 'N6-P1')!;
    expect([...acct().refunds.values()].filter((r) => r.externalId === 'N6-R1').map((r) => [...r.apply])).toEqual([
      [[p1.id, 2000n]],
    ]);
    expect(acct().unapplied(p1)).toBe(10100n);

    await importAll(pipeline, [invoice('N6-I1', 'N6-A')]);
    // The run's sweep applies it; a call the simulator failed leaves the note for the timer's.
    const notes = async () =>
      (await e2e.db.query(`SELECT 1 FROM payments_before_invoice WHERE pipeline_id = $1`, [pipeline.id])).rows.length;
    for (let i = 0; i < 10 && (await notes()) > 0; i++) await e2e.sync.flushAll();
    expect(await notes()).toBe(0);
    const [inv] = invoicesBy('N6-I1');
    expect([...p1.apply]).toEqual([[inv!.id, 10100n]]);
    expect([acct().unapplied(p1), acct().remaining(inv!)]).toEqual([0n, 2000n]);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expect(ns.duplicates()).toEqual([]);
    expect(ns.violations).toEqual([]);
  });

  it('records → NetSuite: a refund of a payment applied in full takes the refunded money off its invoice, as when the refund came first; never twice through a lost answer', async () => {
    const pipeline = await e2e.recordsPipeline('NS8', 'refund-applied-netsuite', settings());
    const { customers, invoice: inv, payment, refund: refundOf } = e2eRecords('N8');
    const refund = (n: number, amount: string, paymentRef: string) => refundOf(n, 'A', amount, paymentRef);
    // I1 paid in full by P1, I2 paid 150.00 (29.00 of it unapplied) by P2: in the natural order.
    await importAll(pipeline, [
      ...customers(['A']),
      inv(1, 'A'),
      inv(2, 'A'),
      payment(1, 'A', '121.00', 'N8-I1'),
      payment(2, 'A', '150.00', 'N8-I2'),
    ]);
    // The application taken off is not sent again after its answer is lost: what is left is read again.
    ns.dropNext(1, (r) => r.method === 'PATCH' && r.route.startsWith('/customerPayment/'));
    await importAll(pipeline, [refund(1, '20.00', 'N8-P1'), refund(2, '121.00', 'N8-P2')]);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    const paid = (ref: string) => [...acct().payments.values()].find((p) => p.externalId === ref)!;
    const refunded = (ref: string) =>
      [...acct().refunds.values()].filter((r) => r.externalId === ref).map((r) => [...r.apply]);
    const [i1, i2] = [invoicesBy('N8-I1')[0]!, invoicesBy('N8-I2')[0]!];
    // The books of test "a payment and its refund before their invoice": the invoice owes what was refunded.
    expect(refunded('N8-R1')).toEqual([[[paid('N8-P1').id, 2000n]]]);
    expect([...paid('N8-P1').apply]).toEqual([[i1.id, 10100n]]);
    expect([acct().unapplied(paid('N8-P1')), acct().remaining(i1)]).toEqual([0n, 2000n]);
    // The 29.00 unapplied first, then 92.00 off the invoice.
    expect(refunded('N8-R2')).toEqual([[[paid('N8-P2').id, 12100n]]]);
    expect([...paid('N8-P2').apply]).toEqual([[i2.id, 2900n]]);
    expect([acct().unapplied(paid('N8-P2')), acct().remaining(i2)]).toEqual([0n, 9200n]);
    expect(ns.stats.dropped).toBeGreaterThanOrEqual(1);

    // More than the payment holds, refunds counted: refused before anything is written.
    const writesBefore = ns.stats.writes;
    await importAll(pipeline, [refund(3, '101.01', 'N8-P1')]);
    const parked = await openExceptions(e2e.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code])).toEqual([['N8-R3', 'TARGET_REFUSED']]);
    expect(parked[0]!.message).toMatch(
      /payment N8-P1 holds 101\.00 of its 121\.00 not refunded yet, less than the 101\.01 refunded/,
    );
    expect(ns.stats.writes).toBe(writesBefore);
    expect([...paid('N8-P1').apply]).toEqual([[i1.id, 10100n]]);

    // A refund NetSuite refuses (its period closed) leaves the payment applied as it was.
    acct().closedUntil = '2026-11-30';
    await importAll(pipeline, [refund(4, '5.00', 'N8-P1')]);
    acct().closedUntil = null;
    const refusedToo = (await openExceptions(e2e.db, pipeline)).filter((p) => p.source_id === 'N8-R4');
    expect(refusedToo.map((p) => [p.reason_code, p.message])).toEqual([
      [
        'TARGET_REFUSED',
        expect.stringMatching(/refused refund N8-R4 .*accounting period of this transaction is closed/),
      ],
    ]);
    expect(refusedToo[0]!.message).not.toMatch(/could not be applied/);
    expect(refunded('N8-R4')).toEqual([]);
    expect([...paid('N8-P1').apply]).toEqual([[i1.id, 10100n]]);

    // From here on, no random faults: each case below is one fault at one step, and what it is
    // parked with names that step (a random fault elsewhere would be the last error instead).
    const faults = ns.options as { failRate?: number; dropAfterCommitRate?: number };
    const rates = { ...faults };
    Object.assign(faults, { failRate: 0, dropAfterCommitRate: 0 });

    // NetSuite down for refunds through every attempt, then given up: each attempt put back what it
    // took off the invoice, so the invoice owes nothing that nobody was refunded.
    const refundPut = (r: SimulatedRequest) => writes(r, 'customerRefund');
    const up = ns.failWhile(refundPut);
    await importAll(pipeline, [refund(5, '30.00', 'N8-P1')]);
    up();
    const givenUp = (await openExceptions(e2e.db, pipeline)).filter((p) => p.source_id === 'N8-R5');
    expect(givenUp.map((p) => [p.reason_code, p.message])).toEqual([
      [
        'TARGET_UNAVAILABLE',
        expect.stringMatching(/did not take this document after \d+ attempts; the last: NetSuite: .*503/),
      ],
    ]);
    expect(givenUp[0]!.message).not.toMatch(/owes the money again/);
    expect(refunded('N8-R5')).toEqual([]);
    expect([...paid('N8-P1').apply]).toEqual([[i1.id, 10100n]]);

    // Booked, its answer lost, and any resend refused: a creation is never sent again by the client;
    // the refund is found under its external id, and done.
    let puts = 0;
    ns.dropNext(1, refundPut);
    const busy = ns.failWhile((r) => refundPut(r) && ++puts > 1);
    await importAll(pipeline, [refund(6, '30.00', 'N8-P1')]);
    busy();
    expect((await openExceptions(e2e.db, pipeline)).filter((p) => p.source_id === 'N8-R6')).toEqual([]);
    expect(puts).toBe(1);
    expect(refunded('N8-R6')).toEqual([[[paid('N8-P1').id, 3000n]]]);
    expect([...paid('N8-P1').apply]).toEqual([[i1.id, 7100n]]);

    // Not booked, and the payment could not be applied again either: parked at once, naming the
    // invoice that owes the money again; its retry books the refund from what is now unapplied,
    // taking nothing more off.
    let patches = 0;
    const down = [
      ns.failWhile(refundPut),
      ns.failWhile((r) => r.method === 'PATCH' && r.route.startsWith('/customerPayment/') && ++patches > 1),
    ];
    await importAll(pipeline, [refund(7, '5.00', 'N8-P1')]);
    for (const lift of down) lift();
    Object.assign(faults, rates);
    const stuck = (await openExceptions(e2e.db, pipeline)).filter((p) => p.source_id === 'N8-R7');
    expect(stuck.map((p) => [p.reason_code, p.message])).toEqual([
      [
        'TARGET_UNAVAILABLE',
        expect.stringMatching(
          /^Refund N8-R7 was not booked and payment N8-P1 stays taken off invoice \S+ \(EUR 5\.00\), which owes the money again: retry the refund once NetSuite answers/,
        ),
      ],
    ]);
    expect([...paid('N8-P1').apply]).toEqual([[i1.id, 6600n]]);
    const { rows: parkedR7 } = await e2e.db.query<{ id: string }>(
      `SELECT id FROM exceptions WHERE pipeline_id = $1 AND source_id = 'N8-R7' AND status = 'open'`,
      [pipeline.id],
    );
    await retryException(e2e.db, e2e.sync, Number(parkedR7[0]!.id), 'test');
    await e2e.drain(pipeline);
    expect((await openExceptions(e2e.db, pipeline)).filter((p) => p.source_id === 'N8-R7')).toEqual([]);
    expect(refunded('N8-R7')).toEqual([[[paid('N8-P1').id, 500n]]]);
    expect([...paid('N8-P1').apply]).toEqual([[i1.id, 6600n]]);
    expect(ns.duplicates()).toEqual([]);
    expect(ns.violations).toEqual([]);
  });

  it('migration 0108: a payment an older version booked before its invoice becomes a note, and is applied once the invoice is booked', async () => {
    const pipeline = await e2e.recordsPipeline('NS7', 'upgraded-to-netsuite', settings());
    const { customers, invoice: inv, payment } = e2eRecords('N7');
    const notes = async () =>
      (
        await e2e.db.query<{ payment_source_id: string; invoice_reference: string }>(
          `SELECT payment_source_id, invoice_reference FROM payments_before_invoice WHERE pipeline_id = $1 ORDER BY 1`,
          [pipeline.id],
        )
      ).rows;
    /** Runs until no note is left but those of `waiting` (a call the simulator failed leaves its note for the timer's). */
    const sweep = async (waiting: string[] = []) => {
      await e2e.drain(pipeline);
      for (let i = 0; i < 10 && (await notes()).some((n) => !waiting.includes(n.payment_source_id)); i++)
        await e2e.sync.flushAll();
    };
    // P1 before I1 and P2 naming no invoice, as a version before 0107 left them: booked, no note.
    await importAll(pipeline, [
      ...customers(['A']),
      payment(1, 'A', '121.00', 'N7-I1'),
      payment(2, 'A', '30.00', null),
    ]);
    await sweep(['N7-P1']);
    await e2e.db.query(`DELETE FROM payments_before_invoice WHERE pipeline_id = $1`, [pipeline.id]);
    await e2e.db.query(
      `UPDATE sync_map SET created_at = (SELECT applied_at - interval '1 day' FROM ledgerlink_migrations WHERE id = 107)
        WHERE pipeline_id = $1`,
      [pipeline.id],
    );
    // P3 before I3 since the upgrade: noted then, applied once I3 came, its note gone.
    await importAll(pipeline, [payment(3, 'A', '121.00', 'N7-I3')]);
    await sweep(['N7-P3']);
    await importAll(pipeline, [inv(3, 'A')]);
    await sweep();
    expect(await notes()).toEqual([]);

    await e2e.db.query(`DELETE FROM ledgerlink_migrations WHERE id = 108`);
    expect(await migrate(e2e.db)).toEqual(['0108_early_payments_noted']);
    expect(await notes()).toEqual([{ payment_source_id: 'N7-P1', invoice_reference: 'N7-I1' }]);

    await importAll(pipeline, [inv(1, 'A')]);
    await sweep();
    expect(await notes()).toEqual([]);
    const paid = (ref: string) => [...acct().payments.values()].find((p) => p.externalId === ref)!;
    const [i1] = invoicesBy('N7-I1');
    expect([...paid('N7-P1').apply]).toEqual([[i1!.id, 12100n]]);
    expect(acct().remaining(i1!)).toBe(0n);
    expect(acct().unapplied(paid('N7-P2'))).toBe(3000n);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expect(ns.duplicates()).toEqual([]);
  });

  it('a refused invoice is parked with TARGET_REFUSED and NetSuite’s words, and not sent again', async () => {
    const pipeline = await e2e.recordsPipeline('NS3', 'refused-netsuite', settings());
    acct().closedUntil = '2001-12-31';
    const records: CanonicalRecord[] = [
      { kind: 'customer', sourceId: 'N3-C', name: 'Closed period customer' },
      invoice('N3-I1', 'N3-C', { invoiceDate: '2001-06-01', dueDate: '2001-07-01' }),
      invoice('N3-I2', 'N3-C', { currency: 'USD' }),
      invoice('N3-I3', 'N3-C', { externalReference: 'N3.I3' }),
      e2eRecords('N3').refund(1, 'C', '5.00', null, { date: '2026-06-02' }),
    ];
    await importAll(pipeline, records);
    const parked = await openExceptions(e2e.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code])).toEqual([
      ['N3-I1', 'TARGET_REFUSED'],
      ['N3-I2', 'CURRENCY_MISMATCH'],
      ['N3-I3', 'TARGET_REFUSED'],
      ['N3-R1', 'TARGET_REFUSED'],
    ]);
    // A reference NetSuite cannot hold as an external id is refused before anything is sent.
    expect(parked[2]!.message).toMatch(
      /external ids take letters, digits, "_" and "-" only; reference "N3.I3" has "\."/,
    );
    expect(ns.requests.filter((r) => r.route.includes('N3.I3'))).toEqual([]);
    expect(parked[3]!.message).toMatch(/must name the payment it returns/);
    expect(parked[0]!.message).toMatch(/USER_ERROR: The accounting period of this transaction is closed/);
    const tries = ns.requests.filter((r) => writes(r, 'invoice', 'N3-I1')).length;
    // Sent until NetSuite answered (a 500 before anything is done may precede the refusal), then never again.
    expect(tries).toBeGreaterThanOrEqual(1);
    await e2e.sync.flushAll();
    await e2e.sync.flushAll();
    expect(ns.requests.filter((r) => writes(r, 'invoice', 'N3-I1'))).toHaveLength(tries);
    acct().closedUntil = null;
  });

  it('a revoked certificate mapping parks the documents with TARGET_AUTH_REVOKED; nothing is written and no secret is told', async () => {
    const pipeline = await e2e.recordsPipeline(
      'NS4',
      'revoked-netsuite',
      settings({ ...REVOKED, privateKey: KEYS.privateKey }),
    );
    ns.revoke(REVOKED.clientId);
    await e2e.expectRevokedParked(pipeline, {
      writes: () => ns.stats.writes,
      message: /invalid_grant/,
      secrets: ['PRIVATE KEY'],
    });
  });

  it('token-based authentication: every request signed; documents booked; a revoked token parks with TARGET_AUTH_REVOKED', async () => {
    const pipeline = await e2e.recordsPipeline('NS5', 'tba-netsuite', settings(TBA));
    const inv = (n: number) => invoice(`N5-I${n}`, 'N5-C');
    await importAll(pipeline, [
      { kind: 'customer', sourceId: 'N5-C', name: 'Signed customer' },
      inv(1),
      {
        kind: 'payment',
        sourceId: 'N5-P1',
        externalReference: 'N5-P1',
        customerSourceId: 'N5-C',
        date: '2026-11-03',
        amount: '121.00',
        currency: 'EUR',
        invoiceExternalReference: 'N5-I1',
        description: '',
      },
    ]);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expect(acct().remaining(invoicesBy('N5-I1')[0]!)).toBe(0n);
    expect(ns.violations).toEqual([]);

    ns.revokeToken(TBA.tokenId);
    await e2e.send(pipeline, [inv(2)], { mayStillWait: true });
    const parked = await openExceptions(e2e.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code])).toEqual([['N5-I2', 'TARGET_AUTH_REVOKED']]);
    expect(parked[0]!.message).toMatch(/issue a new token/);
    expect(parked[0]!.message).not.toContain(TBA.tokenSecret);
    expect(invoicesBy('N5-I2')).toEqual([]);
  });
});
