import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants } from './helpers/ledger.ts';
import { definePipeline, syncService } from './helpers/sync.ts';
import type { SourceItem } from '../src/sync/connector.ts';
import { getRun } from '../src/sync/runs.ts';

let t: TestApp;
let c: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('SYNC', 'EUR', { standardTaxRate: '0.21' });
});
afterAll(async () => t.close());

const customer = (id: string): SourceItem => ({
  record: { kind: 'customer', sourceId: id, name: `Customer ${id}`, email: `${id}@example.org` },
});
const invoice = (id: string, customerId: string, net = '100.00', rate = '0.21'): SourceItem => ({
  record: {
    kind: 'invoice',
    sourceId: id,
    externalReference: id,
    customerSourceId: customerId,
    invoiceDate: '2026-11-01',
    currency: 'EUR',
    description: `Instalment ${id}`,
    lines: [{ description: 'Ticket', netAmount: net, vatRate: rate }],
  },
});
const payment = (id: string, customerId: string, amount: string, invoiceRef: string | null): SourceItem => ({
  record: {
    kind: 'payment',
    sourceId: id,
    externalReference: id,
    customerSourceId: customerId,
    date: '2026-11-03',
    amount,
    currency: 'EUR',
    invoiceExternalReference: invoiceRef,
    description: '',
  },
});

describe('sync engine with records in hand', () => {
  it('posts customers, invoices and payments once, parks what it cannot map, and re-runs change nothing', async () => {
    const p = await definePipeline(t.db, 'SYNC', { name: 'records', source: { type: 'records' } });
    const sync = syncService(t.db);
    const items = [
      customer('K1'),
      invoice('INS-1', 'K1'),
      invoice('INS-2', 'K1', '50.00', '0.06'), // no tax code at 6%: parked
      invoice('INS-3', 'NOBODY'), // unknown customer: parked
      payment('PAY-1', 'K1', '121.00', 'INS-1'),
    ];
    const runId = await sync.processRecords(p, 'import', 'test', items);
    const run = (await getRun(t.db, runId))!;
    expect(run.status).toBe('partial');
    expect(run.counts).toMatchObject({ fetched: 5, created: 3, parked: 2 });
    const { rows: ex } = await t.db.query<any>(`SELECT source_id, reason_code FROM exceptions ORDER BY source_id`);
    expect(ex).toEqual([
      { source_id: 'INS-2', reason_code: 'MAPPING_NO_TAX_CODE_FOR_RATE' },
      { source_id: 'INS-3', reason_code: 'CUSTOMER_NOT_SYNCED' },
    ]);
    const inv = await c.get('/v1/transactions?externalReference=INS-1');
    expect(inv.status).toBe(200);
    // the invoice is paid by the payment's receipt
    const { rows } = await t.db.query<any>(`SELECT count(*) AS n FROM allocations`);
    expect(rows[0].n).toBe('1');

    // a tax code at 6% is added; the same records again post only the parked one
    const tax = await c.put('/v1/tax-codes/RED', { name: 'Reduced', rate: '0.06', glAccountCode: '2200' });
    expect(tax.status).toBe(201);
    const again = await sync.processRecords(p, 'import', 'test', items);
    const run2 = (await getRun(t.db, again))!;
    expect(run2.counts).toMatchObject({ created: 1, parked: 1 });
    const { rows: tx } = await t.db.query<any>(
      `SELECT type, count(*) AS n FROM transactions GROUP BY type ORDER BY type`,
    );
    expect(tx).toEqual([
      { type: 'SI', n: '2' },
      { type: 'SR', n: '1' },
    ]);
    const { rows: open } = await t.db.query<any>(`SELECT source_id, status FROM exceptions ORDER BY source_id`);
    expect(open).toEqual([
      { source_id: 'INS-2', status: 'resolved' },
      { source_id: 'INS-3', status: 'open' },
    ]);
    // every action of the engine is in the audit trail, with the pipeline as the actor
    const audit = await c.get('/v1/audit?action=sync.page');
    expect(audit.status).toBe(200);
    expect(audit.body.items[0].actor).toBe('pipeline:records');
    const audited = audit.body.items.flatMap((a: any) =>
      a.after.records.map((r: any) => `${r.kind}:${r.sourceId}:${r.outcome}`),
    );
    expect(audited).toContain('invoice:INS-1:created');
    expect(audited).toContain('invoice:INS-3:parked');
    await checkInvariants(t.db, c.entityId);
  });

  it('takes turns when two batches of records hit one pipeline at once', async () => {
    const p = await definePipeline(t.db, 'SYNC', { name: 'records-twice', source: { type: 'records' } });
    const sync = syncService(t.db);
    const batch = (prefix: string) => [
      customer(`${prefix}K`),
      invoice(`${prefix}-1`, `${prefix}K`),
      invoice(`${prefix}-2`, `${prefix}K`),
    ];
    const [a, b] = await Promise.all([
      sync.processRecords(p, 'import', 'test', batch('TA')),
      sync.processRecords(p, 'import', 'test', [...batch('TB'), ...batch('TA')]),
    ]);
    expect((await getRun(t.db, a))!.status).toBe('succeeded');
    expect((await getRun(t.db, b))!.status).toBe('succeeded');
    const { rows } = await t.db.query<any>(
      `SELECT external_reference, count(*) AS n FROM transactions WHERE external_reference LIKE 'T_-_' GROUP BY 1 ORDER BY 1`,
    );
    expect(rows).toEqual([
      { external_reference: 'TA-1', n: '1' },
      { external_reference: 'TA-2', n: '1' },
      { external_reference: 'TB-1', n: '1' },
      { external_reference: 'TB-2', n: '1' },
    ]);
    await checkInvariants(t.db, c.entityId);
  });

  it('parks a record the page holds twice once, as its first copy says, and the rest of the page goes on', async () => {
    // A webhook delivered again, or a refund sent with each of two batches of the same run: the
    // same record twice in one page, parked twice, was one exception updated twice by one statement.
    const p = await definePipeline(t.db, 'SYNC', { name: 'records-dup', source: { type: 'records' } });
    const sync = syncService(t.db);
    const first = payment('DUP-P1', 'DUP-NOBODY', '10.00', null);
    const again = payment('DUP-P1', 'DUP-NOBODY', '12.00', null);
    const runId = await sync.processRecords(p, 'import', 'test', [
      first,
      customer('DUP-K'),
      invoice('DUP-1', 'DUP-K'),
      again,
    ]);
    expect((await getRun(t.db, runId))!.status).toBe('partial');
    const { rows } = await t.db.query<any>(
      `SELECT source_id, reason_code, attempts, payload->'record'->>'amount' AS amount
         FROM exceptions WHERE pipeline_id = $1 AND status = 'open'`,
      [p.id],
    );
    expect(rows).toEqual([{ source_id: 'DUP-P1', reason_code: 'CUSTOMER_NOT_SYNCED', attempts: 1, amount: '10.00' }]);
    const { rows: posted } = await t.db.query<any>(
      `SELECT external_reference FROM transactions WHERE entity_id = $1 AND external_reference LIKE 'DUP-%'`,
      [c.entityId],
    );
    expect(posted).toEqual([{ external_reference: 'DUP-1' }]);
  });
});
