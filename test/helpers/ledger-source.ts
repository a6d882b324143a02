import { expect } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import type { Pipeline } from '../../src/sync/pipelines.ts';
import { reconcile } from '../../src/sync/reconcile.ts';
import type { Client } from './app.ts';
import { ledgerSettled } from './db.ts';
import { seedCustomer } from './ledger.ts';
import { trade } from './ledger-trade.ts';
import type { PlatformEngine } from './platform-engine.ts';
import { openExceptions, silentLog, testBox } from './sync.ts';

/*
 * The steps the ledger → platform tests (test/xero-ledger-source, test/quickbooks-ledger-source)
 * take alike: an entity that traded a day (test/helpers/ledger-trade.ts) and posted what no
 * platform mirrors, the ledger's references to compare the platform's with, reconciliation reading
 * the platform back, a run after everything was mirrored, and the next day's trade with an
 * allocation reversed (which the platform is left to undo by hand).
 */

/**
 * An entity `code` (EUR, 21 %) whose customers C01 to C08 traded a day (round 0), and whose C08
 * was given a sales credit journal: not mirrored, and said so (parked SOURCE_DOCUMENT_UNSUPPORTED).
 */
export async function tradedEntity(e: PlatformEngine, code: string): Promise<{ c: Client; customers: string[] }> {
  const c = await e.entity(code);
  const customers = ['C01', 'C02', 'C03', 'C04', 'C05', 'C06', 'C07', 'C08'];
  for (const customer of customers) await seedCustomer(e.db, c.entityId, customer);
  await trade(c, customers, 0);
  const sc = await c.post('/v1/sales/credit-journals', {
    customerCode: 'C08',
    transactionDate: '2026-11-08',
    lines: [{ glAccountCode: '4000', amount: '5.00' }],
  });
  expect(sc.status).toBe(201);
  return { c, customers };
}

/** Once all the ledger committed is there to read (ledgerSettled), a run to the end: it succeeded, or partly. */
export async function expectSettledRun(e: PlatformEngine, pipeline: Pipeline): Promise<void> {
  await ledgerSettled(e.db);
  const run = await e.run(pipeline);
  expect(['succeeded', 'partial']).toContain(run.status);
}

/** The entity's references (`SI-<number>`, …) of invoices, credit notes and receipts, each list sorted. */
export async function ledgerReferences(
  db: Database,
  entityId: string,
): Promise<{ SI: string[]; SN: string[]; SR: string[] }> {
  const { rows } = await db.query<{ type: 'SI' | 'SN' | 'SR'; ref: string }>(
    `SELECT type, type || '-' || number AS ref FROM transactions WHERE entity_id = $1 AND type IN ('SI', 'SN', 'SR') ORDER BY 2`,
    [entityId],
  );
  const of = (type: string) =>
    rows
      .filter((r) => r.type === type)
      .map((r) => r.ref)
      .sort();
  return { SI: of('SI'), SN: of('SN'), SR: of('SR') };
}

/** Reconciliation of November reads the platform back: every document matches, more than 30 of them. */
export async function expectReconciled(db: Database, pipeline: Pipeline): Promise<void> {
  const rec = await reconcile(db, pipeline, '2026-11-01', '2026-11-30', silentLog, testBox);
  expect(rec.mismatches).toEqual([]);
  expect(rec.summary.sourceDocuments).toBeGreaterThan(30);
}

/** The next run, everything mirrored: it succeeds, fetches nothing and writes nothing (`writes`, before and after). */
export async function expectNextRunWritesNothing(
  e: PlatformEngine,
  pipeline: Pipeline,
  writes: () => number,
): Promise<void> {
  const before = writes();
  const again = await e.run(pipeline);
  expect(again.status).toBe('succeeded');
  expect(again.counts.fetched).toBe(0);
  expect(writes()).toBe(before);
}

/** The next day: the same trade again (round 1), and the last allocation of the test trade reversed in the ledger. */
export async function tradeAgainReversingOne(e: PlatformEngine, c: Client, customers: string[]): Promise<void> {
  await trade(c, customers, 1);
  const { rows: reversible } = await e.db.query<{ id: string }>(
    `SELECT credit_transaction_id::text AS id FROM allocations WHERE entity_id = $1 AND reference = 'TEST' ORDER BY id DESC LIMIT 1`,
    [c.entityId],
  );
  const un = await c.post('/v1/allocations/unallocate', { transactionIds: [Number(reversible[0]!.id)] });
  expect(un.status).toBe(200);
}

/** Parked, only what the platform cannot be given (SOURCE_DOCUMENT_UNSUPPORTED), the reversed allocation among it. */
export async function expectOnlyUnsupportedParked(db: Database, pipeline: Pipeline): Promise<void> {
  const open = await openExceptions(db, pipeline);
  expect(open.map((e) => e.reason_code)).toEqual(Array(open.length).fill('SOURCE_DOCUMENT_UNSUPPORTED'));
  expect(open.some((e) => /reversed in the ledger/.test(e.message))).toBe(true);
}
