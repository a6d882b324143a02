import { type CanonicalCustomer, CanonicalPayment, CanonicalRefund } from '../../sync/canonical.ts';
import type { SourceItem } from '../../sync/connector.ts';
import { formatAmount, parseAmount } from '../../domain/money.ts';
import { CustomerCollector } from './invoices.ts';
import { Keys, type Mapped, type MapperContext, type ParsedRow, invalidItem, rawRow, rowSourceId } from './rows.ts';
import type { Table } from './table.ts';
import { RowReader } from './values.ts';

/**
 * Payment providers' payout reports. Each collected payment becomes a receipt (its gross amount)
 * with the provider's fees booked to bank charges, so the bank sees the net payout; refunds,
 * late failures and chargebacks become refunds of the payment.
 */

function push(
  items: SourceItem[],
  rows: ParsedRow[],
  r: RowReader,
  kind: 'payment' | 'refund',
  sourceId: string,
  candidate: unknown,
  ctx: MapperContext,
) {
  if (r.problems.length === 0) {
    const parsed = (kind === 'payment' ? CanonicalPayment : CanonicalRefund).safeParse(candidate);
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

function text(r: RowReader, columns: readonly string[], max: number, required = false): string | null {
  const column = r.pick(columns);
  if (!column) {
    if (required) r.problem(columns[0]!, 'is required');
    return null;
  }
  return r.text(column, { max });
}

function absText(amount: string): string {
  return amount.replace(/^-/, '');
}

/** Fees in several columns, added up in minor units; their sign differs between exports and is ignored. */
function fees(r: RowReader, columns: readonly string[], currency: string | null): string | null {
  if (!currency) return null;
  let total = 0n;
  for (const c of columns) {
    const v = r.amount(c, currency);
    if (v === null) continue;
    // r.amount has checked the text (and reported a problem if it is not an amount of `currency`).
    const minor = parseAmount(absText(v), currency);
    if (minor.ok) total += minor.value;
  }
  return total > 0n ? formatAmount(total, currency) : null;
}

/**
 * A refund carries no fee in the ledger (it is its amount only), and a fee on a refund, late
 * failure or chargeback row may be a fee charged (a chargeback fee) or the payment's fee given
 * back (a late failure), which exports do not tell apart by a sign one can trust. Booking it
 * either way could be wrong and leaving it out loses it without a word, so the row is refused
 * until the fee is dealt with by hand. A zero fee, which exports write on refund rows, is no fee.
 */
function refuseReversalFees(r: RowReader, columns: readonly string[], currency: string | null): void {
  for (const c of columns) {
    // Checked as an amount (of `currency` when that is known) like a payment row's fees.
    const v = r.amount(c, currency);
    if (v === null || !/[1-9]/.test(v)) continue;
    r.problem(
      c,
      `"${r.cell(c)!.text}" is a fee on a refund, late failure or chargeback row, and a refund carries no fee in the ledger; book the fee to bank charges by hand, blank the cell and import the file again`,
    );
  }
}

const GC_FEES = ['gocardless_fees', 'transaction_fee', 'app_fees', 'app_fee', 'surcharge_fees'] as const;
const GC_RECEIVED = new Set(['confirmed', 'paid_out']);

/**
 * GoCardless: the payout breakdown "transactions" export (customers.*, resources.*, gross_amount,
 * gocardless_fees, app_fees, payouts.*, payments.id, refunds.id) and the Payments export (id,
 * charge_date, amount, status, reference, transaction_fee, app_fee, links.customer, links.payout).
 */
export function mapGoCardless(table: Table, ctx: MapperContext): Mapped {
  const items: SourceItem[] = [];
  const rows: ParsedRow[] = [];
  const customers = new CustomerCollector();
  // A payment, refund or reversal is in a file once: a repeat of its id is refused on its own row
  // rather than linked to the first as already booked (its money lost without a word).
  const paymentKeys = new Keys();
  const refundKeys = new Keys();
  const isPaymentsExport = !table.headers.includes('resources.type');
  for (const row of table.rows) {
    const r = new RowReader(row, ctx.read);
    const type = (r.cell('resources.type')?.text ?? 'payment').toLowerCase();
    const status = (text(r, ['resources.status', 'status'], 50) ?? '').toLowerCase();
    const paymentIdColumn = r.pick(['payments.id', 'payment_id', 'id']) ?? 'payments.id';
    const paymentId = text(r, ['payments.id', 'payment_id', 'id'], 50, true);
    if (type !== 'payment' && type !== 'refund') {
      rows.push({
        line: row.line,
        kind: 'payment',
        sourceId: paymentId ?? rowSourceId(ctx.fileName, row.line),
        ignored: `resources.type "${type}" is neither a payment nor a refund`,
      });
      continue;
    }
    if (isPaymentsExport && status && !GC_RECEIVED.has(status)) {
      rows.push({
        line: row.line,
        kind: 'payment',
        sourceId: paymentId ?? rowSourceId(ctx.fileName, row.line),
        ignored: `status "${status}": no money received`,
      });
      continue;
    }
    const customerSourceId = text(r, ['customer_id', 'customers.id', 'links.customer'], 100, true);
    const currency = r.currency('currency', { required: true });
    const amountColumn = r.pick(['gross_amount', 'amount']) ?? 'gross_amount';
    const amount = r.amount(amountColumn, currency, { required: true, sign: 'nonZero' });
    const dateColumn =
      r.pick(['resources.charge_date', 'charge_date', 'payouts.arrival_date', 'payout_date']) ?? 'charge_date';
    const date = r.date(dateColumn, { required: true });
    const payout = text(r, ['payouts.id', 'links.payout', 'payout_id'], 50);
    const said = text(r, ['resources.description', 'description'], 300);
    const reference = r.cell(r.pick(['resources.reference', 'reference']) ?? '')?.text ?? null;
    const name =
      r.cell('customers.company_name')?.text ||
      [r.cell('customers.given_name')?.text, r.cell('customers.family_name')?.text].filter(Boolean).join(' ') ||
      null;
    customers.add(r, customerSourceId, {
      name,
      email: table.headers.includes('customers.email') ? (r.cell('customers.email')?.text ?? null) : undefined,
      currency,
    });
    const description = [`GoCardless ${paymentId ?? ''}`, payout ? `payout ${payout}` : null, said]
      .filter(Boolean)
      .join(', ')
      .slice(0, 500);

    if (type === 'refund' || (amount !== null && amount.startsWith('-'))) {
      // A refund row carries its own id; a negative payment row (late failure, chargeback) is the payment reversed.
      const refundId =
        type === 'refund' ? text(r, ['refunds.id'], 50, true) : paymentId ? `${paymentId}-reversal`.slice(0, 50) : null;
      const sourceId =
        type === 'refund'
          ? refundKeys.claim(r, 'refunds.id', refundId, ctx.fileName)
          : refundKeys.claim(
              r,
              paymentIdColumn,
              refundId,
              ctx.fileName,
              `"${refundId}" (the reversal of ${paymentId})`,
            );
      refuseReversalFees(r, GC_FEES, currency);
      push(
        items,
        rows,
        r,
        'refund',
        sourceId,
        {
          kind: 'refund',
          sourceId,
          externalReference: refundId,
          customerSourceId,
          date,
          amount: amount === null ? null : absText(amount),
          currency,
          paymentExternalReference: paymentId,
          description,
        },
        ctx,
      );
      continue;
    }
    const sourceId = paymentKeys.claim(r, paymentIdColumn, paymentId, ctx.fileName);
    push(
      items,
      rows,
      r,
      'payment',
      sourceId,
      {
        kind: 'payment',
        sourceId,
        externalReference: paymentId,
        customerSourceId,
        date,
        amount,
        currency,
        // The payment's reference is the merchant's own; when it is an invoice number the receipt is allocated to it.
        invoiceExternalReference: reference && reference.length <= 50 ? reference : null,
        fee: fees(r, GC_FEES, currency),
        method: 'gocardless',
        description,
      },
      ctx,
    );
  }
  return { items: [...customers.items(), ...items], rows };
}

const SD_UNSUCCESSFUL = /^(0|false|no|n|rejected|failed|unsuccessful|unpaid|returned|error)$/i;

/**
 * SmartDebit: the Successful Collection Report (Payer Reference, Account Name, Amount, Date of
 * Payment, Customer ID, success) and the API's collection report fields (reference_number,
 * account_name, amount, debit_date, customer_id, success, error_message). A payer is collected at
 * most once per date, so payer and date make the receipt's stable reference.
 *
 * The account name is the name on the payer's bank account, not the customer's name in the books:
 * it is no customer record (which would rename the customer), only the name of a customer the
 * import creates when neither this pipeline nor the target has it (new-customers.ts), taken from
 * the first valid collection that names it. It is kept in the receipt's description either way.
 */
export function mapSmartDebit(table: Table, ctx: MapperContext): Mapped {
  const items: SourceItem[] = [];
  const rows: ParsedRow[] = [];
  const newCustomers = new Map<string, CanonicalCustomer>();
  // Payer and date are the collection's key: a payer collected again on another date is another
  // receipt, a second successful row for the same payer and date is refused on its own row.
  // Unsuccessful rows book nothing and claim no key.
  const keys = new Keys();
  const read = { ...ctx, read: { ...ctx.read, dates: 'dmy' as const } };
  for (const row of table.rows) {
    const r = new RowReader(row, read.read);
    const payerColumn = r.pick(['payer_reference', 'reference_number', 'reference']) ?? 'payer_reference';
    const payer = text(r, ['payer_reference', 'reference_number', 'reference'], 36, true);
    const dateColumn = r.pick(['date_of_payment', 'debit_date', 'collection_date', 'date']) ?? 'date_of_payment';
    const date = r.date(dateColumn, { required: true });
    const reference = payer && date ? `SD-${payer}-${date}` : null;
    const success = r.cell(r.pick(['success', 'status']) ?? '')?.text ?? '';
    const error = r.cell('error_message')?.text ?? '';
    if (SD_UNSUCCESSFUL.test(success) || error !== '') {
      rows.push({
        line: row.line,
        kind: 'payment',
        sourceId: reference ?? rowSourceId(ctx.fileName, row.line),
        ignored: `collection unsuccessful${error ? `: ${error}` : ''}`,
      });
      continue;
    }
    const sourceId = keys.claim(
      r,
      payerColumn,
      reference,
      ctx.fileName,
      `"${reference}" (${payer} collected on ${date})`,
    );
    const currency = r.currency('currency', { fallback: 'GBP' });
    const customerSourceId = text(r, ['customer_id'], 100) ?? payer;
    const accountName = text(r, ['account_name'], 200);
    push(
      items,
      rows,
      r,
      'payment',
      sourceId,
      {
        kind: 'payment',
        sourceId,
        externalReference: reference,
        customerSourceId,
        date,
        amount: r.amount('amount', currency, { required: true, sign: 'positive' }),
        currency,
        method: 'smartdebit',
        description: `SmartDebit collection ${payer ?? ''}${accountName ? `, account ${accountName}` : ''}`,
      },
      read,
    );
    // Only a collection that is a document names a customer: a refused row creates nothing.
    if (r.problems.length === 0 && customerSourceId && accountName && currency && !newCustomers.has(customerSourceId))
      newCustomers.set(customerSourceId, { kind: 'customer', sourceId: customerSourceId, name: accountName, currency });
  }
  return { items, rows, newCustomers };
}
