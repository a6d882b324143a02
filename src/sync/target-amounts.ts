import type { z } from 'zod';
import { Dec, parseAmount } from '../domain/money.ts';
import { Amount, ExchangeRate, Quantity, Rate, UnitPrice } from '../domain/schemas.ts';
import { type CanonicalInvoice, lineAmountProblem, unparsedLineAmount } from './canonical.ts';
import {
  BatchInterrupted,
  type ItemError,
  type ItemResult,
  type TargetAllocation,
  type TargetConnector,
  type TargetCreditNote,
  type TargetInvoice,
  type TargetPayment,
  type TargetRefund,
  failed,
} from './target.ts';

/*
 * The numbers of a document, checked for a remote target before it builds anything of it. The
 * engine parks a document whose amounts do not parse before any target sees it; the target
 * interface is public all the same (a plugin, another code path), and a target that met such an
 * amount threw what its decimal library threw (a DecimalError, lossless-json's "Invalid number"),
 * which failed its whole batch as an unknown outcome: every document of it retried, then parked
 * TARGET_UNAVAILABLE, the good ones too. Each remote target is wrapped in `screenAmounts`, so that
 * such a document is refused alone, with a stable code and the field at fault, and is never sent.
 *
 * The checks are the engine's own: each number in the form the canonical schemas give it, line
 * amounts parsed for the currency (`unparsedLineAmount`) and equal to quantity × unit price
 * (`lineAmountProblem`), the other amounts parsed for the currency as the engine parses them.
 */

/** A document's check: the document to send (its numbers written plainly), or why it cannot go. */
type Screened<T> = { ok: true; item: T } | { ok: false; error: ItemError };

const refusal = (code: ItemError['code'], field: string, message: string): ItemError => ({
  code,
  message,
  retryable: false,
  field,
});

/** A value as a message shows it: quoted and cut short (it may be anything a caller sent). */
function shown(value: unknown): string {
  if (typeof value !== 'string') return `(${value === null ? 'null' : typeof value}, not decimal text)`;
  return JSON.stringify(value.length > 43 ? `${value.slice(0, 40)}...` : value);
}

/**
 * Why a number of the document is not in the form its canonical schema gives it (decimal text, no
 * blanks around it), or null; null too when it is absent and may be.
 */
function malformed(value: unknown, schema: z.ZodType, field: string, required: boolean): ItemError | null {
  if (value === undefined || value === null) {
    return required ? refusal('AMOUNT_INVALID', field, `${field} is missing`) : null;
  }
  if (typeof value === 'string' && value === value.trim()) {
    const parsed = schema.safeParse(value);
    if (parsed.success) return null;
    const why = parsed.error.issues[0]?.message ?? 'is not a decimal number';
    return refusal('AMOUNT_INVALID', field, `${field} ${shown(value)}: ${why}`);
  }
  return refusal('AMOUNT_INVALID', field, `${field} ${shown(value)} is not a decimal number`);
}

/** Why an amount (decimal text already) is not an amount of the currency, as the engine says it, or null. */
function unparsed(text: string, currency: string, field: string): ItemError | null {
  const parsed = parseAmount(text, currency);
  if (parsed.ok) return null;
  const code = parsed.error.code === 'OUT_OF_RANGE' ? 'AMOUNT_OUT_OF_RANGE' : 'AMOUNT_INVALID';
  return refusal(code, field, `${field}: ${parsed.error.message}`);
}

/**
 * A number as plain decimal text: JSON and XML decimals take neither leading zeros ("0100.00") nor
 * an exponent ("2.1e1"), which the canonical schemas allow; lossless-json refused the first.
 */
function plain<V extends string | null | undefined>(value: V): V {
  if (typeof value !== 'string' || /^-?(0|[1-9]\d*)(\.\d+)?$/.test(value)) return value;
  // Leading zeros only: the decimals stay as written ("0100.00" is "100.00").
  if (/^-?\d+(\.\d+)?$/.test(value)) return value.replace(/^(-?)0+(?=\d)/, '$1') as V;
  return new Dec(value).toFixed() as V;
}

type Lined = Pick<CanonicalInvoice, 'lines' | 'currency' | 'externalReference'> & {
  exchangeRate?: string | null | undefined;
};

/** Why an invoice's or a credit note's numbers cannot go to a target, the first that cannot, or null. */
export function linesAmountError(record: Lined): ItemError | null {
  for (const [n, l] of record.lines.entries()) {
    const at = (key: string) => `lines[${n}].${key}`;
    const bad =
      malformed(l.netAmount, Amount, at('netAmount'), true) ??
      malformed(l.vatAmount, Amount, at('vatAmount'), false) ??
      malformed(l.quantity, Quantity, at('quantity'), false) ??
      malformed(l.unitPrice, UnitPrice, at('unitPrice'), false) ??
      malformed(l.vatRate, Rate, at('vatRate'), true);
    if (bad) return bad;
  }
  const amount = unparsedLineAmount(record);
  if (amount) return refusal(amount.reasonCode, amount.field, amount.message);
  const units = lineAmountProblem(record);
  if (units) return refusal('LINE_AMOUNT_MISMATCH', units.field, units.message);
  return malformed(record.exchangeRate, ExchangeRate, 'exchangeRate', false);
}

/** Why a payment's amount or fee cannot go to a target, or null. */
export function paymentAmountError(record: TargetPayment['record']): ItemError | null {
  return (
    malformed(record.amount, Amount, 'amount', true) ??
    malformed(record.fee, Amount, 'fee', false) ??
    unparsed(record.amount, record.currency, 'amount') ??
    (record.fee === null || record.fee === undefined ? null : unparsed(record.fee, record.currency, 'fee'))
  );
}

/** Why a refund's or an allocation's amount cannot go to a target, or null. */
export function amountError(record: { amount: string; currency: string }): ItemError | null {
  return malformed(record.amount, Amount, 'amount', true) ?? unparsed(record.amount, record.currency, 'amount');
}

/** The numbers of a line, each written plainly when it is there. */
const LINE_NUMBERS = ['netAmount', 'vatAmount', 'quantity', 'unitPrice', 'vatRate'] as const;

function lined<T extends TargetInvoice | TargetCreditNote>(item: T): Screened<T> {
  const error = linesAmountError(item.record);
  if (error) return { ok: false, error };
  const r = item.record;
  const changed =
    plain(r.exchangeRate) !== r.exchangeRate || r.lines.some((l) => LINE_NUMBERS.some((k) => plain(l[k]) !== l[k]));
  if (!changed) return { ok: true, item };
  const lines = r.lines.map((l) => {
    const out = { ...l };
    for (const k of LINE_NUMBERS) if (typeof out[k] === 'string') Object.assign(out, { [k]: plain(out[k]) });
    return out;
  });
  const exchangeRate = plain(r.exchangeRate);
  return { ok: true, item: { ...item, record: { ...r, lines, ...(exchangeRate ? { exchangeRate } : {}) } } };
}

function paid<T extends TargetPayment>(item: T): Screened<T> {
  const error = paymentAmountError(item.record);
  if (error) return { ok: false, error };
  const r = item.record;
  const [amount, fee] = [plain(r.amount), plain(r.fee)];
  if (amount === r.amount && fee === r.fee) return { ok: true, item };
  return { ok: true, item: { ...item, record: { ...r, amount, ...('fee' in r ? { fee } : {}) } } };
}

function amounted<T extends TargetRefund | TargetAllocation>(item: T): Screened<T> {
  const error = amountError(item.record);
  if (error) return { ok: false, error };
  const amount = plain(item.record.amount);
  return { ok: true, item: amount === item.record.amount ? item : { ...item, record: { ...item.record, amount } } };
}

/**
 * Sends the items that pass `screen` (in their order, written plainly) and refuses the others
 * without a call; one result per item, in the batch's order. A call that throws after some were
 * refused throws BatchInterrupted with those refusals (and what the target finished, when it said),
 * so that the engine parks them and treats only the others as the error says.
 */
async function screened<T>(
  items: T[],
  screen: (item: T) => Screened<T>,
  send: (items: T[]) => Promise<ItemResult[]>,
): Promise<ItemResult[]> {
  const checked = items.map(screen);
  if (checked.every((c) => c.ok)) return send(checked.map((c) => c.item));
  const results: (ItemResult | undefined)[] = checked.map((c) => (c.ok ? undefined : failed(c.error)));
  const todo = checked.flatMap((c, n) => (c.ok ? [{ n, item: c.item }] : []));
  if (todo.length === 0) return results as ItemResult[];
  try {
    const answers = await send(todo.map((t) => t.item));
    todo.forEach((t, k) => (results[t.n] = answers[k]));
  } catch (err) {
    const whole = err instanceof BatchInterrupted && err.results.length === todo.length;
    if (whole) todo.forEach((t, k) => (results[t.n] = err.results[k]));
    throw new BatchInterrupted(results, whole ? err.error : err);
  }
  return results as ItemResult[];
}

/**
 * The remote target, refusing by itself each document whose amounts do not parse for its currency
 * (AMOUNT_INVALID, AMOUNT_OUT_OF_RANGE; LINE_AMOUNT_MISMATCH for a net that is not quantity × unit
 * price), naming the field (`lines[1].netAmount`, `amount`, `fee`), before it builds anything;
 * the rest of the batch goes as it would have. Each remote target's factory returns its connector
 * through this. An allocation whose amount does not parse is never found (`findAllocation`): it
 * was never sent.
 */
export function screenAmounts(target: TargetConnector): TargetConnector {
  const t = target;
  return {
    ...t,
    createInvoices: (ctx, items) => screened(items, lined, (go) => t.createInvoices(ctx, go)),
    ...(t.createDraftInvoices && {
      createDraftInvoices: (ctx, items) => screened(items, lined, (go) => t.createDraftInvoices!(ctx, go)),
    }),
    ...(t.createCreditNotes && {
      createCreditNotes: (ctx, items) => screened(items, lined, (go) => t.createCreditNotes!(ctx, go)),
    }),
    ...(t.createPayments && {
      createPayments: (ctx, items) => screened(items, paid, (go) => t.createPayments!(ctx, go)),
    }),
    ...(t.createRefunds && {
      createRefunds: (ctx, items) => screened(items, amounted, (go) => t.createRefunds!(ctx, go)),
    }),
    ...(t.createAllocations && {
      createAllocations: (ctx, items) => screened(items, amounted, (go) => t.createAllocations!(ctx, go)),
    }),
    ...(t.findAllocation && {
      findAllocation: async (ctx, item, taken) => {
        const s = amounted(item);
        return s.ok ? t.findAllocation!(ctx, s.item, taken) : null;
      },
    }),
  };
}
