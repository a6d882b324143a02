import { LosslessNumber } from 'lossless-json';
import { formatAmount } from '../../domain/money.ts';

/* What the simulated Zoho Books' store, routes and refunds share: its refusal and its values. */

/** A refusal in Zoho's own body, `{"code": …, "message": …}`, with its HTTP status. */
export class ZohoRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** A value of a request body as text (strings, lossless numbers). */
export const str = (v: unknown): string =>
  typeof v === 'string' ? v : v instanceof LosslessNumber ? v.value : typeof v === 'number' ? String(v) : '';
export const dec = (minor: bigint, currency: string) => new LosslessNumber(formatAmount(minor, currency));

/** The account a payment is deposited to when it names none (Zoho's Undeposited Funds). */
export const UNDEPOSITED_FUNDS = '460000000000001';
