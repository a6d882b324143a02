import { formatAmount } from '../domain/money.ts';
import { type ExceptionRef, type SourceDoc, type TargetDoc, mismatchIds } from './reconcile-data.ts';
import type { Mismatch } from './reconcile.ts';
import type { FeeDifference, TargetConnector } from './target.ts';

/*
 * Reconciliation of payment providers' fees (docs/reconciliation.md, "Provider fees"). Each payment
 * the pipeline booked is compared on its fee too: the fee the source sent last, kept in the
 * payment's map entry (SourceDoc.fee), against the fee the target holds for the payment now
 * (TargetDoc.fee, from `documents(ids, { fees: true })`). Before, only receipts were compared: a
 * fee journal reversed in the embedded ledger, or one booked with another amount, left the bank off
 * by the fee with nothing to say so. What cannot be compared (a target that cannot tell a payment's
 * fee, a payment booked before its fee was kept) is counted and said in the report's notes, never
 * left to read as agreement.
 */

/**
 * Payments found in the target whose provider fee was compared, and those whose fee was not (the
 * target cannot tell a payment's fee, or the payment was booked before its fee was kept). A daily
 * summary's receipt counts once.
 */
export interface FeeSummary {
  compared: number;
  notCompared: number;
}

/** A payment as the pipeline booked it, for its fee: itself, or a day's summary receipt. */
export interface BookedPayment {
  sourceId: string;
  externalReference: string | null;
  date: string | null;
  fee: SourceDoc['fee'];
}

/** What to do about a fee that differs, for a target that does not say (`TargetConnector.feeRemedy`). */
const DEFAULT_REMEDY: Record<FeeDifference, string> = {
  missing: "book it in the target beside the payment (out of the payment's bank to bank charges)",
  amount: 'correct the fee in the target, or in the source if the target is right',
  extra: 'if the source is right, remove that fee from the target; otherwise correct the source',
};

const money = (v: { currency: string; amount: bigint }) => `${v.currency} ${formatAmount(v.amount, v.currency)}`;
const payments = (n: number) => `${n} payment${n === 1 ? '' : 's'}`;

/**
 * The fee comparison of one reconciliation: `compare` names a payment whose fee differs as a
 * `fee-difference` (through `mismatch`) and answers false, or answers true when it agrees or cannot
 * be compared; `summary` and `notes` say how many were compared and why the others were not.
 * `exceptions` are the latest of each record (a change of the fee parked for a person is named).
 * `left`: the pipeline leaves fees to the books (`options.fees: "leave"`): it booked none, so none
 * is compared, and the notes say so.
 */
export function feeComparison(
  target: Pick<TargetConnector, 'type' | 'feeRemedy'> & {
    capabilities?: Pick<TargetConnector['capabilities'], 'reconciliation'>;
  },
  exceptions: Map<string, ExceptionRef>,
  mismatch: (m: Partial<Mismatch> & Pick<Mismatch, 'kind' | 'reason' | 'message'>) => void,
  left = false,
) {
  const counts = { compared: 0, sourceUnknown: 0, targetUnknown: 0, left: 0 };
  const where = target.type === 'ledger' ? 'the ledger' : 'the target';

  function compare(p: BookedPayment, t: TargetDoc): boolean {
    if (left) return (counts.left++, true);
    if (t.fee === undefined) return (counts.targetUnknown++, true);
    if (p.fee === null) return (counts.sourceUnknown++, true);
    counts.compared++;
    const said = p.fee;
    const held = t.fee;
    let difference: FeeDifference | null = null;
    if (said.amount === 0n) difference = held === null || held.amount === 0n ? null : 'extra';
    else if (held === null) difference = 'missing';
    else if (held.currency !== said.currency || held.amount !== said.amount) difference = 'amount';
    if (difference === null) return true;
    const remedy =
      target.feeRemedy?.(difference, {
        targetId: t.id,
        reference: t.externalReference,
        currency: t.currency,
        fee: held,
      }) ?? DEFAULT_REMEDY[difference];
    const shown = p.externalReference ?? p.sourceId;
    let message: string;
    if (held === null)
      message = `The source says payment ${shown} had a provider fee of ${money(said)}; ${where} holds none for ${t.label}, so its bank is ${money(said)} too high there: ${remedy}`;
    else if (difference === 'amount')
      message = `The provider fee ${where} holds for ${t.label} is ${held.label}, ${money(held)}; the source says ${money(said)}: ${remedy}`;
    else
      message = `${where === 'the ledger' ? 'The ledger' : 'The target'} holds a provider fee for ${t.label}, ${held.label}, ${money(held)}; the source says payment ${shown} had none: ${remedy}`;
    const x = exceptions.get(`payment\u0000${p.sourceId}`);
    mismatch({
      kind: 'fee-difference',
      reason: difference,
      documentKind: 'payment',
      sourceId: p.sourceId,
      externalReference: p.externalReference,
      customerCode: t.customerCode,
      currency: held?.currency ?? said.currency,
      date: p.date,
      sourceAmount: difference === 'extra' ? null : formatAmount(said.amount, said.currency),
      targetAmount: held === null ? null : formatAmount(held.amount, held.currency),
      // A change of the fee parked for a person (PAYMENT_ALREADY_POSTED_CHANGED): resolve it once corrected.
      exceptionId: x?.status === 'open' ? x.id : null,
      ...mismatchIds(t.id),
      feeTargetId: held?.targetId ?? null,
      message,
    });
    return false;
  }

  return {
    compare,
    summary: (): FeeSummary => ({
      compared: counts.compared,
      notCompared: counts.sourceUnknown + counts.targetUnknown + counts.left,
    }),
    notes(): string[] {
      const notes: string[] = [];
      if (counts.left > 0)
        notes.push(
          `Provider fees were not compared for ${payments(counts.left)}: the pipeline leaves fees to the books (options.fees is "leave"), so ledgerlink booked none and this report does not say whether the books hold them.`,
        );
      if (counts.targetUnknown > 0)
        notes.push(
          target.capabilities?.reconciliation === false
            ? `Provider fees were not compared for ${payments(counts.targetUnknown)}: the ${target.type} target is compared with what it acknowledged, not read back (it lists nothing for reconciliation), so the fee it holds for each is not known and this report does not say whether they agree.`
            : `Provider fees were not compared for ${payments(counts.targetUnknown)}: the ${target.type} target cannot tell the fee it holds for each (it ties no fee to a payment, or the reference of an old fee is shared), so this report does not say whether they agree.`,
        );
      if (counts.sourceUnknown > 0)
        notes.push(
          `Provider fees were not compared for ${payments(counts.sourceUnknown)} booked before 2026-12-06: the fee the source sent was not kept then.`,
        );
      return notes;
    },
  };
}
