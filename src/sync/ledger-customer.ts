import type { Queryable } from '../db/database.ts';
import type { CanonicalCustomer } from './canonical.ts';

/**
 * A ledger customer as a canonical record under a source id of the caller's choosing. Sources use
 * it to link a document to a customer the ledger already has (a daily summary's walk-in customer,
 * the customer of the invoice a Stripe payment names): the engine's upsert then writes back the
 * ledger's own details, so linking never overwrites them.
 */
export async function ledgerCustomerRecord(
  db: Queryable,
  entityId: string,
  code: string,
  sourceId: string,
): Promise<CanonicalCustomer | null> {
  const { rows } = await db.query<{
    code: string;
    name: string;
    email: string | null;
    phone: string | null;
    address: { street?: string; postalCode?: string; city?: string; country?: string };
    vat_number: string | null;
    currency: string;
  }>(
    `SELECT code, name, email, phone, address, vat_number, currency FROM customers WHERE entity_id = $1 AND code = $2`,
    [entityId, code],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    kind: 'customer',
    sourceId,
    code: r.code,
    name: r.name,
    email: r.email,
    phone: r.phone,
    street: r.address.street ?? null,
    postalCode: r.address.postalCode ?? null,
    city: r.address.city ?? null,
    country: r.address.country ?? null,
    vatNumber: r.vat_number,
    currency: r.currency.trim(),
  };
}

/** The customer whose sales invoice carries this external reference, when exactly one has one. */
export async function invoiceCustomerCode(
  db: Queryable,
  entityId: string,
  externalReference: string,
): Promise<string | null> {
  const { rows } = await db.query<{ customer_code: string }>(
    `SELECT DISTINCT customer_code FROM transactions WHERE entity_id = $1 AND type = 'SI' AND external_reference = $2 LIMIT 2`,
    [entityId, externalReference],
  );
  return rows.length === 1 ? rows[0]!.customer_code : null;
}
