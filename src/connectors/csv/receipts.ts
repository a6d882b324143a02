import { CODE_PATTERN, CanonicalCustomer, CanonicalPayment } from '../../sync/canonical.ts';
import type { SourceItem } from '../../sync/connector.ts';
import { codeFromSourceId } from '../../sync/mapping.ts';
import { Keys, type Mapped, type MapperContext, type ParsedRow, invalidItem, rawRow } from './rows.ts';
import type { Table } from './table.ts';
import { RowReader } from './values.ts';

function emit(
  items: SourceItem[],
  rows: ParsedRow[],
  r: RowReader,
  kind: 'payment' | 'customer',
  sourceId: string,
  candidate: unknown,
  ctx: MapperContext,
) {
  if (r.problems.length === 0) {
    const parsed = (kind === 'payment' ? CanonicalPayment : CanonicalCustomer).safeParse(candidate);
    if (parsed.success) {
      items.push({ record: parsed.data, raw: { file: ctx.fileName, rows: [rawRow(r.row)] }, line: r.line });
      rows.push({ line: r.line, kind, sourceId });
      return;
    }
    const issue = parsed.error.issues[0];
    r.problem(issue?.path.join('.') || kind, issue?.message ?? 'invalid');
  }
  items.push(invalidItem(kind, sourceId, r.problems, [r.row], ctx.fileName));
  rows.push({ line: r.line, kind, sourceId, problems: r.problems });
}

/** Receipts: one row per payment received, allocated to the invoice it names when that is open. */
export function mapReceipts(table: Table, ctx: MapperContext): Mapped {
  const items: SourceItem[] = [];
  const rows: ParsedRow[] = [];
  const keys = new Keys();
  for (const row of table.rows) {
    const r = new RowReader(row, ctx.read);
    const ref = r.text('payment_reference', { required: true, max: 50 });
    const sourceId = keys.claim(r, 'payment_reference', ref, ctx.fileName);
    const currency = r.currency('currency', { required: true });
    const fee = r.amount('fee', currency);
    if (fee !== null && fee.startsWith('-')) r.problem('fee', `must not be negative (is ${fee})`);
    const candidate = {
      kind: 'payment',
      sourceId,
      externalReference: ref,
      customerSourceId: r.text('customer_id', { required: true, max: 100 }),
      date: r.date('date', { required: true }),
      amount: r.amount('amount', currency, { required: true, sign: 'positive' }),
      currency,
      invoiceExternalReference: r.text('invoice_reference', { max: 50 }),
      fee,
      bankAccountCode: r.text('bank_account', { max: 50 }),
      description: r.text('description', { max: 500 }) ?? '',
    };
    emit(items, rows, r, 'payment', sourceId, candidate, ctx);
  }
  return { items, rows };
}

/** Customers: one row each, created or updated in the ledger; an unchanged one is skipped. */
export function mapCustomers(table: Table, ctx: MapperContext): Mapped {
  const items: SourceItem[] = [];
  const rows: ParsedRow[] = [];
  // The source map keeps customer ids as given (`k-9` and `K-9` may be two customers of a source
  // whose ids are case-sensitive); what two rows must not share is the ledger customer they become.
  const keys = new Keys(true);
  const codes = new Map<string, { line: number; id: string }>();
  for (const row of table.rows) {
    const r = new RowReader(row, ctx.read);
    const id = r.text('customer_id', { required: true, max: 100 });
    const sourceId = keys.claim(r, 'customer_id', id, ctx.fileName);
    const code = r.text('code', { max: 50 })?.toUpperCase() ?? null;
    if (code !== null && !CODE_PATTERN.test(code))
      r.problem('code', `"${code}" may hold only A-Z, 0-9, _, . and - and must start with a letter or digit`);
    else if (id !== null && sourceId === id && (code !== null || !r.has('code'))) {
      // The engine codes a new customer by its `code`, else by its id upper-cased (codeFromSourceId);
      // two rows with one code would be one ledger customer, the second overwriting the first. The
      // pipeline's customerCodePrefix, not known here, is the same for every row: it hides only ids
      // that are alike in their first 50 characters less its length (the code is cut at 50).
      const ledgerCode = code ?? codeFromSourceId('', id);
      const earlier = codes.get(ledgerCode);
      if (!earlier) codes.set(ledgerCode, { line: r.line, id });
      else if (code !== null)
        r.problem('code', `"${code}" is already the code of customer "${earlier.id}" on line ${earlier.line}`);
      else
        r.problem(
          'customer_id',
          `"${id}" would be the same ledger customer, ${ledgerCode}, as "${earlier.id}" on line ${earlier.line} (a customer code is the id in upper case); give one of them its own code`,
        );
    }
    const currency = r.currency('currency');
    // Only the columns the file has: a field without a column is left alone, a blank cell is sent empty.
    const column = (name: string, max: number) => (table.headers.includes(name) ? r.text(name, { max }) : undefined);
    const candidate = {
      kind: 'customer',
      sourceId,
      code,
      name: r.text('name', { required: true, max: 200 }),
      email: column('email', 200),
      phone: column('phone', 50),
      street: column('street', 200),
      postalCode: column('postal_code', 20),
      city: column('city', 100),
      country: column('country', 100),
      vatNumber: column('vat_number', 50),
      ...(currency ? { currency } : {}),
    };
    emit(items, rows, r, 'customer', sourceId, candidate, ctx);
  }
  return { items, rows };
}
