import { referenceKey } from '../../domain/documents.ts';
import { Quantity, UnitPrice } from '../../domain/schemas.ts';
import { CanonicalCustomer, CanonicalInvoice, type CanonicalLine, lineNetAmount } from '../../sync/canonical.ts';
import type { SourceItem } from '../../sync/connector.ts';
import { type Mapped, type MapperContext, type ParsedRow, invalidItem, rawRow, rowSourceId } from './rows.ts';
import type { Table, TableRow } from './table.ts';
import { RowReader } from './values.ts';

/**
 * Customers named on document rows, once each, the first row that names one winning. A customer
 * carries only the fields the file has columns for: `email` is left out (`undefined`) when the
 * file has no email column, so the customer's email in the target is left alone; a blank cell in
 * a column the file has is sent empty (null).
 */
export class CustomerCollector {
  private readonly seen = new Map<string, CanonicalCustomer>();

  add(
    reader: RowReader,
    sourceId: string | null,
    c: { name: string | null; email?: string | null | undefined; currency?: string | null },
  ): void {
    if (!sourceId || !c.name || this.seen.has(sourceId)) return;
    const parsed = CanonicalCustomer.safeParse({
      kind: 'customer',
      sourceId,
      name: c.name,
      ...(c.email !== undefined ? { email: c.email } : {}),
      ...(c.currency ? { currency: c.currency } : {}),
    });
    if (parsed.success) this.seen.set(sourceId, parsed.data);
    else reader.problem('customer_name', parsed.error.issues[0]?.message ?? 'invalid customer');
  }

  items(): SourceItem[] {
    return [...this.seen.values()].map((record) => ({ record }));
  }
}

/**
 * Invoice-level values every row of an invoice may repeat: read from the first row that has one;
 * a later row that says something else is an error on that row (blank means "same").
 */
function shared<T>(
  readers: RowReader[],
  column: string,
  read: (r: RowReader) => T | null,
  required: boolean,
): T | null {
  let value: T | null = null;
  let from: RowReader | null = null;
  let present = false;
  for (const r of readers) {
    if (!r.has(column)) continue;
    present = true;
    const v = read(r);
    if (v === null) continue;
    if (from === null) {
      value = v;
      from = r;
    } else if (v !== value) {
      r.problem(column, `is "${String(v)}" but line ${from.line} of the same invoice says "${String(value)}"`);
    }
  }
  if (!present && required) readers[0]!.problem(column, 'is required');
  return value;
}

/** A quantity or unit price cell (the two schemas are one shape): read as an amount, decimal commas as the import says, then held to the canonical rule. */
function unitCell(r: RowReader, column: string, schema: typeof Quantity): string | null {
  const text = r.amount(column, null);
  if (text === null) return null;
  const parsed = schema.safeParse(text);
  if (parsed.success) return parsed.data;
  r.problem(column, `"${text}" ${parsed.error.issues[0]?.message ?? 'is not valid'}`);
  return null;
}

/**
 * A row's net amount, and its quantity and unit price when the file has them: `net_amount` as
 * given (checked against quantity × unit_price by the engine, LINE_AMOUNT_MISMATCH), or computed
 * from them when the cell is blank or the column absent. Quantity and unit price go together.
 */
function unitsOf(
  r: RowReader,
  currency: string | null,
): { netAmount: string; quantity?: string | undefined; unitPrice?: string | undefined } {
  const quantity = unitCell(r, 'quantity', Quantity);
  const unitPrice = unitCell(r, 'unit_price', UnitPrice);
  const hasQuantity = r.cell('quantity') !== undefined;
  const hasPrice = r.cell('unit_price') !== undefined;
  if (hasQuantity !== hasPrice)
    r.problem(hasQuantity ? 'unit_price' : 'quantity', 'is required on a line with a quantity and a unit price');
  const paired = quantity !== null && unitPrice !== null;
  const net = r.amount('net_amount', currency, { required: !hasQuantity && !hasPrice });
  if (net !== null) return paired ? { netAmount: net, quantity, unitPrice } : { netAmount: net };
  if (!paired || !currency) return { netAmount: '0' };
  return { netAmount: lineNetAmount(quantity, unitPrice, currency), quantity, unitPrice };
}

/**
 * Invoices: one row per line, rows with the same `invoice_reference` forming one invoice wherever
 * they are in the file. An invoice with any bad row is refused whole and each of its rows says why.
 */
export function mapInvoices(table: Table, ctx: MapperContext): Mapped {
  const groups = new Map<string, TableRow[]>();
  const rows: ParsedRow[] = [];
  const items: SourceItem[] = [];
  const customers = new CustomerCollector();
  for (const row of table.rows) {
    const r = new RowReader(row, ctx.read);
    const ref = r.text('invoice_reference', { required: true, max: 50 });
    if (ref === null) {
      const sourceId = rowSourceId(ctx.fileName, row.line);
      rows.push({ line: row.line, kind: 'invoice', sourceId, problems: r.problems });
      items.push(invalidItem('invoice', sourceId, r.problems, [row], ctx.fileName));
      continue;
    }
    // Grouped as the ledger compares references (`B-1` and `b-1` are one there), so a reference
    // spelt two ways is one invoice whose rows disagree (refused below), never two documents of
    // which the ledger would silently take the second for the first.
    const key = referenceKey(ref);
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }

  for (const group of groups.values()) {
    const readers = group.map((row) => new RowReader(row, ctx.read));
    // Every row of a group has a reference (a row without one was refused above); a row that spells
    // it otherwise than the first is a problem on that row, like any invoice-level column.
    const ref = shared(readers, 'invoice_reference', (r) => r.text('invoice_reference', { max: 50 }), true)!;
    const customerSourceId = shared(readers, 'customer_id', (r) => r.text('customer_id', { max: 100 }), true);
    const invoiceDate = shared(readers, 'invoice_date', (r) => r.date('invoice_date'), true);
    const dueDate = shared(readers, 'due_date', (r) => r.date('due_date'), false);
    const currency = shared(readers, 'currency', (r) => r.currency('currency'), true);
    const description = shared(readers, 'description', (r) => r.text('description', { max: 500 }), false);
    const customerName = shared(readers, 'customer_name', (r) => r.text('customer_name', { max: 200 }), false);
    // A file without the column says nothing of the email (left alone); a blank cell says it is empty.
    const customerEmail = table.headers.includes('customer_email')
      ? shared(readers, 'customer_email', (r) => r.text('customer_email', { max: 200 }), false)
      : undefined;
    if (dueDate && invoiceDate && dueDate < invoiceDate)
      readers[0]!.problem('due_date', `${dueDate} is before the invoice date ${invoiceDate}`);
    customers.add(readers[0]!, customerSourceId, { name: customerName, email: customerEmail, currency });

    const lines: CanonicalLine[] = readers.map((r) => {
      const vatAmount = r.amount('vat_amount', currency);
      const units = unitsOf(r, currency);
      return {
        productSourceId: r.text('product_code', { max: 100 }),
        description: r.text('line_description', { max: 500 }) ?? description ?? '',
        ...(units.quantity !== undefined ? { quantity: units.quantity, unitPrice: units.unitPrice } : {}),
        netAmount: units.netAmount,
        vatRate: r.rate('vat_rate', { required: true }) ?? '0',
        ...(vatAmount !== null ? { vatAmount } : {}),
        glAccountCode: r.text('gl_account', { max: 50 }),
        taxCode: r.text('tax_code', { max: 50 }),
        departmentId: r.text('department', { max: 50 }),
      };
    });

    let problems = readers.flatMap((r) => r.problems);
    let record: CanonicalInvoice | null = null;
    if (problems.length === 0) {
      const parsed = CanonicalInvoice.safeParse({
        kind: 'invoice',
        sourceId: ref,
        externalReference: ref,
        customerSourceId,
        invoiceDate,
        dueDate,
        currency,
        description: description ?? '',
        lines,
      });
      // The readers check every column; this catches what the canonical schema adds (a limit on lines).
      if (parsed.success) record = parsed.data;
      else
        problems = [
          {
            line: group[0]!.line,
            field: parsed.error.issues[0]?.path.join('.') || 'invoice',
            message: parsed.error.issues[0]?.message ?? 'invalid',
          },
        ];
    }
    if (record) {
      items.push({ record, raw: { file: ctx.fileName, rows: group.map(rawRow) }, line: group[0]!.line });
      for (const row of group) rows.push({ line: row.line, kind: 'invoice', sourceId: ref });
      continue;
    }
    items.push(invalidItem('invoice', ref, problems, group, ctx.fileName));
    const badLines = [...new Set(problems.map((p) => p.line))];
    for (const row of group) {
      const own = problems.filter((p) => p.line === row.line);
      rows.push(
        own.length
          ? { line: row.line, kind: 'invoice', sourceId: ref, problems: own }
          : { line: row.line, kind: 'invoice', sourceId: ref, refusedWith: badLines },
      );
    }
  }
  return { items: [...customers.items(), ...items], rows: rows.sort((a, b) => a.line - b.line) };
}
