import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerSettled } from './helpers/db.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { checkInvariants, seedCustomer } from './helpers/ledger.ts';
import { ledgerBalances, ledgerDue, trade } from './helpers/ledger-trade.ts';
import { SPEC_MISSING, openApiRequestValidator, sharedSpec } from './helpers/openapi-requests.ts';
import { definePipeline, drainTarget, openExceptions, silentLog, syncService, testBox } from './helpers/sync.ts';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { reconcile } from '../src/sync/reconcile.ts';
import { getRun } from '../src/sync/runs.ts';
import type { SyncService } from '../src/sync/service.ts';
import { processScope } from './helpers/scoped.ts';
import { XERO_APP, xeroTarget } from './helpers/xero.ts';

/*
 * ledger → Xero: the embedded ledger mirrored into the simulated Xero through the engine, with
 * answers dropped after Xero committed them. Invoices, credit notes, receipts (a receipt posted
 * with the one invoice it pays as a Xero payment of it, any other as an overpayment), and every
 * allocation, so that what each customer owes is the same on both sides, and nothing twice.
 */

const scope = processScope();
const SPEC = 'xero/xero_accounting.yaml';
const specPath = sharedSpec(SPEC);
if (!specPath) console.warn(`test/xero-ledger-source.test.ts: contract checks ${SPEC_MISSING(SPEC)}`);
const validate = specPath ? openApiRequestValidator(specPath, { closed: true }) : undefined;

let t: TestApp;
let sync: SyncService;
const closers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  t = await createTestApp();
  sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, retryAfterMaxMs: 5000 } });
});
afterAll(async () => {
  for (const c of closers) await c.close();
  await t.close();
});

const APP = XERO_APP;

async function xero(seed: number) {
  const sim = await startXeroSimulator({
    oauth: APP,
    validate,
    seed,
    dropAfterCommitRate: 0.05,
    limits: { perMinute: 100_000, perDay: 100_000 },
  });
  closers.push(sim);
  return sim;
}

const target = (sim: XeroSimulator) => xeroTarget(sim);

async function run(pipeline: Pipeline) {
  const r = (await getRun(t.db, (await sync.trigger(pipeline, 'manual', 'test'))!))!;
  await drainTarget(t.db, sync, pipeline, 'Xero');
  return r;
}

/** What each contact owes in Xero (invoices less credit notes less money received), by ContactNumber, in cents. */
function xeroBalances(sim: XeroSimulator): Record<string, number> {
  const tenant = sim.tenant();
  const number = (contactId: string) => String(tenant.contacts.get(contactId)!.ContactNumber);
  const out: Record<string, number> = {};
  const add = (contactId: string, cents: number) => (out[number(contactId)] = (out[number(contactId)] ?? 0) + cents);
  const cents = (d: { toFixed(n: number): string }) => Math.round(Number(d.toFixed(2)) * 100);
  for (const d of tenant.documents.values()) {
    const contactId = String((d as unknown as { ContactID: string }).ContactID);
    if (d.Status !== 'AUTHORISED' && d.Status !== 'PAID') continue;
    add(contactId, d.Type === 'ACCREC' ? cents(d.Total) : -cents(d.Total));
  }
  for (const p of tenant.payments.values())
    if (p.Status === 'AUTHORISED' && p.documentType === 'ACCREC') {
      const doc = tenant.documents.get(p.documentId)!;
      add(String((doc as unknown as { ContactID: string }).ContactID), -cents(p.Amount));
    }
  for (const o of tenant.overpayments.values()) add(o.ContactID, -cents(o.Total));
  return out;
}

/** Each Xero invoice's amount due, by our reference, in cents. */
function xeroDue(sim: XeroSimulator): Record<string, number> {
  const tenant = sim.tenant();
  return Object.fromEntries(
    [...tenant.documents.values()]
      .filter((d) => d.Type === 'ACCREC')
      .map((d) => [d.Reference, Math.round(Number(tenant.due(d).toFixed(2)) * 100)]),
  );
}

describe('ledger → Xero', () => {
  it('mirrors invoices, credit notes, receipts and every allocation exactly once through dropped answers; each customer owes the same on both sides', async () => {
    const c = await t.entity('LX1', 'EUR', { standardTaxRate: '0.21' });
    const customers = ['C01', 'C02', 'C03', 'C04', 'C05', 'C06', 'C07', 'C08'];
    for (const code of customers) await seedCustomer(t.db, c.entityId, code);
    await trade(c, customers, 0);
    // Not mirrored, and said so: a sales credit journal, and an allocation reversed in the ledger.
    const sc = await c.post('/v1/sales/credit-journals', {
      customerCode: 'C08',
      transactionDate: '2026-11-08',
      lines: [{ glAccountCode: '4000', amount: '5.00' }],
    });
    expect(sc.status).toBe(201);

    const sim = await xero(11);
    // Beyond the client's own retries: the engine looks these up before sending them again.
    sim.control.dropNext(1, 'PUT /CreditNotes');
    sim.control.dropNext(2, 'PUT /CreditNotes/{CreditNoteID}/Allocations');
    sim.control.dropNext(2, 'PUT /Overpayments/{OverpaymentID}/Allocations');
    const pipeline = await definePipeline(t.db, 'LX1', {
      name: 'books-to-xero',
      source: { type: 'ledger' },
      target: target(sim),
    });
    await ledgerSettled(t.db);
    const first = await run(pipeline);
    expect(['succeeded', 'partial']).toContain(first.status);

    const tenant = sim.tenant();
    const refs = (type: string) =>
      [...tenant.documents.values()]
        .filter((d) => d.Type === type)
        .map((d) => d.Reference)
        .sort();
    const { rows: ledger } = await t.db.query<{ type: string; ref: string }>(
      `SELECT type, type || '-' || number AS ref FROM transactions WHERE entity_id = $1 AND type IN ('SI', 'SN') ORDER BY 2`,
      [c.entityId],
    );
    expect(refs('ACCREC')).toEqual(
      ledger
        .filter((r) => r.type === 'SI')
        .map((r) => r.ref)
        .sort(),
    );
    expect(refs('ACCRECCREDIT')).toEqual(
      ledger
        .filter((r) => r.type === 'SN')
        .map((r) => r.ref)
        .sort(),
    );
    // The three till receipts are Xero payments of their invoices; the two split ones overpayments.
    expect([...tenant.payments.values()].filter((p) => p.documentType === 'ACCREC')).toHaveLength(3);
    expect(tenant.overpayments.size).toBe(2);
    expect(sim.duplicates()).toEqual([]);

    // Allocations included: every invoice owes in Xero what it owes in the ledger.
    expect(xeroDue(sim)).toEqual(await ledgerDue(t.db, c.entityId));
    expect(sim.stats.dropped).toBeGreaterThanOrEqual(5);
    const sc8 = (await ledgerBalances(t.db, c.entityId)).C08!;
    expect({ ...xeroBalances(sim), C08: sc8 }).toEqual(await ledgerBalances(t.db, c.entityId));
    expect((await openExceptions(t.db, pipeline)).map((e) => e.reason_code)).toEqual(['SOURCE_DOCUMENT_UNSUPPORTED']);
    expect(sim.stats.specViolations).toEqual([]);
    // Reconciliation reads Xero back: every invoice and receipt matches, and each customer's balance
    // (credit notes and allocations included) is what the mirrored documents add up to.
    const rec = await reconcile(t.db, pipeline, '2026-11-01', '2026-11-30', silentLog, testBox);
    expect(rec.mismatches).toEqual([]);
    expect(rec.summary.sourceDocuments).toBeGreaterThan(30);

    // Nothing again on the next run; then only what the ledger gained since.
    const writes = sim.stats.writes;
    const again = await run(pipeline);
    expect(again.status).toBe('succeeded');
    expect(again.counts.fetched).toBe(0);
    expect(sim.stats.writes).toBe(writes);

    await trade(c, customers, 1);
    const { rows: reversible } = await t.db.query<{ id: string }>(
      `SELECT credit_transaction_id::text AS id FROM allocations WHERE entity_id = $1 AND reference = 'TEST' ORDER BY id DESC LIMIT 1`,
      [c.entityId],
    );
    const un = await c.post('/v1/allocations/unallocate', { transactionIds: [Number(reversible[0]!.id)] });
    expect(un.status).toBe(200);
    await ledgerSettled(t.db);
    const third = await run(pipeline);
    expect(['succeeded', 'partial']).toContain(third.status);
    expect(sim.duplicates()).toEqual([]);
    const open = await openExceptions(t.db, pipeline);
    expect(open.map((e) => e.reason_code)).toEqual(Array(open.length).fill('SOURCE_DOCUMENT_UNSUPPORTED'));
    expect(open.some((e) => /reversed in the ledger/.test(e.message))).toBe(true);
    expect(refs('ACCREC')).toHaveLength(2 * (customers.length * 3 + 3));
    expect(sim.stats.specViolations).toEqual([]);
    await checkInvariants(t.db, c.entityId);
  }, 90_000);

  it('refuses a ledger source into the embedded ledger: it would book everything twice', async () => {
    await t.entity('LX2', 'EUR');
    await expect(
      definePipeline(t.db, 'LX2', { name: 'loop', source: { type: 'ledger' }, target: { type: 'ledger' } }),
    ).rejects.toMatchObject({ code: 'PIPELINE_SOURCE_CANNOT_FEED_TARGET' });
  });
});
