import { describe, expect, it } from 'vitest';
import { expectNumbersWrittenBack, expectSecondRunWritesNothing } from './helpers/platform-e2e.ts';
import { platformEngine } from './helpers/platform-engine.ts';
import { businessCentralSettings } from './helpers/businesscentral.ts';
import { definePipeline, openExceptions } from './helpers/sync.ts';
import { extractPdfText } from './helpers/pdf-text.ts';
import { businessCentralTarget } from '../src/connectors/businesscentral/index.ts';
import {
  type BusinessCentralSimulator,
  startBusinessCentralSimulator,
} from '../src/connectors/businesscentral/simulator.ts';
import { createBusinessCentralTarget } from '../src/connectors/businesscentral/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';

/*
 * The Business Central target end to end, through the engine, on PGlite (PostgreSQL with
 * DATABASE_URL), against the simulated API v2.0 and its Entra token endpoint with 5% of write
 * answers lost after committing, every request body checked against the v2.0 AL pages: iXpole's
 * instalments booked once each with Business Central's posted numbers and PDFs written back; and
 * a shop's invoices, payments and credit notes (records source) booked once each, every payment
 * and credit memo applied to the invoice it names; card payments' provider fees posted once each.
 */

const CLIENT = { clientId: 'ledgerlink-e2e-app', clientSecret: 'bc-e2e-secret-0123456789abcdef' };

/** A "minute" of the planner scaled down, for the test of pacing (the simulator's window alike). */
let scaledMinuteMs: number | null = null;

const e2e = platformEngine({
  name: 'Business Central',
  pdfs: true,
  target: (t) => ({
    ...businessCentralTarget,
    create: (deps) =>
      Promise.resolve(
        createBusinessCentralTarget(deps, {
          client: { backoffBaseMs: 5, backoffMaxMs: 40 },
          ...(scaledMinuteMs ? { planner: createRatePlanner(t.db, { windowsMs: { minute: scaledMinuteMs } }) } : {}),
        }),
      ),
  }),
});

async function businessCentral(
  seed: number,
  limit?: { requests: number; windowMs: number },
  dropAfterCommitRate = 0.05,
): Promise<{ sim: BusinessCentralSimulator; target: Record<string, unknown> }> {
  const sim = e2e.closeLater(await startBusinessCentralSimulator({ client: CLIENT, seed, dropAfterCommitRate, limit }));
  return { sim, target: businessCentralSettings(sim) };
}

/** Each reference held exactly once among the company's documents of a set, and nothing held twice. */
function expectEachOnce(
  sim: BusinessCentralSimulator,
  set: 'salesInvoices' | 'salesCreditMemos',
  references: string[],
) {
  const refs = [...sim.company.docs.values()].filter((d) => d.set === set).map((d) => d.externalDocumentNumber);
  const missing = references.filter((r) => !refs.includes(r.toUpperCase()));
  const twice = references.filter((r) => refs.filter((x) => x === r.toUpperCase()).length > 1);
  expect({ missing, twice }).toEqual({ missing: [], twice: [] });
  expect(sim.duplicates()).toEqual([]);
  expect([...sim.company.docs.values()].filter((d) => d.status === 'Draft')).toEqual([]);
}

/**
 * Imports the records, then drains. An import that fails for a reason worth retrying is sent again
 * whole (up to five times more), as its caller would.
 */
async function importRetrying(pipeline: Pipeline, records: CanonicalRecord[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await e2e.sync.processRecords(
        pipeline,
        'import',
        'test',
        records.map((record) => ({ record })),
      );
      break;
    } catch (err) {
      if (attempt >= 5 || !(err instanceof ConnectorError) || !err.retryable) throw err;
    }
  }
  await e2e.drain(pipeline);
}

/** An invoice of 10.00 net at 21% for customer C, under its reference. */
const goodsInvoice = (ref: string): CanonicalRecord => ({
  kind: 'invoice',
  sourceId: ref,
  externalReference: ref,
  customerSourceId: 'C',
  invoiceDate: '2026-11-02',
  currency: 'EUR',
  description: '',
  lines: [{ description: 'Goods', netAmount: '10.00', vatRate: '0.21', vatAmount: '2.10' }],
});

describe('the Business Central target, end to end', () => {
  it('iXpole → Business Central: every instalment once through lost answers, the posted numbers and PDFs written back', async () => {
    const { sim, target } = await businessCentral(11);
    // Beyond the random 5%: answers to creates and to posts lost, for the engine to look up.
    sim.dropNext(3, (m, p) => m === 'POST' && p.endsWith('/salesInvoices'));
    sim.dropNext(2, (m, p) => p.endsWith('/Microsoft.NAV.post'));
    const { ix, pipeline, codes } = await e2e.ixpoleRun({
      entity: 'BC1',
      name: 'ix-to-bc',
      target,
      pageSize: 30,
      ix: { instalments: 60 },
    });
    expectEachOnce(sim, 'salesInvoices', codes);
    expect(sim.stats.dropped).toBeGreaterThanOrEqual(5);
    expect(sim.violations).toEqual([]);

    // Written back: Business Central's posted number, and its PDF of that invoice.
    const byRef = new Map([...sim.company.docs.values()].map((d) => [d.externalDocumentNumber, d]));
    expectNumbersWrittenBack(ix, {
      atLeast: codes.length,
      numberOf: (code) => byRef.get(code.toUpperCase())?.number,
      format: /^103\d{3}$/,
      pdf: (pdf, number) => expect(extractPdfText(pdf).text).toContain(`Invoice ${number}`),
    });

    // A second run books nothing again.
    await expectSecondRunWritesNothing(e2e.db, e2e.sync, pipeline, () => sim.stats.writes);
  }, 120_000);

  it('a shop → Business Central: invoices, payments and credit notes once each, each applied to the invoice it names', async () => {
    const { sim, target } = await businessCentral(29);
    const pipeline = await e2e.recordsPipeline('BC2', 'shop-to-bc', target);
    const records: CanonicalRecord[] = [];
    for (let c = 0; c < 4; c++)
      records.push({ kind: 'customer', sourceId: `C${c}`, name: `Shop customer ${c}`, email: `c${c}@example.org` });
    const refs = [...Array(24).keys()].map((i) => `SO-${1000 + i}`);
    for (const [i, ref] of refs.entries())
      records.push({
        kind: 'invoice',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: `C${i % 4}`,
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'EUR',
        description: 'Order',
        lines: [
          {
            description: 'Goods',
            netAmount: `${100 + i}.00`,
            vatRate: '0.21',
            vatAmount: `${((100 + i) * 0.21).toFixed(2)}`,
          },
        ],
      });
    // Payments of 50.00 on the first 12 invoices; credit notes of 24.20 on invoices 12 to 15.
    for (const [i, ref] of refs.slice(0, 12).entries())
      records.push({
        kind: 'payment',
        sourceId: `PAY-${i}`,
        externalReference: `PAY-${i}`,
        customerSourceId: `C${i % 4}`,
        date: '2026-11-05',
        amount: '50.00',
        currency: 'EUR',
        invoiceExternalReference: ref,
        description: '',
      });
    for (const [n, ref] of refs.slice(12, 16).entries()) {
      const i = 12 + n;
      records.push({
        kind: 'creditNote',
        sourceId: `CN-${i}`,
        externalReference: `CN-${i}`,
        customerSourceId: `C${i % 4}`,
        date: '2026-11-04',
        currency: 'EUR',
        description: 'Returned',
        invoiceExternalReference: ref,
        lines: [{ description: 'Returned', netAmount: '20.00', vatRate: '0.21', vatAmount: '4.20' }],
      });
      records.push({
        kind: 'allocation',
        sourceId: `AL-${i}`,
        customerSourceId: `C${i % 4}`,
        date: '2026-11-04',
        currency: 'EUR',
        amount: '24.20',
        invoiceExternalReference: ref,
        from: 'creditNote',
        fromExternalReference: `CN-${i}`,
      });
    }
    sim.dropNext(2, (m, p) => p.includes('/journals('));
    sim.dropNext(1, (m, p) => m === 'POST' && p.endsWith('/customerPayments'));
    sim.dropNext(1, (m, p) => m === 'POST' && p.endsWith('/salesCreditMemos'));
    await importRetrying(pipeline, records);

    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expectEachOnce(sim, 'salesInvoices', refs);
    expectEachOnce(
      sim,
      'salesCreditMemos',
      refs.slice(12, 16).map((_, n) => `CN-${12 + n}`),
    );
    expect(sim.violations).toEqual([]);
    const byRef = new Map(
      [...sim.company.docs.values()].filter((d) => d.set === 'salesInvoices').map((d) => [d.externalDocumentNumber, d]),
    );
    // Every payment once, posted, applied to its invoice and no other.
    const payments = sim.company.payments;
    expect(sim.company.journalLines.size).toBe(0);
    expect(payments.map((p) => p.externalDocumentNumber).sort()).toEqual(
      [...Array(12).keys()].map((i) => `PAY-${i}`).sort(),
    );
    for (const p of payments) {
      const i = Number(p.externalDocumentNumber.slice(4));
      expect(p.appliedTo.map((a) => [a.invoiceId, a.amount.toFixed(2)])).toEqual([[byRef.get(refs[i]!)!.id, '50.00']]);
    }
    // What each invoice still owes: paid 50, credited 24.20, or all of it.
    for (const [i, ref] of refs.entries()) {
      const d = byRef.get(ref)!;
      const gross = sim.company.total(d);
      const owed = i < 12 ? gross.minus(50) : i < 16 ? gross.minus('24.20') : gross;
      expect({ ref, due: d.remaining.toFixed(2) }).toEqual({ ref, due: owed.toFixed(2) });
    }
    for (const d of [...sim.company.docs.values()].filter((x) => x.set === 'salesCreditMemos'))
      expect(d.invoiceId).toBe(byRef.get(refs[Number(d.externalDocumentNumber.slice(3))]!)!.id);
    // Mapped under Business Central's posted numbers.
    const { rows } = await e2e.db.query<{ source_id: string; target_number: string }>(
      `SELECT source_id, target_number FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice'`,
      [pipeline.id],
    );
    expect(rows).toHaveLength(refs.length);
    for (const r of rows) expect(r.target_number).toBe(byRef.get(r.source_id)!.number);
  }, 120_000);

  it('a shop’s card payments → Business Central: each provider fee posted once with its payment through lost answers, the bank net of it', async () => {
    const { sim, target } = await businessCentral(31, undefined, 0.15);
    const pipeline = await e2e.recordsPipeline('BC-FEES', 'shop-fees-to-bc', target);
    const records: CanonicalRecord[] = [{ kind: 'customer', sourceId: 'C', name: 'Card customer' }];
    const n = 10;
    for (let i = 0; i < n; i++) {
      records.push(goodsInvoice(`FO-${i}`));
      records.push({
        kind: 'payment',
        sourceId: `FP-${i}`,
        externalReference: `FP-${i}`,
        customerSourceId: 'C',
        date: '2026-11-05',
        amount: '12.10',
        currency: 'EUR',
        invoiceExternalReference: `FO-${i}`,
        description: '',
        fee: `0.${String(10 + i)}`,
      });
    }
    // Lost answers where a fee could be booked twice: its line's, the payment line's, the post's.
    sim.dropNext(2, (m, p) => m === 'POST' && p.endsWith('/journalLines'));
    sim.dropNext(1, (m, p) => m === 'POST' && p.endsWith('/customerPayments'));
    sim.dropNext(1, (m, p) => p.includes('/journals(') && p.endsWith('/Microsoft.NAV.post'));
    await importRetrying(pipeline, records);

    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expect(sim.duplicates()).toEqual([]);
    expect(sim.violations).toEqual([]);
    expect(sim.company.glJournalLines.size).toBe(0);
    expect(sim.company.journalLines.size).toBe(0);
    for (let i = 0; i < n; i++) {
      const ref = `FP-${i}`;
      const fees = sim.company.postedGlLines.filter((l) => l.externalDocumentNumber === ref);
      expect({ ref, fees: fees.map((l) => [l.accountNumber, l.amount.toFixed(2)]) }).toEqual({
        ref,
        fees: [['67100', `0.${String(10 + i)}`]],
      });
      expect(sim.company.payments.filter((p) => p.externalDocumentNumber === ref)).toHaveLength(1);
      // What reached the bank under the payment's document: 12.10 less its fee.
      const bank = sim.company.glEntries
        .filter((e) => e.documentNumber === ref && e.accountNumber === '10100')
        .reduce((sum, e) => sum + Number(e.debitAmount) - Number(e.creditAmount), 0);
      expect(bank.toFixed(2)).toBe((12.1 - (10 + i) / 100).toFixed(2));
    }
  }, 120_000);

  it('a payment naming an invoice another pipeline booked is applied to it; one naming an invoice not booked yet waits for it, then is applied', async () => {
    const { sim, target } = await businessCentral(31, undefined, 0);
    const orders = await e2e.recordsPipeline('BC5', 'orders', target);
    const provider = await definePipeline(e2e.db, 'BC5', { name: 'payments', source: { type: 'records' }, target });
    const customer: CanonicalRecord = {
      kind: 'customer',
      sourceId: 'C',
      name: 'Two pipelines',
      email: 'c@example.org',
    };
    const payment = (ref: string, invoiceRef: string): CanonicalRecord => ({
      kind: 'payment',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: 'C',
      date: '2026-11-05',
      amount: '5.00',
      currency: 'EUR',
      invoiceExternalReference: invoiceRef,
      description: '',
    });
    const send = (pipeline: Pipeline, records: CanonicalRecord[]) => e2e.send(pipeline, records);
    await send(orders, [customer, goodsInvoice('SO-51')]);
    await send(provider, [customer, payment('PAY-51', 'SO-51'), payment('PAY-52', 'SO-52')]);
    const invoiceOf = (ref: string) =>
      [...sim.company.docs.values()].find((d) => d.set === 'salesInvoices' && d.externalDocumentNumber === ref)!;
    const paymentOf = (ref: string) => sim.company.payments.filter((p) => p.externalDocumentNumber === ref);
    // Booked by the other pipeline: found in Business Central by its reference, and applied as posted.
    expect(paymentOf('PAY-51').map((p) => p.appliedTo.map((a) => [a.invoiceId, a.amount.toFixed(2)]))).toEqual([
      [[invoiceOf('SO-51').id, '5.00']],
    ]);
    // Not in Business Central yet: not posted unapplied, but waiting for it, saying so.
    expect(paymentOf('PAY-52')).toEqual([]);
    const parked = await openExceptions(e2e.db, provider);
    expect(parked.map((x) => [x.source_id, x.reason_code])).toEqual([['PAY-52', 'ALLOCATION_DOCUMENT_NOT_SYNCED']]);
    expect(parked[0]!.message).toMatch(/SO-52, which is not in Business Central yet/);
    // This pipeline books that invoice: the payment runs again by itself and is applied as posted.
    await send(provider, [goodsInvoice('SO-52')]);
    expect(paymentOf('PAY-52').map((p) => p.appliedTo.map((a) => [a.invoiceId, a.amount.toFixed(2)]))).toEqual([
      [[invoiceOf('SO-52').id, '5.00']],
    ]);
    expect(await openExceptions(e2e.db, provider)).toEqual([]);
    expect(sim.violations).toEqual([]);
  });

  it('a lost answer in the middle of a batch keeps what came before it: neither looked up nor sent again', async () => {
    const { sim, target } = await businessCentral(41, undefined, 0);
    const pipeline = await e2e.recordsPipeline('BC4', 'mid-batch-to-bc', target);
    const refs = [...Array(6).keys()].map((i) => `MID-${i}`);
    // The fourth invoice of the batch is committed and its answer lost.
    sim.dropNext(1, (m, p, body) => m === 'POST' && p.endsWith('/salesInvoices') && body.includes('"MID-3"'));
    await e2e.send(pipeline, [
      { kind: 'customer', sourceId: 'C', name: 'Mid-batch customer' },
      ...refs.map(goodsInvoice),
    ]);
    expect(sim.stats.dropped).toBe(1);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expectEachOnce(sim, 'salesInvoices', refs);
    // Looked up by reference: only the invoice whose answer was lost and the two never sent after
    // it. MID-0 to MID-2 were booked, and known to be, before the failure.
    const lookups = sim.log.filter((e) => e.method === 'GET' && e.path.endsWith('/salesInvoices'));
    expect(lookups).toHaveLength(3);
    expect(sim.log.filter((e) => e.method === 'POST' && e.path.endsWith('/salesInvoices'))).toHaveLength(6);
  });

  it("paces its calls below Business Central's window: never a 429, nothing lost or doubled", async () => {
    await e2e.entity('BC3');
    // Business Central's 6,000 in 5 minutes scaled to 40 in 2 s; the planner keeps 18 a "minute" of 1 s (36 in any 2 s).
    const { sim, target } = await businessCentral(31, { requests: 40, windowMs: 2000 });
    scaledMinuteMs = 1000;
    try {
      const pipeline = await definePipeline(e2e.db, 'BC3', {
        name: 'paced-to-bc',
        source: { type: 'records' },
        target: { ...target, limits: { callsPerMinute: 18, concurrent: 5 } },
      });
      const refs = [...Array(15).keys()].map((i) => `PACE-${i}`);
      const records: CanonicalRecord[] = [
        { kind: 'customer', sourceId: 'C', name: 'Paced customer' },
        ...refs.map(goodsInvoice),
      ];
      const started = Date.now();
      await importRetrying(pipeline, records);
      expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
      expectEachOnce(sim, 'salesInvoices', refs);
      expect(sim.stats.throttled).toBe(0);
      // Some 50 calls at 18 a second cannot take less than two seconds.
      expect(sim.stats.calls).toBeGreaterThan(45);
      expect(Date.now() - started).toBeGreaterThan(2000);
    } finally {
      scaledMinuteMs = null;
    }
  }, 120_000);
});
