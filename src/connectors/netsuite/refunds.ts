import { formatAmount, minBig, parseAmount } from '../../domain/money.ts';
import type { ItemResult, TargetRefund } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type NsObject, describe, refId, rows, text } from './api.ts';
import { type DocumentContext, RECORD_OF, badReference, written } from './documents.ts';
import { amount, minor, ref } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Refunds as NetSuite customer refunds (`customerRefund`), upserted by our reference as external
 * id like every other document, their `apply` sublist naming the customer payment they return:
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
    // NetSuite lists them. Worked out from the payment as read just now: after a lost answer the
    // engine looks the refund up, and sending it again reads what was taken off as unapplied.
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
    const body: NsObject = {
      customer: ref(d.customerTargetId),
      tranDate: r.date,
      ...(r.description ? { memo: r.description.slice(0, 999) } : {}),
      ...(c.refundAccountId ? { account: ref(c.refundAccountId) } : {}),
      apply: { items: [{ doc: ref(d.paymentTargetId), apply: true, amount: amount(wanted.value, r.currency) }] },
    };
    const a = await c.api.upsert(REFUND_RECORD, r.externalReference, body, c.signal);
    if (!a.ok) {
      // Not refunded: the applications go back to what they were, so the invoices do not owe it.
      const back = taken.length > 0 ? await putBack(c, d.paymentTargetId, r.currency, taken, applyAs) : null;
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
    const rec = await written(c, REFUND_RECORD, r.externalReference);
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

/**
 * Puts a payment's applications back as they were before a refund NetSuite then refused; null
 * when done, else what went wrong. A lost answer is settled by reading the payment again.
 */
async function putBack(
  c: DocumentContext,
  paymentId: string,
  currency: string,
  taken: { doc: string; before: bigint }[],
  applyAs: (list: { doc: string; amount: bigint }[]) => NsObject,
): Promise<string | null> {
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
