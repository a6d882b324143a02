import type { Queryable } from '../db/database.ts';
import { Dec, formatAmount, parseAmount } from '../domain/money.ts';
import type { CustomerDefaults } from './chart.ts';

/** A customer (AccountsIQ "Account" on the sales ledger). The credit limit is in minor units of its currency. */
export interface Customer {
  code: string;
  name: string;
  currency: string;
  /** 0 means no limit. */
  creditLimit: bigint;
  creditTerms: CreditTerms;
  email: string | null;
  phone: string | null;
  address: CustomerAddress;
  vatNumber: string | null;
  defaultTaxCode: string | null;
  defaultGlAccountCode: string | null;
  controlGlAccountCode: string;
  departmentId: string | null;
  /** Default line discount of item lines, a fraction ("0.05" = 5 %); "0" for none. */
  discountRate: string;
  notes: string | null;
  isActive: boolean;
  onHold: boolean;
  /** Optimistic concurrency: an update must send the version it read. */
  rowVersion: number;
}

export interface CreditTerms {
  days: number;
  endOfMonth: boolean;
}

export interface CustomerAddress {
  street: string | null;
  city: string | null;
  postalCode: string | null;
  country: string | null;
}

/** A customer prefilled from the entity's defaults, not yet saved: it has no code, name or version. */
export type CustomerTemplate = Omit<Customer, 'code' | 'name' | 'rowVersion'> & {
  code: null;
  name: null;
  rowVersion: null;
};

export interface CustomerRow {
  code: string;
  name: string;
  currency: string;
  credit_limit: string;
  credit_days: number;
  credit_end_of_month: boolean;
  email: string | null;
  phone: string | null;
  address: Partial<CustomerAddress> | null;
  vat_number: string | null;
  default_tax_code: string | null;
  default_gl_account_code: string | null;
  control_gl_account_code: string;
  department_id: string | null;
  discount_rate: string;
  notes: string | null;
  is_active: boolean;
  on_hold: boolean;
  row_version: number;
}

export const CUSTOMER_COLUMNS =
  'code, name, currency, credit_limit, credit_days, credit_end_of_month, email, phone, address, vat_number, ' +
  'default_tax_code, default_gl_account_code, control_gl_account_code, department_id, notes, is_active, on_hold, ' +
  'row_version, discount_rate::text AS discount_rate';

export function toCustomer(r: CustomerRow): Customer {
  return {
    code: r.code,
    name: r.name,
    currency: r.currency,
    creditLimit: BigInt(r.credit_limit),
    creditTerms: { days: r.credit_days, endOfMonth: r.credit_end_of_month },
    email: r.email,
    phone: r.phone,
    address: toAddress(r.address ?? {}),
    vatNumber: r.vat_number,
    defaultTaxCode: r.default_tax_code,
    defaultGlAccountCode: r.default_gl_account_code,
    controlGlAccountCode: r.control_gl_account_code,
    departmentId: r.department_id,
    discountRate: new Dec(r.discount_rate).toFixed(),
    notes: r.notes,
    isActive: r.is_active,
    onHold: r.on_hold,
    rowVersion: r.row_version,
  };
}

/** A customer as the audit trail and the API show it: the credit limit as decimal text. */
export function customerView<C extends Customer | CustomerTemplate>(
  c: C,
): Omit<C, 'creditLimit'> & { creditLimit: string } {
  return { ...c, creditLimit: formatAmount(c.creditLimit, c.currency) };
}

/** Every address key present, absent ones as null, so callers never meet `undefined`. */
export function toAddress(a: Partial<CustomerAddress>): CustomerAddress {
  return {
    street: a.street ?? null,
    city: a.city ?? null,
    postalCode: a.postalCode ?? null,
    country: a.country ?? null,
  };
}

/**
 * One customer of the entity, or null. Posting code passes `lock` to hold the row (and so the
 * customer's balance and credit limit) until its transaction ends.
 */
export async function loadCustomer(
  db: Queryable,
  entityId: string,
  code: string,
  options: { lock?: boolean } = {},
): Promise<Customer | null> {
  const { rows } = await db.query<CustomerRow>(
    `SELECT ${CUSTOMER_COLUMNS} FROM customers WHERE entity_id = $1 AND code = $2${options.lock ? ' FOR UPDATE' : ''}`,
    [entityId, code],
  );
  return rows[0] ? toCustomer(rows[0]) : null;
}

/** The defaults' credit limit is decimal text; it must fit the default currency, as any amount must. */
function defaultCreditLimit(defaults: CustomerDefaults): bigint {
  const minor = parseAmount(defaults.creditLimit, defaults.currency);
  if (!minor.ok || minor.value < 0n) {
    throw new Error(`customer defaults: credit limit ${defaults.creditLimit} is not valid in ${defaults.currency}`);
  }
  return minor.value;
}

/** AccountsIQ GetNewCustomerFromDefaults: a new customer prefilled from the entity's defaults, not saved. */
export function newCustomerFromDefaults(defaults: CustomerDefaults): CustomerTemplate {
  return {
    code: null,
    name: null,
    currency: defaults.currency,
    creditLimit: defaultCreditLimit(defaults),
    creditTerms: { days: defaults.creditTerms.days, endOfMonth: defaults.creditTerms.endOfMonth },
    email: null,
    phone: null,
    address: toAddress({}),
    vatNumber: null,
    defaultTaxCode: defaults.defaultTaxCode,
    defaultGlAccountCode: defaults.defaultGlAccountCode,
    controlGlAccountCode: defaults.controlGlAccountCode,
    departmentId: null,
    discountRate: '0',
    notes: null,
    isActive: true,
    onHold: false,
    rowVersion: null,
  };
}

/**
 * The same credit limit in another currency: the decimal value is kept ("5000.00" EUR becomes
 * "5000" JPY), or the reason it cannot be when the new currency has fewer decimals.
 */
export function rescaleAmount(minor: bigint, from: string, to: string): ReturnType<typeof parseAmount> {
  return parseAmount(formatAmount(minor, from), to);
}

export interface CustomerFilter {
  /** Case-insensitive substring of the code or the name. */
  search?: string | undefined;
  isActive?: boolean | undefined;
  onHold?: boolean | undefined;
  currency?: string | undefined;
  /** The whole address, any case (AccountsIQ GetCustomersByEmail). */
  email?: string | undefined;
  /** Created or changed at or after this instant (ISO 8601 with an offset). */
  modifiedSince?: string | undefined;
}

/**
 * AccountsIQ GetCustomerList, GetCustomersByEmail and the modified-since queries: paged and
 * filtered, ordered by code.
 */
export async function listCustomers(
  db: Queryable,
  entityId: string,
  filter: CustomerFilter,
  paging: { page: number; pageSize: number },
): Promise<{ items: Customer[]; total: number }> {
  const params: (string | boolean | number)[] = [entityId];
  const where = ['entity_id = $1'];
  if (filter.search !== undefined && filter.search !== '') {
    params.push(filter.search.toLowerCase());
    // strpos rather than LIKE, so % and _ in a search are plain characters.
    where.push(`(strpos(lower(code), $${params.length}) > 0 OR strpos(lower(name), $${params.length}) > 0)`);
  }
  if (filter.isActive !== undefined) {
    params.push(filter.isActive);
    where.push(`is_active = $${params.length}`);
  }
  if (filter.onHold !== undefined) {
    params.push(filter.onHold);
    where.push(`on_hold = $${params.length}`);
  }
  if (filter.currency !== undefined) {
    params.push(filter.currency);
    where.push(`currency = $${params.length}`);
  }
  if (filter.email !== undefined) {
    params.push(filter.email.toLowerCase());
    // Whole address, any case: Ada@Example.com and ada@example.com are one mailbox to a person.
    where.push(`lower(email) = $${params.length}`);
  }
  if (filter.modifiedSince !== undefined) {
    params.push(filter.modifiedSince);
    where.push(`updated_at >= $${params.length}::timestamptz`);
  }
  const condition = where.join(' AND ');
  const counted = await db.query<{ total: number }>(
    `SELECT count(*)::int AS total FROM customers WHERE ${condition}`,
    params,
  );
  const limit = params.length + 1;
  const { rows } = await db.query<CustomerRow>(
    `SELECT ${CUSTOMER_COLUMNS} FROM customers WHERE ${condition} ORDER BY code LIMIT $${limit} OFFSET $${limit + 1}`,
    [...params, paging.pageSize, (paging.page - 1) * paging.pageSize],
  );
  return { items: rows.map(toCustomer), total: counted.rows[0]?.total ?? 0 };
}
