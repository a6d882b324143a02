import type { CellValue } from 'exceljs';
import { Dec } from '../../domain/money.ts';
import { type Delimiter, ImportFileError, decodeText, detectDelimiter, parseCsv } from './csv.ts';

/** One cell as text, with what a spreadsheet knew about it when it was a date or a number. */
export interface Cell {
  text: string;
  /** A cell Excel formatted as a date, as YYYY-MM-DD. */
  date?: string;
  /** A numeric Excel cell's serial value, for a date column whose cells were left unformatted. */
  serial?: number;
}

export interface TableRow {
  /** The line (CSV) or row number (Excel) the user sees. */
  line: number;
  cells: Map<string, Cell>;
}

export interface Table {
  format: 'csv' | 'xlsx';
  /** Normalised header names, in file order. */
  headers: string[];
  rows: TableRow[];
  encoding?: string | undefined;
  delimiter?: Delimiter | undefined;
  /** Excel's 1904 date system (old Mac workbooks) shifts serial dates by four years. */
  date1904?: boolean | undefined;
}

/** `Invoice Reference`, `invoice-reference` and `INVOICE_REFERENCE` all name `invoice_reference`. */
export function normaliseHeader(raw: string): string {
  return raw
    .replace(/^\uFEFF/, '')
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

function toTable(format: Table['format'], records: { line: number; cells: Cell[] }[], extra: Partial<Table>): Table {
  const [head, ...body] = records;
  if (!head) throw new ImportFileError('The file is empty: the first line must name the columns');
  // A column with a blank header cell is read under its position, `column 7` (a name no header
  // can normalise to, as it has a space), when any of its cells holds something: no kind reads
  // it, so it is listed with the columns not read instead of vanishing with its data, and its
  // cells are checked and kept with a refused row like any other. A blank header over an empty
  // column, as a trailing delimiter makes, is nothing and stays nameless.
  const headers = head.cells.map((c, i) => {
    const h = normaliseHeader(c.text);
    if (h !== '' || !body.some((r) => (r.cells[i]?.text.trim() ?? '') !== '')) return h;
    return `column ${i + 1}`;
  });
  const seen = new Set<string>();
  headers.forEach((h, i) => {
    if (h === '') return;
    if (seen.has(h)) throw new ImportFileError(`Column "${h}" appears twice (column ${i + 1})`, head.line);
    seen.add(h);
  });
  const rows = body.map((r) => {
    const cells = new Map<string, Cell>();
    headers.forEach((h, i) => {
      const cell = r.cells[i];
      if (h !== '' && cell && cell.text.trim() !== '') cells.set(h, { ...cell, text: cell.text.trim() });
    });
    const extraCell = r.cells.slice(headers.length).find((c) => c.text.trim() !== '');
    if (extraCell)
      throw new ImportFileError(
        `The row has more cells than the header has columns (${r.cells.length} > ${headers.length})`,
        r.line,
      );
    return { line: r.line, cells };
  });
  return { format, headers: headers.filter((h) => h !== ''), rows: rows.filter((r) => r.cells.size > 0), ...extra };
}

/** Reads CSV bytes (any of the encodings and delimiters `csv.ts` knows) into a table. */
export function readCsvTable(bytes: Uint8Array): Table {
  const { text, encoding } = decodeText(bytes);
  const delimiter = detectDelimiter(text);
  const records = parseCsv(text, delimiter).map((r) => ({ line: r.line, cells: r.cells.map((t) => ({ text: t })) }));
  return toTable('csv', records, { encoding, delimiter });
}

/**
 * Excel keeps numbers as binary floating point and shows at most 15 significant digits; reading
 * a cell back at that precision gives the decimal the user typed or sees (8.3 stored as
 * 8.3000000000000007 reads "8.3"). The float lives only for this conversion: everything after
 * works on the decimal text, and a formula result with more decimals than its currency allows is
 * refused later, never rounded here.
 */
export function excelNumberText(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < Number.MAX_SAFE_INTEGER) return String(n);
  return new Dec(n.toPrecision(15)).toFixed();
}

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function excelCell(value: CellValue): Cell | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return { text: value };
  if (typeof value === 'number') return { text: excelNumberText(value), serial: value };
  if (typeof value === 'boolean') return { text: value ? 'true' : 'false' };
  if (value instanceof Date)
    return Number.isNaN(value.getTime()) ? { text: '' } : { text: isoDay(value), date: isoDay(value) };
  if ('richText' in value) return { text: value.richText.map((r) => r.text).join('') };
  if ('hyperlink' in value) return { text: value.text };
  if ('error' in value) return { text: value.error };
  if ('formula' in value || 'sharedFormula' in value)
    return value.result === undefined ? null : excelCell(value.result);
  return null;
}

/** Reads the first worksheet of an .xlsx workbook into a table; its first non-empty row names the columns. */
export async function readXlsxTable(bytes: Uint8Array): Promise<Table> {
  // Loaded on first use: exceljs is large and most servers never see a workbook.
  const { default: ExcelJS } = await import('exceljs');
  const workbook = new ExcelJS.Workbook();
  try {
    // exceljs types its input as an ArrayBuffer; JSZip underneath reads one as well as a Buffer.
    await workbook.xlsx.load(new Uint8Array(bytes).buffer);
  } catch (err) {
    throw new ImportFileError(
      `The workbook cannot be read as .xlsx: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const sheet = workbook.worksheets.find((w) => w.actualRowCount > 0);
  if (!sheet) throw new ImportFileError('The workbook has no worksheet with data');
  const records: { line: number; cells: Cell[] }[] = [];
  sheet.eachRow({ includeEmpty: false }, (row, rowNumber) => {
    const cells: Cell[] = [];
    for (let col = 1; col <= row.cellCount; col++) cells.push(excelCell(row.getCell(col).value) ?? { text: '' });
    if (cells.some((c) => c.text.trim() !== '')) records.push({ line: rowNumber, cells });
  });
  return toTable('xlsx', records, { date1904: workbook.properties.date1904 });
}

/** An .xlsx file is a zip archive; anything else is read as CSV text. */
export function isXlsx(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** Reads an uploaded file, CSV or Excel, into a table of cells keyed by normalised column name. */
export async function readTable(bytes: Uint8Array, fileName: string): Promise<Table> {
  if (bytes.byteLength === 0) throw new ImportFileError('The file is empty');
  if (isXlsx(bytes)) return readXlsxTable(bytes);
  if (/\.xls$/i.test(fileName) || (bytes[0] === 0xd0 && bytes[1] === 0xcf)) {
    throw new ImportFileError('Old Excel .xls workbooks are not read; save the sheet as .xlsx or CSV');
  }
  return readCsvTable(bytes);
}
