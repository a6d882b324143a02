import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import type { TaxCalculation } from '../domain/item-lines.ts';
import type { Rounding } from '../domain/money.ts';

/** How ledgerlink computes the tax of item documents (migration 0072; docs/ledger.md "Item invoices"). */
export interface ItemTaxSettings {
  /** `perLine`: each line's net × rate, rounded; `perDocument`: each rate's total net × rate, rounded once. */
  taxCalculation: TaxCalculation;
  /** How computed nets and taxes round at the half: `halfUp` (away from zero) or `halfEven` (banker's). */
  taxRounding: Rounding;
}

export type ItemTaxSettingsInput = { [K in keyof ItemTaxSettings]?: ItemTaxSettings[K] | undefined };

export async function getItemTaxSettings(db: Queryable, entityId: string): Promise<ItemTaxSettings> {
  const { rows } = await db.query<{ tax_calculation: TaxCalculation; tax_rounding: Rounding }>(
    `SELECT tax_calculation, tax_rounding FROM entities WHERE id = $1`,
    [entityId],
  );
  if (!rows[0]) throw new DomainError('ENTITY_DOES_NOT_EXIST', `Entity ${entityId} does not exist`);
  return { taxCalculation: rows[0].tax_calculation, taxRounding: rows[0].tax_rounding };
}

/** Changes the settings given (the caller's transaction holds the entity row lock). */
export async function saveItemTaxSettings(
  db: Queryable,
  entityId: string,
  input: ItemTaxSettingsInput,
): Promise<{ before: ItemTaxSettings; after: ItemTaxSettings }> {
  const before = await getItemTaxSettings(db, entityId);
  if (input.taxCalculation === undefined && input.taxRounding === undefined) return { before, after: before };
  await db.query(
    `UPDATE entities SET tax_calculation = coalesce($2, tax_calculation), tax_rounding = coalesce($3, tax_rounding)
      WHERE id = $1`,
    [entityId, input.taxCalculation ?? null, input.taxRounding ?? null],
  );
  return { before, after: await getItemTaxSettings(db, entityId) };
}
