import { describe, expect, it } from 'vitest';
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
import { platformEngine } from './helpers/platform-engine.ts';
import { definePipeline, openExceptions } from './helpers/sync.ts';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { XERO_APP, xeroTarget, xeroContract } from './helpers/xero.ts';

/*
 * ledger → Xero: the embedded ledger mirrored into the simulated Xero through the engine, with
 * answers dropped after Xero committed them. Invoices, credit notes, receipts (a receipt posted
 * with the one invoice it pays as a Xero payment of it, any other as an overpayment), and every
 * allocation, so that what each customer owes is the same on both sides, and nothing twice.
 */

const validate = xeroContract('test/xero-ledger-source.test.ts');

const e2e = platformEngine({
  name: 'Xero',
  start: async (e) => e.scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, retryAfterMaxMs: 5000 } }),
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
  return e2e.closeLater(sim);
}

const target = (sim: XeroSimulator) => xeroTarget(sim);

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
    // Not mirrored, and said so: a sales credit journal, and an allocation reversed in the ledger.
    const { c, customers } = await tradedEntity(e2e, 'LX1');

    const sim = await xero(11);
    // Beyond the client's own retries: the engine looks these up before sending them again.
    sim.control.dropNext(1, 'PUT /CreditNotes');
    sim.control.dropNext(2, 'PUT /CreditNotes/{CreditNoteID}/Allocations');
    sim.control.dropNext(2, 'PUT /Overpayments/{OverpaymentID}/Allocations');
    const pipeline = await definePipeline(e2e.db, 'LX1', {
      name: 'books-to-xero',
      source: { type: 'ledger' },
      target: target(sim),
    });
    await expectSettledRun(e2e, pipeline);

    const tenant = sim.tenant();
    const refs = (type: string) =>
      [...tenant.documents.values()]
        .filter((d) => d.Type === type)
        .map((d) => d.Reference)
        .sort();
    const ledger = await ledgerReferences(e2e.db, c.entityId);
    expect(refs('ACCREC')).toEqual(ledger.SI);
    expect(refs('ACCRECCREDIT')).toEqual(ledger.SN);
    // The three till receipts are Xero payments of their invoices; the two split ones overpayments.
    expect([...tenant.payments.values()].filter((p) => p.documentType === 'ACCREC')).toHaveLength(3);
    expect(tenant.overpayments.size).toBe(2);
    expect(sim.duplicates()).toEqual([]);

    // Allocations included: every invoice owes in Xero what it owes in the ledger.
    expect(xeroDue(sim)).toEqual(await ledgerDue(e2e.db, c.entityId));
    expect(sim.stats.dropped).toBeGreaterThanOrEqual(5);
    const sc8 = (await ledgerBalances(e2e.db, c.entityId)).C08!;
    expect({ ...xeroBalances(sim), C08: sc8 }).toEqual(await ledgerBalances(e2e.db, c.entityId));
    expect((await openExceptions(e2e.db, pipeline)).map((e) => e.reason_code)).toEqual(['SOURCE_DOCUMENT_UNSUPPORTED']);
    expect(sim.stats.specViolations).toEqual([]);
    // Reconciliation reads Xero back: every invoice and receipt matches, and each customer's balance
    // (credit notes and allocations included) is what the mirrored documents add up to.
    await expectReconciled(e2e.db, pipeline);

    // Nothing again on the next run; then only what the ledger gained since.
    await expectNextRunWritesNothing(e2e, pipeline, () => sim.stats.writes);

    await tradeAgainReversingOne(e2e, c, customers);
    await expectSettledRun(e2e, pipeline);
    expect(sim.duplicates()).toEqual([]);
    await expectOnlyUnsupportedParked(e2e.db, pipeline);
    expect(refs('ACCREC')).toHaveLength(2 * (customers.length * 3 + 3));
    expect(sim.stats.specViolations).toEqual([]);
    await checkInvariants(e2e.db, c.entityId);
  }, 90_000);

  it('refuses a ledger source into the embedded ledger: it would book everything twice', async () => {
    await e2e.t.entity('LX2', 'EUR');
    await expect(
      definePipeline(e2e.db, 'LX2', { name: 'loop', source: { type: 'ledger' }, target: { type: 'ledger' } }),
    ).rejects.toMatchObject({ code: 'PIPELINE_SOURCE_CANNOT_FEED_TARGET' });
  });
});
