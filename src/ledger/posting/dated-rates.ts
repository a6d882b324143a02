import type { Queryable } from '../../db/database.ts';
import { isValidDate } from '../../domain/dates.ts';
import { Dec } from '../../domain/money.ts';

/** A currency and the date a document needs its rate for. */
export interface RateWanted {
  currency: string;
  date: string;
}

/** The rate in force on a date: the latest one dated on or before it, and that rate's own date. */
export interface RateInForce {
  rate: string;
  date: string;
}

const key = (currency: string, date: string) => `${currency}|${date}`;

/**
 * Exchange rates in force for the (currency, date) pairs a posting needs, read up front in one
 * statement so that the documents can be built without further I/O (see `exchangeRateFor`).
 */
export class RatesInForce {
  private constructor(private readonly found: Map<string, RateInForce | null>) {}

  /** No pairs loaded: asking for one is a programming error, not a missing rate. */
  static none(): RatesInForce {
    return new RatesInForce(new Map());
  }

  /**
   * For each pair, the entity's latest rate of the currency dated on or before the date: one
   * backwards probe of the exchange_rates primary key each. A date that is not a calendar day
   * finds nothing (the document's own date check names it first).
   */
  static async load(db: Queryable, entityId: string, wanted: Iterable<RateWanted>): Promise<RatesInForce> {
    const found = new Map<string, RateInForce | null>();
    const currencies: string[] = [];
    const dates: string[] = [];
    for (const w of wanted) {
      const k = key(w.currency, w.date);
      if (found.has(k)) continue;
      found.set(k, null);
      if (/^[A-Z]{3}$/.test(w.currency) && isValidDate(w.date)) {
        currencies.push(w.currency);
        dates.push(w.date);
      }
    }
    if (currencies.length > 0) {
      const { rows } = await db.query<{ currency: string; day: string; rate: string | null; rate_date: string | null }>(
        `SELECT w.currency, w.day::text AS day, r.rate::text AS rate, r.rate_date::text AS rate_date
           FROM unnest($2::text[], $3::date[]) AS w(currency, day)
           LEFT JOIN LATERAL (
             SELECT x.rate, x.rate_date FROM exchange_rates x
              WHERE x.entity_id = $1 AND x.currency = w.currency::char(3) AND x.rate_date <= w.day
              ORDER BY x.rate_date DESC
              LIMIT 1
           ) r ON true`,
        [entityId, currencies, dates],
      );
      for (const r of rows) {
        if (r.rate !== null) found.set(key(r.currency, r.day), { rate: new Dec(r.rate).toFixed(), date: r.rate_date! });
      }
    }
    return new RatesInForce(found);
  }

  /** The rate of `currency` in force on `date`, or null when the entity has none dated on or before it. */
  get(currency: string, date: string): RateInForce | null {
    const r = this.found.get(key(currency, date));
    if (r === undefined) throw new Error(`RatesInForce: ${currency} on ${date} was not loaded`);
    return r;
  }
}
