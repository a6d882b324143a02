import { isKnownCurrency } from '../../domain/currency.ts';
import { isValidDate } from '../../domain/dates.ts';
import { Dec, parseAmount } from '../../domain/money.ts';
import type { Cell, TableRow } from './table.ts';

/** What is wrong with one cell of one row. */
export interface RowProblem {
  line: number;
  field: string;
  message: string;
}

export interface ReadOptions {
  /** Read `12,50` as 12.50 (and refuse `.` in amounts): European spreadsheets' CSV. */
  decimalComma: boolean;
  /** `dmy` also accepts DD/MM/YYYY, as UK payment providers write dates. */
  dates: 'iso' | 'dmy';
  date1904: boolean;
}

const DMY = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/;
/**
 * A timestamp, whose date is the business date: `2026-11-04T09:00:00Z`, `2026-11-04 09:00`,
 * seconds with a fraction, `AM`/`PM`, and a zone (`Z`, `UTC`, `GMT`, an offset such as `+01:00`,
 * `+0100`, `-05` or `GMT+01:00`). The whole cell must be one: in `2026-11-05 99:99 garbage` the
 * first ten characters happen to be a date, but the cell as a whole is not one, and is refused.
 */
const DATE_TIME =
  /^(\d{4}-\d{2}-\d{2})[T ](?:[01]\d|2[0-3]):[0-5]\d(?::(?:[0-5]\d|60)(?:[.,]\d{1,9})?)?(?: ?[AP]M)?(?: ?(?:Z|UTC|GMT|(?:UTC|GMT)?[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?))?$/i;

function excelSerialDate(serial: number, date1904: boolean): string | null {
  // Serial dates count days from 1899-12-30 (25569 days before 1970-01-01), or from 1904-01-01.
  const days = Math.floor(serial) - 25569 + (date1904 ? 1462 : 0);
  if (serial < 1 || serial > 2958465) return null;
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a cell's text cannot be stored as text (a NUL byte, a lone UTF-16 surrogate), or null. */
export function unstorableText(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character (byte 0), which cannot be stored; remove it';
  if (LONE_SURROGATE.test(text)) return 'contains a lone UTF-16 surrogate (not valid Unicode), which cannot be stored';
  return null;
}

/**
 * Reads the cells of one row, collecting a problem per bad cell instead of stopping at the first,
 * so the report names everything wrong with a row at once. Readers return null for a missing or
 * bad value; `problems` says which.
 */
export class RowReader {
  readonly problems: RowProblem[] = [];
  /** Columns whose cell holds text no database column can store; read as absent, reported once. */
  private readonly unstorable = new Set<string>();
  constructor(
    readonly row: TableRow,
    private readonly opts: ReadOptions,
  ) {
    // Every cell of the row, read by the mapper or not: a NUL or a lone surrogate cannot be stored
    // in PostgreSQL text (nor in an exception's copy of the row), so the row is refused, naming the column.
    for (const [column, cell] of row.cells) {
      const why = unstorableText(cell.text);
      if (!why) continue;
      this.unstorable.add(column);
      this.problem(column, why);
    }
  }

  get line(): number {
    return this.row.line;
  }

  cell(column: string): Cell | undefined {
    return this.unstorable.has(column) ? undefined : this.row.cells.get(column);
  }

  has(column: string): boolean {
    return this.row.cells.has(column);
  }

  /** The first of several names a column may go by (exports differ) that this row has a value in. */
  pick(columns: readonly string[]): string | undefined {
    return columns.find((c) => this.row.cells.has(c));
  }

  problem(field: string, message: string): void {
    this.problems.push({ line: this.row.line, field, message });
  }

  private missing(column: string, required: boolean): null {
    if (required && !this.unstorable.has(column)) this.problem(column, 'is required');
    return null;
  }

  text(column: string, o: { required?: boolean; max: number }): string | null {
    const cell = this.cell(column);
    if (!cell) return this.missing(column, o.required ?? false);
    if (cell.text.length > o.max) {
      this.problem(column, `must be at most ${o.max} characters (has ${cell.text.length})`);
      return null;
    }
    return cell.text;
  }

  date(column: string, o: { required?: boolean } = {}): string | null {
    const cell = this.cell(column);
    if (!cell) return this.missing(column, o.required ?? false);
    if (cell.date) return cell.date;
    if (cell.serial !== undefined) {
      const d = excelSerialDate(cell.serial, this.opts.date1904);
      if (d) return d;
    }
    const t = cell.text;
    if (isValidDate(t)) return t;
    const dt = DATE_TIME.exec(t);
    if (dt && isValidDate(dt[1]!)) return dt[1]!;
    const dmy = this.opts.dates === 'dmy' ? DMY.exec(t) : null;
    if (dmy) {
      const iso = `${dmy[3]}-${dmy[2]!.padStart(2, '0')}-${dmy[1]!.padStart(2, '0')}`;
      if (isValidDate(iso)) return iso;
    }
    this.problem(column, `"${t}" is not a date; write YYYY-MM-DD${this.opts.dates === 'dmy' ? ' or DD/MM/YYYY' : ''}`);
    return null;
  }

  currency(column: string, o: { required?: boolean; fallback?: string | null } = {}): string | null {
    const cell = this.cell(column);
    if (!cell) return o.fallback ?? this.missing(column, o.required ?? false);
    const code = cell.text.toUpperCase();
    if (!isKnownCurrency(code)) {
      this.problem(column, `"${cell.text}" is not an ISO 4217 currency code such as EUR`);
      return null;
    }
    return code;
  }

  /**
   * A decimal amount as text. `currency` (when known) limits its decimals; a comma decimal is
   * refused with a hint unless the import was asked to read them, because `1,234` means a thousand
   * in one country and one point two in the next, and guessing would book the wrong amount.
   */
  amount(
    column: string,
    currency: string | null,
    o: { required?: boolean; sign?: 'positive' | 'nonZero' | 'any' } = {},
  ): string | null {
    const cell = this.cell(column);
    if (!cell) return this.missing(column, o.required ?? false);
    // One leading + before a digit is a sign people write; `+-5` is not an amount, so the + goes
    // only where it cannot turn what follows into something else.
    let t = cell.text.replace(/^\+(?=\d)/, '');
    if (cell.serial === undefined) {
      if (this.opts.decimalComma) {
        if (t.includes('.')) {
          this.problem(
            column,
            `"${cell.text}": with decimal commas, write amounts without "." (no thousands separators)`,
          );
          return null;
        }
        t = t.replace(',', '.');
      } else if (/^-?\d+,\d+$/.test(t)) {
        this.problem(
          column,
          `"${cell.text}" uses a decimal comma; write ${t.replace(',', '.')}, or import with the decimal-comma option`,
        );
        return null;
      } else if (t.includes(',')) {
        this.problem(column, `"${cell.text}": write amounts without thousands separators, such as 1234.50`);
        return null;
      }
    }
    if (!/^-?\d+(\.\d+)?$/.test(t) || t.length > 30) {
      this.problem(column, `"${cell.text}" is not an amount; write a decimal number such as 120.50`);
      return null;
    }
    if (currency) {
      const minor = parseAmount(t, currency);
      if (!minor.ok && minor.error.code === 'OUT_OF_RANGE') {
        this.problem(column, `"${cell.text}" is beyond the largest amount the ledger can store`);
        return null;
      }
      if (!minor.ok && minor.error.code === 'TOO_MANY_DECIMALS') {
        this.problem(column, `"${cell.text}" has more decimals than ${currency} allows`);
        return null;
      }
      if (minor.ok) {
        if (o.sign === 'positive' && minor.value <= 0n) {
          this.problem(column, `must be more than zero (is ${t})`);
          return null;
        }
        if (o.sign === 'nonZero' && minor.value === 0n) {
          this.problem(column, 'must not be zero');
          return null;
        }
      }
    }
    return t;
  }

  /** A VAT rate as a fraction ("0.21") or a percentage with its sign ("21%"). */
  rate(column: string, o: { required?: boolean } = {}): string | null {
    const cell = this.cell(column);
    if (!cell) return this.missing(column, o.required ?? false);
    const t = cell.text.replace(/\s/g, '');
    const percent = /^(\d+(?:\.\d+)?)%$/.exec(t);
    const value = percent ? new Dec(percent[1]!).div(100).toFixed() : t;
    if (!/^\d+(\.\d{1,10})?$/.test(value)) {
      this.problem(column, `"${cell.text}" is not a rate; write a fraction such as 0.21 or a percentage such as 21%`);
      return null;
    }
    if (new Dec(value).gt(1)) {
      this.problem(column, `"${cell.text}" is more than 100%; write 0.21 or 21% for twenty-one percent`);
      return null;
    }
    return value;
  }
}
