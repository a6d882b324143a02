import type { Queryable } from '../../db/database.ts';
import type { EntityContext } from '../../ledger/entities.ts';
import { isDomainError } from '../../domain/errors.ts';
import { auditChange, isNoChange, recordAudit } from '../../ledger/audit.ts';
import {
  CUSTOMER_COLUMNS,
  type Customer,
  type CustomerRow,
  customerView,
  loadCustomer,
  toCustomer,
} from '../../ledger/customers.ts';
import { type CustomerInput, saveCustomer } from '../../ledger/save-customer.ts';
import type { CanonicalCustomer } from '../../sync/canonical.ts';
import type { ItemResult, TargetCustomer, TargetProduct } from '../../sync/target.ts';
import { ok } from '../../sync/target.ts';
import { refused } from './invoices.ts';

/** What a record carries, as the ledger's customer update: absent fields stay absent, so they are left alone. */
function customerInput(c: CanonicalCustomer): CustomerInput {
  const input: CustomerInput = { name: c.name };
  if (c.email !== undefined) input.email = c.email;
  if (c.phone !== undefined) input.phone = c.phone;
  if (c.vatNumber !== undefined) input.vatNumber = c.vatNumber;
  const address = Object.fromEntries(
    (['street', 'postalCode', 'city', 'country'] as const).filter((k) => c[k] !== undefined).map((k) => [k, c[k]]),
  );
  if (Object.keys(address).length > 0) input.address = address;
  return input;
}

async function lockCustomers(db: Queryable, entityId: string, codes: string[]): Promise<Map<string, Customer>> {
  // In code order, like every other lock on customers, so two writers never wait on each other crosswise.
  const { rows } = await db.query<CustomerRow>(
    `SELECT ${CUSTOMER_COLUMNS} FROM customers WHERE entity_id = $1 AND code = ANY($2::text[]) ORDER BY code FOR UPDATE`,
    [entityId, [...new Set(codes)]],
  );
  return new Map(rows.map((r) => [r.code, toCustomer(r)]));
}

/**
 * Customers in the ledger: created from the entity's customer defaults, or updated with the
 * fields the record carries and nothing else (an absent field is left alone, a null one cleared;
 * the currency is set on create only). The code the engine proposes becomes the customer's code
 * (and its target id). Each change is in the audit trail with the fields it changed, as the
 * pipeline (`actor`); a record that changes nothing is answered `unchanged` and written nowhere.
 */
export async function upsertCustomers(
  db: Queryable,
  entity: EntityContext,
  actor: string,
  items: TargetCustomer[],
): Promise<ItemResult[]> {
  const d = entity.customerDefaults;
  const held = await lockCustomers(
    db,
    entity.id,
    items.map((i) => i.targetId ?? i.code),
  );
  const results: ItemResult[] = [];
  for (const item of items) {
    const c = item.record;
    const code = item.targetId ?? item.code;
    let before = held.get(code) ?? null;
    if (!before) {
      const address = Object.fromEntries(
        Object.entries({ street: c.street, city: c.city, postalCode: c.postalCode, country: c.country }).filter(
          ([, v]) => v !== null && v !== undefined,
        ),
      );
      const { rows } = await db.query<CustomerRow>(
        `INSERT INTO customers (entity_id, code, name, currency, credit_limit, credit_days, credit_end_of_month, email, phone, address,
                                vat_number, default_tax_code, default_gl_account_code, control_gl_account_code)
         VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (entity_id, code) DO NOTHING
         RETURNING ${CUSTOMER_COLUMNS}`,
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
      const created = rows[0] ? toCustomer(rows[0]) : null;
      if (created) {
        held.set(code, created);
        await recordAudit(db, {
          entityId: entity.id,
          actor,
          action: 'customer.created',
          objectType: 'customer',
          objectId: code,
          ...auditChange(null, customerView(created), { ignore: ['rowVersion'] }),
        });
        results.push(ok(code, { number: code, outcome: 'created' }));
        continue;
      }
      // Created by someone else since the lock was taken: update it like any other.
      before = await loadCustomer(db, entity.id, code, { lock: true });
      if (!before) throw new Error(`customer ${code} neither inserted nor found`);
    }
    const input = customerInput(c);
    const change = auditChange(customerView(before), customerView({ ...before, ...preview(before, input) }), {
      ignore: ['rowVersion'],
    });
    if (isNoChange(change)) {
      results.push(ok(code, { number: code, outcome: 'unchanged' }));
      continue;
    }
    try {
      const saved = await saveCustomer(db, entity, code, { ...input, rowVersion: before.rowVersion });
      held.set(code, saved.after);
      await recordAudit(db, {
        entityId: entity.id,
        actor,
        action: 'customer.updated',
        objectType: 'customer',
        objectId: code,
        ...auditChange(customerView(before), customerView(saved.after), { ignore: ['rowVersion'] }),
      });
      results.push(ok(code, { number: code, outcome: 'updated' }));
    } catch (err) {
      if (!isDomainError(err)) throw err;
      results.push(refused(err));
    }
  }
  return results;
}

/** The fields an update would change, to tell an update that changes nothing before writing it. */
function preview(before: Customer, input: CustomerInput): Partial<Customer> {
  const pick = <T>(given: T | undefined, current: T): T => (given === undefined ? current : given);
  return {
    name: pick(input.name, before.name),
    email: pick(input.email, before.email),
    phone: pick(input.phone, before.phone),
    vatNumber: pick(input.vatNumber, before.vatNumber),
    address: {
      street: pick(input.address?.street, before.address.street),
      city: pick(input.address?.city, before.address.city),
      postalCode: pick(input.address?.postalCode, before.address.postalCode),
      country: pick(input.address?.country, before.address.country),
    },
  };
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
