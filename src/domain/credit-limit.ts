/**
 * AccountsIQ's credit position of an account: a limit of 0 means no limit, so nothing is "left"
 * and nothing is over it. `overCreditLimitBy` is how far the balance is past the limit (0 within it).
 */
export function creditPosition(
  balance: bigint,
  creditLimit: bigint,
): { creditLeft: bigint; overCreditLimit: boolean; overCreditLimitBy: bigint } {
  if (creditLimit <= 0n) return { creditLeft: 0n, overCreditLimit: false, overCreditLimitBy: 0n };
  return {
    creditLeft: balance >= creditLimit ? 0n : creditLimit - balance,
    overCreditLimit: balance > creditLimit,
    overCreditLimitBy: balance > creditLimit ? balance - creditLimit : 0n,
  };
}
