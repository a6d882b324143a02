import { describe, expect, it } from 'vitest';
import { parseImport } from './parse.ts';

/* Invoice files with quantity and unit_price columns (docs/imports.md). */

const parse = (lines: string[], decimalComma = false) =>
  parseImport(new TextEncoder().encode(lines.join('\n') + '\n'), 'invoices.csv', { kind: 'invoices', decimalComma });

const invoices = (items: Awaited<ReturnType<typeof parse>>['items']) =>
  items.flatMap((i) => ('record' in i && i.record.kind === 'invoice' ? [i.record] : []));

describe('invoice files with quantities and unit prices', () => {
  it('computes a net left out (no net_amount column needed), keeps a net given, and lines without units as before', async () => {
    const noNet = await parse([
      'invoice_reference,customer_id,invoice_date,currency,quantity,unit_price,vat_rate',
      'A-1,K1,2026-11-02,EUR,3,12.3333,0.21',
    ]);
    expect(invoices(noNet.items)[0]!.lines[0]).toMatchObject({
      quantity: '3',
      unitPrice: '12.3333',
      netAmount: '37.00',
    });
    const mixed = await parse(
      [
        'invoice_reference,customer_id,invoice_date,currency,quantity,unit_price,net_amount,vat_rate',
        'A-2,K1,2026-11-02,EUR,"1,5","80,00","120,00",0.21',
        'A-2,K1,2026-11-02,EUR,,,"2,50",0.21',
      ],
      true,
    );
    const lines = invoices(mixed.items)[0]!.lines;
    expect(lines[0]).toMatchObject({ quantity: '1.5', unitPrice: '80', netAmount: '120.00' });
    expect(lines[1]).toMatchObject({ netAmount: '2.50' });
    expect(lines[1]!.quantity).toBeUndefined();
  });

  it('refuses a unit price without a quantity, a fifth decimal and a quantity of zero, naming the column', async () => {
    const bad = await parse([
      'invoice_reference,customer_id,invoice_date,currency,quantity,unit_price,net_amount,vat_rate',
      'B-1,K1,2026-11-02,EUR,,12.50,12.50,0.21',
      'B-2,K1,2026-11-02,EUR,2,1.23456,,0.21',
      'B-3,K1,2026-11-02,EUR,0,5,0.00,0.21',
    ]);
    expect(invoices(bad.items)).toEqual([]);
    const problems = bad.rows.flatMap((r) => r.problems ?? []).map((p) => [p.line, p.field, p.message]);
    expect(problems).toEqual([
      [2, 'quantity', 'is required on a line with a quantity and a unit price'],
      [3, 'unit_price', '"1.23456" has 5 decimals; a unit price has at most 4'],
      [4, 'quantity', '"0" must be more than zero; a quantity is never zero or negative'],
    ]);
  });

  it('refuses a file with neither net_amount nor quantity and unit_price', async () => {
    await expect(
      parse(['invoice_reference,customer_id,invoice_date,currency,quantity,vat_rate', 'C-1,K1,2026-11-02,EUR,3,0.21']),
    ).rejects.toThrow('An invoices file needs the column net_amount (or quantity and unit_price)');
  });

  it('makes rows whose references differ only in case one invoice, refused because its rows disagree', async () => {
    const p = await parse([
      'invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate',
      'B-1,K1,2026-11-02,EUR,10.00,0.21',
      'b-1,K1,2026-11-02,EUR,99.00,0.21',
      'B-1,K1,2026-11-02,EUR,5.00,0.21',
      'C-1,K1,2026-11-02,EUR,7.00,0.21',
    ]);
    expect(invoices(p.items).map((i) => [i.sourceId, i.lines.length])).toEqual([['C-1', 1]]);
    expect(p.rows.map((r) => [r.line, r.sourceId, r.problems?.map((x) => x.message) ?? r.refusedWith ?? null])).toEqual(
      [
        [2, 'B-1', [3]],
        [3, 'B-1', ['is "b-1" but line 2 of the same invoice says "B-1"']],
        [4, 'B-1', [3]],
        [5, 'C-1', null],
      ],
    );
    const refused = p.items.find((i) => 'invalid' in i);
    expect(refused && 'invalid' in refused ? refused.invalid : null).toMatchObject({
      sourceId: 'B-1',
      field: 'invoice_reference',
      payload: { rows: [{ line: 2 }, { line: 3 }, { line: 4 }] },
    });
  });

  it('refuses a header whose column name cannot be stored (a NUL), naming the column', async () => {
    const row = 'C-1,K1,2026-11-02,EUR,10.00,0.21,x';
    await expect(
      parse([`invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate,a\u0000b`, row]),
    ).rejects.toThrow('Column 7 of the header row contains a NUL character');
    // An unknown column with an ordinary name is still only reported.
    expect(
      (await parse(['invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate,notes', row]))
        .ignoredColumns,
    ).toEqual(['notes']);
  });

  it('lists a column whose header is blank but whose cells hold data among the columns not read', async () => {
    const header = 'invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate,';
    const p = await parse([
      header,
      'D-1,K1,2026-11-02,EUR,10.00,0.21,paid by card',
      'D-2,K1,2026-11-02,EUR,5.00,0.21,',
    ]);
    expect(p.ignoredColumns).toEqual(['column 7']);
    expect(invoices(p.items).map((i) => i.sourceId)).toEqual(['D-1', 'D-2']);
    // A trailing delimiter over an empty column stays harmless.
    const trailing = await parse([header, 'D-1,K1,2026-11-02,EUR,10.00,0.21,']);
    expect(trailing.ignoredColumns).toEqual([]);
  });
});
