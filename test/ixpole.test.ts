import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants } from './helpers/ledger.ts';
import { definePipeline, dueNow, syncService } from './helpers/sync.ts';
import { instalmentCodes, ixpoleSource } from './helpers/platform-engine.ts';
import {
  type IxpoleSimulator,
  type IxpoleSimulatorOptions,
  startIxpoleSimulator,
} from '../src/connectors/ixpole/simulator.ts';
import { createSource } from '../src/sync/registry.ts';
import type { SourceConnector } from '../src/sync/connector.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { getRun } from '../src/sync/runs.ts';
import { sourceDepsOf } from './helpers/sync.ts';
import { extractPdfText } from './helpers/pdf-text.ts';

/*
 * The iXpole source end to end: a local iXpole (the simulator) on one side, the real engine and
 * ledger on the other, misbehaviour switched on in between. Each test has its own entity,
 * simulator and pipeline, so their ledgers do not meet.
 */

let t: TestApp;
const sims: IxpoleSimulator[] = [];
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  for (const s of sims) await s.close();
  await t.close();
});

/** Beside ixpoleSource's short retries: a Retry-After waited out for 30 ms at most, so that storms cost milliseconds. */
// The timeout is generous: PGlite runs in this process and can hold the event loop for a while.
const FAST = { retryAfterMaxMs: 30, timeoutMs: 10_000 };

let entities = 0;
async function setup(
  name: string,
  simOptions: IxpoleSimulatorOptions,
  extra: { source?: Record<string, unknown>; options?: Record<string, unknown> } = {},
) {
  const code = `IX${++entities}`;
  const c = await t.entity(code, 'EUR', { standardTaxRate: '0.21' });
  const sim = await startIxpoleSimulator({ seed: entities, ...simOptions });
  sims.push(sim);
  const pipeline = await definePipeline(t.db, code, {
    name,
    source: { ...ixpoleSource(sim), ...FAST, ...extra.source },
    options: extra.options ?? {},
  });
  return { c, sim, pipeline, code };
}

async function runOnce(pipeline: Pipeline, sync = t.sync) {
  const runId = (await sync.trigger(pipeline, 'manual', 'test'))!;
  return (await getRun(t.db, runId))!;
}

/** The sales invoices of an entity by external reference; fails on any reference posted twice. */
async function invoicesOf(c: Client) {
  const { rows } = await t.db.query<{
    id: string;
    external_reference: string;
    number: string;
    due_date: string;
    gross: string;
    n: string;
  }>(
    `SELECT min(id) AS id, external_reference, min(number) AS number, min(due_date) AS due_date, min(gross) AS gross, count(*) AS n
       FROM transactions WHERE entity_id = $1 AND type = 'SI' GROUP BY external_reference`,
    [c.entityId],
  );
  const twice = rows.filter((r) => r.n !== '1').map((r) => r.external_reference);
  expect(twice, 'invoices posted more than once').toEqual([]);
  return new Map(rows.map((r) => [r.external_reference, r]));
}

/** InvoiceNumbers written back per InstalmentCode, in order (PUT items with an InvoiceNumber). */
function invoiceWrites(sim: IxpoleSimulator) {
  const out = new Map<string, { InvoiceNumber: string; InvoiceDueDate: string | null; Pdf?: string }[]>();
  for (const w of sim.writes) {
    if (w.method !== 'PUT') continue;
    for (const u of w.body as {
      InstalmentCode: string;
      InvoiceNumber?: string;
      InvoiceDueDate: string | null;
      Pdf?: string;
    }[]) {
      if (u.InvoiceNumber === undefined) continue;
      out.set(u.InstalmentCode, [
        ...(out.get(u.InstalmentCode) ?? []),
        { InvoiceNumber: u.InvoiceNumber, InvoiceDueDate: u.InvoiceDueDate, ...(u.Pdf ? { Pdf: u.Pdf } : {}) },
      ]);
    }
  }
  return out;
}

/**
 * Every given instalment is in the ledger exactly once, under its InstalmentCode, and iXpole was
 * told its number (exactly once unless `atLeastOnce`, where a dropped answer makes a resend) and
 * no longer lists it.
 */
async function expectPostedOnce(
  c: Client,
  sim: IxpoleSimulator,
  codes: string[],
  opts: { atLeastOnce?: boolean } = {},
) {
  const ledger = await invoicesOf(c);
  const writes = invoiceWrites(sim);
  for (const code of codes) {
    const inv = ledger.get(code);
    expect(inv, `${code} in the ledger`).toBeDefined();
    const sent = writes.get(code) ?? [];
    if (opts.atLeastOnce) expect(sent.length, `${code} written back`).toBeGreaterThanOrEqual(1);
    else expect(sent.length, `${code} written back once`).toBe(1);
    for (const s of sent) expect(s.InvoiceNumber).toBe(inv!.number);
    expect(sim.state(code)!.listed, `${code} still listed`).toBe(false);
  }
  return ledger;
}

async function exceptionsOf(pipeline: Pipeline, status?: 'open' | 'resolved') {
  const { rows } = await t.db.query<{
    id: string;
    kind: string;
    source_id: string;
    reason_code: string;
    message: string;
    field: string | null;
    payload: any;
    status: string;
  }>(
    `SELECT id, kind, source_id, reason_code, message, field, payload, status FROM exceptions WHERE pipeline_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY source_id`,
    [pipeline.id, status ?? null],
  );
  return rows;
}

describe('iXpole → ledger', () => {
  it('creates customers and products, posts each instalment once and writes back number, due date and PDF', async () => {
    const { c, sim, pipeline } = await setup(
      'ix-basic',
      { instalments: 60, customers: 12, products: 5 },
      { options: { pageSize: 25 } },
    );
    const sync = syncService(t.db, { pdfs: true });
    const run = await runOnce(pipeline, sync);
    expect(run.status).toBe('succeeded');
    expect(run.counts).toMatchObject({ fetched: 60, parked: 0 });
    expect(run.counts.writtenBack).toBeGreaterThanOrEqual(60);

    const all = [...Array(sim.total).keys()].map((i) => sim.instalmentAt(i));
    const ledger = await expectPostedOnce(c, sim, instalmentCodes(sim));
    // Amounts and dates as iXpole gave them: gross = net + the given VAT, due date = DueDate.
    const { rows: lines } = await t.db.query<{
      external_reference: string;
      net: string;
      tax: string;
      due_date: string;
      transaction_date: string;
    }>(
      `SELECT external_reference, net, tax, due_date, transaction_date FROM transactions WHERE entity_id = $1 AND type = 'SI'`,
      [c.entityId],
    );
    const cents = (s: string) => String(BigInt(s.replace('.', '')));
    for (const l of lines) {
      const i = all.find((x) => x.InstalmentCode === l.external_reference)!;
      expect([l.net, l.tax, l.due_date, l.transaction_date]).toEqual([
        cents(i.NetAmount),
        cents(i.VatAmount),
        i.DueDate,
        i.InvoiceDate,
      ]);
    }
    // Written back: the ledger's number and due date, and the PDF of that very invoice.
    for (const [code, sent] of invoiceWrites(sim)) {
      const inv = ledger.get(code)!;
      expect(sent[0]!.InvoiceDueDate).toBe(inv.due_date);
      expect(extractPdfText(Buffer.from(sent[0]!.Pdf!, 'base64')).lines).toContain(String(inv.number));
    }

    // Customers: iXpole's code when it has one, else a ledger code PATCHed back once.
    const customerIds = [...new Set(all.map((i) => String(i.CustomerId)))];
    const { rows: customers } = await t.db.query<{ source_id: string; target_id: string; name: string }>(
      `SELECT m.source_id, m.target_id, c.name FROM sync_map m JOIN customers c ON c.entity_id = $2 AND c.code = m.target_id WHERE m.pipeline_id = $1 AND m.kind = 'customer'`,
      [pipeline.id, c.entityId],
    );
    expect(customers.map((r) => r.source_id).sort()).toEqual(customerIds.sort());
    const patches = sim.writes.filter((w) => w.method === 'PATCH');
    for (const r of customers) {
      const source = sim.customer(r.source_id)!;
      expect(r.name).toBe(source.Name);
      const mine = patches.filter((p) => p.path === `/api/customers/${r.source_id}`);
      if (/^IX\d+$/.test(r.target_id)) expect(mine).toHaveLength(0);
      else {
        expect(mine.map((p) => p.body)).toEqual([{ CustomerCode: r.target_id }]);
        expect(source.CustomerCode).toBe(r.target_id);
      }
    }
    expect(patches.length).toBeGreaterThan(0);
    // Each customer and product was asked for once in the run, not once per instalment.
    expect(sim.control.stats.requests.customer).toBe(customerIds.length);
    const productIds = [...new Set(all.map((i) => String(i.ProductId)))];
    expect(sim.control.stats.requests.product).toBe(productIds.length);
    // Streamed: page 1 read again as it empties (3 pages of 25), then once more to see the end, and a last check.
    expect(sim.control.stats.requests.instalments).toBe(5);
    const { rows: products } = await t.db.query<{ code: string; gl_account_code: string | null; vat_rate: string }>(
      `SELECT code, gl_account_code, vat_rate::text FROM products WHERE entity_id = $1 ORDER BY code`,
      [c.entityId],
    );
    const rate = (r: string) => r.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
    expect(products.map((p) => ({ ...p, vat_rate: rate(p.vat_rate) }))).toEqual(
      productIds
        .map((id) => sim.product(id)!)
        .map((p) => ({ code: p.Code, gl_account_code: p.GlAccount, vat_rate: p.VatRate }))
        .sort((a, b) => a.code.localeCompare(b.code)),
    );

    // A second run finds nothing to do and sends nothing.
    const writes = sim.writes.length;
    const again = await runOnce(pipeline, sync);
    expect(again.status).toBe('succeeded');
    expect(again.counts).toMatchObject({ fetched: 0, created: 0, writtenBack: 0 });
    expect(sim.writes.length).toBe(writes);
    await checkInvariants(t.db, c.entityId);
  });

  it('writes back without a PDF when options.pdf is false', async () => {
    const { c, sim, pipeline } = await setup(
      'ix-nopdf',
      { instalments: 8, customers: 3, products: 2 },
      { options: { pdf: false } },
    );
    const run = await runOnce(pipeline, syncService(t.db, { pdfs: true }));
    expect(run.status).toBe('succeeded');
    await expectPostedOnce(c, sim, instalmentCodes(sim));
    const sent = [...invoiceWrites(sim).values()].flat();
    expect(sent).toHaveLength(8);
    expect(sent.every((s) => s.Pdf === undefined && /^\d{4}-\d{2}-\d{2}$/.test(s.InvoiceDueDate ?? ''))).toBe(true);
  });

  it('parks a 404 customer or product and a malformed item with their data, then posts them once the cause is fixed', async () => {
    // Ten to a page: the parked items fill the first page, so the reader has to look past them.
    const { c, sim, pipeline } = await setup('ix-parked', { instalments: 40, customers: 8, products: 4, pageSize: 10 });
    const all = [...Array(sim.total).keys()].map((i) => sim.instalmentAt(i));
    const ghost = all[0]!.CustomerId;
    const byGhost = all.filter((i) => i.CustomerId === ghost);
    const noProduct = all.find((i) => i.CustomerId !== ghost)!.ProductId;
    const byNoProduct = all.filter((i) => i.CustomerId !== ghost && i.ProductId === noProduct);
    const spoilt = all.filter((i) => i.CustomerId !== ghost && i.ProductId !== noProduct).slice(0, 2);
    sim.control.missingCustomers.add(String(ghost));
    sim.control.missingProducts.add(String(noProduct));
    sim.control.malform(spoilt[0]!.InstalmentCode, 'amount');
    sim.control.malform(spoilt[1]!.InstalmentCode, 'date');

    const run = await runOnce(pipeline);
    expect(run.status).toBe('partial');
    const parkedCount = byGhost.length + byNoProduct.length + 2;
    expect(run.counts).toMatchObject({ fetched: 40, parked: parkedCount });
    const good = all.filter((i) => !byGhost.includes(i) && !byNoProduct.includes(i) && !spoilt.includes(i));
    await expectPostedOnce(
      c,
      sim,
      good.map((i) => i.InstalmentCode),
    );

    const open = await exceptionsOf(pipeline, 'open');
    expect(open).toHaveLength(parkedCount);
    const find = (code: string) => open.find((x) => x.source_id === code)!;
    for (const i of byGhost) {
      expect(find(i.InstalmentCode)).toMatchObject({
        kind: 'invoice',
        reason_code: 'SOURCE_CUSTOMER_NOT_FOUND',
        message: `iXpole has no customer ${ghost} (404); runs again by itself once customer ${ghost} is booked`,
        field: 'customerSourceId',
      });
      expect(find(i.InstalmentCode).payload).toMatchObject({ record: { externalReference: i.InstalmentCode }, raw: i });
    }
    for (const i of byNoProduct) {
      expect(find(i.InstalmentCode)).toMatchObject({
        reason_code: 'SOURCE_PRODUCT_NOT_FOUND',
        message: `iXpole has no product ${noProduct} (404); runs again by itself once product ${noProduct} is booked`,
        field: 'productSourceId',
      });
    }
    expect(find(spoilt[0]!.InstalmentCode)).toMatchObject({
      reason_code: 'SOURCE_ITEM_INVALID',
      field: 'NetAmount',
      payload: { ...spoilt[0], NetAmount: spoilt[0]!.NetAmount.replace('.', ',') },
    });
    expect(find(spoilt[1]!.InstalmentCode)).toMatchObject({ reason_code: 'SOURCE_ITEM_INVALID', field: 'InvoiceDate' });
    // Nothing parked was reported to iXpole: it still lists them.
    for (const i of [...byGhost, ...byNoProduct, ...spoilt]) expect(sim.state(i.InstalmentCode)!.listed).toBe(true);

    // The customer is back: retrying one exception through the API posts it, under the same
    // reference, and the customer's other instalments, which needed it, go with it.
    // Those that also name the lost product run again too, and are parked for it now.
    const ghostGood = byGhost.filter((i) => i.ProductId !== noProduct);
    const ghostNoProduct = byGhost.filter((i) => i.ProductId === noProduct);
    expect(ghostGood.length).toBeGreaterThan(1);
    sim.control.missingCustomers.clear();
    const first = find(ghostGood[0]!.InstalmentCode);
    const retried = await c.post(`/v1/exceptions/${first.id}/retry`, {});
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body).toMatchObject({
      runStatus: ghostNoProduct.length > 0 ? 'partial' : 'succeeded',
      exception: { status: 'resolved' },
    });
    await expectPostedOnce(
      c,
      sim,
      ghostGood.map((i) => i.InstalmentCode),
    );
    const stillOpen = await exceptionsOf(pipeline, 'open');
    expect(stillOpen.map((x) => x.source_id).sort()).toEqual(
      [...ghostNoProduct, ...byNoProduct, ...spoilt].map((i) => i.InstalmentCode).sort(),
    );
    for (const i of ghostNoProduct)
      expect(stillOpen.find((x) => x.source_id === i.InstalmentCode)).toMatchObject({
        reason_code: 'SOURCE_PRODUCT_NOT_FOUND',
      });

    // The product is back and the items are mended: the next run posts the rest, once.
    sim.control.missingProducts.clear();
    sim.control.malform(spoilt[0]!.InstalmentCode, null);
    sim.control.malform(spoilt[1]!.InstalmentCode, null);
    const rerun = await runOnce(pipeline);
    expect(rerun.status).toBe('succeeded');
    expect(rerun.counts).toMatchObject({ fetched: parkedCount - ghostGood.length, parked: 0 });
    await expectPostedOnce(c, sim, instalmentCodes(sim));
    expect(await exceptionsOf(pipeline, 'open')).toEqual([]);
    await checkInvariants(t.db, c.entityId);
  });

  it('survives 429/503 storms with and without Retry-After, slow pages and repeated items, posting each once', async () => {
    const { c, sim, pipeline } = await setup(
      'ix-storm',
      { instalments: 50, customers: 6, products: 3, pageSize: 10 },
      { source: { timeoutMs: 1000 } },
    );
    sim.control.repeatInvoiced(true);
    sim.control.fail({ status: 429, times: 3, after: 2, route: 'instalments', retryAfter: 1 });
    sim.control.fail({ status: 503, times: 3, after: 8, route: 'instalments' });
    sim.control.fail({ status: 503, times: 2, after: 1, route: 'customer', retryAfter: new Date(Date.now() + 5000) });
    sim.control.fail({ status: 429, times: 2, route: 'put' });
    sim.control.fail({ status: 502, times: 1, route: 'product' });
    sim.control.delay({ ms: 150, times: 3, after: 1, route: 'instalments' }); // slow, within the timeout
    sim.control.delay({ ms: 2500, times: 1, after: 6, route: 'instalments' }); // past the timeout: asked again
    const run = await runOnce(pipeline);
    expect(run.status).toBe('succeeded');
    expect(run.error).toBeNull();
    // The client rode every storm out itself: the run never had to be restarted.
    const { rows } = await t.db.query<{ attempts: number }>(`SELECT attempts FROM runs WHERE id = $1`, [run.runId]);
    expect(rows[0]!.attempts).toBe(1);
    expect(sim.control.stats.faults).toBe(11);
    expect(sim.control.stats.repeats).toBeGreaterThan(0);
    await expectPostedOnce(c, sim, instalmentCodes(sim));

    // Next run: the repeated item is recognised as posted, and nothing is sent again.
    const writes = sim.writes.length;
    const again = await runOnce(pipeline);
    expect(again.status).toBe('succeeded');
    expect(again.counts).toMatchObject({ created: 0, skipped: 1 });
    expect(sim.writes.length).toBe(writes);
    await checkInvariants(t.db, c.entityId);
  });

  it('resumes a run interrupted by a source failure mid-run, posting every instalment exactly once', async () => {
    const { c, sim, pipeline } = await setup(
      'ix-resume',
      { instalments: 70, customers: 10, products: 4, pageSize: 10 },
      { source: { maxAttempts: 2 } },
    );
    // After three pages, the list answers 503 past the client's attempts: the run is interrupted and retried.
    sim.control.fail({ status: 503, times: 2, after: 3, route: 'instalments' });
    const run = await runOnce(pipeline);
    expect(run.status).toBe('succeeded');
    const { rows } = await t.db.query<{ attempts: number }>(`SELECT attempts FROM runs WHERE id = $1`, [run.runId]);
    expect(rows[0]!.attempts).toBe(2);
    await expectPostedOnce(c, sim, instalmentCodes(sim));
    await checkInvariants(t.db, c.entityId);
  });

  it('loses nothing and doubles nothing when a run is killed after some pages and run again', async () => {
    const { c, sim, pipeline } = await setup('ix-kill', { instalments: 70, customers: 10, products: 4, pageSize: 10 });
    let pages = 0;
    const deps = await sourceDepsOf(t.db, pipeline);
    // The process "dies" after three pages: the run fails, its work so far is committed.
    const killer = (p: Pipeline): SourceConnector => {
      const real = createSource(p, deps);
      return {
        ...real,
        type: real.type,
        async *pages(ctx, cursor) {
          for await (const page of real.pages(ctx, cursor)) {
            if (++pages > 3) throw new Error('killed');
            yield page;
          }
        },
      };
    };
    const dying = syncService(t.db, { engine: { sourceFor: killer } });
    const killed = await runOnce(pipeline, dying);
    expect(killed.status).toBe('failed');
    expect(killed.error).toContain('killed');
    const midway = await invoicesOf(c);
    expect(midway.size).toBe(30);

    // Run again: the rest is posted, nothing twice.
    const run = await runOnce(pipeline);
    expect(run.status).toBe('succeeded');
    expect(run.counts.created).toBeGreaterThanOrEqual(40);
    await expectPostedOnce(c, sim, instalmentCodes(sim));
    await checkInvariants(t.db, c.entityId);
  });

  it('posts once when the write-back is lost: a dropped answer is resent, a failed one waits for its retry', async () => {
    const { c, sim, pipeline } = await setup('ix-lostwb', { instalments: 30, customers: 5, products: 3, pageSize: 10 });
    // iXpole takes the first PUT but the answer never arrives: the client sends it again.
    sim.control.dropResponses({ times: 1, route: 'put' });
    // Then a PUT that fails past all attempts: the outbox keeps it for later, the instalments stay listed.
    sim.control.fail({ status: 503, times: 4, after: 2, route: 'put' });
    const run = await runOnce(pipeline);
    expect(run.status).toBe('succeeded');
    expect(sim.control.stats.dropped).toBe(1);
    // The dropped PUT was carried out and sent again, with the same numbers.
    expect([...invoiceWrites(sim).values()].filter((w) => w.length === 2)).toHaveLength(10);
    const { rows: waiting } = await t.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM outbox WHERE pipeline_id = $1 AND status = 'pending' AND attempts > 0`,
      [pipeline.id],
    );
    expect(Number(waiting[0]!.n)).toBeGreaterThan(0);
    expect(sim.listed()).toBeGreaterThan(0);
    expect((await invoicesOf(c)).size).toBe(30);

    // The outbox's backoff has run out; the next run sends what was waiting, and posts nothing again.
    await dueNow(t.db, pipeline.id);
    const again = await runOnce(pipeline);
    expect(again.status).toBe('succeeded');
    expect(again.counts.created).toBe(0);
    await expectPostedOnce(c, sim, instalmentCodes(sim), { atLeastOnce: true });
    expect(sim.listed()).toBe(0);
    await checkInvariants(t.db, c.entityId);
  });

  it('lets overlapping manual and scheduled runs of one pipeline take turns, posting each instalment once', async () => {
    const { c, sim, pipeline } = await setup('ix-overlap', {
      instalments: 60,
      customers: 8,
      products: 3,
      pageSize: 10,
    });
    sim.control.delay({ ms: 20, route: 'instalments' });
    const [manual, scheduled] = await Promise.all([
      t.sync.trigger(pipeline, 'manual', 'test'),
      t.sync.trigger(pipeline, 'schedule', 'scheduler', { slot: '2026-11-01T10:00' }, { slot: '2026-11-01T10:00' }),
    ]);
    const runs = await Promise.all([manual, scheduled].map(async (id) => (await getRun(t.db, id!))!));
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    // The second was queued before the first finished, yet started only after it: the lease made it wait.
    const [a, b] = [...runs].sort((x, y) => x.startedAt!.localeCompare(y.startedAt!));
    expect(b!.createdAt < a!.finishedAt!).toBe(true);
    expect(b!.startedAt! >= a!.finishedAt!).toBe(true);
    expect(runs.reduce((n, r) => n + r.counts.created, 0)).toBeGreaterThanOrEqual(60);
    await expectPostedOnce(c, sim, instalmentCodes(sim));
    await checkInvariants(t.db, c.entityId);
  });

  it('writes {InstalmentCode, PaymentNo} back once an invoice is fully paid, exactly once', async () => {
    const { c, sim, pipeline } = await setup('ix-paid', { instalments: 6, customers: 2, products: 2 });
    expect((await runOnce(pipeline)).status).toBe('succeeded');
    const ledger = await invoicesOf(c);
    const [paidCode, partCode] = instalmentCodes(sim);
    const pay = async (code: string, amount: string, reference: string) => {
      const inv = ledger.get(code)!;
      const { rows } = await t.db.query<{ customer_code: string }>(
        `SELECT customer_code FROM transactions WHERE id = $1`,
        [inv.id],
      );
      const receipt = await c.post('/v1/sales/receipts', {
        customerCode: rows[0]!.customer_code,
        checkReference: reference,
        paymentAmount: amount,
        bankAccountCode: 'BANK',
        paymentDate: '2026-11-05',
      });
      expect(receipt.status).toBe(201);
      const alloc = await c.post('/v1/allocations', {
        transactionId1: Number(inv.id),
        transactionId2: receipt.body.transactionId,
        amount,
        date: '2026-11-05',
        reference,
      });
      expect(alloc.status).toBe(201);
    };
    const euros = (cents: string) => `${BigInt(cents) / 100n}.${String(BigInt(cents) % 100n).padStart(2, '0')}`;
    await pay(paidCode!, euros(ledger.get(paidCode!)!.gross), 'PAY-777');
    await pay(partCode!, '1.00', 'PAY-778'); // partly paid: nothing to report

    const run = await runOnce(pipeline);
    expect(run.status).toBe('succeeded');
    const payments = sim.writes
      .flatMap((w) => (w.method === 'PUT' ? (w.body as { PaymentNo?: string }[]) : []))
      .filter((u) => u.PaymentNo !== undefined);
    expect(payments).toEqual([{ InstalmentCode: paidCode, PaymentNo: 'PAY-777' }]);
    expect(sim.state(paidCode!)!.paymentNo).toBe('PAY-777');
    expect(sim.state(partCode!)!.paymentNo).toBeNull();

    const writes = sim.writes.length;
    expect((await runOnce(pipeline)).status).toBe('succeeded');
    expect(sim.writes.length).toBe(writes);
    await checkInvariants(t.db, c.entityId);
  });

  it('in draft mode, writes back "D" + draft number (iXpole: pending), then the final number and PDF once posted', async () => {
    const { c, sim, pipeline } = await setup(
      'ix-drafts',
      { instalments: 4, customers: 2, products: 2 },
      { options: { invoiceMode: 'draft' } },
    );
    const sync = syncService(t.db, { pdfs: true });
    expect((await runOnce(pipeline, sync)).status).toBe('succeeded');
    const codes = instalmentCodes(sim);
    const { rows: drafts } = await t.db.query<{ source_id: string; id: string; number: string }>(
      `SELECT m.source_id, d.id, d.number FROM sync_map m JOIN draft_invoices d ON d.id = m.target_id::bigint
        WHERE m.pipeline_id = $1 AND m.kind = 'draft' ORDER BY m.source_id`,
      [pipeline.id],
    );
    expect(drafts.map((d) => d.source_id)).toEqual(codes);
    // "D" + number, no PDF: iXpole marks them pending and lists them no more; nothing is booked yet.
    expect([...invoiceWrites(sim)].map(([code, w]) => [code, w])).toEqual(
      drafts.map((d) => [d.source_id, [{ InvoiceNumber: `D${d.number}`, InvoiceDueDate: expect.any(String) }]]),
    );
    expect(sim.listed()).toBe(0);
    expect((await invoicesOf(c)).size).toBe(0);

    const posted = await c.post(`/v1/sales/draft-invoices/${drafts[0]!.id}/post`, undefined);
    expect(posted.status).toBe(201);
    expect((await runOnce(pipeline, sync)).status).toBe('succeeded');
    const final = invoiceWrites(sim).get(codes[0]!)!;
    expect(final).toHaveLength(2);
    expect(final[1]).toMatchObject({ InvoiceNumber: String(posted.body.number), InvoiceDueDate: posted.body.dueDate });
    expect(extractPdfText(Buffer.from(final[1]!.Pdf!, 'base64')).lines).toContain(String(posted.body.number));
    expect(sim.state(codes[0]!)!.invoiceNumber).toBe(String(posted.body.number));
    expect(sim.state(codes[1]!)!.invoiceNumber).toBe(`D${drafts[1]!.number}`);

    const writes = sim.writes.length;
    expect((await runOnce(pipeline, sync)).status).toBe('succeeded');
    expect(sim.writes.length).toBe(writes);
    expect([...(await invoicesOf(c)).keys()]).toEqual([codes[0]]);
    await checkInvariants(t.db, c.entityId);
  });

  it('fails a run with a refused key without ever showing the key', async () => {
    const { pipeline } = await setup('ix-badkey', { instalments: 3 }, { source: { apiKey: 'not-the-key-0f3c9a' } });
    const run = await runOnce(pipeline);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('401');
    expect(run.error).toContain('check the API key');
    const { rows } = await t.db.query<{ text: string }>(
      `SELECT concat_ws(' ', r.error, (SELECT string_agg(message, ' ') FROM run_records WHERE run_id = r.id)) AS text FROM runs r WHERE r.id = $1`,
      [run.runId],
    );
    expect(rows[0]!.text).not.toContain('not-the-key-0f3c9a');
  });
});
