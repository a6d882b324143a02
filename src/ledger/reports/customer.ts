import type { Queryable } from '../../db/database.ts';
import { DomainError } from '../../domain/errors.ts';

/** What the reports need to know about a customer. */
export interface ReportCustomer {
  code: string;
  name: string;
  currency: string;
  /** Minor units of the customer's currency; 0 means no limit. */
  creditLimit: bigint;
}

interface CustomerRow {
  code: string;
  name: string;
  currency: string;
  credit_limit: string;
}

const COLUMNS = 'code, name, currency, credit_limit';

function toCustomer(r: CustomerRow): ReportCustomer {
  return { code: r.code, name: r.name, currency: r.currency.trim(), creditLimit: BigInt(r.credit_limit) };
}

/** The customer with this code in this entity; NOT_FOUND otherwise (another entity's customer included). */
export async function getReportCustomer(db: Queryable, entityId: string, code: string): Promise<ReportCustomer> {
  const { rows } = await db.query<CustomerRow>(`SELECT ${COLUMNS} FROM customers WHERE entity_id = $1 AND code = $2`, [
    entityId,
    code,
  ]);
  const row = rows[0];
  if (!row) throw new DomainError('NOT_FOUND', `No customer ${code} in this entity.`, { customerCode: code });
  return toCustomer(row);
}

/** Every customer of the entity, ordered by code. */
export async function listReportCustomers(db: Queryable, entityId: string): Promise<ReportCustomer[]> {
  const { rows } = await db.query<CustomerRow>(`SELECT ${COLUMNS} FROM customers WHERE entity_id = $1 ORDER BY code`, [
    entityId,
  ]);
  return rows.map(toCustomer);
}

/**
 * The customers named, ordered by code; NOT_FOUND naming every code this entity does not have,
 * so a caller asking for several learns all its mistakes at once.
 */
export async function getReportCustomers(
  db: Queryable,
  entityId: string,
  codes: readonly string[],
): Promise<ReportCustomer[]> {
  const { rows } = await db.query<CustomerRow>(
    `SELECT ${COLUMNS} FROM customers WHERE entity_id = $1 AND code = ANY($2::text[]) ORDER BY code`,
    [entityId, codes],
  );
  const found = new Set(rows.map((r) => r.code));
  const missing = codes.filter((c) => !found.has(c));
  if (missing.length > 0) {
    throw new DomainError('NOT_FOUND', `No customer ${missing.join(', ')} in this entity.`, {
      field: 'query.codes',
      customerCodes: missing,
    });
  }
  return rows.map(toCustomer);
}
