import { Dec, absBig, formatAmount, multiplyAmount, toBaseAmount } from './money.ts';
import type { Analysis } from './analysis.ts';
import { currencyExponent } from './currency.ts';

/** An invoice or credit-note line after its amounts were parsed into minor units. */
export interface ItemInput {
  glAccountCode: string;
  taxCode: string;
  taxRate: string;
  description: string;
  departmentId: string | null;
  net: bigint;
  /** When given it is used as-is, the batch-invoice rule; otherwise net × rate, half-up. */
  tax: bigint | null;
  /** Analysis codes given for the line; the database fills the rest from its department. */
  analysis?: Analysis | null;
  /** On item lines only (src/ledger/item-documents.ts): what the net was computed from, and a note. */
  itemCode?: string | null;
  quantity?: string | null;
  unitPrice?: string | null;
  discountRate?: string | null;
  note?: string | null;
}

export interface Item extends Omit<ItemInput, 'tax'> {
  lineNo: number;
  tax: bigint;
}

export type JournalRole = 'control' | 'net' | 'tax' | 'bank' | 'gl' | 'discount' | 'fx';

export interface JournalLine {
  role: JournalRole;
  glAccountCode: string;
  departmentId: string | null;
  taxCode: string | null;
  description: string;
  /** Signed, debit positive, in the document currency. */
  amount: bigint;
  /** Signed, debit positive, in the base currency. */
  baseAmount: bigint;
  /** Analysis codes given for the line; the database fills the rest from its department. */
  analysis?: Analysis | null;
}

export interface Totals {
  net: bigint;
  tax: bigint;
  gross: bigint;
}

export function computeItems(inputs: ItemInput[]): { items: Item[]; totals: Totals } {
  let net = 0n;
  let tax = 0n;
  const items = inputs.map((i, index) => {
    const lineTax = i.tax ?? multiplyAmount(i.net, i.taxRate, 'halfUp');
    net += i.net;
    tax += lineTax;
    return { ...i, lineNo: index + 1, tax: lineTax };
  });
  return { items, totals: { net, tax, gross: net + tax } };
}

/** Something accepted that a person should look at; the document was posted all the same. */
export interface PostingWarning {
  code: 'TAX_AMOUNT_DIFFERS_FROM_RATE';
  /** The line at fault, as the request names it: `lines[0].taxAmount`. */
  field: string;
  message: string;
}

/**
 * Warnings for lines whose supplied VAT differs from net × rate (half-up) by more than
 * `tolerance` units of the currency (AccountsIQ accepts supplied VAT as is; so do we, but say so).
 */
export function taxAmountWarnings(
  inputs: readonly ItemInput[],
  currency: string,
  tolerance: string,
  fieldOf: (index: number) => string,
): PostingWarning[] {
  const limit = multiplyAmount(1n, new Dec(tolerance).mul(new Dec(10).pow(currencyExponent(currency))), 'halfUp');
  const warnings: PostingWarning[] = [];
  inputs.forEach((i, n) => {
    if (i.tax === null) return;
    const expected = multiplyAmount(i.net, i.taxRate, 'halfUp');
    if (absBig(i.tax - expected) <= limit) return;
    const f = (v: bigint) => formatAmount(v, currency);
    warnings.push({
      code: 'TAX_AMOUNT_DIFFERS_FROM_RATE',
      field: fieldOf(n),
      message:
        `line ${n + 1}: taxAmount ${f(i.tax)} differs from ${f(i.net)} × ${new Dec(i.taxRate).toFixed()} = ${f(expected)} ` +
        `by ${f(absBig(i.tax - expected))}, more than the tolerance of ${f(limit)} ${currency}`,
    });
  });
  return warnings;
}

export interface Conversion {
  currency: string;
  baseCurrency: string;
  rate: Dec | string;
}

/**
 * The journal of an invoice (`sign` 1) or credit note (`sign` -1): the control account takes the
 * gross, each line's net goes to its GL account and department, tax is grouped per tax code onto
 * that code's GL account. Each line is converted to base on its own and the control line takes
 * the exact opposite of their sum, so the journal balances in both currencies.
 */
export function itemJournal(
  items: Item[],
  taxAccounts: ReadonlyMap<string, string>,
  controlAccount: string,
  description: string,
  conv: Conversion,
  sign: 1n | -1n,
): { lines: JournalLine[]; baseGross: bigint } {
  const base = (v: bigint) => toBaseAmount(v, conv.currency, conv.baseCurrency, conv.rate);
  const lines: JournalLine[] = [];
  for (const i of items) {
    if (i.net === 0n) continue;
    lines.push({
      role: 'net',
      glAccountCode: i.glAccountCode,
      departmentId: i.departmentId,
      taxCode: i.taxCode,
      description: i.description,
      amount: -sign * i.net,
      baseAmount: -sign * base(i.net),
      analysis: i.analysis ?? null,
    });
  }
  const taxByCode = new Map<string, bigint>();
  for (const i of items) taxByCode.set(i.taxCode, (taxByCode.get(i.taxCode) ?? 0n) + i.tax);
  for (const [taxCode, amount] of taxByCode) {
    if (amount === 0n) continue;
    lines.push({
      role: 'tax',
      glAccountCode: taxAccounts.get(taxCode)!,
      departmentId: null,
      taxCode,
      description: `Tax ${taxCode}`,
      amount: -sign * amount,
      baseAmount: -sign * base(amount),
    });
  }
  const amount = -lines.reduce((s, l) => s + l.amount, 0n);
  const baseAmount = -lines.reduce((s, l) => s + l.baseAmount, 0n);
  lines.unshift({
    role: 'control',
    glAccountCode: controlAccount,
    departmentId: null,
    taxCode: null,
    description,
    amount,
    baseAmount,
  });
  return { lines, baseGross: sign * baseAmount };
}

/**
 * A two-sided journal between the debtors control account and other accounts: receipts (money in,
 * control credited), refunds and debit journals (control debited), credit journals, discounts.
 * `controlSign` 1 debits the control account.
 */
export function controlJournal(
  controlAccount: string,
  description: string,
  others: {
    role: JournalRole;
    glAccountCode: string;
    departmentId: string | null;
    description: string;
    amount: bigint;
  }[],
  conv: Conversion,
  controlSign: 1n | -1n,
  fixedBase?: (amount: bigint) => bigint,
): { lines: JournalLine[]; gross: bigint; baseGross: bigint } {
  const base = fixedBase ?? ((v: bigint) => toBaseAmount(v, conv.currency, conv.baseCurrency, conv.rate));
  const lines: JournalLine[] = others.map((o) => ({
    role: o.role,
    glAccountCode: o.glAccountCode,
    departmentId: o.departmentId,
    taxCode: null,
    description: o.description,
    amount: -controlSign * o.amount,
    baseAmount: -controlSign * base(o.amount),
  }));
  const gross = others.reduce((s, o) => s + o.amount, 0n);
  const baseGross = -controlSign * lines.reduce((s, l) => s + l.baseAmount, 0n);
  lines.unshift({
    role: 'control',
    glAccountCode: controlAccount,
    departmentId: null,
    taxCode: null,
    description,
    amount: controlSign * gross,
    baseAmount: controlSign * baseGross,
  });
  return { lines, gross, baseGross };
}

/**
 * Base amounts of a journal's signed lines (debits positive) converted at one rate. Each line is
 * converted on its own, then each side's largest line takes what rounding left over, so the debits
 * and the credits each come to the base value of their common total: the journal balances in both
 * currencies, and its base total is the total converted once (lines of 0.01 USD at 1.1 would
 * otherwise each round to 0.01 EUR and the sides drift apart by a cent per line).
 */
export function balancedBase(amounts: readonly bigint[], conv: Conversion): bigint[] {
  const base = amounts.map(
    (a) => (a < 0n ? -1n : 1n) * toBaseAmount(absBig(a), conv.currency, conv.baseCurrency, conv.rate),
  );
  for (const sign of [1n, -1n]) {
    const side = amounts.map((a, n) => ({ a: a * sign, n })).filter((l) => l.a > 0n);
    if (side.length === 0) continue;
    const total = side.reduce((s, l) => s + l.a, 0n);
    const want = toBaseAmount(total, conv.currency, conv.baseCurrency, conv.rate);
    const have = side.reduce((s, l) => s + base[l.n]! * sign, 0n);
    const largest = side.reduce((m, l) => (l.a > m.a ? l : m));
    base[largest.n] = base[largest.n]! + (want - have) * sign;
  }
  return base;
}

/**
 * The realised exchange difference of an allocation: the debit side cleared `debitBase` of base
 * currency from the control account and the credit side `creditBase`; the control account is
 * brought back to the open items by the difference, against the FX gain/loss account.
 */
export function fxJournal(
  controlAccount: string,
  fxAccount: string,
  debitBase: bigint,
  creditBase: bigint,
): JournalLine[] {
  const diff = debitBase - creditBase;
  return [
    {
      role: 'control',
      glAccountCode: controlAccount,
      departmentId: null,
      taxCode: null,
      description: 'Realised exchange difference',
      amount: 0n,
      baseAmount: -diff,
    },
    {
      role: 'fx',
      glAccountCode: fxAccount,
      departmentId: null,
      taxCode: null,
      description: 'Realised exchange difference',
      amount: 0n,
      baseAmount: diff,
    },
  ];
}

export type TransactionType = 'SI' | 'SN' | 'SR' | 'SD' | 'SC' | 'DS' | 'DX' | 'FX' | 'GJ' | 'RV' | 'PI';
export type Side = 'debit' | 'credit' | 'none';

export const SIDE_OF: Record<TransactionType, Side> = {
  SI: 'debit',
  SD: 'debit',
  DX: 'debit',
  SN: 'credit',
  SR: 'credit',
  SC: 'credit',
  DS: 'credit',
  FX: 'none',
  GJ: 'none',
  RV: 'none',
  // A purchase invoice is outside the customers' (sales) ledger: its side there is none.
  PI: 'none',
};

const DOCUMENT_NAMES: Record<TransactionType, string> = {
  SI: 'Invoice',
  SN: 'Credit note',
  SR: 'Receipt',
  SD: 'Debit journal',
  SC: 'Credit journal',
  DS: 'Discount',
  DX: 'Discount reversal',
  FX: 'Exchange difference',
  GJ: 'General journal',
  RV: 'Revaluation',
  PI: 'Purchase invoice',
};

/**
 * How messages name a document: by the number people see on it and its external reference, never
 * by the internal id. `Invoice 12 (INV-77)`, or `Invoice 12` without a reference.
 */
export function documentLabel(doc: {
  type: TransactionType;
  number: number | string;
  externalReference: string;
}): string {
  const ref = doc.externalReference.trim();
  return `${DOCUMENT_NAMES[doc.type]} ${doc.number}${ref ? ` (${ref})` : ''}`;
}

/**
 * The form in which duplicate checks compare external and check references: trimmed of spaces,
 * tabs and line breaks, and lower case, so "INV-1 " and "inv-1" are the same reference. The
 * document keeps the text as sent. The database's `ll_reference_key` is the same function.
 */
export function referenceKey(reference: string): string {
  return reference.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '').toLowerCase();
}
