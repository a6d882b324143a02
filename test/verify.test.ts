import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../src/db/database.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import { refreshOpenItems } from '../src/ledger/reports/open-items.ts';
import { formatVerification } from '../src/cli/verify.ts';
import { type Client, type TestApp, createTestApp } from './helpers/app.ts';
import { cliPlace } from './helpers/cli.ts';
import { postInvoice, postReceipt, seedCustomer } from './helpers/ledger.ts';

/*
 * `ledgerlink verify`: the ledger's invariants checked from its tables. A sound ledger passes
 * every check; each kind of damage (done here behind the database's own rules, with triggers off,
 * as a bad restore or a hand edit would) is found by the check that names it, and only by it.
 */

let t: TestApp;
let c: Client;
let other: Client;
const entity = () => ({ id: c.entityId, code: 'VERIFY' });

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('VERIFY', 'EUR');
  other = await t.entity('OTHER', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1');
  await seedCustomer(t.db, c.entityId, 'C2');
  const inv = await postInvoice(c, 'C1', '100.00');
  await postInvoice(c, 'C2', '50.00');
  const pay = await postReceipt(c, 'C1', '60.00');
  const alloc = await c.post('/v1/allocations', {
    transactionId1: inv.transactionId,
    transactionId2: pay.transactionId,
    amount: '60.00',
    date: '2026-11-05',
    reference: 'PART',
  });
  expect(alloc.status).toBe(201);
  await cacheCaughtUp(c.entityId);
});

/**
 * Refreshes the open items cache until its cursor is past every write of the entity. A refresh
 * goes only as far as the oldest transaction still running anywhere on the server (another test
 * file's, on PostgreSQL): one refresh may leave the last writes to the next reader, which would
 * then repair the damage a test made before the check could see it.
 */
async function cacheCaughtUp(entityId: string): Promise<void> {
  for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    await refreshOpenItems(t.db, entityId);
    const { rows } = await t.db.query<{ behind: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM transactions WHERE entity_id = $1 AND (xid >= o.xid OR amended_xid >= o.xid))
           OR EXISTS (SELECT 1 FROM allocations WHERE entity_id = $1 AND xid >= o.xid) AS behind
         FROM open_items_cursors o WHERE o.entity_id = $1`,
      [entityId],
    );
    if (rows[0]?.behind === false) return;
  }
  throw new Error('the open items cache did not catch up with the ledger in 30 s');
}
afterAll(async () => t.close());

/** Changes the ledger behind its rules, then puts it back, whatever the check found. */
async function damaged<T>(damage: (tx: Queryable) => Promise<void>, look: (tx: Queryable) => Promise<T>): Promise<T> {
  const undo = new Error('undo');
  let seen: T | undefined;
  await t.db
    .transaction(async (tx) => {
      await tx.query(`SET LOCAL session_replication_role = replica`);
      await damage(tx);
      seen = await look(tx);
      throw undo;
    })
    .catch((err: unknown) => {
      if (err !== undo) throw err;
    });
  return seen!;
}

const brokenChecks = (r: Awaited<ReturnType<typeof verifyLedger>>) =>
  r.checks.filter((x) => x.problems.length).map((x) => x.name);

describe('ledgerlink verify', () => {
  it('finds every invariant holding on a sound ledger', async () => {
    const r = await verifyLedger(t.db, entity());
    expect(r).toMatchObject({ entity: 'VERIFY', transactions: 3, ok: true });
    expect(r.checks.map((x) => x.name)).toEqual([
      'journals',
      'outstanding',
      'debtorsControl',
      'revaluations',
      'creditorsControl',
      'openItemsCache',
      'glBalancesCache',
    ]);
    expect(formatVerification([r])).toContain('VERIFY (3 transactions): every invariant holds');
  });

  it('finds a journal that does not balance, and a document without one', async () => {
    const r = await damaged(
      async (tx) => {
        await tx.query(
          `UPDATE journal_lines SET amount = amount + 1, base_amount = base_amount + 1
            WHERE id = (SELECT min(j.id) FROM journal_lines j JOIN transactions x ON x.id = j.transaction_id
                         WHERE x.entity_id = $1 AND x.type = 'SI' AND j.role <> 'control')`,
          [c.entityId],
        );
        await tx.query(
          `DELETE FROM journal_lines WHERE transaction_id = (SELECT max(id) FROM transactions WHERE entity_id = $1 AND type = 'SI')`,
          [c.entityId],
        );
      },
      (tx) => verifyLedger(tx, entity(), { skip: ['openItemsCache', 'glBalancesCache'] }),
    );
    expect(r.ok).toBe(false);
    const problems = r.checks.find((x) => x.name === 'journals')!.problems;
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toMatch(/journal is off by 1 \(currency\) and 1 \(base\)/);
    expect(problems.join('\n')).toMatch(/has no journal/);
    // The missing journal took its control line with it: what customers owe no longer agrees.
    expect(brokenChecks(r)).toEqual(['journals', 'debtorsControl']);
  });

  it('finds a journal line kept under another entity, in both entities', async () => {
    const move = (tx: Queryable) =>
      tx
        .query(
          `UPDATE journal_lines SET entity_id = $2
            WHERE id = (SELECT min(id) FROM journal_lines WHERE entity_id = $1 AND role = 'net')`,
          [c.entityId, other.entityId],
        )
        .then(() => undefined);
    const [mine, theirs] = await damaged(move, (tx) =>
      Promise.all(
        // The GL balances cache sums a line under its transaction's entity: it sees this too.
        [entity(), { id: other.entityId, code: 'OTHER' }].map((e) =>
          verifyLedger(tx, e, { skip: ['glBalancesCache'] }),
        ),
      ),
    );
    expect(brokenChecks(mine!)).toEqual(['journals']);
    expect(mine!.checks[0]!.problems).toEqual([
      expect.stringMatching(/journal line \d+ is kept under another entity$/),
    ]);
    expect(brokenChecks(theirs!)).toEqual(['journals']);
  });

  it('finds a document with more set against it than its gross', async () => {
    const r = await damaged(
      (tx) =>
        tx
          .query(
            `UPDATE allocations SET amount = amount * 3, debit_base_amount = debit_base_amount * 3, credit_base_amount = credit_base_amount * 3 WHERE entity_id = $1`,
            [c.entityId],
          )
          .then(() => undefined),
      (tx) => verifyLedger(tx, entity(), { skip: ['openItemsCache', 'glBalancesCache'] }),
    );
    // Both sides of the allocation moved alike, so the total owed still agrees: only this check sees it.
    expect(brokenChecks(r)).toEqual(['outstanding']);
    expect(r.checks.find((x) => x.name === 'outstanding')!.problems[0]).toMatch(/outstanding -\d+ of a gross of \d+/);
  });

  it('finds the open items cache disagreeing with the ledger', async () => {
    const r = await damaged(
      async (tx) => {
        const changed = await tx.query(
          `UPDATE open_items_cache SET outstanding = outstanding - 1 WHERE entity_id = $1`,
          [c.entityId],
        );
        expect(changed.rowCount).toBeGreaterThan(0);
      },
      (tx) => verifyLedger(tx, entity()),
    );
    expect(brokenChecks(r)).toEqual(['openItemsCache']);
    expect(r.checks.find((x) => x.name === 'openItemsCache')!.problems.join('\n')).toMatch(
      /open in the ledger but not in the cache: C1:/,
    );
  });

  it('finds the GL balances cache disagreeing with the journal lines', async () => {
    const r = await damaged(
      async (tx) => {
        const changed = await tx.query(
          `UPDATE gl_daily_balances SET base_amount = base_amount + 1
            WHERE entity_id = $1 AND gl_account_code = (SELECT min(gl_account_code) FROM gl_daily_balances WHERE entity_id = $1)`,
          [c.entityId],
        );
        expect(changed.rowCount).toBeGreaterThan(0);
      },
      (tx) => verifyLedger(tx, entity()),
    );
    expect(brokenChecks(r)).toEqual(['glBalancesCache']);
    expect(r.checks.at(-1)!.problems.join('\n')).toMatch(
      /in the journal lines but not in the cache: account \d+ -?\d+/,
    );
  });

  it('is a command: exit code 0 on a sound ledger, 1 and a clear refusal for an unknown entity', async () => {
    const place = await cliPlace();
    try {
      expect((await place.run(['entity', 'create', '--code', 'CLUB', '--name', 'Club'])).code).toBe(0);
      const ok = await place.run(['verify']);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain('CLUB (0 transactions): every invariant holds');
      const json = await place.run(['verify', '--entity', 'CLUB', '--json', '--skip-cache']);
      expect(JSON.parse(json.stdout).entities[0].checks.map((x: { name: string }) => x.name)).not.toContain(
        'openItemsCache',
      );
      const unknown = await place.run(['verify', '--entity', 'NOPE']);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('ENTITY_DOES_NOT_EXIST: No entity NOPE');
    } finally {
      await place.close();
    }
  }, 120_000);
});
