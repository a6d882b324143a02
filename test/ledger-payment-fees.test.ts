/**
 * A payment with a provider's fee, linked to a receipt already in the embedded ledger (keyed by
 * hand, or booked by another pipeline). The link used to leave the fee out: the receipt was found,
 * the payment reported "already in the ledger; linked", and the fee journal was never posted, so
 * the bank stood too high by the fee. Now the fee is posted once, against that receipt
 * (receipt_fees, migration 0114). Linking again posts nothing, and a different fee is parked
 * PAYMENT_FEE_DIFFERS on `fee`. Two runs linking the same payment at once post it once. On
 * PostgreSQL the race is real: the second run starts while the first holds its transaction open,
 * and is let go once it is seen blocked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPayments } from '../src/connectors/ledger/payments.ts';
import { type Database, type Queryable, isUniqueViolation } from '../src/db/database.ts';
import { openPostgres } from '../src/db/postgres.ts';
import { randomBytes } from 'node:crypto';
import { loadMigrations, migrate } from '../src/db/migrate.ts';
import { openPglite } from '../src/db/pglite.ts';
import { type EntityContext, createEntity, findEntityByCode } from '../src/ledger/entities.ts';
import { postReceipt } from '../src/ledger/posting/receipts.ts';
import type { PostingContext } from '../src/ledger/posting/types.ts';
import { insertTransaction } from '../src/ledger/posting/write.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { listRunRecords } from '../src/sync/runs.ts';
import type { ItemResult, TargetPayment } from '../src/sync/target.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { holdTransaction, onPostgres, waitBlockedBehind } from './helpers/db.ts';
import { accountBalance, checkInvariants, seedCustomer } from './helpers/ledger.ts';
import { customerRecord, definePipeline, openExceptions, paymentRecord, syncService } from './helpers/sync.ts';

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
  const code = `LPF${++n}`;
  const c = await t.entity(code, 'EUR', { standardTaxRate: '0.21' });
  const pipeline = await definePipeline(t.db, code, { name: 'records', source: { type: 'records' } });
  return { c, code, pipeline };
}

const payment = paymentRecord;

/** Runs the engine over these records; what each record came to, with its run record's message. */
async function run(pipeline: Pipeline, records: CanonicalRecord[]) {
  const runId = await syncService(t.db).processRecords(
    pipeline,
    'import',
    'test',
    records.map((record) => ({ record })),
  );
  const outcomes = await listRunRecords(t.db, runId, 1000, 0);
  return (kind: string, sourceId: string) => {
    const r = outcomes.find((x) => x.kind === kind && x.sourceId === sourceId);
    return r ? [r.outcome, r.message] : ['none', null];
  };
}

/** A receipt keyed by hand through the API. */
async function keyReceipt(c: Client, body: Record<string, unknown>) {
  const r = await c.post('/v1/sales/receipts', { customerCode: 'K1', paymentDate: '2026-11-03', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return Number(r.body.transactionId);
}

async function documents(entityId: string) {
  const { rows } = await t.db.query<{ type: string; ref: string; gross: string; base: string }>(
    `SELECT type, external_reference AS ref, gross::text AS gross, base_gross::text AS base
       FROM transactions WHERE entity_id = $1 ORDER BY id`,
    [entityId],
  );
  return rows;
}

/** Each receipt's fee journal, as receipt_fees ties them: [receipt reference, fee gross]. */
async function fees(entityId: string) {
  const { rows } = await t.db.query<{ receipt: string; fee: string }>(
    `SELECT r.external_reference AS receipt, f.gross::text AS fee
       FROM receipt_fees x JOIN transactions r ON r.id = x.receipt_id JOIN transactions f ON f.id = x.fee_transaction_id
      WHERE x.entity_id = $1 ORDER BY x.receipt_id`,
    [entityId],
  );
  return rows.map((r) => [r.receipt, r.fee]);
}

async function bankGl(entityId: string, bank = 'BANK'): Promise<string> {
  const { rows } = await t.db.query<{ gl: string }>(
    'SELECT gl_account_code AS gl FROM bank_accounts WHERE entity_id = $1 AND code = $2',
    [entityId, bank],
  );
  return rows[0]!.gl;
}

/** Debits equal credits: over the whole entity in base, and in each document in its currency too. */
async function expectTrialBalance(entityId: string) {
  const { rows } = await t.db.query<{ base: string }>(
    'SELECT coalesce(sum(base_amount), 0)::text AS base FROM journal_lines WHERE entity_id = $1',
    [entityId],
  );
  expect(rows[0]!.base).toBe('0');
  const { rows: unbalanced } = await t.db.query(
    `SELECT transaction_id FROM journal_lines WHERE entity_id = $1
      GROUP BY transaction_id HAVING sum(amount) <> 0 OR sum(base_amount) <> 0`,
    [entityId],
  );
  expect(unbalanced).toEqual([]);
  await checkInvariants(t.db, entityId);
}

describe(`a payment with a fee linked to a receipt already in the ledger (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('posts the fee of a receipt keyed by hand once, links it again without a second, and parks a different fee', async () => {
    const { c, code, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1')]);
    await keyReceipt(c, { checkReference: 'PAY-1', paymentAmount: '100.00', bankAccountCode: 'BANK' });

    const first = await run(pipeline, [payment('PAY-1', '100.00', { fee: '1.50' })]);
    // Something was written (the fee), so the run says updated; before, it said skipped.
    expect(first('payment', 'PAY-1')).toEqual(['updated', 'already in the ledger; linked; fee posted']);
    expect((await documents(c.entityId)).map((d) => [d.type, d.ref, d.gross])).toEqual([
      ['SR', 'PAY-1', '10000'],
      ['GJ', 'PAY-1', '150'],
    ]);
    expect(await fees(c.entityId)).toEqual([['PAY-1', '150']]);
    // The bank shows what arrived, the fee is in bank charges.
    expect(await accountBalance(t.db, c.entityId, await bankGl(c.entityId))).toBe(9850n);
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(150n);
    await expectTrialBalance(c.entityId);

    // The same payment again, from another pipeline and under another source id of this one: linked, no second fee.
    const other = await definePipeline(t.db, code, { name: 'records-2', source: { type: 'records' } });
    const again = await run(other, [customerRecord('K1'), payment('PAY-1', '100.00', { fee: '1.50' })]);
    expect(again('payment', 'PAY-1')).toEqual(['skipped', 'already in the ledger; linked']);
    const twice = await run(pipeline, [payment('PAY-1B', '100.00', { externalReference: 'pay-1', fee: '1.50' })]);
    expect(twice('payment', 'PAY-1B')).toEqual(['skipped', 'already in the ledger; linked']);
    expect(await fees(c.entityId)).toEqual([['PAY-1', '150']]);
    expect((await documents(c.entityId)).length).toBe(2);

    // A different fee for that receipt: parked with the code and field, nothing posted.
    const before = await documents(c.entityId);
    const differs = await run(pipeline, [payment('PAY-1C', '100.00', { externalReference: 'PAY-1', fee: '2.00' })]);
    expect(differs('payment', 'PAY-1C')[0]).toBe('parked');
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([
      ['PAY-1C', 'PAYMENT_FEE_DIFFERS', 'fee'],
    ]);
    expect(parked[0]!.message).toMatch(
      /^Receipt \d+ \(PAY-1\) of customer K1 already has a payment provider's fee of EUR 1\.50 \(General journal \d+ \(PAY-1\)\); this payment's fee is EUR 2\.00\. Nothing was posted\./,
    );
    expect(await documents(c.entityId)).toEqual(before);
    expect(await accountBalance(t.db, c.entityId, await bankGl(c.entityId))).toBe(9850n);
    await expectTrialBalance(c.entityId);
  });

  it('links to a receipt another pipeline booked with its fee without posting the fee again', async () => {
    const { c, code, pipeline } = await setUp();
    const booked = await run(pipeline, [customerRecord('K1'), payment('PAY-2', '50.00', { fee: '0.80' })]);
    expect(booked('payment', 'PAY-2')).toEqual(['created', 'unallocated: the payment names no invoice']);
    expect(await fees(c.entityId)).toEqual([['PAY-2', '80']]);
    const other = await definePipeline(t.db, code, { name: 'records-2', source: { type: 'records' } });
    const linked = await run(other, [customerRecord('K1'), payment('PAY-2', '50.00', { fee: '0.80' })]);
    expect(linked('payment', 'PAY-2')).toEqual(['skipped', 'already in the ledger; linked']);
    const differs = await run(other, [payment('PAY-2X', '50.00', { externalReference: 'PAY-2', fee: '0.90' })]);
    expect(differs('payment', 'PAY-2X')[0]).toBe('parked');
    expect((await openExceptions(t.db, other)).map((x) => [x.source_id, x.reason_code, x.field])).toEqual([
      ['PAY-2X', 'PAYMENT_FEE_DIFFERS', 'fee'],
    ]);
    expect((await documents(c.entityId)).map((d) => [d.type, d.ref])).toEqual([
      ['SR', 'PAY-2'],
      ['GJ', 'PAY-2'],
    ]);
    expect(await accountBalance(t.db, c.entityId, await bankGl(c.entityId))).toBe(4920n);
    await expectTrialBalance(c.entityId);
  });

  it('posts the fee out of the receipt’s bank at the rate its bank line took, and says so after an allocation', async () => {
    const { c, pipeline } = await setUp();
    expect((await c.put('/v1/currencies/USD/rates/2026-01-01', { rate: '1.25' })).status).toBe(201);
    expect((await c.put('/v1/gl-accounts/1210', { name: 'Provider clearing', type: 'asset' })).status).toBe(201);
    const clearing = await c.put('/v1/bank-accounts/CLEARING', {
      name: 'Provider clearing',
      glAccountCode: '1210',
      currency: 'EUR',
    });
    expect(clearing.status, JSON.stringify(clearing.body)).toBe(201);
    await run(pipeline, [
      { kind: 'customer', sourceId: 'K1', name: 'Yankee', currency: 'USD' },
      {
        kind: 'invoice',
        sourceId: 'INV-U',
        externalReference: 'INV-U',
        customerSourceId: 'K1',
        invoiceDate: '2026-11-02',
        currency: 'USD',
        description: '',
        lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
      },
    ]);
    // Keyed by hand into BANK: 121.00 USD at 1.25 clears 96.80 EUR; the bank took it at 1.21 (100.00 EUR).
    await keyReceipt(c, {
      checkReference: 'PAY-U',
      paymentAmount: '121.00',
      bankAccountCode: 'BANK',
      exchangeRate: '1.25',
      bankExchangeRate: '1.21',
    });
    const bank = await bankGl(c.entityId);
    expect(await accountBalance(t.db, c.entityId, bank)).toBe(10000n);
    // The pipeline sends it for its clearing account; the fee still comes out of the bank it went into.
    const linked = await run(pipeline, [
      payment('PAY-U', '121.00', {
        currency: 'USD',
        fee: '2.42',
        invoiceExternalReference: 'INV-U',
        bankAccountCode: 'CLEARING',
      }),
    ]);
    expect(linked('payment', 'PAY-U')).toEqual(['updated', 'allocated to Invoice 1 (INV-U); fee posted']);
    // 2.42 USD at 1.21 is 2.00 EUR (at the document's 1.25 it would be 1.94).
    expect((await documents(c.entityId)).filter((d) => d.type === 'GJ')).toEqual([
      { type: 'GJ', ref: 'PAY-U', gross: '242', base: '200' },
    ]);
    expect(await accountBalance(t.db, c.entityId, bank)).toBe(9800n);
    expect(await accountBalance(t.db, c.entityId, '1210')).toBe(0n);
    expect(await accountBalance(t.db, c.entityId, '7700')).toBe(200n);
    await expectTrialBalance(c.entityId);
  });

  it('refuses the fee of a linked payment on a locked date, its link with it', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1')]);
    await keyReceipt(c, { checkReference: 'PAY-L', paymentAmount: '30.00' });
    const lock = await c.put('/v1/settings', { lockDate: '2026-11-30' });
    expect(lock.status, JSON.stringify(lock.body)).toBe(200);
    const outcome = await run(pipeline, [payment('PAY-L', '30.00', { fee: '0.50' })]);
    expect(outcome('payment', 'PAY-L')[0]).toBe('parked');
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([['PAY-L', 'PERIOD_LOCKED', 'fee']]);
    expect(await fees(c.entityId)).toEqual([]);
    expect((await documents(c.entityId)).map((d) => d.type)).toEqual(['SR']);
  });

  it('keeps one fee per receipt in the database', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1'), payment('PAY-K', '10.00', { fee: '0.10' })]);
    const { rows } = await t.db.query<{ receipt_id: string; fee_transaction_id: string }>(
      'SELECT receipt_id, fee_transaction_id FROM receipt_fees WHERE entity_id = $1',
      [c.entityId],
    );
    const [row] = rows;
    const other = await keyReceipt(c, { checkReference: 'PAY-K2', paymentAmount: '1.00' });
    // A second fee for the receipt, or the same journal as another receipt's fee: refused.
    const insert = (receiptId: string | number, feeId: string | number) =>
      t.db
        .query('INSERT INTO receipt_fees (receipt_id, fee_transaction_id, entity_id) VALUES ($1, $2, $3)', [
          receiptId,
          feeId,
          c.entityId,
        ])
        .then(
          () => 'inserted',
          (err: unknown) => (isUniqueViolation(err) ? 'unique violation' : String(err)),
        );
    expect(await insert(row!.receipt_id, other)).toBe('unique violation');
    expect(await insert(other, row!.fee_transaction_id)).toBe('unique violation');
  });
});

describe(`two runs linking the same payment at once (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('post its fee once', async () => {
    const { c, code, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1')]);
    await keyReceipt(c, { checkReference: 'PAY-R', paymentAmount: '100.00' });
    const entity = (await findEntityByCode(t.db, code))!;
    const item = (key: string): TargetPayment => ({
      sourceId: 'PAY-R',
      record: payment('PAY-R', '100.00', { fee: '1.50' }),
      customerTargetId: 'K1',
      invoiceTargetId: null,
      bankAccountCode: 'BANK',
      idempotencyKey: key,
    });
    // As the engine calls it: inside the run's transaction, each payment a savepoint of its own.
    const link = (db: Queryable, key: string) => createPayments(db, entity, key, [item(key)]);
    const [a, b] = await race(
      (db) => link(db, 'a'),
      () => t.db.transaction((tx) => link(tx, 'b')),
    );
    const said = (r: ItemResult[]) => (r[0]!.ok ? r[0]!.message : r[0]!.error.code);
    expect([said(a), said(b)].sort()).toEqual([
      'already in the ledger; linked',
      'already in the ledger; linked; fee posted',
    ]);
    expect(await fees(c.entityId)).toEqual([['PAY-R', '150']]);
    expect((await documents(c.entityId)).map((d) => d.type)).toEqual(['SR', 'GJ']);
    expect(await accountBalance(t.db, c.entityId, await bankGl(c.entityId))).toBe(9850n);
    await expectTrialBalance(c.entityId);
  });
});

describe(`a payment sent again with another fee (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('is parked PAYMENT_ALREADY_POSTED_CHANGED on fee once, and nothing is posted', async () => {
    const { c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1')]);
    const first = await run(pipeline, [payment('PAY-F', '100.00', { fee: '1.50' })]);
    expect(first('payment', 'PAY-F')[0]).toBe('created');
    // Before, a changed fee went by as "already posted": the books kept 1.50 and nothing said so.
    const changed = await run(pipeline, [payment('PAY-F', '100.00', { fee: '2' })]);
    expect(changed('payment', 'PAY-F')).toEqual(['parked', expect.stringContaining('(fee EUR 1.50 → EUR 2.00)')]);
    expect((await openExceptions(t.db, pipeline)).map((x) => [x.source_id, x.reason_code, x.field])).toEqual([
      ['PAY-F', 'PAYMENT_ALREADY_POSTED_CHANGED', 'fee'],
    ]);
    // The same change sent again is not parked again; a change of date and fee says both.
    const again = await run(pipeline, [payment('PAY-F', '100.00', { fee: '2.00' })]);
    expect(again('payment', 'PAY-F')).toEqual(['skipped', 'already posted']);
    const both = await run(pipeline, [payment('PAY-F', '100.00', { fee: '2.50', date: '2026-11-04' })]);
    expect(both('payment', 'PAY-F')).toEqual([
      'parked',
      expect.stringContaining('(date 2026-11-03 → 2026-11-04, fee EUR 2.00 → EUR 2.50)'),
    ]);
    expect(await fees(c.entityId)).toEqual([['PAY-F', '150']]);
    expect((await documents(c.entityId)).map((d) => d.type)).toEqual(['SR', 'GJ']);
  });
});

describe(`two runs posting the same new payment at once (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('book one receipt and one fee: the second run waits for the first and links to its receipt', async () => {
    const { code, c, pipeline } = await setUp();
    await run(pipeline, [customerRecord('K1')]);
    const entity = (await findEntityByCode(t.db, code))!;
    const item = (key: string): TargetPayment => ({
      sourceId: 'PAY-N',
      record: payment('PAY-N', '100.00', { fee: '1.50' }),
      customerTargetId: 'K1',
      invoiceTargetId: null,
      bankAccountCode: 'BANK',
      idempotencyKey: key,
    });
    const post = (db: Queryable, key: string) => createPayments(db, entity, key, [item(key)]);
    const [a, b] = await race(
      (db) => post(db, 'a'),
      () => t.db.transaction((tx) => post(tx, 'b')),
    );
    // Before, the second looked for the receipt before the first had committed it, then was
    // refused RECEIPT_EXTERNAL_REFERENCE_ALREADY_EXISTS by the duplicate check once it had.
    const said = (r: ItemResult[]) => (r[0]!.ok ? r[0]!.message : r[0]!.error.code);
    expect([said(a), said(b)]).toEqual(['unallocated: the payment names no invoice', 'already in the ledger; linked']);
    expect(a[0]!.ok && b[0]!.ok && a[0]!.targetId === b[0]!.targetId).toBe(true);
    expect(await fees(c.entityId)).toEqual([['PAY-N', '150']]);
    expect((await documents(c.entityId)).map((d) => d.type)).toEqual(['SR', 'GJ']);
    await expectTrialBalance(c.entityId);
  });
});

describe(`fees posted before migration 0114 (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('are tied to their receipts, so that a payment linked since posts no second fee', async () => {
    const db = onPostgres
      ? await openPostgres(process.env.DATABASE_URL!, {
          schema: `t_fees_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`,
          max: 2,
        })
      : await openPglite('memory');
    try {
      await migrate(
        db,
        (await loadMigrations()).filter((m) => m.id < 114),
      );
      const { entity } = await db.transaction((tx) =>
        createEntity(tx, { code: 'OLDFEES', name: 'Old fees', baseCurrency: 'EUR', standardTaxRate: '0.21' }),
      );
      for (const code of ['K1', 'K2']) await seedCustomer(db, entity.id, code);
      // As the ledger target posted them: a page of payments in one transaction, each fee directly
      // after its receipt, the same reference on two customers' payments.
      await db.transaction(async (tx) => {
        const ctx: PostingContext = { db: tx, entity, actor: 'old' };
        await oldPayment(ctx, 'K1', 'PAY-A', '10.00', 30n);
        await oldPayment(ctx, 'K2', 'PAY-A', '20.00', 40n);
        await oldPayment(ctx, 'K1', 'PAY-C', '7.00', null);
        await oldPayment(ctx, 'K2', 'PAY-B', '5.00', 20n);
      });
      await db.transaction((tx) => oldPayment({ db: tx, entity, actor: 'old' }, 'K1', 'PAY-D', '8.00', 25n));
      expect(await migrate(db)).toEqual((await loadMigrations()).filter((m) => m.id >= 114).map((m) => m.name));
      const { rows } = await db.query<{ customer: string; ref: string; fee: string }>(
        `SELECT r.customer_code AS customer, r.external_reference AS ref, f.gross::text AS fee
           FROM receipt_fees x JOIN transactions r ON r.id = x.receipt_id JOIN transactions f ON f.id = x.fee_transaction_id
          WHERE x.entity_id = $1 ORDER BY r.id`,
        [entity.id],
      );
      expect(rows.map((r) => [r.customer, r.ref, r.fee])).toEqual([
        ['K1', 'PAY-A', '30'],
        ['K2', 'PAY-A', '40'],
        ['K2', 'PAY-B', '20'],
        ['K1', 'PAY-D', '25'],
      ]);
      // Linked since: the fee there is found (once), the receipt without one gets it.
      const item = (customer: string, ref: string, amount: string, fee: string): TargetPayment => ({
        sourceId: `${customer}-${ref}`,
        record: payment(ref, amount, { customerSourceId: customer, fee }),
        customerTargetId: customer,
        invoiceTargetId: null,
        bankAccountCode: 'BANK',
        idempotencyKey: `${customer}-${ref}`,
      });
      const results = await db.transaction((tx) =>
        createPayments(tx, entity, 'new', [
          item('K1', 'PAY-A', '10.00', '0.30'),
          item('K2', 'PAY-A', '20.00', '0.50'),
          item('K1', 'PAY-C', '7.00', '0.10'),
        ]),
      );
      expect(results.map((r) => (r.ok ? r.message : `${r.error.code} ${r.error.field}`))).toEqual([
        'already in the ledger; linked',
        'PAYMENT_FEE_DIFFERS fee',
        'already in the ledger; linked; fee posted',
      ]);
      const { rows: journals } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM transactions WHERE entity_id = $1 AND type = 'GJ'`,
        [entity.id],
      );
      expect(journals[0]!.n).toBe(5);
    } finally {
      if (db.kind === 'postgres') {
        const { rows } = await db.query<{ schema: string }>('SELECT current_schema() AS schema');
        await db.exec(`DROP SCHEMA IF EXISTS "${rows[0]!.schema}" CASCADE`);
      }
      await db.close();
    }
  }, 120_000);
});

/** A receipt and its fee journal as the ledger target posted them before migration 0114: not tied. */
async function oldPayment(ctx: PostingContext, customer: string, ref: string, amount: string, fee: bigint | null) {
  const r = await postReceipt(
    ctx,
    {
      customerCode: customer,
      checkReference: ref,
      paymentAmount: amount,
      paymentDate: '2026-11-03',
      bankAccountCode: 'BANK',
    },
    true,
  );
  if (fee === null) return;
  const bank = await bankGlOf(ctx.db, ctx.entity);
  const line = (glAccountCode: string, amt: bigint, role: 'gl' | 'bank') => ({
    role,
    glAccountCode,
    departmentId: null,
    taxCode: null,
    description: `Fee on ${ref}`,
    amount: amt,
    baseAmount: amt,
  });
  await insertTransaction(ctx.db, {
    entityId: ctx.entity.id,
    type: 'GJ',
    customerCode: null,
    currency: 'EUR',
    exchangeRate: r.bankRate,
    transactionDate: '2026-11-03',
    dueDate: null,
    externalReference: ref,
    description: `Payment provider fee on ${ref}`,
    net: fee,
    tax: 0n,
    gross: fee,
    baseGross: fee,
    duplicateChecked: false,
    relatedTransactionId: null,
    details: { fee: true },
    createdBy: ctx.actor,
    items: [],
    lines: [line(ctx.entity.roles.bankCharges, fee, 'gl'), line(bank, -fee, 'bank')],
  });
}

async function bankGlOf(db: Queryable, entity: EntityContext): Promise<string> {
  const { rows } = await db.query<{ gl: string }>(
    `SELECT gl_account_code AS gl FROM bank_accounts WHERE entity_id = $1 AND code = 'BANK'`,
    [entity.id],
  );
  return rows[0]!.gl;
}

/**
 * Runs `first` in a transaction held open on a second connection once it is done, then `second`
 * on the test's own, lets `first` commit once `second` is seen waiting for it, and returns both.
 * On PGlite (one connection) the two run one after the other.
 */
async function race<A, B>(first: (db: Queryable) => Promise<A>, second: () => Promise<B>): Promise<[A, B]> {
  if (!side) return Promise.all([t.db.transaction((tx) => first(tx)), second()]);
  const a = await holdTransaction(side, first);
  const b = second();
  expect(await waitBlockedBehind(side, a.pid, { ms: 10_000 }), 'the second run waits for the first').toBe(true);
  return Promise.all([a.release(), b]);
}
