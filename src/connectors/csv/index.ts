import { registerSource } from '../../sync/registry.ts';
import './format.ts';
import { type CanonicalCustomer, type CanonicalProduct, CODE_PATTERN } from '../../sync/canonical.ts';
import { newCustomerFor } from './new-customers.ts';
import { type Lookup, type SourceItem, type SourcePage, pagesOf } from '../../sync/connector.ts';

export { parseImport, type ParsedImport, type ParseOptions } from './parse.ts';
export { IMPORT_KINDS, type ImportKind, COLUMNS, describeColumns } from './kinds.ts';
export { ImportFileError } from './csv.ts';
export type { ParsedRow } from './rows.ts';

/**
 * A customer or product a file names only by code: the one the target already has, linked with
 * the target's own details (never overwritten by an import that does not carry them).
 */
async function existing<T>(sourceId: string, find: (code: string) => Promise<T | null>): Promise<T | null> {
  const code = sourceId.toUpperCase();
  return CODE_PATTERN.test(code) ? await find(code) : null;
}

registerSource('file', (_pipeline, deps) => ({
  type: 'file',
  async *pages(): AsyncIterable<SourcePage> {
    yield* pagesOf((deps.params.items as SourceItem[] | undefined) ?? []);
  },
  // Asked only about a customer this pipeline has not met: one the target has is linked as it is;
  // else the file may create it (a SmartDebit account holder, new-customers.ts); else it is missing.
  async customer(sourceId): Promise<Lookup<CanonicalCustomer>> {
    const found =
      (await existing(sourceId, (code) => deps.target.customer(code, sourceId))) ??
      newCustomerFor(deps.params, sourceId);
    return found
      ? { found }
      : {
          missing: `Customer ${sourceId} is neither named in the file (customer_name on invoice rows, account_name on SmartDebit rows) nor a customer code of the target: import it as a customer first`,
        };
  },
  async product(sourceId): Promise<Lookup<CanonicalProduct>> {
    const found = await existing(sourceId, (code) => deps.target.product(code, sourceId));
    return found ? { found } : { missing: `Product ${sourceId} is not a product of the target` };
  },
}));
