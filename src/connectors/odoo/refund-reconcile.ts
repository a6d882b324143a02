import { formatAmount, sumBig } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { ItemError } from '../../sync/target.ts';
import { type DocumentContext, RECEIVABLE } from './documents.ts';
import { minor } from './map.ts';
import { type OdooAnswer, type OdooFault, type OdooObject, describe, int, m2o, text } from './rpc.ts';
import { SYSTEM } from './settings.ts';

/*
 * How a refund booked in Odoo (refunds.ts) is set against the inbound payment it returns.
 *
 * A refund of money the payment has applied to invoices takes it off them first, as the NetSuite
 * and Zoho Books targets do: in the sales system such a refund means the invoice owes that much
 * again. Odoo reconciles only what a payment has open, and always as much as both lines have
 * open, so the refund is finished step by step, each chosen from what Odoo holds when read just
 * before:
 *   1. the refund takes what the payment holds unapplied (the reconciliation above);
 *   2. while the refund still owes something, the payment's newest allocation to an invoice (the
 *      `account.partial.reconcile` between the two receivable lines with the highest id) is
 *      removed with `js_remove_outstanding_partial` on that invoice, the call behind the
 *      "Unreconcile" of the invoice's payment widget, and the refund takes what that frees (1);
 *   3. what the allocation freed beyond the refund goes back to its invoice with
 *      `js_assign_outstanding_line` on the invoice, as payments.ts sets a payment against one.
 * The invoices taken from owe the refunded money again (the newer ones all their allocation, the
 * oldest of them the rest), the payment has nothing open, and the customer's balance is what it
 * was with the refund left open: only where the open amount sits changes (on the invoice, aged
 * from its due date). Only one allocation at a time is taken off and not yet settled, and the
 * payment then holds exactly its money, so that putting it back is exact.
 *
 * What Odoo does, as read in odoo/odoo addons/account/models/account_move.py at
 * 00059361d5cdeddf8a23c239b974986d16a640d9 (18.0 era), and in 16.0- and 17.0-era modules that
 * override these methods with the same signatures and call them (not at a commit of odoo/odoo):
 * `js_remove_outstanding_partial(partial_id)` checks only that it is called on one move, then
 * unlinks the partial, whatever lines it joins. `account.partial.reconcile.unlink`
 * (account_partial_reconcile.py at 0094921bdcdbde95a7fe317d141712ffa0f836cd) reads the partial
 * first, so one that no longer exists is a MissingError, and removes the full reconcile with it;
 * the lines' residuals are computed from their partials, so both get its amount back open.
 * `account.move.line.remove_move_reconcile()` would remove every partial of the payment's line,
 * the refund's among them: not used.
 *
 * Exactly once: the refund is looked up by reference before it is created (an attempt whose
 * answer was lost may have created or posted it), and each step is chosen from what is read, so
 * that nothing is done twice. A lost answer while nothing is taken off is thrown, as before: the
 * engine's lookup after it (documents.ts, `lookUp`) reports a refund with anything still open as
 * not found, so that it comes back here to be finished rather than being linked half-done. Once
 * an allocation is being taken off, a lost answer is settled here, by reading back: thrown, the
 * refund could be linked with its invoice owing money nobody was refunded. A step Odoo refuses,
 * or that fails twice, ends the attempt once the allocation is put back: the refund keeps what it
 * took and the rest stays open on the customer, said in the run's record (an outage is thrown, to
 * be retried). If it cannot be put back either, the refund is parked TARGET_UNAVAILABLE, not
 * retried, naming the invoice, what was taken off it and what the payment holds open, as the
 * NetSuite and Zoho Books targets park a refund that leaves money taken off an invoice: a later
 * attempt would take that money for unapplied. Left: an attempt killed between taking an
 * allocation off and the refund taking its money leaves that money open on the payment; the next
 * attempt finishes the refund from it, and what the refund does not need stays open on the
 * payment rather than on the invoice (the customer's balance is right, the invoice owes too much).
 */

/** The inbound payment a refund returns, as Odoo holds it. */
export interface Returned {
  id: number;
  /** How messages name it: our reference and Odoo's number. */
  label: string;
}

/** Reconciles a booked refund with the payment it returns (the header says how). */
export function reconcileRefund(
  c: DocumentContext,
  reference: string,
  refundId: number,
  pay: Returned,
  wanted: bigint,
): Promise<Outcome> {
  return reconcile(newRun(c, reference, refundId, pay, wanted));
}

/** What a refund's reconciliation came to: the run's record, or the failure that parks it. */
type Outcome = { message: string } | { error: ItemError };

/** A payment's allocation to an invoice: the partial reconciliation between their receivable lines. */
interface Allocation {
  partial: number;
  invoice: number;
  /** How messages name the invoice: our reference and Odoo's number. */
  label: string;
  amount: bigint;
}

/** A partial reconciliation of the payment's receivable line with something other than the refund. */
interface Other {
  id: number;
  /** The debit line on the other side (an invoice's, another refund's). */
  line: number;
  amount: bigint;
}

/** The refund, its payment and what is set between them and against others, as Odoo holds them. */
interface Books {
  /** The refund's receivable line (a debit) and its journal entry. */
  line: number;
  move: number;
  /** What the refund still has open. */
  owed: bigint;
  /** The payment's receivable line with credit open, and how much. */
  open: { id: number; amount: bigint } | null;
  /** What is reconciled between the refund and the payment. */
  done: bigint;
  others: Other[];
}

/** One reconciliation under way: what it works on, and what it took off invoices so far. */
interface Run {
  c: DocumentContext;
  reference: string;
  refundId: number;
  pay: Returned;
  wanted: bigint;
  currency: string;
  /** The allocation taken off (or being taken off) whose money the payment may still hold open. */
  held: Allocation | null;
  /** What the payment held open when it was being put back on the held allocation's invoice. */
  putting: bigint | null;
  /** What was taken off invoices for good in this attempt. */
  off: { label: string; amount: bigint }[];
}

type Step =
  | { kind: 'reconcile' }
  | { kind: 'takeOff'; from: Allocation }
  | { kind: 'putBack'; to: Allocation }
  | { kind: 'done' };

/** Steps an attempt takes at most: two for each allocation taken off, and a few more. */
const MAX_STEPS = 60;

const newRun = (c: DocumentContext, reference: string, refundId: number, pay: Returned, wanted: bigint): Run => ({
  c,
  reference,
  refundId,
  pay,
  wanted,
  currency: c.company.currency,
  held: null,
  putting: null,
  off: [],
});

const cur = (run: Run, v: bigint) => `${run.currency} ${formatAmount(v, run.currency)}`;

/** The receivable lines of a payment's journal entry (one, unless someone split it in Odoo). */
const receivableOf = (c: DocumentContext, paymentId: number) =>
  c.rpc.searchRead(
    'account.move.line',
    [['payment_id', '=', paymentId], RECEIVABLE],
    ['move_id', 'amount_residual', 'reconciled'],
    c.signal,
  );

/** Reads the refund's and the payment's receivable lines and the payment's reconciliations; null without a refund entry. */
async function books(run: Run): Promise<Books | null> {
  const { c, currency } = run;
  const [own, theirs] = await Promise.all([receivableOf(c, run.refundId), receivableOf(c, run.pay.id)]);
  const [line] = own;
  // Odoo 18 books no entry for a payment whose journal has no outstanding account: nothing to reconcile.
  if (!line) return null;
  const lineId = int(line.id)!;
  const payLines = theirs.map((l) => int(l.id)!);
  const partials =
    payLines.length === 0
      ? []
      : await c.rpc.searchRead(
          'account.partial.reconcile',
          [['credit_move_id', 'in', payLines]],
          ['debit_move_id', 'amount'],
          c.signal,
          200,
        );
  const amountOf = (p: OdooObject) => minor(p.amount, currency) ?? 0n;
  const ours = partials.filter((p) => m2o(p.debit_move_id) === lineId);
  const open = theirs.find((l) => l.reconciled !== true && (minor(l.amount_residual, currency) ?? 0n) < 0n);
  return {
    line: lineId,
    move: m2o(line.move_id)!,
    owed: minor(line.amount_residual, currency) ?? 0n,
    open: open ? { id: int(open.id)!, amount: -(minor(open.amount_residual, currency) ?? 0n) } : null,
    done: sumBig(ours.map(amountOf)),
    others: partials
      .filter((p) => m2o(p.debit_move_id) !== lineId)
      .map((p) => ({ id: int(p.id)!, line: m2o(p.debit_move_id)!, amount: amountOf(p) })),
  };
}

/** The payment's allocations to posted customer invoices, the newest first (the highest partial id). */
async function allocationsOf(run: Run, b: Books): Promise<Allocation[]> {
  const { c } = run;
  if (b.others.length === 0) return [];
  const lines = await c.rpc.searchRead(
    'account.move.line',
    [['id', 'in', b.others.map((o) => o.line)]],
    ['move_id'],
    c.signal,
    200,
  );
  const moveOf = new Map(lines.map((l) => [int(l.id)!, m2o(l.move_id)]));
  const moveIds = [...new Set([...moveOf.values()].filter((m): m is number => m !== null))];
  const invoices = await c.rpc.searchRead(
    'account.move',
    [
      ['id', 'in', moveIds],
      ['move_type', '=', 'out_invoice'],
      ['state', '=', 'posted'],
    ],
    ['name', 'ref'],
    c.signal,
    200,
  );
  const named = new Map(invoices.map((m) => [int(m.id)!, invoiceLabel(m)]));
  return b.others
    .flatMap((o) => {
      const invoice = moveOf.get(o.line) ?? null;
      const label = invoice === null ? undefined : named.get(invoice);
      return invoice !== null && label !== undefined ? [{ partial: o.id, invoice, label, amount: o.amount }] : [];
    })
    .sort((x, y) => y.partial - x.partial);
}

const invoiceLabel = (m: OdooObject) =>
  text(m.ref) ? `invoice ${text(m.ref)} (${SYSTEM} ${text(m.name)})` : `invoice ${SYSTEM} ${text(m.name)}`;

/** The next step from what Odoo holds: reconcile, take the newest allocation off, put its rest back, or done. */
async function next(run: Run, b: Books): Promise<Step> {
  if (b.owed > 0n && b.open) return { kind: 'reconcile' };
  if (b.open && run.held) return { kind: 'putBack', to: run.held };
  if (b.owed > 0n && !b.open && !run.held) {
    const [newest] = await allocationsOf(run, b);
    if (newest) return { kind: 'takeOff', from: newest };
  }
  return { kind: 'done' };
}

const sameStep = (a: Step, b: Step) =>
  a.kind === b.kind &&
  (a.kind !== 'takeOff' || a.from.partial === (b as typeof a).from.partial) &&
  (a.kind !== 'putBack' || a.to.partial === (b as typeof a).to.partial);

/** Sends one step to Odoo; a lost answer is thrown. */
function send(run: Run, step: Exclude<Step, { kind: 'done' }>, b: Books): Promise<OdooAnswer> {
  const { c } = run;
  const execute = (method: string, move: number, arg: number) =>
    c.rpc.execute('account.move', method, [[move], arg], {}, true, c.signal);
  if (step.kind === 'takeOff') {
    // Held before it is sent: from now on the allocation's money may be open on the payment.
    run.held = step.from;
    return execute('js_remove_outstanding_partial', step.from.invoice, step.from.partial);
  }
  if (step.kind === 'putBack') {
    run.putting = b.open!.amount;
    return execute('js_assign_outstanding_line', step.to.invoice, b.open!.id);
  }
  return execute('js_assign_outstanding_line', b.move, b.open!.id);
}

/**
 * Settles the held allocation against what was just read: not taken off after all (its partial is
 * still there), or taken off and its money no longer open on the payment (the refund took it,
 * and what was put back went to its invoice): what the invoice owes again is then on record.
 */
function track(run: Run, b: Books): void {
  const h = run.held;
  if (!h) return;
  if (b.others.some((o) => o.id === h.partial)) {
    run.held = null;
    run.putting = null;
    return;
  }
  if (b.open) return;
  const taken = h.amount - (run.putting ?? 0n);
  if (taken > 0n) run.off.push({ label: h.label, amount: taken });
  run.held = null;
  run.putting = null;
}

/** Why an attempt stopped short: Odoo's refusal, an error (a lost answer, an outage), or an answer that changed nothing. */
type Stop = { step: Step; fault: OdooFault } | { step: Step; error: ConnectorError } | { step: Step; idle: true };

/**
 * Reconciles the refund with the payment it returns, taking what the payment lacks open off its
 * invoices (the header says how): what was done, for the run's record, or the failure that parks
 * the refund when money taken off an invoice could not be put back.
 */
async function reconcile(run: Run): Promise<Outcome> {
  let b = await books(run);
  if (!b) return { message: `not reconciled with ${run.pay.label}: the refund has no journal entry in ${SYSTEM}` };
  if (b.owed <= 0n && b.done === 0n)
    return {
      message: `not reconciled with ${run.pay.label}: the refund is reconciled with something else in ${SYSTEM}`,
    };
  let last: { step: Step; error: ConnectorError | null; again: boolean } | null = null;
  for (let n = 0; n < MAX_STEPS; n++) {
    const step = await next(run, b);
    if (step.kind === 'done') return { message: summary(run, b) };
    if (last && sameStep(last.step, step)) {
      // The last step did not take: answered (Odoo changed nothing), or lost twice.
      if (!last.error) return stop(run, b, { step, idle: true });
      if (last.again) return stop(run, b, { step, error: last.error });
    }
    let error: ConnectorError | null = null;
    try {
      const a = await send(run, step, b);
      if (!a.ok) return stop(run, b, { step, fault: a.fault });
    } catch (err) {
      // Nothing taken off: thrown, for the engine to look the refund up and send it again.
      if (!(err instanceof ConnectorError) || !run.held) throw err;
      error = err;
    }
    last = { step, error, again: last !== null && sameStep(last.step, step) };
    try {
      b = await books(run);
    } catch (err) {
      if (!(err instanceof ConnectorError) || !run.held) throw err;
      return stop(run, null, { step, error: err });
    }
    if (!b) {
      const gone = `refund ${run.reference} has no journal entry in ${SYSTEM} any more`;
      return stop(run, null, { step, error: new ConnectorError(SYSTEM, gone, { retryable: false }) });
    }
    track(run, b);
  }
  return stop(run, b, { step: { kind: 'done' }, idle: true });
}

/**
 * Ends an attempt that stopped short. Money taken off an invoice is put back first; if it cannot
 * be, the refund is parked (TARGET_UNAVAILABLE, not retried), naming the invoice. Otherwise Odoo's
 * refusal (or an answer that changed nothing) is said in the run's record, and an error is thrown
 * for the engine to retry: its lookup sends back a refund with anything open, to be finished.
 */
async function stop(run: Run, b: Books | null, why: Stop): Promise<Outcome> {
  const held = run.held;
  if (held) {
    const problem = await putBack(run);
    if (problem !== null) return { error: parked(run, held, why, problem) };
    b = await books(run).catch((err: unknown) => {
      if (err instanceof ConnectorError) return b;
      throw err;
    });
  }
  if ('error' in why) throw why.error;
  return { message: stopped(run, b, why) };
}

/**
 * Puts the held allocation's money back on its invoice (Odoo reconciles as much as both have open:
 * the payment holds no more than the allocation, the invoice owes at least that). Null when nothing
 * is left taken off, else what went wrong.
 */
async function putBack(run: Run): Promise<string | null> {
  const held = run.held!;
  const now = await readHeld(run);
  if (now === null || typeof now === 'string') return now;
  let problem: string | null = null;
  try {
    const a = await send(run, { kind: 'putBack', to: held }, now);
    if (!a.ok) problem = describe(a.fault);
  } catch (err) {
    if (!(err instanceof ConnectorError)) throw err;
    problem = err.message;
  }
  const after = await readHeld(run);
  if (after === null) return null;
  return problem ?? (typeof after === 'string' ? after : `${SYSTEM} answered, but the payment still holds it open`);
}

/** The books while the held allocation's money is still open on the payment; null once it is not, text when unreadable. */
async function readHeld(run: Run): Promise<Books | string | null> {
  try {
    const b = await books(run);
    if (!b) return null;
    track(run, b);
    return run.held ? b : null;
  } catch (err) {
    if (!(err instanceof ConnectorError)) throw err;
    return err.message;
  }
}

/** The item failure of a refund that leaves money taken off an invoice. */
function parked(run: Run, held: Allocation, why: Stop, problem: string): ItemError {
  const open = run.held === null ? null : run.putting;
  const holds = open === null ? 'may hold it open' : `holds ${cur(run, open)} of it open`;
  return {
    code: 'TARGET_UNAVAILABLE',
    // What to fix first: a reason is cut to a few hundred characters where it is shown.
    message: `Refund ${run.reference} is booked but ${run.pay.label} stays taken off ${held.label} for ${cur(run, held.amount)}, which the invoice owes again, and ${holds}: apply that to the invoice again in ${SYSTEM}, then retry the refund (${reason(run, why)}; putting it back: ${problem})`,
    retryable: false,
  };
}

/** What the step that stopped an attempt was, and what went wrong with it. */
function reason(run: Run, why: Stop): string {
  const what =
    why.step.kind === 'takeOff'
      ? `take ${run.pay.label} off ${why.step.from.label}`
      : why.step.kind === 'putBack'
        ? `apply ${run.pay.label} to ${why.step.to.label} again`
        : `reconcile it with ${run.pay.label}`;
  if ('fault' in why) return `${SYSTEM} refused to ${what} (${describe(why.fault)})`;
  if ('error' in why) return `could not ${what}: ${why.error.message}`;
  return `${SYSTEM} answered the request to ${what} but holds no change`;
}

/** The run's record of an attempt that stopped short with nothing left taken off. */
function stopped(run: Run, b: Books | null, why: Stop): string {
  const done = b?.done ?? 0n;
  const rest = b?.owed ?? run.wanted - done;
  if (done === 0n) return `not reconciled: ${reason(run, why)}; the refund stays open on the customer`;
  return `reconciled ${cur(run, done)} of it with ${run.pay.label}${offText(run)}; ${reason(run, why)}; the rest (${cur(run, rest)}) stays open on the customer`;
}

/** What was taken off invoices in this attempt, for the run's record. */
function offText(run: Run): string {
  if (run.off.length === 0) return '';
  const list = run.off.map((o) => `${o.label} for ${cur(run, o.amount)}`).join(', ');
  return `; taken off ${list}, which ${run.off.length === 1 ? 'owes' : 'owe'} it again`;
}

/** The run's record of a reconciliation that went as far as Odoo's books allow. */
function summary(run: Run, b: Books): string {
  if (b.done === 0n)
    return `not reconciled: ${run.pay.label} has nothing left in ${SYSTEM} to refund (nothing open, nothing applied to invoices); the refund stays open on the customer`;
  if (b.done < run.wanted)
    return `reconciled ${cur(run, b.done)} of it with ${run.pay.label}, all that payment had left ${run.off.length > 0 ? '' : 'open '}in ${SYSTEM}${offText(run)}; the rest (${cur(run, run.wanted - b.done)}) stays open on the customer`;
  return `reconciled with ${run.pay.label}${offText(run)}`;
}
