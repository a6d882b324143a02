import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline } from './helpers/sync.ts';
import type { SourceItem, SourcePage } from '../src/sync/connector.ts';
import { pagesOf } from '../src/sync/connector.ts';
import { getRun } from '../src/sync/runs.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * Text PostgreSQL cannot store (a NUL, an unpaired UTF-16 surrogate) arriving from a source rather
 * than through the API, whose edge refuses it (found by npm run fuzz's iXpole family). A record
 * holding one is parked for it, with its copy shown as U+FFFD; the records beside it are posted and
 * recorded as usual. Before, the page's run records, exceptions and audit entry were written in one
 * statement batch that jsonb refused, after the page's invoices had been booked: the run failed
 * with "invalid input syntax for type json" and the booked invoices had no run record.
 */

/** Records in hand, like "records", and customers looked up on demand: K9's name holds a NUL. */
const scope = processScope();
scope.source('lookup-nul', (_pipeline, deps) => ({
  type: 'lookup-nul',
  async *pages(): AsyncIterable<SourcePage> {
    yield* pagesOf((deps.params.items as SourceItem[] | undefined) ?? []);
  },
  customer: async (id: string) => ({
    found: { kind: 'customer' as const, sourceId: id, name: id === 'K9' ? 'Nul\u0000Ltd' : `Customer ${id}` },
  }),
}));

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await t.entity('NUL', 'EUR', { standardTaxRate: '0.21' });
});
afterAll(async () => t.close());

const invoice = (id: string, description = `Instalment ${id}`): SourceItem => ({
  record: {
    kind: 'invoice',
    sourceId: id,
    externalReference: id,
    customerSourceId: 'K1',
    invoiceDate: '2026-11-01',
    currency: 'EUR',
    description,
    lines: [{ description: 'Ticket', netAmount: '10.00', vatRate: '0.21' }],
  },
});

describe('text a column cannot hold, from a source', () => {
  it('parks the record holding it and posts and records the rest of the page', async () => {
    const p = await definePipeline(t.db, 'NUL', { name: 'nul', source: { type: 'records' } });
    const runId = await t.sync.processRecords(p, 'manual', 'test', [
      { record: { kind: 'customer', sourceId: 'K1', name: 'Customer K1' } },
      invoice('GOOD-1'),
      invoice('NUL-1', 'a\u0000b'),
      invoice('LONE-\ud800'),
      {
        invalid: {
          kind: 'invoice',
          sourceId: '\udc00',
          reasonCode: 'SOURCE_ITEM_INVALID',
          message: 'unreadable \ud800',
          payload: { ['k\u0000']: 'v\ud800' },
        },
      },
    ]);
    const run = (await getRun(t.db, runId))!;
    expect(run.error).toBeNull();
    expect(run.status).toBe('partial');
    expect(run.counts).toMatchObject({ created: 2, parked: 3 });

    const { rows: records } = await t.db.query<{ source_id: string; outcome: string; message: string | null }>(
      `SELECT source_id, outcome, message FROM run_records WHERE run_id = $1 AND kind = 'invoice' ORDER BY id`,
      [runId],
    );
    expect(records.map((r) => [r.source_id, r.outcome])).toEqual(
      expect.arrayContaining([
        ['GOOD-1', 'created'],
        ['NUL-1', 'parked'],
        ['LONE-\ufffd', 'parked'],
        ['\ufffd', 'parked'],
      ]),
    );
    const { rows: parked } = await t.db.query<{
      source_id: string;
      reason_code: string;
      field: string | null;
      message: string;
    }>(`SELECT source_id, reason_code, field, message FROM exceptions WHERE run_id = $1 ORDER BY source_id`, [runId]);
    expect(parked).toEqual([
      {
        source_id: 'LONE-\ufffd',
        reason_code: 'SOURCE_ITEM_INVALID',
        field: 'sourceId',
        message: 'sourceId: contains an unpaired UTF-16 surrogate (not valid Unicode)',
      },
      {
        source_id: 'NUL-1',
        reason_code: 'SOURCE_ITEM_INVALID',
        field: 'description',
        message: 'description: contains a NUL character',
      },
      { source_id: '\ufffd', reason_code: 'SOURCE_ITEM_INVALID', field: null, message: 'unreadable \ufffd' },
    ]);
    // Only the good invoice was booked, and the page's audit entry names every record.
    const { rows: booked } = await t.db.query<{ external_reference: string }>(
      `SELECT external_reference FROM transactions WHERE type = 'SI' ORDER BY id`,
    );
    expect(booked.map((b) => b.external_reference)).toEqual(['GOOD-1']);
    const { rows: audit } = await t.db.query<{ after: { records: { sourceId: string }[] } }>(
      `SELECT after FROM audit_log WHERE action = 'sync.page' AND object_id = $1`,
      [runId],
    );
    expect(audit[0]!.after.records.map((r) => r.sourceId)).toEqual(
      expect.arrayContaining(['GOOD-1', 'NUL-1', 'LONE-\ufffd', '\ufffd']),
    );
  });

  it('parks the documents of a customer the source answers with such text, and books the others', async () => {
    const p = await definePipeline(t.db, 'NUL', { name: 'lookup', source: { type: 'lookup-nul' } });
    const other = (id: string, customer: string): SourceItem => {
      const item = invoice(id) as { record: { customerSourceId: string } };
      item.record.customerSourceId = customer;
      return item as SourceItem;
    };
    const runId = await t.sync.processRecords(p, 'manual', 'test', [other('L-1', 'K8'), other('L-2', 'K9')]);
    const run = (await getRun(t.db, runId))!;
    expect(run.error).toBeNull();
    expect(run.counts).toMatchObject({ parked: 1 });
    const { rows } = await t.db.query<{ source_id: string; reason_code: string; message: string }>(
      `SELECT source_id, reason_code, message FROM exceptions WHERE run_id = $1`,
      [runId],
    );
    expect(rows).toEqual([
      {
        source_id: 'L-2',
        reason_code: 'SOURCE_ITEM_INVALID',
        message:
          'Customer K9 from the source is not valid: name: contains a NUL character; runs again by itself once customer K9 is booked',
      },
    ]);
    const { rows: booked } = await t.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM transactions WHERE external_reference = 'L-1'`,
    );
    expect(booked[0]!.n).toBe('1');
  });
});
