import { registerSource } from '../../sync/registry.ts';
import './format.ts';
import type { Queryable } from '../../db/database.ts';
import { loadCustomer } from '../../ledger/customers.ts';
import type { CanonicalCustomer, CanonicalProduct } from '../../sync/canonical.ts';
import type { Lookup, SourceItem, SourcePage } from '../../sync/connector.ts';

export { parseImport, type ParsedImport, type ParseOptions } from './parse.ts';
export { IMPORT_KINDS, type ImportKind, COLUMNS, describeColumns } from './kinds.ts';
export { ImportFileError } from './csv.ts';
export type { ParsedRow } from './rows.ts';

// Codes the engine keeps as given; anything else it would rewrite, and so miss the ledger's record.
const VALID_CODE = /^[A-Z0-9][A-Z0-9_.-]{0,49}$/;

async function ledgerCustomer(db: Queryable, entityId: string, sourceId: string): Promise<Lookup<CanonicalCustomer>> {
  const code = sourceId.toUpperCase();
  const c = VALID_CODE.test(code) ? await loadCustomer(db, entityId, code) : null;
  if (!c)
    return {
      missing: `Customer ${sourceId} is neither in the file (give customer_name, or import it as a customer first) nor a customer code of the ledger`,
    };
  return {
    found: {
      kind: 'customer',
      sourceId,
      code: c.code,
      name: c.name,
      email: c.email,
      phone: c.phone,
      street: c.address.street,
      postalCode: c.address.postalCode,
      city: c.address.city,
      country: c.address.country,
      vatNumber: c.vatNumber,
      currency: c.currency.trim(),
    },
  };
}

async function ledgerProduct(db: Queryable, entityId: string, sourceId: string): Promise<Lookup<CanonicalProduct>> {
  const code = sourceId.toUpperCase();
  const { rows } = VALID_CODE.test(code)
    ? await db.query<{
        code: string;
        name: string;
        gl_account_code: string | null;
        tax_code: string | null;
        department_id: string | null;
        vat_rate: string | null;
      }>(
        `SELECT code, name, gl_account_code, tax_code, department_id, vat_rate::text AS vat_rate FROM products WHERE entity_id = $1 AND code = $2 AND is_active`,
        [entityId, code],
      )
    : { rows: [] };
  const p = rows[0];
  if (!p) return { missing: `Product ${sourceId} is not a product of the ledger` };
  return {
    found: {
      kind: 'product',
      sourceId,
      code: p.code,
      name: p.name,
      vatRate: p.vat_rate,
      glAccountCode: p.gl_account_code,
      taxCode: p.tax_code,
      departmentId: p.department_id,
    },
  };
}

/**
 * Files (CSV, Excel, payout reports) reach the engine through `importFile`, which hands the parsed
 * records to a run directly; as a pipeline's source, `file` replays records given in the run's
 * params and otherwise reads nothing. A file names customers and products by its own ids; one the
 * pipeline has not met yet is looked up in the ledger by code, so rows may name existing ledger
 * customers and products without repeating them.
 */
registerSource('file', (pipeline, deps) => ({
  type: 'file',
  async *pages(): AsyncIterable<SourcePage> {
    const items = (deps.params.items as SourceItem[] | undefined) ?? [];
    for (let i = 0; i < items.length; i += 500) yield { items: items.slice(i, i + 500), cursor: String(i + 500) };
  },
  customer: (sourceId) => ledgerCustomer(deps.db, pipeline.entityId, sourceId),
  product: (sourceId) => ledgerProduct(deps.db, pipeline.entityId, sourceId),
}));
