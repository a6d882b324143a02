/**
 * Exactly-once under concurrency, through real HTTP: the server listens on a random port and the
 * requests are sent with fetch at the same time. On PostgreSQL (DATABASE_URL) they truly overlap:
 * each burst is fired while a second connection holds the row lock the requests contend for, and is
 * released only once the requests are seen blocked behind it (pg_blocking_pids), so they all race
 * at once. On PGlite (one connection) the same assertions must hold: transactions are serialised.
 */
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { openDatabase } from '../src/db/open.ts';
import { openPostgres } from '../src/db/postgres.ts';
import { openPglite } from '../src/db/pglite.ts';
import { loadMigrations, migrate } from '../src/db/migrate.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { checkInvariants, invoice, postInvoice, postReceipt, receipt, seedCustomer } from './helpers/ledger.ts';

interface HttpResponse {
  status: number;
  body: any;
  replayed: boolean;
}

let t: TestApp;
let baseUrl: string;
/** A second pool on the same schema (PostgreSQL only): holds the contended lock and watches the waiters. */
let side: Database | null = null;

beforeAll(async () => {
  t = await createTestApp();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  if (onPostgres) {
    const { rows } = await t.db.query<{ schema: string }>('SELECT current_schema() AS schema');
    side = await openPostgres(process.env.DATABASE_URL!, { schema: rows[0]!.schema, max: 2 });
  }
});
afterAll(async () => {
  await side?.close();
  await t.close();
});

async function post(
  c: Client,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResponse> {
  const res = await fetch(baseUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? JSON.parse(text) : null,
    replayed: res.headers.get('idempotent-replayed') === 'true',
  };
}

/**
 * Fires `requests` at once. On PostgreSQL, first takes the lock `lockSql` on the side connection,
 * waits until `waiters` sessions are blocked behind it (or 10 s), then releases it: the requests
 * then race for the same rows. Returns the responses and how many were seen waiting.
 */
async function burst<T>(
  lockSql: string,
  params: unknown[],
  waiters: number,
  requests: () => Promise<T>,
): Promise<{ results: T; waited: number }> {
  if (!side) return { results: await requests(), waited: 0 };
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let holding!: (pid: number) => void;
  const held = new Promise<number>((resolve) => (holding = resolve));
  const holder = side.transaction(async (tx) => {
    const { rows } = await tx.query(lockSql, params as never[]);
    if (rows.length !== 1) throw new Error(`lock query matched ${rows.length} rows: ${lockSql}`);
    const pid = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    holding(pid.rows[0]!.pid);
    await released;
  });
  const holderPid = await held;
  const pending = requests();
  let waited = 0;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    // Sessions blocked behind the held lock, directly or behind another blocked session.
    const { rows } = await side.query<{ n: number }>(
      `WITH RECURSIVE blocked(pid) AS (
         SELECT $1::int
         UNION
         SELECT a.pid FROM pg_stat_activity a JOIN blocked b ON b.pid = ANY (pg_blocking_pids(a.pid))
       )
       SELECT count(*)::int - 1 AS n FROM blocked`,
      [holderPid],
    );
    waited = rows[0]!.n;
    if (waited >= waiters) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  release();
  await holder;
  return { results: await pending, waited };
}

function lockCustomer(entityId: string, code: string): [string, unknown[]] {
  return ['SELECT code FROM customers WHERE entity_id = $1 AND code = $2 FOR UPDATE', [entityId, code]];
}

function lockSequence(entityId: string, type: string): [string, unknown[]] {
  return ['SELECT type FROM document_sequences WHERE entity_id = $1 AND type = $2 FOR UPDATE', [entityId, type]];
}

function expectNoServerErrors(results: HttpResponse[]) {
  expect(results.filter((r) => r.status >= 500).map((r) => r.body)).toEqual([]);
}

/** On PostgreSQL the burst must really have overlapped: several requests seen waiting at once. */
function expectOverlap(waited: number, atLeast: number) {
  if (onPostgres) expect(waited).toBeGreaterThanOrEqual(atLeast);
}

describe(`concurrent requests (${onPostgres ? 'PostgreSQL, overlapping' : 'PGlite, serialised'})`, () => {
  let c: Client;
  beforeAll(async () => {
    c = await t.entity('CONCURRENCY', 'EUR');
  });

  it('post-pay-allocate: 20 racing requests with one invoice reference post exactly one invoice and receipt', async () => {
    await seedCustomer(t.db, c.entityId, 'PPA');
    const bodies = Array.from({ length: 20 }, (_, i) => ({
      batchInvoice: invoice('PPA', '100', { externalReference: 'ORDER-RACE' }),
      receipt: receipt('PPA', '121', { checkReference: `PAY-RACE-${i}` }),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: true,
      allocationReference: 'ORDER-RACE',
    }));
    const { results, waited } = await burst(...lockCustomer(c.entityId, 'PPA'), 20, () =>
      Promise.all(bodies.map((b) => post(c, '/v1/sales/post-pay-allocate', b))),
    );
    expectNoServerErrors(results);
    expectOverlap(waited, 10);
    const won = results.filter((r) => r.status === 201);
    expect(won).toHaveLength(1);
    expect(results.filter((r) => r.status !== 201).map((r) => [r.status, r.body.error.code])).toEqual(
      Array.from({ length: 19 }, () => [409, 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS']),
    );
    const { rows } = await t.db.query<{ type: string; external_reference: string; n: string }>(
      `SELECT type, min(external_reference) AS external_reference, count(*) AS n FROM transactions
        WHERE entity_id = $1 AND customer_code = 'PPA' GROUP BY type ORDER BY type`,
      [c.entityId],
    );
    const winner = bodies[results.indexOf(won[0]!)]!;
    expect(rows).toEqual([
      { type: 'SI', external_reference: 'ORDER-RACE', n: '1' },
      { type: 'SR', external_reference: winner.receipt.checkReference, n: '1' },
    ]);
    const allocations = await t.db.query(`SELECT id FROM allocations WHERE entity_id = $1 AND customer_code = 'PPA'`, [
      c.entityId,
    ]);
    expect(allocations.rows).toHaveLength(1);
    await checkInvariants(t.db, c.entityId);
  });

  it('allocations: 50 racing receipts of 5.00 never over-allocate one invoice of 121.00', async () => {
    await seedCustomer(t.db, c.entityId, 'ALLOC');
    const inv = await postInvoice(c, 'ALLOC', '100'); // 121.00 gross
    const gross = 12100n;
    const each = 500n;
    const count = 50;
    const receipts: { transactionId: number }[] = [];
    for (let i = 0; i < count; i++) receipts.push(await postReceipt(c, 'ALLOC', '5.00'));
    const { results, waited } = await burst(...lockCustomer(c.entityId, 'ALLOC'), 20, () =>
      Promise.all(
        receipts.map((r, i) =>
          post(c, '/v1/allocations', {
            transactionId1: inv.transactionId,
            transactionId2: r.transactionId,
            amount: '5.00',
            date: '2026-11-05',
            reference: `RACE-${i}`,
          }),
        ),
      ),
    );
    expectNoServerErrors(results);
    expectOverlap(waited, 10);
    const fits = Number(gross / each) < count ? Number(gross / each) : count; // 24: 24 × 5.00 = 120.00 ≤ 121.00
    const ok = results.filter((r) => r.status === 201);
    expect(ok).toHaveLength(fits);
    for (const r of results.filter((x) => x.status !== 201)) {
      expect(r.status).toBe(422);
      expect([
        'TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANDING_AMOUNT',
        'TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION',
      ]).toContain(r.body.error.code);
    }
    // Each success saw the invoice as the one before it left it: the outstanding amounts they
    // report are 116.00, 111.00, … 1.00, each exactly once.
    const reported = ok
      .map((r) => r.body.outstanding[String(inv.transactionId)] as string)
      .sort((a, b) => Number(b) - Number(a));
    const steps = Array.from({ length: fits }, (_, k) => gross - each * BigInt(k + 1));
    expect(reported).toEqual(steps.map((v) => `${v / 100n}.${String(v % 100n).padStart(2, '0')}`));
    const { rows } = await t.db.query<{ allocated: string; n: string }>(
      `SELECT coalesce(sum(a.amount), 0) AS allocated, count(*) AS n FROM allocations a
        WHERE a.debit_transaction_id = $1 AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)`,
      [inv.transactionId],
    );
    expect(rows[0]).toEqual({ allocated: String(each * BigInt(fits)), n: String(fits) });
    expect(BigInt(rows[0]!.allocated)).toBeLessThanOrEqual(gross);
    await checkInvariants(t.db, c.entityId);
  });

  it('idempotency: 20 racing identical requests with one key post once and all answer the same', async () => {
    await seedCustomer(t.db, c.entityId, 'IDEM');
    const body = invoice('IDEM', '10', { externalReference: 'IDEM-RACE' });
    const key = { 'idempotency-key': `race-${randomBytes(4).toString('hex')}` };
    const { results, waited } = await burst(...lockCustomer(c.entityId, 'IDEM'), 20, () =>
      Promise.all(Array.from({ length: 20 }, () => post(c, '/v1/sales/batch-invoices', body, key))),
    );
    expectNoServerErrors(results);
    expectOverlap(waited, 10);
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 201));
    const first = results.find((r) => !r.replayed)!;
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    for (const r of results) expect(r.body).toEqual(first.body);
    const { rows } = await t.db.query<{ id: string }>(
      `SELECT id FROM transactions WHERE entity_id = $1 AND customer_code = 'IDEM' AND type = 'SI'`,
      [c.entityId],
    );
    expect(rows.map((r) => Number(r.id))).toEqual([first.body.transactionId]);
  });

  it('idempotency: racing requests with one key and two bodies post once; the other body is refused', async () => {
    await seedCustomer(t.db, c.entityId, 'IDEM2');
    const bodies = [
      invoice('IDEM2', '10', { externalReference: 'A' }),
      invoice('IDEM2', '20', { externalReference: 'B' }),
    ];
    const key = { 'idempotency-key': `race-${randomBytes(4).toString('hex')}` };
    const sent = Array.from({ length: 20 }, (_, i) => bodies[i % 2]!);
    const { results } = await burst(...lockCustomer(c.entityId, 'IDEM2'), 20, () =>
      Promise.all(sent.map((b) => post(c, '/v1/sales/batch-invoices', b, key))),
    );
    expectNoServerErrors(results);
    const winner = sent[results.findIndex((r) => r.status === 201 && !r.replayed)]!;
    results.forEach((r, i) => {
      if (sent[i] === winner) expect(r.status).toBe(201);
      else expect([r.status, r.body.error.code]).toEqual([409, 'IDEMPOTENCY_KEY_REUSED']);
    });
    const { rows } = await t.db.query(`SELECT id FROM transactions WHERE entity_id = $1 AND customer_code = 'IDEM2'`, [
      c.entityId,
    ]);
    expect(rows).toHaveLength(1);
  });

  it('numbering: 30 racing invoices for 30 customers get a contiguous range, failures leave no gap', async () => {
    const e = await t.entity(undefined, 'EUR');
    const codes = Array.from({ length: 30 }, (_, i) => `G${String(i + 1).padStart(2, '0')}`);
    for (const code of codes) await seedCustomer(t.db, e.entityId, code);
    const first = await postInvoice(e, 'G01', '1'); // creates the sequence row the burst contends for
    // Every third refers to a tax code that does not exist and is refused.
    const bodies = codes.map((code, i) =>
      i % 3 === 2
        ? { ...invoice(code, '10'), lines: [{ glAccountCode: '4000', taxCode: 'NOPE', netAmount: '10' }] }
        : invoice(code, '10'),
    );
    const { results, waited } = await burst(...lockSequence(e.entityId, 'SI'), 20, () =>
      Promise.all(bodies.map((b) => post(e, '/v1/sales/batch-invoices', b))),
    );
    expectNoServerErrors(results);
    expectOverlap(waited, 10);
    const refused = results.filter((_, i) => i % 3 === 2);
    expect(refused.map((r) => [r.status, r.body.error.code])).toEqual(
      Array.from({ length: 10 }, () => [422, 'TAX_CODE_DOES_NOT_EXIST']),
    );
    const numbers = results.filter((_, i) => i % 3 !== 2).map((r) => r.body.number as number);
    expect(numbers.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, k) => first.number + 1 + k));
    await expectGapless(e.entityId, 'SI', 21);
    await checkInvariants(t.db, e.entityId);
  });

  it('numbering: credit notes refused after their number was drawn give it back', async () => {
    const e = await t.entity(undefined, 'EUR');
    const codes = Array.from({ length: 30 }, (_, i) => `N${String(i + 1).padStart(2, '0')}`);
    for (const code of codes) await seedCustomer(t.db, e.entityId, code);
    const lines = [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '10', taxRate: '0.21' }];
    const warmUp = await post(e, '/v1/sales/credit-notes', {
      customerCode: 'N01',
      creditNoteDate: '2026-11-10',
      lines,
    });
    expect(warmUp.status).toBe(201);
    // allocateToInvoice without an invoice is refused only after the credit note was posted and
    // numbered: the rollback must return the number.
    const bodies = codes.map((code, i) => ({
      customerCode: code,
      creditNoteDate: '2026-11-10',
      lines,
      ...(i % 3 === 2 ? { allocateToInvoice: true } : {}),
    }));
    const { results, waited } = await burst(...lockSequence(e.entityId, 'SN'), 20, () =>
      Promise.all(bodies.map((b) => post(e, '/v1/sales/credit-notes', b))),
    );
    expectNoServerErrors(results);
    expectOverlap(waited, 10);
    expect(results.filter((_, i) => i % 3 === 2).map((r) => [r.status, r.body.error.code])).toEqual(
      Array.from({ length: 10 }, () => [400, 'VALIDATION_ERROR']),
    );
    const numbers = results.filter((_, i) => i % 3 !== 2).map((r) => r.body.number as number);
    expect(numbers.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, k) => 2 + k));
    await expectGapless(e.entityId, 'SN', 21);
    await checkInvariants(t.db, e.entityId);
  });
});

/** Numbers of `type` are exactly 1..count and the sequence's counter stands at count. */
async function expectGapless(entityId: string, type: string, count: number) {
  const { rows } = await t.db.query<{ number: string }>(
    'SELECT number FROM transactions WHERE entity_id = $1 AND type = $2 ORDER BY number',
    [entityId, type],
  );
  expect(rows.map((r) => Number(r.number))).toEqual(Array.from({ length: count }, (_, k) => k + 1));
  const seq = await t.db.query<{ last_number: string }>(
    'SELECT last_number FROM document_sequences WHERE entity_id = $1 AND type = $2',
    [entityId, type],
  );
  expect(seq.rows).toEqual([{ last_number: String(count) }]);
}

describe('migrations racing', () => {
  it('two migrations of one fresh database at once: one applies everything, the other nothing', async () => {
    // On PGlite both calls share the one connection; on PostgreSQL each takes its own pool client.
    const db = onPostgres
      ? await openPostgres(process.env.DATABASE_URL!, { schema: freshSchema(), max: 4 })
      : await openPglite('memory');
    try {
      const applied = await Promise.all([migrate(db), migrate(db)]);
      const names = (await loadMigrations()).map((m) => m.name);
      expect(applied.sort((a, b) => a.length - b.length)).toEqual([[], names]);
      await expectMigratedOnce(db);
    } finally {
      await dropAndClose(db);
    }
  });
});

// Two pools are two server sessions, as two processes would be; PGlite has no second session.
describe.skipIf(!onPostgres)('migrations racing across processes (PostgreSQL)', () => {
  it('two processes migrating one fresh schema at once both succeed, each migration once', async () => {
    const schema = freshSchema();
    const config = { databaseUrl: process.env.DATABASE_URL!, schema, poolSize: 2 };
    const opened = await Promise.allSettled([openDatabase(config), openDatabase(config)]);
    const dbs = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    try {
      expect(opened.map((o) => (o.status === 'rejected' ? String(o.reason) : 'ok'))).toEqual(['ok', 'ok']);
      await expectMigratedOnce(dbs[0]!);
    } finally {
      for (const db of dbs.slice(1)) await db.close();
      if (dbs[0]) await dropAndClose(dbs[0]);
      else await cleanSchema(schema);
    }
  });
});

function freshSchema(): string {
  return `t_mig_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

async function expectMigratedOnce(db: Database) {
  const { rows } = await db.query<{ id: number; n: string }>(
    'SELECT id, count(*) AS n FROM ledgerlink_migrations GROUP BY id ORDER BY id',
  );
  const known = (await loadMigrations()).map((m) => m.id);
  expect(rows).toEqual(known.map((id) => ({ id, n: '1' })));
}

async function dropAndClose(db: Database) {
  if (db.kind === 'postgres') {
    const { rows } = await db.query<{ schema: string }>('SELECT current_schema() AS schema');
    await db.exec(`DROP SCHEMA IF EXISTS "${rows[0]!.schema}" CASCADE`);
  }
  await db.close();
}

async function cleanSchema(schema: string) {
  const db = await openPostgres(process.env.DATABASE_URL!, { max: 1 });
  try {
    await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await db.close();
  }
}
