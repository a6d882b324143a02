import type { Queryable } from '../../db/database.ts';
import type { EntityContext } from '../../ledger/entities.ts';
import type { ItemResult, TargetCustomer, TargetProduct } from '../../sync/target.ts';
import { ok } from '../../sync/target.ts';

/**
 * Customers in the ledger: created from the entity's customer defaults, or updated with what
 * the source sent. The code the engine proposes becomes the customer's code (and its target id).
 */
export async function upsertCustomers(
  db: Queryable,
  entity: EntityContext,
  items: TargetCustomer[],
): Promise<ItemResult[]> {
  const d = entity.customerDefaults;
  const results: ItemResult[] = [];
  for (const item of items) {
    const c = item.record;
    const code = item.targetId ?? item.code;
    const address = Object.fromEntries(
      Object.entries({ street: c.street, city: c.city, postalCode: c.postalCode, country: c.country }).filter(
        ([, v]) => v !== null && v !== undefined,
      ),
    );
    const { rows } = await db.query<{ created: boolean }>(
      `INSERT INTO customers (entity_id, code, name, currency, credit_limit, credit_days, credit_end_of_month, email, phone, address,
                              vat_number, default_tax_code, default_gl_account_code, control_gl_account_code)
       VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (entity_id, code) DO UPDATE
         SET name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone, address = EXCLUDED.address,
             vat_number = EXCLUDED.vat_number, row_version = customers.row_version + 1, updated_at = now()
       RETURNING (xmax = 0) AS created`,
      [
        entity.id,
        code,
        c.name,
        c.currency ?? d.currency,
        d.creditTerms.days,
        d.creditTerms.endOfMonth,
        c.email ?? null,
        c.phone ?? null,
        JSON.stringify(address),
        c.vatNumber ?? null,
        d.defaultTaxCode,
        d.defaultGlAccountCode,
        d.controlGlAccountCode,
      ],
    );
    results.push(ok(code, { number: code, outcome: rows[0]!.created ? 'created' : 'updated' }));
  }
  return results;
}

/** Products (AccountsIQ non-stock items) carry default GL account, tax code and department for lines. */
export async function upsertProducts(
  db: Queryable,
  entity: EntityContext,
  items: TargetProduct[],
): Promise<ItemResult[]> {
  const results: ItemResult[] = [];
  for (const item of items) {
    const prod = item.record;
    const code = item.targetId ?? item.code;
    const { rows } = await db.query<{ created: boolean }>(
      `INSERT INTO products (entity_id, code, name, gl_account_code, tax_code, department_id, vat_rate)
       VALUES ($1, $2, $3, $4, $5, $6, $7::numeric)
       ON CONFLICT (entity_id, code) DO UPDATE SET name = EXCLUDED.name,
         gl_account_code = coalesce(EXCLUDED.gl_account_code, products.gl_account_code),
         tax_code = coalesce(EXCLUDED.tax_code, products.tax_code),
         department_id = coalesce(EXCLUDED.department_id, products.department_id),
         vat_rate = EXCLUDED.vat_rate, updated_at = now()
       RETURNING (xmax = 0) AS created`,
      [
        entity.id,
        code,
        prod.name,
        prod.glAccountCode ?? null,
        prod.taxCode ?? null,
        prod.departmentId ?? null,
        prod.vatRate ?? null,
      ],
    );
    results.push(ok(code, { outcome: rows[0]!.created ? 'created' : 'updated' }));
  }
  return results;
}
