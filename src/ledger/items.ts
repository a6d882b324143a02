import type { Queryable } from '../db/database.ts';
import { fieldError } from '../domain/errors.ts';
import { Dec } from '../domain/money.ts';
import { requireActiveDepartment, requireActiveTaxCode, requirePostingGlAccount } from './setup/references.ts';
import { type Saved, createdConcurrently, patch, requireOnCreate } from './setup/upsert.ts';

/**
 * An item (AccountsIQ stock item / product): the defaults an item line takes when it names it.
 * Stored in `products`, the table the sync engine fills from sources, so a product synced from
 * iXpole or a CSV is an item here and an item saved here maps the engine's lines too.
 */
export interface Item {
  code: string;
  /** The line description when a line gives none (the product's name). */
  description: string;
  /** Decimal text, at most four decimals, in the currency of the document it is used on; null: none. */
  unitPrice: string | null;
  glAccountCode: string | null;
  taxCode: string | null;
  departmentId: string | null;
  isActive: boolean;
}

/** What PUT /v1/items/{code} may set: `undefined` keeps, `null` clears. */
export interface ItemInput {
  description?: string | undefined;
  unitPrice?: string | null | undefined;
  glAccountCode?: string | null | undefined;
  taxCode?: string | null | undefined;
  departmentId?: string | null | undefined;
  isActive?: boolean | undefined;
}

interface ItemRow {
  code: string;
  name: string;
  unit_price: string | null;
  gl_account_code: string | null;
  tax_code: string | null;
  department_id: string | null;
  is_active: boolean;
}

const COLUMNS = `code, name, unit_price::text AS unit_price, gl_account_code, tax_code, department_id, is_active`;

const toItem = (r: ItemRow): Item => ({
  code: r.code,
  description: r.name,
  unitPrice: r.unit_price === null ? null : new Dec(r.unit_price).toFixed(),
  glAccountCode: r.gl_account_code,
  taxCode: r.tax_code,
  departmentId: r.department_id,
  isActive: r.is_active,
});

export async function getItem(db: Queryable, entityId: string, code: string, lock = false): Promise<Item | null> {
  const { rows } = await db.query<ItemRow>(
    `SELECT ${COLUMNS} FROM products WHERE entity_id = $1 AND code = $2${lock ? ' FOR UPDATE' : ''}`,
    [entityId, code],
  );
  return rows[0] ? toItem(rows[0]) : null;
}

/** Items with these codes (unknown codes are absent), one query. */
export async function loadItems(db: Queryable, entityId: string, codes: Iterable<string>): Promise<Map<string, Item>> {
  const list = [...new Set(codes)];
  if (list.length === 0) return new Map();
  const { rows } = await db.query<ItemRow>(
    `SELECT ${COLUMNS} FROM products WHERE entity_id = $1 AND code = ANY($2::text[])`,
    [entityId, list],
  );
  return new Map(rows.map((r) => [r.code, toItem(r)]));
}

export async function listItems(
  db: Queryable,
  entityId: string,
  filter: { active?: boolean | undefined; page: number; pageSize: number },
): Promise<{ items: Item[]; total: number }> {
  const where = `entity_id = $1 AND ($2::boolean IS NULL OR is_active = $2)`;
  const params = [entityId, filter.active ?? null];
  const { rows } = await db.query<ItemRow>(
    `SELECT ${COLUMNS} FROM products WHERE ${where} ORDER BY code LIMIT $3 OFFSET $4`,
    [...params, filter.pageSize, (filter.page - 1) * filter.pageSize],
  );
  const count = await db.query<{ n: string }>(`SELECT count(*) AS n FROM products WHERE ${where}`, params);
  return { items: rows.map(toItem), total: Number(count.rows[0]!.n) };
}

/**
 * Creates an item (description required) or changes the fields given. References are checked
 * when set or changed, as on customers: an item whose tax code was deactivated later can still
 * have its price corrected.
 */
export async function saveItem(db: Queryable, entityId: string, code: string, input: ItemInput): Promise<Saved<Item>> {
  const before = await getItem(db, entityId, code, true);
  const current: Item = before ?? {
    code,
    description: requireOnCreate(input, ['description']).description,
    unitPrice: null,
    glAccountCode: null,
    taxCode: null,
    departmentId: null,
    isActive: true,
  };
  const next: Item = {
    code,
    description: patch(input.description, current.description),
    unitPrice: patch(input.unitPrice, current.unitPrice),
    glAccountCode: patch(input.glAccountCode, current.glAccountCode),
    taxCode: patch(input.taxCode, current.taxCode),
    departmentId: patch(input.departmentId, current.departmentId),
    isActive: patch(input.isActive, current.isActive),
  };
  if (next.unitPrice !== null && new Dec(next.unitPrice).lt(0)) {
    throw fieldError('unitPrice', 'must not be negative; a credit line gives its own negative unitPrice');
  }
  const changed = (k: 'glAccountCode' | 'taxCode' | 'departmentId') => !before || next[k] !== before[k];
  if (changed('glAccountCode') && next.glAccountCode)
    await requirePostingGlAccount(db, entityId, next.glAccountCode, 'glAccountCode');
  if (changed('taxCode') && next.taxCode) await requireActiveTaxCode(db, entityId, next.taxCode, 'taxCode');
  if (changed('departmentId') && next.departmentId)
    await requireActiveDepartment(db, entityId, next.departmentId, 'departmentId');
  const values = [
    entityId,
    code,
    next.description,
    next.unitPrice,
    next.glAccountCode,
    next.taxCode,
    next.departmentId,
    next.isActive,
  ];
  // vat_rate is the rate the sync engine last saw for the product; a tax code chosen here is the
  // rule, so an item saved with a tax code no longer waits for that rate to match.
  const { rows } = before
    ? await db.query<ItemRow>(
        `UPDATE products SET name = $3, unit_price = $4::numeric, gl_account_code = $5, tax_code = $6, department_id = $7,
                is_active = $8, vat_rate = CASE WHEN tax_code IS DISTINCT FROM $6 THEN NULL ELSE vat_rate END,
                updated_at = now()
          WHERE entity_id = $1 AND code = $2 RETURNING ${COLUMNS}`,
        values,
      )
    : await db.query<ItemRow>(
        `INSERT INTO products (entity_id, code, name, unit_price, gl_account_code, tax_code, department_id, is_active)
         VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8)
         ON CONFLICT (entity_id, code) DO NOTHING RETURNING ${COLUMNS}`,
        values,
      );
  if (!rows[0]) throw createdConcurrently(`item ${code}`);
  return { created: !before, before, after: toItem(rows[0]) };
}
