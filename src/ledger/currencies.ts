import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { Dec } from '../domain/money.ts';
import type { EntityContext } from './entities.ts';
import { ABSOLUTE_HIGHEST, ABSOLUTE_LOWEST } from './posting/rate-bounds.ts';

/**
 * Dated exchange rates of an entity (issue #11). A rate is units of the currency per one unit of
 * base currency, the convention of a document's `exchangeRate`, in force from its date until the
 * next one's; a foreign-currency document sent without a rate takes the one in force on its date
 * (posting/dated-rates.ts).
 */
export interface DatedExchangeRate {
  currency: string;
  date: string;
  rate: string;
}

/** Why `rate` cannot be stored as a dated rate, or null. Same band as the absolute plausibility check. */
export function exchangeRateProblem(rate: string): string | null {
  const r = new Dec(rate);
  if (r.lt(ABSOLUTE_LOWEST) || r.gt(ABSOLUTE_HIGHEST)) {
    return `must be between ${ABSOLUTE_LOWEST.toFixed()} and ${ABSOLUTE_HIGHEST.toFixed()}`;
  }
  return null;
}

/** The base currency is 1 by definition: a dated rate for it is refused, never stored. */
export function refuseBaseCurrency(entity: EntityContext, currency: string, field: string): void {
  if (currency === entity.baseCurrency) {
    throw new DomainError(
      'EXCHANGE_RATE_FOR_BASE_CURRENCY',
      `${field}: ${currency} is the base currency of this entity; its rate is always 1`,
      [{ field, message: 'the base currency takes no rates' }],
    );
  }
}

export interface SavedRate {
  created: boolean;
  /** False when the day already had this very rate: nothing changed, nothing to audit. */
  changed: boolean;
  before: DatedExchangeRate | null;
  after: DatedExchangeRate;
}

/**
 * Sets the rate of `currency` from `date` (creating or replacing that day's rate). Documents
 * already posted keep the rate they were posted with.
 */
export async function putExchangeRate(
  db: Queryable,
  entity: EntityContext,
  currency: string,
  date: string,
  rate: string,
  actor: string,
): Promise<SavedRate> {
  refuseBaseCurrency(entity, currency, 'currency');
  const problem = exchangeRateProblem(rate);
  if (problem) throw new DomainError('VALIDATION_ERROR', `rate: ${problem}`, [{ field: 'rate', message: problem }]);
  const { rows: old } = await db.query<{ rate: string }>(
    `SELECT rate::text AS rate FROM exchange_rates WHERE entity_id = $1 AND currency = $2 AND rate_date = $3 FOR UPDATE`,
    [entity.id, currency, date],
  );
  const { rows } = await db.query<{ rate: string }>(
    `INSERT INTO exchange_rates (entity_id, currency, rate_date, rate, created_by) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (entity_id, currency, rate_date) DO UPDATE SET rate = EXCLUDED.rate, updated_at = now()
     RETURNING rate::text AS rate`,
    [entity.id, currency, date, rate, actor],
  );
  const before = old[0] ? { currency, date, rate: new Dec(old[0].rate).toFixed() } : null;
  const after = { currency, date, rate: new Dec(rows[0]!.rate).toFixed() };
  return { created: before === null, changed: before?.rate !== after.rate, before, after };
}

/** The rates of a currency dated from `from` to `to` (both inclusive, either open), oldest first. */
export async function listExchangeRates(
  db: Queryable,
  entityId: string,
  currency: string,
  from: string | undefined,
  to: string | undefined,
): Promise<DatedExchangeRate[]> {
  const { rows } = await db.query<{ date: string; rate: string }>(
    `SELECT rate_date::text AS date, rate::text AS rate FROM exchange_rates
      WHERE entity_id = $1 AND currency = $2
        AND ($3::date IS NULL OR rate_date >= $3::date) AND ($4::date IS NULL OR rate_date <= $4::date)
      ORDER BY rate_date`,
    [entityId, currency, from ?? null, to ?? null],
  );
  return rows.map((r) => ({ currency, date: r.date, rate: new Dec(r.rate).toFixed() }));
}

export interface CurrencySummary {
  currency: string;
  /** The newest rate (null when the currency has none yet, only customers). */
  latestRate: { date: string; rate: string } | null;
  rateCount: number;
  customerCount: number;
}

/**
 * The foreign currencies of an entity: those with dated rates and those its customers are in,
 * each with its newest rate, ordered by code.
 */
export async function listCurrencies(db: Queryable, entity: EntityContext): Promise<CurrencySummary[]> {
  const { rows } = await db.query<{
    currency: string;
    date: string | null;
    rate: string | null;
    rates: string;
    customers: string;
  }>(
    `WITH codes AS (
       SELECT currency FROM exchange_rates WHERE entity_id = $1
       UNION
       SELECT currency FROM customers WHERE entity_id = $1 AND currency <> $2::char(3)
     )
     SELECT c.currency, l.rate_date::text AS date, l.rate::text AS rate,
            (SELECT count(*) FROM exchange_rates x WHERE x.entity_id = $1 AND x.currency = c.currency) AS rates,
            (SELECT count(*) FROM customers u WHERE u.entity_id = $1 AND u.currency = c.currency) AS customers
       FROM codes c
       LEFT JOIN LATERAL (
         SELECT x.rate_date, x.rate FROM exchange_rates x
          WHERE x.entity_id = $1 AND x.currency = c.currency ORDER BY x.rate_date DESC LIMIT 1
       ) l ON true
      ORDER BY c.currency`,
    [entity.id, entity.baseCurrency],
  );
  return rows.map((r) => ({
    currency: r.currency.trim(),
    latestRate: r.date !== null ? { date: r.date, rate: new Dec(r.rate!).toFixed() } : null,
    rateCount: Number(r.rates),
    customerCount: Number(r.customers),
  }));
}
