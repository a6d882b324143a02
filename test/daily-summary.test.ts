import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants } from './helpers/ledger.ts';
import { definePipeline } from './helpers/sync.ts';
import { webhookClient, webhookEvent, type WebhookClient } from './helpers/webhooks.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { getRun } from '../src/sync/runs.ts';
import { summaryReference } from '../src/sync/daily-summary.ts';
import { formatAmount } from '../src/domain/money.ts';

const SECRET = 'till-webhook-secret-0123456789';
let t: TestApp;
let c: Client;
let hooks: WebhookClient;
let till: Pipeline;

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('POS', 'EUR', { standardTaxRate: '0.21' });
  hooks = await webhookClient(t);
  expect((await c.put('/v1/customers/CASH', { name: 'Cash sales' })).status).toBe(201);
  expect((await c.put('/v1/gl-accounts/4010', { name: 'Workshop sales', type: 'income' })).status).toBe(201);
  till = await definePipeline(t.db, 'POS', {
    name: 'till',
    source: { type: 'webhook' },
    webhookSecret: SECRET,
    mode: 'daily-summary',
    schedule: '15 0 * * *',
    options: { summaryCustomer: 'CASH' },
  });
});
afterAll(async () => {
  await hooks.close();
  await t.close();
});

let eventNo = 0;
async function send(type: string, data: Record<string, unknown>) {
  const res = await hooks.deliver('till', webhookEvent(`till-${++eventNo}`, type, data), SECRET);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

interface Sale {
  id: string;
  date: string;
  location: string;
  method: string;
  lines: { net: bigint; rate: '0.21' | '0'; gl: string }[];
}

/** VAT as the ledger computes it per line: net × rate, half up. */
const vatOf = (net: bigint, rate: string) => (rate === '0' ? 0n : (net * 21n + 50n) / 100n);
const grossOf = (s: Sale) => s.lines.reduce((sum, l) => sum + l.net + vatOf(l.net, l.rate), 0n);
const eur = (minor: bigint) => formatAmount(minor, 'EUR');

/** Records one sale and its payment through the till's webhooks. */
async function sell(s: Sale) {
  await send('invoice.created', {
    sourceId: s.id,
    externalReference: s.id,
    // Walk-in shoppers: whoever the till names, the summary goes to options.summaryCustomer.
    customerSourceId: `shopper-${Number(s.id.split('-').pop()) % 3}`,
    invoiceDate: s.date,
    currency: 'EUR',
    location: s.location,
    lines: s.lines.map((l) => ({
      description: 'item',
      netAmount: eur(l.net),
      vatRate: l.rate,
      glAccountCode: l.gl,
      ...(l.rate === '0' ? { taxCode: 'ZERO' } : {}),
    })),
  });
  await send('payment.received', {
    sourceId: `${s.id}-P`,
    externalReference: `${s.id}-P`,
    customerSourceId: 'shopper-0',
    date: s.date,
    amount: eur(grossOf(s)),
    currency: 'EUR',
    location: s.location,
    method: s.method,
    fee: s.method === 'card' ? '0.05' : null,
  });
}

function sales(date: string, n: number, prefix: string): Sale[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    date,
    location: i % 2 === 0 ? 'SHOP1' : 'SHOP2',
    method: Math.floor(i / 2) % 2 === 0 ? 'card' : 'cash',
    // Odd cents, so that VAT rounded per sale differs from VAT on the summed net.
    lines: [
      { net: 137n + 101n * BigInt(i), rate: '0.21' as const, gl: '4000' },
      ...(i % 3 === 0 ? [{ net: 250n, rate: '0' as const, gl: '4010' }] : []),
    ],
  }));
}

async function ledger(type: string) {
  const { rows } = await t.db.query<{
    id: string;
    external_reference: string;
    customer_code: string;
    transaction_date: string;
    gross: string;
    net: string;
    tax: string;
  }>(
    `SELECT id, external_reference, customer_code, transaction_date::text AS transaction_date, gross::text AS gross, net::text AS net, tax::text AS tax
       FROM transactions WHERE entity_id = $1 AND type = $2 ORDER BY external_reference`,
    [c.entityId, type],
  );
  return rows;
}

describe('end-of-day summaries', () => {
  const day1 = sales('2026-11-21', 50, 'S21');
  const day2 = sales('2026-11-22', 6, 'S22');

  it('records sales as they arrive instead of posting them', async () => {
    for (const s of [...day1, ...day2]) await sell(s);
    expect(await ledger('SI')).toEqual([]);
    expect(await ledger('SR')).toEqual([]);
    const { rows } = await t.db.query<any>(
      `SELECT document_date::text AS date, kind, count(*) AS n FROM source_documents WHERE pipeline_id = $1 AND summarized_in IS NULL GROUP BY 1, 2 ORDER BY 1, 2`,
      [till.id],
    );
    expect(rows).toEqual([
      { date: '2026-11-21', kind: 'invoice', n: '50' },
      { date: '2026-11-21', kind: 'payment', n: '50' },
      { date: '2026-11-22', kind: 'invoice', n: '6' },
      { date: '2026-11-22', kind: 'payment', n: '6' },
    ]);
  });

  it('posts one invoice per location and one receipt per location and method for the day, totals equal to the sales', async () => {
    // The scheduler's tick just after 00:15 UTC on the 22nd summarises the 21st, and only it.
    expect(await t.sync.tick(new Date('2026-11-22T00:20:00Z'))).toBe(1);
    const invoices = await ledger('SI');
    expect(invoices.map((i) => [i.external_reference, i.customer_code, i.transaction_date])).toEqual([
      ['DS-2026-11-21-SHOP1', 'CASH', '2026-11-21'],
      ['DS-2026-11-21-SHOP2', 'CASH', '2026-11-21'],
    ]);
    for (const loc of ['SHOP1', 'SHOP2']) {
      const mine = day1.filter((s) => s.location === loc);
      const inv = invoices.find((i) => i.external_reference === `DS-2026-11-21-${loc}`)!;
      expect(BigInt(inv.gross)).toBe(mine.reduce((sum, s) => sum + grossOf(s), 0n));
      // Lines grouped by GL account and tax code, net and VAT summed over the sales.
      const { rows: items } = await t.db.query<any>(
        `SELECT gl_account_code, tax_code, net::text AS net, tax::text AS tax FROM transaction_items WHERE transaction_id = $1 ORDER BY gl_account_code, tax_code`,
        [inv.id],
      );
      const sum = (gl: string) => mine.flatMap((s) => s.lines.filter((l) => l.gl === gl));
      expect(items).toEqual([
        {
          gl_account_code: '4000',
          tax_code: 'STD',
          net: String(sum('4000').reduce((a, l) => a + l.net, 0n)),
          tax: String(sum('4000').reduce((a, l) => a + vatOf(l.net, l.rate), 0n)),
        },
        {
          gl_account_code: '4010',
          tax_code: 'ZERO',
          net: String(sum('4010').reduce((a, l) => a + l.net, 0n)),
          tax: '0',
        },
      ]);
    }
    const receipts = await ledger('SR');
    expect(receipts.map((r) => r.external_reference)).toEqual([
      'DS-2026-11-21-SHOP1-CARD',
      'DS-2026-11-21-SHOP1-CASH',
      'DS-2026-11-21-SHOP2-CARD',
      'DS-2026-11-21-SHOP2-CASH',
    ]);
    for (const r of receipts) {
      const [, , , , loc, method] = r.external_reference.split('-');
      const paid = day1.filter((s) => s.location === loc && s.method === method!.toLowerCase());
      expect(BigInt(r.gross), r.external_reference).toBe(paid.reduce((sum, s) => sum + grossOf(s), 0n));
    }
    // Every receipt is allocated to its location's invoice, which is then fully paid.
    const { rows: open } = await t.db.query<any>(
      `SELECT t.external_reference, t.gross - coalesce((SELECT sum(a.amount) FROM allocations a WHERE a.debit_transaction_id = t.id OR a.credit_transaction_id = t.id), 0) AS outstanding
         FROM transactions t WHERE t.entity_id = $1 AND t.type IN ('SI', 'SR') ORDER BY 1`,
      [c.entityId],
    );
    expect(
      open.every((o: any) => o.outstanding === '0'),
      JSON.stringify(open),
    ).toBe(true);
    // Card fees, 0.05 a sale, to bank charges: one journal per card receipt.
    const { rows: fees } = await t.db.query<any>(
      `SELECT external_reference, gross::text AS gross FROM transactions WHERE entity_id = $1 AND type = 'GJ' ORDER BY 1`,
      [c.entityId],
    );
    expect(fees).toEqual([
      {
        external_reference: 'DS-2026-11-21-SHOP1-CARD',
        gross: String(5n * BigInt(day1.filter((s) => s.location === 'SHOP1' && s.method === 'card').length)),
      },
      {
        external_reference: 'DS-2026-11-21-SHOP2-CARD',
        gross: String(5n * BigInt(day1.filter((s) => s.location === 'SHOP2' && s.method === 'card').length)),
      },
    ]);
    // The next day's sales are untouched.
    const { rows: next } = await t.db.query<any>(
      `SELECT count(*) AS n FROM source_documents WHERE pipeline_id = $1 AND document_date = '2026-11-22' AND summarized_in IS NULL`,
      [till.id],
    );
    expect(next[0].n).toBe('12');
    await checkInvariants(t.db, c.entityId);
  });

  it('reconciles each day receipt’s fee, the sales’ fees summed, with its fee journal; one reversed is named', async () => {
    const reconcile = async () => {
      const r = await c.get('/v1/pipelines/till/reconciliation?from=2026-11-21&to=2026-11-21');
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body as { summary: Record<string, unknown>; mismatches: Record<string, unknown>[] };
    };
    const feeDifferences = async () => (await reconcile()).mismatches.filter((m) => m.kind === 'fee-difference');
    // Four receipts (card and cash at each shop), each compared once: the cash ones have no fee on either side.
    expect((await reconcile()).summary.fees).toEqual({ compared: 4, notCompared: 0 });
    expect(await feeDifferences()).toEqual([]);

    const card = (await ledger('SR')).find((r) => r.external_reference === 'DS-2026-11-21-SHOP1-CARD')!;
    const { rows } = await t.db.query<{ fee: string }>(
      'SELECT fee_transaction_id::text AS fee FROM receipt_fees WHERE receipt_id = $1',
      [card.id],
    );
    const cardFees = eur(5n * BigInt(day1.filter((s) => s.location === 'SHOP1' && s.method === 'card').length));
    expect((await c.post(`/v1/journals/${rows[0]!.fee}/reverse`, {})).status).toBe(201);
    expect(await feeDifferences()).toEqual([
      expect.objectContaining({
        reason: 'missing',
        documentKind: 'payment',
        sourceId: 'DS-2026-11-21-SHOP1-CARD@CASH',
        externalReference: 'DS-2026-11-21-SHOP1-CARD',
        sourceAmount: cardFees,
        targetAmount: null,
        transactionId: Number(card.id),
      }),
    ]);
    // Keyed again and recorded as the receipt's fee, as the message says: it agrees again.
    const keyed = await c.post('/v1/journals', {
      date: '2026-11-21',
      reference: 'DS-2026-11-21-SHOP1-CARD',
      description: 'Card fees',
      lines: [
        { glAccountCode: '7700', debit: cardFees },
        { glAccountCode: '1200', credit: cardFees },
      ],
    });
    expect(keyed.status, JSON.stringify(keyed.body)).toBe(201);
    const recorded = await c.put(`/v1/transactions/${card.id}/fee`, { journalId: keyed.body.transactionId });
    expect(recorded.status, JSON.stringify(recorded.body)).toBe(200);
    expect(await feeDifferences()).toEqual([]);
  });

  it('posts nothing twice: the same slot again, and a manual re-run for the day', async () => {
    const before = { si: await ledger('SI'), sr: await ledger('SR') };
    expect(await t.sync.tick(new Date('2026-11-22T00:25:00Z'))).toBe(0);
    const runId = await t.sync.trigger(till, 'daily-summary', 'test', { date: '2026-11-21' });
    const run = (await getRun(t.db, runId!))!;
    expect(run.status).toBe('succeeded');
    expect(run.counts.created).toBe(0);
    // Even with the engine's map lost, the ledger's unique references stop a second posting.
    await t.db.query(`DELETE FROM sync_map WHERE pipeline_id = $1 AND kind IN ('invoice', 'payment')`, [till.id]);
    const again = (await getRun(t.db, (await t.sync.trigger(till, 'daily-summary', 'test', { date: '2026-11-21' }))!))!;
    expect(again.counts.created).toBe(0);
    expect(again.counts.skipped).toBe(6);
    expect(await ledger('SI')).toEqual(before.si);
    expect(await ledger('SR')).toEqual(before.sr);
  });

  it('summarises the next day on its own, and late sales of a summarised day in a further summary', async () => {
    const late = {
      id: 'S21-late',
      date: '2026-11-21',
      location: 'SHOP1',
      method: 'card',
      lines: [{ net: 1000n, rate: '0.21' as const, gl: '4000' }],
    };
    await sell(late);
    // A sale already summarised, sent again with another amount, is parked, not lost.
    await send('invoice.updated', {
      sourceId: 'S21-0',
      externalReference: 'S21-0',
      customerSourceId: 'shopper-0',
      invoiceDate: '2026-11-21',
      currency: 'EUR',
      location: 'SHOP1',
      lines: [{ netAmount: '99.00', vatRate: '0.21' }],
    });
    const { rows: ex } = await t.db.query<any>(
      `SELECT source_id, reason_code FROM exceptions WHERE pipeline_id = $1 AND status = 'open'`,
      [till.id],
    );
    expect(ex).toEqual([{ source_id: 'S21-0', reason_code: 'INVOICE_ALREADY_POSTED_CHANGED' }]);

    expect(await t.sync.tick(new Date('2026-11-23T00:15:00Z'))).toBe(1);
    const invoices = await ledger('SI');
    expect(invoices.map((i) => i.external_reference)).toEqual([
      'DS-2026-11-21-SHOP1',
      'DS-2026-11-21-SHOP1#2',
      'DS-2026-11-21-SHOP2',
      'DS-2026-11-22-SHOP1',
      'DS-2026-11-22-SHOP2',
    ]);
    const supplementary = invoices.find((i) => i.external_reference === 'DS-2026-11-21-SHOP1#2')!;
    expect(BigInt(supplementary.gross)).toBe(grossOf(late));
    const day2Total = invoices
      .filter((i) => i.transaction_date === '2026-11-22')
      .reduce((sum, i) => sum + BigInt(i.gross), 0n);
    expect(day2Total).toBe(day2.reduce((sum, s) => sum + grossOf(s), 0n));
    const receipts = (await ledger('SR')).map((r) => r.external_reference);
    expect(receipts).toContain('DS-2026-11-21-SHOP1-CARD#2');
    const { rows: alloc } = await t.db.query<any>(
      `SELECT d.external_reference AS invoice FROM allocations a JOIN transactions d ON d.id = a.debit_transaction_id JOIN transactions c ON c.id = a.credit_transaction_id
        WHERE c.external_reference = 'DS-2026-11-21-SHOP1-CARD#2'`,
    );
    expect(alloc).toEqual([{ invoice: 'DS-2026-11-21-SHOP1#2' }]);
    const { rows: left } = await t.db.query<any>(
      `SELECT count(*) AS n FROM source_documents WHERE pipeline_id = $1 AND payload ? 'daily' AND summarized_in IS NULL`,
      [till.id],
    );
    expect(left[0].n).toBe('0');
    await checkInvariants(t.db, c.entityId);
  });

  it('numbers summaries whose locations read alike, so that their references differ', async () => {
    await sell({
      id: 'S24-0',
      date: '2026-11-24',
      location: 'shop-3',
      method: 'cash',
      lines: [{ net: 1000n, rate: '0.21', gl: '4000' }],
    });
    await sell({
      id: 'S24-1',
      date: '2026-11-24',
      location: 'SHOP3',
      method: 'cash',
      lines: [{ net: 2000n, rate: '0.21', gl: '4000' }],
    });
    const run = (await getRun(t.db, (await t.sync.trigger(till, 'daily-summary', 'test', { date: '2026-11-24' }))!))!;
    expect(run.counts).toMatchObject({ created: 4, parked: 0 });
    const refs = (await ledger('SI')).filter((i) => i.transaction_date === '2026-11-24');
    expect(refs.map((i) => [i.external_reference, i.gross])).toEqual([
      ['DS-2026-11-24-SHOP3', '2420'],
      ['DS-2026-11-24-SHOP3#2', '1210'],
    ]);
    await checkInvariants(t.db, c.entityId);
  });

  it('includes sales whose events were stored but not yet processed when the summary runs', async () => {
    // As if the run of this webhook had died: the event is stored, nothing was recorded.
    const stranded = {
      id: 'till-stranded',
      type: 'invoice.created',
      created: 1795478400,
      data: {
        sourceId: 'S25-0',
        externalReference: 'S25-0',
        customerSourceId: 'shopper-1',
        invoiceDate: '2026-11-25',
        currency: 'EUR',
        location: 'SHOP1',
        description: '',
        lines: [{ description: '', netAmount: '50.00', vatRate: '0.21' }],
      },
    };
    await t.db.query(
      `INSERT INTO webhook_events (pipeline_id, event_id, event_type, payload) VALUES ($1, $2, $3, $4)`,
      [till.id, stranded.id, stranded.type, JSON.stringify(stranded)],
    );
    await t.sync.trigger(till, 'daily-summary', 'test', { date: '2026-11-25' });
    expect(
      (await ledger('SI'))
        .filter((i) => i.transaction_date === '2026-11-25')
        .map((i) => [i.external_reference, i.gross]),
    ).toEqual([['DS-2026-11-25-SHOP1', '6050']]);
    const { rows } = await t.db.query<any>(
      `SELECT count(*) AS n FROM webhook_events WHERE pipeline_id = $1 AND processed_at IS NULL`,
      [till.id],
    );
    expect(rows[0].n).toBe('0');
  });

  it('can be started for a date through the API', async () => {
    const res = await hooks.post('/v1/pipelines/till/daily-summary', JSON.stringify({ date: '2026-11-22' }), {
      authorization: `Bearer ${c.token}`,
    });
    expect(res.status).toBe(202);
    const run = (await getRun(t.db, res.body.runId))!;
    expect(run).toMatchObject({ trigger: 'daily-summary', status: 'succeeded' });
    expect(run.counts.created).toBe(0);
  });
});

describe('summary references', () => {
  it('read as the day, location and method, numbered after the first, and stay within 50 characters', () => {
    expect(summaryReference('2026-11-21', ['SHOP1'], 1)).toBe('DS-2026-11-21-SHOP1');
    expect(summaryReference('2026-11-21', ['shop-1', 'card'], 2)).toBe('DS-2026-11-21-SHOP1-CARD#2');
    expect(summaryReference('2026-11-21', [null], 1)).toBe('DS-2026-11-21');
    const long = [1, 2].map((n) =>
      summaryReference('2026-11-21', ['A-VERY-LONG-LOCATION-NAME-FOR-A-POINT-OF-SALE', 'CONTACTLESS'], n),
    );
    expect(long[0]).toMatch(/^DS-2026-11-21-AVERYLONGLOCATIONNAMEFORAPOIN~[0-9A-F]{6}$/);
    expect(long[1]!.length).toBe(50);
    expect(long[0]).not.toBe(long[1]);
  });
});
