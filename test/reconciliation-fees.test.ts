/**
 * Reconciliation compares each payment's provider fee, as the source last sent it, with the fee
 * the target holds for the payment. Before, it compared receipts only: a fee journal reversed in
 * the embedded ledger (which takes it off its receipt), or a fee booked with another amount, left
 * the bank off by the fee with nothing to say so. Now each is a `fee-difference` naming the
 * receipt (`missing`, `amount`, `extra`), the fee's own document and what to do; a payment whose
 * fee agrees, or that has none on either side, is matched as before. A target that cannot tell a
 * payment's fee is not compared, and the report says so (`notes`, `summary.fees`).
 *
 * The embedded ledger on PGlite (PostgreSQL with DATABASE_URL); Xero and QuickBooks through their
 * simulators, every Xero request checked against its OpenAPI contract.
 */
import { LosslessNumber } from 'lossless-json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { formatReconciliation } from '../src/cli/reconcile.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import type { Mismatch, Reconciliation } from '../src/sync/reconcile.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { type ScaledQuickBooks, scaledQuickBooks } from './helpers/quickbooks.ts';
import { processScope } from './helpers/scoped.ts';
import {
  customerRecord,
  definePipeline,
  drainTarget,
  openExceptions,
  paymentRecord as payment,
  syncService,
} from './helpers/sync.ts';
import { addUser, signIn } from './helpers/users.ts';
import { XERO_APP, xeroContract, xeroTarget } from './helpers/xero.ts';

const scope = processScope();
const validate = xeroContract('test/reconciliation-fees.test.ts');

let t: TestApp;
let n = 0;

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 12 });
}, 60_000);
afterAll(async () => {
  await t.close();
});

type Pipeline = Awaited<ReturnType<typeof definePipeline>>;

/** Runs the engine over these records (as an import) and sends what waits for a remote target. */
async function run(pipeline: Pipeline, records: CanonicalRecord[], target = 'the ledger') {
  const sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  await sync.processRecords(
    pipeline,
    'import',
    'test',
    records.map((record) => ({ record })),
  );
  await drainTarget(t.db, sync, pipeline, target);
}

async function reconcile(c: Client, pipeline: Pipeline): Promise<Reconciliation> {
  const r = await c.get(`/v1/pipelines/${pipeline.name}/reconciliation?from=2026-11-01&to=2026-11-30`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as Reconciliation;
}

const feeMismatches = (r: Reconciliation) => r.mismatches.filter((m) => m.kind === 'fee-difference');
/** A fee-difference as: reason, reference, source, target, the receipt and the fee's own document. */
const shape = (m: Mismatch) => [
  m.reason,
  m.externalReference,
  m.sourceAmount,
  m.targetAmount,
  m.transactionId,
  m.feeTargetId,
];

describe(`provider fees in the embedded ledger (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  /** An entity whose records pipeline has booked four payments of K1: three with a fee, one without. */
  async function booked() {
    const code = `RFL${++n}`;
    const c = await t.entity(code, 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, code, { name: 'records', source: { type: 'records' } });
    await run(pipeline, [
      customerRecord('K1'),
      payment('PAY-1', '100.00', { fee: '1.50' }),
      payment('PAY-2', '50.00', { fee: '0.80' }),
      payment('PAY-3', '20.00'),
      payment('PAY-4', '30.00', { fee: '2.00' }),
    ]);
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const { rows } = await t.db.query<{ ref: string; receipt: string; number: string; fee: string | null }>(
      `SELECT r.external_reference AS ref, r.id::text AS receipt, r.number::text AS number, f.fee_transaction_id::text AS fee
         FROM transactions r LEFT JOIN receipt_fees f ON f.receipt_id = r.id
        WHERE r.entity_id = $1 AND r.type = 'SR' ORDER BY r.id`,
      [c.entityId],
    );
    const receipt = (ref: string) => Number(rows.find((r) => r.ref === ref)!.receipt);
    const number = (ref: string) => rows.find((r) => r.ref === ref)!.number;
    const fee = (ref: string) => rows.find((r) => r.ref === ref)!.fee;
    return { c, pipeline, receipt, number, fee };
  }

  /** A journal keyed by hand: bank charges (7700) debited, the bank (1200) credited; in the base currency by default. */
  async function keyFee(c: Client, reference: string, amount: string, currency?: string): Promise<number> {
    const r = await c.post('/v1/journals', {
      date: '2026-11-06',
      reference,
      description: 'Stripe fee',
      ...(currency ? { currency } : {}),
      lines: [
        { glAccountCode: '7700', debit: amount },
        { glAccountCode: '1200', credit: amount },
      ],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return Number(r.body.transactionId);
  }

  it('agrees when every fee is as the source says; a payment with no fee on either side is matched as before', async () => {
    const { c, pipeline } = await booked();
    const r = await reconcile(c, pipeline);
    expect(r.mismatches).toEqual([]);
    expect(r.summary).toEqual({
      matched: 4,
      mismatched: 0,
      sourceDocuments: 4,
      ledgerDocuments: 4,
      fees: { compared: 4, notCompared: 0 },
    });
    expect(r.notes).toEqual([]);
  });

  it('names a fee journal reversed (missing), one recorded with another amount (amount), and one the source does not say (extra)', async () => {
    const { c, pipeline, receipt, number, fee } = await booked();
    // PAY-1's fee journal reversed: receipt_fees loses its row, the bank is 1.50 too high.
    const reversed = await c.post(`/v1/journals/${fee('PAY-1')}/reverse`, {});
    expect(reversed.status, JSON.stringify(reversed.body)).toBe(201);
    const afterReversal = await reconcile(c, pipeline);
    expect(feeMismatches(afterReversal).map(shape)).toEqual([
      ['missing', 'PAY-1', '1.50', null, receipt('PAY-1'), null],
    ]);
    const missing = feeMismatches(afterReversal)[0]!;
    expect(missing).toMatchObject({
      documentKind: 'payment',
      sourceId: 'PAY-1',
      customerCode: 'K1',
      currency: 'EUR',
      date: '2026-11-03',
      targetId: String(receipt('PAY-1')),
      exceptionId: null,
    });
    // The receipt by its number and reference, as people see it; the request to make by its id.
    expect(missing.message).toBe(
      `The source says payment PAY-1 had a provider fee of EUR 1.50; the ledger holds none for payment ${number('PAY-1')} (PAY-1), ` +
        `so its bank is EUR 1.50 too high there: key the fee as a general journal, bank charges debited and the receipt's bank credited ` +
        `(POST /v1/journals), and record it as the receipt's fee (PUT /v1/transactions/${receipt('PAY-1')}/fee)`,
    );
    // Not matched: the bank differs by it. The other three are, PAY-3 without a fee on either side.
    expect(afterReversal.summary).toMatchObject({ matched: 3, mismatched: 1, fees: { compared: 4, notCompared: 0 } });

    // Keyed again with another amount and recorded as the receipt's fee.
    const wrong = await keyFee(c, 'PAY-1', '1.20');
    const recorded = await c.put(`/v1/transactions/${receipt('PAY-1')}/fee`, { journalId: wrong });
    expect(recorded.status, JSON.stringify(recorded.body)).toBe(200);
    // And a fee recorded for PAY-3, which the source says had none.
    const extra = await keyFee(c, 'PAY-3', '0.40');
    expect((await c.put(`/v1/transactions/${receipt('PAY-3')}/fee`, { journalId: extra })).status).toBe(200);
    const r = await reconcile(c, pipeline);
    expect(feeMismatches(r).map(shape)).toEqual([
      ['amount', 'PAY-1', '1.50', '1.20', receipt('PAY-1'), String(wrong)],
      ['extra', 'PAY-3', null, '0.40', receipt('PAY-3'), String(extra)],
    ]);
    const [amount, unexpected] = feeMismatches(r) as [Mismatch, Mismatch];
    expect(amount.message).toMatch(
      new RegExp(
        `^The provider fee the ledger holds for payment ${number('PAY-1')} \\(PAY-1\\) is General journal \\d+ \\(PAY-1\\), EUR 1\\.20; ` +
          `the source says EUR 1\\.50: if the source is right, reverse General journal \\d+ \\(PAY-1\\) \\(POST /v1/journals/${wrong}/reverse\\)`,
      ),
    );
    expect(unexpected.message).toMatch(
      /the source says payment PAY-3 had none: if the source is right, reverse General journal/,
    );
    // The rest are as they were: no mismatch of amount or date.
    expect(r.mismatches.filter((m) => m.kind !== 'fee-difference')).toEqual([]);
    expect(r.summary).toMatchObject({ matched: 2, mismatched: 2 });

    // The command line prints them, naming the receipt and the fee's journal.
    const printed = formatReconciliation(r);
    expect(printed).toContain(
      `fee-difference (amount) 2026-11-03 K1: The provider fee the ledger holds for payment ${number('PAY-1')} (PAY-1)`,
    );
    expect(printed).toContain(`[transaction ${receipt('PAY-1')}, fee ${wrong}]`);

    // The dashboard shows the kind in words, linked to the receipt and the fee's journal.
    const user = await addUser(t, c, `owner-${c.entityId.slice(0, 8)}@example.com`, 'owner');
    const browser = await signIn(t, user.email, user.password);
    const page = await browser.request('GET', '/reconciliation?pipeline=records&from=2026-11-01&to=2026-11-30');
    expect(page.status).toBe(200);
    const html = String(page.body);
    expect(html).toContain('Provider fees differ');
    expect(html).toContain(`href="/transactions/${receipt('PAY-1')}"`);
    expect(html).toContain(`href="/transactions/${wrong}"`);
  });

  it('takes the fee the source sent last: a changed fee is parked, and named here until the ledger has it', async () => {
    const { c, pipeline, receipt, fee } = await booked();
    await run(pipeline, [payment('PAY-2', '50.00', { fee: '0.90' })]);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([
      ['PAY-2', 'PAYMENT_ALREADY_POSTED_CHANGED', 'fee'],
    ]);
    const r = await reconcile(c, pipeline);
    expect(feeMismatches(r).map(shape)).toEqual([['amount', 'PAY-2', '0.90', '0.80', receipt('PAY-2'), fee('PAY-2')]]);
    // The exception to resolve once the fee is corrected.
    const { rows } = await t.db.query<{ id: string }>(
      `SELECT id FROM exceptions WHERE pipeline_id = $1 AND source_id = 'PAY-2' AND status = 'open'`,
      [pipeline.id],
    );
    expect(feeMismatches(r)[0]!.exceptionId).toBe(Number(rows[0]!.id));

    // Corrected as the message says: the fee journal reversed, the right one keyed and recorded.
    expect((await c.post(`/v1/journals/${fee('PAY-2')}/reverse`, {})).status).toBe(201);
    const right = await keyFee(c, 'PAY-2', '0.90');
    expect((await c.put(`/v1/transactions/${receipt('PAY-2')}/fee`, { journalId: right })).status).toBe(200);
    const fixed = await reconcile(c, pipeline);
    expect(fixed.mismatches).toEqual([]);
    expect(fixed.summary).toMatchObject({ matched: 4, fees: { compared: 4, notCompared: 0 } });
  });

  it('names a foreign-currency fee reversed, says to key it in the receipt’s currency, and agrees once that is done', async () => {
    const code = `RFL${++n}`;
    const c = await t.entity(code, 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, code, { name: 'records', source: { type: 'records' } });
    expect((await c.put('/v1/currencies/USD/rates/2026-01-01', { rate: '1.25' })).status).toBe(201);
    await run(pipeline, [
      { kind: 'customer', sourceId: 'K2', name: 'Yankee', currency: 'USD' },
      payment('PAY-U', '125.00', { customerSourceId: 'K2', currency: 'USD', fee: '2.50' }),
    ]);
    const [{ receipt, fee }] = (
      await t.db.query<{ receipt: string; fee: string }>(
        'SELECT receipt_id::text AS receipt, fee_transaction_id::text AS fee FROM receipt_fees WHERE entity_id = $1',
        [c.entityId],
      )
    ).rows as [{ receipt: string; fee: string }];
    expect((await c.post(`/v1/journals/${fee}/reverse`, {})).status).toBe(201);
    const [missing] = feeMismatches(await reconcile(c, pipeline)) as [Mismatch];
    expect(shape(missing)).toEqual(['missing', 'PAY-U', '2.50', null, Number(receipt), null]);
    expect(missing.message).toContain(
      `key the fee as a general journal in USD ("currency": "USD"), bank charges debited and the receipt's bank credited ` +
        `(POST /v1/journals), and record it as the receipt's fee (PUT /v1/transactions/${receipt}/fee)`,
    );
    // Done as it says.
    const keyed = await keyFee(c, 'PAY-U', '2.50', 'USD');
    const recorded = await c.put(`/v1/transactions/${receipt}/fee`, { journalId: keyed });
    expect(recorded.status, JSON.stringify(recorded.body)).toBe(200);
    const fixed = await reconcile(c, pipeline);
    expect(fixed.mismatches).toEqual([]);
    expect(fixed.summary).toMatchObject({ matched: 1, fees: { compared: 1, notCompared: 0 } });
  });

  it('does not compare the fee of a payment booked before fees were kept, and says so', async () => {
    const { c, pipeline, fee } = await booked();
    // As booked before 2026-12-06: its map entry keeps no fee.
    await t.db.query(`UPDATE sync_map SET fingerprint = NULL WHERE pipeline_id = $1 AND source_id = 'PAY-1'`, [
      pipeline.id,
    ]);
    expect((await c.post(`/v1/journals/${fee('PAY-1')}/reverse`, {})).status).toBe(201);
    const r = await reconcile(c, pipeline);
    expect(r.mismatches).toEqual([]);
    expect(r.summary).toMatchObject({ matched: 4, fees: { compared: 3, notCompared: 1 } });
    expect(r.notes).toEqual([
      'Provider fees were not compared for 1 payment booked before 2026-12-06: the fee the source sent was not kept then.',
    ]);
    expect(formatReconciliation(r)).toContain('note: Provider fees were not compared for 1 payment booked before');
  });
});

describe('provider fees in Xero (spend money under the payment’s reference)', () => {
  let sim: XeroSimulator;
  beforeAll(async () => {
    scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, retryAfterMaxMs: 5000 } });
    sim = await startXeroSimulator({
      oauth: XERO_APP,
      validate,
      seed: 23,
      limits: { perMinute: 100_000, perDay: 100_000 },
    });
  }, 60_000);
  afterAll(async () => {
    await sim.close();
  });

  it('reads each payment’s fee back from Xero: one deleted there is missing, one edited there another amount', async () => {
    const c = await t.entity('RFX1', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'RFX1', {
      name: 'records-to-xero',
      source: { type: 'records' },
      target: xeroTarget(sim),
    });
    await run(
      pipeline,
      [
        customerRecord('K1'),
        {
          kind: 'invoice',
          sourceId: 'INV-X1',
          externalReference: 'INV-X1',
          customerSourceId: 'K1',
          invoiceDate: '2026-11-02',
          dueDate: '2026-12-02',
          currency: 'EUR',
          description: '',
          lines: [{ description: 'Seat', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
        },
        // A payment of the invoice, and two booked as overpayments (no invoice named): two with a fee.
        payment('PAY-X1', '121.00', { fee: '1.50', invoiceExternalReference: 'INV-X1' }),
        payment('PAY-X2', '50.00', { fee: '0.80' }),
        payment('PAY-X3', '20.00'),
      ],
      'Xero',
    );
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const spendOf = (reference: string) => [...sim.tenant().spends.values()].find((s) => s.Reference === reference)!;
    expect([spendOf('PAY-X1').Total.toFixed(2), spendOf('PAY-X2').Total.toFixed(2)]).toEqual(['1.50', '0.80']);

    const calls = sim.stats.calls;
    const clean = await reconcile(c, pipeline);
    expect(clean.mismatches).toEqual([]);
    expect(clean.summary).toMatchObject({ matched: 4, mismatched: 0, fees: { compared: 3, notCompared: 0 } });
    expect(clean.notes).toEqual([]);
    expect(sim.stats.calls - calls).toBeLessThanOrEqual(20);

    // In Xero: PAY-X1's fee deleted, PAY-X2's edited to 0.90.
    const deleted = spendOf('PAY-X1');
    deleted.Status = 'DELETED';
    const edited = spendOf('PAY-X2');
    edited.Lines[0]!.LineAmount = edited.Lines[0]!.LineAmount.add('0.10');
    edited.Total = edited.Total.add('0.10');
    const r = await reconcile(c, pipeline);
    const { rows } = await t.db.query<{ source_id: string; target_id: string }>(
      `SELECT source_id, target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'payment' ORDER BY source_id`,
      [pipeline.id],
    );
    const booked = Object.fromEntries(rows.map((x) => [x.source_id, x.target_id]));
    expect(feeMismatches(r).map((m) => [...shape(m), m.targetId])).toEqual([
      ['missing', 'PAY-X1', '1.50', null, null, null, booked['PAY-X1']],
      ['amount', 'PAY-X2', '0.80', '0.90', null, edited.BankTransactionID, booked['PAY-X2']],
    ]);
    expect(feeMismatches(r)[0]!.message).toMatch(
      /^The source says payment PAY-X1 had a provider fee of EUR 1\.50; the target holds none for payment .*: spend it in Xero out of the payment's bank account to the bank fees account, with the reference PAY-X1/,
    );
    expect(feeMismatches(r)[1]!.message).toContain(
      `is spend money ${edited.BankTransactionID}, EUR 0.90; the source says EUR 0.80: if the source is right, correct spend money ${edited.BankTransactionID} in Xero`,
    );
    expect(r.mismatches.filter((m) => m.kind !== 'fee-difference')).toEqual([]);
    expect(r.summary).toMatchObject({ matched: 2, mismatched: 2 });
    expect(sim.stats.specViolations).toEqual([]);
  }, 60_000);

  it('two customers’ payments under one reference each get their own fee, once under lost answers, and a deleted one is named for its own payment', async () => {
    const c = await t.entity('RFX2', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'RFX2', {
      name: 'records-to-xero',
      source: { type: 'records' },
      target: xeroTarget(sim),
    });
    // The fees' answer and the payments' (overpayments: no invoice named) are lost after committing.
    sim.control.dropNext(2, 'PUT /BankTransactions');
    await run(
      pipeline,
      [
        // Customers of their own: the organisation is shared with the test above (its K1).
        customerRecord('KS1'),
        customerRecord('KS2'),
        payment('PAY-S1', '60.00', { fee: '1.10', externalReference: 'ORDER-1001', customerSourceId: 'KS1' }),
        payment('PAY-S2', '40.00', { fee: '0.70', externalReference: 'ORDER-1001', customerSourceId: 'KS2' }),
      ],
      'Xero',
    );
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const spent = () =>
      [...sim.tenant().spends.values()].filter((s) => s.Reference === 'ORDER-1001' && s.Status === 'AUTHORISED');
    expect(spent().map((s) => s.Total.toFixed(2))).toEqual(['1.10', '0.70']);
    expect([...sim.tenant().overpayments.values()].filter((o) => o.Reference === 'ORDER-1001')).toHaveLength(2);

    const clean = await reconcile(c, pipeline);
    expect(clean.mismatches).toEqual([]);
    expect(clean.summary).toMatchObject({ mismatched: 0, fees: { compared: 2, notCompared: 0 } });

    // In Xero: the second customer's fee deleted. The first's, under the same reference, is not taken for it.
    spent()[1]!.Status = 'DELETED';
    const r = await reconcile(c, pipeline);
    const { rows } = await t.db.query<{ source_id: string; target_id: string }>(
      `SELECT source_id, target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'payment' ORDER BY source_id`,
      [pipeline.id],
    );
    const booked = Object.fromEntries(rows.map((x) => [x.source_id, x.target_id]));
    expect(feeMismatches(r).map((m) => [m.reason, m.sourceId, m.sourceAmount, m.targetAmount, m.targetId])).toEqual([
      ['missing', 'PAY-S2', '0.70', null, booked['PAY-S2']],
    ]);
    expect(r.summary).toMatchObject({ fees: { compared: 2, notCompared: 0 } });
    expect(sim.stats.specViolations).toEqual([]);
  }, 60_000);
});

describe('provider fees in QuickBooks (a Purchase carrying the payment’s reference)', () => {
  const REALM = '4620816365000000099';
  let company: ScaledQuickBooks;
  beforeAll(async () => {
    company = await scaledQuickBooks(t.db, scope, { realms: [REALM], seed: 31 });
  }, 60_000);
  afterAll(async () => {
    await company.qbo.close();
  });

  it('reads each payment’s fee back from QuickBooks: one deleted there is missing, one booked again with another amount is named', async () => {
    const c = await t.entity('RFQ1', 'EUR', { standardTaxRate: '0.23' });
    const pipeline = await definePipeline(t.db, 'RFQ1', {
      name: 'records-to-qbo',
      source: { type: 'records' },
      target: company.target(REALM),
    });
    await run(
      pipeline,
      [
        customerRecord('K1'),
        payment('PAY-Q1', '100.00', { fee: '1.50' }),
        payment('PAY-Q2', '50.00', { fee: '0.80' }),
        payment('PAY-Q3', '20.00'),
      ],
      'QuickBooks',
    );
    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const { qbo } = company;
    const books = qbo.books(REALM);
    const feeOf = (reference: string) =>
      books
        .all('Purchase')
        .filter((e) => String(e.PrivateNote).split('\n').at(-1) === `ledgerlink reference: ${reference}`);
    expect(feeOf('PAY-Q1').map((e) => String(e.TotalAmt))).toEqual(['1.50']);

    const clean = await reconcile(c, pipeline);
    expect(clean.mismatches).toEqual([]);
    expect(clean.summary).toMatchObject({ matched: 3, mismatched: 0, fees: { compared: 3, notCompared: 0 } });

    // In QuickBooks: PAY-Q1's fee deleted; PAY-Q2's deleted and entered again as 0.60.
    const remove = (e: Record<string, unknown>) =>
      books.write('Purchase', 'delete', { Id: e.Id, SyncToken: e.SyncToken });
    remove(feeOf('PAY-Q1')[0]!);
    const old = feeOf('PAY-Q2')[0]!;
    remove(old);
    const {
      Id: _id,
      SyncToken: _token,
      MetaData: _meta,
      domain: _domain,
      sparse: _sparse,
      TotalAmt: _total,
      ...rest
    } = old;
    const line = (old.Line as Record<string, unknown>[])[0]!;
    const again = books.write('Purchase', 'create', {
      ...rest,
      Line: [{ ...line, Id: undefined, Amount: new LosslessNumber('0.60') }],
    });
    const r = await reconcile(c, pipeline);
    expect(
      feeMismatches(r).map((m) => [m.reason, m.externalReference, m.sourceAmount, m.targetAmount, m.feeTargetId]),
    ).toEqual([
      ['missing', 'PAY-Q1', '1.50', null, null],
      ['amount', 'PAY-Q2', '0.80', '0.60', again.Id],
    ]);
    expect(feeMismatches(r)[0]!.message).toContain(
      'record it in QuickBooks as an expense paid in cash out of the bank the payment went to, to Bank Charges, numbered PAY-Q1',
    );
    expect(r.mismatches.filter((m) => m.kind !== 'fee-difference')).toEqual([]);
    expect(r.summary).toMatchObject({ matched: 1, mismatched: 2 });
    if (qbo.validating) expect(qbo.violations).toEqual([]);
  }, 60_000);
});

describe('a target that cannot tell a payment’s fee', () => {
  it('is not compared, and the report says so rather than claim the fees agree', async () => {
    const c = await t.entity('RFW1', 'EUR', { standardTaxRate: '0.21' });
    // The outbound webhook keeps nothing to read back: reconciliation compares what it acknowledged.
    const pipeline = await definePipeline(t.db, 'RFW1', {
      name: 'records-to-hook',
      source: { type: 'records' },
      target: { type: 'webhook', url: 'http://127.0.0.1:9/hook', secret: 'hook-secret-0123456789abcdef' },
    });
    expect(pipeline.targetType).toBe('webhook');
    // A payment booked into it with a fee, as the engine records one (its map entry keeping the fee,
    // its source row), without a receiver to send it to.
    await t.db.query(
      `INSERT INTO sync_map (pipeline_id, kind, source_id, target_id, fingerprint) VALUES ($1, 'payment', 'PAY-W1', 'w-1', $2)`,
      [pipeline.id, JSON.stringify({ fee: 'EUR 1.50' })],
    );
    await t.db.query(
      `INSERT INTO source_documents (pipeline_id, kind, source_id, external_reference, customer_source_id, customer_code, document_date, currency, gross, payload)
       VALUES ($1, 'payment', 'PAY-W1', 'PAY-W1', 'K1', 'K1', '2026-11-03', 'EUR', 10000, '{}')`,
      [pipeline.id],
    );
    const r = await reconcile(c, pipeline);
    expect(r.mismatches.filter((m) => m.kind !== 'open-balance-difference')).toEqual([]);
    expect(r.summary).toMatchObject({ matched: 1, fees: { compared: 0, notCompared: 1 } });
    expect(r.notes).toEqual([
      'Provider fees were not compared for 1 payment: the webhook target is compared with what it acknowledged, not read back (it lists nothing for reconciliation), so the fee it holds for each is not known and this report does not say whether they agree.',
      // Nor can it tell balances: its column is the source's, and the report says so.
      "Open balances were not compared: the webhook target cannot tell what each customer owes it, so its column repeats the source's and this report does not say whether they agree.",
    ]);
  });
});
