import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCopy, targetUnreachable } from '../src/cli/copy.ts';
import type { Database } from '../src/db/database.ts';
import { openDatabase } from '../src/db/open.ts';
import { type Client, createTestApp, type TestApp } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { invoice, postInvoice, postReceipt, seedCustomer } from './helpers/ledger.ts';
import { definePipeline } from './helpers/sync.ts';

/*
 * `ledgerlink copy-to-postgres` (src/db/copy.ts): an installation on PGlite moved to a PostgreSQL
 * server. A ledger with a lock date, a moved due date, allocations, a credit note and a pipeline
 * with an encrypted secret is copied; on PostgreSQL the same session token reads the same
 * statement and trial balance, the next document gets the next number and an id of its own, the
 * caches are built again, and `ledgerlink verify` passes. Copying into a database that holds data
 * is refused and changes nothing.
 */

describe('ledgerlink copy-to-postgres, refusals before anything is opened', () => {
  it('wants a postgres:// URL, and no DATABASE_URL', async () => {
    await expect(runCopy({ to: 'mysql://x' }, { LEDGERLINK_DATA_DIR: '/nowhere' })).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      message: expect.stringMatching(/^--to: give the PostgreSQL database/),
    });
    await expect(
      runCopy({ to: 'postgres://a@b/c' }, { DATABASE_URL: 'postgres://a@b/c', LEDGERLINK_DATA_DIR: '/nowhere' }),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR', message: expect.stringMatching(/^DATABASE_URL is set/) });
    await expect(runCopy({ to: 'postgres://a@b/c' }, { LEDGERLINK_DATA_DIR: '/nowhere/at/all' })).rejects.toMatchObject(
      { code: 'DATA_FOLDER_NOT_FOUND' },
    );
  });

  it('says to create a target database that does not exist, never the driver’s bare words', () => {
    const missing = Object.assign(new Error('database "books" does not exist'), { code: '3D000' });
    const refused = targetUnreachable('postgres://ann:s3cret@db.example:6543/books', missing);
    expect(refused).toMatchObject({ code: 'DATABASE_NOT_FOUND' });
    expect(refused!.message).toContain('database "books" does not exist on db.example:6543: create it first');
    expect(refused!.message).toContain('createdb -h db.example -p 6543 -U ann books');
    expect(refused!.message).not.toContain('s3cret');
    const down = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(targetUnreachable('postgres://a@b/c', new Error('x', { cause: down }))).toMatchObject({
      code: 'DATABASE_UNREACHABLE',
    });
    expect(targetUnreachable('postgres://a@b/c', new Error('something else'))).toBeNull();
  });
});

describe.runIf(onPostgres)('ledgerlink copy-to-postgres into a database that does not exist', () => {
  it('is refused DATABASE_NOT_FOUND, saying to create it first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'll-copy-missing-'));
    try {
      const made = await openDatabase({ dataDir: dir });
      await made.close();
      const to = new URL(process.env.DATABASE_URL!);
      to.pathname = `/ledgerlink_missing_${Date.now().toString(36)}`;
      await expect(runCopy({ to: to.href }, { LEDGERLINK_DATA_DIR: dir }, () => undefined)).rejects.toMatchObject({
        code: 'DATABASE_NOT_FOUND',
        message: expect.stringContaining('create it first'),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe.runIf(onPostgres)('ledgerlink copy-to-postgres (PGlite → PostgreSQL)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'll-copy-'));
  const schema = `copy_${Date.now().toString(36)}`;
  const url = process.env.DATABASE_URL!;
  let source: TestApp;
  let c: Client;
  let before: { statement: unknown; trial: unknown; transactions: number; lastNumber: number };
  let target: TestApp | undefined;

  beforeAll(async () => {
    source = await createTestApp({}, { db: await openDatabase({ dataDir: dir }) });
    c = await source.entity('MOVE', 'EUR', { standardTaxRate: '0.21' });
    await seedCustomer(source.db, c.entityId, 'C1');
    const i1 = await postInvoice(c, 'C1', '100.00', { invoiceDate: '2026-10-02', dueDate: '2026-11-01' });
    const i2 = await postInvoice(c, 'C1', '40.00', { invoiceDate: '2026-10-05', dueDate: '2026-11-05' });
    const r1 = await postReceipt(c, 'C1', '60.00', { paymentDate: '2026-10-10' });
    const alloc = await c.post('/v1/allocations', {
      transactionId1: i1.transactionId,
      transactionId2: r1.transactionId,
      amount: '60.00',
      date: '2026-10-10',
      reference: 'PART',
    });
    expect(alloc.status).toBe(201);
    const note = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: i2.transactionId,
      creditNoteDate: '2026-10-12',
      externalReference: 'CN-MOVE',
      allocateToInvoice: true,
    });
    expect(note.status, JSON.stringify(note.body)).toBe(201);
    const moved = await c.put(`/v1/transactions/${i2.transactionId}/due-date`, { dueDate: '2026-12-31' });
    expect(moved.status).toBe(200);
    await definePipeline(source.db, 'MOVE', {
      name: 'shop-orders',
      source: { type: 'webhook' },
      webhookSecret: 'copied-webhook-secret-0123456789',
    });
    // Documents dated before the lock date: the target's rules would refuse them, were they on.
    const locked = await c.put('/v1/settings', { lockDate: '2026-10-31' });
    expect(locked.status, JSON.stringify(locked.body)).toBe(200);
    before = {
      statement: (await c.get('/v1/customers/C1/statement?upTo=2026-12-31')).body,
      trial: (await c.get('/v1/reports/trial-balance?at=2026-12-31')).body,
      transactions: Number(
        (await source.db.query<{ n: string }>('SELECT count(*)::text AS n FROM transactions')).rows[0]!.n,
      ),
      lastNumber: i2.number,
    };
    // A data folder that has lived: its transaction ids far past a new PostgreSQL cluster's counter.
    // Copied as they are, the target's change order must move past them (or new documents would
    // be missing from statements: test/change-clock.test.ts).
    await source.db.transaction(async (tx) => {
      await tx.query(`SET LOCAL session_replication_role = replica`);
      for (const table of ['transactions', 'allocations'])
        await tx.query(`UPDATE ${table} SET xid = (xid::text::numeric + 1e12)::text::xid8`);
    });
    await source.app.close();
    await source.db.close();
  }, 60_000);
  afterAll(async () => {
    await target?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies every row in one transaction; the same token then reads the same books from PostgreSQL', async () => {
    const printed: string[] = [];
    const code = await runCopy({ to: url, schema, json: true }, { LEDGERLINK_DATA_DIR: dir }, (text) =>
      printed.push(text),
    );
    expect(code).toBe(0);
    const report = JSON.parse(printed.join('')) as { ok: boolean; copied: { table: string; rows: number }[] };
    expect(report.ok).toBe(true);
    // Rows of every kind, counted again in the target; the caches are built there, not copied.
    expect(Object.fromEntries(report.copied.map((t) => [t.table, t.rows]))).toMatchObject({
      entities: 1,
      transactions: before.transactions,
      allocations: 2,
      pipelines: 1,
      sessions: 1,
    });
    expect(report.copied.map((t) => t.table)).not.toContain('open_items_cache');
    const db: Database = await openDatabase({ databaseUrl: url, schema });
    const { rows: clock } = await db.query<{ ahead: boolean }>(
      `SELECT id_offset >= 1e12 - 1e9 AS ahead FROM change_clock`,
    );
    expect(clock[0]!.ahead).toBe(true);
    target = await createTestApp({}, { db });
    target.close = async () => {
      await target!.app.close();
      await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    };
    const same = async (path: string) => {
      const r = await target!.request('GET', path, undefined, { authorization: `Bearer ${c.token}` });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    };
    expect(await same('/v1/customers/C1/statement?upTo=2026-12-31')).toEqual(before.statement);
    expect(await same('/v1/reports/trial-balance?at=2026-12-31')).toEqual(before.trial);
    // The lock date came along, and its rule is on again.
    const early = await target.request(
      'POST',
      '/v1/sales/batch-invoices',
      invoice('C1', '5.00', { invoiceDate: '2026-10-20' }),
      { authorization: `Bearer ${c.token}` },
    );
    expect(early.status, JSON.stringify(early.body)).toBe(422);
    expect(early.body.error.message).toMatch(/lock/i);
    const next = await target.request(
      'POST',
      '/v1/sales/batch-invoices',
      invoice('C1', '5.00', { invoiceDate: '2026-11-20' }),
      { authorization: `Bearer ${c.token}` },
    );
    expect(next.status, JSON.stringify(next.body)).toBe(201);
    expect(next.body.number).toBe(before.lastNumber + 1);
    const { rows } = await db.query<{ n: string; distinct_ids: string }>(
      'SELECT count(*)::text AS n, count(DISTINCT id)::text AS distinct_ids FROM transactions',
    );
    expect(rows[0]).toEqual({ n: String(before.transactions + 1), distinct_ids: String(before.transactions + 1) });
    const statement = (await same('/v1/customers/C1/statement?upTo=2026-12-31')) as { openItems: unknown[] };
    expect(statement.openItems.length).toBe((before.statement as { openItems: unknown[] }).openItems.length + 1);
    // The webhook secret, sealed with the data folder's key, as it was.
    const { rows: secrets } = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM pipelines WHERE name = 'shop-orders' AND webhook_secret IS NOT NULL`,
    );
    expect(secrets[0]!.n).toBe('1');
  });

  it('refuses to copy into a database that holds data, and leaves it as it is', async () => {
    const count = async () =>
      (await target!.db.query<{ n: string }>('SELECT count(*)::text AS n FROM transactions')).rows[0]!.n;
    const held = await count();
    await expect(
      runCopy({ to: url, schema, json: true }, { LEDGERLINK_DATA_DIR: dir }, () => undefined),
    ).rejects.toMatchObject({
      code: 'TARGET_NOT_EMPTY',
      // The command's own option, not the variable the processes read afterwards.
      message: expect.stringMatching(/^the target already holds ledgerlink data \(1 entity\): .*--schema NAME/),
    });
    expect(await count()).toBe(held);
  });
});
