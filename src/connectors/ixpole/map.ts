import { createHash } from 'node:crypto';
import { z } from 'zod';
import { isValidDate } from '../../domain/dates.ts';
import { isKnownCurrency } from '../../domain/currency.ts';
import type { CanonicalCustomer, CanonicalInvoice, CanonicalProduct } from '../../sync/canonical.ts';
import type { InvalidItem, SourceItem } from '../../sync/connector.ts';

/*
 * iXpole JSON → canonical records. Pure: no I/O, so every quirk of the API is tested here.
 * The body parser keeps decimals as text, so an amount sent as a JSON number arrives as the exact
 * digits the server wrote; integers (ids) may arrive as numbers or strings.
 */

/** An id: iXpole sends integers, but strings are taken as they are. */
const Id = z.union([z.string().trim().min(1).max(100), z.number().int().nonnegative()]).transform((v) => String(v));

/** A business date; a .NET DateTime without offset ("2026-11-01T00:00:00") is read as its date part. */
const BusinessDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?)?$/, 'must be a date as YYYY-MM-DD')
  .transform((v) => v.slice(0, 10))
  .refine(isValidDate, 'not a calendar date');

const Money = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .refine((v) => /^-?\d{1,15}(\.\d{1,10})?$/.test(v), 'must be a decimal amount such as "120.50"');

/** A rate is a fraction ("0.21"); a value above 1 is a percentage sent by mistake. */
const Fraction = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .refine((v) => /^(0(\.\d{1,10})?|1(\.0{1,10})?)$/.test(v), 'must be a fraction between 0 and 1 such as "0.21"');

const Text = (max: number) =>
  z
    .string()
    .nullish()
    .transform((v) => {
      const t = v?.trim() ?? '';
      return t === '' ? null : t.slice(0, max);
    });

export const IxpoleInstalment = z.object({
  // Kept exactly as sent (not trimmed): it is the key the write-back must match on.
  InstalmentCode: z
    .string()
    .max(50, 'at most 50 characters')
    .refine((v) => v.trim() !== '', 'required'),
  CustomerId: Id,
  ProductId: Id,
  ContractNumber: z.union([z.string(), z.number().int()]).nullish(),
  Description: z.string().nullish(),
  InvoiceDate: BusinessDate,
  DueDate: BusinessDate.nullish(),
  Currency: z.string().trim().toUpperCase().refine(isKnownCurrency, 'must be an ISO 4217 currency code such as "EUR"'),
  NetAmount: Money,
  VatRate: Fraction,
  VatAmount: Money.nullish(),
});
export type IxpoleInstalment = z.input<typeof IxpoleInstalment>;

export const IxpoleCustomer = z.object({
  CustomerId: Id,
  CustomerCode: Text(50),
  Name: z.string().trim().min(1, 'required').max(200),
  Email: Text(200),
  Street: Text(200),
  PostalCode: Text(20),
  City: Text(100),
  Country: Text(100),
  VatNumber: Text(50),
  Language: Text(10),
});
export type IxpoleCustomer = z.input<typeof IxpoleCustomer>;

export const IxpoleProduct = z.object({
  ProductId: Id,
  Code: z.string().trim().min(1, 'required').max(50),
  Name: z.string().trim().min(1, 'required').max(200),
  VatRate: Fraction.nullish(),
  GlAccount: z.union([z.string(), z.number().int()]).nullish(),
});
export type IxpoleProduct = z.input<typeof IxpoleProduct>;

/** A page of GET api/instalments; its items are validated one by one, so one bad item spoils nothing else. */
export const IxpolePage = z.object({
  items: z.array(z.unknown()),
  nextPage: z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]).nullish(),
});

export type Mapped<T> = { ok: true; value: T } | { ok: false; field: string; message: string };

function firstIssue(error: z.ZodError): { field: string; message: string } {
  const issue = error.issues[0]!;
  const field = issue.path.map(String).join('.') || '(item)';
  return { field, message: `${field}: ${issue.message}` };
}

/** Description of the invoice: the instalment's own text, with the contract it belongs to. */
function describe(i: z.output<typeof IxpoleInstalment>): string {
  const text = i.Description?.trim() ?? '';
  const contract = i.ContractNumber === null || i.ContractNumber === undefined ? '' : String(i.ContractNumber).trim();
  const full =
    contract && !text.includes(contract) ? (text ? `${text} (contract ${contract})` : `Contract ${contract}`) : text;
  return full.slice(0, 500);
}

/**
 * One instalment → one invoice with one line. The InstalmentCode is both the source id and the
 * external reference: it is the key iXpole matches the invoice on, and the ledger refuses a
 * second invoice with it. A VAT amount that iXpole gives is used as is (iXpole rounded it).
 */
export function mapInstalment(raw: unknown): Mapped<CanonicalInvoice> {
  const r = IxpoleInstalment.safeParse(raw);
  if (!r.success) return { ok: false, ...firstIssue(r.error) };
  const i = r.data;
  const description = describe(i);
  return {
    ok: true,
    value: {
      kind: 'invoice',
      sourceId: i.InstalmentCode,
      externalReference: i.InstalmentCode,
      customerSourceId: i.CustomerId,
      invoiceDate: i.InvoiceDate,
      dueDate: i.DueDate ?? null,
      currency: i.Currency,
      description,
      lines: [
        {
          productSourceId: i.ProductId,
          description,
          netAmount: i.NetAmount,
          vatRate: i.VatRate,
          vatAmount: i.VatAmount ?? null,
        },
      ],
    },
  };
}

/** Where a malformed item was found, to say so in the exception's message. */
export interface ItemPosition {
  page: number;
  index: number;
}

/** An item of a page → a source item for the engine: an invoice, or an invalid item parked with its data. */
export function instalmentItem(raw: unknown, at: ItemPosition): SourceItem {
  const mapped = mapInstalment(raw);
  if (mapped.ok) return { record: mapped.value, raw };
  return { invalid: invalidInstalment(raw, at, mapped) };
}

export function invalidInstalment(
  raw: unknown,
  at: ItemPosition,
  why: { field: string; message: string },
): InvalidItem {
  const code = raw && typeof raw === 'object' ? (raw as { InstalmentCode?: unknown }).InstalmentCode : undefined;
  // Parked under its InstalmentCode when it has one, so a later good copy closes the exception;
  // without one, under a hash of its content, so the next run parks it again in the same place.
  const sourceId =
    typeof code === 'string' && code.trim() !== ''
      ? code.slice(0, 100)
      : `unidentified:${createHash('sha256')
          .update(JSON.stringify(raw) ?? 'undefined')
          .digest('hex')
          .slice(0, 16)}`;
  return {
    kind: 'invoice',
    sourceId,
    reasonCode: 'SOURCE_ITEM_INVALID',
    message: `iXpole instalment ${sourceId} (page ${at.page}, item ${at.index + 1}) is not valid: ${why.message}`,
    field: why.field,
    payload: raw ?? null,
  };
}

/** A customer; its CustomerCode, when iXpole has one, becomes the ledger code. */
export function mapCustomer(raw: unknown): Mapped<CanonicalCustomer> {
  const r = IxpoleCustomer.safeParse(raw);
  if (!r.success) return { ok: false, ...firstIssue(r.error) };
  const c = r.data;
  // The fields iXpole answered with, null or blank included (empty); one it left out is not known, so not sent.
  const answered = (key: keyof IxpoleCustomer) => Object.hasOwn(raw as object, key);
  const fields = {
    email: ['Email', c.Email],
    street: ['Street', c.Street],
    postalCode: ['PostalCode', c.PostalCode],
    city: ['City', c.City],
    country: ['Country', c.Country],
    vatNumber: ['VatNumber', c.VatNumber],
    language: ['Language', c.Language],
  } as const;
  return {
    ok: true,
    value: {
      kind: 'customer',
      sourceId: c.CustomerId,
      code: c.CustomerCode,
      name: c.Name,
      ...Object.fromEntries(
        Object.entries(fields)
          .filter(([, [key]]) => answered(key))
          .map(([field, [, value]]) => [field, value]),
      ),
    },
  };
}

/** A product (an AccountsIQ non-stock item), with the GL account and VAT rate its lines default to. */
export function mapProduct(raw: unknown): Mapped<CanonicalProduct> {
  const r = IxpoleProduct.safeParse(raw);
  if (!r.success) return { ok: false, ...firstIssue(r.error) };
  const p = r.data;
  const gl = p.GlAccount === null || p.GlAccount === undefined ? '' : String(p.GlAccount).trim();
  return {
    ok: true,
    value: {
      kind: 'product',
      sourceId: p.ProductId,
      code: p.Code,
      name: p.Name,
      vatRate: p.VatRate ?? null,
      glAccountCode: gl === '' ? null : gl.slice(0, 50),
    },
  };
}
