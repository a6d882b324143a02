/**
 * A lookup by reference reads the few documents with that reference, not every document of the
 * customer (migration 0103, src/ledger/reference-lookup.ts). Before, the planner could answer
 * "customer C, type SI, reference R" from the customer's own index and filter all of C's
 * documents: a bulk post-pay-allocate of 100 queries for a customer with 40,000 documents spent
 * 5.8 s in its duplicate check on PostgreSQL. Each lookup ledgerlink sends while posting and
 * syncing is caught here and run again under EXPLAIN ANALYZE, with the plan PostgreSQL chooses for
 * these values and with the generic plan a prepared statement settles on, before and after
 * statistics are gathered; the rows it reads from `transactions` must stay a handful.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatementStats, instrument } from '../bench/instrument.ts';
import type { Database, SqlParam } from '../src/db/database.ts';
import { findTransaction } from '../src/connectors/ledger/payments.ts';
import { findInvoices } from '../src/connectors/ledger/invoices.ts';
import { findByReference } from '../src/connectors/ledger/reads.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { createTestDatabase } from './helpers/db.ts';
import { invoice, receipt, seedCustomer } from './helpers/ledger.ts';

/** Documents of the large customer: each lookup that reads the customer's documents reads all of them. */
const LARGE = 2000;

/** An invoice and its receipt, allocated, both duplicate-checked. */
function paidInvoice(reference: string, payment: string) {
  return {
    batchInvoice: invoice('LARGE', '10.00', { externalReference: reference }),
    receipt: receipt('LARGE', '12.10', { checkReference: payment }),
    performExternalReferenceDuplicateCheckOnInvoice: true,
    performExternalReferenceDuplicateCheckOnReceipt: true,
    performAllocation: true,
    allocationReference: `A-${reference}`,
  };
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** Rows the plan read from `transactions`: those it kept and those its filters threw away. */
function transactionRowsRead(node: PlanNode): number {
  const loops = node['Actual Loops'] ?? 1;
  const own =
    node['Relation Name'] === 'transactions'
      ? loops *
        ((node['Actual Rows'] ?? 0) +
          (node['Rows Removed by Filter'] ?? 0) +
          (node['Rows Removed by Index Recheck'] ?? 0))
      : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + transactionRowsRead(child), 0);
}

/** A parameter as an SQL literal, for EXECUTE's arguments (text, text arrays and null are all the lookups send). */
function literal(value: SqlParam): string {
  if (value === null || value === undefined) return 'NULL';
  const text = (v: unknown) => `'${String(v).replace(/'/g, "''")}'`;
  return Array.isArray(value) ? `ARRAY[${value.map(text).join(', ')}]::text[]` : text(value);
}

async function explain(db: Database, sql: string, params: readonly SqlParam[], generic: boolean): Promise<PlanNode> {
  return db.transaction(async (tx) => {
    let text = `EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`;
    if (generic) {
      // The plan a prepared statement settles on after five executions, planned without the values.
      await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
      await tx.query(`PREPARE reference_lookup AS ${sql}`);
      const args = params.map(literal).join(', ');
      text = `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE reference_lookup${args ? `(${args})` : ''}`;
    }
    const { rows } = await tx.query<{ 'QUERY PLAN': unknown }>(text, generic ? [] : params);
    if (generic) await tx.query('DEALLOCATE reference_lookup');
    const plan = rows[0]!['QUERY PLAN'];
    const parsed = (typeof plan === 'string' ? JSON.parse(plan) : plan) as { Plan: PlanNode }[];
    return parsed[0]!.Plan;
  });
}

describe('lookups by reference on a customer with many documents', () => {
  let db: Database;
  let t: TestApp;
  let c: Client;
  const stats = new StatementStats();
  const caught = new Map<string, readonly SqlParam[]>();

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await createTestApp({}, { db: instrument(db, stats) });
    c = await t.entity('REFS', 'EUR', { standardTaxRate: '0.21' });
    await seedCustomer(db, c.entityId, 'LARGE');
    await seedCustomer(db, c.entityId, 'SMALL');
    for (let start = 0; start < LARGE / 2; start += 500) {
      // Half the receipts carry a blank check reference, as a till that sends none would.
      const queries = Array.from({ length: 500 }, (_, k) =>
        paidInvoice(`L-INV-${start + k}`, k % 2 === 0 ? ' ' : `L-PAY-${start + k}`),
      );
      const r = await c.post('/v1/sales/post-pay-allocate/bulk', { queries });
      expect(r.body.results.find((x: { status: string }) => x.status !== 'Success')).toBeUndefined();
    }
    // From here on, every statement that looks a reference up is kept to be explained.
    stats.onStatement = (sql, params) => {
      if (sql.includes('ll_reference_key(') && !caught.has(sql)) caught.set(sql, params);
    };
  }, 120_000);
  afterAll(async () => {
    stats.onStatement = undefined;
    await t.close();
  });

  it('reads a handful of rows in every lookup, whatever the plan and the statistics', async () => {
    // Posting: the bulk duplicate check, the single one, and a receipt's.
    const bulk = await c.post('/v1/sales/post-pay-allocate/bulk', {
      queries: Array.from({ length: 20 }, (_, k) => paidInvoice(`NEW-INV-${k}`, `NEW-PAY-${k}`)),
    });
    expect(bulk.body.status).toBe('Success');
    // A blank reference is never a duplicate, and looks nothing up.
    const blank = await c.post('/v1/sales/post-pay-allocate/bulk', {
      queries: [paidInvoice('NEW-INV-BLANK', ' '), paidInvoice('NEW-INV-BLANK-2', '\t')],
    });
    expect(blank.body.status).toBe('Success');
    expect(
      (await c.post('/v1/sales/batch-invoices', invoice('LARGE', '5.00', { externalReference: 'ONE-1' }))).status,
    ).toBe(201);
    expect((await c.post('/v1/sales/receipts', receipt('LARGE', '5.00', { checkReference: 'ONE-P' }))).status).toBe(
      201,
    );
    // A duplicate is still found, in the bulk check and the single one.
    const again = await c.post('/v1/sales/batch-invoices', invoice('LARGE', '5.00', { externalReference: ' one-1 ' }));
    expect([again.status, again.body.error.code]).toEqual([409, 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS']);
    const bulkAgain = await c.post('/v1/sales/post-pay-allocate/bulk', {
      queries: [paidInvoice('L-INV-7', 'L-PAY-NEW')],
    });
    expect(bulkAgain.body.results[0].errorCode).toBe('INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS');
    // Syncing into the embedded ledger: what the target looks up before it posts.
    const tx = instrument(db, stats);
    expect((await findInvoices(tx, c.entityId, [{ customerCode: 'LARGE', reference: 'L-INV-12' }])).size).toBe(1);
    expect(await findTransaction(tx, c.entityId, 'LARGE', 'SR', 'L-PAY-13')).toMatchObject({ customerCode: 'LARGE' });
    expect(await findTransaction(tx, c.entityId, 'LARGE', 'SR', ' ')).toBeNull();
    expect(await findTransaction(tx, c.entityId, null, 'SR', 'nothing-like-it')).toBeNull();
    expect(await findByReference(tx, c.entityId, 'invoice', 'L-INV-13', 'LARGE')).not.toBeNull();

    const lookups = [...caught];
    expect(lookups.length).toBeGreaterThanOrEqual(5);
    const worst: { sql: string; generic: boolean; analyzed: boolean; rows: number }[] = [];
    for (const analyzed of [false, true]) {
      if (analyzed) await db.exec('ANALYZE transactions');
      for (const [sql, params] of lookups) {
        for (const generic of [false, true]) {
          const rows = transactionRowsRead(await explain(db, sql, params, generic));
          // 20 references at most in one statement, each naming an invoice or a receipt or nothing.
          if (rows > 60) worst.push({ sql: sql.replace(/\s+/g, ' ').slice(0, 160), generic, analyzed, rows });
        }
      }
    }
    expect(worst).toEqual([]);
  }, 120_000);
});
