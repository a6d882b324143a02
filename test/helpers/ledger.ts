import type { Database } from '../../src/db/database.ts';
import { type GlBalance, glBalances, glBalancesFromLedger } from '../../src/ledger/reports/gl-balances.ts';
import { listOpenBalances, listOpenItems, listOpenItemsFromLedger } from '../../src/ledger/reports/open-items.ts';
import { controlReconciliation } from '../../src/ledger/reports/revaluation.ts';
import { verifyLedger } from '../../src/ledger/verify.ts';
import type { Client } from './app.ts';

/** Inserts a customer directly (the customers API has its own tests). */
export async function seedCustomer(
  db: Database,
  entityId: string,
  code: string,
  opts: {
    currency?: string;
    creditLimit?: bigint;
    creditDays?: number;
    endOfMonth?: boolean;
    onHold?: boolean;
    isActive?: boolean;
  } = {},
): Promise<void> {
  const { rows } = await db.query<{ base_currency: string }>('SELECT base_currency FROM entities WHERE id = $1', [
    entityId,
  ]);
  await db.query(
    `INSERT INTO customers (entity_id, code, name, currency, credit_limit, credit_days, credit_end_of_month, control_gl_account_code,
                            default_tax_code, default_gl_account_code, on_hold, is_active)
     VALUES ($1, $2, $3, $4, $5, $6, $7, '1100', 'STD', '4000', $8, $9)`,
    [
      entityId,
      code,
      `Customer ${code}`,
      opts.currency ?? rows[0]!.base_currency,
      opts.creditLimit ?? 0n,
      opts.creditDays ?? 30,
      opts.endOfMonth ?? false,
      opts.onHold ?? false,
      opts.isActive ?? true,
    ],
  );
}

export function invoice(customerCode: string, net: string, extra: Record<string, unknown> = {}) {
  return {
    customerCode,
    invoiceDate: '2026-11-01',
    externalReference: `INV-${Math.random().toString(36).slice(2, 10)}`,
    description: 'Invoice',
    lines: [{ glAccountCode: '4000', taxCode: 'STD', description: 'Goods', netAmount: net, taxRate: '0.21' }],
    ...extra,
  };
}

export function receipt(customerCode: string, amount: string, extra: Record<string, unknown> = {}) {
  return {
    customerCode,
    checkReference: `PAY-${Math.random().toString(36).slice(2, 10)}`,
    paymentAmount: amount,
    bankAccountCode: 'BANK',
    paymentDate: '2026-11-05',
    description: 'Receipt',
    ...extra,
  };
}

export async function postInvoice(c: Client, customerCode: string, net: string, extra: Record<string, unknown> = {}) {
  const r = await c.post('/v1/sales/batch-invoices', invoice(customerCode, net, extra));
  if (r.status !== 201) throw new Error(`invoice failed: ${JSON.stringify(r.body)}`);
  return r.body as { transactionId: number; number: number; grossAmount: string; dueDate: string };
}

export async function postReceipt(
  c: Client,
  customerCode: string,
  amount: string,
  extra: Record<string, unknown> = {},
) {
  const r = await c.post('/v1/sales/receipts', receipt(customerCode, amount, extra));
  if (r.status !== 201) throw new Error(`receipt failed: ${JSON.stringify(r.body)}`);
  return r.body as { transactionId: number; number: number };
}

/**
 * Every journal balances; the debtors control account equals the open items; nothing is
 * over-allocated; revaluations net to zero; the GL balances cache agrees with the journal lines
 * (src/ledger/verify.ts, what `ledgerlink verify` checks, without the open items cache, which
 * checkOpenItemsCache covers as at every date).
 */
export async function checkInvariants(db: Database, entityId: string): Promise<void> {
  const r = await verifyLedger(db, { id: entityId, code: entityId }, { skip: ['openItemsCache'] });
  const broken = r.checks.filter((c) => c.problems.length);
  if (broken.length) throw new Error(broken.map((c) => `${c.name}: ${c.problems.join('; ')}`).join('\n'));
}

/**
 * How many sales invoices the entity has, and under how many distinct references (compared as the
 * duplicate check compares them): equal, and equal to what the source sent, when each was posted once.
 */
export async function invoiceCounts(db: Database, entityId: string): Promise<{ invoices: number; references: number }> {
  const { rows } = await db.query<{ n: number; refs: number }>(
    `SELECT count(*)::int AS n, count(DISTINCT lower(external_reference))::int AS refs FROM transactions
      WHERE entity_id = $1 AND type = 'SI'`,
    [entityId],
  );
  return { invoices: rows[0]!.n, references: rows[0]!.refs };
}

/** An account's balance in base currency over all dates (debits positive), in minor units. */
export async function accountBalance(db: Database, entityId: string, code: string): Promise<bigint> {
  const { rows } = await db.query<{ b: string }>(
    'SELECT coalesce(sum(base_amount), 0)::text AS b FROM journal_lines WHERE entity_id = $1 AND gl_account_code = $2',
    [entityId, code],
  );
  return BigInt(rows[0]!.b);
}

/** The creditors control lines (of purchase invoices) equal the purchase invoices owed, in base. */
export async function checkCreditorsControl(db: Database, entityId: string): Promise<void> {
  const { rows } = await db.query<{ creditors: string; owed: string }>(
    `SELECT (SELECT coalesce(sum(j.base_amount), 0) FROM journal_lines j JOIN transactions x ON x.id = j.transaction_id
              WHERE x.entity_id = $1 AND x.type = 'PI' AND j.role = 'control')::text AS creditors,
            (SELECT coalesce(sum(base_gross), 0) FROM transactions WHERE entity_id = $1 AND type = 'PI')::text AS owed`,
    [entityId],
  );
  const r = rows[0]!;
  if (BigInt(r.creditors) !== -BigInt(r.owed))
    throw new Error(`creditors control ${r.creditors} != purchase invoices owed -${r.owed}`);
}

/** What each of two entities is owed by the other (due-from, 1150) is what the other owes it (due-to, 2150). */
export async function checkDueFromDueTo(db: Database, a: string, b: string): Promise<void> {
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    const from = await accountBalance(db, x, '1150');
    const to = await accountBalance(db, y, '2150');
    if (from + to !== 0n) throw new Error(`due-from ${from} in ${x} != due-to ${-to} in ${y}`);
  }
}

/**
 * As at each date: the debtors control account equals the open items plus the revaluations in
 * force (posted on or before the date and not reversed by then), which are `revalued.get(date)`:
 * a revaluation dated `at` is reversed on the next day (controlReconciliation,
 * src/ledger/reports/revaluation.ts).
 */
export async function checkControlAsAt(
  db: Database,
  entityId: string,
  dates: Iterable<string>,
  revalued: ReadonlyMap<string, bigint>,
): Promise<void> {
  for (const at of [...new Set(dates)].sort()) {
    await checkOpenItemsCache(db, entityId, at);
    await checkGlBalancesCache(db, entityId, at);
    const rec = await controlReconciliation(db, entityId, at);
    const want = revalued.get(at) ?? 0n;
    if (rec.difference !== 0n || rec.revaluation !== want)
      throw new Error(
        `control account as at ${at}: difference ${rec.difference} (want 0), revaluations in force ` +
          `${rec.revaluation} (want ${want}); control ${rec.controlAccount}, open items ${rec.openItems}`,
      );
  }
}

/**
 * As at `at`: every GL account's balance through the GL balances cache (migration 0109) is what
 * the journal lines alone give. Called after every step of the property tests (checkControlAsAt),
 * so the cache takes in every kind of posting, back-dated ones included.
 */
export async function checkGlBalancesCache(db: Database, entityId: string, at: string): Promise<void> {
  const show = (list: GlBalance[]) => list.map((b) => `${b.code}:${b.balance}`).join(' ');
  const [got, want] = [await glBalances(db, entityId, at), await glBalancesFromLedger(db, entityId, at)];
  if (show(got) !== show(want))
    throw new Error(
      `GL balances as at ${at} through the cache differ from the journal lines:\n  cache  ${show(got)}\n  ledger ${show(want)}`,
    );
}

/**
 * As at `at`: the open items through the cache (migration 0098), of the entity, of each customer
 * and for aging, are exactly what the ledger alone gives. Called after every step of the property
 * tests, so the cache is refreshed over every kind of change, dated before and after `at`.
 */
export async function checkOpenItemsCache(db: Database, entityId: string, at: string): Promise<void> {
  const want = await listOpenItemsFromLedger(db, entityId, at);
  const got = await listOpenItems(db, entityId, at);
  const show = (items: { transactionId?: number; customerCode: string; outstanding: bigint }[]) =>
    items.map((i) => `${i.customerCode}:${i.transactionId ?? ''}:${i.outstanding}`).join(' ');
  if (show(got) !== show(want) || JSON.stringify(got, big) !== JSON.stringify(want, big))
    throw new Error(
      `open items as at ${at} through the cache differ from the ledger:\n  cache  ${show(got)}\n  ledger ${show(want)}`,
    );
  const lean = (await listOpenBalances(db, entityId, at))
    .map((b) => `${b.customerCode}/${b.side}/${b.transactionDate}/${b.dueDate}/${b.outstanding}`)
    .sort();
  const fromItems = want
    .map((b) => `${b.customerCode}/${b.side}/${b.transactionDate}/${b.dueDate}/${b.outstanding}`)
    .sort();
  if (lean.join(' ') !== fromItems.join(' '))
    throw new Error(
      `open balances as at ${at} through the cache differ from the ledger:\n  cache  ${lean.join(' ')}\n  ledger ${fromItems.join(' ')}`,
    );
  for (const code of new Set(want.map((i) => i.customerCode))) {
    const one = await listOpenItems(db, entityId, at, code);
    if (
      JSON.stringify(one, big) !==
      JSON.stringify(
        want.filter((i) => i.customerCode === code),
        big,
      )
    )
      throw new Error(`open items of ${code} as at ${at} through the cache differ from the ledger`);
  }
}

const big = (_: string, v: unknown) => (typeof v === 'bigint' ? String(v) : v);
