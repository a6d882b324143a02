import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quickbooksTarget } from '../src/connectors/quickbooks/index.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { createQuickBooksTarget } from '../src/connectors/quickbooks/target.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { reconcile } from '../src/sync/reconcile.ts';
import { processScope } from './helpers/scoped.ts';
import { OAuthSimulator } from '../src/sync/remote/oauth-simulator.ts';
import { getRun } from '../src/sync/runs.ts';
import type { SyncService } from '../src/sync/service.ts';
import { ledgerSettled } from './helpers/db.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { checkInvariants, seedCustomer } from './helpers/ledger.ts';
import { ledgerBalances, ledgerDue, trade } from './helpers/ledger-trade.ts';
import { definePipeline, drainTarget, openExceptions, silentLog, syncService, testBox } from './helpers/sync.ts';

/*
 * ledger → QuickBooks Online: the embedded ledger mirrored into the simulated QuickBooks through
 * the engine, with answers dropped after QuickBooks committed them and the client giving up at
 * once, so that every lost answer is the engine's to resolve by a lookup. Invoices, credit notes
 * as CreditMemos, receipts as Payments (one posted with the invoice it pays applied to it, any
 * other unapplied), and every allocation: a credit memo through a Payment of 0, a receipt by
 * updating its Payment. Each invoice's Balance in QuickBooks is what it owes in the ledger, and
 * nothing is written twice.
 */

const CLIENT = { clientId: 'ledgerlink-test-app', clientSecret: 'qbo-client-secret-0123456789' };
const TOKEN_PATH = '/oauth2/v1/tokens/bearer';
const REALM = '9130350000000088';

let t: TestApp;
let sync: SyncService;
let oauth: OAuthSimulator;
const closers: { close(): Promise<void> }[] = [];

const scope = processScope();

beforeAll(async () => {
  t = await createTestApp();
  sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  oauth = new OAuthSimulator({
    ...CLIENT,
    callbackTenantParam: 'realmId',
    tenants: [{ tenantId: REALM }],
    accessTokenSeconds: 3600,
    paths: { token: TOKEN_PATH },
  });
  // One attempt per call: a dropped answer is the engine's to look up, not the client's to replay.
  scope.target({
    ...quickbooksTarget,
    create: (deps) =>
      Promise.resolve(createQuickBooksTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } })),
  });
});
afterAll(async () => {
  for (const c of closers) await c.close();
  await t.close();
});

async function quickbooks(seed: number) {
  const sim = await startQuickBooksSimulator({
    realms: {
      [REALM]: {
        country: 'NL',
        currency: 'EUR',
        vatRates: [
          ['21% S', '21'],
          ['9% R', '9'],
          ['0% Z', '0'],
        ],
      },
    },
    oauth,
    seed,
    dropAfterCommitRate: 0.03,
    limits: { callsPerSecond: 10_000, callsPerMinute: 100_000, batchPerMinute: 100_000 },
  });
  closers.push(sim);
  return sim;
}

function target(sim: QuickBooksSimulator) {
  return {
    type: 'quickbooks',
    ...CLIENT,
    refreshToken: oauth.issueGrant().refreshToken,
    realmId: REALM,
    baseUrl: sim.url,
    tokenUrl: `${sim.url}${TOKEN_PATH}`,
    limits: { callsPerMinute: 100_000, callsPerSecond: 10_000 },
  };
}

async function run(pipeline: Pipeline) {
  const r = (await getRun(t.db, (await sync.trigger(pipeline, 'manual', 'test'))!))!;
  await drainTarget(t.db, sync, pipeline, 'QuickBooks');
  return r;
}

const cents = (v: unknown) => Math.round(Number(String(v)) * 100);
const refOf = (v: unknown) => (v as { value: string }).value;

/** Each QuickBooks invoice's Balance, by DocNumber (the ledger reference), in cents. */
function qboDue(sim: QuickBooksSimulator): Record<string, number> {
  return Object.fromEntries(
    sim
      .books()
      .all('Invoice')
      .map((e) => [String(e.DocNumber), cents(e.Balance)]),
  );
}

/** What each customer owes in QuickBooks (invoices less credit memos less payments), by AcctNum, in cents. */
function qboBalances(sim: QuickBooksSimulator): Record<string, number> {
  const books = sim.books();
  const code = (id: string) => String(books.get('Customer', id)!.AcctNum);
  const out: Record<string, number> = {};
  const add = (customerId: string, v: number) => (out[code(customerId)] = (out[code(customerId)] ?? 0) + v);
  for (const e of books.all('Invoice')) add(refOf(e.CustomerRef), cents(e.TotalAmt));
  for (const e of books.all('CreditMemo')) add(refOf(e.CustomerRef), -cents(e.TotalAmt));
  for (const e of books.all('Payment')) add(refOf(e.CustomerRef), -cents(e.TotalAmt));
  return out;
}

/** Allocations the engine found in QuickBooks after a lost answer instead of sending them again. */
async function linkedAfterLoss(pipeline: Pipeline, kind: string): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM run_records r JOIN runs u ON u.id = r.run_id
      WHERE u.pipeline_id = $1 AND r.kind = $2 AND r.message LIKE 'found in the target after an uncertain answer%'`,
    [pipeline.id, kind],
  );
  return Number(rows[0]!.n);
}

const isPaymentUpdate = (body: string) => body.includes('"operation":"update"') && body.includes('"Payment":{');
const isCreditApplication = (body: string) => body.includes('"operation":"create"') && body.includes('"TotalAmt":0.00');

describe('ledger → QuickBooks Online', () => {
  it('mirrors invoices, credit memos, payments and every allocation exactly once through dropped answers; every invoice owes what it owes in the ledger', async () => {
    const c = await t.entity('LQ1', 'EUR', { standardTaxRate: '0.21' });
    const customers = ['C01', 'C02', 'C03', 'C04', 'C05', 'C06', 'C07', 'C08'];
    for (const code of customers) await seedCustomer(t.db, c.entityId, code);
    await trade(c, customers, 0);
    // Not mirrored, and said so: a sales credit journal.
    const sc = await c.post('/v1/sales/credit-journals', {
      customerCode: 'C08',
      transactionDate: '2026-11-08',
      lines: [{ glAccountCode: '4000', amount: '5.00' }],
    });
    expect(sc.status).toBe(201);

    const sim = await quickbooks(21);
    sim.dropNext(1, (body) => body.includes('"CreditMemo":{'));
    sim.dropNext(1, isCreditApplication);
    sim.dropNext(1, isPaymentUpdate);
    const pipeline = await definePipeline(t.db, 'LQ1', {
      name: 'books-to-qbo',
      source: { type: 'ledger' },
      target: target(sim),
    });
    await ledgerSettled(t.db);
    const first = await run(pipeline);
    expect(['succeeded', 'partial']).toContain(first.status);

    const books = sim.books();
    const { rows: ledger } = await t.db.query<{ type: string; ref: string }>(
      `SELECT type, type || '-' || number AS ref FROM transactions WHERE entity_id = $1 AND type IN ('SI', 'SN', 'SR') ORDER BY 2`,
      [c.entityId],
    );
    const ledgerRefs = (type: string) =>
      ledger
        .filter((r) => r.type === type)
        .map((r) => r.ref)
        .sort();
    const docNumbers = (type: 'Invoice' | 'CreditMemo') =>
      books
        .all(type)
        .map((e) => String(e.DocNumber))
        .sort();
    expect(docNumbers('Invoice')).toEqual(ledgerRefs('SI'));
    expect(docNumbers('CreditMemo')).toEqual(ledgerRefs('SN'));
    const payments = books.all('Payment');
    const receipts = payments.filter((p) => cents(p.TotalAmt) !== 0);
    expect(receipts.map((p) => String(p.PaymentRefNum)).sort()).toEqual(ledgerRefs('SR'));
    // Each credit note applied by one Payment of 0 linking it and its invoice.
    const applications = payments.filter((p) => cents(p.TotalAmt) === 0);
    expect(applications).toHaveLength(2);
    for (const memo of books.all('CreditMemo')) {
      expect(cents(memo.Balance)).toBe(0);
      expect(memo.LinkedTxn).toEqual([expect.objectContaining({ TxnType: 'Payment' })]);
    }
    // The split receipts: 250 with 100 and 50 applied to two invoices, 100 left unapplied.
    const split = receipts.filter((p) => cents(p.TotalAmt) === 25000);
    expect(split).toHaveLength(2);
    for (const p of split) {
      expect(cents(p.UnappliedAmt)).toBe(10000);
      expect((p.Line as { Amount: unknown }[]).map((l) => cents(l.Amount)).sort((x, y) => x - y)).toEqual([
        5000, 10000,
      ]);
    }
    for (const type of ['Invoice', 'CreditMemo', 'Payment', 'RefundReceipt'] as const)
      expect(sim.duplicates(type)).toEqual([]);

    // Allocations included: every invoice owes in QuickBooks what it owes in the ledger.
    expect(qboDue(sim)).toEqual(await ledgerDue(t.db, c.entityId));
    const owed = await ledgerBalances(t.db, c.entityId);
    expect({ ...qboBalances(sim), C08: owed.C08 }).toEqual(owed);
    // The lost answers were found again, not written twice.
    expect(sim.stats.dropped).toBeGreaterThanOrEqual(2);
    expect(sim.validating).toBe(true);
    expect(await linkedAfterLoss(pipeline, 'creditNote')).toBeGreaterThanOrEqual(1);
    expect(await linkedAfterLoss(pipeline, 'allocation')).toBeGreaterThanOrEqual(2);
    expect((await openExceptions(t.db, pipeline)).map((e) => e.reason_code)).toEqual(['SOURCE_DOCUMENT_UNSUPPORTED']);
    if (sim.validating) expect(sim.violations).toEqual([]);
    // Reconciliation reads QuickBooks back: every document matches, and so does each customer's balance.
    const rec = await reconcile(t.db, pipeline, '2026-11-01', '2026-11-30', silentLog, testBox);
    expect(rec.mismatches).toEqual([]);
    expect(rec.summary.sourceDocuments).toBeGreaterThan(30);

    // Nothing again on the next run.
    const writes = sim.stats.writes;
    const again = await run(pipeline);
    expect(again.status).toBe('succeeded');
    expect(again.counts.fetched).toBe(0);
    expect(sim.stats.writes).toBe(writes);

    // Then only what the ledger gained since: the same trade again, one allocation reversed (parked).
    await trade(c, customers, 1);
    const { rows: reversible } = await t.db.query<{ id: string }>(
      `SELECT credit_transaction_id::text AS id FROM allocations WHERE entity_id = $1 AND reference = 'TEST' ORDER BY id DESC LIMIT 1`,
      [c.entityId],
    );
    const un = await c.post('/v1/allocations/unallocate', { transactionIds: [Number(reversible[0]!.id)] });
    expect(un.status).toBe(200);
    sim.dropNext(1, isPaymentUpdate);
    await ledgerSettled(t.db);
    const third = await run(pipeline);
    expect(['succeeded', 'partial']).toContain(third.status);
    for (const type of ['Invoice', 'CreditMemo', 'Payment'] as const) expect(sim.duplicates(type)).toEqual([]);
    const open = await openExceptions(t.db, pipeline);
    expect(open.map((e) => e.reason_code)).toEqual(Array(open.length).fill('SOURCE_DOCUMENT_UNSUPPORTED'));
    expect(open.some((e) => /reversed in the ledger/.test(e.message))).toBe(true);
    expect(books.all('Invoice')).toHaveLength(2 * (customers.length * 3 + 3));
    // The reversal is QuickBooks' to undo by hand; everything else owes the same on both sides.
    const due = await ledgerDue(t.db, c.entityId);
    const differing = Object.entries(qboDue(sim)).filter(([ref, v]) => due[ref] !== v);
    expect(differing).toHaveLength(1);
    if (sim.validating) expect(sim.violations).toEqual([]);
    await checkInvariants(t.db, c.entityId);
  }, 120_000);
});
