/**
 * An in-memory model of one entity's receivables ledger, for the property test. It knows what every
 * transaction should have outstanding (in its own and in base currency), which allocations are
 * active, how many documents of each type were numbered, and what each GL account should hold in
 * base currency. It works from the documented posting rules with exact bigint arithmetic and shares
 * no code with src/, so it is an independent oracle rather than a copy of the implementation.
 *
 * Rules it encodes (docs/ledger.md, src/domain/documents.ts comments):
 * - tax per line is net × rate, rounded half-up, unless a tax amount is given;
 * - base = amount ÷ rate rescaled to the base currency's decimals, half-up; an invoice or credit
 *   note converts each net line and each tax code's total on its own, the control line takes the sum;
 * - an allocation clears base at the transaction's own rate, except the allocation that closes a
 *   transaction, which clears exactly what is left (no residue on settled items); a difference
 *   between the two sides is realised exchange difference (FX);
 * - a settlement discount posts a DS allocated to the invoice; unallocation reverses the allocation,
 *   its discount child and its FX, and reversing the discount's own allocation cancels the discount
 *   with a DX allocated to the DS (reversing any other allocation of a DS only reopens both sides);
 * - dates in order: an allocation is never dated before either document (omitted, it takes the
 *   later of the two), an unallocation never before the allocation it reverses (omitted, it takes
 *   today or the allocation's date if later); a discount (DS) is dated on its allocation, a DX on
 *   its reversal; nothing is posted, allocated or reversed on or before the lock date.
 */

export const BASE_CURRENCY = 'EUR';
export const EXPONENT: Record<string, number> = { EUR: 2, USD: 2, GBP: 2, JPY: 0 };

export const ACCOUNTS = {
  control: '1100',
  bank: '1200',
  vat: '2200',
  discount: '4900',
  fx: '7900',
} as const;

export type TxType = 'SI' | 'SN' | 'SR' | 'SD' | 'DS' | 'DX' | 'FX';
export type Side = 'debit' | 'credit' | 'none';
export const SIDE: Record<TxType, Side> = {
  SI: 'debit',
  SD: 'debit',
  DX: 'debit',
  SN: 'credit',
  SR: 'credit',
  DS: 'credit',
  FX: 'none',
};

export interface Item {
  gl: string;
  taxCode: string;
  net: bigint;
  tax: bigint;
}

export interface Tx {
  id: number;
  type: TxType;
  customer: string;
  currency: string;
  rate: string;
  gross: bigint;
  baseGross: bigint;
  out: bigint;
  baseOut: bigint;
  items: Item[];
  date: string;
}

export interface Alloc {
  id: number;
  debit: number;
  credit: number;
  amount: bigint;
  debitBase: bigint;
  creditBase: bigint;
  parent: number | null;
  active: boolean;
  date: string;
}

/** Today as the ledger sees it (UTC), for unallocations whose date is omitted. */
export function todayUtc(): string {
  return new Date().toISOString().slice(0, 10);
}

export function later(a: string, b: string): string {
  return a >= b ? a : b;
}

function exponentOf(currency: string): number {
  const e = EXPONENT[currency];
  if (e === undefined) throw new Error(`model: unknown currency ${currency}`);
  return e;
}

/** A plain decimal string as an exact fraction num/den. */
function fraction(text: string): { num: bigint; den: bigint } {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new Error(`model: not a plain decimal: ${text}`);
  const decimals = m[2] ?? '';
  return { num: BigInt(m[1]! + decimals), den: 10n ** BigInt(decimals.length) };
}

/** num/den rounded half-up (half away from zero; the model only rounds non-negative values). */
function roundHalfUp(num: bigint, den: bigint): bigint {
  if (num < 0n || den <= 0n) throw new Error('model: rounds non-negative values only');
  return (2n * num + den) / (2n * den);
}

/** minor × rate, half-up: the tax of a line. */
export function mulHalfUp(minor: bigint, rate: string): bigint {
  const r = fraction(rate);
  return roundHalfUp(minor * r.num, r.den);
}

/** Minor units of `currency` in minor units of the base currency at `rate` (currency per base unit). */
export function toBase(minor: bigint, currency: string, rate: string): bigint {
  if (currency === BASE_CURRENCY) return minor;
  const r = fraction(rate);
  const shift = exponentOf(BASE_CURRENCY) - exponentOf(currency);
  const num = minor * r.den * (shift >= 0 ? 10n ** BigInt(shift) : 1n);
  const den = r.num * (shift < 0 ? 10n ** BigInt(-shift) : 1n);
  return roundHalfUp(num, den);
}

export function formatMinor(minor: bigint, currency: string): string {
  const e = exponentOf(currency);
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(e + 1, '0');
  const text = e === 0 ? digits : `${digits.slice(0, -e)}.${digits.slice(-e)}`;
  return negative ? `-${text}` : text;
}

export type Outcome<T> = { error: string } | { ok: T };

export interface AllocationPlan {
  debit: Tx;
  credit: Tx;
  amount: bigint;
  discount: bigint;
  debitBase: bigint;
  creditBase: bigint;
  discountBase: bigint;
  date: string;
}

/** A DX the ledger is expected to post while unallocating: cancels `amount` of discount `ds`. */
export interface ExpectedDx {
  ds: number;
  amount: bigint;
  base: bigint;
}

export class LedgerModel {
  readonly txs = new Map<number, Tx>();
  readonly allocs = new Map<number, Alloc>();
  readonly counts = new Map<TxType, number>();
  readonly accounts = new Map<string, bigint>();
  private readonly references = new Set<string>();
  private uniqueCounter = 0;
  /** Nothing is posted, allocated or reversed on or before it. */
  lockDate: string | null = null;

  /** Whether a date falls in the locked period. */
  locked(date: string): boolean {
    return this.lockDate !== null && date <= this.lockDate;
  }

  constructor(readonly customers: ReadonlyMap<string, string>) {}

  currencyOf(customer: string): string {
    const c = this.customers.get(customer);
    if (!c) throw new Error(`model: unknown customer ${customer}`);
    return c;
  }

  uniqueReference(prefix: string): string {
    return `${prefix}-U${++this.uniqueCounter}`;
  }

  /** Whether any document of this type and customer carries the reference, checked or not. */
  hasReference(customer: string, type: TxType, reference: string): boolean {
    return reference !== '' && this.references.has(`${customer}|${type}|${reference}`);
  }

  nextNumber(type: TxType): number {
    return (this.counts.get(type) ?? 0) + 1;
  }

  /** Books `base` (debit positive) on an account, for postings outside the receivables model. */
  book(account: string, base: bigint) {
    this.accounts.set(account, (this.accounts.get(account) ?? 0n) + base);
  }

  private add(tx: Tx, reference: string) {
    if (this.txs.has(tx.id)) throw new Error(`model: transaction ${tx.id} posted twice`);
    this.txs.set(tx.id, tx);
    this.counts.set(tx.type, this.nextNumber(tx.type));
    if (reference !== '') this.references.add(`${tx.customer}|${tx.type}|${reference}`);
  }

  /** The journal of an invoice (sign 1) or credit note (sign -1) in base: returns base gross. */
  private itemJournal(items: Item[], currency: string, rate: string, sign: 1n | -1n): bigint {
    let total = 0n;
    for (const i of items) {
      if (i.net === 0n) continue;
      const b = toBase(i.net, currency, rate);
      this.book(i.gl, -sign * b);
      total += b;
    }
    const byCode = new Map<string, bigint>();
    for (const i of items) byCode.set(i.taxCode, (byCode.get(i.taxCode) ?? 0n) + i.tax);
    for (const amount of byCode.values()) {
      if (amount === 0n) continue;
      const b = toBase(amount, currency, rate);
      this.book(ACCOUNTS.vat, -sign * b);
      total += b;
    }
    this.book(ACCOUNTS.control, sign * total);
    return total;
  }

  /** Base gross an invoice or credit note would have, without booking it. */
  static baseOfItems(items: Item[], currency: string, rate: string): bigint {
    const scratch = new LedgerModel(new Map());
    return scratch.itemJournal(items, currency, rate, 1n);
  }

  postItems(
    type: 'SI' | 'SN',
    id: number,
    customer: string,
    rate: string,
    items: Item[],
    reference: string,
    date: string,
  ): Tx {
    const currency = this.currencyOf(customer);
    const gross = items.reduce((s, i) => s + i.net + i.tax, 0n);
    const baseGross = this.itemJournal(items, currency, rate, type === 'SI' ? 1n : -1n);
    const tx: Tx = {
      id,
      type,
      customer,
      currency,
      rate,
      gross,
      baseGross,
      out: gross,
      baseOut: baseGross,
      items,
      date,
    };
    this.add(tx, reference);
    return tx;
  }

  /** A receipt (SR, money into the bank) or refund debit journal to the bank (SD). */
  postBank(
    type: 'SR' | 'SD',
    id: number,
    customer: string,
    rate: string,
    amount: bigint,
    reference: string,
    date: string,
  ): Tx {
    const currency = this.currencyOf(customer);
    const base = toBase(amount, currency, rate);
    const sign = type === 'SD' ? 1n : -1n;
    this.book(ACCOUNTS.control, sign * base);
    this.book(ACCOUNTS.bank, -sign * base);
    const tx: Tx = {
      id,
      type,
      customer,
      currency,
      rate,
      gross: amount,
      baseGross: base,
      out: amount,
      baseOut: base,
      items: [],
      date,
    };
    this.add(tx, reference);
    return tx;
  }

  /** The checks of an allocation in the order the ledger makes them, and what it would clear. */
  planAllocation(
    id1: number,
    id2: number,
    amount: bigint | null,
    discount: bigint | null,
    reference: string,
    date?: string,
  ): Outcome<AllocationPlan> {
    if (reference.trim() === '') return { error: 'TRANSACTION_ALLOCATION_REFERENCE_IS_NULL' };
    if (id1 === id2) return { error: 'TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES' };
    const t1 = this.txs.get(id1);
    const t2 = this.txs.get(id2);
    if (!t1 || !t2) return { error: 'TRANSACTION_DOES_NOT_EXIST' };
    if (t1.customer !== t2.customer) return { error: 'TRANSACTIONS_BELONG_TO_DIFFERENT_ACCOUNTS' };
    if (SIDE[t1.type] === 'none' || SIDE[t2.type] === 'none') return { error: 'TRANSACTION_IS_NOT_ALLOCATABLE' };
    if (SIDE[t1.type] === SIDE[t2.type]) return { error: 'TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES' };
    if (amount === null) return { error: 'AMOUNT_HAS_TOO_MANY_DECIMALS' };
    if (amount <= 0n) return { error: 'TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO' };
    if (discount === null) return { error: 'AMOUNT_HAS_TOO_MANY_DECIMALS' };
    const [debit, credit] = SIDE[t1.type] === 'debit' ? [t1, t2] : [t2, t1];
    if (discount > 0n && debit.type !== 'SI' && debit.type !== 'SD')
      return { error: 'TRANSACTION_DISCOUNT_REQUIRES_DEBIT_DOCUMENT' };
    if (t1.out === 0n || t2.out === 0n) return { error: 'TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION' };
    if (amount > credit.out || amount + discount > debit.out)
      return { error: 'TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANDING_AMOUNT' };
    const discountBase =
      discount === 0n ? 0n : discount === debit.out ? debit.baseOut : toBase(discount, debit.currency, debit.rate);
    const debitBase =
      amount + discount === debit.out ? debit.baseOut - discountBase : toBase(amount, debit.currency, debit.rate);
    const creditBase = amount === credit.out ? credit.baseOut : toBase(amount, credit.currency, credit.rate);
    const earliest = later(debit.date, credit.date);
    if (date !== undefined && date < earliest) return { error: 'ALLOCATION_DATE_BEFORE_TRANSACTION' };
    const on = date ?? earliest;
    if (this.locked(on)) return { error: 'PERIOD_LOCKED' };
    return { ok: { debit, credit, amount, discount, debitBase, creditBase, discountBase, date: on } };
  }

  /** Books a planned allocation under the ids the ledger gave it. */
  applyAllocation(
    p: AllocationPlan,
    ids: { allocation: number; discountTx: number | null; discountAllocation: number | null },
  ) {
    p.debit.out -= p.amount + p.discount;
    p.debit.baseOut -= p.debitBase + p.discountBase;
    p.credit.out -= p.amount;
    p.credit.baseOut -= p.creditBase;
    this.allocs.set(ids.allocation, {
      id: ids.allocation,
      debit: p.debit.id,
      credit: p.credit.id,
      amount: p.amount,
      debitBase: p.debitBase,
      creditBase: p.creditBase,
      parent: null,
      active: true,
      date: p.date,
    });
    this.realiseFx(p.debitBase - p.creditBase);
    if (p.discount > 0n) {
      if (ids.discountTx === null || ids.discountAllocation === null)
        throw new Error('model: a discount needs its DS and allocation ids');
      this.book(ACCOUNTS.control, -p.discountBase);
      this.book(ACCOUNTS.discount, p.discountBase);
      const ds: Tx = {
        id: ids.discountTx,
        type: 'DS',
        customer: p.debit.customer,
        currency: p.debit.currency,
        rate: p.debit.rate,
        gross: p.discount,
        baseGross: p.discountBase,
        out: 0n,
        baseOut: 0n,
        items: [],
        date: p.date,
      };
      this.add(ds, '');
      this.allocs.set(ids.discountAllocation, {
        id: ids.discountAllocation,
        debit: p.debit.id,
        credit: ds.id,
        amount: p.discount,
        debitBase: p.discountBase,
        creditBase: p.discountBase,
        parent: ids.allocation,
        active: true,
        date: p.date,
      });
    }
  }

  /** Realised exchange difference: an FX journal moves the control account back to the open items. */
  private realiseFx(diff: bigint) {
    if (diff === 0n) return;
    this.counts.set('FX', this.nextNumber('FX'));
    this.book(ACCOUNTS.control, -diff);
    this.book(ACCOUNTS.fx, diff);
  }

  /**
   * The allocations unallocating `id` reverses, in the order the ledger reverses them (by id), each
   * with its reversal date: `given`, which may not be before any of them nor in the locked period,
   * or by default today or the allocation's date if later.
   */
  planUnallocation(id: number, given?: string): Outcome<{ a: Alloc; date: string }[]> {
    if (!this.txs.has(id)) return { error: 'TRANSACTION_DOES_NOT_EXIST' };
    const active = [...this.allocs.values()].filter((a) => a.active);
    const direct = active.filter((a) => a.debit === id || a.credit === id);
    if (direct.length === 0) return { error: 'TRANSACTION_HAS_NO_ACTIVE_ALLOCATIONS' };
    const directIds = new Set(direct.map((a) => a.id));
    const targets = active.filter((a) => directIds.has(a.id) || (a.parent !== null && directIds.has(a.parent)));
    const planned: { a: Alloc; date: string }[] = [];
    for (const a of targets.sort((x, y) => x.id - y.id)) {
      if (given !== undefined && given < a.date) return { error: 'UNALLOCATION_DATE_BEFORE_ALLOCATION' };
      const date = given ?? later(todayUtc(), a.date);
      if (this.locked(date)) return { error: 'PERIOD_LOCKED' };
      planned.push({ a, date });
    }
    return { ok: planned };
  }

  /**
   * Reverses the planned allocations. `nextDx` hands over the DX the ledger posted (its transaction
   * and allocation ids) each time the model expects one, and checks it is the expected one.
   */
  applyUnallocation(
    targets: { a: Alloc; date: string }[],
    nextDx: (expected: ExpectedDx) => { tx: number; allocation: number },
  ) {
    for (const { a, date } of targets) {
      const debit = this.txs.get(a.debit)!;
      const credit = this.txs.get(a.credit)!;
      a.active = false;
      debit.out += a.amount;
      debit.baseOut += a.debitBase;
      credit.out += a.amount;
      credit.baseOut += a.creditBase;
      this.realiseFx(a.creditBase - a.debitBase);
      if (a.parent !== null && credit.type === 'DS') {
        const base = a.creditBase;
        const ids = nextDx({ ds: credit.id, amount: a.amount, base });
        this.book(ACCOUNTS.control, base);
        this.book(ACCOUNTS.discount, -base);
        const dx: Tx = {
          id: ids.tx,
          type: 'DX',
          customer: credit.customer,
          currency: credit.currency,
          rate: credit.rate,
          gross: a.amount,
          baseGross: base,
          out: 0n,
          baseOut: 0n,
          items: [],
          date,
        };
        this.add(dx, '');
        credit.out -= a.amount;
        credit.baseOut -= base;
        this.allocs.set(ids.allocation, {
          id: ids.allocation,
          debit: dx.id,
          credit: credit.id,
          amount: a.amount,
          debitBase: base,
          creditBase: base,
          parent: null,
          active: true,
          date,
        });
      }
    }
  }

  hasActiveAllocation(id: number): boolean {
    for (const a of this.allocs.values()) if (a.active && (a.debit === id || a.credit === id)) return true;
    return false;
  }
}
