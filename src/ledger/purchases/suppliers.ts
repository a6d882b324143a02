import type { Queryable } from '../../db/database.ts';
import { DomainError, fieldError } from '../../domain/errors.ts';
import { isKnownCurrency } from '../../domain/currency.ts';
import type { EntityContext } from '../entities.ts';
import { requireActiveTaxCode, requirePostingGlAccount } from '../setup/references.ts';
import { type Saved, createdConcurrently, patch, requireOnCreate } from '../setup/upsert.ts';
import { isUniqueViolation } from '../../db/database.ts';

/** A supplier of the purchase ledger: whom purchase invoices are owed to. */
export interface Supplier {
  code: string;
  name: string;
  currency: string;
  creditDays: number;
  email: string | null;
  vatNumber: string | null;
  defaultTaxCode: string | null;
  defaultGlAccountCode: string | null;
  controlGlAccountCode: string;
  isActive: boolean;
}

/** What a caller may set; `undefined` keeps the current value (or the default on create), `null` clears. */
export interface SupplierInput {
  name?: string | undefined;
  currency?: string | undefined;
  creditDays?: number | undefined;
  email?: string | null | undefined;
  vatNumber?: string | null | undefined;
  defaultTaxCode?: string | null | undefined;
  defaultGlAccountCode?: string | null | undefined;
  controlGlAccountCode?: string | undefined;
  isActive?: boolean | undefined;
}

interface SupplierRow {
  code: string;
  name: string;
  currency: string;
  credit_days: number;
  email: string | null;
  vat_number: string | null;
  default_tax_code: string | null;
  default_gl_account_code: string | null;
  control_gl_account_code: string;
  is_active: boolean;
}

const COLUMNS =
  'code, name, currency, credit_days, email, vat_number, default_tax_code, default_gl_account_code, control_gl_account_code, is_active';

function toSupplier(r: SupplierRow): Supplier {
  return {
    code: r.code,
    name: r.name,
    currency: r.currency.trim(),
    creditDays: r.credit_days,
    email: r.email,
    vatNumber: r.vat_number,
    defaultTaxCode: r.default_tax_code,
    defaultGlAccountCode: r.default_gl_account_code,
    controlGlAccountCode: r.control_gl_account_code,
    isActive: r.is_active,
  };
}

export async function loadSupplier(
  db: Queryable,
  entityId: string,
  code: string,
  options: { lock?: boolean } = {},
): Promise<Supplier | null> {
  const { rows } = await db.query<SupplierRow>(
    `SELECT ${COLUMNS} FROM suppliers WHERE entity_id = $1 AND code = $2${options.lock ? ' FOR UPDATE' : ''}`,
    [entityId, code],
  );
  return rows[0] ? toSupplier(rows[0]) : null;
}

export async function listSuppliers(db: Queryable, entityId: string): Promise<Supplier[]> {
  const { rows } = await db.query<SupplierRow>(`SELECT ${COLUMNS} FROM suppliers WHERE entity_id = $1 ORDER BY code`, [
    entityId,
  ]);
  return rows.map(toSupplier);
}

/** Reads and locks one supplier for posting; throws when it is unknown or inactive. */
export async function lockSupplier(db: Queryable, entityId: string, code: string, field: string): Promise<Supplier> {
  const s = await loadSupplier(db, entityId, code, { lock: true });
  if (!s) {
    throw new DomainError('SUPPLIER_CODE_DOES_NOT_EXIST', `Supplier ${code} does not exist`, [
      { field, message: 'unknown supplier' },
    ]);
  }
  if (!s.isActive) {
    throw new DomainError('SUPPLIER_IS_INACTIVE', `Supplier ${code} is inactive`, [
      { field, message: 'inactive supplier' },
    ]);
  }
  return s;
}

async function hasTransactions(db: Queryable, entityId: string, code: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM transactions WHERE entity_id = $1 AND supplier_code = $2 LIMIT 1', [
    entityId,
    code,
  ]);
  return rows.length > 0;
}

/**
 * Creates the supplier (currency defaults to the base currency, control account to the creditors
 * control account) or updates the fields sent. References are checked when set or changed; the
 * currency and control account stay put once the supplier has postings.
 */
export async function saveSupplier(
  db: Queryable,
  entity: EntityContext,
  code: string,
  input: SupplierInput,
): Promise<Saved<Supplier>> {
  const before = await loadSupplier(db, entity.id, code, { lock: true });
  const current: Supplier = before ?? {
    code,
    name: requireOnCreate(input, ['name']).name,
    currency: entity.baseCurrency,
    creditDays: 30,
    email: null,
    vatNumber: null,
    defaultTaxCode: null,
    defaultGlAccountCode: null,
    controlGlAccountCode: entity.roles.creditorsControl,
    isActive: true,
  };
  const next: Supplier = {
    code,
    name: patch(input.name, current.name),
    currency: patch(input.currency, current.currency),
    creditDays: patch(input.creditDays, current.creditDays),
    email: patch(input.email, current.email),
    vatNumber: patch(input.vatNumber, current.vatNumber),
    defaultTaxCode: patch(input.defaultTaxCode, current.defaultTaxCode),
    defaultGlAccountCode: patch(input.defaultGlAccountCode, current.defaultGlAccountCode),
    controlGlAccountCode: patch(input.controlGlAccountCode, current.controlGlAccountCode),
    isActive: patch(input.isActive, current.isActive),
  };
  if (!isKnownCurrency(next.currency)) {
    throw fieldError('currency', `${next.currency} is not an ISO 4217 currency code`, 'CURRENCY_CODE_DOES_NOT_EXIST');
  }
  const posted = before !== null && (await hasTransactions(db, entity.id, code));
  if (posted && next.currency !== before.currency) {
    throw fieldError(
      'currency',
      `supplier ${code} has transactions in ${before.currency}; its currency cannot change`,
      'SUPPLIER_CURRENCY_CANNOT_CHANGE',
    );
  }
  const changed = (k: 'defaultTaxCode' | 'defaultGlAccountCode' | 'controlGlAccountCode') =>
    !before || next[k] !== before[k];
  if (changed('defaultTaxCode') && next.defaultTaxCode) {
    await requireActiveTaxCode(db, entity.id, next.defaultTaxCode, 'defaultTaxCode');
  }
  if (changed('defaultGlAccountCode') && next.defaultGlAccountCode) {
    await requirePostingGlAccount(db, entity.id, next.defaultGlAccountCode, 'defaultGlAccountCode');
  }
  if (changed('controlGlAccountCode')) {
    if (posted) {
      throw fieldError(
        'controlGlAccountCode',
        `supplier ${code} has postings on control account ${before.controlGlAccountCode}; it cannot change`,
        'SUPPLIER_CONTROL_ACCOUNT_LOCKED',
      );
    }
    await requirePostingGlAccount(db, entity.id, next.controlGlAccountCode, 'controlGlAccountCode', 'require');
  }
  const values = [
    entity.id,
    code,
    next.name,
    next.currency,
    next.creditDays,
    next.email,
    next.vatNumber,
    next.defaultTaxCode,
    next.defaultGlAccountCode,
    next.controlGlAccountCode,
    next.isActive,
  ];
  if (before) {
    await db.query(
      `UPDATE suppliers SET name = $3, currency = $4, credit_days = $5, email = $6, vat_number = $7,
              default_tax_code = $8, default_gl_account_code = $9, control_gl_account_code = $10, is_active = $11,
              updated_at = now()
        WHERE entity_id = $1 AND code = $2`,
      values,
    );
  } else {
    try {
      await db.query(
        `INSERT INTO suppliers (entity_id, code, name, currency, credit_days, email, vat_number, default_tax_code,
                                default_gl_account_code, control_gl_account_code, is_active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        values,
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw createdConcurrently(`supplier ${code}`);
      throw err;
    }
  }
  return { created: before === null, before, after: next };
}
