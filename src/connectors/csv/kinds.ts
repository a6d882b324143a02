/** The kinds of file ledgerlink imports, their columns, and how a kind is told from a header row. */

export const IMPORT_KINDS = ['invoices', 'receipts', 'customers', 'gocardless', 'smartdebit'] as const;
export type ImportKind = (typeof IMPORT_KINDS)[number];

export interface ColumnSpec {
  /** The column's name; `a|b` means either name is read (exports differ). */
  name: string;
  required: boolean;
  /** Columns that, all present, stand in for a required one (`net_amount` is computed from `quantity` and `unit_price`). */
  unless?: string[];
  description: string;
}

export const COLUMNS: Record<ImportKind, ColumnSpec[]> = {
  invoices: [
    {
      name: 'invoice_reference',
      required: true,
      description: 'your invoice number; rows with the same reference are one invoice (max 50)',
    },
    {
      name: 'customer_id',
      required: true,
      description: "the customer's id in your system (or a ledger customer code)",
    },
    { name: 'customer_name', required: false, description: 'creates or updates the customer when given' },
    { name: 'customer_email', required: false, description: "the customer's email" },
    { name: 'invoice_date', required: true, description: 'YYYY-MM-DD (or an Excel date)' },
    { name: 'due_date', required: false, description: "YYYY-MM-DD; default from the customer's credit terms" },
    { name: 'currency', required: true, description: 'ISO 4217, e.g. EUR' },
    { name: 'description', required: false, description: 'of the invoice (max 500)' },
    {
      name: 'product_code',
      required: false,
      description: 'a product of the ledger: its GL account, tax code and department apply',
    },
    { name: 'line_description', required: false, description: 'of the line; default: the invoice description' },
    {
      name: 'net_amount',
      required: true,
      unless: ['quantity', 'unit_price'],
      description:
        'decimal with ".", e.g. 100.00 (negative for a discount line); may be left out when quantity and unit_price are given',
    },
    { name: 'quantity', required: false, description: 'more than zero, at most 4 decimals; goes with unit_price' },
    {
      name: 'unit_price',
      required: false,
      description:
        'before VAT, at most 4 decimals (negative for a discount line); net_amount must be quantity × unit_price rounded half up',
    },
    { name: 'vat_rate', required: true, description: 'fraction (0.21) or percentage (21%)' },
    { name: 'vat_amount', required: false, description: 'when given, used as is instead of net × rate' },
    { name: 'gl_account', required: false, description: 'sales GL account code' },
    { name: 'tax_code', required: false, description: 'ledger tax code; default: the one with the same rate' },
    { name: 'department', required: false, description: 'department (BI code)' },
  ],
  receipts: [
    {
      name: 'payment_reference',
      required: true,
      description: 'unique per payment; the receipt check reference (max 50)',
    },
    {
      name: 'customer_id',
      required: true,
      description: "the customer's id in your system (or a ledger customer code)",
    },
    { name: 'date', required: true, description: 'YYYY-MM-DD (or an Excel date)' },
    { name: 'amount', required: true, description: 'decimal with ".", more than zero' },
    { name: 'currency', required: true, description: 'ISO 4217' },
    { name: 'invoice_reference', required: false, description: 'the invoice it pays; allocated when open' },
    {
      name: 'bank_account',
      required: false,
      description: "ledger bank account code; default: the pipeline's mapping.bankAccountCode, then BANK",
    },
    { name: 'fee', required: false, description: "payment provider's fee, booked to bank charges" },
    { name: 'description', required: false, description: 'max 500' },
  ],
  customers: [
    { name: 'customer_id', required: true, description: "the customer's id in your system" },
    {
      name: 'code',
      required: false,
      description: 'ledger customer code (A-Z 0-9 _ . -); default: made from customer_id',
    },
    { name: 'name', required: true, description: 'max 200' },
    { name: 'email', required: false, description: '' },
    { name: 'phone', required: false, description: '' },
    { name: 'street', required: false, description: '' },
    { name: 'postal_code', required: false, description: '' },
    { name: 'city', required: false, description: '' },
    { name: 'country', required: false, description: '' },
    { name: 'vat_number', required: false, description: '' },
    {
      name: 'currency',
      required: false,
      description: "ISO 4217; default: the entity's customer default (new customers only)",
    },
  ],
  gocardless: [
    {
      name: 'payments.id|payment_id|id',
      required: true,
      description: 'GoCardless payment id (PM…): the receipt reference',
    },
    {
      name: 'customer_id|customers.id|links.customer',
      required: true,
      description: 'customer_id (a column you add) wins over the GoCardless customer id',
    },
    {
      name: 'gross_amount|amount',
      required: true,
      description: 'amount collected (negative: a late failure or chargeback)',
    },
    { name: 'currency', required: true, description: 'ISO 4217' },
    {
      name: 'resources.charge_date|charge_date|payouts.arrival_date|payout_date',
      required: true,
      description: 'the receipt date: charge date, else payout date',
    },
    {
      name: 'gocardless_fees|transaction_fee',
      required: false,
      description: 'fees, booked to bank charges (sign ignored)',
    },
    { name: 'app_fees|app_fee', required: false, description: 'app fees, added to the fees' },
    { name: 'surcharge_fees', required: false, description: 'added to the fees' },
    { name: 'resources.type', required: false, description: 'payment or refund; other rows are ignored' },
    {
      name: 'resources.status|status',
      required: false,
      description: 'payments export: only confirmed and paid_out rows are money received',
    },
    { name: 'refunds.id', required: false, description: 'refund id, for refund rows' },
    {
      name: 'resources.reference|reference',
      required: false,
      description: 'your reference: the invoice it pays, when it matches one',
    },
    { name: 'resources.description|description', required: false, description: '' },
    { name: 'payouts.id|links.payout|payout_id', required: false, description: 'kept in the receipt description' },
    {
      name: 'customers.company_name, customers.given_name, customers.family_name, customers.email',
      required: false,
      description: 'create the customer',
    },
  ],
  smartdebit: [
    { name: 'payer_reference|reference_number|reference', required: true, description: 'the payer (Bacs) reference' },
    { name: 'customer_id', required: false, description: 'your customer id; default: the payer reference' },
    {
      name: 'account_name',
      required: false,
      description:
        "the name on the payer's bank account: names a customer the import creates (one neither the pipeline nor the ledger has), never renames one",
    },
    { name: 'amount', required: true, description: 'decimal with "."' },
    {
      name: 'date_of_payment|debit_date|collection_date|date',
      required: true,
      description: 'DD/MM/YYYY or YYYY-MM-DD',
    },
    {
      name: 'success|status',
      required: false,
      description: 'rows marked unsuccessful (0, false, rejected, failed…) are ignored',
    },
    { name: 'error_message', required: false, description: 'a row with an error message is ignored' },
    { name: 'currency', required: false, description: 'default GBP (Bacs collections are in sterling)' },
  ],
};

/** Names a column spec accepts. */
export function columnNames(spec: ColumnSpec): string[] {
  return spec.name.split(/[|,]\s*/).map((s) => s.trim());
}

/** Required columns of a kind that the header lacks (each with the names it may go by). */
export function missingColumns(kind: ImportKind, headers: ReadonlySet<string>): string[] {
  return COLUMNS[kind]
    .filter((c) => c.required && !columnNames(c).some((n) => headers.has(n)))
    .filter((c) => !c.unless?.every((n) => headers.has(n)))
    .map((c) => c.name.replace(/\|/g, ' or ') + (c.unless ? ` (or ${c.unless.join(' and ')})` : ''));
}

/** The kind a header row describes, from the columns only that kind has; null when unclear. */
export function detectKind(headers: ReadonlySet<string>): ImportKind | null {
  if (
    headers.has('resources.type') ||
    headers.has('payments.id') ||
    headers.has('links.mandate') ||
    headers.has('gocardless_fees')
  )
    return 'gocardless';
  if (
    headers.has('payer_reference') ||
    headers.has('reference_number') ||
    headers.has('date_of_payment') ||
    headers.has('debit_date')
  )
    return 'smartdebit';
  if (headers.has('invoice_reference') && (headers.has('net_amount') || headers.has('invoice_date'))) return 'invoices';
  if (headers.has('payment_reference')) return 'receipts';
  if (headers.has('customer_id') && headers.has('name')) return 'customers';
  return null;
}

/** The column lists as text, for `--help` and error messages. */
export function describeColumns(kind: ImportKind): string {
  return COLUMNS[kind]
    .map((c) => `${c.required ? '*' : ' '} ${c.name}${c.description ? `  ${c.description}` : ''}`)
    .join('\n');
}
