import type { Queryable } from '../../db/database.ts';
import { fieldError } from '../../domain/errors.ts';
import { type VatCategory, categoryRateProblem } from '../../domain/e-invoice-totals.ts';
import { Dec } from '../../domain/money.ts';
import { today } from '../../domain/dates.ts';
import { requirePostingGlAccount } from './references.ts';
import { type Saved, createdConcurrently, patch, requireOnCreate } from './upsert.ts';

/** The column is numeric(9, 6): more decimals would be rounded by the database without a word. */
export const TAX_RATE_DECIMALS = 6;

/** A rate in force from its date until the next one's. */
export interface DatedRate {
  from: string;
  rate: string;
}

export interface TaxCode {
  code: string;
  name: string;
  /** The rate in force today: a decimal fraction without trailing zeros, "0.21" for 21%. */
  rate: string;
  /** Every rate with the date it applies from, oldest first. */
  rates: DatedRate[];
  glAccountCode: string;
  isActive: boolean;
  /** The EN 16931 VAT category on e-invoices; null: S for a positive rate, Z for zero. */
  vatCategory: VatCategory | null;
  /** Why the supply is exempt (categories E, AE, K, G, O), as text and as a VATEX code. */
  vatExemptionReason: string | null;
  vatExemptionReasonCode: string | null;
}

/** The e-invoice fields of a tax code: absent unchanged, null cleared. */
export interface TaxCodeVatInput {
  vatCategory?: VatCategory | null | undefined;
  vatExemptionReason?: string | null | undefined;
  vatExemptionReasonCode?: string | null | undefined;
}

export interface TaxCodeInput extends TaxCodeVatInput {
  name?: string | undefined;
  /** A rate in force from today (on a new code: from the beginning). */
  rate?: string | undefined;
  /** The whole rate history, replacing the one kept. */
  rates?: DatedRate[] | undefined;
  glAccountCode?: string | undefined;
  isActive?: boolean | undefined;
}

interface TaxCodeRow {
  code: string;
  name: string;
  rate: string;
  gl_account_code: string;
  is_active: boolean;
  rates: DatedRate[] | string | null;
  vat_category: VatCategory | null;
  vat_exemption_reason: string | null;
  vat_exemption_reason_code: string | null;
}

const COLUMNS =
  'code, name, rate, gl_account_code, is_active, vat_category, vat_exemption_reason, vat_exemption_reason_code';
const RATES = `(SELECT json_agg(json_build_object('from', r.from_date::text, 'rate', r.rate::text) ORDER BY r.from_date)
                  FROM tax_rates r WHERE r.entity_id = tax_codes.entity_id AND r.tax_code = tax_codes.code) AS rates`;

/** The rate of `rates` (oldest first) in force on `date`, or null when the first starts later. */
export function rateOn(rates: readonly DatedRate[], date: string): string | null {
  let found: string | null = null;
  for (const r of rates) {
    if (r.from > date) break;
    found = r.rate;
  }
  return found;
}

/** Why `text` is not a tax rate (a plain decimal fraction 0..1, at most six decimals), or null when it is one. */
export function taxRateProblem(text: string): string | null {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return 'must be a decimal fraction such as "0.21"';
  if ((m[2] ?? '').replace(/0+$/, '').length > TAX_RATE_DECIMALS) {
    return `must have at most ${TAX_RATE_DECIMALS} decimals`;
  }
  if (new Dec(text).gt(1)) return 'must be between 0 and 1 ("0.21" for 21%)';
  return null;
}

/** "0.210000" → "0.21", "1.000000" → "1": the shortest exact text. */
export function normaliseRate(text: string): string {
  return new Dec(text).toFixed();
}

function toTaxCode(r: TaxCodeRow): TaxCode {
  const raw = typeof r.rates === 'string' ? (JSON.parse(r.rates) as DatedRate[]) : (r.rates ?? []);
  const rates = raw.map((x) => ({ from: x.from, rate: normaliseRate(x.rate) }));
  return {
    code: r.code,
    name: r.name,
    rate: rateOn(rates, today()) ?? normaliseRate(r.rate),
    rates,
    glAccountCode: r.gl_account_code,
    isActive: r.is_active,
    vatCategory: r.vat_category,
    vatExemptionReason: r.vat_exemption_reason,
    vatExemptionReasonCode: r.vat_exemption_reason_code,
  };
}

export async function listTaxCodes(db: Queryable, entityId: string): Promise<TaxCode[]> {
  const { rows } = await db.query<TaxCodeRow>(
    `SELECT ${COLUMNS}, ${RATES} FROM tax_codes WHERE entity_id = $1 ORDER BY code`,
    [entityId],
  );
  return rows.map(toTaxCode);
}

export async function findTaxCode(
  db: Queryable,
  entityId: string,
  code: string,
  options: { lock?: boolean } = {},
): Promise<TaxCode | null> {
  const { rows } = await db.query<TaxCodeRow>(
    `SELECT ${COLUMNS}, ${RATES} FROM tax_codes WHERE entity_id = $1 AND code = $2${options.lock ? ' FOR UPDATE' : ''}`,
    [entityId, code],
  );
  return rows[0] ? toTaxCode(rows[0]) : null;
}

/** The dates a rate may start on (the column's check). */
const FIRST_DATE = '1900-01-01';
const LAST_DATE = '2999-12-31';

/** Checks a rate history: at least one rate, each valid, no date twice; returns it oldest first. */
function checkRates(rates: DatedRate[]): DatedRate[] {
  if (rates.length === 0) throw fieldError('rates', 'must hold at least one rate');
  const seen = new Set<string>();
  rates.forEach((r, n) => {
    const problem = taxRateProblem(r.rate);
    if (problem) throw fieldError(`rates[${n}].rate`, problem);
    if (r.from < FIRST_DATE || r.from > LAST_DATE) {
      throw fieldError(`rates[${n}].from`, `must be between ${FIRST_DATE} and ${LAST_DATE}`);
    }
    if (seen.has(r.from)) throw fieldError(`rates[${n}].from`, `${r.from} is given twice`);
    seen.add(r.from);
  });
  return [...rates].sort((a, b) => a.from.localeCompare(b.from)).map((r) => ({ ...r, rate: normaliseRate(r.rate) }));
}

/**
 * Creates the tax code or updates the fields given. Its GL account is checked only when it is
 * set or changed, so renaming a code whose account was later closed still works. A plain `rate`
 * adds (or replaces) the rate from today; on a new code it applies from the beginning. `rates`
 * replaces the history. Posted documents keep the rate they were posted with either way.
 */
export async function saveTaxCode(
  db: Queryable,
  entityId: string,
  code: string,
  input: TaxCodeInput,
): Promise<Saved<TaxCode>> {
  if (input.rate !== undefined && input.rates !== undefined) {
    throw fieldError('rates', 'send either rate or rates, not both');
  }
  const before = await findTaxCode(db, entityId, code, { lock: true });
  const rates = input.rates === undefined ? undefined : checkRates(input.rates);
  if (input.rate !== undefined) {
    const rateProblem = taxRateProblem(input.rate);
    if (rateProblem) throw fieldError('rate', rateProblem);
  }
  let current = before;
  if (!current) {
    const created = requireOnCreate({ ...input, rate: input.rate ?? rates?.[0]?.rate }, [
      'name',
      'rate',
      'glAccountCode',
    ]);
    current = {
      code,
      name: created.name,
      rate: created.rate,
      rates: [],
      glAccountCode: created.glAccountCode,
      isActive: true,
      vatCategory: null,
      vatExemptionReason: null,
      vatExemptionReasonCode: null,
    };
  }
  const next = {
    code,
    name: patch(input.name, current.name),
    glAccountCode: patch(input.glAccountCode, current.glAccountCode),
    isActive: patch(input.isActive, current.isActive),
    vatCategory: input.vatCategory === undefined ? current.vatCategory : input.vatCategory,
    vatExemptionReason: input.vatExemptionReason === undefined ? current.vatExemptionReason : input.vatExemptionReason,
    vatExemptionReasonCode:
      input.vatExemptionReasonCode === undefined ? current.vatExemptionReasonCode : input.vatExemptionReasonCode,
  };
  if (next.glAccountCode !== before?.glAccountCode) {
    await requirePostingGlAccount(db, entityId, next.glAccountCode, 'glAccountCode');
  }
  // The history as it will be, to store the rate in force today on the code itself.
  let history: DatedRate[] = rates ?? current.rates;
  if (input.rate !== undefined && before) {
    history = [...history.filter((r) => r.from !== today()), { from: today(), rate: normaliseRate(input.rate) }].sort(
      (a, b) => a.from.localeCompare(b.from),
    );
  }
  if (next.vatCategory) {
    const all = history.length > 0 ? history.map((r) => r.rate) : [input.rate ?? current.rate];
    for (const rate of all) {
      const problem = categoryRateProblem(next.vatCategory, rate);
      if (problem) throw fieldError('vatCategory', problem);
    }
  }
  const rateToday = rateOn(history, today()) ?? history[0]?.rate ?? normaliseRate(current.rate);
  const values = [
    entityId,
    code,
    next.name,
    rateToday,
    next.glAccountCode,
    next.isActive,
    next.vatCategory,
    next.vatExemptionReason,
    next.vatExemptionReasonCode,
  ];
  const { rows } = before
    ? await db.query<{ code: string }>(
        `UPDATE tax_codes SET name = $3, rate = $4::numeric, gl_account_code = $5, is_active = $6,
                              vat_category = $7, vat_exemption_reason = $8, vat_exemption_reason_code = $9, updated_at = now()
          WHERE entity_id = $1 AND code = $2 RETURNING code`,
        values,
      )
    : await db.query<{ code: string }>(
        `INSERT INTO tax_codes (entity_id, code, name, rate, gl_account_code, is_active, vat_category,
                                vat_exemption_reason, vat_exemption_reason_code)
         VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8, $9) ON CONFLICT (entity_id, code) DO NOTHING RETURNING code`,
        values,
      );
  if (!rows[0]) throw createdConcurrently(`tax code ${code}`);
  // A new code got its first rate from the beginning (a trigger); a plain rate on an existing code
  // starts today; a history replaces whatever is kept.
  if (rates) {
    await db.query('DELETE FROM tax_rates WHERE entity_id = $1 AND tax_code = $2', [entityId, code]);
    await db.query(
      `INSERT INTO tax_rates (entity_id, tax_code, from_date, rate)
       SELECT $1, $2, r.from_date::date, r.rate::numeric FROM unnest($3::text[], $4::text[]) AS r(from_date, rate)`,
      [entityId, code, rates.map((r) => r.from), rates.map((r) => r.rate)],
    );
  } else if (input.rate !== undefined && before) {
    await db.query(
      `INSERT INTO tax_rates (entity_id, tax_code, from_date, rate) VALUES ($1, $2, $3::date, $4::numeric)
       ON CONFLICT (entity_id, tax_code, from_date) DO UPDATE SET rate = EXCLUDED.rate`,
      [entityId, code, today(), normaliseRate(input.rate)],
    );
  }
  const after = await findTaxCode(db, entityId, code);
  return { created: !before, before, after: after! };
}
