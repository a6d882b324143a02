/**
 * A small RFC 4180 reader: quoted fields, doubled quotes inside them, delimiters and line breaks
 * inside quotes, CRLF, LF or CR line ends, a byte order mark, and `,`, `;` or tab as delimiter
 * (detected from the header line). Every record keeps the line it starts on, so a bad row can be
 * named the way a spreadsheet user sees it.
 */

// A file that cannot be read as a table at all; the engine's imports know it from src/sync.
export { ImportFileError } from '../../sync/registry.ts';
import { ImportFileError } from '../../sync/registry.ts';

export interface CsvRecord {
  /** The 1-based line the record starts on. */
  line: number;
  cells: string[];
}

export type Delimiter = ',' | ';' | '\t';

export interface DecodedText {
  text: string;
  encoding: 'utf-8' | 'utf-16le' | 'windows-1252';
}

// Windows-1252 differs from Latin-1 only in 0x80–0x9F (€, curly quotes, dashes…); Node decodes
// "windows-1252" as Latin-1, so those 32 are mapped here. 0xFFFD marks the five unassigned bytes.
const CP1252_HIGH = [
  0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0xfffd,
  0x017d, 0xfffd, 0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a,
  0x0153, 0xfffd, 0x017e, 0x0178,
];

function decodeWindows1252(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += String.fromCharCode(b >= 0x80 && b <= 0x9f ? CP1252_HIGH[b - 0x80]! : b);
  return out;
}

/**
 * UTF-16LE code unit by code unit. TextDecoder would turn a lone surrogate into U+FFFD without a
 * word; kept as it is, the row holding it is refused naming its column (RowReader), never altered.
 */
function decodeUtf16le(bytes: Uint8Array): string {
  if (bytes.length % 2 !== 0)
    throw new ImportFileError('The UTF-16 file ends in the middle of a character (odd length)');
  const parts: string[] = [];
  for (let at = 0; at < bytes.length; at += 2 * 8192) {
    const end = Math.min(bytes.length, at + 2 * 8192);
    const units: number[] = [];
    for (let i = at; i < end; i += 2) units.push(bytes[i]! | (bytes[i + 1]! << 8));
    parts.push(String.fromCharCode(...units));
  }
  return parts.join('');
}

/**
 * Bytes to text. UTF-8 (with or without BOM) is the norm; UTF-16LE with BOM is what Excel's
 * "Unicode text" writes; anything that is not valid UTF-8 is read as Windows-1252, which is what
 * Excel's plain "CSV" writes on European Windows machines.
 */
export function decodeText(bytes: Uint8Array): DecodedText {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { text: decodeUtf16le(bytes.subarray(2)), encoding: 'utf-16le' };
  const body = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(body), encoding: 'utf-8' };
  } catch {
    return { text: decodeWindows1252(body), encoding: 'windows-1252' };
  }
}

/** The delimiter used most often, outside quotes, on the first line; `,` when there is none. */
export function detectDelimiter(text: string): Delimiter {
  const counts: Record<Delimiter, number> = { ',': 0, ';': 0, '\t': 0 };
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted && (ch === ',' || ch === ';' || ch === '\t')) counts[ch]++;
  }
  let best: Delimiter = ',';
  for (const d of [';', '\t'] as const) if (counts[d] > counts[best]) best = d;
  return best;
}

/**
 * Parses CSV text into records. A quote that opens a field must be closed; a quote in the middle
 * of an unquoted field is kept as a character (spreadsheets write `5" screen` that way). Records
 * whose cells are all empty (blank lines) are left out.
 */
export function parseCsv(input: string, delimiter: Delimiter = detectDelimiter(input)): CsvRecord[] {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const records: CsvRecord[] = [];
  let cells: string[] = [];
  let field = '';
  // Set once a quoted field has been read, so that `""` (an empty quoted field) counts as started.
  let afterQuote = false;
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const n = text.length;

  const endRecord = () => {
    cells.push(field);
    field = '';
    afterQuote = false;
    if (cells.some((c) => c !== '')) records.push({ line: recordLine, cells });
    cells = [];
  };

  while (i < n) {
    const ch = text[i]!;
    if (ch === '"' && field === '' && !afterQuote) {
      // A quoted field: read to the closing quote; "" stands for one quote.
      const openedOn = line;
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i]!;
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          closed = true;
          i++;
          break;
        }
        if (c === '\r' || c === '\n') {
          line++;
          if (c === '\r' && text[i + 1] === '\n') {
            field += '\r\n';
            i += 2;
            continue;
          }
        }
        field += c;
        i++;
      }
      if (!closed) throw new ImportFileError('A quoted field is never closed', openedOn);
      // Only a delimiter or a line end may follow a closing quote.
      const next = text[i];
      if (next !== undefined && next !== delimiter && next !== '\r' && next !== '\n') {
        throw new ImportFileError(`Unexpected ${JSON.stringify(next)} after a closing quote`, line);
      }
      afterQuote = true;
      continue;
    }
    if (ch === delimiter) {
      cells.push(field);
      field = '';
      afterQuote = false;
      i++;
      continue;
    }
    if (ch === '\r' || ch === '\n') {
      endRecord();
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
      continue;
    }
    field += ch;
    i++;
  }
  if (field !== '' || afterQuote || cells.length > 0) endRecord();
  return records;
}
