import { LosslessNumber } from 'lossless-json';
import { ODataFilterError, type ODataRow, odataFilter } from '../../sync/remote/odata-filter.ts';

/*
 * The `$filter` of the contract-based REST API as the simulator (simulator.ts) answers it, in the
 * OData URI conventions Acumatica documents, as src/sync/remote/odata-filter.ts parses it: a field
 * compared with a literal, conditions joined by `and` and `or`, grouped in parentheses, negated by
 * `not`; datetimeoffset'…' and datetime'…' as instants. A field is one of the record, or of a
 * linked entity (`MainContact/Email`), each held as `{"value": …}`; an empty one counts as absent.
 */

/** A field's value: `{"value": …}` of the record or of a linked entity; undefined when absent or empty. */
function valueOf(row: ODataRow, path: string[]): unknown {
  let node: unknown = row;
  for (const part of path) node = node && typeof node === 'object' ? (node as ODataRow)[part] : undefined;
  const x = node && typeof node === 'object' ? (node as { value?: unknown }).value : undefined;
  if (x instanceof LosslessNumber || typeof x === 'number' || typeof x === 'boolean') return x;
  return typeof x === 'string' && x !== '' ? x : undefined;
}

/** The rows a `$filter` keeps, as a predicate; null when it does not parse (the simulator answers 400). */
export function parseFilter(filter: string): ((row: ODataRow) => boolean) | null {
  try {
    return odataFilter(filter, valueOf);
  } catch (err) {
    if (err instanceof ODataFilterError) return null;
    throw err;
  }
}
