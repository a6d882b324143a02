import { describe, expect, it } from 'vitest';
import { quickbooksTarget } from '../src/connectors/quickbooks/index.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { createQuickBooksTarget } from '../src/connectors/quickbooks/target.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import type { OAuthSimulator } from '../src/sync/remote/oauth-simulator.ts';
import { checkInvariants } from './helpers/ledger.ts';
import {
  expectNextRunWritesNothing,
  expectOnlyUnsupportedParked,
  expectReconciled,
  expectSettledRun,
  ledgerReferences,
  tradeAgainReversingOne,
  tradedEntity,
} from './helpers/ledger-source.ts';
import { ledgerBalances, ledgerDue } from './helpers/ledger-trade.ts';
import { SPEC_MISSING, sharedSpec } from './helpers/openapi-requests.ts';
import { platformEngine } from './helpers/platform-engine.ts';
import { DUTCH, quickbooksOAuth, quickbooksTargetSettings } from './helpers/quickbooks.ts';
import { definePipeline, openExceptions } from './helpers/sync.ts';

/*
 * ledger → QuickBooks Online: the embedded ledger mirrored into the simulated QuickBooks through
 * the engine, with answers dropped after QuickBooks committed them and the client giving up at
 * once, so that every lost answer is the engine's to resolve by a lookup. Invoices, credit notes
 * as CreditMemos, receipts as Payments (one posted with the invoice it pays applied to it, any
 * other unapplied), and every allocation: a credit memo through a Payment of 0, a receipt by
 * updating its Payment. Each invoice's Balance in QuickBooks is what it owes in the ledger, and
 * nothing is written twice.
 */

const REALM = '9130350000000088';
const XSD = 'quickbooks/IntuitRestServiceDef.xsd';
const xsdPath = sharedSpec(XSD);
if (!xsdPath) console.warn(`test/quickbooks-ledger-source.test.ts: XSD checks ${SPEC_MISSING(XSD)}`);

let oauth: OAuthSimulator;

const e2e = platformEngine({
  name: 'QuickBooks',
  start: async () => {
    oauth = quickbooksOAuth([REALM]);
  },
  // One attempt per call: a dropped answer is the engine's to look up, not the client's to replay.
  target: () => ({
    ...quickbooksTarget,
    create: (deps) =>
      Promise.resolve(createQuickBooksTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } })),
  }),
});

async function quickbooks(seed: number) {
  const sim = await startQuickBooksSimulator({
    realms: { [REALM]: DUTCH },
    oauth,
    xsd: xsdPath,
    seed,
    dropAfterCommitRate: 0.03,
    limits: { callsPerSecond: 10_000, callsPerMinute: 100_000, batchPerMinute: 100_000 },
  });
  return e2e.closeLater(sim);
}

const target = (sim: QuickBooksSimulator) =>
  quickbooksTargetSettings(sim, oauth, REALM, { limits: { callsPerMinute: 100_000, callsPerSecond: 10_000 } });

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
  const { rows } = await e2e.db.query<{ n: string }>(
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
    // Not mirrored, and said so: a sales credit journal.
    const { c, customers } = await tradedEntity(e2e, 'LQ1');

    const sim = await quickbooks(21);
    sim.dropNext(1, (body) => body.includes('"CreditMemo":{'));
    sim.dropNext(1, isCreditApplication);
    sim.dropNext(1, isPaymentUpdate);
    const pipeline = await definePipeline(e2e.db, 'LQ1', {
      name: 'books-to-qbo',
      source: { type: 'ledger' },
      target: target(sim),
    });
    await expectSettledRun(e2e, pipeline);

    const books = sim.books();
    const ledgerRefs = await ledgerReferences(e2e.db, c.entityId);
    const docNumbers = (type: 'Invoice' | 'CreditMemo') =>
      books
        .all(type)
        .map((e) => String(e.DocNumber))
        .sort();
    expect(docNumbers('Invoice')).toEqual(ledgerRefs.SI);
    expect(docNumbers('CreditMemo')).toEqual(ledgerRefs.SN);
    const payments = books.all('Payment');
    const receipts = payments.filter((p) => cents(p.TotalAmt) !== 0);
    expect(receipts.map((p) => String(p.PaymentRefNum)).sort()).toEqual(ledgerRefs.SR);
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
    expect(qboDue(sim)).toEqual(await ledgerDue(e2e.db, c.entityId));
    const owed = await ledgerBalances(e2e.db, c.entityId);
    expect({ ...qboBalances(sim), C08: owed.C08 }).toEqual(owed);
    // The lost answers were found again, not written twice.
    expect(sim.stats.dropped).toBeGreaterThanOrEqual(2);
    // Every entity checked against the official XSD, unless ../shared is absent.
    expect(sim.validating).toBe(xsdPath !== null);
    expect(await linkedAfterLoss(pipeline, 'creditNote')).toBeGreaterThanOrEqual(1);
    expect(await linkedAfterLoss(pipeline, 'allocation')).toBeGreaterThanOrEqual(2);
    expect((await openExceptions(e2e.db, pipeline)).map((e) => e.reason_code)).toEqual(['SOURCE_DOCUMENT_UNSUPPORTED']);
    if (sim.validating) expect(sim.violations).toEqual([]);
    // Reconciliation reads QuickBooks back: every document matches, and so does each customer's balance.
    await expectReconciled(e2e.db, pipeline);

    // Nothing again on the next run.
    await expectNextRunWritesNothing(e2e, pipeline, () => sim.stats.writes);

    // Then only what the ledger gained since: the same trade again, one allocation reversed (parked).
    await tradeAgainReversingOne(e2e, c, customers);
    sim.dropNext(1, isPaymentUpdate);
    await expectSettledRun(e2e, pipeline);
    for (const type of ['Invoice', 'CreditMemo', 'Payment'] as const) expect(sim.duplicates(type)).toEqual([]);
    await expectOnlyUnsupportedParked(e2e.db, pipeline);
    expect(books.all('Invoice')).toHaveLength(2 * (customers.length * 3 + 3));
    // The reversal is QuickBooks' to undo by hand; everything else owes the same on both sides.
    const due = await ledgerDue(e2e.db, c.entityId);
    const differing = Object.entries(qboDue(sim)).filter(([ref, v]) => due[ref] !== v);
    expect(differing).toHaveLength(1);
    if (sim.validating) expect(sim.violations).toEqual([]);
    await checkInvariants(e2e.db, c.entityId);
  }, 120_000);
});
