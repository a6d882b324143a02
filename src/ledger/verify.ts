import type { Queryable } from '../db/database.ts';
import { MAX_DATE } from '../domain/dates.ts';
import { glBalances, glBalancesFromLedger } from './reports/gl-balances.ts';
import { listOpenItems, listOpenItemsFromLedger } from './reports/open-items.ts';

/*
 * The ledger's invariants, checked from its tables: what an accountant (or a crash test) asks
 * before trusting the books. The database's rules keep them on every posting; this is the proof
 * afterwards, over everything posted, for `ledgerlink verify` and the tests.
 */

/** One invariant and what breaks it (empty when it holds). At most PROBLEMS_SHOWN are listed. */
export interface LedgerCheck {
  name: string;
  description: string;
  problems: string[];
}

export interface LedgerVerification {
  entity: string;
  transactions: number;
  checks: LedgerCheck[];
  ok: boolean;
}

export const PROBLEMS_SHOWN = 20;

const CHECKS = {
  journals: 'every document has a journal in its own entity, and every journal balances (in its currency and in base)',
  outstanding: 'no document has more set against it than its gross, or less than nothing',
  debtorsControl: 'the debtors control account equals what customers owe, in base',
  revaluations: 'revaluations and their reversals net to zero over all dates',
  creditorsControl: 'the creditors control account equals the purchase invoices owed, in base',
  openItemsCache: 'the open items cache gives what the ledger alone gives',
  glBalancesCache: 'the GL balances cache gives the trial balance the journal lines alone give',
} as const;

export type CheckName = keyof typeof CHECKS;

export interface VerifyOptions {
  /** Leave checks out (the open items cache check reads the whole ledger twice). */
  skip?: CheckName[];
}

/** Checks every invariant of one entity's ledger. */
export async function verifyLedger(
  db: Queryable,
  entity: { id: string; code: string },
  opts: VerifyOptions = {},
): Promise<LedgerVerification> {
  const skip = new Set(opts.skip ?? []);
  const checks: LedgerCheck[] = [];
  const check = async (name: CheckName, find: () => Promise<string[]>) => {
    if (skip.has(name)) return;
    const problems = await find();
    checks.push({ name, description: CHECKS[name], problems: problems.slice(0, PROBLEMS_SHOWN) });
  };
  const id = entity.id;

  await check('journals', async () => {
    const { rows } = await db.query<{ id: string; type: string; ref: string; amount: string; base: string }>(
      `SELECT t.id::text, t.type, t.external_reference AS ref,
              coalesce(sum(j.amount), 0)::text AS amount, coalesce(sum(j.base_amount), 0)::text AS base
         FROM transactions t LEFT JOIN journal_lines j ON j.transaction_id = t.id
        WHERE t.entity_id = $1
        GROUP BY t.id
       HAVING count(j.transaction_id) = 0 OR sum(j.amount) <> 0 OR sum(j.base_amount) <> 0
        ORDER BY t.id LIMIT ${PROBLEMS_SHOWN}`,
      [id],
    );
    // A line kept under another entity than its document's: each entity's reports (the trial
    // balance sums an entity's lines) would count it in the wrong books.
    const { rows: strays } = await db.query<{ id: string; type: string; ref: string; line: number }>(
      `SELECT t.id::text, t.type, t.external_reference AS ref, j.line_no AS line
         FROM journal_lines j JOIN transactions t ON t.id = j.transaction_id
        WHERE t.entity_id = $1 AND j.entity_id <> $1
       UNION ALL
       SELECT t.id::text, t.type, t.external_reference, j.line_no
         FROM journal_lines j JOIN transactions t ON t.id = j.transaction_id
        WHERE j.entity_id = $1 AND t.entity_id <> $1
        ORDER BY 1, 4 LIMIT ${PROBLEMS_SHOWN}`,
      [id],
    );
    return [
      ...rows.map((r) =>
        r.amount === '0' && r.base === '0'
          ? `transaction ${r.id} (${r.type} ${r.ref}) has no journal`
          : `transaction ${r.id} (${r.type} ${r.ref}): journal is off by ${r.amount} (currency) and ${r.base} (base), in minor units`,
      ),
      ...strays.map(
        (r) => `transaction ${r.id} (${r.type} ${r.ref}): journal line ${r.line} is kept under another entity`,
      ),
    ];
  });

  // What is set against each document: allocations not reversed, on either side.
  const applied = `
    WITH active AS (
      SELECT a.* FROM allocations a
       WHERE a.entity_id = $1 AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)
    ), applied AS (
      SELECT tx, sum(amount) AS amount, sum(base) AS base FROM (
        SELECT debit_transaction_id AS tx, amount, debit_base_amount AS base FROM active
        UNION ALL
        SELECT credit_transaction_id, amount, credit_base_amount FROM active
      ) x GROUP BY tx
    ), per_tx AS (
      SELECT t.id, t.type, t.external_reference, t.side, t.gross,
             t.gross - coalesce(a.amount, 0) AS outstanding,
             t.base_gross - coalesce(a.base, 0) AS base_outstanding
        FROM transactions t LEFT JOIN applied a ON a.tx = t.id
       WHERE t.entity_id = $1 AND t.side <> 'none'
    )`;

  await check('outstanding', async () => {
    const { rows } = await db.query<{ id: string; type: string; ref: string; gross: string; outstanding: string }>(
      `${applied}
       SELECT id::text, type, external_reference AS ref, gross::text, outstanding::text FROM per_tx
        WHERE outstanding < 0 OR outstanding > gross ORDER BY id LIMIT ${PROBLEMS_SHOWN}`,
      [id],
    );
    return rows.map(
      (r) => `transaction ${r.id} (${r.type} ${r.ref}): outstanding ${r.outstanding} of a gross of ${r.gross}`,
    );
  });

  const { rows: totals } = await db.query<{ control: string; revaluation: string; open: string }>(
    `${applied}
     SELECT (SELECT coalesce(sum(j.base_amount), 0) FROM journal_lines j JOIN transactions t ON t.id = j.transaction_id
              WHERE j.entity_id = $1 AND j.role = 'control' AND t.type <> 'RV' AND t.supplier_code IS NULL)::text AS control,
            (SELECT coalesce(sum(j.base_amount), 0) FROM journal_lines j JOIN transactions t ON t.id = j.transaction_id
              WHERE j.entity_id = $1 AND j.role = 'control' AND t.type = 'RV')::text AS revaluation,
            (SELECT coalesce(sum(CASE WHEN side = 'debit' THEN base_outstanding ELSE -base_outstanding END), 0)
               FROM per_tx)::text AS open`,
    [id],
  );
  const t = totals[0]!;
  await check('debtorsControl', () =>
    Promise.resolve(
      t.control === t.open
        ? []
        : [`the debtors control account is ${t.control} but customers owe ${t.open} (base, minor units)`],
    ),
  );
  // A revaluation moves the control account on its date and its reversal moves it back the next
  // day; both are posted together (src/ledger/reports/revaluation.ts).
  await check('revaluations', () =>
    Promise.resolve(t.revaluation === '0' ? [] : [`revaluations and their reversals net to ${t.revaluation}, not 0`]),
  );

  await check('creditorsControl', async () => {
    const { rows } = await db.query<{ creditors: string; owed: string }>(
      `SELECT (SELECT coalesce(sum(j.base_amount), 0) FROM journal_lines j JOIN transactions x ON x.id = j.transaction_id
                WHERE x.entity_id = $1 AND x.type = 'PI' AND j.role = 'control')::text AS creditors,
              (SELECT coalesce(sum(base_gross), 0) FROM transactions WHERE entity_id = $1 AND type = 'PI')::text AS owed`,
      [id],
    );
    const r = rows[0]!;
    return BigInt(r.creditors) === -BigInt(r.owed)
      ? []
      : [`the creditors control account is ${r.creditors} but purchase invoices owe ${r.owed} (base, minor units)`];
  });

  await check('openItemsCache', async () => {
    const show = (i: { transactionId: number; customerCode: string; outstanding: bigint }) =>
      `${i.customerCode}:${i.transactionId}:${i.outstanding}`;
    const ledger = new Set((await listOpenItemsFromLedger(db, id, MAX_DATE)).map(show));
    const cache = new Set((await listOpenItems(db, id, MAX_DATE)).map(show));
    return [
      ...[...ledger].filter((x) => !cache.has(x)).map((x) => `open in the ledger but not in the cache: ${x}`),
      ...[...cache].filter((x) => !ledger.has(x)).map((x) => `open in the cache but not in the ledger: ${x}`),
    ];
  });

  await check('glBalancesCache', async () => {
    const show = (b: { code: string; balance: bigint }) => `${b.code} ${b.balance}`;
    const ledger = new Set((await glBalancesFromLedger(db, id, MAX_DATE)).map(show));
    const cache = new Set((await glBalances(db, id, MAX_DATE)).map(show));
    return [
      ...[...ledger].filter((x) => !cache.has(x)).map((x) => `in the journal lines but not in the cache: account ${x}`),
      ...[...cache].filter((x) => !ledger.has(x)).map((x) => `in the cache but not in the journal lines: account ${x}`),
    ];
  });

  const { rows: counted } = await db.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM transactions WHERE entity_id = $1',
    [id],
  );
  return {
    entity: entity.code,
    transactions: Number(counted[0]!.n),
    checks,
    ok: checks.every((c) => c.problems.length === 0),
  };
}
