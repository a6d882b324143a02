/**
 * A GL account closed (made a header, or deactivated) while a posting to it is in flight. The
 * posting reads the account (active, posting) without a lock and writes its lines later; the
 * setup change checks the account has no postings (header) or no pending deferral (inactive) and
 * commits in between. Both succeed: a header account then holds posted lines, or an inactive
 * account a deferral still to release, which `PUT /v1/gl-accounts/{code}` refuses when done one
 * after the other. On PostgreSQL a second connection holds the invoice numbering row so that the
 * posting is caught after it read the account; on PGlite (one connection) the two are serialised
 * and the invariant holds.
 *
 * Found by the concurrency review. The fix (src/ledger/posting/references.ts, `loadReferences`):
 * the GL accounts a posting reads are key-share-locked, in code order, when it reads them, so that
 * `saveGlAccount`'s `FOR UPDATE` waits for postings in flight and then sees their lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { openPostgres } from '../src/db/postgres.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { holdTransaction, onPostgres, waitBlockedBehind } from './helpers/db.ts';

let t: TestApp;
let c: Client;
let side: Database | null = null;

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('GLRACE', 'EUR');
  expect((await c.put('/v1/customers/D', { name: 'Customer D' })).status).toBe(201);
  // The numbering row exists before the race: the posting under test waits on it.
  const first = await c.post('/v1/sales/batch-invoices', {
    customerCode: 'D',
    invoiceDate: '2026-11-01',
    lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '1.00' }],
  });
  expect(first.status).toBe(201);
  if (onPostgres) {
    const { rows } = await t.db.query<{ schema: string }>('SELECT current_schema() AS schema');
    side = await openPostgres(process.env.DATABASE_URL!, { schema: rows[0]!.schema, max: 2 });
  }
}, 60_000);
afterAll(async () => {
  await side?.close();
  await t.close();
});

/** Runs `first` while the invoice numbering row is held, then `second` once `first` waits on it. */
async function race<A, B>(first: () => Promise<A>, second: () => Promise<B>): Promise<[A, B]> {
  if (!side) return Promise.all([first(), second()]);
  const holder = await holdTransaction(side, (tx) =>
    tx.query(`SELECT last_number FROM document_sequences WHERE entity_id = $1 AND type = 'SI' FOR UPDATE`, [
      c.entityId,
    ]),
  );
  const a = first();
  await waitBlockedBehind(side, holder.pid);
  const b = second();
  // The setup change either commits at once (the defect) or waits for the posting (the fix).
  await Promise.race([b, new Promise((r) => setTimeout(r, 500))]);
  await holder.release();
  return Promise.all([a, b]);
}

async function linesOn(code: string): Promise<number> {
  const { rows } = await t.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM journal_lines WHERE entity_id = $1 AND gl_account_code = $2',
    [c.entityId, code],
  );
  return rows[0]!.n;
}

describe(`a GL account closed while a posting to it is in flight (${onPostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('never leaves posted lines on a header account', async () => {
    expect((await c.put('/v1/gl-accounts/4150', { name: 'Race', type: 'income', isPosting: true })).status).toBe(201);
    const [posted, closed] = await race(
      () =>
        c.post('/v1/sales/batch-invoices', {
          customerCode: 'D',
          invoiceDate: '2026-11-02',
          lines: [{ glAccountCode: '4150', taxCode: 'STD', netAmount: '10.00' }],
        }),
      () => c.put('/v1/gl-accounts/4150', { isPosting: false }),
    );
    expect(posted.status, JSON.stringify(posted.body)).toBeLessThan(500);
    expect(closed.status, JSON.stringify(closed.body)).toBeLessThan(500);
    const account = (await c.get('/v1/gl-accounts/4150')).body;
    const lines = await linesOn('4150');
    expect({ isPosting: account.isPosting, hasLines: lines > 0 }).not.toEqual({ isPosting: false, hasLines: true });
  });

  it('never leaves a deferral still to release on an inactive account', async () => {
    expect((await c.put('/v1/gl-accounts/4160', { name: 'Race 2', type: 'income', isPosting: true })).status).toBe(201);
    const [posted, closed] = await race(
      () =>
        c.post('/v1/sales/batch-invoices', {
          customerCode: 'D',
          invoiceDate: '2026-11-02',
          lines: [
            {
              glAccountCode: '4160',
              taxCode: 'STD',
              netAmount: '12.00',
              deferral: { months: 12, startDate: '2026-11-30' },
            },
          ],
        }),
      () => c.put('/v1/gl-accounts/4160', { isActive: false }),
    );
    expect(posted.status, JSON.stringify(posted.body)).toBeLessThan(500);
    expect(closed.status, JSON.stringify(closed.body)).toBeLessThan(500);
    const account = (await c.get('/v1/gl-accounts/4160')).body;
    const { rows } = await t.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM deferral_schedules WHERE entity_id = $1 AND revenue_gl_account_code = $2',
      [c.entityId, '4160'],
    );
    expect({ isActive: account.isActive, pending: rows[0]!.n > 0 }).not.toEqual({ isActive: false, pending: true });
  });
});
