import { Dec } from '../../domain/money.ts';
import { addDays, MAX_DATE } from '../../domain/dates.ts';
import { DomainError } from '../../domain/errors.ts';
import type { JournalLine } from '../../domain/documents.ts';
import { requirePeriodOpen } from '../periods.ts';
import { type RevaluedCustomer, revaluationFigures } from '../reports/revaluation.ts';
import { lockCustomers } from './references.ts';
import { requireOpenAccounts, roleUse } from './role-accounts.ts';
import type { PostingContext } from './types.ts';
import { type NewTransaction, writeDocuments } from './write.ts';

/**
 * Period-end revaluation (AccountsIQ's unrealised FX revaluation): the unrealised difference of
 * each customer's open items in a foreign currency, posted on the revaluation date between the
 * customer's control account and the unrealised exchange gains and losses account (role
 * `fxUnrealised`, 7910), and reversed on the first day of the next period, the day after. Open
 * items keep their booked base amounts, so allocations and realised differences are unchanged.
 */

/** One customer's posting and its reversal. */
export interface RevaluationPosting {
  customerCode: string;
  currency: string;
  rate: string;
  /** Base currency: positive a gain (control debited), negative a loss. */
  difference: bigint;
  transactionId: number;
  number: number;
  reversalTransactionId: number;
  reversalNumber: number;
}

export interface Revaluation {
  revaluationId: number;
  at: string;
  reversalDate: string;
  baseCurrency: string;
  /** False when the revaluation of this date already existed: it is returned as it was posted. */
  created: boolean;
  postings: RevaluationPosting[];
  totalDifference: bigint;
}

function lines(ctx: PostingContext, c: RevaluedCustomer, sign: bigint, description: string): JournalLine[] {
  const d = sign * c.difference;
  return [
    {
      role: 'control',
      glAccountCode: c.controlGlAccountCode,
      departmentId: null,
      taxCode: null,
      description,
      amount: 0n,
      baseAmount: d,
    },
    {
      role: 'fx',
      glAccountCode: ctx.entity.roles.fxUnrealised,
      departmentId: null,
      taxCode: null,
      description,
      amount: 0n,
      baseAmount: -d,
    },
  ];
}

function rvTransaction(
  ctx: PostingContext,
  c: RevaluedCustomer,
  date: string,
  description: string,
  sign: bigint,
  details: Record<string, unknown>,
  related: number | null,
): NewTransaction {
  return {
    entityId: ctx.entity.id,
    type: 'RV',
    customerCode: c.customerCode,
    currency: c.currency,
    exchangeRate: c.rate,
    // The ledger chose the rate itself, from the entity's dated rates.
    rateCheck: { field: 'at', confirmed: true },
    transactionDate: date,
    dueDate: null,
    externalReference: '',
    description,
    net: 0n,
    tax: 0n,
    gross: 0n,
    baseGross: c.difference < 0n ? -c.difference : c.difference,
    duplicateChecked: false,
    relatedTransactionId: related,
    details,
    createdBy: ctx.actor,
    items: [],
    lines: lines(ctx, c, sign, description),
  };
}

/** The revaluation of a date as it was posted. */
export async function readRevaluation(
  ctx: PostingContext,
  id: number,
  at: string,
  reversalDate: string,
  created: boolean,
): Promise<Revaluation> {
  const { rows } = await ctx.db.query<{
    customer_code: string;
    currency: string;
    rate: string;
    id: string;
    number: string;
    difference: string;
    reversal_id: string;
    reversal_number: string;
  }>(
    `SELECT t.customer_code, t.currency, t.exchange_rate::text AS rate, t.id, t.number, t.details->>'difference' AS difference,
            r.id AS reversal_id, r.number AS reversal_number
       FROM transactions t
       JOIN transactions r ON r.related_transaction_id = t.id AND r.type = 'RV'
      WHERE t.entity_id = $1 AND t.type = 'RV' AND t.details->>'revaluationId' = $2 AND t.related_transaction_id IS NULL
      ORDER BY t.customer_code, t.currency`,
    [ctx.entity.id, String(id)],
  );
  const postings = rows.map((r) => ({
    customerCode: r.customer_code,
    currency: r.currency.trim(),
    rate: new Dec(r.rate).toFixed(),
    difference: BigInt(r.difference),
    transactionId: Number(r.id),
    number: Number(r.number),
    reversalTransactionId: Number(r.reversal_id),
    reversalNumber: Number(r.reversal_number),
  }));
  return {
    revaluationId: id,
    at,
    reversalDate,
    baseCurrency: ctx.entity.baseCurrency,
    created,
    postings,
    totalDifference: postings.reduce((s, p) => s + p.difference, 0n),
  };
}

/**
 * Posts the revaluation of `at` and its reversal the day after, once per date: the revaluations
 * row (unique per entity and date) is claimed first, so a second or concurrent call for the same
 * date finds the first and returns it (`created: false`) without posting anything.
 */
export async function postRevaluation(ctx: PostingContext, at: string): Promise<Revaluation> {
  if (at >= MAX_DATE) {
    throw new DomainError('DATE_OUT_OF_RANGE', `at: its reversal would be dated after ${MAX_DATE}`, [
      { field: 'at', message: `the reversal (the next day) would be after ${MAX_DATE}` },
    ]);
  }
  const reversalDate = addDays(at, 1);
  const { rows: claimed } = await ctx.db.query<{ id: string }>(
    `INSERT INTO revaluations (entity_id, at_date, reversal_date, created_by) VALUES ($1, $2, $3, $4)
     ON CONFLICT (entity_id, at_date) DO NOTHING RETURNING id`,
    [ctx.entity.id, at, reversalDate, ctx.actor],
  );
  if (!claimed[0]) {
    const { rows } = await ctx.db.query<{ id: string }>(
      `SELECT id FROM revaluations WHERE entity_id = $1 AND at_date = $2`,
      [ctx.entity.id, at],
    );
    return readRevaluation(ctx, Number(rows[0]!.id), at, reversalDate, false);
  }
  const id = Number(claimed[0].id);
  await requirePeriodOpen(ctx.db, ctx.entity.id, at, 'at', 'post a revaluation');
  // Every customer in a foreign currency, locked in code order like every posting, so the open
  // items cannot move while they are revalued.
  const { rows: foreign } = await ctx.db.query<{ code: string }>(
    `SELECT code FROM customers WHERE entity_id = $1 AND currency <> $2::char(3)`,
    [ctx.entity.id, ctx.entity.baseCurrency],
  );
  await lockCustomers(
    ctx.db,
    ctx.entity.id,
    foreign.map((r) => r.code),
  );
  const figures = await revaluationFigures(ctx.db, ctx.entity.id, ctx.entity.baseCurrency, at, 'at');
  const changed = figures.customers.filter((c) => c.difference !== 0n);
  if (changed.length > 0) {
    const use = roleUse(ctx.entity.roles, 'fxUnrealised', 'at', 'The revaluation');
    await requireOpenAccounts(ctx.db, ctx.entity.id, [use]);
  }
  const revalued = await writeDocuments(
    ctx.db,
    ctx.entity.id,
    changed.map((c) =>
      rvTransaction(ctx, c, at, `Unrealised exchange difference at ${at}`, 1n, detailsOf(id, c), null),
    ),
  );
  await writeDocuments(
    ctx.db,
    ctx.entity.id,
    changed.map((c, n) =>
      rvTransaction(
        ctx,
        c,
        reversalDate,
        `Reversal of the revaluation at ${at}`,
        -1n,
        { revaluationId: String(id), reverses: revalued.documents[n]!.id },
        revalued.documents[n]!.id,
      ),
    ),
  );
  return readRevaluation(ctx, id, at, reversalDate, true);
}

function detailsOf(id: number, c: RevaluedCustomer): Record<string, unknown> {
  return {
    revaluationId: String(id),
    difference: c.difference.toString(),
    outstanding: c.outstanding.toString(),
    baseOutstanding: c.baseOutstanding.toString(),
    revaluedBase: c.revaluedBase.toString(),
  };
}
