import type { Queryable } from '../../db/database.ts';
import { fieldError } from '../../domain/errors.ts';
import { Dec } from '../../domain/money.ts';
import { requirePostingGlAccount } from './references.ts';
import { type Saved, createdConcurrently, patch, requireOnCreate } from './upsert.ts';

/** The column is numeric(9, 6): more decimals would be rounded by the database without a word. */
export const TAX_RATE_DECIMALS = 6;

export interface TaxCode {
  code: string;
  name: string;
  /** A decimal fraction without trailing zeros: "0.21" for 21%. */
  rate: string;
  glAccountCode: string;
  isActive: boolean;
}

export interface TaxCodeInput {
  name?: string | undefined;
  rate?: string | undefined;
  glAccountCode?: string | undefined;
  isActive?: boolean | undefined;
}

interface TaxCodeRow {
  code: string;
  name: string;
  rate: string;
  gl_account_code: string;
  is_active: boolean;
}

const COLUMNS = 'code, name, rate, gl_account_code, is_active';

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
  return {
    code: r.code,
    name: r.name,
    rate: normaliseRate(r.rate),
    glAccountCode: r.gl_account_code,
    isActive: r.is_active,
  };
}

export async function listTaxCodes(db: Queryable, entityId: string): Promise<TaxCode[]> {
  const { rows } = await db.query<TaxCodeRow>(`SELECT ${COLUMNS} FROM tax_codes WHERE entity_id = $1 ORDER BY code`, [
    entityId,
  ]);
  return rows.map(toTaxCode);
}

export async function findTaxCode(
  db: Queryable,
  entityId: string,
  code: string,
  options: { lock?: boolean } = {},
): Promise<TaxCode | null> {
  const { rows } = await db.query<TaxCodeRow>(
    `SELECT ${COLUMNS} FROM tax_codes WHERE entity_id = $1 AND code = $2${options.lock ? ' FOR UPDATE' : ''}`,
    [entityId, code],
  );
  return rows[0] ? toTaxCode(rows[0]) : null;
}

/**
 * Creates the tax code or updates the fields given. Its GL account is checked only when it is
 * set or changed, so renaming a code whose account was later closed still works.
 */
export async function saveTaxCode(
  db: Queryable,
  entityId: string,
  code: string,
  input: TaxCodeInput,
): Promise<Saved<TaxCode>> {
  const before = await findTaxCode(db, entityId, code, { lock: true });
  let current = before;
  if (!current) {
    const { name, rate, glAccountCode } = requireOnCreate(input, ['name', 'rate', 'glAccountCode']);
    current = { code, name, rate, glAccountCode, isActive: true };
  }
  const next: TaxCode = {
    code,
    name: patch(input.name, current.name),
    rate: patch(input.rate, current.rate),
    glAccountCode: patch(input.glAccountCode, current.glAccountCode),
    isActive: patch(input.isActive, current.isActive),
  };
  const rateProblem = taxRateProblem(next.rate);
  if (rateProblem) throw fieldError('rate', rateProblem);
  if (next.glAccountCode !== before?.glAccountCode) {
    await requirePostingGlAccount(db, entityId, next.glAccountCode, 'glAccountCode');
  }
  const values = [entityId, code, next.name, normaliseRate(next.rate), next.glAccountCode, next.isActive];
  const { rows } = before
    ? await db.query<TaxCodeRow>(
        `UPDATE tax_codes SET name = $3, rate = $4::numeric, gl_account_code = $5, is_active = $6, updated_at = now()
          WHERE entity_id = $1 AND code = $2 RETURNING ${COLUMNS}`,
        values,
      )
    : await db.query<TaxCodeRow>(
        `INSERT INTO tax_codes (entity_id, code, name, rate, gl_account_code, is_active)
         VALUES ($1, $2, $3, $4::numeric, $5, $6) ON CONFLICT (entity_id, code) DO NOTHING RETURNING ${COLUMNS}`,
        values,
      );
  if (!rows[0]) throw createdConcurrently(`tax code ${code}`);
  return { created: !before, before, after: toTaxCode(rows[0]) };
}
