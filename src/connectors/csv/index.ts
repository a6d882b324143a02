import { registerSource } from '../../sync/registry.ts';
import './format.ts';
import { CODE_PATTERN } from '../../sync/canonical.ts';
import { type Lookup, type SourceItem, type SourcePage, pagesOf } from '../../sync/connector.ts';

export { parseImport, type ParsedImport, type ParseOptions } from './parse.ts';
export { IMPORT_KINDS, type ImportKind, COLUMNS, describeColumns } from './kinds.ts';
export { ImportFileError } from './csv.ts';
export type { ParsedRow } from './rows.ts';

/**
 * A customer or product a file names only by code: the one the target already has, linked with
 * the target's own details (never overwritten by an import that does not carry them).
 */
async function existing<T>(
  sourceId: string,
  find: (code: string) => Promise<T | null>,
  what: string,
): Promise<Lookup<T>> {
  const code = sourceId.toUpperCase();
  const found = CODE_PATTERN.test(code) ? await find(code) : null;
  return found ? { found } : { missing: what };
}

registerSource('file', (_pipeline, deps) => ({
  type: 'file',
  async *pages(): AsyncIterable<SourcePage> {
    yield* pagesOf((deps.params.items as SourceItem[] | undefined) ?? []);
  },
  customer: (sourceId) =>
    existing(
      sourceId,
      (code) => deps.target.customer(code, sourceId),
      `Customer ${sourceId} is neither in the file (give customer_name, or import it as a customer first) nor a customer code of the target`,
    ),
  product: (sourceId) =>
    existing(
      sourceId,
      (code) => deps.target.product(code, sourceId),
      `Product ${sourceId} is not a product of the target`,
    ),
}));
