import { describe, expect, it } from 'vitest';
import { e2eRecords, expectNumbersWrittenBack, expectSecondRunWritesNothing } from './helpers/platform-e2e.ts';
import { platformEngine } from './helpers/platform-engine.ts';
import { openExceptions } from './helpers/sync.ts';
import { Dec } from '../src/domain/money.ts';
import { accountsiqTarget } from '../src/connectors/accountsiq/index.ts';
import { type AccountsIqSimulator, startAccountsIqSimulator } from '../src/connectors/accountsiq/simulator.ts';
import { createAccountsIqTarget } from '../src/connectors/accountsiq/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';

/*
 * The AccountsIQ target end to end, through the engine, on PGlite (PostgreSQL with DATABASE_URL),
 * against the simulated Integration web service losing 5% of write answers after committing (and
 * some more on demand), its tokens expiring mid-run, every envelope checked against the declared
 * operations: zero duplicates, zero missing, receipts allocated to the invoices they pay, credit
 * notes set against theirs, a refund as a debit journal set against its receipt, AccountsIQ's numbers and PDFs written back to the source.
 */

const CLIENT = { clientId: 'ledgerlink-e2e', clientSecret: 'aiq-e2e-secret-0123456789abcdef' };

let sim: AccountsIqSimulator;

const e2e = platformEngine({
  name: 'AccountsIQ',
  pdfs: true,
  start: async (e) => {
    sim = e.closeLater(
      await startAccountsIqSimulator({
        entityId: 'E2E',
        ...CLIENT,
        glAccounts: ['4000', '4100'],
        taxCodes: [
          ['S', '0.21'],
          ['Z', '0'],
        ],
        seed: 11,
        dropAfterCommitRate: 0.05,
        // Tokens that live half a second: they expire mid-run and are refreshed.
        accessTokenMs: 500,
      }),
    );
  },
  target: () => ({
    ...accountsiqTarget,
    create: (deps) => Promise.resolve(createAccountsIqTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40 } })),
  }),
});

const target = (extra: Record<string, unknown> = {}) => ({
  type: 'accountsiq',
  url: sim.url,
  entityId: 'E2E',
  ...CLIENT,
  glAccountCode: '4000',
  limits: { callsPerSecond: 10_000, callsPerMinute: 100_000, concurrent: 4, batchSize: 10 },
  ...extra,
});

const held = (type: string) => [...sim.books.transactions.values()].filter((x) => x.type === type);

function expectEachOnce(type: string, references: string[]) {
  const refs = held(type).map((x) => x.reference);
  const missing = references.filter((r) => !refs.includes(r));
  const twice = references.filter((r) => refs.filter((x) => x === r).length > 1);
  expect({ missing, twice }).toEqual({ missing: [], twice: [] });
  expect(sim.duplicates()).toEqual([]);
}

describe('the AccountsIQ target, end to end', () => {
  it('iXpole → AccountsIQ: every instalment once through lost answers and expired tokens, numbers and PDFs written back', async () => {
    // Beyond the 5% at random: the engine must look these up before sending them again.
    sim.dropNext(4, 'PostPayAndAllocateSalesInvoices');
    const { ix, pipeline, codes } = await e2e.ixpoleRun({
      entity: 'AQ1',
      name: 'ix-to-aiq',
      target: target(),
      pageSize: 40,
      ix: { seed: 5, instalments: 80, customers: 12, products: 4 },
    });
    expectEachOnce('SalesBatchInvoice', codes);
    expect(sim.stats.dropped).toBeGreaterThanOrEqual(4);
    expect(sim.stats.expired).toBeGreaterThan(0);
    // Products went as stock items, customers under their codes.
    expect(sim.books.stockItems.size).toBeGreaterThan(0);
    // Written back: AccountsIQ's own number, and its PDF.
    const byRef = new Map(held('SalesBatchInvoice').map((x) => [x.reference, x]));
    expectNumbersWrittenBack(ix, {
      atLeast: codes.length,
      numberOf: (code) => byRef.get(code)?.number,
      // The simulator's PDF is a bare document: a PDF, and no more to read in it.
      pdf: () => undefined,
    });
    // Amounts exactly as iXpole gave them.
    for (let i = 0; i < 10; i++) {
      const inst = ix.instalmentAt(i);
      const gross = byRef.get(inst.InstalmentCode)!.gross;
      expect(gross.toFixed(2)).toBe(new Dec(inst.NetAmount).add(inst.VatAmount).toFixed(2));
    }
    expect(sim.violations).toEqual([]);

    // A second run books nothing again.
    await expectSecondRunWritesNothing(
      e2e.db,
      e2e.sync,
      pipeline,
      () => sim.stats.byOperation.PostPayAndAllocateSalesInvoices ?? 0,
    );
  }, 120_000);

  it('records → AccountsIQ: invoices, receipts allocated to the invoices they name, credit notes set against theirs, nothing lost or doubled', async () => {
    const pipeline = await e2e.recordsPipeline('AQ2', 'records-to-aiq', target());
    const records: CanonicalRecord[] = [];
    for (let c = 0; c < 5; c++)
      records.push({
        kind: 'customer',
        sourceId: `R-C${c}`,
        name: `Records customer ${c} <&>`,
        email: `c${c}@example.org`,
      });
    const refs = [...Array(30).keys()].map((i) => `R-INV-${String(i).padStart(3, '0')}`);
    for (const [i, ref] of refs.entries())
      records.push({
        kind: 'invoice',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: `R-C${i % 5}`,
        invoiceDate: '2026-11-10',
        dueDate: '2026-12-10',
        currency: 'EUR',
        description: `Order ${i}`,
        lines: [{ description: 'Goods', netAmount: `${100 + i}.00`, vatRate: '0.21' }],
      });
    // Payments for the first 20: the even ones in full, the odd ones 50.00.
    const paid = refs.slice(0, 20);
    for (const [i, ref] of paid.entries()) {
      const gross = ((100 + i) * 1.21).toFixed(2);
      records.push({
        kind: 'payment',
        sourceId: `R-PAY-${i}`,
        externalReference: `R-PAY-${i}`,
        customerSourceId: `R-C${i % 5}`,
        date: '2026-11-20',
        amount: i % 2 === 0 ? gross : '50.00',
        currency: 'EUR',
        invoiceExternalReference: ref,
        description: '',
      });
    }
    // Credit notes on three unpaid invoices, each set against its invoice.
    for (const i of [25, 26, 27]) {
      records.push({
        kind: 'creditNote',
        sourceId: `R-CN-${i}`,
        externalReference: `R-CN-${i}`,
        customerSourceId: `R-C${i % 5}`,
        date: '2026-11-15',
        currency: 'EUR',
        description: 'Returned',
        invoiceExternalReference: refs[i]!,
        lines: [{ description: 'Returned', netAmount: '10.00', vatRate: '0.21', vatAmount: '2.10' }],
      });
      records.push({
        kind: 'allocation',
        sourceId: `R-AL-${i}`,
        customerSourceId: `R-C${i % 5}`,
        date: '2026-11-15',
        currency: 'EUR',
        amount: '12.10',
        invoiceExternalReference: refs[i]!,
        from: 'creditNote',
        fromExternalReference: `R-CN-${i}`,
      });
    }
    // A payment on account, part of it refunded.
    records.push({
      kind: 'payment',
      sourceId: 'R-PAY-X',
      externalReference: 'R-PAY-X',
      customerSourceId: 'R-C1',
      date: '2026-11-21',
      amount: '30.00',
      currency: 'EUR',
      description: 'On account',
    });
    records.push({
      kind: 'refund',
      sourceId: 'R-REF-1',
      externalReference: 'R-REF-1',
      customerSourceId: 'R-C1',
      date: '2026-11-22',
      amount: '10.00',
      currency: 'EUR',
      paymentExternalReference: 'R-PAY-X',
      description: 'Refund',
    });
    const dropped = sim.stats.dropped;
    sim.dropNext(2, 'AllocateTransactions');
    sim.dropNext(1, 'CreateBatchSalesCreditNoteGetBackTransactionID');
    await e2e.send(pipeline, records);

    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expect(sim.stats.dropped).toBeGreaterThanOrEqual(dropped + 3);
    expectEachOnce('SalesBatchInvoice', refs);
    expectEachOnce(
      'SalesReceipt',
      paid.map((_, i) => `R-PAY-${i}`),
    );
    expectEachOnce('SalesBatchCreditNote', ['R-CN-25', 'R-CN-26', 'R-CN-27']);
    expect([...sim.books.customers.values()].filter((c) => c.Name === 'Records customer 0 <&>')).toHaveLength(1);
    const inv = new Map(held('SalesBatchInvoice').map((x) => [x.reference, x]));
    const rec = new Map(held('SalesReceipt').map((x) => [x.reference, x]));
    const cn = new Map(held('SalesBatchCreditNote').map((x) => [x.reference, x]));
    for (const [i, ref] of refs.entries()) {
      const gross = ((100 + i) * 1.21).toFixed(2);
      const want =
        i < 20
          ? i % 2 === 0
            ? '0.00'
            : (Number(gross) - 50).toFixed(2)
          : [25, 26, 27].includes(i)
            ? (Number(gross) - 12.1).toFixed(2)
            : gross;
      expect({ ref, outstanding: inv.get(ref)!.outstanding.toFixed(2) }).toEqual({ ref, outstanding: want });
    }
    // Each receipt allocated to its own invoice, and to no other.
    for (const [i, ref] of paid.entries()) {
      const r = rec.get(`R-PAY-${i}`)!;
      const allocations = sim.books.allocations.filter((a) => a.credit === r.id);
      expect(allocations.map((a) => a.debit)).toEqual([inv.get(ref)!.id]);
    }
    for (const i of [25, 26, 27]) {
      const note = cn.get(`R-CN-${i}`)!;
      expect(note.outstanding.toFixed(2)).toBe('0.00');
      expect(sim.books.allocations.filter((a) => a.credit === note.id).map((a) => a.debit)).toEqual([
        inv.get(refs[i]!)!.id,
      ]);
    }
    // The refund: a sales debit journal, once, set against the receipt it refunds.
    expectEachOnce('SalesDebitJournal', ['R-REF-1']);
    const onAccount = rec.get('R-PAY-X')!;
    const journal = held('SalesDebitJournal')[0]!;
    expect(onAccount.outstanding.toFixed(2)).toBe('20.00');
    expect(sim.books.allocations.filter((a) => a.credit === onAccount.id).map((a) => a.debit)).toEqual([journal.id]);
    expect(sim.violations).toEqual([]);
  }, 120_000);

  it('records → AccountsIQ: a refund that came before its payment, or before that payment’s invoice, is set against what the receipt leaves once it pays its invoice', async () => {
    const pipeline = await e2e.recordsPipeline('AQ5', 'early-refunds-to-aiq', target());
    const q5 = e2eRecords('Q5');
    const invoice = (n: number) => q5.invoice(n, 'C');
    const payment = (n: number, amount: string) => q5.payment(n, 'C', amount, `Q5-I${n}`);
    const refund = (n: number) => q5.refund(n, 'C', '10.00', `Q5-P${n}`);
    const send = (records: CanonicalRecord[]) => e2e.send(pipeline, records);
    // P1 before its invoice, and a refund of it; a refund of P2 before P2 itself.
    await send([...q5.customers(['C']), payment(1, '50.00'), refund(1), refund(2)]);
    expect(held('SalesDebitJournal').filter((x) => x.reference.startsWith('Q5-'))).toEqual([]);
    await send([invoice(1), invoice(2), payment(2, '150.00')]);
    // The timer's flushes: P1 allocated to its invoice, then the refunds that waited run again.
    for (let i = 0; i < 10; i++) {
      await e2e.sync.flushAll();
      await e2e.drain(pipeline);
    }
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    expectEachOnce('SalesDebitJournal', ['Q5-R1', 'Q5-R2']);
    const one = (type: string, ref: string) => held(type).find((x) => x.reference === ref)!;
    const against = (id: number) =>
      sim.books.allocations.filter((a) => a.credit === id).map((a) => [a.debit, a.amount.toFixed(2)]);
    const [i1, i2] = [one('SalesBatchInvoice', 'Q5-I1'), one('SalesBatchInvoice', 'Q5-I2')];
    const [p1, p2] = [one('SalesReceipt', 'Q5-P1'), one('SalesReceipt', 'Q5-P2')];
    const [r1, r2] = [one('SalesDebitJournal', 'Q5-R1'), one('SalesDebitJournal', 'Q5-R2')];
    // As in the order invoice, payment, refund: all of P1 went to its invoice, so R1 stands on the
    // customer unallocated; P2 paid its invoice and R2 took 10.00 of the 29.00 it had left.
    expect(against(p1.id)).toEqual([[i1.id, '50.00']]);
    expect(i1.outstanding.toFixed(2)).toBe('71.00');
    expect(r1.outstanding.toFixed(2)).toBe('10.00');
    expect(against(p2.id)).toEqual([
      [i2.id, '121.00'],
      [r2.id, '10.00'],
    ]);
    expect([i2.outstanding.toFixed(2), p2.outstanding.toFixed(2), r2.outstanding.toFixed(2)]).toEqual([
      '0.00',
      '19.00',
      '0.00',
    ]);
    expect(sim.violations).toEqual([]);
  }, 120_000);
});
