import type { Organisation } from './simulator-store.ts';
import { ZohoRefusal, dec, str } from './simulator-values.ts';

/*
 * Refunds of a customer payment's unused amount in the simulated Zoho Books
 * (POST/GET /customerpayments/{id}/refunds, GET …/refunds/{refund_id}): a refund takes what the
 * payment holds neither applied to invoices nor refunded before, so the payment's `unused_amount`
 * goes down by it, and one larger than that is refused in Zoho's body before anything changes.
 * The code and words of that refusal are the simulator's: Zoho's pages list no error code for it.
 * Refunds of credit notes are not simulated: the target sends none (refunds.ts).
 */

export interface PaymentRefund {
  payment_refund_id: string;
  payment_id: string;
  date: string;
  refund_mode: string;
  reference_number: string;
  amount: bigint;
  from_account_id: string;
  description: string;
}

type Obj = Record<string, unknown>;

/** The refusal of a refund above what the payment holds unused. */
export const REFUND_EXCEEDS = {
  code: 24020,
  message: 'The amount to be refunded is more than the unused amount of the payment.',
};

function refundView(o: Organisation, r: PaymentRefund): Obj {
  return {
    payment_refund_id: r.payment_refund_id,
    payment_id: r.payment_id,
    date: r.date,
    refund_mode: r.refund_mode,
    reference_number: r.reference_number,
    amount: dec(r.amount, o.currency),
    from_account_id: r.from_account_id,
    description: r.description,
    currency_code: o.currency,
  };
}

function refund(o: Organisation, paymentId: string, body: Obj, nextId: () => string): PaymentRefund {
  const p = o.payments.get(paymentId);
  if (!p) throw new ZohoRefusal(404, 24001, 'Payment does not exist.');
  const date = str(body.date);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new ZohoRefusal(400, 2, 'Invalid value passed for date');
  o.locked(date);
  const amount = o.amount(body.amount, 'amount');
  if (amount <= 0n) throw new ZohoRefusal(400, 2, 'Invalid value passed for amount');
  const account = str(body.from_account_id);
  if (!account) throw new ZohoRefusal(400, 2, 'Invalid value passed for from_account_id');
  const unused = p.amount - p.invoices.reduce((s, i) => s + i.amount_applied, 0n) - p.refunded;
  if (amount > unused) throw new ZohoRefusal(400, REFUND_EXCEEDS.code, REFUND_EXCEEDS.message);
  const r: PaymentRefund = {
    payment_refund_id: nextId(),
    payment_id: paymentId,
    date,
    refund_mode: str(body.refund_mode) || 'cash',
    reference_number: str(body.reference_number),
    amount,
    from_account_id: account,
    description: str(body.description),
  };
  p.refunded += amount;
  o.refunds.push(r);
  return r;
}

/**
 * The answer to a refund route, or null when `key` ("METHOD /path") is not one. Lists are one
 * page: a payment has few refunds.
 */
export function refundRoute(
  o: Organisation,
  key: string,
  body: Obj,
  nextId: () => string,
): { status: number; body: Obj } | null {
  const m = /^(GET|POST) \/customerpayments\/(\d+)\/refunds(?:\/(\d+))?$/.exec(key);
  if (!m) return null;
  const [, method, paymentId, refundId] = m as unknown as [string, string, string, string | undefined];
  if (method === 'POST' && !refundId) {
    const r = refund(o, paymentId, body, nextId);
    return {
      status: 201,
      body: {
        code: 0,
        message: 'The refund information for this payment has been saved.',
        payment_refund: refundView(o, r),
      },
    };
  }
  if (method !== 'GET') throw new ZohoRefusal(405, 5, 'Invalid URL Passed');
  if (!o.payments.has(paymentId)) throw new ZohoRefusal(404, 24001, 'Payment does not exist.');
  const mine = o.refunds.filter((r) => r.payment_id === paymentId);
  if (refundId) {
    const r = mine.find((x) => x.payment_refund_id === refundId);
    if (!r) throw new ZohoRefusal(404, 1002, 'Refund does not exist.');
    return { status: 200, body: { code: 0, message: 'success', payment_refund: refundView(o, r) } };
  }
  return {
    status: 200,
    body: {
      code: 0,
      message: 'success',
      payment_refunds: mine.map((r) => refundView(o, r)),
      page_context: { page: 1, per_page: 200, has_more_page: false },
    },
  };
}
