/**
 * AccountsIQ's credit position of an account: a limit of 0 means no limit, so nothing is "left"
 * and nothing is over it.
 */
export function creditPosition(balance: bigint, creditLimit: bigint): { creditLeft: bigint; overCreditLimit: boolean } {
  if (creditLimit <= 0n) return { creditLeft: 0n, overCreditLimit: false };
  return {
    creditLeft: balance >= creditLimit ? 0n : creditLimit - balance,
    overCreditLimit: balance > creditLimit,
  };
}
