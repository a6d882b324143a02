import { referenceKey } from '../../domain/documents.ts';
import type { RecordKind } from '../../sync/canonical.ts';
import type { InvalidItem, SourceItem } from '../../sync/connector.ts';
import type { NewCustomers } from './new-customers.ts';
import type { Table, TableRow } from './table.ts';
import type { ReadOptions, RowProblem, RowReader } from './values.ts';

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
  /** Customers the file may create but never update (new-customers.ts). */
  newCustomers?: NewCustomers;
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

/**
 * Keys rows by their own reference; a reference the file already used gets a line-suffixed id, so
 * the repeat is refused on its own instead of being mistaken for the first (and booked as nothing).
 * References are compared as the ledger's duplicate check compares them (`referenceKey`: trimmed,
 * any case), because `PAY-1` and `pay-1` are one document there; `exact` compares the text as
 * given, for ids the source map keeps case-sensitively (a customer id).
 */
export class Keys {
  private readonly first = new Map<string, number>();
  constructor(private readonly exact = false) {}

  /** The row's source id: `key`, or a line-suffixed id with a problem on `column` when an earlier row used it. */
  claim(r: RowReader, column: string, key: string | null, fileName: string, what?: string): string {
    if (key === null) return rowSourceId(fileName, r.line);
    const earlier = this.earlier(r.line, key);
    if (earlier === undefined) return key;
    r.problem(column, `${what ?? `"${key}"`} is already used on line ${earlier}`);
    return rowSourceId(fileName, r.line, key);
  }

  /** The line that used `key` first, or undefined (and `line` takes it). */
  private earlier(line: number, key: string): number | undefined {
    const k = this.exact ? key : referenceKey(key);
    const earlier = this.first.get(k);
    if (earlier === undefined) this.first.set(k, line);
    return earlier;
  }
}
