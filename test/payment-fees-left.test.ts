/**
 * A payment provider's fee never vanishes without a word. A target that books no fee (AccountsIQ,
 * before it booked them) used to take a payment with one at its gross amount and drop the fee: the platform's bank then
 * stood higher than what the provider paid out, by every fee, and nothing said so. Now such a
 * payment is parked PAYMENT_FEE_NOT_SUPPORTED on `fee`, alone, nothing sent; a payment without a
 * fee (or a fee of 0.00) goes on. A pipeline that leaves fees to the books (`options.fees:
 * "leave"`) books payments gross, for any target, keeps no fee as booked (a fee the source changes
 * later is no change of what was booked), and its reconciliation compares no fee and says so.
 *
 * A target that books no fee: the AccountsIQ connector, through its simulator, with `fees` taken out
 * of its capabilities (it books them as sundry bank payments since; test/accountsiq-fees.test.ts),
 * and the embedded ledger; PGlite (PostgreSQL with DATABASE_URL).
 */
import { describe, expect, it } from 'vitest';
import { accountsiqTarget } from '../src/connectors/accountsiq/index.ts';
import { type AccountsIqSimulator, startAccountsIqSimulator } from '../src/connectors/accountsiq/simulator.ts';
import { createAccountsIqTarget } from '../src/connectors/accountsiq/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import type { Reconciliation } from '../src/sync/reconcile.ts';
import type { Client } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { platformEngine } from './helpers/platform-engine.ts';
import { customerRecord, definePipeline, openExceptions, paymentRecord as payment } from './helpers/sync.ts';

const CLIENT = { clientId: 'ledgerlink-fees', clientSecret: 'aiq-fees-secret-0123456789abcdef' };

let sim: AccountsIqSimulator;

const e2e = platformEngine({
  name: 'AccountsIQ',
  start: async (e) => {
    sim = e.closeLater(
      await startAccountsIqSimulator({
        entityId: 'FEES',
        ...CLIENT,
        glAccounts: ['4000'],
        taxCodes: [['S', '0.21']],
        seed: 3,
      }),
    );
  },
  // AccountsIQ as a target that books no fee: its capabilities without `fees`.
  target: () => ({
    ...accountsiqTarget,
    create: (deps) => {
      const t = createAccountsIqTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40 } });
      return Promise.resolve({ ...t, capabilities: { ...t.capabilities, fees: false } });
    },
  }),
});

const aiq = {
  type: 'accountsiq',
  entityId: 'FEES',
  ...CLIENT,
  glAccountCode: '4000',
  limits: { callsPerSecond: 10_000, callsPerMinute: 100_000, concurrent: 2, batchSize: 10 },
};

/** AccountsIQ's bank payments (where its connector would book a fee) under these references. */
const bankPayments = (prefix: string) =>
  [...sim.books.transactions.values()].filter((x) => x.type === 'BankPayment' && x.reference.startsWith(prefix));

/** AccountsIQ's receipts under these references: [reference, amount]. */
const receipts = (prefix: string) =>
  [...sim.books.transactions.values()]
    .filter((x) => x.type === 'SalesReceipt' && x.reference.startsWith(prefix))
    .map((x) => [x.reference, String(x.gross)])
    .sort();

/** PUT /v1/pipelines/{name} of the pipeline as GET reads it, its `options` replaced. */
async function putOptions(c: Client, name: string, options: Record<string, unknown>) {
  const got = await c.get(`/v1/pipelines/${name}`);
  expect(got.status).toBe(200);
  return c.put(`/v1/pipelines/${name}`, { ...(got.body as Record<string, unknown>), options });
}

/** An entity and its records pipeline into AccountsIQ. */
async function aiqPipeline(code: string, name: string) {
  const c = await e2e.entity(code);
  const pipeline = await definePipeline(e2e.db, code, {
    name,
    source: { type: 'records' },
    target: { ...aiq, url: sim.url },
  });
  return { c, pipeline };
}

describe(`a payment's provider fee, for a target that books none (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('parks a payment with a fee, alone and on `fee`; books those without; books it gross once the pipeline leaves fees to the books', async () => {
    const { c, pipeline } = await aiqPipeline('FEE1', 'fees-to-aiq');
    const records: CanonicalRecord[] = [
      customerRecord('K1'),
      payment('F1-PAY-1', '121.00', { fee: '2.50' }),
      payment('F1-PAY-2', '50.00'),
      payment('F1-PAY-3', '30.00', { fee: '0.00' }),
    ];
    await e2e.send(pipeline, records);
    const parked = await openExceptions(e2e.db, pipeline);
    expect(parked.map((x) => [x.source_id, x.reason_code, x.field])).toEqual([
      ['F1-PAY-1', 'PAYMENT_FEE_NOT_SUPPORTED', 'fee'],
    ]);
    expect(parked[0]!.message).toMatch(/fee of EUR 2\.50.*accountsiq target books no fee.*options\.fees to "leave"/);
    // Nothing of it in AccountsIQ, no fee either; the others booked.
    expect(receipts('F1-')).toEqual([
      ['F1-PAY-2', '50'],
      ['F1-PAY-3', '30'],
    ]);
    expect(bankPayments('F1-')).toEqual([]);

    // The bookkeeper keys fees by hand: the pipeline leaves them to the books, and the retry books the payment gross.
    const leaving = await definePipeline(e2e.db, 'FEE1', {
      name: 'fees-to-aiq',
      source: { type: 'records' },
      target: { ...aiq, url: sim.url },
      options: { fees: 'leave' },
    });
    const { rows } = await e2e.db.query<{ id: number }>(
      `SELECT id FROM exceptions WHERE pipeline_id = $1 AND status = 'open'`,
      [pipeline.id],
    );
    const retried = await c.post(`/v1/exceptions/${rows[0]!.id}/retry`, {});
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    await e2e.drain(pipeline);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expect(receipts('F1-')).toEqual([
      ['F1-PAY-1', '121'],
      ['F1-PAY-2', '50'],
      ['F1-PAY-3', '30'],
    ]);

    // The source corrects the fee later: no change of what was booked (no fee was), nothing parked or sent.
    await e2e.send(leaving, [payment('F1-PAY-1', '121.00', { fee: '2.70' })]);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expect(receipts('F1-')).toHaveLength(3);
    expect(bankPayments('F1-')).toEqual([]);
  });

  it('refuses an options.fees it does not know, naming the field', async () => {
    const { c } = await aiqPipeline('FEE2', 'fees-bad');
    const put = await putOptions(c, 'fees-bad', { fees: 'ignore' });
    expect(put.status).toBe(400);
    expect(put.body).toMatchObject({ error: { code: 'VALIDATION_ERROR', details: [{ field: 'body.options.fees' }] } });
  });
});

describe(`a pipeline that leaves fees to the books, into the embedded ledger (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('posts the receipt gross and no fee journal, and its reconciliation compares no fee and says why', async () => {
    const c = await e2e.entity('FEE3');
    const pipeline = await definePipeline(e2e.db, 'FEE3', {
      name: 'records',
      source: { type: 'records' },
      options: { fees: 'leave' },
    });
    await e2e.send(pipeline, [customerRecord('K1'), payment('F3-PAY-1', '100.00', { fee: '1.50' })]);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    const { rows } = await e2e.db.query<{ gross: string; fees: string }>(
      `SELECT r.gross::text AS gross, (SELECT count(*) FROM receipt_fees f WHERE f.receipt_id = r.id)::text AS fees
         FROM transactions r WHERE r.entity_id = $1 AND r.type = 'SR'`,
      [c.entityId],
    );
    expect(rows).toEqual([{ gross: '10000', fees: '0' }]);
    const journals = await e2e.db.query(
      `SELECT 1 FROM transactions WHERE entity_id = $1 AND type IN ('GJ', 'GC', 'GD')`,
      [c.entityId],
    );
    expect(journals.rows).toEqual([]);

    const r = await c.get('/v1/pipelines/records/reconciliation?from=2026-11-01&to=2026-11-30');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const report = r.body as Reconciliation;
    expect(report.mismatches).toEqual([]);
    expect(report.summary.fees).toEqual({ compared: 0, notCompared: 1 });
    expect(report.notes).toEqual([expect.stringMatching(/leaves fees to the books \(options\.fees is "leave"\)/)]);
  });
});
