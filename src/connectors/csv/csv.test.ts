import { describe, expect, it } from 'vitest';
import { ImportFileError, decodeText, detectDelimiter, parseCsv } from './csv.ts';
import { excelNumberText, normaliseHeader, readCsvTable } from './table.ts';
import { RowReader } from './values.ts';

const cells = (text: string) => parseCsv(text).map((r) => r.cells);

describe('parseCsv (RFC 4180)', () => {
  it('reads plain fields, CRLF, LF and CR line ends, and a last line without a line end', () => {
    expect(cells('a,b\r\n1,2\n3,4\r5,6')).toEqual([
      ['a', 'b'],
      ['1', '2'],
      ['3', '4'],
      ['5', '6'],
    ]);
  });

  it('reads quoted fields with delimiters, doubled quotes and line breaks inside', () => {
    expect(cells('name,note\r\n"Smith, J.","He said ""hi""\r\nand left"\r\n')).toEqual([
      ['name', 'note'],
      ['Smith, J.', 'He said "hi"\r\nand left'],
    ]);
  });

  it('keeps empty fields, empty quoted fields and a trailing empty field; a row of empty cells is blank', () => {
    expect(cells('a,b,c\n,"",\n')).toEqual([['a', 'b', 'c']]);
    expect(cells('a,b,c\nx,"",\n')).toEqual([
      ['a', 'b', 'c'],
      ['x', '', ''],
    ]);
  });

  it('numbers records by the line they start on, across quoted line breaks and blank lines', () => {
    const records = parseCsv('h1,h2\n"multi\nline",x\n\nlast,y\n');
    expect(records.map((r) => [r.line, r.cells[0]])).toEqual([
      [1, 'h1'],
      [2, 'multi\nline'],
      [5, 'last'],
    ]);
  });

  it('keeps a quote in the middle of an unquoted field as a character', () => {
    expect(cells('a\n5" screen\n')).toEqual([['a'], ['5" screen']]);
  });

  it('refuses an unterminated quote and text after a closing quote, naming the line', () => {
    expect(() => parseCsv('a,b\n1,"open\n2,3\n')).toThrow(ImportFileError);
    expect(() => parseCsv('a,b\n1,"open\n2,3\n')).toThrow(/line 2/);
    expect(() => parseCsv('a\n"x"y\n')).toThrow(/after a closing quote \(line 2\)/);
  });

  it('strips a byte order mark', () => {
    expect(cells('\uFEFFa,b\n1,2')).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });
});

describe('delimiter and encoding detection', () => {
  it('takes the most frequent of , ; and tab on the header line, outside quotes', () => {
    expect(detectDelimiter('a;b;c\n1,5;2;3')).toBe(';');
    expect(detectDelimiter('a,b\n1;2;3;4')).toBe(',');
    expect(detectDelimiter('"x;y";b;c')).toBe(';');
    expect(detectDelimiter('"x;y;z",b')).toBe(',');
    expect(detectDelimiter('a\tb\tc')).toBe('\t');
    expect(detectDelimiter('single')).toBe(',');
    expect(cells('a;b\n"1;2";3')).toEqual([
      ['a', 'b'],
      ['1;2', '3'],
    ]);
  });

  it('decodes UTF-8 with or without BOM, UTF-16LE with BOM, and falls back to Windows-1252', () => {
    expect(decodeText(new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xc3, 0xa9]))).toEqual({ text: 'aé', encoding: 'utf-8' });
    expect(decodeText(new Uint8Array([0xff, 0xfe, 0x61, 0x00, 0xe9, 0x00]))).toEqual({
      text: 'aé',
      encoding: 'utf-16le',
    });
    expect(decodeText(new Uint8Array([0x61, 0xe9, 0x80]))).toEqual({ text: 'aé€', encoding: 'windows-1252' });
  });
});

describe('tables and cell values', () => {
  const read = (csv: string, decimalComma = false) => {
    const t = readCsvTable(new TextEncoder().encode(csv));
    return t.rows.map((row) => new RowReader(row, { decimalComma, dates: 'iso', date1904: false }));
  };

  it('normalises headers and refuses a repeated column or a row wider than the header', () => {
    expect(normaliseHeader(' Invoice Reference ')).toBe('invoice_reference');
    expect(normaliseHeader('customers.given-name')).toBe('customers.given_name');
    expect(() => readCsvTable(new TextEncoder().encode('a,A\n1,2'))).toThrow(/appears twice/);
    expect(() => readCsvTable(new TextEncoder().encode('a,b\n1,2,3'))).toThrow(/more cells than the header.*line 2/);
  });

  it('reads amounts as decimal text and explains what it refuses', () => {
    const [r] = read('amount,comma,thousands,cents,neg\n120.5,"12,50","1,234.00",0.001,-3\n');
    expect(r!.amount('amount', 'EUR')).toBe('120.5');
    expect(r!.amount('comma', 'EUR')).toBeNull();
    expect(r!.amount('thousands', 'EUR')).toBeNull();
    expect(r!.amount('cents', 'EUR')).toBeNull();
    expect(r!.amount('neg', 'EUR', { sign: 'positive' })).toBeNull();
    expect(r!.amount('neg', 'EUR')).toBe('-3');
    expect(r!.problems.map((p) => [p.field, p.message])).toEqual([
      ['comma', '"12,50" uses a decimal comma; write 12.50, or import with the decimal-comma option'],
      ['thousands', '"1,234.00": write amounts without thousands separators, such as 1234.50'],
      ['cents', '"0.001" has more decimals than EUR allows'],
      ['neg', 'must be more than zero (is -3)'],
    ]);
  });

  it('reads one leading + as a sign and refuses a + before another sign', () => {
    const [r] = read('a,b,c,d\n+5.00,+-5.00,-+5.00,++5\n');
    expect(r!.amount('a', 'EUR', { sign: 'positive' })).toBe('5.00');
    expect(r!.amount('b', 'EUR')).toBeNull();
    expect(r!.amount('c', 'EUR')).toBeNull();
    expect(r!.amount('d', 'EUR')).toBeNull();
    expect(r!.problems.map((p) => [p.field, p.message])).toEqual([
      ['b', '"+-5.00" is not an amount; write a decimal number such as 120.50'],
      ['c', '"-+5.00" is not an amount; write a decimal number such as 120.50'],
      ['d', '"++5" is not an amount; write a decimal number such as 120.50'],
    ]);
    const [dc] = read('a;b\n+12,50;+-12,50\n', true);
    expect(dc!.amount('a', 'EUR')).toBe('12.50');
    expect(dc!.amount('b', 'EUR')).toBeNull();
  });

  it('reads decimal commas only when asked, and then refuses "."', () => {
    const [r] = read('a;b\n12,50;1.234,00\n', true);
    expect(r!.amount('a', 'EUR')).toBe('12.50');
    expect(r!.amount('b', 'EUR')).toBeNull();
  });

  it('reads dates as YYYY-MM-DD, refuses other spellings and impossible days', () => {
    const [r] = read('a,b,c,d\n2026-11-01,01/11/2026,2026-02-30,2026-11-01T10:00:00Z\n');
    expect(r!.date('a')).toBe('2026-11-01');
    expect(r!.date('b')).toBeNull();
    expect(r!.date('c')).toBeNull();
    expect(r!.date('d')).toBe('2026-11-01');
    expect(r!.problems[0]!.message).toBe('"01/11/2026" is not a date; write YYYY-MM-DD');
  });

  it('reads a timestamp as its date only when the whole cell is a timestamp', () => {
    const good = [
      '2026-11-05T10:00:00Z',
      '2026-11-05 10:00',
      '2026-11-05 10:00:00',
      '2026-11-05T10:00:00.000Z',
      '2026-11-05T10:00:00+01:00',
      '2026-11-05T10:00-05:00',
      '2026-11-05 10:00:00 +0100',
      '2026-11-05 10:00:00 UTC',
      '2026-11-05 23:59:59.5 GMT+01:00',
      '2026-11-05 09:00 AM',
    ];
    const bad = [
      '2026-11-05 99:99 garbage',
      '2026-11-05 10:00 garbage',
      '2026-11-05 24:00',
      '2026-11-05T10:60',
      '2026-11-05T10:00Zjunk',
      '2026-11-05T10:00:00+',
      '2026-11-05 10',
    ];
    const cols = [...good, ...bad].map((_, i) => `c${i}`);
    const [r] = read(`${cols.join(',')}\n${[...good, ...bad].join(',')}\n`);
    expect(good.map((_, i) => r!.date(`c${i}`))).toEqual(good.map(() => '2026-11-05'));
    expect(bad.map((_, i) => r!.date(`c${good.length + i}`))).toEqual(bad.map(() => null));
    expect(r!.problems.map((p) => p.message)).toEqual(bad.map((t) => `"${t}" is not a date; write YYYY-MM-DD`));
  });

  it('lists a column with a blank header that holds data by its position, and forgets a blank empty one', () => {
    const t = readCsvTable(new TextEncoder().encode('a,,b,,\n1,,2,x,\n3,,4,,\n'));
    expect(t.headers).toEqual(['a', 'b', 'column 4']);
    expect(t.rows.map((row) => Object.fromEntries([...row.cells].map(([k, v]) => [k, v.text])))).toEqual([
      { a: '1', b: '2', 'column 4': 'x' },
      { a: '3', b: '4' },
    ]);
    // A trailing delimiter on every line (empty columns under blank headers) is harmless.
    expect(readCsvTable(new TextEncoder().encode('a,b,\n1,2,\n')).headers).toEqual(['a', 'b']);
  });

  it('reads VAT rates as fractions or percentages', () => {
    const [r] = read('a,b,c,d\n0.21,21%,21,6.5 %\n');
    expect(r!.rate('a')).toBe('0.21');
    expect(r!.rate('b')).toBe('0.21');
    expect(r!.rate('c')).toBeNull();
    expect(r!.rate('d')).toBe('0.065');
  });

  it('turns Excel numbers back into the decimals people typed', () => {
    // Excel writes 8.3 to the file as "8.3000000000000007", which is the same double as 8.3.
    expect(excelNumberText(Number('8.3000000000000007'))).toBe('8.3');
    expect(excelNumberText(0.1 + 0.2)).toBe('0.3');
    expect(excelNumberText(121)).toBe('121');
    expect(excelNumberText(Number('2.1105000000000003'))).toBe('2.1105');
    expect(excelNumberText(1e-7)).toBe('0.0000001');
  });
});
