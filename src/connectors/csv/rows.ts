import type { RecordKind } from '../../sync/canonical.ts';
import type { InvalidItem, SourceItem } from '../../sync/connector.ts';
import type { Table, TableRow } from './table.ts';
import type { ReadOptions, RowProblem } from './values.ts';

/** The reason code of a row the file itself gets wrong (as opposed to a mapping the ledger lacks). */
export const IMPORT_ROW_INVALID = 'IMPORT_ROW_INVALID';

/** What the file says about one of its rows, before the engine has seen it. */
export interface ParsedRow {
  line: number;
  kind: RecordKind;
  sourceId: string;
  /** What is wrong with this row; its document is refused. */
  problems?: RowProblem[];
  /** Lines whose problems refuse this row's document too (the other lines of a bad invoice). */
  refusedWith?: number[];
  /** Why the row is not a document to import (a failed collection, a fee-only line). */
  ignored?: string;
}

export interface MapperContext {
  fileName: string;
  read: ReadOptions;
}

export interface Mapped {
  items: SourceItem[];
  rows: ParsedRow[];
}

export type Mapper = (table: Table, ctx: MapperContext) => Mapped;

/** The row as the file had it, kept with an exception so the user sees the data that caused it. */
export function rawRow(row: TableRow): { line: number; cells: Record<string, string> } {
  return { line: row.line, cells: Object.fromEntries([...row.cells].map(([k, v]) => [k, v.text])) };
}

/**
 * One refused document: parked with the first problem's line and field, and every problem in the
 * message, so the exception alone tells what to fix in the file.
 */
export function invalidItem(
  kind: RecordKind,
  sourceId: string,
  problems: RowProblem[],
  rows: TableRow[],
  fileName: string,
): SourceItem {
  const [first, ...rest] = problems;
  const more = rest.map((p) => `; line ${p.line} ${p.field}: ${p.message}`).join('');
  const invalid: InvalidItem = {
    kind,
    sourceId,
    reasonCode: IMPORT_ROW_INVALID,
    message: `${first!.field}: ${first!.message}${more}`,
    field: first!.field,
    payload: { file: fileName, rows: rows.map(rawRow) },
  };
  return { invalid, line: first!.line };
}

/** The id of a row whose own key is missing or repeated: unique within the file and stable across re-imports of it. */
export function rowSourceId(fileName: string, line: number, key?: string | null): string {
  return key ? `${key}#${line}` : `${fileName}#${line}`;
}
