import { formatAmount, minBig, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { ItemResult, TargetRefund } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type NsObject, describe, refId, rows, text } from './api.ts';
import { type DocumentContext, RECORD_OF, badReference, ownOf, writeOwn, written } from './documents.ts';
import { amount, minor, ref } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Refunds as NetSuite customer refunds (`customerRefund`), upserted by our reference as external
 * id like every other document (with the customer's after it where another customer's refund holds
 * the reference), their `apply` sublist naming the customer payment they return:
 * a refund takes what the payment holds unapplied. Where that is less than the refund (the
 * payment was applied to its invoice before the refund came), the rest is first taken off the
 * payment's applications, so that the invoice owes it again: the books a refund that came before
 * the invoice leaves (it took the unapplied money, the invoice got what was left), and what the
 * refusal used to ask a person to do by hand. More than the payment holds, refunds counted, is
 * refused before anything is written, and parked TARGET_REFUSED, saying so.
 */

export const REFUND_RECORD = 'customerRefund';

export async function createRefunds(c: DocumentContext, items: TargetRefund[]): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  for (const d of items) {
    const r = d.record;
    if (r.currency !== c.currency) {
      out.push(
        failed({
          code: 'CURRENCY_MISMATCH',
          message: `Refund ${r.externalReference} is in ${r.currency}; this target books in ${c.currency} only (target.currency)`,
          retryable: false,
          field: 'currency',
        }),
      );
      continue;
    }
    const bad = badReference(r.externalReference);
    if (bad) {
      out.push(failed(bad));
      continue;
    }
    const wanted = parseAmount(r.amount, r.currency);
    if (!wanted.ok || wanted.value <= 0n) {
      out.push(
        failed({
          code: 'AMOUNT_INVALID',
          message: `Refund ${r.externalReference}: ${r.amount} is not an amount ${SYSTEM} takes (more than zero)`,
          retryable: false,
          field: 'amount',
        }),
      );
      continue;
    }
    if (!d.paymentTargetId) {
      out.push(
        failed({
          code: 'TARGET_REFUSED',
          message: `Refund ${r.externalReference}: ${SYSTEM} refunds a customer's credit, so the refund must name the payment it returns (paymentExternalReference) and that payment must be booked`,
          retryable: false,
          field: 'paymentExternalReference',
        }),
      );
      continue;
    }
    const pay = await c.api.get(`/${RECORD_OF.payment}/${encodeURIComponent(d.paymentTargetId)}`, c.signal, true);
    const paymentName = r.paymentExternalReference ?? d.paymentTargetId;
    if (!pay) {
      out.push(
        failed({
          code: 'TARGET_REFUSED',
          message: `Refund ${r.externalReference}: payment ${paymentName} (${SYSTEM} id ${d.paymentTargetId}) is no longer in ${SYSTEM}`,
          retryable: false,
          field: 'paymentExternalReference',
        }),
      );
      continue;
    }
    const unapplied = minor(pay.unapplied, r.currency) ?? 0n;
    const applications = rows(pay.apply)
      .filter((x) => x.apply === true)
      .map((x) => ({
        doc: refId(x.doc),
        number: text((x.doc as NsObject | undefined)?.refName) || refId(x.doc),
        amount: minor(x.amount, r.currency) ?? 0n,
      }))
      .filter((x) => x.amount > 0n);
    const held = applications.reduce((s, x) => s + x.amount, unapplied);
    if (held < wanted.value) {
      out.push(
        failed({
          code: 'TARGET_REFUSED',
          message: `Refund ${r.externalReference}: payment ${paymentName} holds ${formatAmount(held, r.currency)} of its ${formatAmount(minor(pay.payment, r.currency) ?? 0n, r.currency)} not refunded yet, less than the ${r.amount} refunded`,
          retryable: false,
          field: 'amount',
        }),
      );
      continue;
    }
    // What the unapplied money does not cover comes off the payment's applications, in the order
    // NetSuite lists them. Worked out from the payment as read just now: an attempt that ends
    // without the refund puts them back (below), and one cut short (a crash) leaves them taken
    // off, which the next attempt reads as unapplied and does not take off twice.
    let short = wanted.value - unapplied;
    const taken: { doc: string; number: string; before: bigint; after: bigint }[] = [];
    for (const x of applications) {
      if (short <= 0n) break;
      const off = minBig(short, x.amount);
      taken.push({ ...x, before: x.amount, after: x.amount - off });
      short -= off;
    }
    const applyAs = (list: { doc: string; amount: bigint }[]) => ({
      apply: {
        items: list.map((x) =>
          x.amount > 0n
            ? { doc: ref(x.doc), apply: true, amount: amount(x.amount, r.currency) }
            : { doc: ref(x.doc), apply: false },
        ),
      },
    });
    const body: NsObject = {
      customer: ref(d.customerTargetId),
      tranDate: r.date,
      ...(r.description ? { memo: r.description.slice(0, 999) } : {}),
      ...(c.refundAccountId ? { account: ref(c.refundAccountId) } : {}),
      apply: { items: [{ doc: ref(d.paymentTargetId), apply: true, amount: amount(wanted.value, r.currency) }] },
    };
    // Another customer's refund under the reference keeps it: this one takes its customer's external id (writeOwn).
    let externalId: string | null = null;
    const undo = { paymentId: d.paymentTargetId, paymentName, currency: r.currency, taken, applyAs };
    try {
      if (taken.length > 0) {
        const off = await c.api.patch(
          RECORD_OF.payment,
          d.paymentTargetId,
          applyAs(taken.map((x) => ({ doc: x.doc, amount: x.after }))),
          c.signal,
        );
        if (!off.ok) {
          out.push(
            failed({
              code: 'TARGET_REFUSED',
              message: `${SYSTEM} refused to take refund ${r.externalReference} off what payment ${paymentName} applies to its invoices (${describe(off)})`,
              retryable: false,
            }),
          );
          continue;
        }
      }
      const { externalId: wrote, answer: a } = await writeOwn(
        c,
        REFUND_RECORD,
        r.externalReference,
        d.customerTargetId,
        body,
      );
      externalId = wrote;
      if (!a.ok) {
        // Not refunded: the applications go back to what they were, so the invoices do not owe it.
        const back = taken.length > 0 ? await putBack(c, undo) : null;
        out.push(
          failed({
            code: 'TARGET_REFUSED',
            message: `${SYSTEM} refused refund ${r.externalReference} (${describe(a)})${
              back
                ? `; payment ${paymentName} could not be applied to its invoices again as before (${back}): apply it in ${SYSTEM}`
                : ''
            }`,
            retryable: false,
          }),
        );
        continue;
      }
    } catch (err) {
      if (taken.length === 0 || !(err instanceof ConnectorError)) throw err;
      const settled = await unanswered(c, r.externalReference, d.customerTargetId, undo, err);
      if (settled === null) throw err;
      if (settled !== 'booked') {
        out.push(settled);
        continue;
      }
    }
    // Booked after a lost answer: under whichever external id the customer's own refund holds.
    externalId ??= (await ownOf(c, REFUND_RECORD, r.externalReference, d.customerTargetId)).externalId;
    const rec = await written(c, REFUND_RECORD, externalId);
    out.push(
      ok(text(rec.id), {
        number: text(rec.tranId) || r.externalReference,
        outcome: 'created',
        message:
          taken.length > 0
            ? `taken off what payment ${paymentName} applied to ${taken
                .map((x) => `invoice ${x.number} (${r.currency} ${formatAmount(x.before - x.after, r.currency)})`)
                .join(', ')}, which owes it again: ${SYSTEM} refunds only what a payment holds unapplied`
            : null,
      }),
    );
  }
  return out;
}

/** What a refund took off a payment's applications, to put them back if it is not booked. */
interface Undo {
  paymentId: string;
  paymentName: string;
  currency: string;
  taken: { doc: string; number: string; before: bigint; after: bigint }[];
  applyAs: (list: { doc: string; amount: bigint }[]) => NsObject;
}

/**
 * Settles a refund whose applications were taken off when NetSuite gave no answer (a timeout, a
 * reset, 5xx past the client's retries) to the take-off or the refund: booked after all; or put
 * back, and the error NetSuite gave is thrown (null: retried as usual); or neither, and the refund
 * is parked at once, saying which invoices owe the money again. The applications are put back now,
 * not left taken off until a retry that may come hours later, or never if the refund is given up:
 * the invoices would owe money meanwhile that nobody was refunded. Parked for a person when they
 * cannot be, because a later attempt, finding the money unapplied, would not know it was taken
 * off an invoice, and its own failure would be all the exception said.
 */
async function unanswered(
  c: DocumentContext,
  reference: string,
  customerTargetId: string | null | undefined,
  u: Undo,
  err: ConnectorError,
) {
  // The customer's own refund under the reference: the one this attempt wrote, whichever external id it took.
  const held = await ownOf(c, REFUND_RECORD, reference, customerTargetId).then(
    (own) => own.held,
    () => undefined,
  );
  if (held) return 'booked' as const;
  const problem = held === null ? await putBack(c, u) : 'whether the refund was booked could not be read';
  if (problem === null) return null;
  const owed = u.taken
    .map((x) => `invoice ${x.number} (${u.currency} ${formatAmount(x.before - x.after, u.currency)})`)
    .join(', ');
  return failed({
    code: 'TARGET_UNAVAILABLE',
    // What to fix first: a reason is cut to a few hundred characters where it is shown.
    message: `Refund ${reference} ${held === null ? 'was not booked' : 'is not known to be booked'} and payment ${u.paymentName} stays taken off ${owed}, which ${u.taken.length === 1 ? 'owes' : 'owe'} the money again: retry the refund once ${SYSTEM} answers, or apply the payment again in ${SYSTEM} (the refund: ${err.message}; applying again: ${problem})`,
    retryable: false,
  });
}

/**
 * Puts a payment's applications back as they were before a refund that was not booked; null
 * when done, else what went wrong. A lost answer is settled by reading the payment again.
 */
async function putBack(c: DocumentContext, u: Undo): Promise<string | null> {
  const { paymentId, currency, taken, applyAs } = u;
  try {
    // The lines set to what they were: sent again by the client after a 500, the same lines result.
    const back = await c.api.patch(
      RECORD_OF.payment,
      paymentId,
      applyAs(taken.map((x) => ({ doc: x.doc, amount: x.before }))),
      c.signal,
      undefined,
      true,
    );
    return back.ok ? null : describe(back);
  } catch (err) {
    const now = await c.api
      .get(`/${RECORD_OF.payment}/${encodeURIComponent(paymentId)}`, c.signal, true)
      .catch(() => null);
    const applied = (doc: string) =>
      rows(now?.apply)
        .filter((x) => refId(x.doc) === doc && x.apply === true)
        .reduce((s, x) => s + (minor(x.amount, currency) ?? 0n), 0n);
    if (now && taken.every((x) => applied(x.doc) === x.before)) return null;
    return err instanceof Error ? err.message : String(err);
  }
}
