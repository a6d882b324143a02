/**
 * A payment provider's fee keyed by hand. A bookkeeper keyed the receipt by hand, and its fee too,
 * as a general journal under the payment's reference (bank charges debited, the bank credited).
 * A pipeline linking the payment to that receipt found no fee recorded for it (receipt_fees) and
 * posted the fee again: the bank was short by the fee twice. Now that journal is recognised and
 * recorded as the receipt's fee, nothing posted; one that may not be this fee (another amount,
 * another currency, several journals, another receipt it could belong to) parks the payment, and
 * nothing is posted. A journal that is not a fee of this bank under this reference changes nothing:
 * the fee is posted, and the run records the payment `updated`, not skipped (something was written).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPayments } from '../src/connectors/ledger/payments.ts';
import type { Database, Queryable } from '../src/db/database.ts';
import { openPostgres } from '../src/db/postgres.ts';
import { findEntityByCode } from '../src/ledger/entities.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { getRun, listRunRecords } from '../src/sync/runs.ts';
import type { TargetPayment } from '../src/sync/target.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { holdTransaction, onPostgres, waitBlockedBehind } from './helpers/db.ts';
import { accountBalance, checkInvariants } from './helpers/ledger.ts';
import {
  customerRecord,
  definePipeline,
  openExceptions,
  paymentRecord as payment,
  syncService,
} from './helpers/sync.ts';

let t: TestApp;
let side: Database | null = null;
let n = 0;

beforeAll(async () => {
  t = await createTestApp();
  if (onPostgres) {
    const { rows } = await t.db.query<{ schema: string }>('SELECT current_schema() AS schema');
    side = await openPostgres(process.env.DATABASE_URL!, { schema: rows[0]!.schema, max: 2 });
  }
}, 60_000);
afterAll(async () => {
  await side?.close();
  await t.close();
});

type Pipeline = Awaited<ReturnType<typeof definePipeline>>;

async function setUp(): Promise<{ c: Client; code: string; pipeline: Pipeline }> {
  const code = `LKF${++n}`;
  const c = await t.entity(code, 'EUR', { standardTaxRate: '0.21' });
  const pipeline = await definePipeline(t.db, code, { name: 'records', source: { type: 'records' } });
  return { c, code, pipeline };
}

/** A fresh entity with a USD rate of 1.25 from 2026-01-01, and customers K1 (EUR) and K2 (USD) booked. */
async function setUpUsd() {
  const set = await setUp();
  expect((await set.c.put('/v1/currencies/USD/rates/2026-01-01', { rate: '1.25' })).status).toBe(201);
  await run(set.pipeline, [
    customerRecord('K1'),
    { kind: 'customer', sourceId: 'K2', name: 'Yankee', currency: 'USD' },
  ]);
  return set;
}

/** Runs the engine over these records: what each came to, with its run record's message, and the run's counts. */
async function run(pipeline: Pipeline, records: CanonicalRecord[]) {
  const runId = await syncService(t.db).processRecords(
    pipeline,
    'import',
    'test',
    records.map((record) => ({ record })),
  );
  const outcomes = await listRunRecords(t.db, runId, 1000, 0);
  const counts = (await getRun(t.db, runId))!.counts;
  const of = (sourceId: string) => {
    const r = outcomes.find((x) => x.kind === 'payment' && x.sourceId === sourceId);
    return r ? [r.outcome, r.message] : ['none', null];
  };
  return { of, counts };
}

/** A receipt keyed by hand through the API. */
async function keyReceipt(c: Client, body: Record<string, unknown>) {
  const r = await c.post('/v1/sales/receipts', { customerCode: 'K1', paymentDate: '2026-11-03', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return Number(r.body.transactionId);
}

/** A journal keyed by hand through the API: by default a fee, 7700 debited and the bank (1200) credited, on the payout date. */
async function keyJournal(
  c: Client,
  reference: string,
  amount: string,
  o: { debit?: string; credit?: string; reversal?: string; currency?: string } = {},
) {
  const r = await c.post('/v1/journals', {
    date: '2026-11-06',
    reference,
    description: 'Stripe fee',
    ...(o.currency ? { currency: o.currency } : {}),
    lines: [
      { glAccountCode: o.debit ?? '7700', debit: amount },
      { glAccountCode: o.credit ?? '1200', credit: amount },
    ],
    ...(o.reversal ? { reversal: { date: o.reversal } } : {}),
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return Number(r.body.transactionId);
}

async function documents(entityId: string) {
  const { rows } = await t.db.query<{ id: string; type: string; ref: string; gross: string }>(
    `SELECT id, type, external_reference AS ref, gross::text AS gross FROM transactions WHERE entity_id = $1 ORDER BY id`,
    [entityId],
  );
  return rows.map((r) => [r.type, r.ref, r.gross]);
}

/** Each receipt's fee as receipt_fees ties them: [receipt id, fee journal id]. */
async function fees(entityId: string) {
  const { rows } = await t.db.query<{ receipt_id: string; fee_transaction_id: string }>(
    'SELECT receipt_id, fee_transaction_id FROM receipt_fees WHERE entity_id = $1 ORDER BY receipt_id',
    [entityId],
  );
  return rows.map((r) => [Number(r.receipt_id), Number(r.fee_transaction_id)]);
}

async function expectBalanced(entityId: string) {
  const { rows } = await t.db.query(
    `SELECT transaction_id FROM journal_lines WHERE entity_id = $1
      GROUP BY transaction_id HAVING sum(amount) <> 0 OR sum(base_amount) <> 0`,
    [entityId],
  );
  expect(rows).toEqual([]);
  await checkInvariants(t.db, entityId);
}

const parkedBy = async (pipeline: Pipeline) =>
  (await openExceptions(t.db, pipeline)).map((x) => [x.source_id, x.reason_code, x.field]);

describe(`a payment linked to a receipt keyed by hand, its fee keyed by hand too (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('recognises the fee journal: records it as the receipt’s fee and posts no second fee', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1')]);
    const receipt = await keyReceipt(c, { checkReference: 'PAY-1', paymentAmount: '100.00' });
    // Keyed on the provider's payout date, not the payment's: the date is not compared.
    const journal = await keyJournal(c, 'PAY-1', '1.50');
    expect(await accountBalance(t.db, c.entityId, '1200')).toBe(9850n);

    const linked = await run(pipeline, [payment('PAY-1', '100.00', { fee: '1.50' })]);
    // Before, the fee was posted again: a third document, and the bank at 97.00.
    expect(linked.of('PAY-1')).toEqual([
      'skipped',
      expect.stringMatching(
        /^already in the ledger; linked; fee already in the ledger as General journal \d+ \(PAY-1\), keyed by hand$/,
      ),
    ]);
    expect(linked.counts).toMatchObject({ skipped: 1, updated: 0, created: 0 });
    expect(await documents(c.entityId)).toEqual([
      ['SR', 'PAY-1', '10000'],
      ['GJ', 'PAY-1', '150'],
    ]);
    expect(await fees(c.entityId)).toEqual([[receipt, journal]]);
    expect(await accountBalance(t.db, c.entityId, '1200')).toBe(9850n);
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(150n);

    // Sent again: the receipt's fee is that journal now; linked, nothing posted.
    const again = await run(pipeline, [payment('PAY-1B', '100.00', { externalReference: 'PAY-1', fee: '1.50' })]);
    expect(again.of('PAY-1B')).toEqual(['skipped', 'already in the ledger; linked']);
    expect((await documents(c.entityId)).length).toBe(2);
    expect(await parkedBy(pipeline)).toEqual([]);
    await expectBalanced(c.entityId);
  });

  it('recognises one keyed under the reference in another case, whatever account it charged', async () => {
    const { c, pipeline } = await setUp();
    expect((await c.put('/v1/gl-accounts/7710', { name: 'Card provider fees', type: 'expense' })).status).toBe(201);
    await run(pipeline, [customerRecord('K1')]);
    const receipt = await keyReceipt(c, { checkReference: 'PAY-2', paymentAmount: '40.00' });
    const journal = await keyJournal(c, ' pay-2', '0.90', { debit: '7710' });
    const linked = await run(pipeline, [payment('PAY-2', '40.00', { fee: '0.90' })]);
    expect(linked.of('PAY-2')[0]).toBe('skipped');
    expect(await fees(c.entityId)).toEqual([[receipt, journal]]);
    expect(await accountBalance(t.db, c.entityId, '1200')).toBe(3910n);
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(0n);
  });

  it('parks PAYMENT_FEE_DIFFERS for a journal taking another amount, or in another currency, and posts nothing', async () => {
    const { c, pipeline } = await setUpUsd();
    await keyReceipt(c, { checkReference: 'PAY-D', paymentAmount: '100.00' });
    await keyJournal(c, 'PAY-D', '1.20');
    // A USD receipt into the EUR bank, and its fee keyed by hand in EUR: not this fee as it stands.
    await keyReceipt(c, {
      customerCode: 'K2',
      checkReference: 'PAY-U',
      paymentAmount: '121.00',
      exchangeRate: '1.25',
      bankExchangeRate: '1.21',
    });
    await keyJournal(c, 'PAY-U', '2.00');
    const before = await documents(c.entityId);
    const outcome = await run(pipeline, [
      payment('PAY-D', '100.00', { fee: '1.50' }),
      payment('PAY-U', '121.00', { customerSourceId: 'K2', currency: 'USD', fee: '2.42' }),
    ]);
    expect(outcome.of('PAY-D')[0]).toBe('parked');
    const parked = (await openExceptions(t.db, pipeline)).sort((x, y) => (x.source_id < y.source_id ? -1 : 1));
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([
      ['PAY-D', 'PAYMENT_FEE_DIFFERS', 'fee'],
      ['PAY-U', 'PAYMENT_FEE_DIFFERS', 'fee'],
    ]);
    expect(parked[0]!.message).toMatch(
      /^Receipt \d+ \(PAY-D\) of customer K1 has no payment provider's fee recorded, and General journal \d+ \(PAY-D\), keyed under its reference, takes EUR 1\.20 out of GL account 1200, where the receipt went; this payment's fee is EUR 1\.50\. Nothing was posted\./,
    );
    expect(parked[1]!.message).toContain(
      "takes EUR 2.00 out of GL account 1200, where the receipt went; this payment's fee is USD 2.42",
    );
    expect(await documents(c.entityId)).toEqual(before);
    expect(await fees(c.entityId)).toEqual([]);
  });

  it('parks PAYMENT_FEE_AMBIGUOUS rather than choose between two journals, or take another receipt’s', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1'), customerRecord('K2')]);
    await keyReceipt(c, { checkReference: 'PAY-T', paymentAmount: '100.00' });
    await keyJournal(c, 'PAY-T', '1.50');
    await keyJournal(c, 'PAY-T', '1.50');
    // Two customers' receipts under one reference into one bank, neither with a fee: whose is the journal?
    await keyReceipt(c, { checkReference: 'PAY-S', paymentAmount: '20.00' });
    await keyReceipt(c, { customerCode: 'K2', checkReference: 'PAY-S', paymentAmount: '30.00' });
    await keyJournal(c, 'PAY-S', '0.40');
    const before = await documents(c.entityId);
    await run(pipeline, [payment('PAY-T', '100.00', { fee: '1.50' }), payment('PAY-S', '20.00', { fee: '0.40' })]);
    const parked = (await openExceptions(t.db, pipeline)).sort((x, y) => (x.source_id < y.source_id ? 1 : -1));
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([
      ['PAY-T', 'PAYMENT_FEE_AMBIGUOUS', 'fee'],
      ['PAY-S', 'PAYMENT_FEE_AMBIGUOUS', 'fee'],
    ]);
    expect(parked[0]!.message).toMatch(
      /^Receipt \d+ \(PAY-T\) of customer K1 has no payment provider's fee recorded, and which journal keyed by hand is its fee cannot be told: General journal \d+ \(PAY-T\) \(EUR 1\.50\), General journal \d+ \(PAY-T\) \(EUR 1\.50\) under its reference take money out of GL account 1200, where the receipt went; this payment's fee is EUR 1\.50\. Nothing was posted\./,
    );
    expect(parked[1]!.message).toMatch(
      /and Receipt \d+ \(PAY-S\) of customer K2 went there under the same reference with no fee recorded; /,
    );
    expect(await documents(c.entityId)).toEqual(before);
    expect(await fees(c.entityId)).toEqual([]);
  });

  it('posts the fee as before past a journal that is not this fee, and records the link updated', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1')]);
    // Under another reference; under this one but not out of the bank; out of the bank but reversed.
    await keyReceipt(c, { checkReference: 'PAY-O', paymentAmount: '10.00' });
    await keyJournal(c, 'PAY-O-FEE', '0.50');
    await keyReceipt(c, { checkReference: 'PAY-N', paymentAmount: '10.00' });
    await keyJournal(c, 'PAY-N', '0.50', { credit: '4000' });
    await keyReceipt(c, { checkReference: 'PAY-V', paymentAmount: '10.00' });
    await keyJournal(c, 'PAY-V', '0.50', { reversal: '2026-11-07' });
    const bank = await accountBalance(t.db, c.entityId, '1200');
    const linked = await run(pipeline, [
      payment('PAY-O', '10.00', { fee: '0.50' }),
      payment('PAY-N', '10.00', { fee: '0.50' }),
      payment('PAY-V', '10.00', { fee: '0.50' }),
    ]);
    // Before, a link whose fee was posted went by as skipped.
    for (const ref of ['PAY-O', 'PAY-N', 'PAY-V'])
      expect(linked.of(ref), ref).toEqual(['updated', 'already in the ledger; linked; fee posted']);
    expect(linked.counts).toMatchObject({ updated: 3, skipped: 0, created: 0, parked: 0 });
    expect((await fees(c.entityId)).length).toBe(3);
    expect(await accountBalance(t.db, c.entityId, '1200')).toBe(bank - 150n);
    await expectBalanced(c.entityId);
  });
});

describe(`a fee keyed by hand before its payment came (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('takes the journal as the new receipt’s fee, and posts no second fee', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1')]);
    // The payout's fee keyed from the provider's statement before the pipeline brought the payment.
    const journal = await keyJournal(c, 'PAY-K', '1.50');
    const posted = await run(pipeline, [payment('PAY-K', '100.00', { fee: '1.50' })]);
    // Before, only a link looked for a keyed fee: the new receipt's fee was posted too, the bank short by 1.50 twice.
    expect(posted.of('PAY-K')).toEqual([
      'created',
      expect.stringMatching(
        /^unallocated: the payment names no invoice; fee already in the ledger as General journal \d+ \(PAY-K\), keyed by hand$/,
      ),
    ]);
    expect(await documents(c.entityId)).toEqual([
      ['GJ', 'PAY-K', '150'],
      ['SR', 'PAY-K', '10000'],
    ]);
    const receipt = Number((await documents(c.entityId)).length && (await fees(c.entityId))[0]![0]);
    expect(await fees(c.entityId)).toEqual([[receipt, journal]]);
    expect(await accountBalance(t.db, c.entityId, '1200')).toBe(9850n);
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(150n);
    const fee = await c.get(`/v1/transactions/${receipt}/fee`);
    expect(fee.body).toEqual({
      receiptId: receipt,
      fee: {
        transactionId: journal,
        number: expect.any(Number),
        reference: 'PAY-K',
        date: '2026-11-06',
        currency: 'EUR',
        amount: '1.50',
        keyedByHand: true,
      },
    });
    await expectBalanced(c.entityId);
  });

  it('parks a payment whose keyed fee differs with no receipt posted; reversing the journal lets the fee be posted', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1')]);
    const journal = await keyJournal(c, 'PAY-W', '1.20');
    const before = await documents(c.entityId);
    const first = await run(pipeline, [payment('PAY-W', '100.00', { fee: '1.50' })]);
    expect(first.of('PAY-W')[0]).toBe('parked');
    const [parked] = await openExceptions(t.db, pipeline);
    expect([parked!.reason_code, parked!.field]).toEqual(['PAYMENT_FEE_DIFFERS', 'fee']);
    // It names the payment, not the receipt that went with the refusal, and says how to settle it.
    expect(parked!.message).toMatch(
      /^Payment PAY-W of customer K1 has a payment provider's fee, and General journal \d+ \(PAY-W\), keyed under its reference, takes EUR 1\.20 out of GL account 1200, where the payment goes; this payment's fee is EUR 1\.50\. Nothing was posted\./,
    );
    expect(parked!.message).toContain(`reverse it (POST /v1/journals/${journal}/reverse)`);
    expect(await documents(c.entityId)).toEqual(before);

    // The journal was wrong: reversed on its own date, it takes nothing out of the bank any more.
    const reversed = await c.post(`/v1/journals/${journal}/reverse`, {});
    expect(reversed.status, JSON.stringify(reversed.body)).toBe(201);
    expect(reversed.body).toMatchObject({
      date: '2026-11-06',
      reference: 'PAY-W',
      reverses: { transactionId: journal },
      feeOfReceipt: null,
      lines: [
        { glAccountCode: '7700', debit: null, credit: '1.20' },
        { glAccountCode: '1200', debit: '1.20', credit: null },
      ],
    });
    expect((await c.get(`/v1/journals/${journal}`)).body.reversedBy).toMatchObject({
      transactionId: reversed.body.transactionId,
    });
    const again = await run(pipeline, [payment('PAY-W', '100.00', { fee: '1.50' })]);
    expect(again.of('PAY-W')).toEqual(['created', 'unallocated: the payment names no invoice']);
    expect(await parkedBy(pipeline)).toEqual([]);
    expect(await accountBalance(t.db, c.entityId, '1200')).toBe(9850n);
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(150n);
    await expectBalanced(c.entityId);
  });

  it('settles an ambiguous fee by recording the journal as the other receipt’s', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1'), customerRecord('K2')]);
    // K2's receipt was keyed by hand with its fee; K1's payment under the same reference comes from the pipeline.
    const other = await keyReceipt(c, { customerCode: 'K2', checkReference: 'PAY-A', paymentAmount: '30.00' });
    const journal = await keyJournal(c, 'PAY-A', '0.40');
    await run(pipeline, [payment('PAY-A', '20.00', { fee: '0.40' })]);
    const [parked] = await openExceptions(t.db, pipeline);
    expect([parked!.reason_code, parked!.message]).toEqual([
      'PAYMENT_FEE_AMBIGUOUS',
      expect.stringContaining(
        "Record a journal that is a receipt's fee as that receipt's (PUT /v1/transactions/{receipt}/fee)",
      ),
    ]);

    const recorded = await c.put(`/v1/transactions/${other}/fee`, { journalId: journal });
    expect(recorded.status, JSON.stringify(recorded.body)).toBe(200);
    expect(recorded.body).toMatchObject({
      receiptId: other,
      changed: true,
      fee: { transactionId: journal, amount: '0.40' },
    });
    // The same again changes nothing.
    expect((await c.put(`/v1/transactions/${other}/fee`, { journalId: journal })).body.changed).toBe(false);

    const again = await run(pipeline, [payment('PAY-A', '20.00', { fee: '0.40' })]);
    expect(again.of('PAY-A')).toEqual(['created', 'unallocated: the payment names no invoice']);
    expect(await parkedBy(pipeline)).toEqual([]);
    // Both fees out of the bank once each: 30.00 + 20.00 - 0.40 - 0.40.
    expect(await accountBalance(t.db, c.entityId, '1200')).toBe(4920n);
    const audit = await t.db.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE entity_id = $1 AND action = 'receipt-fee.recorded'`,
      [c.entityId],
    );
    expect(audit.rows.length).toBe(1);
    await expectBalanced(c.entityId);
  });
});

describe(`recording a receipt's fee by hand, and reversing a fee journal (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('refuses what cannot be a receipt’s fee, naming why, and changes nothing', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1')]);
    const receipt = await keyReceipt(c, { checkReference: 'PAY-R', paymentAmount: '100.00' });
    const notBank = await keyJournal(c, 'PAY-R', '1.00', { credit: '4000' });
    const reversedOne = await keyJournal(c, 'PAY-R', '1.00', { reversal: '2026-11-07' });
    const reversal = (await c.get(`/v1/journals/${reversedOne}`)).body.reversedBy.transactionId;
    const good = await keyJournal(c, 'PAY-R', '1.50');
    const second = await keyJournal(c, 'PAY-R', '1.50');
    const refused = async (id: number, journalId: number) => {
      const r = await c.put(`/v1/transactions/${id}/fee`, { journalId });
      return [r.status, r.body.error?.code, r.body.error?.details?.[0]?.field, r.body.error?.message];
    };
    expect(await refused(receipt, notBank)).toEqual([
      422,
      'FEE_JOURNAL_NOT_ELIGIBLE',
      'journalId',
      expect.stringContaining('it takes no money out of GL account 1200, where the receipt went'),
    ]);
    expect((await refused(receipt, reversedOne))[3]).toContain('it has been reversed');
    expect((await refused(receipt, reversal))[3]).toContain('it is a reversal');
    // Not a receipt; no such journal.
    expect((await refused(good, good)).slice(0, 3)).toEqual([404, 'NOT_FOUND', 'params.id']);
    expect((await refused(receipt, 999_999_999)).slice(0, 3)).toEqual([404, 'NOT_FOUND', 'journalId']);
    expect(await fees(c.entityId)).toEqual([]);
    expect((await c.get(`/v1/transactions/${receipt}/fee`)).body).toEqual({ receiptId: receipt, fee: null });

    expect((await c.put(`/v1/transactions/${receipt}/fee`, { journalId: good })).status).toBe(200);
    expect((await refused(receipt, second)).slice(0, 3)).toEqual([409, 'RECEIPT_ALREADY_HAS_FEE', 'journalId']);
    const other = await keyReceipt(c, { checkReference: 'PAY-R2', paymentAmount: '10.00' });
    expect((await refused(other, good)).slice(0, 3)).toEqual([409, 'FEE_JOURNAL_ALREADY_USED', 'journalId']);
    expect(await fees(c.entityId)).toEqual([[receipt, good]]);
    // The database keeps the fee on its receipt until its journal is reversed.
    await expect(t.db.query('DELETE FROM receipt_fees WHERE receipt_id = $1', [receipt])).rejects.toThrow(
      /cannot be deleted until their fee journal is reversed/,
    );
    // The pipeline sending the payment now finds that fee and posts none.
    const linked = await run(pipeline, [payment('PAY-R', '100.00', { fee: '1.50' })]);
    expect(linked.of('PAY-R')).toEqual(['skipped', 'already in the ledger; linked']);
  });

  it('reverses a fee a pipeline posted: the receipt has no fee, and a payment linked to it posts the right one', async () => {
    const { c, pipeline } = await setUpUsd();
    // A USD payment into the EUR bank: its fee journal is in USD at the receipt's bank rate.
    await run(pipeline, [payment('PAY-F', '125.00', { customerSourceId: 'K2', currency: 'USD', fee: '2.50' })]);
    const [[receipt, feeJournal]] = (await fees(c.entityId)) as [[number, number]];
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(200n);

    const reversed = await c.post(`/v1/journals/${feeJournal}/reverse`, {
      date: '2026-11-10',
      description: 'Fee was 2.00',
    });
    expect(reversed.status, JSON.stringify(reversed.body)).toBe(201);
    expect(reversed.body).toMatchObject({
      currency: 'USD',
      date: '2026-11-10',
      feeOfReceipt: receipt,
      description: 'Fee was 2.00',
    });
    // Back to no fee, in the base currency too.
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(0n);
    expect((await c.get(`/v1/transactions/${receipt}/fee`)).body.fee).toBeNull();
    const again = await c.post(`/v1/journals/${feeJournal}/reverse`, {});
    expect([again.status, again.body.error?.code]).toEqual([409, 'JOURNAL_ALREADY_REVERSED']);
    const ofReversal = await c.post(`/v1/journals/${reversed.body.transactionId}/reverse`, {});
    expect([ofReversal.status, ofReversal.body.error?.code]).toEqual([422, 'JOURNAL_CANNOT_BE_REVERSED']);

    // A record of the payment not booked yet (another pipeline's, another id) links to the receipt and posts its fee, once.
    const corrected = await run(pipeline, [
      payment('PAY-F2', '125.00', { externalReference: 'PAY-F', customerSourceId: 'K2', currency: 'USD', fee: '2.00' }),
    ]);
    expect(corrected.of('PAY-F2')).toEqual(['updated', 'already in the ledger; linked; fee posted']);
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(160n);
    const audit = await t.db.query<{ after: { reversal: number; feeOfReceipt: number } }>(
      `SELECT after FROM audit_log WHERE entity_id = $1 AND action = 'journal.reversed'`,
      [c.entityId],
    );
    expect(audit.rows.map((r) => r.after)).toEqual([
      { reversal: reversed.body.transactionId, date: '2026-11-10', feeOfReceipt: receipt },
    ]);
    await expectBalanced(c.entityId);
  });

  it('takes the right fee keyed by hand once the wrong one a pipeline posted is reversed', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1')]);
    await run(pipeline, [payment('PAY-E', '100.00', { fee: '1.50' })]);
    const [[receipt, posted]] = (await fees(c.entityId)) as [[number, number]];
    // The provider took 1.20, not 1.50: the fee reversed, the right one keyed and recorded.
    expect((await c.post(`/v1/journals/${posted}/reverse`, {})).body.feeOfReceipt).toBe(receipt);
    const right = await keyJournal(c, 'PAY-E', '1.20');
    const recorded = await c.put(`/v1/transactions/${receipt}/fee`, { journalId: right });
    expect(recorded.body).toMatchObject({
      changed: true,
      fee: { transactionId: right, amount: '1.20', keyedByHand: true },
    });
    expect(await accountBalance(t.db, c.entityId, '1200')).toBe(9880n);
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(120n);
    // The payment sent again is the one booked: nothing is posted (nor is it sent to the ledger again).
    const again = await run(pipeline, [payment('PAY-E', '100.00', { fee: '1.50' })]);
    expect(again.of('PAY-E')[0]).toBe('skipped');
    expect(await accountBalance(t.db, c.entityId, '1200')).toBe(9880n);
    expect(await fees(c.entityId)).toEqual([[receipt, right]]);
    await expectBalanced(c.entityId);
  });

  it('takes the right foreign-currency fee keyed by hand in its currency once the wrong one is reversed', async () => {
    const { c, pipeline } = await setUpUsd();
    await run(pipeline, [payment('PAY-X', '125.00', { customerSourceId: 'K2', currency: 'USD', fee: '2.50' })]);
    const [[receipt, posted]] = (await fees(c.entityId)) as [[number, number]];
    expect((await c.post(`/v1/journals/${posted}/reverse`, {})).body.feeOfReceipt).toBe(receipt);
    // The provider took USD 2.00: keyed in EUR it is refused, naming the way; keyed in USD it is recorded.
    const inEuro = await keyJournal(c, 'PAY-X', '1.60');
    const refused = await c.put(`/v1/transactions/${receipt}/fee`, { journalId: inEuro });
    expect([refused.status, refused.body.error?.code]).toEqual([422, 'FEE_JOURNAL_NOT_ELIGIBLE']);
    expect(refused.body.error.message).toContain(
      'it is in EUR and the receipt in USD; reverse it and key the fee in USD (POST /v1/journals with "currency": "USD")',
    );
    expect((await c.post(`/v1/journals/${inEuro}/reverse`, {})).status).toBe(201);
    const keyed = await keyJournal(c, 'PAY-X', '2.00', { currency: 'USD' });
    expect((await c.get(`/v1/journals/${keyed}`)).body).toMatchObject({
      currency: 'USD',
      exchangeRate: '1.25',
      baseTotal: '1.60',
    });
    const recorded = await c.put(`/v1/transactions/${receipt}/fee`, { journalId: keyed });
    expect(recorded.status, JSON.stringify(recorded.body)).toBe(200);
    expect(recorded.body).toMatchObject({ changed: true, fee: { currency: 'USD', amount: '2.00', keyedByHand: true } });
    // EUR 100.00 received, EUR 1.60 of fees: nothing counted twice.
    expect(await accountBalance(t.db, c.entityId, '1200')).toBe(9840n);
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(160n);
    await expectBalanced(c.entityId);
  });

  it('recognises a foreign-currency fee keyed by hand before its payment came', async () => {
    const { c, pipeline } = await setUpUsd();
    const keyed = await keyJournal(c, 'PAY-Y', '2.42', { currency: 'USD' });
    const outcome = await run(pipeline, [
      payment('PAY-Y', '121.00', { customerSourceId: 'K2', currency: 'USD', fee: '2.42' }),
    ]);
    expect(outcome.of('PAY-Y')[0]).toBe('created');
    const [[receipt, fee]] = (await fees(c.entityId)) as [[number, number]];
    expect(fee).toBe(keyed);
    expect((await c.get(`/v1/transactions/${receipt}/fee`)).body.fee).toMatchObject({ keyedByHand: true });
    // One fee: the journal keyed by hand, USD 2.42 at 1.25.
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(194n);
    await expectBalanced(c.entityId);
  });

  it('refuses a reversal before the journal, in a locked period, or twice at once', async () => {
    const { c } = await setUp();
    const journal = await keyJournal(c, 'ACCR', '5.00', { credit: '2300' });
    const before = await c.post(`/v1/journals/${journal}/reverse`, { date: '2026-11-05' });
    expect([before.status, before.body.error?.code]).toEqual([422, 'JOURNAL_REVERSAL_DATE_BEFORE_JOURNAL']);
    expect((await c.put('/v1/settings', { lockDate: '2026-11-06' })).status).toBe(200);
    const locked = await c.post(`/v1/journals/${journal}/reverse`, {});
    expect([locked.status, locked.body.error?.code]).toEqual([422, 'PERIOD_LOCKED']);
    expect(locked.body.error?.message).toContain('give a date in an open period');
    const missing = await c.post('/v1/journals/999999999/reverse', {});
    expect([missing.status, missing.body.error?.code]).toEqual([404, 'NOT_FOUND']);
    // Two at once: the journal's row lock (and the unique index behind it) lets one through.
    const both = await Promise.all([
      c.post(`/v1/journals/${journal}/reverse`, { date: '2026-11-07' }),
      c.post(`/v1/journals/${journal}/reverse`, { date: '2026-11-08' }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([201, 409]);
    const { rows } = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM transactions WHERE related_transaction_id = $1 AND type = 'GJ'`,
      [journal],
    );
    expect(rows[0]!.n).toBe(1);
    await expectBalanced(c.entityId);
  });
});

describe(`another receipt taking the same journal as its fee at the same moment (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('refuses the second by the key on the fee journal, retryable, and posts nothing', async () => {
    const { c, code, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1'), customerRecord('K2')]);
    expect((await c.put('/v1/gl-accounts/1210', { name: 'Provider clearing', type: 'asset' })).status).toBe(201);
    const clearing = await c.put('/v1/bank-accounts/CLEARING', {
      name: 'Provider clearing',
      glAccountCode: '1210',
      currency: 'EUR',
    });
    expect(clearing.status, JSON.stringify(clearing.body)).toBe(201);
    await keyReceipt(c, { checkReference: 'PAY-C', paymentAmount: '100.00' });
    const other = await keyReceipt(c, {
      customerCode: 'K2',
      checkReference: 'PAY-C',
      paymentAmount: '50.00',
      bankAccountCode: 'CLEARING',
    });
    const journal = await keyJournal(c, 'PAY-C', '1.50');
    const entity = (await findEntityByCode(t.db, code))!;
    const item: TargetPayment = {
      sourceId: 'PAY-C',
      record: payment('PAY-C', '100.00', { fee: '1.50' }),
      customerTargetId: 'K1',
      invoiceTargetId: null,
      bankAccountCode: 'BANK',
      idempotencyKey: 'b',
    };
    // Stands for another run recording the journal as K2's receipt's fee, uncommitted while this one links K1's.
    const [, results] = await race(
      (db) =>
        db.query('INSERT INTO receipt_fees (receipt_id, fee_transaction_id, entity_id) VALUES ($1, $2, $3)', [
          other,
          journal,
          c.entityId,
        ]),
      () => t.db.transaction((tx) => createPayments(tx, entity, 'b', [item])),
    );
    const r = results[0]!;
    if (onPostgres) {
      // It saw the journal free, then found it taken by the key: refused, nothing posted.
      expect(r.ok ? r.message : [r.error.code, r.error.field, r.error.retryable]).toEqual([
        'PAYMENT_FEE_AMBIGUOUS',
        'fee',
        true,
      ]);
      expect((await documents(c.entityId)).filter((d) => d[0] === 'GJ').length).toBe(1);
    } else {
      // One after the other: the journal is another receipt's fee by the time it looks, so the fee is posted.
      expect(r.ok && [r.outcome, r.message]).toEqual(['updated', 'already in the ledger; linked; fee posted']);
    }
    const { rows } = await t.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM receipt_fees WHERE fee_transaction_id = $1',
      [journal],
    );
    expect(rows[0]!.n).toBe(1);
    await expectBalanced(c.entityId);
  });
});

/**
 * Runs `first` in a transaction held open on a second connection once it is done, then `second`
 * on the test's own, lets `first` commit once `second` is seen waiting for it, and returns both.
 * On PGlite (one connection) the two run one after the other.
 */
async function race<A, B>(first: (db: Queryable) => Promise<A>, second: () => Promise<B>): Promise<[A, B]> {
  if (!side) return [await t.db.transaction((tx) => first(tx)), await second()];
  const a = await holdTransaction(side, first);
  const b = second();
  expect(await waitBlockedBehind(side, a.pid, { ms: 10_000 }), 'the link waits for the other').toBe(true);
  return Promise.all([a.release(), b]);
}
