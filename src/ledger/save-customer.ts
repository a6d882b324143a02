import type { Queryable } from '../db/database.ts';
import { DomainError, fieldError } from '../domain/errors.ts';
import { Dec, parseAmount } from '../domain/money.ts';
import { ok } from '../domain/result.ts';
import type { CustomerDefaults } from './chart.ts';
import {
  CUSTOMER_COLUMNS,
  type Customer,
  type CustomerAddress,
  type CustomerRow,
  loadCustomer,
  newCustomerFromDefaults,
  rescaleAmount,
  toCustomer,
} from './customers.ts';
import { requireActiveDepartment, requireActiveTaxCode, requirePostingGlAccount } from './setup/references.ts';
import { type Saved, createdConcurrently, patch, requireOnCreate } from './setup/upsert.ts';

/** What a caller may set; `undefined` keeps the current value (or the default on create), `null` clears. */
export interface CustomerInput {
  name?: string | undefined;
  currency?: string | undefined;
  /** Decimal text in the customer's currency. */
  creditLimit?: string | undefined;
  creditTerms?: { days?: number | undefined; endOfMonth?: boolean | undefined } | undefined;
  email?: string | null | undefined;
  phone?: string | null | undefined;
  address?: { [K in keyof CustomerAddress]?: string | null | undefined } | undefined;
  vatNumber?: string | null | undefined;
  defaultTaxCode?: string | null | undefined;
  defaultGlAccountCode?: string | null | undefined;
  controlGlAccountCode?: string | undefined;
  departmentId?: string | null | undefined;
  /** A fraction from 0 to less than 1. */
  discountRate?: string | undefined;
  notes?: string | null | undefined;
  isActive?: boolean | undefined;
  onHold?: boolean | undefined;
  /** The version the caller read; required to update, absent or null to create. */
  rowVersion?: number | null | undefined;
}

const MAX_BIGINT = 9223372036854775807n;

function checkVersion(before: Customer | null, given: number | null | undefined): void {
  const version = given ?? null;
  if (before && version === null) {
    throw fieldError(
      'rowVersion',
      `customer ${before.code} exists; send the rowVersion you read (${before.rowVersion} now) to update it`,
      'OUTDATED_RECORD',
    );
  }
  if (before && version !== before.rowVersion) {
    throw fieldError(
      'rowVersion',
      `is ${version}, but customer ${before.code} is at version ${before.rowVersion}; read it again`,
      'OUTDATED_RECORD',
    );
  }
  // A version names a record the caller read; if there is none here (another entity's customer,
  // a mistyped code), creating one instead would surprise the caller.
  if (!before && version !== null) {
    throw fieldError('rowVersion', 'no such customer to update; send no rowVersion to create it', 'NOT_FOUND');
  }
}

function creditLimitFor(input: CustomerInput, current: Customer, currency: string): bigint {
  const result =
    input.creditLimit !== undefined
      ? parseAmount(input.creditLimit, currency)
      : currency === current.currency
        ? ok(current.creditLimit)
        : rescaleAmount(current.creditLimit, current.currency, currency);
  if (!result.ok && result.error.code === 'OUT_OF_RANGE')
    throw fieldError('creditLimit', 'is larger than can be stored', 'AMOUNT_OUT_OF_RANGE');
  if (!result.ok && result.error.code === 'TOO_MANY_DECIMALS') {
    throw fieldError('creditLimit', `has more decimals than ${currency} allows`, 'AMOUNT_HAS_TOO_MANY_DECIMALS');
  }
  if (!result.ok) throw fieldError('creditLimit', 'must be a decimal number such as "5000.00"');
  const parsed = result.value;
  if (parsed < 0n) throw fieldError('creditLimit', 'must not be negative (0 means no limit)');
  if (parsed > MAX_BIGINT) throw fieldError('creditLimit', 'is larger than can be stored', 'AMOUNT_OUT_OF_RANGE');
  return parsed;
}

function merge(code: string, input: CustomerInput, current: Customer): Customer {
  const currency = patch(input.currency, current.currency);
  const terms = input.creditTerms ?? {};
  const address = input.address ?? {};
  return {
    code,
    name: patch(input.name, current.name),
    currency,
    creditLimit: creditLimitFor(input, current, currency),
    creditTerms: {
      days: patch(terms.days, current.creditTerms.days),
      endOfMonth: patch(terms.endOfMonth, current.creditTerms.endOfMonth),
    },
    email: patch(input.email, current.email),
    phone: patch(input.phone, current.phone),
    address: {
      street: patch(address.street, current.address.street),
      city: patch(address.city, current.address.city),
      postalCode: patch(address.postalCode, current.address.postalCode),
      country: patch(address.country, current.address.country),
    },
    vatNumber: patch(input.vatNumber, current.vatNumber),
    defaultTaxCode: patch(input.defaultTaxCode, current.defaultTaxCode),
    defaultGlAccountCode: patch(input.defaultGlAccountCode, current.defaultGlAccountCode),
    controlGlAccountCode: patch(input.controlGlAccountCode, current.controlGlAccountCode),
    departmentId: patch(input.departmentId, current.departmentId),
    discountRate: input.discountRate === undefined ? current.discountRate : new Dec(input.discountRate).toFixed(),
    notes: patch(input.notes, current.notes),
    isActive: patch(input.isActive, current.isActive),
    onHold: patch(input.onHold, current.onHold),
    rowVersion: current.rowVersion,
  };
}

/**
 * References are checked when they are set or changed, not on every save: a customer whose tax
 * code was later deactivated can still have its phone number corrected.
 */
async function checkReferences(
  db: Queryable,
  entityId: string,
  next: Customer,
  before: Customer | null,
): Promise<void> {
  const changed = (k: 'defaultTaxCode' | 'defaultGlAccountCode' | 'controlGlAccountCode' | 'departmentId') =>
    !before || next[k] !== before[k];
  if (changed('defaultTaxCode') && next.defaultTaxCode) {
    await requireActiveTaxCode(db, entityId, next.defaultTaxCode, 'defaultTaxCode');
  }
  if (changed('defaultGlAccountCode') && next.defaultGlAccountCode) {
    await requirePostingGlAccount(db, entityId, next.defaultGlAccountCode, 'defaultGlAccountCode');
  }
  if (changed('controlGlAccountCode')) {
    if (before && (await hasTransactions(db, entityId, before.code))) {
      throw fieldError(
        'controlGlAccountCode',
        `customer ${before.code} has postings on control account ${before.controlGlAccountCode}; it cannot change`,
        'CUSTOMER_CONTROL_ACCOUNT_LOCKED',
      );
    }
    await requirePostingGlAccount(db, entityId, next.controlGlAccountCode, 'controlGlAccountCode', 'require');
  }
  if (changed('departmentId') && next.departmentId) {
    await requireActiveDepartment(db, entityId, next.departmentId, 'departmentId');
  }
}

async function hasTransactions(db: Queryable, entityId: string, code: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM transactions WHERE entity_id = $1 AND customer_code = $2 LIMIT 1', [
    entityId,
    code,
  ]);
  return rows.length > 0;
}

function compactAddress(a: CustomerAddress): Partial<CustomerAddress> {
  return Object.fromEntries(Object.entries(a).filter(([, v]) => v !== null));
}

/**
 * AccountsIQ UpdateCustomer: creates the customer (omitted fields from the entity's customer
 * defaults) or updates it. An update must carry the rowVersion it read, and bumps it; the row is
 * locked first so a concurrent update waits and then finds the version moved on.
 */
export async function saveCustomer(
  db: Queryable,
  entity: { id: string; customerDefaults: CustomerDefaults },
  code: string,
  input: CustomerInput,
): Promise<Saved<Customer>> {
  const before = await loadCustomer(db, entity.id, code, { lock: true });
  checkVersion(before, input.rowVersion);
  const current: Customer = before ?? {
    ...newCustomerFromDefaults(entity.customerDefaults),
    code,
    name: requireOnCreate(input, ['name']).name,
    rowVersion: 1,
  };
  const next = merge(code, input, current);
  if (before && next.currency !== before.currency && (await hasTransactions(db, entity.id, code))) {
    throw fieldError(
      'currency',
      `customer ${code} has transactions in ${before.currency}; its currency cannot change`,
      'CUSTOMER_CURRENCY_CANNOT_CHANGE',
    );
  }
  await checkReferences(db, entity.id, next, before);
  const discount = new Dec(next.discountRate);
  // The column keeps six decimals; more would be rounded silently, so they are refused.
  if (!discount.lt(1) || discount.decimalPlaces() > 6) {
    throw fieldError('discountRate', 'must be a fraction less than 1 with at most 6 decimals ("0.05" = 5 %)');
  }
  const values = [
    entity.id,
    code,
    next.name,
    next.currency,
    next.creditLimit,
    next.creditTerms.days,
    next.creditTerms.endOfMonth,
    next.email,
    next.phone,
    compactAddress(next.address),
    next.vatNumber,
    next.defaultTaxCode,
    next.defaultGlAccountCode,
    next.controlGlAccountCode,
    next.departmentId,
    next.notes,
    next.isActive,
    next.onHold,
    next.discountRate,
  ];
  const { rows } = before
    ? await db.query<CustomerRow>(
        `UPDATE customers SET name = $3, currency = $4, credit_limit = $5, credit_days = $6, credit_end_of_month = $7,
                email = $8, phone = $9, address = $10, vat_number = $11, default_tax_code = $12,
                default_gl_account_code = $13, control_gl_account_code = $14, department_id = $15, notes = $16,
                is_active = $17, on_hold = $18, discount_rate = $19::numeric, row_version = row_version + 1,
                updated_at = now()
          WHERE entity_id = $1 AND code = $2 AND row_version = $20
          RETURNING ${CUSTOMER_COLUMNS}`,
        [...values, before.rowVersion],
      )
    : await db.query<CustomerRow>(
        `INSERT INTO customers (entity_id, code, name, currency, credit_limit, credit_days, credit_end_of_month,
                email, phone, address, vat_number, default_tax_code, default_gl_account_code,
                control_gl_account_code, department_id, notes, is_active, on_hold, discount_rate)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19::numeric)
         ON CONFLICT (entity_id, code) DO NOTHING RETURNING ${CUSTOMER_COLUMNS}`,
        values,
      );
  if (!rows[0]) {
    if (before) throw new DomainError('OUTDATED_RECORD', `customer ${code} changed while it was being saved`);
    throw createdConcurrently(`customer ${code}`);
  }
  return { created: !before, before, after: toCustomer(rows[0]) };
}
