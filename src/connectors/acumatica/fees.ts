import { formatAmount } from '../../domain/money.ts';
import { paymentFee, remoteFeeRemedy } from '../../sync/fee-match.ts';
import type { ItemError, TargetCallContext, TargetFee } from '../../sync/target.ts';
import { type AcumaticaApi, type Entity, dec, literal, v, val } from './api.ts';
import { minorOf } from './map.ts';
import type { AcumaticaSettings } from './settings.ts';

/*
 * A payment provider's fee (CanonicalPayment.fee) in Acumatica: a line of the payment's own
 * Charges (the Finance Charges tab of Payments and Applications, AR302000; `Payment.Charges`,
 * PaymentCharge, on the Default endpoint): the fee on a cash management entry type set up for
 * charges, posted when the payment is released to the entry type's expense account (or
 * `feeAccount`) against the payment's cash account. The payment keeps its gross amount, applied to
 * its invoice; the cash account receives the amount less its charges, the net the provider paid
 * out. That is how Acumatica records bank charges taken from a receipt.
 *
 * Being part of the payment, the fee is saved with it in one PUT, and found with it by its
 * reference after a lost answer: exactly once with the payment, each payment (each customer's,
 * under a shared reference) with its own.
 */

const missing = (message: string, field: string): ItemError => ({
  code: 'TARGET_SETTING_MISSING',
  message,
  retryable: false,
  field,
});

/** The fee booking of one target instance (it keeps `feeAccount` once checked). */
export function acumaticaFees(api: AcumaticaApi, settings: AcumaticaSettings) {
  let checked: string | null = null;

  /** `feeAccount` when it is an active expense account of the chart, else why not. */
  async function account(ctx: TargetCallContext, cd: string): Promise<string | ItemError> {
    if (checked === cd) return cd;
    const rows = await api.list('Account', { $filter: `AccountCD eq ${literal(cd)}` }, ctx.signal);
    const a = rows.find((r) => val(r, 'AccountCD').toLowerCase() === cd.toLowerCase());
    if (!a) return missing(`feeAccount is ${cd}, which is not an account of this Acumatica tenant`, 'feeAccount');
    if (val(a, 'Active') === 'false')
      return missing(
        `feeAccount is ${cd}, which is inactive in Acumatica: name an active expense account`,
        'feeAccount',
      );
    if (val(a, 'Type') !== 'Expense')
      return missing(
        `feeAccount is ${cd}, an ${val(a, 'Type') || 'untyped'} account, not an expense account: name the expense account providers' fees are charged to`,
        'feeAccount',
      );
    checked = cd;
    return cd;
  }

  /**
   * The Charges of a payment with this fee (one line), or why it cannot be booked; null when it
   * has no fee (nothing beside the payment is sent).
   */
  async function charges(
    ctx: TargetCallContext,
    p: { fee?: string | null | undefined; currency: string },
  ): Promise<{ lines: Entity[]; note: string } | ItemError | null> {
    const amount = paymentFee(p);
    if (typeof amount !== 'bigint') return amount;
    if (!settings.feeEntryType)
      return missing(
        "Acumatica charges a payment provider's fee on a cash management entry type, which its API does not list: set feeEntryType in the target's settings to the entry type (a Disbursement set up for the cash account, such as BANKFEE) fees are charged on",
        'feeEntryType',
      );
    const acct = settings.feeAccount ? await account(ctx, settings.feeAccount) : null;
    if (acct !== null && typeof acct !== 'string') return acct;
    const text = formatAmount(amount, p.currency);
    return {
      lines: [
        {
          EntryTypeID: v(settings.feeEntryType),
          ...(acct ? { AccountID: v(acct) } : {}),
          Amount: dec(text),
          Description: v('Payment provider fee'),
        },
      ],
      note: `fee ${p.currency} ${text} charged on the payment (entry type ${settings.feeEntryType}${acct ? `, account ${acct}` : ''})`,
    };
  }

  return { charges };
}

/**
 * The fee Acumatica holds for a payment read with `$expand=Charges`: its charges summed, named by
 * the payment; null when it has none. A charge whose amount is not one leaves the fee unknown.
 */
export function chargesOf(row: Entity, id: string, currency: string): TargetFee | null | undefined {
  const lines = Array.isArray(row.Charges) ? (row.Charges as Entity[]) : [];
  if (lines.length === 0) return null;
  let amount = 0n;
  for (const c of lines) {
    const a = minorOf(c, 'Amount', currency);
    if (a === null) return undefined;
    amount += a;
  }
  return { targetId: id, label: `the charges of payment ${val(row, 'ReferenceNbr')}`, currency, amount };
}

/** What to do in Acumatica about a payment whose fee is not what the source says (reconciliation). */
export const acumaticaFeeRemedy = remoteFeeRemedy(
  'Acumatica',
  (reference) =>
    `charge it on the payment with the reference ${reference} (Charges tab, the fees entry type) before it is released, or enter a cash transaction out of its cash account for it`,
);
