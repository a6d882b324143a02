import fc from 'fast-check';
import ExcelJS from 'exceljs';
import { multipart } from '../../test/helpers/uploads.ts';
import type { FuzzContext } from './context.ts';
import { countStatus, difference, excerpt, type FamilyResult, newResult } from './state.ts';
import { hostileNumber, hostileString } from './values.ts';

/**
 * The import families: CSV and XLSX files through `POST /v1/imports` (pipeline "files"), of the
 * invoice, receipt and customer kinds with hostile cells, plus files that are not tables at all.
 * A file is refused (4xx, nothing written) or read row by row: every row the file has is
 * reported, and each one not booked says why (a parked row has its exception).
 */

const COLUMNS: Record<string, string[]> = {
  invoices: [
    'invoice_reference',
    'customer_id',
    'customer_name',
    'invoice_date',
    'due_date',
    'currency',
    'line_description',
    'net_amount',
    'vat_rate',
  ],
  receipts: ['payment_reference', 'customer_id', 'date', 'amount', 'currency', 'invoice_reference', 'fee'],
  customers: ['customer_id', 'name', 'email', 'city', 'country', 'currency', 'vat_number'],
};

const PLAUSIBLE: Record<string, string[]> = {
  invoice_reference: ['INV-1', 'INV-2', 'INV-3'],
  payment_reference: ['PAY-1', 'PAY-2'],
  customer_id: ['C1', 'CUST001', 'C9'],
  customer_name: ['Customer One', 'Zoë'],
  name: ['Customer One', 'Zoë'],
  invoice_date: ['2026-11-02', '2026-11-21'],
  due_date: ['2026-12-02', ''],
  date: ['2026-11-22'],
  currency: ['EUR', 'USD'],
  line_description: ['Service'],
  net_amount: ['10.00', '1234.56', '0.01'],
  amount: ['12.10', '5.00'],
  fee: ['', '0.30'],
  vat_rate: ['0.21', '21%', '0'],
  email: ['a@example.org', ''],
  city: ['Dublin'],
  country: ['IE', 'NL'],
  vat_number: ['', 'IE1234567T'],
};

type Cell = string | number;
const cell = (column: string): fc.Arbitrary<Cell> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...(PLAUSIBLE[column] ?? ['x'])) },
    { weight: 3, arbitrary: hostileString },
    { weight: 1, arbitrary: hostileNumber },
  );

interface Table {
  kind: string;
  header: string[];
  rows: Cell[][];
}

const table: fc.Arbitrary<Table> = fc.constantFrom(...Object.keys(COLUMNS)).chain((kind) => {
  const header = COLUMNS[kind]!;
  return fc.record({
    kind: fc.constant(kind),
    header: fc.oneof(
      { weight: 8, arbitrary: fc.constant(header) },
      // A column missing, or an unknown column added.
      { weight: 1, arbitrary: fc.nat(header.length - 1).map((i) => header.filter((_, j) => j !== i)) },
      { weight: 1, arbitrary: hostileString.map((h) => [...header, h]) },
    ),
    rows: fc.array(fc.tuple(...header.map(cell)), { minLength: 0, maxLength: 6 }),
  });
});

const csvCell = (v: Cell) => `"${String(v).replaceAll('"', '""')}"`;

/** UTF-16LE with its BOM, as Excel's "Unicode text" saves: the one way a lone surrogate reaches a file. */
function utf16(text: string): Buffer {
  const body = Buffer.alloc(text.length * 2);
  for (let i = 0; i < text.length; i++) body.writeUInt16LE(text.charCodeAt(i), i * 2);
  return Buffer.concat([Buffer.from([0xff, 0xfe]), body]);
}

function csvOf(t: Table, encoding: number): Buffer {
  const text = [t.header, ...t.rows].map((r) => r.map(csvCell).join(',')).join(encoding % 2 ? '\r\n' : '\n') + '\n';
  return encoding % 5 === 0 ? utf16(text) : Buffer.from(text, 'utf8');
}

async function xlsxOf(t: Table, variant: number): Promise<Buffer> {
  const book = new ExcelJS.Workbook();
  const sheet = book.addWorksheet('Sheet1');
  sheet.addRow(t.header);
  for (const row of t.rows) {
    // Now and then a cell is a formula, an Excel date or a boolean instead of text.
    sheet.addRow(
      row.map((v, i) =>
        (variant + i) % 17 === 0
          ? { formula: '1/0', result: { error: '#DIV/0!' } }
          : (variant + i) % 13 === 0
            ? new Date(Date.UTC(2026, 10, 21))
            : (variant + i) % 19 === 0
              ? true
              : v,
      ),
    );
  }
  return Buffer.from(await book.xlsx.writeBuffer());
}

const NOT_A_TABLE = [
  Buffer.alloc(0),
  Buffer.from('\u0000\u0001\u0002'),
  Buffer.from('PK\u0003\u0004garbage'),
  Buffer.from('"unterminated,quote\n1,2'),
];

async function fuzzImports(
  ctx: FuzzContext,
  format: 'csv' | 'xlsx',
  runs: number,
  seed: number,
): Promise<FamilyResult> {
  const result = newResult(format);
  const started = Date.now();
  let before = await ctx.probe.read();
  for (let n = 0; n < runs; n++) {
    const caseSeed = (seed + n * 15485863) | 0;
    const t = fc.sample(table, { seed: caseSeed, numRuns: 1 })[0]!;
    const junk = n % 25 === 24 ? NOT_A_TABLE[((n / 25) % NOT_A_TABLE.length) | 0]! : null;
    const bytes = junk ?? (format === 'csv' ? csvOf(t, n) : await xlsxOf(t, n));
    const name = `fuzz-${n}.${format}`;
    const body = multipart(
      { pipeline: 'files', ...(n % 3 === 0 ? { kind: t.kind } : {}) },
      {
        name,
        content: bytes,
        type: format === 'csv' ? 'text/csv' : 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      },
    );
    const input = junk
      ? `junk ${excerpt(junk.toString('latin1'), 60)}`
      : `${t.kind} [${t.header.join(',')}] ${excerpt(t.rows, 400)}`;
    const report = (problem: string) =>
      result.findings.push({ family: format, target: 'POST /v1/imports', seed, path: String(n), problem, input });
    result.cases++;
    const res = await ctx.send('POST', '/v1/imports', body.payload, 'entity', n + 1, {
      'content-type': body.contentType,
    });
    countStatus(result, res.status);
    const answer = res.body as {
      error?: { code?: unknown };
      alreadyImported?: boolean;
      rows?: { outcome: string; message: string | null; exceptionId: number | null }[];
    } | null;
    if (res.status >= 500) report(`answered ${res.status}: ${excerpt(res.body)}`);
    if (res.status >= 400 && typeof answer?.error?.code !== 'string')
      report(`answered ${res.status} without an error code`);
    const after = await ctx.probe.read();
    if (res.status >= 400) {
      const changed = difference(before, after);
      if (changed) report(`refused with ${res.status} but wrote: ${changed}`);
    } else if (res.status === 200 && answer?.rows && !junk) {
      const filled = t.rows.filter((r) => r.some((v) => String(v).trim() !== '')).length;
      if (answer.rows.length < filled) report(`${filled} rows with content, ${answer.rows.length} reported`);
      for (const r of answer.rows) {
        if ((r.outcome === 'parked' || r.outcome === 'failed') && !r.message)
          report(`a row ${r.outcome} without a reason`);
        if (r.outcome === 'parked' && r.exceptionId === null && !answer.alreadyImported)
          report('a parked row with no exception');
      }
    }
    before = after;
    ctx.progress(format, n + 1, runs);
  }
  result.ms = Date.now() - started;
  return result;
}

export const fuzzCsv = (ctx: FuzzContext, runs: number, seed: number) => fuzzImports(ctx, 'csv', runs, seed);
export const fuzzXlsx = (ctx: FuzzContext, runs: number, seed: number) => fuzzImports(ctx, 'xlsx', runs, seed);
