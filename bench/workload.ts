/**
 * The bench's post-pay-allocate workload: query `i` is fully determined by `i` and a tag, so the
 * ledgerlink run and the raw-SQL baseline write exactly the same documents.
 */

export const CUSTOMER_COUNT = 200;
export const BATCH_SIZE = 1000;
const STD_RATE_PERCENT = 21n;

export function customerCode(n: number): string {
  return `C${String(n).padStart(3, '0')}`;
}

/** `YYYY-MM-DD` plus `days`, on the UTC calendar (business dates are strings, not `Date`s). */
export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Cents as decimal text with two decimals (EUR). */
export function euros(cents: bigint): string {
  const sign = cents < 0n ? '-' : '';
  const abs = cents < 0n ? -cents : cents;
  return `${sign}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`;
}

export interface ItemSpec {
  taxCode: 'STD' | 'ZERO';
  taxRate: '0.21' | '0';
  description: string;
  net: bigint;
  tax: bigint;
}

/** One query of the workload in minor units: what both runs must end up writing. */
export interface QuerySpec {
  index: number;
  customer: string;
  invoiceDate: string;
  dueDate: string;
  paymentDate: string;
  invoiceReference: string;
  receiptReference: string;
  allocationReference: string;
  items: ItemSpec[];
  net: bigint;
  tax: bigint;
  gross: bigint;
}

export const INVOICE_DESCRIPTION = 'Bench invoice';
export const RECEIPT_DESCRIPTION = 'Bench receipt';

/**
 * Query `index` of run `tag`: one line (three in four queries) or two (a zero-rated second
 * line), a receipt for the gross, allocated in full; 200 customers in turn.
 */
export function querySpec(tag: string, index: number): QuerySpec {
  const invoiceDate = addDays('2026-01-01', index % 300);
  const first = 100n + BigInt((index * 7919) % 90_000);
  const items: ItemSpec[] = [
    {
      taxCode: 'STD',
      taxRate: '0.21',
      description: 'Goods',
      net: first,
      // net × 0.21, half-up, in cents (the amounts are positive).
      tax: (first * STD_RATE_PERCENT + 50n) / 100n,
    },
  ];
  if (index % 4 === 0) {
    items.push({
      taxCode: 'ZERO',
      taxRate: '0',
      description: 'Service',
      net: 500n + BigInt((index * 104_729) % 20_000),
      tax: 0n,
    });
  }
  const net = items.reduce((s, i) => s + i.net, 0n);
  const tax = items.reduce((s, i) => s + i.tax, 0n);
  return {
    index,
    customer: customerCode(index % CUSTOMER_COUNT),
    invoiceDate,
    dueDate: addDays(invoiceDate, 30),
    paymentDate: addDays(invoiceDate, index % 20),
    invoiceReference: `INV-${tag}-${index}`,
    receiptReference: `PAY-${tag}-${index}`,
    allocationReference: `ALLOC-${tag}-${index}`,
    items,
    net,
    tax,
    gross: net + tax,
  };
}

/** The API body of one post-pay-allocate query. */
export function queryBody(q: QuerySpec) {
  return {
    batchInvoice: {
      customerCode: q.customer,
      invoiceDate: q.invoiceDate,
      dueDate: q.dueDate,
      externalReference: q.invoiceReference,
      description: INVOICE_DESCRIPTION,
      lines: q.items.map((i) => ({
        glAccountCode: '4000',
        taxCode: i.taxCode,
        description: i.description,
        netAmount: euros(i.net),
        taxRate: i.taxRate,
      })),
    },
    receipt: {
      customerCode: q.customer,
      checkReference: q.receiptReference,
      paymentAmount: euros(q.gross),
      bankAccountCode: 'BANK',
      paymentDate: q.paymentDate,
      description: RECEIPT_DESCRIPTION,
    },
    performExternalReferenceDuplicateCheckOnInvoice: true,
    performExternalReferenceDuplicateCheckOnReceipt: true,
    performAllocation: true,
    allocationReference: q.allocationReference,
    clientUniqueReference: `q${q.index}`,
  };
}

/** Queries `from` … `from + count - 1` of run `tag`, in batches of at most `BATCH_SIZE`. */
export function batchesOf(tag: string, from: number, count: number, batchSize = BATCH_SIZE): QuerySpec[][] {
  const out: QuerySpec[][] = [];
  for (let start = from; start < from + count; start += batchSize) {
    const size = Math.min(batchSize, from + count - start);
    out.push(Array.from({ length: size }, (_, k) => querySpec(tag, start + k)));
  }
  return out;
}
