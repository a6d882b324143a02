import type { Queryable } from '../db/database.ts';
import { dateProblem } from '../domain/dates.ts';
import { DomainError, type FieldProblem, fieldError } from '../domain/errors.ts';
import { bicProblem, ibanProblem, normalizeIban } from '../domain/iban.ts';
import { Dec } from '../domain/money.ts';
import { checkDateInRange } from './periods.ts';
import { type Branding, type BrandingInput, getBranding, saveBranding } from './branding.ts';
import {
  type ItemTaxSettings,
  type ItemTaxSettingsInput,
  getItemTaxSettings,
  saveItemTaxSettings,
} from './item-settings.ts';

/** An entity's ledger settings. */
export interface EntitySettings {
  /** Nothing is posted, allocated or reversed on or before this date; null when the books are open. */
  lockDate: string | null;
}

export async function getSettings(db: Queryable, entityId: string): Promise<EntitySettings> {
  const { rows } = await db.query<{ lock_date: string | null }>(
    `SELECT lock_date::text AS lock_date FROM entities WHERE id = $1`,
    [entityId],
  );
  if (!rows[0]) throw new DomainError('ENTITY_DOES_NOT_EXIST', `Entity ${entityId} does not exist`);
  return { lockDate: rows[0].lock_date };
}

/**
 * Changes the settings sent (absent is unchanged; `lockDate: null` opens the books). The entity
 * row is locked, so a change of the lock date waits for postings in flight (they read it FOR SHARE)
 * and every later posting sees it.
 */
export async function updateSettings(
  db: Queryable,
  entityId: string,
  patch: { lockDate?: string | null | undefined },
): Promise<{ before: EntitySettings; after: EntitySettings }> {
  const { rows } = await db.query<{ lock_date: string | null }>(
    `SELECT lock_date::text AS lock_date FROM entities WHERE id = $1 FOR UPDATE`,
    [entityId],
  );
  if (!rows[0]) throw new DomainError('ENTITY_DOES_NOT_EXIST', `Entity ${entityId} does not exist`);
  const before: EntitySettings = { lockDate: rows[0].lock_date };
  const after: EntitySettings = { ...before };
  if (patch.lockDate !== undefined) {
    if (patch.lockDate !== null) checkDateInRange(patch.lockDate, 'lockDate');
    after.lockDate = patch.lockDate;
    await db.query(`UPDATE entities SET lock_date = $2 WHERE id = $1`, [entityId, patch.lockDate]);
  }
  return { before, after };
}

export type DiscountVatTreatment = 'gross' | 'adjustVat';
export const DISCOUNT_VAT_TREATMENTS = ['gross', 'adjustVat'] as const;

/** The entity settings of the VAT rules. */
export interface VatSettings {
  /** `gross`: a settlement discount goes whole to discount allowed; `adjustVat`: its VAT part reduces output VAT. */
  discountVatTreatment: DiscountVatTreatment;
  /** How far supplied VAT may differ from net × rate, in units of the document's currency per line, before a warning. */
  vatTolerance: string;
}

export interface VatSettingsInput {
  discountVatTreatment?: DiscountVatTreatment | undefined;
  vatTolerance?: string | undefined;
}

/** The columns are numeric(20, 6): 14 digits before the point, 6 after. */
const TOLERANCE_DIGITS = 14;
const TOLERANCE_DECIMALS = 6;

/** Why `text` is not a tolerance (a non-negative decimal the column holds), or null; `example` is a good one. */
function toleranceProblem(text: string, example: string): string | null {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return `must be a non-negative decimal such as "${example}"`;
  if (m[1]!.replace(/^0+/, '').length > TOLERANCE_DIGITS) {
    return `is too big: at most ${TOLERANCE_DIGITS} digits before the decimal point`;
  }
  if ((m[2] ?? '').replace(/0+$/, '').length > TOLERANCE_DECIMALS) {
    return `must have at most ${TOLERANCE_DECIMALS} decimals`;
  }
  return null;
}

/** Why `text` is not a VAT tolerance (a non-negative decimal, at most 14 digits and six decimals), or null. */
export function vatToleranceProblem(text: string): string | null {
  return toleranceProblem(text, '1');
}

interface SettingsRow {
  discount_vat_treatment: DiscountVatTreatment;
  vat_tolerance: string;
}

const toSettings = (r: SettingsRow): VatSettings => ({
  discountVatTreatment: r.discount_vat_treatment,
  vatTolerance: new Dec(r.vat_tolerance).toFixed(),
});

export async function getVatSettings(db: Queryable, entityId: string, options: { lock?: boolean } = {}) {
  const { rows } = await db.query<SettingsRow>(
    `SELECT discount_vat_treatment, vat_tolerance::text AS vat_tolerance FROM entities WHERE id = $1${options.lock ? ' FOR UPDATE' : ''}`,
    [entityId],
  );
  if (!rows[0]) throw new DomainError('ENTITY_DOES_NOT_EXIST', `Entity ${entityId} does not exist`);
  return toSettings(rows[0]);
}

/** Changes the settings given; absent ones keep their value. */
export async function saveVatSettings(
  db: Queryable,
  entityId: string,
  input: VatSettingsInput,
): Promise<{ before: VatSettings; after: VatSettings }> {
  const before = await getVatSettings(db, entityId, { lock: true });
  if (input.vatTolerance !== undefined) {
    const problem = vatToleranceProblem(input.vatTolerance);
    if (problem) throw fieldError('vatTolerance', problem);
  }
  const { rows } = await db.query<SettingsRow>(
    `UPDATE entities SET discount_vat_treatment = coalesce($2, discount_vat_treatment),
                         vat_tolerance = coalesce($3::numeric, vat_tolerance)
      WHERE id = $1 RETURNING discount_vat_treatment, vat_tolerance::text AS vat_tolerance`,
    [entityId, input.discountVatTreatment ?? null, input.vatTolerance ?? null],
  );
  return { before, after: toSettings(rows[0]!) };
}

/** The plausibility band of exchange rates (src/ledger/posting/rate-bounds.ts). */
export interface RateSettings {
  /** How far a document's rate may differ from the last known rate of its currency, as a fraction ("0.5" = ±50 %). */
  exchangeRateTolerance: string;
}

/** Why `text` is not an exchange-rate tolerance (a non-negative fraction, at most six decimals), or null. */
export function exchangeRateToleranceProblem(text: string): string | null {
  return toleranceProblem(text, '0.5');
}

export async function getRateSettings(db: Queryable, entityId: string): Promise<RateSettings> {
  const { rows } = await db.query<{ tolerance: string }>(
    `SELECT exchange_rate_tolerance::text AS tolerance FROM entities WHERE id = $1`,
    [entityId],
  );
  if (!rows[0]) throw new DomainError('ENTITY_DOES_NOT_EXIST', `Entity ${entityId} does not exist`);
  return { exchangeRateTolerance: new Dec(rows[0].tolerance).toFixed() };
}

/** Changes the tolerance when given (the entity row is already locked by the caller's transaction). */
async function saveRateSettings(
  db: Queryable,
  entityId: string,
  input: { exchangeRateTolerance?: string | undefined },
): Promise<{ before: RateSettings; after: RateSettings }> {
  const before = await getRateSettings(db, entityId);
  if (input.exchangeRateTolerance === undefined) return { before, after: before };
  const problem = exchangeRateToleranceProblem(input.exchangeRateTolerance);
  if (problem) throw fieldError('exchangeRateTolerance', problem);
  await db.query(`UPDATE entities SET exchange_rate_tolerance = $2::numeric WHERE id = $1`, [
    entityId,
    input.exchangeRateTolerance,
  ]);
  return { before, after: await getRateSettings(db, entityId) };
}

/** Every setting of an entity, as GET /v1/settings shows them. */
export type AllSettings = EntitySettings & VatSettings & RateSettings & ItemTaxSettings & { branding: Branding };

export async function getAllSettings(db: Queryable, entityId: string): Promise<AllSettings> {
  return {
    ...(await getSettings(db, entityId)),
    ...(await getVatSettings(db, entityId)),
    ...(await getRateSettings(db, entityId)),
    branding: await getBranding(db, entityId),
    ...(await getItemTaxSettings(db, entityId)),
  };
}

/** A change of the settings: absent fields keep their value. */
export type SettingsPatch = {
  lockDate?: string | null | undefined;
  exchangeRateTolerance?: string | undefined;
  branding?: BrandingInput | undefined;
} & VatSettingsInput &
  ItemTaxSettingsInput;

/**
 * Every problem of the values of a change, one per field (named as the change names it:
 * `vatTolerance`, `branding.iban`), so that a refusal lists them all at once rather than the first.
 */
export function settingsProblems(patch: SettingsPatch): (FieldProblem & { outOfRange?: true })[] {
  const problems: (FieldProblem & { outOfRange?: true })[] = [];
  if (patch.lockDate != null) {
    const problem = dateProblem(patch.lockDate);
    if (problem)
      problems.push({
        field: 'lockDate',
        message: problem.message,
        ...(problem.kind === 'OUT_OF_RANGE' ? { outOfRange: true as const } : {}),
      });
  }
  const vat = patch.vatTolerance === undefined ? null : vatToleranceProblem(patch.vatTolerance);
  if (vat) problems.push({ field: 'vatTolerance', message: vat });
  const rate =
    patch.exchangeRateTolerance === undefined ? null : exchangeRateToleranceProblem(patch.exchangeRateTolerance);
  if (rate) problems.push({ field: 'exchangeRateTolerance', message: rate });
  // As saveBranding reads them: spaces alone clear the field.
  const iban = patch.branding?.iban == null ? '' : normalizeIban(patch.branding.iban);
  const ibanWrong = iban ? ibanProblem(iban) : null;
  if (ibanWrong) problems.push({ field: 'branding.iban', message: ibanWrong });
  const bic = patch.branding?.bic == null ? '' : patch.branding.bic.trim().toUpperCase();
  const bicWrong = bic ? bicProblem(bic) : null;
  if (bicWrong) problems.push({ field: 'branding.bic', message: bicWrong });
  return problems;
}

/**
 * Changes the settings sent, in one transaction with the entity row locked; absent ones keep their
 * value. A change with wrong values is refused whole, naming every one (VALIDATION_ERROR, one
 * detail per field; DATE_OUT_OF_RANGE when a lock date outside the ledger's range is all there is).
 */
export async function updateAllSettings(
  db: Queryable,
  entityId: string,
  patch: SettingsPatch,
): Promise<{ before: AllSettings; after: AllSettings }> {
  const problems = settingsProblems(patch);
  if (problems.length) {
    const details = problems.map(({ field, message }) => ({ field, message }));
    throw new DomainError(
      problems.every((p) => p.outOfRange) ? 'DATE_OUT_OF_RANGE' : 'VALIDATION_ERROR',
      details.map((p) => `${p.field}: ${p.message}`).join('; '),
      details,
    );
  }
  return db.transaction(async (tx) => {
    const dates = await updateSettings(tx, entityId, { lockDate: patch.lockDate });
    const vat = await saveVatSettings(tx, entityId, {
      discountVatTreatment: patch.discountVatTreatment,
      vatTolerance: patch.vatTolerance,
    });
    const rates = await saveRateSettings(tx, entityId, { exchangeRateTolerance: patch.exchangeRateTolerance });
    const items = await saveItemTaxSettings(tx, entityId, {
      taxCalculation: patch.taxCalculation,
      taxRounding: patch.taxRounding,
    });
    const branding = await saveBranding(tx, entityId, patch.branding ?? {});
    return {
      before: { ...dates.before, ...vat.before, ...rates.before, ...items.before, branding: branding.before },
      after: { ...dates.after, ...vat.after, ...rates.after, ...items.after, branding: branding.after },
    };
  });
}
