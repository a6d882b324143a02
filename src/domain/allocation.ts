import { toBaseAmount } from './money.ts';

export interface AllocationSide {
  outstanding: bigint;
  baseOutstanding: bigint;
  currency: string;
  exchangeRate: string;
}

export interface AllocationBases {
  /** Base currency the debit side (invoice) clears for the payment. */
  debitBase: bigint;
  /** Base currency the credit side (receipt) clears. */
  creditBase: bigint;
  /** Base currency the debit side clears for the discount. */
  discountBase: bigint;
}

/**
 * How much base currency an allocation clears from each side. A side that the allocation closes
 * clears its exact remaining base amount, so a settled item never keeps a rounding residue; a
 * partial allocation converts at the side's own rate. When the two differ, the allocation posts
 * the realised exchange difference.
 */
export function allocationBases(
  debit: AllocationSide,
  credit: AllocationSide,
  amount: bigint,
  discount: bigint,
  baseCurrency: string,
): AllocationBases {
  const at = (side: AllocationSide, v: bigint) => toBaseAmount(v, side.currency, baseCurrency, side.exchangeRate);
  const closesDebit = amount + discount === debit.outstanding;
  const discountBase =
    discount === 0n ? 0n : closesDebit && amount === 0n ? debit.baseOutstanding : at(debit, discount);
  const debitBase = closesDebit ? debit.baseOutstanding - discountBase : at(debit, amount);
  const creditBase = amount === credit.outstanding ? credit.baseOutstanding : at(credit, amount);
  return { debitBase, creditBase, discountBase };
}
