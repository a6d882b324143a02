import { unstorableText } from './values.ts';
import type { SourceItem } from '../../sync/connector.ts';
import { ImportFileError } from './csv.ts';
import { mapInvoices } from './invoices.ts';
import { COLUMNS, type ImportKind, columnNames, detectKind, missingColumns } from './kinds.ts';
import { mapGoCardless, mapSmartDebit } from './payouts.ts';
import { type NewCustomers, SOURCE_NEW_CUSTOMERS } from './new-customers.ts';
import { mapCustomers, mapReceipts } from './receipts.ts';
import type { Mapper, ParsedRow } from './rows.ts';
import { readTable } from './table.ts';

export interface ParseOptions {
  /** The kind of file; detected from the header row when absent. */
  kind?: ImportKind | undefined;
  decimalComma?: boolean | undefined;
}

export interface ParsedImport {
  kind: ImportKind;
  format: 'csv' | 'xlsx';
  encoding: string | null;
  delimiter: string | null;
  items: SourceItem[];
  rows: ParsedRow[];
  /** Columns the kind does not read (a typo shows up here instead of vanishing). */
  ignoredColumns: string[];
  /**
   * For the import's run only, never stored (ImportedFile.sourceParams): the customers the file may
   * create but never update (a SmartDebit report's account holders, new-customers.ts).
   */
  sourceParams?: { [SOURCE_NEW_CUSTOMERS]: NewCustomers };
}

const MAPPERS: Record<ImportKind, Mapper> = {
  invoices: mapInvoices,
  receipts: mapReceipts,
  customers: mapCustomers,
  gocardless: mapGoCardless,
  smartdebit: mapSmartDebit,
};

/**
 * Reads a CSV or .xlsx file of one kind into canonical records, a result per row. A file that
 * cannot be read, whose kind cannot be told, or that lacks a required column throws
 * ImportFileError; a bad row only refuses its own document.
 */
export async function parseImport(
  bytes: Uint8Array,
  fileName: string,
  options: ParseOptions = {},
): Promise<ParsedImport> {
  const table = await readTable(bytes, fileName);
  // A column's name is echoed back and kept with the import (its ignored columns): one that cannot
  // be stored as text refuses the file, naming the column, rather than failing halfway through.
  for (const [i, h] of table.headers.entries()) {
    const why = unstorableText(h);
    if (why) throw new ImportFileError(`Column ${i + 1} of the header row ${why}`, 1);
  }
  const headers = new Set(table.headers);
  const kind = options.kind ?? detectKind(headers);
  if (!kind) {
    throw new ImportFileError(
      `Cannot tell the kind of file from its columns (${table.headers.join(', ')}); name the kind (invoices, receipts, customers, gocardless, smartdebit) or fix the header row`,
      1,
    );
  }
  const missing = missingColumns(kind, headers);
  if (missing.length)
    throw new ImportFileError(
      `${/^[aeiou]/i.test(kind) ? 'An' : 'A'} ${kind} file needs the column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
      1,
    );
  const known = new Set(COLUMNS[kind].flatMap(columnNames));
  const mapped = MAPPERS[kind](table, {
    fileName,
    read: { decimalComma: options.decimalComma ?? false, dates: 'iso', date1904: table.date1904 ?? false },
  });
  return {
    kind,
    format: table.format,
    encoding: table.encoding ?? null,
    delimiter: table.delimiter ?? null,
    items: mapped.items,
    rows: mapped.rows,
    ignoredColumns: table.headers.filter((h) => !known.has(h)),
    ...(mapped.newCustomers?.size ? { sourceParams: { [SOURCE_NEW_CUSTOMERS]: mapped.newCustomers } } : {}),
  };
}
