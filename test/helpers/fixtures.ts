import type { Queryable } from '../../src/db/database.ts';
import { parseAmount, toBaseAmount } from '../../src/domain/money.ts';

/**
 * Ledger data written straight into the tables, for tests of the reading side before (and
 * independently of) the posting operations. Every document gets a balanced journal, the next
 * number of its type, and base amounts from its exchange rate. Amounts are decimal strings in
 * the document currency ("121.00").
 */

const CONTROL = '1100';
const BANK = '1200';
const VAT = '2200';
const SALES = '4000';
const DISCOUNT = '4900';
const FX = '7900';

export type DocType = 'SI' | 'SN' | 'SR' | 'SD' | 'SC' | 'DS' | 'DX' | 'FX';

const SIDES: Record<DocType, 'debit' | 'credit' | 'none'> = {
  SI: 'debit',
  SD: 'debit',
  DX: 'debit',
  SN: 'credit',
  SR: 'credit',
  SC: 'credit',
  DS: 'credit',
  FX: 'none',
};

function minor(text: string, currency: string): bigint {
  const v = parseAmount(text, currency);
  if (!v.ok) throw new Error(`fixture amount ${text} in ${currency}: ${v.error.code}`);
  return v.value;
}

export interface CustomerInput {
  code: string;
  name?: string;
  /** Defaults to the entity's base currency. */
  currency?: string;
  /** Decimal text; "0" (the default) means no limit. */
  creditLimit?: string;
}

export async function createCustomer(db: Queryable, entityId: string, c: CustomerInput): Promise<string> {
  const { rows } = await db.query<{ base_currency: string }>('SELECT base_currency FROM entities WHERE id = $1', [
    entityId,
  ]);
  const currency = c.currency ?? rows[0]!.base_currency;
  await db.query(
    `INSERT INTO customers (entity_id, code, name, currency, credit_limit, control_gl_account_code)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [entityId, c.code, c.name ?? `Customer ${c.code}`, currency, minor(c.creditLimit ?? '0', currency), CONTROL],
  );
  return c.code;
}

export interface DocumentInput {
  customer: string;
  date: string;
  dueDate?: string | null;
  externalReference?: string;
  description?: string;
  /** Units of the document currency per unit of base currency; "1" by default. */
  exchangeRate?: string;
  relatedTransactionId?: number;
  details?: Record<string, unknown>;
}

interface Line {
  role: string;
  gl: string;
  taxCode?: string | null;
  amount: bigint;
  base: bigint;
}

interface Posting extends DocumentInput {
  type: DocType;
  gross: bigint;
  net: bigint;
  tax: bigint;
  baseGross: bigint;
  lines: Line[];
  items?: { gl: string; taxCode: string; taxRate: string; net: bigint; tax: bigint; description: string }[];
}

async function currencies(db: Queryable, entityId: string, customer: string) {
  const { rows } = await db.query<{ currency: string; base_currency: string }>(
    `SELECT c.currency, e.base_currency FROM customers c JOIN entities e ON e.id = c.entity_id
      WHERE c.entity_id = $1 AND c.code = $2`,
    [entityId, customer],
  );
  if (!rows[0]) throw new Error(`fixture: no customer ${customer}`);
  return { currency: rows[0].currency.trim(), base: rows[0].base_currency.trim() };
}

async function insertPosting(db: Queryable, entityId: string, p: Posting, currency: string): Promise<number> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: string }>(
      `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate,
         transaction_date, due_date, external_reference, description, net, tax, gross, base_gross,
         related_transaction_id, details, created_by)
       VALUES ($1, $2, $3,
         (SELECT COALESCE(max(number), 0) + 1 FROM transactions WHERE entity_id = $1 AND type = $2),
         $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'fixture')
       RETURNING id`,
      [
        entityId,
        p.type,
        SIDES[p.type],
        p.customer,
        currency,
        p.exchangeRate ?? '1',
        p.date,
        p.dueDate ?? null,
        p.externalReference ?? '',
        p.description ?? '',
        p.net,
        p.tax,
        p.gross,
        p.baseGross,
        p.relatedTransactionId ?? null,
        p.details ?? {},
      ],
    );
    const id = rows[0]!.id;
    const lines = p.lines.filter((l) => l.amount !== 0n || l.base !== 0n);
    // One statement for the whole journal: the balance trigger checks each statement's journals.
    await tx.query(
      `INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, tax_code, amount, base_amount)
       SELECT $1::bigint, $2::uuid, l.line_no, l.role, l.gl, l.tax_code, l.amount, l.base
         FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])
              AS l(line_no, role, gl, tax_code, amount, base)`,
      [
        id,
        entityId,
        lines.map((_, i) => i + 1),
        lines.map((l) => l.role),
        lines.map((l) => l.gl),
        lines.map((l) => l.taxCode ?? null),
        lines.map((l) => l.amount),
        lines.map((l) => l.base),
      ],
    );
    if (p.items && p.items.length > 0) {
      const items = p.items;
      await tx.query(
        `INSERT INTO transaction_items (transaction_id, line_no, entity_id, gl_account_code, tax_code, tax_rate,
           description, net, tax)
         SELECT $1::bigint, i.line_no, $2::uuid, i.gl, i.tax_code, i.rate::numeric, i.description, i.net, i.tax
           FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[])
                AS i(line_no, gl, tax_code, rate, description, net, tax)`,
        [
          id,
          entityId,
          items.map((_, i) => i + 1),
          items.map((i) => i.gl),
          items.map((i) => i.taxCode),
          items.map((i) => i.taxRate),
          items.map((i) => i.description),
          items.map((i) => i.net),
          items.map((i) => i.tax),
        ],
      );
    }
    return Number(id);
  });
}

export interface InvoiceInput extends DocumentInput {
  gross: string;
  /** Defaults to the gross less the tax. */
  net?: string;
  tax?: string;
  taxCode?: string;
  taxRate?: string;
}

/** An invoice (SI) or credit note (SN) with one item line: control against sales and VAT. */
async function postSalesDocument(db: Queryable, entityId: string, type: 'SI' | 'SN', d: InvoiceInput) {
  const { currency, base } = await currencies(db, entityId, d.customer);
  const rate = d.exchangeRate ?? '1';
  const gross = minor(d.gross, currency);
  const tax = minor(d.tax ?? '0', currency);
  const net = d.net === undefined ? gross - tax : minor(d.net, currency);
  if (net + tax !== gross) throw new Error('fixture: net + tax must equal gross');
  const baseGross = toBaseAmount(gross, currency, base, rate);
  const baseTax = toBaseAmount(tax, currency, base, rate);
  const sign = type === 'SI' ? 1n : -1n;
  const taxCode = d.taxCode ?? (tax === 0n ? 'ZERO' : 'STD');
  return insertPosting(
    db,
    entityId,
    {
      ...d,
      type,
      gross,
      net,
      tax,
      baseGross,
      lines: [
        { role: 'control', gl: CONTROL, amount: sign * gross, base: sign * baseGross },
        { role: 'net', gl: SALES, taxCode, amount: -sign * net, base: -sign * (baseGross - baseTax) },
        { role: 'tax', gl: VAT, taxCode, amount: -sign * tax, base: -sign * baseTax },
      ],
      items: [{ gl: SALES, taxCode, taxRate: d.taxRate ?? (tax === 0n ? '0' : '0.21'), net, tax, description: '' }],
    },
    currency,
  );
}

export function postInvoice(db: Queryable, entityId: string, d: InvoiceInput): Promise<number> {
  return postSalesDocument(db, entityId, 'SI', d);
}

export function postCreditNote(db: Queryable, entityId: string, d: InvoiceInput): Promise<number> {
  return postSalesDocument(db, entityId, 'SN', d);
}

export interface JournalInput extends DocumentInput {
  amount: string;
}

// The account each one-line document posts against the control account.
const COUNTER: Record<'SR' | 'SD' | 'SC' | 'DS' | 'DX', { role: string; gl: string }> = {
  SR: { role: 'bank', gl: BANK },
  SD: { role: 'bank', gl: BANK },
  SC: { role: 'gl', gl: SALES },
  DS: { role: 'discount', gl: DISCOUNT },
  DX: { role: 'discount', gl: DISCOUNT },
};

/** A receipt, refund, journal or discount: the control account against one other account. */
export async function postJournal(
  db: Queryable,
  entityId: string,
  type: 'SR' | 'SD' | 'SC' | 'DS' | 'DX',
  d: JournalInput,
): Promise<number> {
  const { currency, base } = await currencies(db, entityId, d.customer);
  const gross = minor(d.amount, currency);
  const baseGross = toBaseAmount(gross, currency, base, d.exchangeRate ?? '1');
  const sign = SIDES[type] === 'debit' ? 1n : -1n;
  return insertPosting(
    db,
    entityId,
    {
      ...d,
      type,
      gross,
      net: gross,
      tax: 0n,
      baseGross,
      lines: [
        { role: 'control', gl: CONTROL, amount: sign * gross, base: sign * baseGross },
        { role: COUNTER[type].role, gl: COUNTER[type].gl, amount: -sign * gross, base: -sign * baseGross },
      ],
    },
    currency,
  );
}

export function postReceipt(db: Queryable, entityId: string, d: JournalInput): Promise<number> {
  return postJournal(db, entityId, 'SR', d);
}

/**
 * A realised exchange difference: base currency only. `baseAmount` (decimal text in the base
 * currency, signed) is what the control account moves by; the FX account takes the other side.
 */
export async function postFxDifference(
  db: Queryable,
  entityId: string,
  d: DocumentInput & { baseAmount: string },
): Promise<number> {
  const { currency, base } = await currencies(db, entityId, d.customer);
  const amount = minor(d.baseAmount, base);
  return insertPosting(
    db,
    entityId,
    {
      ...d,
      type: 'FX',
      gross: 0n,
      net: 0n,
      tax: 0n,
      baseGross: amount < 0n ? -amount : amount,
      lines: [
        { role: 'control', gl: CONTROL, amount: 0n, base: amount },
        { role: 'fx', gl: FX, amount: 0n, base: -amount },
      ],
    },
    currency,
  );
}

/** A general journal (GJ): no customer, in the base currency, `amount` from `credit` to `debit` account. */
export async function postGeneralJournal(
  db: Queryable,
  entityId: string,
  d: { date: string; debit: string; credit: string; amount: string; description?: string },
): Promise<number> {
  const { rows: e } = await db.query<{ base_currency: string }>('SELECT base_currency FROM entities WHERE id = $1', [
    entityId,
  ]);
  const currency = e[0]!.base_currency.trim();
  const amount = minor(d.amount, currency);
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: string }>(
      `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate,
         transaction_date, description, net, gross, base_gross, created_by)
       VALUES ($1, 'GJ', 'none',
         (SELECT COALESCE(max(number), 0) + 1 FROM transactions WHERE entity_id = $1 AND type = 'GJ'),
         NULL, $2, 1, $3, $4, $5, $5, $5, 'fixture')
       RETURNING id`,
      [entityId, currency, d.date, d.description ?? '', amount],
    );
    const id = rows[0]!.id;
    await tx.query(
      `INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, amount, base_amount)
       VALUES ($1, $2, 1, 'gl', $3, $5, $5), ($1, $2, 2, 'gl', $4, -$5::bigint, -$5::bigint)`,
      [id, entityId, d.debit, d.credit, amount],
    );
    return Number(id);
  });
}

export interface AllocationInput {
  /** The debit-side document (invoice, debit journal). */
  debit: number;
  /** The credit-side document (receipt, credit note, credit journal, discount). */
  credit: number;
  amount: string;
  date: string;
  reference?: string;
}

/** Allocates `amount` (document currency) between two documents of one customer. */
export async function allocate(db: Queryable, entityId: string, a: AllocationInput): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id, amount,
       debit_base_amount, credit_base_amount, allocation_date, reference, created_by)
     SELECT $1::uuid, d.customer_code, d.id, c.id, x.amount,
            x.amount * d.base_gross / d.gross, x.amount * c.base_gross / c.gross, $5::date, $6::text, 'fixture'
       FROM transactions d, transactions c,
            (SELECT $4::bigint AS amount) x
      WHERE d.id = $2 AND c.id = $3 AND d.entity_id = $1 AND c.entity_id = $1
     RETURNING id`,
    [
      entityId,
      a.debit,
      a.credit,
      await amountIn(db, a.debit, a.amount),
      a.date,
      a.reference ?? `ALLOC-${a.debit}-${a.credit}`,
    ],
  );
  if (!rows[0]) throw new Error('fixture: allocation documents not found in this entity');
  return Number(rows[0].id);
}

async function amountIn(db: Queryable, transactionId: number, text: string): Promise<bigint> {
  const { rows } = await db.query<{ currency: string }>('SELECT currency FROM transactions WHERE id = $1', [
    transactionId,
  ]);
  return minor(text, rows[0]!.currency.trim());
}

/** Records the reversal (unallocation) of an allocation on `date`. */
export async function reverseAllocation(
  db: Queryable,
  entityId: string,
  allocationId: number,
  date: string,
): Promise<void> {
  await db.query(
    `INSERT INTO allocation_reversals (allocation_id, entity_id, reversal_date, created_by)
     VALUES ($1, $2, $3, 'fixture')`,
    [allocationId, entityId, date],
  );
}

/**
 * Many invoices at once (for volume tests), each `gross` with no tax, dated back from `lastDate`
 * one day per invoice (cycling over a year) and due 30 days later. Returns their ids in order.
 */
export async function postManyInvoices(
  db: Queryable,
  entityId: string,
  d: { customer: string; count: number; lastDate: string; gross: string },
): Promise<number[]> {
  const { currency } = await currencies(db, entityId, d.customer);
  const gross = minor(d.gross, currency);
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: string }>(
      `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate,
         transaction_date, due_date, external_reference, net, tax, gross, base_gross, created_by)
       SELECT $1::uuid, 'SI', 'debit', n.start + g, $2::text, $3::text, 1, $4::date - (g % 365),
              $4::date - (g % 365) + 30, 'BULK-' || g, $5::bigint, 0, $5::bigint, $5::bigint, 'fixture'
         FROM generate_series(1, $6::int) g,
              (SELECT COALESCE(max(number), 0) AS start FROM transactions WHERE entity_id = $1 AND type = 'SI') n
        ORDER BY g
       RETURNING id`,
      [entityId, d.customer, currency, d.lastDate, gross, d.count],
    );
    const ids = rows.map((r) => r.id);
    await tx.query(
      `INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, amount, base_amount)
       SELECT t.id, $1::uuid, l.line_no, l.role, l.gl, l.sign * t.gross, l.sign * t.base_gross
         FROM transactions t,
              (VALUES (1, 'control', '${CONTROL}', 1), (2, 'net', '${SALES}', -1)) AS l(line_no, role, gl, sign)
        WHERE t.id = ANY($2::bigint[])`,
      [entityId, ids],
    );
    return ids.map(Number).sort((a, b) => a - b);
  });
}

/**
 * One receipt per given invoice, each for `amount` and allocated to it in full on its own date.
 * Written 500 at a time: the allocation-limit trigger re-reads every touched transaction, and
 * without statistics (PGlite) its cost grows with the square of one statement's size.
 */
export async function payManyInvoices(
  db: Queryable,
  entityId: string,
  d: { invoiceIds: number[]; amount: string },
): Promise<void> {
  for (let i = 0; i < d.invoiceIds.length; i += 500) {
    await payInvoices(db, entityId, d.invoiceIds.slice(i, i + 500), d.amount);
  }
}

async function payInvoices(db: Queryable, entityId: string, invoiceIds: number[], amountText: string): Promise<void> {
  const { rows: first } = await db.query<{ currency: string }>('SELECT currency FROM transactions WHERE id = $1', [
    invoiceIds[0]!,
  ]);
  const amount = minor(amountText, first[0]!.currency.trim());
  await db.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: string; invoice: string }>(
      `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate,
         transaction_date, external_reference, net, tax, gross, base_gross, details, created_by)
       SELECT $1::uuid, 'SR', 'credit', n.start + row_number() OVER (ORDER BY i.id), i.customer_code, i.currency, 1,
              i.transaction_date, 'PAY-' || i.id, $3::bigint, 0, $3::bigint, $3::bigint,
              jsonb_build_object('invoice', i.id), 'fixture'
         FROM transactions i,
              (SELECT COALESCE(max(number), 0) AS start FROM transactions WHERE entity_id = $1 AND type = 'SR') n
        WHERE i.id = ANY($2::bigint[]) AND i.entity_id = $1
       RETURNING id, details->>'invoice' AS invoice`,
      [entityId, invoiceIds, amount],
    );
    const receipts = rows.map((r) => r.id);
    await tx.query(
      `INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, amount, base_amount)
       SELECT t.id, $1::uuid, l.line_no, l.role, l.gl, l.sign * t.gross, l.sign * t.base_gross
         FROM transactions t,
              (VALUES (1, 'bank', '${BANK}', 1), (2, 'control', '${CONTROL}', -1)) AS l(line_no, role, gl, sign)
        WHERE t.id = ANY($2::bigint[])`,
      [entityId, receipts],
    );
    await tx.query(
      `INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id, amount,
         debit_base_amount, credit_base_amount, allocation_date, reference, created_by)
       SELECT $1::uuid, r.customer_code, (r.details->>'invoice')::bigint, r.id, r.gross, r.base_gross, r.base_gross,
              r.transaction_date, r.external_reference, 'fixture'
         FROM transactions r WHERE r.id = ANY($2::bigint[])`,
      [entityId, receipts],
    );
  });
}
