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
  o: { debit?: string; credit?: string; reversal?: string } = {},
) {
  const r = await c.post('/v1/journals', {
    date: '2026-11-06',
    reference,
    description: 'Stripe fee',
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
    const { c, pipeline } = await setUp();
    expect((await c.put('/v1/currencies/USD/rates/2026-01-01', { rate: '1.25' })).status).toBe(201);
    await run(pipeline, [customerRecord('K1'), { kind: 'customer', sourceId: 'K2', name: 'Yankee', currency: 'USD' }]);
    await keyReceipt(c, { checkReference: 'PAY-D', paymentAmount: '100.00' });
    await keyJournal(c, 'PAY-D', '1.20');
    // A USD receipt into the EUR bank; a journal keyed by hand is in EUR, so it is never this fee as it stands.
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
