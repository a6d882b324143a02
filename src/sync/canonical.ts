import { z } from 'zod';
import { computeItems } from '../domain/documents.ts';
import { Dec, formatAmount, lineAmount, parseAmount } from '../domain/money.ts';
import { Amount, Currency, ExchangeRate, IsoDate, Quantity, Rate, UnitPrice } from '../domain/schemas.ts';

/**
 * The canonical records every source produces and the engine consumes. Sources differ in how
 * they fetch; past this point an instalment, a webhook event, a CSV row and a Stripe charge are
 * the same few shapes. Amounts are decimal text; ids are the source's own, as strings.
 */
export const CanonicalCustomer = z.strictObject({
  kind: z.literal('customer'),
  sourceId: z.string().min(1).max(100),
  code: z
    .string()
    .max(50)
    .nullable()
    .optional()
    .meta({ description: "The customer's code in the ledger when the source keeps one." }),
  name: z.string().min(1).max(200),
  email: z.string().max(200).nullable().optional(),
  phone: z.string().max(50).nullable().optional(),
  street: z.string().max(200).nullable().optional(),
  postalCode: z.string().max(20).nullable().optional(),
  city: z.string().max(100).nullable().optional(),
  country: z.string().max(100).nullable().optional(),
  vatNumber: z.string().max(50).nullable().optional(),
  language: z.string().max(10).nullable().optional(),
  currency: Currency.optional(),
});
export type CanonicalCustomer = z.output<typeof CanonicalCustomer>;

/*
 * A source rarely knows every field of a customer: an invoices file may have only its name, a
 * payment provider only its email. A customer record therefore says which fields it carries by
 * which keys it has: a key that is absent (or `undefined`) is a field the source does not know,
 * and no target changes it. A key that is present with `null` or blank text is the source saying
 * the field is EMPTY; that clears the field only where the pipeline is authoritative for it
 * (`options.customers.authoritative`), and is otherwise ignored. Every source declares its fields
 * this way: a CSV file by its columns, an API by the keys it answers with, a webhook by the keys
 * the sender wrote.
 */

/** The customer fields a source may carry, besides its ids (`sourceId`, `code`). */
export const CUSTOMER_FIELDS = [
  'name',
  'email',
  'phone',
  'street',
  'postalCode',
  'city',
  'country',
  'vatNumber',
  'language',
  'currency',
] as const;
export type CustomerField = (typeof CUSTOMER_FIELDS)[number];

/** The fields a pipeline may be authoritative for: those a customer can be without (not its name or currency). */
export const CLEARABLE_CUSTOMER_FIELDS = [
  'email',
  'phone',
  'street',
  'postalCode',
  'city',
  'country',
  'vatNumber',
  'language',
] as const satisfies readonly CustomerField[];
export type ClearableCustomerField = (typeof CLEARABLE_CUSTOMER_FIELDS)[number];

/** True when a source sent the field empty: null, or text that is blank. */
export function isEmptyValue(value: unknown): boolean {
  return value === null || (typeof value === 'string' && value.trim() === '');
}

/** The fields a customer record carries (present, whether with a value or empty). */
export function presentCustomerFields(c: Partial<CanonicalCustomer>): CustomerField[] {
  return CUSTOMER_FIELDS.filter((f) => c[f] !== undefined);
}

/**
 * What of a customer record a target is to write: the fields it carries with a value; a field
 * it carries empty as `null` (clear it) where the pipeline is authoritative for it, and left out
 * (leave it alone) where it is not; fields it does not carry left out. The engine's change
 * detection hashes this, so a field no source knows never makes a customer "changed".
 */
export function customerChanges(
  c: CanonicalCustomer,
  authoritative: ReadonlySet<ClearableCustomerField> = new Set(),
): CanonicalCustomer {
  const out: CanonicalCustomer = { kind: 'customer', sourceId: c.sourceId, name: c.name };
  if (c.code !== undefined && !isEmptyValue(c.code)) out.code = c.code;
  for (const f of CUSTOMER_FIELDS) {
    const v = c[f];
    if (f === 'name' || v === undefined) continue;
    if (!isEmptyValue(v)) Object.assign(out, { [f]: v });
    else if ((authoritative as ReadonlySet<string>).has(f)) Object.assign(out, { [f]: null });
  }
  return out;
}

export const CanonicalProduct = z.strictObject({
  kind: z.literal('product'),
  sourceId: z.string().min(1).max(100),
  code: z.string().min(1).max(50),
  name: z.string().min(1).max(200),
  vatRate: Rate.nullable().optional(),
  glAccountCode: z.string().max(50).nullable().optional(),
  taxCode: z.string().max(50).nullable().optional(),
  departmentId: z.string().max(50).nullable().optional(),
});
export type CanonicalProduct = z.output<typeof CanonicalProduct>;

/*
 * A line is one amount (netAmount), optionally with the quantity and unit price it came from.
 * Signs: a quantity is always more than zero; a unit price carries the sign, and netAmount has the
 * sign of the unit price (a discount or credit line is 1 × -5.00, never -1 × 5.00). When a line has
 * both, netAmount must be quantity × unitPrice rounded half up to the currency's decimals
 * (lineAmountProblem; the engine parks a line that is not, LINE_AMOUNT_MISMATCH), so every target
 * books the same amount whether it takes the net or recomputes it from quantity and price.
 * netAmount stays required here: every target, the daily summary and reconciliation read it. A
 * source whose lines have a quantity and a unit price but no net computes it with lineNetAmount
 * (the webhook and CSV sources accept such lines).
 */
const LINE_SHAPE = {
  productSourceId: z.string().max(100).nullable().optional(),
  description: z.string().max(500).default(''),
  quantity: Quantity.optional(),
  unitPrice: UnitPrice.optional(),
  netAmount: Amount,
  vatRate: Rate,
  vatAmount: Amount.nullable().optional(),
  glAccountCode: z.string().max(50).nullable().optional(),
  taxCode: z.string().max(50).nullable().optional(),
  departmentId: z.string().max(50).nullable().optional(),
};

/** Quantity and unit price come together or not at all: one alone says nothing of the other. */
function pairedUnits(l: { quantity?: string | undefined; unitPrice?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((l.quantity === undefined) === (l.unitPrice === undefined)) return;
  const missing = l.quantity === undefined ? 'quantity' : 'unitPrice';
  ctx.addIssue({
    code: 'custom',
    path: [missing],
    message: 'quantity and unitPrice go together: give both or neither',
  });
}

export const CanonicalLine = z.strictObject(LINE_SHAPE).superRefine(pairedUnits);
export type CanonicalLine = z.output<typeof CanonicalLine>;

/**
 * A line as a sender may write it: netAmount may be left out when quantity and unitPrice are
 * given (the source computes it with lineNetAmount before the line becomes canonical).
 */
export const LineInput = z
  .strictObject({ ...LINE_SHAPE, netAmount: Amount.optional() })
  .superRefine(pairedUnits)
  .superRefine((l, ctx) => {
    if (l.netAmount === undefined && l.quantity === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['netAmount'],
        message: 'is required unless quantity and unitPrice are given',
      });
  });
export type LineInput = z.output<typeof LineInput>;

/** The net of a line given as quantity × unit price: rounded half up to the currency's decimals, as decimal text. */
export function lineNetAmount(quantity: string, unitPrice: string, currency: string): string {
  return formatAmount(lineAmount(quantity, unitPrice, currency), currency);
}

/** A line as a sender wrote it, made canonical: its netAmount computed when it was left out. */
export function completeLine(l: LineInput, currency: string): CanonicalLine {
  const { netAmount, ...rest } = l;
  if (netAmount !== undefined) return { ...rest, netAmount };
  // LineInput guarantees both when the net is absent.
  return { ...rest, netAmount: lineNetAmount(l.quantity!, l.unitPrice!, currency) };
}

/** Gross of a canonical invoice in minor units, for reconciliation; null when its amounts do not parse. */
export function canonicalGross(inv: CanonicalInvoice): bigint | null {
  const lines = [];
  for (const l of inv.lines) {
    const net = parseAmount(l.netAmount, inv.currency);
    const vat = l.vatAmount === null || l.vatAmount === undefined ? null : parseAmount(l.vatAmount, inv.currency);
    if (!net.ok || (vat !== null && !vat.ok)) return null;
    lines.push({
      glAccountCode: '',
      taxCode: '',
      taxRate: l.vatRate,
      description: '',
      departmentId: null,
      net: net.value,
      tax: vat === null ? null : vat.value,
    });
  }
  return computeItems(lines).totals.gross;
}

/**
 * The first line amount of an invoice (or a credit note, `creditNoteAsInvoice`) that does not parse
 * for its currency: the reason code, the field at fault and what is wrong; null when every one does.
 * Such a document is parked before any target sees it, whatever the target.
 */
export function unparsedLineAmount(
  inv: Pick<CanonicalInvoice, 'lines' | 'currency'>,
): { reasonCode: 'AMOUNT_INVALID' | 'AMOUNT_OUT_OF_RANGE'; field: string; message: string } | null {
  for (const [n, l] of inv.lines.entries()) {
    for (const key of ['netAmount', 'vatAmount'] as const) {
      const text = l[key];
      if (text === null || text === undefined) continue;
      const parsed = parseAmount(text, inv.currency);
      if (parsed.ok) continue;
      const outOfRange = parsed.error.code === 'OUT_OF_RANGE';
      return {
        reasonCode: outOfRange ? 'AMOUNT_OUT_OF_RANGE' : 'AMOUNT_INVALID',
        field: `lines[${n}].${key}`,
        message: outOfRange
          ? `Line ${n + 1}: ${key} "${text}" is beyond the largest amount the ledger can store`
          : `Line ${n + 1}: ${key} "${text}" is not an amount in ${inv.currency} (at most the currency's decimals)`,
      };
    }
  }
  return null;
}

/**
 * Why an invoice's lines cannot be booked as they stand: the first line whose netAmount is not its
 * quantity × unit price (rounded half up to the currency's decimals), with both numbers; or null.
 * A netAmount that does not parse is `unparsedLineAmount`'s.
 */
export function lineAmountProblem(
  inv: Pick<CanonicalInvoice, 'lines' | 'currency' | 'externalReference'>,
): { field: string; message: string } | null {
  for (const [n, l] of inv.lines.entries()) {
    if (l.quantity === undefined || l.unitPrice === undefined) continue;
    const net = parseAmount(l.netAmount, inv.currency);
    if (!net.ok) continue;
    const expected = lineAmount(l.quantity, l.unitPrice, inv.currency);
    if (net.value === expected) continue;
    return {
      field: `lines[${n}].netAmount`,
      message:
        `Line ${n + 1} of invoice ${inv.externalReference}: netAmount ${l.netAmount} is not quantity × unitPrice ` +
        `(${l.quantity} × ${l.unitPrice} = ${new Dec(l.quantity).mul(l.unitPrice).toFixed()}, ` +
        `${formatAmount(expected, inv.currency)} ${inv.currency} rounded half up); ` +
        'correct the amount, the quantity or the unit price in the source',
    };
  }
  return null;
}

export const CanonicalInvoice = z.strictObject({
  kind: z.literal('invoice'),
  sourceId: z.string().min(1).max(100),
  externalReference: z.string().min(1).max(50),
  customerSourceId: z.string().min(1).max(100),
  invoiceDate: IsoDate,
  dueDate: IsoDate.nullable().optional(),
  currency: Currency,
  exchangeRate: ExchangeRate.nullable()
    .optional()
    .meta({
      description:
        'Units of the currency per one unit of the base currency, for an invoice in a foreign currency. A rate far ' +
        'from the last known one is parked (EXCHANGE_RATE_IMPLAUSIBLE), never booked.',
    }),
  description: z.string().max(500).default(''),
  location: z
    .string()
    .max(50)
    .nullable()
    .optional()
    .meta({ description: 'Point of sale or shop, for daily summaries.' }),
  lines: z.array(CanonicalLine).min(1).max(1000),
});
export type CanonicalInvoice = z.output<typeof CanonicalInvoice>;

export const CanonicalPayment = z.strictObject({
  kind: z.literal('payment'),
  sourceId: z.string().min(1).max(100),
  externalReference: z
    .string()
    .min(1)
    .max(50)
    .meta({ description: 'The payment reference (receipt check reference).' }),
  customerSourceId: z.string().min(1).max(100),
  date: IsoDate,
  amount: Amount,
  currency: Currency,
  invoiceExternalReference: z
    .string()
    .max(50)
    .nullable()
    .optional()
    .meta({ description: 'The invoice it pays, when known.' }),
  fee: Amount.nullable().optional().meta({ description: "The payment provider's fee, to bank charges." }),
  bankAccountCode: z.string().max(50).nullable().optional(),
  location: z.string().max(50).nullable().optional(),
  method: z.string().max(50).nullable().optional(),
  description: z.string().max(500).default(''),
});
export type CanonicalPayment = z.output<typeof CanonicalPayment>;

export const CanonicalRefund = z.strictObject({
  kind: z.literal('refund'),
  sourceId: z.string().min(1).max(100),
  externalReference: z.string().min(1).max(50),
  customerSourceId: z.string().min(1).max(100),
  date: IsoDate,
  amount: Amount,
  currency: Currency,
  paymentExternalReference: z
    .string()
    .max(50)
    .nullable()
    .optional()
    .meta({ description: 'The payment refunded, when known.' }),
  bankAccountCode: z.string().max(50).nullable().optional(),
  description: z.string().max(500).default(''),
});
export type CanonicalRefund = z.output<typeof CanonicalRefund>;

export const CanonicalCreditNote = z.strictObject({
  kind: z.literal('creditNote'),
  sourceId: z.string().min(1).max(100),
  externalReference: z.string().min(1).max(50),
  customerSourceId: z.string().min(1).max(100),
  date: IsoDate,
  currency: Currency,
  exchangeRate: ExchangeRate.nullable().optional(),
  description: z.string().max(500).default(''),
  invoiceExternalReference: z.string().max(50).nullable().optional().meta({
    description:
      'The invoice it credits, when it credits one. Informative: what the credit note settles is an allocation.',
  }),
  lines: z.array(CanonicalLine).min(1).max(1000),
});
export type CanonicalCreditNote = z.output<typeof CanonicalCreditNote>;

/**
 * Part of a payment or credit note set against an invoice: the source's own matching (a receipt
 * spread over three invoices, a credit note settling the invoice it credits). Both documents are
 * named by their external references; the engine sends the allocation once both are in the target.
 */
export const CanonicalAllocation = z.strictObject({
  kind: z.literal('allocation'),
  sourceId: z.string().min(1).max(100),
  customerSourceId: z.string().min(1).max(100),
  date: IsoDate,
  currency: Currency,
  amount: Amount.meta({ description: 'In the currency of both documents; more than zero.' }),
  invoiceExternalReference: z.string().min(1).max(50),
  from: z.enum(['payment', 'creditNote']).meta({ description: 'What is set against the invoice.' }),
  fromExternalReference: z.string().min(1).max(50),
});
export type CanonicalAllocation = z.output<typeof CanonicalAllocation>;

export const CanonicalRecord = z.discriminatedUnion('kind', [
  CanonicalCustomer,
  CanonicalProduct,
  CanonicalInvoice,
  CanonicalCreditNote,
  CanonicalPayment,
  CanonicalRefund,
  CanonicalAllocation,
]);
export type CanonicalRecord = z.output<typeof CanonicalRecord>;
export type RecordKind = CanonicalRecord['kind'];

/**
 * A customer or product code the engine keeps as a source gives it (upper case, at most 50, no
 * spaces); anything else it turns into one with codeFromSourceId.
 */
export const CODE_PATTERN = /^[A-Z0-9][A-Z0-9_.-]{0,49}$/;

/** Order within a run: what a document refers to is synced before it. */
export const KIND_ORDER: RecordKind[] = [
  'customer',
  'product',
  'invoice',
  'creditNote',
  'payment',
  'refund',
  'allocation',
];

/** A credit note in the shape of an invoice, for what maps lines (accounts, tax codes, totals). */
export function creditNoteAsInvoice(note: CanonicalCreditNote): CanonicalInvoice {
  const { date, invoiceExternalReference: _credited, ...rest } = note;
  return { ...rest, kind: 'invoice', invoiceDate: date, dueDate: null };
}
