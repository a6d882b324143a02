import { describe, expect, it } from 'vitest';
import { acumaticaTarget } from '../src/connectors/acumatica/index.ts';
import { type AcumaticaSimulator, startAcumaticaSimulator } from '../src/connectors/acumatica/simulator.ts';
import { createAcumaticaTarget } from '../src/connectors/acumatica/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { e2eRecords, expectNumbersWrittenBack, expectSecondRunWritesNothing } from './helpers/platform-e2e.ts';
import { platformEngine } from './helpers/platform-engine.ts';
import { specValidator } from './helpers/openapi-requests.ts';
import { openExceptions } from './helpers/sync.ts';

/*
 * The Acumatica target end to end, through the engine (PGlite; PostgreSQL with DATABASE_URL),
 * against the simulated instance losing 5% of write answers after committing (and more on
 * demand), every request checked against the official Default/24.200.001 contract: zero
 * duplicates, zero missing, payments applied to the invoices they name, credit memos applied,
 * Acumatica's numbers written back to the source, nobody left signed in.
 */

const validate = specValidator('test/acumatica.test.ts', 'acumatica/Default_24.200.001.openapi.json');
const USER = { name: 'ledgerlink', password: 'acumatica-e2e-password-0123456789' };

let sim: AcumaticaSimulator;

const e2e = platformEngine({
  name: 'Acumatica',
  start: async (e) => {
    sim = e.closeLater(
      await startAcumaticaSimulator({
        users: [USER],
        tenant: 'Company',
        currency: 'EUR',
        taxCategories: { STANDARD: '0.21', EXEMPT: '0' },
        cashAccounts: ['10200'],
        maxApiUsers: 2,
        seed: 11,
        dropAfterCommitRate: 0.05,
        validate,
      }),
    );
  },
  target: () => ({
    ...acumaticaTarget,
    create: (deps) =>
      Promise.resolve(
        createAcumaticaTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40 }, sleep: () => Promise.resolve() }),
      ),
  }),
});

const target = (extra: Record<string, unknown> = {}) => ({
  type: 'acumatica',
  instanceUrl: sim.url,
  username: USER.name,
  password: USER.password,
  tenant: 'Company',
  currency: 'EUR',
  taxCategories: { '0.21': 'STANDARD', '0': 'EXEMPT' },
  cashAccount: '10200',
  actionPollMs: 10,
  limits: { callsPerMinute: 100_000, concurrent: 2, batchSize: 5 },
  ...extra,
});

/** Acumatica's AR documents of a type under our reference. */
const held = (type: 'Invoice' | 'Credit Memo', reference: string) =>
  [...sim.books.documents.values()].filter((d) => d.type === type && d.customerOrder === reference);

function expectEachOnce(type: 'Invoice' | 'Credit Memo', references: string[]) {
  const missing = references.filter((r) => held(type, r).length === 0);
  const twice = references.filter((r) => held(type, r).length > 1);
  expect({ missing, twice }).toEqual({ missing: [], twice: [] });
}

describe('the Acumatica target, end to end', () => {
  it('iXpole → Acumatica: every instalment once through lost answers, Acumatica’s numbers written back', async () => {
    // Beyond the random 5%: the engine must look these up before sending them again.
    sim.dropNext(3, (method, path) => method === 'PUT' && path.endsWith('/Invoice'));
    sim.dropNext(1, (method, path) => method === 'POST' && path.endsWith('/ReleaseInvoice'));
    const { ix, pipeline, codes } = await e2e.ixpoleRun({
      entity: 'AC1',
      name: 'ix-to-acumatica',
      target: target(),
      pageSize: 20,
      ix: { seed: 5 },
    });
    expectEachOnce('Invoice', codes);
    expect(sim.duplicates()).toEqual([]);
    expect(sim.stats.dropped).toBeGreaterThanOrEqual(4);
    // Released, and for what iXpole says: net plus VAT.
    for (let i = 0; i < 10; i++) {
      const inst = ix.instalmentAt(i);
      const [doc] = held('Invoice', inst.InstalmentCode);
      expect(doc!.status).toBe('Open');
      expect(doc!.taxTotal).toBe(BigInt(inst.VatAmount.replace('.', '')));
    }
    // Written back: Acumatica's own reference number.
    expectNumbersWrittenBack(ix, {
      atLeast: codes.length,
      numberOf: (code) => held('Invoice', code)[0]?.nbr,
    });
    expect(sim.violations).toEqual([]);
    expect(sim.sessionsOpen()).toBe(0);

    // A second run books nothing again.
    await expectSecondRunWritesNothing(e2e.db, e2e.sync, pipeline, () => sim.books.documents.size);
  }, 120_000);

  it('records → Acumatica: invoices, payments applied to the invoices they name, credit memos applied, nothing doubled or lost', async () => {
    const pipeline = await e2e.recordsPipeline('AC2', 'records-to-acumatica', target());
    const records: CanonicalRecord[] = [];
    for (let k = 0; k < 4; k++)
      records.push({ kind: 'customer', sourceId: `E2E-C${k}`, name: `E2E customer ${k}`, email: `c${k}@example.org` });
    const invoices = [...Array(16).keys()].map((i) => `E2E-I${i}`);
    for (const [i, ref] of invoices.entries())
      records.push({
        kind: 'invoice',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: `E2E-C${i % 4}`,
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'EUR',
        description: 'E2E',
        lines: [{ description: 'Service', netAmount: `${100 + i}.00`, vatRate: '0.21' }],
      });
    // Payments of part of every even invoice, each naming its invoice.
    for (let i = 0; i < 16; i += 2)
      records.push({
        kind: 'payment',
        sourceId: `E2E-P${i}`,
        externalReference: `E2E-P${i}`,
        customerSourceId: `E2E-C${i % 4}`,
        date: '2026-11-05',
        amount: '50.00',
        currency: 'EUR',
        invoiceExternalReference: `E2E-I${i}`,
        description: '',
      });
    // A credit memo on every fourth invoice, applied to it.
    for (let i = 1; i < 16; i += 4) {
      records.push({
        kind: 'creditNote',
        sourceId: `E2E-N${i}`,
        externalReference: `E2E-N${i}`,
        customerSourceId: `E2E-C${i % 4}`,
        date: '2026-11-04',
        currency: 'EUR',
        description: 'Returned',
        invoiceExternalReference: `E2E-I${i}`,
        lines: [{ description: 'Returned', netAmount: '10.00', vatRate: '0.21', vatAmount: '2.10' }],
      });
      records.push({
        kind: 'allocation',
        sourceId: `E2E-A${i}`,
        customerSourceId: `E2E-C${i % 4}`,
        date: '2026-11-04',
        currency: 'EUR',
        amount: '12.10',
        invoiceExternalReference: `E2E-I${i}`,
        from: 'creditNote',
        fromExternalReference: `E2E-N${i}`,
      });
    }
    const dropped = sim.stats.dropped;
    sim.dropNext(
      2,
      (method, path, body) => method === 'PUT' && path.endsWith('/Payment') && body.includes('"Credit Memo"'),
    );
    await e2e.send(pipeline, records);
    // The same records again: nothing new.
    const before = { docs: sim.books.documents.size, payments: sim.books.payments.size };
    await e2e.send(pipeline, records);
    expect({ docs: sim.books.documents.size, payments: sim.books.payments.size }).toEqual(before);

    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expect(sim.stats.dropped - dropped).toBeGreaterThanOrEqual(2);
    expect(sim.duplicates()).toEqual([]);
    expectEachOnce('Invoice', invoices);
    expectEachOnce(
      'Credit Memo',
      [1, 5, 9, 13].map((i) => `E2E-N${i}`),
    );
    for (const [i, ref] of invoices.entries()) {
      const doc = held('Invoice', ref)[0]!;
      const gross = BigInt((100 + i) * 121);
      const paid = i % 2 === 0 ? 5000n : 0n;
      const credited = i % 4 === 1 ? 1210n : 0n;
      expect({ ref, balance: doc.balance }).toEqual({ ref, balance: gross - paid - credited });
    }
    // Each payment applied, in full, to the invoice it names and no other.
    for (let i = 0; i < 16; i += 2) {
      const pays = [...sim.books.payments.values()].filter((p) => p.paymentRef === `E2E-P${i}`);
      expect(pays).toHaveLength(1);
      const apps = sim.books.applications.get(`Payment/${pays[0]!.nbr}`) ?? [];
      expect(apps.map((a) => [a.refNbr, a.amount, a.released])).toEqual([
        [held('Invoice', `E2E-I${i}`)[0]!.nbr, 5000n, true],
      ]);
    }
    // The numbers the engine keeps (and writes back) are Acumatica's.
    const { rows } = await e2e.db.query<{ source_id: string; target_number: string }>(
      `SELECT source_id, target_number FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice'`,
      [pipeline.id],
    );
    expect(rows).toHaveLength(16);
    for (const r of rows) expect(r.target_number).toBe(held('Invoice', r.source_id)[0]!.nbr);
    expect(sim.violations).toEqual([]);
    expect(sim.sessionsOpen()).toBe(0);
  }, 120_000);

  it('records → Acumatica: a refund that comes before its payment waits for it, then is applied to it once booked', async () => {
    const pipeline = await e2e.recordsPipeline('AC3', 'records-to-acumatica-refund-first', target());
    const send = (records: CanonicalRecord[]) => e2e.send(pipeline, records);
    const rf = e2eRecords('RF');
    await send([...rf.customers(['C']), rf.invoice(1, 'C')]);
    // The provider's refund webhook overtook its payment's: 10.00 back of a payment of 150.00.
    await send([rf.refund(1, 'C', '10.00', 'RF-P1')]);
    // A Refund applied to nothing would be refused for good: it waits for the payment instead.
    expect([...sim.books.payments.values()].filter((p) => p.paymentRef === 'RF-R1')).toEqual([]);
    expect((await openExceptions(e2e.db, pipeline)).map((x) => [x.source_id, x.reason_code])).toEqual([
      ['RF-R1', 'ALLOCATION_DOCUMENT_NOT_SYNCED'],
    ]);
    await send([rf.payment(1, 'C', '150.00', 'RF-I1')]);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    // The payment pays the invoice's 121.00; the refund takes 10.00 of the 29.00 left on it, as in
    // the natural order.
    const [pay] = [...sim.books.payments.values()].filter((p) => p.paymentRef === 'RF-P1');
    const refunds = [...sim.books.payments.values()].filter((p) => p.paymentRef === 'RF-R1');
    expect(refunds.map((r) => [r.type, r.amount, r.status])).toEqual([['Refund', 1000n, 'Closed']]);
    expect(
      (sim.books.applications.get(`Refund/${refunds[0]!.nbr}`) ?? []).map((a) => [
        a.docType,
        a.refNbr,
        a.amount,
        a.released,
      ]),
    ).toEqual([['Payment', pay!.nbr, 1000n, true]]);
    expect([pay!.available, held('Invoice', 'RF-I1')[0]!.balance]).toEqual([1900n, 0n]);
    expect(sim.duplicates()).toEqual([]);
    expect(sim.violations).toEqual([]);
  }, 60_000);
});
