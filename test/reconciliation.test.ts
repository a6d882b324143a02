import pino from 'pino';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { definePipeline } from './helpers/sync.ts';
import { syncServer } from './helpers/uploads.ts';
import { importFile } from '../src/sync/imports.ts';
import { resolveException } from '../src/sync/exceptions.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import type { CanonicalRecord, CanonicalRefund } from '../src/sync/canonical.ts';
import { findEntityByCode } from '../src/ledger/entities.ts';
import { createRefunds as createLedgerRefunds } from '../src/connectors/ledger/payments.ts';
import { type DocKind, loadTransactions } from '../src/sync/reconcile-data.ts';
import type { TargetConnector, TargetDocument } from '../src/sync/target.ts';

let t: TestApp;
let app: FastifyInstance;
let clean: Client;
let messy: Client;
let cleanPipeline: Pipeline;
let messyPipeline: Pipeline;

const example = (name: string) => readFile(join('docs/examples', name));

async function importText(p: Pipeline, fileName: string, content: string | Buffer) {
  return importFile(t.sync, p, { fileName, bytes: Buffer.isBuffer(content) ? content : Buffer.from(content) }, 'test');
}

async function get(client: Client | string, path: string) {
  const token = typeof client === 'string' ? client : client.token;
  const res = await app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json() };
}

beforeAll(async () => {
  t = await createTestApp();
  app = await syncServer(t);
  clean = await t.entity('RCL', 'EUR', { standardTaxRate: '0.21' });
  messy = await t.entity('RCM', 'EUR', { standardTaxRate: '0.21' });
  cleanPipeline = await definePipeline(t.db, 'RCL', { name: 'clean', source: { type: 'file' } });
  messyPipeline = await definePipeline(t.db, 'RCM', { name: 'messy', source: { type: 'file' } });
});
afterAll(async () => {
  if (app !== t.app) await app.close();
  await t.close();
});

describe('GET /v1/pipelines/{name}/reconciliation', () => {
  it('reconciles a clean pipeline with no mismatch: the same counts, totals and balances on both sides', async () => {
    for (const name of ['customers.csv', 'invoices.csv', 'receipts.csv', 'gocardless-payout.csv']) {
      expect((await importText(cleanPipeline, name, await example(name))).failedRows).toBe(0);
    }
    const r = await get(clean, '/v1/pipelines/clean/reconciliation?from=2026-11-01&to=2026-11-30');
    expect(r.status).toBe(200);
    expect(r.body.mismatches).toEqual([]);
    // Six invoices and payments, and the payout's refund, each compared on its own; the four
    // payments' provider fees too (the card payment's and the payout's, and none for the transfer).
    expect(r.body.summary).toEqual({
      matched: 7,
      mismatched: 0,
      sourceDocuments: 7,
      ledgerDocuments: 7,
      fees: { compared: 4, notCompared: 0 },
    });
    expect(r.body.days.every((d: any) => d.matched)).toBe(true);
    expect(r.body.days.find((d: any) => d.date === '2026-11-02')).toEqual({
      date: '2026-11-02',
      customerCode: 'ACME',
      customerSourceId: null,
      currency: 'EUR',
      source: {
        invoices: { count: 1, total: '181.50' },
        creditNotes: { count: 0, total: '0.00' },
        payments: { count: 0, total: '0.00' },
      },
      target: {
        invoices: { count: 1, total: '181.50' },
        creditNotes: { count: 0, total: '0.00' },
        payments: { count: 0, total: '0.00' },
      },
      difference: {
        invoices: { count: 0, total: '0.00' },
        creditNotes: { count: 0, total: '0.00' },
        payments: { count: 0, total: '0.00' },
      },
      matched: true,
    });
    // Brown & Co owes 1210.00 less 500.00; Jane Smith paid 30.00 and got 5.00 back.
    expect(r.body.openBalances).toEqual(
      expect.arrayContaining([
        { customerCode: 'ACME', currency: 'EUR', source: '0.00', target: '0.00', difference: '0.00', matched: true },
        {
          customerCode: 'C-2001',
          currency: 'EUR',
          source: '710.00',
          target: '710.00',
          difference: '0.00',
          matched: true,
        },
        {
          customerCode: 'CU000123',
          currency: 'EUR',
          source: '-25.00',
          target: '-25.00',
          difference: '0.00',
          matched: true,
        },
      ]),
    );
    // A window without documents is clean too.
    const empty = await get(clean, '/v1/pipelines/clean/reconciliation?from=2026-10-01&to=2026-10-31');
    expect(empty.body).toMatchObject({ days: [], summary: { matched: 0, mismatched: 0 } });
  });

  it('lists a parked document, one posted by hand with another amount, a missing one and one not from the source', async () => {
    await importText(messyPipeline, 'customers.csv', await example('customers.csv'));
    // Typed into the ledger by hand before the source sent it, for 100.00 instead of 121.00.
    const hand = await messy.post('/v1/sales/batch-invoices', {
      customerCode: 'ACME',
      invoiceDate: '2026-11-10',
      externalReference: 'HAND-1',
      lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '100.00', taxRate: '0' }],
    });
    expect(hand.status).toBe(201);
    // And one the source never sent.
    const extra = await messy.post('/v1/sales/batch-invoices', {
      customerCode: 'ACME',
      invoiceDate: '2026-11-11',
      externalReference: 'EXTRA-1',
      lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '50.00', taxRate: '0' }],
    });
    expect(extra.status).toBe(201);
    const r1 = await importText(
      messyPipeline,
      'november.csv',
      [
        'invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate',
        // Refused, never adopted: the ledger has HAND-1 for 100.00, not 121.00 (a different document under its reference).
        'HAND-1,C-1001,2026-11-10,EUR,100.00,0.21',
        'GOOD-1,C-1001,2026-11-12,EUR,10.00,0.21',
        'PARK-1,C-1001,2026-11-12,EUR,20.00,0.06', // no tax code at 6%: parked
        'DROP-1,C-1001,2026-11-13,EUR,oops,0.21', // a bad row, later closed by hand without posting
      ].join('\n'),
    );
    expect(r1.rows.map((x) => [x.sourceId, x.outcome])).toEqual([
      ['HAND-1', 'parked'],
      ['GOOD-1', 'created'],
      ['PARK-1', 'parked'],
      ['DROP-1', 'parked'],
    ]);
    const handParked = r1.rows.find((x) => x.sourceId === 'HAND-1')!;
    expect(handParked.message).toContain('EUR 100.00 on 2026-11-10 in the ledger, EUR 121.00 on 2026-11-10 sent');
    const parked = r1.rows.find((x) => x.sourceId === 'PARK-1')!.exceptionId!;
    const dropped = r1.rows.find((x) => x.sourceId === 'DROP-1')!.exceptionId!;
    await resolveException(t.db, dropped, 'Cancelled; not to be booked', 'test');
    // A document the source reported that never reached the ledger (no posting, no exception).
    await t.db.query(
      `INSERT INTO source_documents (pipeline_id, kind, source_id, external_reference, customer_source_id, customer_code, document_date, currency, gross)
       VALUES ($1, 'payment', 'GHOST-1', 'GHOST-1', 'C-1001', 'ACME', '2026-11-14', 'EUR', 700)`,
      [messyPipeline.id],
    );

    const r = await get(messy, '/v1/pipelines/messy/reconciliation?from=2026-11-01&to=2026-11-30');
    expect(r.status).toBe(200);
    const m = r.body.mismatches;
    const find = (kind: string, ref: string | null) =>
      m.filter((x: any) => x.kind === kind && (ref === null || x.externalReference === ref));

    expect(find('amount-difference', 'HAND-1')).toEqual([
      expect.objectContaining({
        reason: 'amount',
        documentKind: 'invoice',
        sourceId: 'HAND-1',
        sourceAmount: '121.00',
        targetAmount: '100.00',
        transactionId: hand.body.transactionId,
        exceptionId: handParked.exceptionId,
      }),
    ]);
    expect(find('missing-in-ledger', 'PARK-1')).toEqual([
      expect.objectContaining({
        reason: 'parked',
        sourceId: 'PARK-1',
        customerCode: 'ACME',
        date: '2026-11-12',
        sourceAmount: '21.20',
        targetAmount: null,
        exceptionId: parked,
      }),
    ]);
    expect(find('missing-in-ledger', 'DROP-1')).toEqual([
      expect.objectContaining({
        reason: 'resolved-without-posting',
        sourceId: 'DROP-1',
        date: '2026-11-13',
        sourceAmount: null,
        exceptionId: dropped,
      }),
    ]);
    expect(find('missing-in-ledger', 'GHOST-1')).toEqual([
      expect.objectContaining({
        reason: 'not-posted',
        documentKind: 'payment',
        sourceAmount: '7.00',
        exceptionId: null,
      }),
    ]);
    expect(find('not-from-source', 'EXTRA-1')).toEqual([
      expect.objectContaining({
        reason: 'posted-outside-pipeline',
        documentKind: 'invoice',
        customerCode: 'ACME',
        targetAmount: '50.00',
        transactionId: extra.body.transactionId,
      }),
    ]);
    // Source: 121.00 + 10.00 + 12.10 VAT... in full: HAND-1 121.00, GOOD-1 12.10, PARK-1 21.20, less GHOST-1 7.00 = 147.30.
    // Ledger: HAND-1 100.00, GOOD-1 12.10, EXTRA-1 50.00 = 162.10.
    expect(find('open-balance-difference', null)).toEqual([
      expect.objectContaining({
        customerCode: 'ACME',
        currency: 'EUR',
        sourceAmount: '147.30',
        targetAmount: '162.10',
        date: '2026-11-30',
      }),
    ]);
    expect(m).toHaveLength(6);
    expect(r.body.summary).toMatchObject({ matched: 1, mismatched: 6 });

    const day = (date: string) => r.body.days.find((d: any) => d.date === date);
    expect(day('2026-11-10')).toMatchObject({
      matched: false,
      difference: { invoices: { count: 0, total: '-21.00' } },
    });
    expect(day('2026-11-11')).toMatchObject({
      matched: false,
      source: { invoices: { count: 0 } },
      target: { invoices: { count: 1, total: '50.00' } },
    });
    expect(day('2026-11-12')).toMatchObject({
      matched: false,
      source: { invoices: { count: 2, total: '33.30' } },
      target: { invoices: { count: 1, total: '12.10' } },
      difference: { invoices: { count: -1, total: '-21.20' } },
    });
    expect(day('2026-11-14')).toMatchObject({
      source: { payments: { count: 1, total: '7.00' } },
      target: { payments: { count: 0 } },
    });

    // The parked invoice typed in by hand, for the amount the source said: in the ledger after all, and not extra.
    const typed = await messy.post('/v1/sales/batch-invoices', {
      customerCode: 'ACME',
      invoiceDate: '2026-11-12',
      externalReference: 'PARK-1',
      lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '21.20', taxRate: '0' }],
    });
    expect(typed.status).toBe(201);
    const after = await get(messy, '/v1/pipelines/messy/reconciliation?from=2026-11-01&to=2026-11-30');
    expect(after.body.mismatches.filter((x: any) => x.externalReference === 'PARK-1')).toEqual([]);
    expect(after.body.summary).toMatchObject({ matched: 2, mismatched: 5 });
  });

  it('compares point-of-sale sales with their daily summary: rounding, and sales not yet summarised', async () => {
    const pos = await t.entity('RCD', 'EUR', { standardTaxRate: '0.21' });
    const p = await definePipeline(t.db, 'RCD', { name: 'pos', source: { type: 'file' }, mode: 'daily-summary' });
    await importText(p, 'customers.csv', 'customer_id,code,name\nSHOP,SHOP,Walk-in customers\n');
    // The day's summary as the daily-summary run posts it: one invoice, VAT on the summed line.
    const summary = await pos.post('/v1/sales/batch-invoices', {
      customerCode: 'SHOP',
      invoiceDate: '2026-11-20',
      externalReference: 'DS-2026-11-20-SHOP1',
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '20.01', taxRate: '0.21' }],
    });
    expect(summary.body.grossAmount).toBe('24.21');
    const id = 'DS-2026-11-20-SHOP1@SHOP';
    await t.db.query(`INSERT INTO sync_map (pipeline_id, kind, source_id, target_id) VALUES ($1, 'invoice', $2, $3)`, [
      p.id,
      id,
      String(summary.body.transactionId),
    ]);
    // Two sales summarised in it (VAT rounded per sale: 12.11 + 12.11 = 24.22), one not yet, and the summary's own row.
    await t.db.query(
      `INSERT INTO source_documents (pipeline_id, kind, source_id, external_reference, customer_source_id, customer_code, document_date, currency, gross, payload, summarized_in)
       VALUES ($1, 'invoice', 'S-1', 'S-1', 'SHOP', 'SHOP', '2026-11-20', 'EUR', 1211, '{"daily": {}}', $2),
              ($1, 'invoice', 'S-2', 'S-2', 'SHOP', 'SHOP', '2026-11-20', 'EUR', 1211, '{"daily": {}}', $2),
              ($1, 'invoice', 'S-3', 'S-3', 'SHOP', 'SHOP', '2026-11-20', 'EUR', 500, '{"daily": {}}', NULL),
              ($1, 'invoice', $2, 'DS-2026-11-20-SHOP1', 'SHOP', 'SHOP', '2026-11-20', 'EUR', 2421, '{}', NULL)`,
      [p.id, id],
    );
    const r = await get(pos, '/v1/pipelines/pos/reconciliation?from=2026-11-20&to=2026-11-20');
    expect(r.body.days).toEqual([
      expect.objectContaining({
        date: '2026-11-20',
        customerCode: 'SHOP',
        source: {
          invoices: { count: 3, total: '29.22' },
          creditNotes: { count: 0, total: '0.00' },
          payments: { count: 0, total: '0.00' },
        },
        target: {
          invoices: { count: 1, total: '24.21' },
          creditNotes: { count: 0, total: '0.00' },
          payments: { count: 0, total: '0.00' },
        },
      }),
    ]);
    expect(r.body.mismatches.filter((m: any) => m.kind !== 'open-balance-difference')).toEqual([
      expect.objectContaining({
        kind: 'missing-in-ledger',
        reason: 'awaiting-summary',
        sourceId: 'S-3',
        sourceAmount: '5.00',
      }),
      expect.objectContaining({
        kind: 'amount-difference',
        reason: 'rounding',
        sourceId: id,
        sourceAmount: '24.22',
        targetAmount: '24.21',
        transactionId: summary.body.transactionId,
      }),
    ]);
  });

  it('compares credit notes document by document: booked, parked, typed in by hand, and one the target lacks', async () => {
    const cn = await t.entity('RCN', 'EUR', { standardTaxRate: '0.21' });
    const p = await definePipeline(t.db, 'RCN', { name: 'notes', source: { type: 'records' } });
    const note = (sourceId: string, date: string, net: string, vat: string, vatRate = '0.21') => ({
      kind: 'creditNote' as const,
      sourceId,
      externalReference: sourceId,
      customerSourceId: 'CU-N',
      date,
      currency: 'EUR',
      description: 'Returned seats',
      lines: [{ description: 'Seat', netAmount: net, vatRate, vatAmount: vat }],
    });
    await t.sync.processRecords(
      p,
      'import',
      'test',
      [
        { kind: 'customer' as const, sourceId: 'CU-N', name: 'Noted Ltd' },
        {
          kind: 'invoice' as const,
          sourceId: 'IN-N1',
          externalReference: 'IN-N1',
          customerSourceId: 'CU-N',
          invoiceDate: '2026-11-02',
          currency: 'EUR',
          description: '',
          lines: [{ description: 'Seat', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
        },
        note('CN-N1', '2026-11-03', '10.00', '2.10'),
        // No tax code at 6%: parked, never booked.
        note('CN-N2', '2026-11-04', '20.00', '1.20', '0.06'),
      ].map((record) => ({ record })),
    );
    // Typed into the ledger by hand, never sent by the source.
    const hand = await cn.post('/v1/sales/credit-notes', {
      customerCode: 'CU-N',
      creditNoteDate: '2026-11-05',
      externalReference: 'CN-HAND',
      lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '5.00', taxRate: '0' }],
    });
    expect(hand.status).toBe(201);
    const r = await get(cn, '/v1/pipelines/notes/reconciliation?from=2026-11-01&to=2026-11-30');
    const day = (date: string) => r.body.days.find((d: any) => d.date === date);
    expect([
      day('2026-11-03').source.creditNotes,
      day('2026-11-03').target.creditNotes,
      day('2026-11-03').matched,
    ]).toEqual([{ count: 1, total: '12.10' }, { count: 1, total: '12.10' }, true]);
    expect([day('2026-11-04').source.creditNotes, day('2026-11-04').target.creditNotes]).toEqual([
      { count: 1, total: '21.20' },
      { count: 0, total: '0.00' },
    ]);
    expect(day('2026-11-05').target.creditNotes).toEqual({ count: 1, total: '5.00' });
    expect(
      r.body.mismatches
        .filter((m: any) => m.kind !== 'open-balance-difference')
        .map((m: any) => [m.kind, m.reason, m.documentKind, m.externalReference, m.sourceAmount, m.targetAmount]),
    ).toEqual([
      ['missing-in-ledger', 'parked', 'creditNote', 'CN-N2', '21.20', null],
      ['not-from-source', 'posted-outside-pipeline', 'creditNote', 'CN-HAND', null, '5.00'],
    ]);
    expect(r.body.mismatches.find((m: any) => m.externalReference === 'CN-N2').message).toMatch(
      /^credit note CN-N2 is not in the ledger: parked: /,
    );
    // The matched credit note counts as a matched document.
    expect(r.body.summary).toMatchObject({ matched: 2, sourceDocuments: 3 });

    // Mapped to a document the target does not hold (as one deleted by hand on a platform): missing,
    // by kind; the ledger's own copy, no longer mapped, shows as not from the source.
    const { rows } = await t.db.query<{ target_id: string }>(
      `SELECT target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'creditNote' AND source_id = 'CN-N1'`,
      [p.id],
    );
    await t.db.query(`UPDATE sync_map SET target_id = '999999999' WHERE pipeline_id = $1 AND target_id = $2`, [
      p.id,
      rows[0]!.target_id,
    ]);
    const gone = await get(cn, '/v1/pipelines/notes/reconciliation?from=2026-11-03&to=2026-11-03');
    expect(
      gone.body.mismatches
        .filter((m: any) => m.kind !== 'open-balance-difference')
        .map((m: any) => [m.kind, m.reason, m.documentKind, m.externalReference]),
    ).toEqual([
      ['missing-in-ledger', 'not-posted', 'creditNote', 'CN-N1'],
      ['not-from-source', 'posted-outside-pipeline', 'creditNote', 'CN-N1'],
    ]);
    await t.db.query(`UPDATE sync_map SET target_id = $2 WHERE pipeline_id = $1 AND target_id = '999999999'`, [
      p.id,
      rows[0]!.target_id,
    ]);
  });

  it('takes what the pipeline booked as a credit note as one, whatever the platform calls it and however it signs it', async () => {
    const doc = (targetId: string, kind: TargetDocument['kind'], gross: bigint): TargetDocument => ({
      targetId,
      kind,
      number: `N-${targetId}`,
      customerTargetId: 'C1',
      externalReference: `REF-${targetId}`,
      date: '2026-11-03',
      dueDate: null,
      currency: 'EUR',
      gross,
      lines: 1,
    });
    // Xero calls every credit note one kind ('refund' here); a platform may sign a credit note negative.
    const held = [doc('X1', 'refund', 1210n), doc('X2', 'creditNote', -1210n), doc('X3', 'invoice', 12100n)];
    const target = {
      capabilities: { reconciliation: true },
      documents: (_ctx: unknown, ids: string[]) =>
        Promise.resolve(new Map(held.filter((d) => ids.includes(d.targetId)).map((d) => [d.targetId, d]))),
    } as unknown as TargetConnector;
    const ctx = { db: t.db, log: pino({ level: 'silent' }), actor: 'test' };
    const booked: { id: string; kind: DocKind }[] = [
      { id: 'X1', kind: 'creditNote' },
      { id: 'X2', kind: 'creditNote' },
      { id: 'X3', kind: 'invoice' },
    ];
    const got = await loadTransactions(t.db, '0', target, ctx, booked);
    expect([...got.values()].map((d) => [d.id, d.kind, d.gross, d.label]).sort()).toEqual([
      ['X1', 'creditNote', 1210n, 'credit note N-X1 (REF-X1)'],
      ['X2', 'creditNote', 1210n, 'credit note N-X2 (REF-X2)'],
      ['X3', 'invoice', 12100n, 'invoice N-X3 (REF-X3)'],
    ]);
    // A refund the pipeline did not book as a credit note is not compared document by document.
    expect((await loadTransactions(t.db, '0', target, ctx, [{ id: 'X1', kind: 'payment' }])).size).toBe(0);
  });

  it('reads each id as the kind it was booked as, where the platform numbers kinds apart', async () => {
    // FreshBooks numbers invoices and payments apart: invoice 7 and payment 7.
    const doc = (kind: TargetDocument['kind'], gross: bigint): TargetDocument => ({
      targetId: '7',
      kind,
      number: `${kind}-7`,
      customerTargetId: 'C1',
      externalReference: `REF-${kind}`,
      date: '2026-11-03',
      dueDate: null,
      currency: 'EUR',
      gross,
      lines: 1,
    });
    const asked: (string | undefined)[] = [];
    const target = {
      capabilities: { reconciliation: true },
      documents: (_ctx: unknown, ids: string[], o?: { kind?: TargetDocument['kind'] }) => {
        asked.push(o?.kind);
        const d = o?.kind === 'payment' ? doc('payment', 5000n) : doc('invoice', 12100n);
        return Promise.resolve(new Map(ids.includes('7') ? [['7', d]] : []));
      },
    } as unknown as TargetConnector;
    const ctx = { db: t.db, log: pino({ level: 'silent' }), actor: 'test' };
    const got = await loadTransactions(t.db, '0', target, ctx, [
      { id: '7', kind: 'invoice' },
      { id: '7', kind: 'payment' },
    ]);
    expect(asked.sort()).toEqual(['invoice', 'payment']);
    expect([...got.entries()].map(([key, d]) => [key.split('\u0000'), d.kind, d.gross]).sort()).toEqual([
      [['invoice', '7'], 'invoice', 12100n],
      [['payment', '7'], 'payment', 5000n],
    ]);
  });

  it('parks a document the source changes after it was booked, once, and reconciliation shows the difference', async () => {
    const changed = await t.entity('RCC', 'EUR', { standardTaxRate: '0.21' });
    const p = await definePipeline(t.db, 'RCC', { name: 'changed', source: { type: 'file' } });
    const head =
      'invoice_reference,customer_id,customer_name,invoice_date,currency,line_description,net_amount,vat_rate\n';
    const receipts = 'payment_reference,customer_id,date,amount,currency,invoice_reference\n';
    const first = await importText(
      p,
      'invoices.csv',
      `${head}CH-1,CU-1,Changed Ltd,2026-11-02,EUR,Seats,100.00,0.21\nCH-2,CU-1,Changed Ltd,2026-11-02,EUR,Seats,50.00,0.21\n`,
    );
    expect(first.failedRows).toBe(0);
    expect(
      (await importText(p, 'receipts.csv', `${receipts}PAY-CH-1,CU-1,2026-11-05,60.50,EUR,CH-2\n`)).failedRows,
    ).toBe(0);
    expect(
      (await get(changed, '/v1/pipelines/changed/reconciliation?from=2026-11-01&to=2026-11-30')).body.mismatches,
    ).toEqual([]);

    // The shop edits CH-1 (110.00 net) and the receipt's date, and sends everything again.
    const again = await importText(
      p,
      'invoices.csv',
      `${head}CH-1,CU-1,Changed Ltd,2026-11-02,EUR,Seats,110.00,0.21\nCH-2,CU-1,Changed Ltd,2026-11-02,EUR,Seats,50.00,0.21\n`,
    );
    expect(again.rows.map((r) => [r.sourceId, r.outcome, r.message])).toEqual([
      [
        'CH-1',
        'parked',
        expect.stringMatching(
          /^INVOICE_ALREADY_POSTED_CHANGED: Booked \(target id \d+\), and the source has changed it since \(gross EUR 121\.00 → EUR 133\.10\): a posted invoice never changes, so book the difference \(a credit note or a further invoice\), then resolve this; reconciliation shows the difference until then$/,
        ),
      ],
      ['CH-2', 'skipped', 'already posted'],
    ]);
    const moved = await importText(p, 'receipts.csv', `${receipts}PAY-CH-1,CU-1,2026-11-06,60.50,EUR,CH-2\n`);
    expect(moved.rows.map((r) => [r.outcome, r.message])).toEqual([
      ['parked', expect.stringContaining('the source has changed it since (date 2026-11-05 → 2026-11-06)')],
    ]);
    // In the to-do list, each with the field at fault; nothing to retry (a posted document never changes).
    const open = async () =>
      (
        await t.db.query<{ id: string; kind: string; source_id: string; reason_code: string; field: string }>(
          `SELECT id, kind, source_id, reason_code, field FROM exceptions WHERE pipeline_id = $1 AND status = 'open' ORDER BY id`,
          [p.id],
        )
      ).rows;
    expect((await open()).map((x) => [x.kind, x.source_id, x.reason_code, x.field])).toEqual([
      ['invoice', 'CH-1', 'INVOICE_ALREADY_POSTED_CHANGED', 'lines'],
      ['payment', 'PAY-CH-1', 'PAYMENT_ALREADY_POSTED_CHANGED', 'date'],
    ]);
    const retried = await app.inject({
      method: 'POST',
      url: `/v1/exceptions/${(await open())[0]!.id}/retry`,
      headers: { authorization: `Bearer ${changed.token}` },
    });
    expect([retried.statusCode, retried.json().error.code]).toEqual([400, 'VALIDATION_ERROR']);
    expect(retried.json().error.message).toMatch(/nothing is sent again, since a posted document never changes/);
    // Nothing booked twice or changed in the ledger; the difference is reconciliation's to show.
    const r = await get(changed, '/v1/pipelines/changed/reconciliation?from=2026-11-01&to=2026-11-30');
    expect(
      r.body.mismatches
        .filter((m: any) => m.kind !== 'open-balance-difference')
        .map((m: any) => [m.kind, m.reason, m.externalReference, m.sourceAmount, m.targetAmount]),
    ).toEqual([
      ['amount-difference', 'amount', 'CH-1', '133.10', '121.00'],
      ['date-difference', 'date', 'PAY-CH-1', '60.50', '60.50'],
    ]);
    // Sent a third time as it now is: nothing new to say.
    const third = await importText(
      p,
      'invoices.csv',
      `${head}CH-1,CU-1,Changed Ltd,2026-11-02,EUR,Seats,110.00,0.21\n`,
    );
    expect(third.rows.map((r) => r.message)).toEqual(['already posted']);
    // Resolved once the correction is booked: the same figures sent again do not reopen it.
    await resolveException(t.db, Number((await open())[0]!.id), 'credit note CN-9 booked', 'test');
    await importText(p, 'invoices.csv', `${head}CH-1,CU-1,Changed Ltd,2026-11-02,EUR,Seats,110.00,0.21\n`);
    expect((await open()).map((x) => x.source_id)).toEqual(['PAY-CH-1']);

    // A credit note changed after it was booked: said in the run, and in its customer's balance.
    const note = (net: string, vat: string) => ({
      kind: 'creditNote' as const,
      sourceId: 'CN-CH-1',
      externalReference: 'CN-CH-1',
      customerSourceId: 'CU-1',
      date: '2026-11-07',
      currency: 'EUR',
      description: 'Returned seats',
      lines: [{ description: 'Seat', netAmount: net, vatRate: '0.21', vatAmount: vat }],
    });
    const balance = async () =>
      (await get(changed, '/v1/pipelines/changed/reconciliation?from=2026-11-01&to=2026-11-30')).body.openBalances.map(
        (b: any) => [b.customerCode, b.source, b.target],
      );
    // CH-1's change alone: the source says 133.10 is owed, the ledger 121.00.
    expect(await balance()).toEqual([['CU-1', '133.10', '121.00']]);
    await t.sync.processRecords(p, 'import', 'test', [{ record: note('10.00', '2.10') }]);
    expect(await balance()).toEqual([['CU-1', '121.00', '108.90']]);
    const resent = await t.sync.processRecords(p, 'import', 'test', [{ record: note('30.00', '6.30') }]);
    const { rows } = await t.db.query<{ outcome: string; message: string }>(
      `SELECT outcome, message FROM run_records WHERE run_id = $1 AND kind = 'creditNote'`,
      [resent],
    );
    expect(rows).toEqual([
      {
        outcome: 'parked',
        message: expect.stringMatching(
          /^CREDIT_NOTE_ALREADY_POSTED_CHANGED: .*the source has changed it since \(gross EUR 12\.10 → EUR 36\.30\)/,
        ),
      },
    ]);
    // The ledger keeps the 12.10 it booked; the source now takes 36.30 off.
    expect(await balance()).toEqual([['CU-1', '96.80', '108.90']]);
    // And the credit note itself, document by document.
    const cnDiff = (
      await get(changed, '/v1/pipelines/changed/reconciliation?from=2026-11-01&to=2026-11-30')
    ).body.mismatches.filter((m: any) => m.documentKind === 'creditNote');
    expect(cnDiff.map((m: any) => [m.kind, m.reason, m.externalReference, m.sourceAmount, m.targetAmount])).toEqual([
      ['amount-difference', 'amount', 'CN-CH-1', '36.30', '12.10'],
    ]);
  });

  it('parks an allocation or a refund the source changes after it was made, once', async () => {
    await t.entity('RCA', 'EUR', { standardTaxRate: '0.21' });
    const p = await definePipeline(t.db, 'RCA', { name: 'changed-links', source: { type: 'file' } });
    const base = { customerSourceId: 'CU-A', currency: 'EUR', description: '' };
    const line = [{ description: 'Seat', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }];
    const allocation = (amount: string) => ({
      ...base,
      kind: 'allocation' as const,
      sourceId: 'AL-1',
      date: '2026-11-08',
      amount,
      invoiceExternalReference: 'IN-A1',
      from: 'creditNote' as const,
      fromExternalReference: 'CN-A1',
    });
    const refund = (amount: string) => ({
      ...base,
      kind: 'refund' as const,
      sourceId: 'RF-A1',
      externalReference: 'RF-A1',
      date: '2026-11-09',
      amount,
      paymentExternalReference: 'PY-A1',
    });
    const send = async (records: CanonicalRecord[]) => {
      const run = await t.sync.processRecords(
        p,
        'import',
        'test',
        records.map((record) => ({ record })),
      );
      const { rows } = await t.db.query<{ kind: string; outcome: string; message: string | null }>(
        `SELECT kind, outcome, message FROM run_records WHERE run_id = $1 AND kind IN ('allocation', 'refund') ORDER BY kind`,
        [run],
      );
      return rows;
    };
    const first = await send([
      { kind: 'customer', sourceId: 'CU-A', name: 'Allocated Ltd' },
      {
        ...base,
        kind: 'invoice',
        sourceId: 'IN-A1',
        externalReference: 'IN-A1',
        invoiceDate: '2026-11-02',
        lines: line,
      },
      {
        ...base,
        kind: 'creditNote',
        sourceId: 'CN-A1',
        externalReference: 'CN-A1',
        date: '2026-11-03',
        lines: [{ description: 'Seat', netAmount: '10.00', vatRate: '0.21', vatAmount: '2.10' }],
      },
      {
        ...base,
        kind: 'payment',
        sourceId: 'PY-A1',
        externalReference: 'PY-A1',
        date: '2026-11-04',
        amount: '50.00',
        invoiceExternalReference: 'IN-A1',
      },
      allocation('12.10'),
      refund('10.00'),
    ]);
    expect(first.map((r) => [r.kind, r.outcome])).toEqual([
      ['allocation', 'created'],
      ['refund', 'created'],
    ]);
    // The same again: nothing to say. Changed: each says what changed, and nothing is booked again.
    expect((await send([allocation('12.10'), refund('10.00')])).map((r) => r.message)).toEqual([
      'already allocated',
      'already posted',
    ]);
    const changed = await send([{ ...allocation('6.05'), date: '2026-11-10' }, refund('15.00')]);
    expect(changed).toEqual([
      {
        kind: 'allocation',
        outcome: 'parked',
        message: expect.stringMatching(
          /^ALLOCATION_ALREADY_MADE_CHANGED: Booked \(target id \S+\), and the source has changed it since \(amount EUR 12\.10 → EUR 6\.05, date 2026-11-08 → 2026-11-10\): an allocation made is not changed here/,
        ),
      },
      {
        kind: 'refund',
        outcome: 'parked',
        message: expect.stringMatching(
          /^REFUND_ALREADY_POSTED_CHANGED: Booked \(target id \S+\), and the source has changed it since \(amount EUR 10\.00 → EUR 15\.00\): /,
        ),
      },
    ]);
    const { rows: parked } = await t.db.query<{ kind: string; reason_code: string; field: string }>(
      `SELECT kind, reason_code, field FROM exceptions WHERE pipeline_id = $1 AND status = 'open' ORDER BY kind`,
      [p.id],
    );
    expect(parked).toEqual([
      { kind: 'allocation', reason_code: 'ALLOCATION_ALREADY_MADE_CHANGED', field: 'amount' },
      { kind: 'refund', reason_code: 'REFUND_ALREADY_POSTED_CHANGED', field: 'amount' },
    ]);
    // The same change sent again is not parked again.
    expect(
      (await send([{ ...allocation('6.05'), date: '2026-11-10' }, refund('15.00')])).map((r) => r.message),
    ).toEqual(['already allocated', 'already posted']);
    const { rows: booked } = await t.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM allocations a JOIN transactions i ON i.id = a.debit_transaction_id
        WHERE i.external_reference = 'IN-A1'`,
    );
    expect(booked[0]!.n).toBe('2');
  });

  it('names a refund the source sent that was never booked, and counts it in its customer’s balance', async () => {
    const rc = await t.entity('RCR', 'EUR', { standardTaxRate: '0.21' });
    const p = await definePipeline(t.db, 'RCR', { name: 'refunds', source: { type: 'file' } });
    const base = { customerSourceId: 'CU-R', currency: 'EUR', description: '' };
    const refund = (id: string, amount: string, extra: Partial<CanonicalRecord> = {}): CanonicalRecord =>
      ({
        ...base,
        kind: 'refund',
        sourceId: id,
        externalReference: id,
        date: '2026-11-09',
        amount,
        paymentExternalReference: 'PY-R1',
        ...extra,
      }) as CanonicalRecord;
    await t.sync.processRecords(
      p,
      'import',
      'test',
      [
        { kind: 'customer', sourceId: 'CU-R', name: 'Refunded Ltd' },
        {
          ...base,
          kind: 'invoice',
          sourceId: 'IN-R1',
          externalReference: 'IN-R1',
          invoiceDate: '2026-11-02',
          lines: [{ description: 'Seat', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
        },
        {
          ...base,
          kind: 'payment',
          sourceId: 'PY-R1',
          externalReference: 'PY-R1',
          date: '2026-11-04',
          amount: '121.00',
          invoiceExternalReference: 'IN-R1',
        },
        refund('RF-R1', '10.00'),
        // Paid out of a bank account the ledger does not have: parked.
        refund('RF-R2', '20.00', { bankAccountCode: 'NO-SUCH-BANK' }),
      ].map((record) => ({ record: record as CanonicalRecord })),
    );
    const { rows: parked } = await t.db.query<{ id: string; source_id: string; reason_code: string }>(
      `SELECT id, source_id, reason_code FROM exceptions WHERE pipeline_id = $1 AND status = 'open'`,
      [p.id],
    );
    expect(parked.map((x) => x.source_id)).toEqual(['RF-R2']);

    const r = await get(rc, '/v1/pipelines/refunds/reconciliation?from=2026-11-01&to=2026-11-30');
    expect(r.status).toBe(200);
    expect(r.body.mismatches).toEqual([
      expect.objectContaining({
        kind: 'missing-in-ledger',
        reason: 'parked',
        documentKind: 'refund',
        sourceId: 'RF-R2',
        externalReference: 'RF-R2',
        customerCode: expect.any(String),
        currency: 'EUR',
        date: '2026-11-09',
        sourceAmount: '20.00',
        exceptionId: Number(parked[0]!.id),
        message: expect.stringMatching(/^refund RF-R2 is not in the ledger: parked: /),
      }),
      expect.objectContaining({
        kind: 'open-balance-difference',
        reason: 'balance',
        sourceAmount: '30.00',
        targetAmount: '10.00',
      }),
    ]);
    // Refunds are not counted per day: the invoice's and the payment's days match.
    expect(r.body.days.every((d: { matched: boolean }) => d.matched)).toBe(true);
    // The invoice, the payment and the booked refund RF-R1.
    expect(r.body.summary).toMatchObject({ matched: 3, mismatched: 2 });
  });

  it('compares booked refunds document by document: missing, booked twice, another amount or customer', async () => {
    const rf = await t.entity('RCF', 'EUR', { standardTaxRate: '0.21' });
    const p = await definePipeline(t.db, 'RCF', { name: 'booked-refunds', source: { type: 'records' } });
    const record = (customer: string, extra: Record<string, unknown>) =>
      ({ customerSourceId: customer, currency: 'EUR', description: '', ...extra }) as CanonicalRecord;
    const sale = (customer: string, n: string) => [
      record(customer, {
        kind: 'invoice',
        sourceId: `IN-${n}`,
        externalReference: `IN-${n}`,
        invoiceDate: '2026-11-02',
        lines: [{ description: 'Seat', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
      }),
      record(customer, {
        kind: 'payment',
        sourceId: `PY-${n}`,
        externalReference: `PY-${n}`,
        date: '2026-11-04',
        amount: '121.00',
        invoiceExternalReference: `IN-${n}`,
      }),
    ];
    const refund = (customer: string, id: string, amount: string, payment: string) =>
      record(customer, {
        kind: 'refund',
        sourceId: id,
        externalReference: id,
        date: '2026-11-09',
        amount,
        paymentExternalReference: payment,
      });
    const send = (records: CanonicalRecord[]) =>
      t.sync.processRecords(
        p,
        'import',
        'test',
        records.map((r) => ({ record: r })),
      );
    await send([
      { kind: 'customer', sourceId: 'CU-F', name: 'Refunded Ltd' },
      { kind: 'customer', sourceId: 'CU-G', name: 'Other Ltd' },
      ...sale('CU-F', 'F1'),
      ...sale('CU-G', 'G1'),
      refund('CU-F', 'RF-F1', '10.00', 'PY-F1'),
      refund('CU-F', 'RF-F2', '5.00', 'PY-F1'),
      refund('CU-F', 'RF-F3', '7.00', 'PY-F1'),
      refund('CU-F', 'RF-F4', '6.00', 'PY-F1'),
      refund('CU-G', 'RF-G1', '6.00', 'PY-G1'),
    ]);
    const { rows: mapped } = await t.db.query<{ source_id: string; target_id: string }>(
      `SELECT source_id, target_id FROM sync_map WHERE pipeline_id = $1 AND kind IN ('customer', 'refund')`,
      [p.id],
    );
    const target = new Map(mapped.map((m) => [m.source_id, m.target_id]));
    expect([...target.keys()].filter((k) => k.startsWith('RF-')).sort()).toEqual([
      'RF-F1',
      'RF-F2',
      'RF-F3',
      'RF-F4',
      'RF-G1',
    ]);
    const clean = await get(rf, '/v1/pipelines/booked-refunds/reconciliation?from=2026-11-01&to=2026-11-30');
    expect(clean.body.mismatches).toEqual([]);
    // Every booked refund is a matched document of its own.
    expect(clean.body.summary).toMatchObject({ matched: 9, mismatched: 0, sourceDocuments: 9, ledgerDocuments: 9 });

    // The target lost RF-F2 (as one deleted by hand on a platform); RF-F4 is mapped to the other
    // customer's refund; the source now says RF-F3 was 9.00; and a second refund of CU-F was
    // booked in the ledger outside the pipeline.
    const remap = (sourceId: string, to: string) =>
      t.db.query(`UPDATE sync_map SET target_id = $3 WHERE pipeline_id = $1 AND kind = 'refund' AND source_id = $2`, [
        p.id,
        sourceId,
        to,
      ]);
    await remap('RF-F2', '999999999');
    await remap('RF-F4', target.get('RF-G1')!);
    await send([refund('CU-F', 'RF-F3', '9.00', 'PY-F1')]);
    const entity = (await findEntityByCode(t.db, 'RCF'))!;
    const { rows: banks } = await t.db.query<{ code: string }>(
      `SELECT code FROM bank_accounts WHERE entity_id = $1 ORDER BY code LIMIT 1`,
      [entity.id],
    );
    const twice = await t.db.transaction((tx) =>
      createLedgerRefunds(tx, entity, 'hand', [
        {
          sourceId: 'hand',
          record: refund('CU-F', 'RF-F1-AGAIN', '10.00', 'PY-F1') as CanonicalRefund,
          customerTargetId: target.get('CU-F')!,
          paymentTargetId: null,
          bankAccountCode: banks[0]!.code,
          idempotencyKey: 'hand-rf-f1',
        },
      ]),
    );
    expect(twice[0]!.ok).toBe(true);

    const r = await get(rf, '/v1/pipelines/booked-refunds/reconciliation?from=2026-11-01&to=2026-11-30');
    const named = r.body.mismatches
      .filter((m: any) => m.kind !== 'open-balance-difference')
      .map((m: any) => [
        m.kind,
        m.reason,
        m.documentKind,
        m.externalReference,
        m.customerCode,
        m.sourceAmount,
        m.targetAmount,
      ]);
    const cuF = target.get('CU-F')!;
    const cuG = target.get('CU-G')!;
    expect(named).toEqual([
      ['missing-in-ledger', 'not-posted', 'refund', 'RF-F2', cuF, '5.00', null],
      ['amount-difference', 'amount', 'refund', 'RF-F3', cuF, '9.00', '7.00'],
      ['amount-difference', 'customer', 'refund', 'RF-F4', cuG, '6.00', '6.00'],
      // RF-F2's and RF-F4's own refunds, no longer mapped, and the one booked by hand.
      ['not-from-source', 'posted-outside-pipeline', 'refund', 'RF-F2', cuF, null, '5.00'],
      ['not-from-source', 'posted-outside-pipeline', 'refund', 'RF-F4', cuF, null, '6.00'],
      ['not-from-source', 'posted-outside-pipeline', 'refund', 'RF-F1-AGAIN', cuF, null, '10.00'],
    ]);
    expect(r.body.mismatches.find((m: any) => m.externalReference === 'RF-F2').message).toBe(
      'refund RF-F2 is not in the ledger: the source sent it but the ledger has no document for it',
    );
    expect(r.body.mismatches.find((m: any) => m.reason === 'customer').message).toMatch(
      new RegExp(`^The target's refund \\d+ \\(RF-G1\\) is on customer ${cuG}; the source says ${cuF}$`),
    );
  });

  it('names a payout row that could not be read by its reference, customer and day', async () => {
    const sd = await t.entity('RCS', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'RCS', { name: 'sd', source: { type: 'file' } });
    await importText(pipeline, 'customers.csv', await example('customers.csv'));
    const r1 = await importText(
      pipeline,
      'collections.csv',
      [
        'Payer Reference,Account Name,Amount,Date of Payment,Customer ID,Success',
        'SD0000201,J SMITH,25.0x,04/11/2026,C-1002,1',
      ].join('\n'),
    );
    expect(r1.rows.map((x) => [x.sourceId, x.outcome])).toEqual([['SD-SD0000201-2026-11-04', 'parked']]);
    const r = await get(sd, '/v1/pipelines/sd/reconciliation?from=2026-11-01&to=2026-11-30');
    // Before, the row was listed with neither reference nor customer, on the day it was imported.
    expect(r.body.mismatches).toEqual([
      expect.objectContaining({
        kind: 'missing-in-ledger',
        reason: 'parked',
        externalReference: 'SD-SD0000201-2026-11-04',
        customerCode: 'C-1002',
        date: '2026-11-04',
      }),
    ]);
  });

  it('lists a row whose date could not be read on the day it was parked, and says so', async () => {
    const rd = await t.entity('RCBADDAY', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'RCBADDAY', { name: 'rd', source: { type: 'file' } });
    await importText(pipeline, 'customers.csv', await example('customers.csv'));
    const r1 = await importText(
      pipeline,
      'invoices.csv',
      [
        'invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate',
        'INV-BAD-DATE,C-1001,2026-13-01,EUR,100.00,0.21',
      ].join('\n'),
    );
    expect(r1.rows.map((x) => x.outcome)).toEqual(['parked']);
    const { rows } = await t.db.query<{ day: string }>(
      `SELECT to_char(created_at, 'YYYY-MM-DD') AS day FROM exceptions WHERE pipeline_id = $1`,
      [pipeline.id],
    );
    const parkedOn = rows[0]!.day;
    const r = await get(rd, `/v1/pipelines/rd/reconciliation?from=${parkedOn}&to=${parkedOn}`);
    expect(r.body.mismatches).toEqual([
      expect.objectContaining({ kind: 'missing-in-ledger', reason: 'parked', date: parkedOn }),
    ]);
    expect(r.body.mismatches[0].message).toMatch(
      new RegExp(`; its own date could not be read, so it is listed on ${parkedOn}, the day it was parked$`),
    );
  });

  it('keeps each entity to its own pipelines and checks the window', async () => {
    expect((await get(clean, '/v1/pipelines/messy/reconciliation')).status).toBe(404);
    expect(
      (await get(ADMIN_TOKEN, '/v1/pipelines/messy/reconciliation?from=2026-11-01&to=2026-11-30')).body.summary
        .mismatched,
    ).toBe(5);
    const backwards = await get(messy, '/v1/pipelines/messy/reconciliation?from=2026-12-01&to=2026-11-01');
    expect(backwards.status).toBe(400);
    expect(backwards.body.error.code).toBe('VALIDATION_ERROR');
    const badDate = await get(messy, '/v1/pipelines/messy/reconciliation?to=2026-13-01');
    expect(badDate.body.error.details[0].field).toBe('query.to');
    const defaults = await get(messy, '/v1/pipelines/messy/reconciliation');
    expect(defaults.status).toBe(200);
    expect(defaults.body.to >= defaults.body.from).toBe(true);
  });
});
