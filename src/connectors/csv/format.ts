import { registerFileFormat } from '../../sync/registry.ts';
import { ImportFileError } from './csv.ts';
import { IMPORT_KINDS, type ImportKind } from './kinds.ts';
import { parseImport } from './parse.ts';

const isImportKind = (kind: string): kind is ImportKind => (IMPORT_KINDS as readonly string[]).includes(kind);

/**
 * CSV and Excel (.xlsx) files of invoices, receipts, customers and payout reports, for
 * `POST /v1/imports` and `ledgerlink import` (docs/imports.md).
 */
registerFileFormat({
  name: 'csv',
  kinds: IMPORT_KINDS,
  parse: (bytes, fileName, { kind, decimalComma }) => {
    if (kind !== undefined && !isImportKind(kind)) throw new ImportFileError(`Not a kind of CSV file: "${kind}"`);
    return parseImport(bytes, fileName, { kind, decimalComma });
  },
});
