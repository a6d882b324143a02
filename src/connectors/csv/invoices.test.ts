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
    ).rejects.toThrow('A invoices file needs the column net_amount (or quantity and unit_price)');
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
});
