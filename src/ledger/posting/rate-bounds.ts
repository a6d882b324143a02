import type { Queryable } from '../../db/database.ts';
import { DomainError } from '../../domain/errors.ts';
import type { TransactionType } from '../../domain/documents.ts';
import { Dec } from '../../domain/money.ts';
import type { NewTransaction } from './write.ts';

/**
 * Plausibility bounds on exchange rates (issue #9): a rate of 0.0000001 once booked a 12.10 USD
 * invoice as 121,000,000.00 EUR. A document's rate must lie within the entity's tolerance around
 * the last known rate of its currency, or within an absolute band when none is known, unless the
 * request confirms it.
 */

/** Whether and how a document's rate is checked; absent means checked, unconfirmed, as `exchangeRate`. */
export interface RateCheck {
  /** The request field the rate came from, named in the error. */
  field: string;
  /** The caller confirmed the rate (`confirmExchangeRate: true`), or it was copied from a posted document. */
  confirmed: boolean;
  /**
   * Other rates of the document's currency that value some of its lines: a receipt's
   * `bankExchangeRate` into a base-currency bank values the bank line, so 0.0000001 there books
   * 12.10 USD as 121,000,000.00 EUR in the bank as surely as it would as the document's rate.
   * Each is checked against the same band as the document's own rate.
   */
  others?: OtherRate[];
}

/** A rate of the document's currency besides its own (`RateCheck.others`). */
export interface OtherRate {
  field: string;
  rate: string;
  confirmed: boolean;
}

/** Documents whose rate a caller keys; the others carry 1 or a rate copied from a posted document. */
export const RATE_CHECKED_TYPES: ReadonlySet<TransactionType> = new Set(['SI', 'SR', 'SN', 'SD', 'SC']);

/** With no known rate for a currency only the absurd is refused: real rates between any two currencies fit. */
export const ABSOLUTE_LOWEST = new Dec('0.000001');
export const ABSOLUTE_HIGHEST = new Dec('1000000');

/** Decimals of the exchange_rate column (numeric(20, 10)). */
const RATE_DECIMALS = 10;

export interface KnownRate {
  rate: string;
  date: string;
}

export interface RateBand {
  lowest: Dec;
  highest: Dec;
}

/** The band of plausible rates: ±tolerance around the last known rate, or the absolute band. */
export function rateBand(last: KnownRate | null, tolerance: Dec): RateBand {
  if (!last) return { lowest: ABSOLUTE_LOWEST, highest: ABSOLUTE_HIGHEST };
  const rate = new Dec(last.rate);
  const below = Dec.max(new Dec(1).minus(tolerance), 0);
  return {
    lowest: rate.times(below).toDecimalPlaces(RATE_DECIMALS, Dec.ROUND_UP),
    highest: rate.times(new Dec(1).plus(tolerance)).toDecimalPlaces(RATE_DECIMALS, Dec.ROUND_DOWN),
  };
}

const percent = (tolerance: Dec) => `±${tolerance.times(100).toFixed()} %`;

/** The last known rates of some currencies and the entity's tolerance, read in one statement. */
export class RateBounds {
  private constructor(
    readonly baseCurrency: string,
    readonly tolerance: Dec,
    private readonly last: Map<string, KnownRate | null>,
  ) {}

  /**
   * Reads the entity's tolerance and, per currency, the rate of its most recent posted document
   * (by date, then by posting order): one probe of transactions_last_rate each.
   */
  static async load(db: Queryable, entityId: string, currencies: Iterable<string>): Promise<RateBounds> {
    const wanted = [...new Set(currencies)];
    const { rows } = await db.query<{
      base_currency: string;
      tolerance: string;
      currency: string | null;
      rate: string | null;
      date: string | null;
    }>(
      `SELECT e.base_currency, e.exchange_rate_tolerance::text AS tolerance, c.currency,
              last.exchange_rate::text AS rate, last.transaction_date::text AS date
         FROM entities e
         LEFT JOIN unnest($2::text[]) AS c(currency) ON true
         LEFT JOIN LATERAL (
           SELECT t.exchange_rate, t.transaction_date FROM transactions t
            WHERE t.entity_id = e.id AND t.currency = c.currency::char(3) AND t.type IN ('SI', 'SR', 'SN', 'SD', 'SC')
            ORDER BY t.transaction_date DESC, t.id DESC
            LIMIT 1
         ) last ON true
        WHERE e.id = $1`,
      [entityId, wanted],
    );
    if (!rows[0]) throw new DomainError('ENTITY_DOES_NOT_EXIST', `Entity ${entityId} does not exist`);
    const last = new Map<string, KnownRate | null>();
    for (const r of rows) {
      if (r.currency !== null) last.set(r.currency, r.rate !== null ? { rate: r.rate, date: r.date! } : null);
    }
    return new RateBounds(rows[0].base_currency.trim(), new Dec(rows[0].tolerance), last);
  }

  /**
   * Refuses a document whose rate, or another rate it books with (`RateCheck.others`), is outside
   * its currency's band, unless that rate was confirmed.
   */
  check(doc: NewTransaction): void {
    const rates = uncheckedRates(doc);
    if (rates.length === 0 || doc.currency === this.baseCurrency) return;
    const last = this.last.get(doc.currency);
    if (last === undefined) throw new Error(`RateBounds: ${doc.currency} was not loaded`);
    const band = rateBand(last, this.tolerance);
    for (const { field, rate: text } of rates) {
      const rate = new Dec(text);
      if (rate.gte(band.lowest) && rate.lte(band.highest)) continue;
      const lowest = band.lowest.toFixed();
      const highest = band.highest.toFixed();
      const where = last
        ? `${percent(this.tolerance)} around the last known rate ${new Dec(last.rate).toFixed()} (${last.date})`
        : `the plausible band for a currency without a known rate`;
      throw new DomainError(
        'EXCHANGE_RATE_IMPLAUSIBLE',
        `${field}: ${rate.toFixed()} ${doc.currency} per ${this.baseCurrency} is outside ${lowest} … ${highest}, ` +
          `${where}; correct it, or send confirmExchangeRate: true if it is right`,
        {
          field,
          exchangeRate: rate.toFixed(),
          currency: doc.currency,
          lastKnownRate: last ? new Dec(last.rate).toFixed() : null,
          lastKnownDate: last?.date ?? null,
          lowest,
          highest,
        },
      );
    }
  }
}

/**
 * The rates of a document still to check against its currency's band: its own unless confirmed,
 * then the others it books with (`RateCheck.others`) unless confirmed. None for a type whose rate
 * no caller keys, unless the document says how to check it (a general journal keyed by hand; a
 * fee a pipeline posts takes its receipt's rate); a document in the base currency is let through
 * by `RateBounds.check`.
 */
function uncheckedRates(doc: NewTransaction): { field: string; rate: string }[] {
  if (!RATE_CHECKED_TYPES.has(doc.type) && doc.rateCheck === undefined) return [];
  const check = doc.rateCheck ?? { field: 'exchangeRate', confirmed: false };
  const all = [{ field: check.field, rate: doc.exchangeRate, confirmed: check.confirmed }, ...(check.others ?? [])];
  return all.filter((r) => !r.confirmed);
}

/** Checks the rates of documents about to be posted (writeDocuments calls it: no path escapes). */
export async function checkExchangeRates(db: Queryable, entityId: string, docs: NewTransaction[]): Promise<void> {
  const checked = docs.filter((d) => uncheckedRates(d).length > 0);
  if (checked.length === 0) return;
  const bounds = await RateBounds.load(
    db,
    entityId,
    checked.map((d) => d.currency),
  );
  for (const d of checked) bounds.check(d);
}
