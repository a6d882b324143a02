import type { Queryable } from '../db/database.ts';
import { DomainError, fieldError } from '../domain/errors.ts';

/**
 * A Peppol participant identifier, "scheme:identifier": the scheme is an EAS code (four digits,
 * such as 0208 for a Belgian enterprise number or 0088 for a GLN, or two letters such as EM), the
 * identifier has no spaces. The database checks the same shape.
 */
export const PEPPOL_ID = /^([0-9A-Z]{2,4}):([^\s:]+)$/;

/** Why `text` is not a Peppol participant identifier, or null. */
export function peppolIdProblem(text: string): string | null {
  if (text.length > 120) return 'must be at most 120 characters';
  return PEPPOL_ID.test(text) ? null : 'must be "scheme:identifier" with an EAS scheme code, such as "0208:0123456789"';
}

/** Splits "0208:0123456789" into the EndpointID's schemeID and value. */
export function splitPeppolId(id: string): { scheme: string; value: string } {
  const m = PEPPOL_ID.exec(id);
  if (!m) throw new Error(`not a Peppol id: ${id}`);
  return { scheme: m[1]!, value: m[2]! };
}

/** The entity's e-invoicing settings (GET/PUT /v1/settings/e-invoicing). */
export interface EntityEInvoicing {
  /** The seller's electronic address (BT-34). */
  peppolId: string | null;
}

/** A customer's e-invoicing settings (GET/PUT /v1/customers/{code}/e-invoicing). */
export interface CustomerEInvoicing {
  /** The buyer's electronic address (BT-49). */
  peppolId: string | null;
  /** The reference the buyer asked to find on its invoices (BT-10). */
  buyerReference: string | null;
}

export async function getEntityEInvoicing(db: Queryable, entityId: string, lock = false): Promise<EntityEInvoicing> {
  const { rows } = await db.query<{ peppol_id: string | null }>(
    `SELECT peppol_id FROM entities WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [entityId],
  );
  if (!rows[0]) throw new DomainError('ENTITY_DOES_NOT_EXIST', `Entity ${entityId} does not exist`);
  return { peppolId: rows[0].peppol_id };
}

/** Changes the settings sent; absent ones keep their value, null clears one. */
export async function saveEntityEInvoicing(
  db: Queryable,
  entityId: string,
  input: { peppolId?: string | null | undefined },
): Promise<{ before: EntityEInvoicing; after: EntityEInvoicing }> {
  const before = await getEntityEInvoicing(db, entityId, true);
  if (input.peppolId === undefined) return { before, after: before };
  if (input.peppolId !== null) {
    const problem = peppolIdProblem(input.peppolId);
    if (problem) throw fieldError('peppolId', problem);
  }
  await db.query('UPDATE entities SET peppol_id = $2 WHERE id = $1', [entityId, input.peppolId]);
  return { before, after: { peppolId: input.peppolId } };
}

export async function getCustomerEInvoicing(
  db: Queryable,
  entityId: string,
  code: string,
  lock = false,
): Promise<CustomerEInvoicing | null> {
  const { rows } = await db.query<{ peppol_id: string | null; buyer_reference: string | null }>(
    `SELECT peppol_id, buyer_reference FROM customers WHERE entity_id = $1 AND code = $2${lock ? ' FOR UPDATE' : ''}`,
    [entityId, code],
  );
  return rows[0] ? { peppolId: rows[0].peppol_id, buyerReference: rows[0].buyer_reference } : null;
}

/** Changes the fields sent on an existing customer; absent ones keep their value, null clears one. */
export async function saveCustomerEInvoicing(
  db: Queryable,
  entityId: string,
  code: string,
  input: { peppolId?: string | null | undefined; buyerReference?: string | null | undefined },
): Promise<{ before: CustomerEInvoicing; after: CustomerEInvoicing }> {
  const before = await getCustomerEInvoicing(db, entityId, code, true);
  if (!before) throw new DomainError('NOT_FOUND', `customer ${code} does not exist in this entity`);
  if (input.peppolId !== undefined && input.peppolId !== null) {
    const problem = peppolIdProblem(input.peppolId);
    if (problem) throw fieldError('peppolId', problem);
  }
  const buyerReference = input.buyerReference === undefined ? undefined : (input.buyerReference?.trim() ?? null);
  if (buyerReference === '') throw fieldError('buyerReference', 'must not be blank (send null to clear it)');
  const after: CustomerEInvoicing = {
    peppolId: input.peppolId === undefined ? before.peppolId : input.peppolId,
    buyerReference: buyerReference === undefined ? before.buyerReference : buyerReference,
  };
  await db.query(
    `UPDATE customers SET peppol_id = $3, buyer_reference = $4, row_version = row_version + 1, updated_at = now()
      WHERE entity_id = $1 AND code = $2`,
    [entityId, code, after.peppolId, after.buyerReference],
  );
  return { before, after };
}
