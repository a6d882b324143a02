import type { Queryable } from '../db/database.ts';
import { addDays, today } from '../domain/dates.ts';
import { formatAmount } from '../domain/money.ts';
import type { Logger } from 'pino';
import { createTarget } from './engine/run.ts';
import type { SecretBox } from './secrets.ts';
import type { TargetCallContext, TargetConnector } from './target.ts';
import type { Pipeline } from './pipelines.ts';
import {
  DOC_KINDS,
  type DocKind,
  bookedKey,
  KIND_WORD,
  type SourceDoc,
  type SourceKind,
  type TargetDoc,
  loadPipelineCustomers,
  loadSourceBalances,
  loadSourceDocs,
  loadTransactions,
  loadUnlinkedTransactions,
  loadUnpostedDocs,
  mismatchIds as ids,
} from './reconcile-data.ts';
import { type FeeSummary, feeComparison } from './reconcile-fees.ts';

export type { FeeSummary };

export type MismatchKind =
  | 'missing-in-ledger'
  | 'not-from-source'
  | 'amount-difference'
  | 'date-difference'
  | 'fee-difference'
  | 'open-balance-difference';

/** One thing that does not agree between the source and the ledger, with what it takes to find it. */
export interface Mismatch {
  kind: MismatchKind;
  /** parked | resolved-without-posting | awaiting-summary | not-posted | posted-outside-pipeline | amount | rounding | currency | customer | date | missing | extra | balance */
  reason: string;
  documentKind: SourceKind | null;
  sourceId: string | null;
  externalReference: string | null;
  customerCode: string | null;
  currency: string | null;
  date: string | null;
  sourceAmount: string | null;
  targetAmount: string | null;
  exceptionId: number | null;
  /** The target's document: a ledger transaction id (a number), else null (see targetId). */
  transactionId: number | null;
  /** The target's id of the document, whatever the target. */
  targetId: string | null;
  /**
   * A `fee-difference`: the target's id of the fee's own document, when it holds one (a ledger
   * general journal, a Xero spend money, a QuickBooks Purchase); else null. Absent from reports
   * stored before 2026-12-07.
   */
  feeTargetId: string | null;
  message: string;
}

interface Totals {
  count: number;
  total: string;
}
interface Side {
  invoices: Totals;
  creditNotes: Totals;
  payments: Totals;
}

export interface DayRow {
  date: string;
  customerCode: string | null;
  /** The source's customer id, when the ledger has no customer for it yet. */
  customerSourceId: string | null;
  currency: string;
  source: Side;
  target: Side;
  /** Ledger less source. */
  difference: Side;
  matched: boolean;
}

export interface OpenBalanceRow {
  customerCode: string;
  currency: string;
  source: string;
  target: string;
  /** Ledger less source. */
  difference: string;
  matched: boolean;
}

export interface Reconciliation {
  pipeline: string;
  from: string;
  to: string;
  summary: {
    matched: number;
    mismatched: number;
    sourceDocuments: number;
    ledgerDocuments: number;
    /** Absent from reports stored before 2026-12-07. */
    fees?: FeeSummary | undefined;
  };
  days: DayRow[];
  openBalances: OpenBalanceRow[];
  mismatches: Mismatch[];
  /**
   * What the report could not compare, in sentences to show beside it (provider fees a target
   * cannot tell), so that an empty list of mismatches is not read as agreement on those. Absent
   * from reports stored before 2026-12-07.
   */
  notes?: string[] | undefined;
}

/**
 * Where a reconciliation has got to, for a caller that shows it (the command line's progress
 * line), in phases: `source` (what the source sent, read from this database: the source itself
 * is never called), `target` (the documents the pipeline booked, read from the target a page of
 * `TARGET_READ_PAGE` ids at a time: the long part with a remote target), `unlinked` (the target's
 * documents in the window that no pipeline booked), `comparing`, then `balances` (each customer's
 * open balance on both sides, the target's read from it).
 */
export interface ReconcileProgress {
  phase: 'source' | 'target' | 'unlinked' | 'comparing' | 'balances';
  /** Documents the source sent in the window, parked ones included; 0 until `source` has read them. */
  sourceDocuments: number;
  /** Target documents the pipeline booked that have been read so far, of `toFetch`. */
  fetched: number;
  toFetch: number;
}

export interface ReconcileOptions {
  /** Called as each phase begins and after each page read from the target. */
  onProgress?: ((progress: ReconcileProgress) => void) | undefined;
  /** Ends the target's waits (rate limits, backoff) at once: the worker is stopping (`TargetCallContext.signal`). */
  signal?: AbortSignal | undefined;
}

type Acc = Record<DocKind, { count: number; total: bigint }>;
const emptyAcc = (): Acc => ({
  invoice: { count: 0, total: 0n },
  creditNote: { count: 0, total: 0n },
  payment: { count: 0, total: 0n },
});

function side(acc: Acc, currency: string): Side {
  const totals = (k: DocKind) => ({ count: acc[k].count, total: formatAmount(acc[k].total, currency) });
  return { invoices: totals('invoice'), creditNotes: totals('creditNote'), payments: totals('payment') };
}

/** The window to reconcile: `to` defaults to today (UTC), `from` to 30 days before `to`; null when from is after to. */
export function reconcileWindow(from?: string, to?: string): { from: string; to: string } | null {
  const end = to ?? today();
  const start = from ?? addDays(end, -30);
  return start <= end ? { from: start, to: end } : null;
}

const fmt = (v: bigint | null, currency: string | null) =>
  v === null || currency === null ? null : formatAmount(v, currency);

/**
 * Whether reconciling the pipeline reads its target over the network (a platform, under its rate
 * limits): then it can take minutes, and is better left to a worker (src/sync/reconciliation-worker.ts).
 * The embedded ledger, and a target that keeps nothing to list (its acknowledgements are compared),
 * are read from the database. A target that cannot even be set up (a secret unreadable) counts as
 * remote: the worker reports why.
 */
export async function readsTargetRemotely(
  db: Queryable,
  pipeline: Pipeline,
  log: Logger,
  box: SecretBox,
): Promise<boolean> {
  try {
    const target = await createTarget({ db, log, box }, pipeline);
    return !target.transactional && target.capabilities.reconciliation;
  } catch {
    return true;
  }
}

/**
 * Compares what a pipeline's source sent with what the ledger holds, for documents dated in
 * [from, to]: counts and totals of invoices, credit notes and payments per day, customer and
 * currency on each side; each customer's open balance as at `to`; and every document (refunds
 * too) that is missing, extra or different, with the exception or transaction to look at, a
 * booked payment's provider fee included (reconcile-fees.ts; `notes` says what the target could not
 * tell). `options.onProgress` is told where it has got to (`ReconcileProgress`).
 */
export async function reconcile(
  db: Queryable,
  pipeline: Pipeline,
  from: string,
  to: string,
  log: Logger,
  box: SecretBox,
  options: ReconcileOptions = {},
): Promise<Reconciliation> {
  const progress: ReconcileProgress = { phase: 'source', sourceDocuments: 0, fetched: 0, toFetch: 0 };
  const report = (change: Partial<ReconcileProgress>) => {
    Object.assign(progress, change);
    options.onProgress?.({ ...progress });
  };
  report({});
  const target = await createTarget({ db, log, box }, pipeline);
  const tctx: TargetCallContext = { db, log, actor: `reconcile:${pipeline.name}`, signal: options.signal };
  const posted = await loadSourceDocs(db, pipeline.id, from, to);
  const unposted = await loadUnpostedDocs(db, pipeline.id);
  const unpostedInWindow = unposted.docs.filter((d) => d.date !== null && d.date >= from && d.date <= to);
  const sources: SourceDoc[] = [...posted, ...unpostedInWindow];
  const booked = [
    ...new Map(
      posted.flatMap((d) =>
        d.targetId !== null ? [[bookedKey(d.kind, d.targetId), { id: d.targetId, kind: d.kind }] as const] : [],
      ),
    ).values(),
  ];
  report({ phase: 'target', sourceDocuments: sources.length, toFetch: booked.length });
  const linked = await loadTransactions(db, pipeline.id, target, tctx, booked, (fetched) => report({ fetched }));
  report({ phase: 'unlinked' });
  const unlinked = await loadUnlinkedTransactions(db, target, tctx, pipeline, from, to);
  report({ phase: 'comparing' });

  const mismatches: Mismatch[] = [];
  const mismatch = (m: Partial<Mismatch> & Pick<Mismatch, 'kind' | 'reason' | 'message'>) =>
    mismatches.push({
      targetId: null,
      documentKind: null,
      sourceId: null,
      externalReference: null,
      customerCode: null,
      currency: null,
      date: null,
      sourceAmount: null,
      targetAmount: null,
      exceptionId: null,
      transactionId: null,
      feeTargetId: null,
      ...m,
    });

  // A parked record the user then typed in by hand is in the ledger after all: pair them by customer, type and reference.
  const byRef = new Map(unlinked.map((t) => [`${t.customerCode}\u0000${t.kind}\u0000${t.externalReference}`, t]));
  const handPosted = new Map<SourceDoc, TargetDoc>();
  for (const d of unpostedInWindow) {
    const t =
      d.customerCode && d.externalReference
        ? byRef.get(`${d.customerCode}\u0000${d.kind}\u0000${d.externalReference}`)
        : undefined;
    if (t) {
      handPosted.set(d, t);
      byRef.delete(`${t.customerCode}\u0000${t.kind}\u0000${t.externalReference}`);
    }
  }
  const pairedIds = new Set([...handPosted.values()].map((t) => t.id));

  // Per day, customer and currency. Each ledger document counts once, however many sales a summary stands for.
  const days = new Map<
    string,
    {
      date: string;
      customerCode: string | null;
      customerSourceId: string | null;
      currency: string;
      source: Acc;
      target: Acc;
    }
  >();
  const day = (date: string, customerCode: string | null, customerSourceId: string | null, currency: string) => {
    const key = `${date}\u0000${customerCode ?? `?${customerSourceId ?? ''}`}\u0000${currency}`;
    let d = days.get(key);
    if (!d)
      days.set(
        key,
        (d = {
          date,
          customerCode,
          customerSourceId: customerCode ? null : customerSourceId,
          currency,
          source: emptyAcc(),
          target: emptyAcc(),
        }),
      );
    return d;
  };
  for (const s of sources) {
    // Refunds are not counted per day: an unbooked one is named below, a booked one is in the balance.
    if (s.kind === 'refund' || s.date === null || s.currency === null || s.gross === null) continue;
    const acc = day(s.date, s.customerCode, s.customerSourceId, s.currency).source[s.kind];
    acc.count++;
    acc.total += s.gross;
  }
  const counted = new Set<string>();
  for (const t of [...linked.values(), ...unlinked]) {
    if (counted.has(bookedKey(t.kind, t.id)) || t.date < from || t.date > to) continue;
    counted.add(bookedKey(t.kind, t.id));
    // A refund is a ledger document of its own, compared one by one, but not counted per day.
    if (t.kind === 'refund') continue;
    const acc = day(t.date, t.customerCode, null, t.currency).target[t.kind];
    acc.count++;
    acc.total += t.gross;
  }

  // Provider fees (reconcile-fees.ts): a payment whose fee differs is not matched.
  const fees = feeComparison(target, unposted.exceptions, mismatch, pipeline.options.fees === 'leave');

  // Document by document.
  let matched = 0;
  const summaries = new Map<string, { sources: SourceDoc[]; target: TargetDoc }>();
  const compare = (s: SourceDoc, t: TargetDoc, how: string) => {
    const base = {
      documentKind: s.kind,
      sourceId: s.sourceId,
      externalReference: s.externalReference,
      customerCode: t.customerCode,
      exceptionId: s.exception?.id ?? null,
      ...ids(t.id),
    };
    let ok = true;
    if (s.currency !== null && s.currency !== t.currency) {
      ok = false;
      mismatch({
        ...base,
        kind: 'amount-difference',
        reason: 'currency',
        currency: t.currency,
        date: s.date,
        sourceAmount: fmt(s.gross, s.currency),
        targetAmount: fmt(t.gross, t.currency),
        message: `The source says ${s.currency}; the target's ${t.label} is in ${t.currency}`,
      });
    } else if (s.gross !== null && s.gross !== t.gross) {
      ok = false;
      const delta = t.gross > s.gross ? t.gross - s.gross : s.gross - t.gross;
      // VAT is rounded per line; one minor unit per line either way is rounding, anything more is a different amount.
      const rounding = (s.kind === 'invoice' || s.kind === 'creditNote') && delta <= BigInt(Math.max(1, t.items));
      mismatch({
        ...base,
        kind: 'amount-difference',
        reason: rounding ? 'rounding' : 'amount',
        currency: t.currency,
        date: s.date,
        sourceAmount: fmt(s.gross, t.currency),
        targetAmount: fmt(t.gross, t.currency),
        message: `${how} ${t.label} is ${formatAmount(t.gross, t.currency)}; the source says ${formatAmount(s.gross, t.currency)}`,
      });
    }
    // Booked on another customer's account (a map entry pointing at another customer's document).
    if (s.customerCode !== null && s.customerCode.toLowerCase() !== t.customerCode.toLowerCase()) {
      ok = false;
      mismatch({
        ...base,
        kind: 'amount-difference',
        reason: 'customer',
        currency: t.currency,
        date: s.date,
        sourceAmount: fmt(s.gross, s.currency),
        targetAmount: fmt(t.gross, t.currency),
        message: `${how} ${t.label} is on customer ${t.customerCode}; the source says ${s.customerCode}`,
      });
    }
    if (s.date !== null && s.date !== t.date) {
      ok = false;
      mismatch({
        ...base,
        kind: 'date-difference',
        reason: 'date',
        currency: t.currency,
        date: s.date,
        sourceAmount: fmt(s.gross, s.currency),
        targetAmount: fmt(t.gross, t.currency),
        message: `${how} ${t.label} is dated ${t.date}; the source says ${s.date}`,
      });
    }
    // Typed in by hand after it was parked (`s.targetId` null): the pipeline booked no fee with it.
    if (s.kind === 'payment' && s.targetId !== null && !fees.compare(s, t)) ok = false;
    if (ok) matched++;
  };
  for (const s of sources) {
    const hand = handPosted.get(s);
    if (hand) {
      compare(s, hand, 'Posted by hand as');
      continue;
    }
    const t = s.targetId !== null ? linked.get(bookedKey(s.kind, s.targetId)) : undefined;
    if (t && s.summarizedIn) {
      const g = summaries.get(t.id) ?? { sources: [], target: t };
      g.sources.push(s);
      summaries.set(t.id, g);
      continue;
    }
    if (t) {
      compare(s, t, "The target's");
      continue;
    }
    const summaryException = s.summarizedIn ? unposted.exceptions.get(`${s.kind}\u0000${s.summarizedIn}`) : undefined;
    const x = s.exception ?? summaryException ?? unposted.exceptions.get(`${s.kind}\u0000${s.sourceId}`) ?? null;
    let reason: string;
    let why: string;
    if (x?.status === 'open') [reason, why] = ['parked', `parked: ${x.reasonCode}: ${x.message}`];
    else if (x) [reason, why] = ['resolved-without-posting', `its exception #${x.id} was closed without posting it`];
    else if (s.summarizedIn !== null || s.daily)
      [reason, why] = ['awaiting-summary', 'recorded for its day, not yet in a posted daily summary'];
    else [reason, why] = ['not-posted', 'the source sent it but the ledger has no document for it'];
    mismatch({
      kind: 'missing-in-ledger',
      reason,
      documentKind: s.kind,
      sourceId: s.sourceId,
      externalReference: s.externalReference,
      customerCode: s.customerCode,
      currency: s.currency,
      date: s.date,
      sourceAmount: fmt(s.gross, s.currency),
      exceptionId: x?.id ?? null,
      message:
        `${KIND_WORD[s.kind]} ${s.externalReference ?? s.sourceId} is not in the ${target.type === 'ledger' ? 'ledger' : 'target'}: ${why}` +
        (s.dateIsParkedDay
          ? `; its own date could not be read, so it is listed on ${s.date}, the day it was parked`
          : ''),
    });
  }
  for (const { sources: sales, target: t } of summaries.values()) {
    const total = sales.reduce((a, s) => a + (s.gross ?? 0n), 0n);
    // A day's receipt: its fee is the day's fees summed, kept with the summary's map entry.
    const first = sales[0]!;
    const feeAgrees =
      t.kind !== 'payment' ||
      fees.compare(
        { sourceId: first.summarizedIn!, externalReference: t.externalReference, date: t.date, fee: first.fee },
        t,
      );
    if (total === t.gross) {
      if (feeAgrees) matched += sales.length;
      continue;
    }
    const delta = total > t.gross ? total - t.gross : t.gross - total;
    mismatch({
      kind: 'amount-difference',
      reason: t.kind === 'invoice' && delta <= BigInt(Math.max(1, t.items)) ? 'rounding' : 'amount',
      documentKind: t.kind,
      sourceId: sales[0]!.summarizedIn,
      externalReference: t.externalReference,
      customerCode: t.customerCode,
      currency: t.currency,
      date: t.date,
      sourceAmount: formatAmount(total, t.currency),
      targetAmount: formatAmount(t.gross, t.currency),
      ...ids(t.id),
      message: `The daily summary ${t.label} is ${formatAmount(t.gross, t.currency)}; its ${sales.length} sales add up to ${formatAmount(total, t.currency)}`,
    });
  }
  for (const t of unlinked) {
    if (pairedIds.has(t.id)) continue;
    mismatch({
      kind: 'not-from-source',
      reason: 'posted-outside-pipeline',
      documentKind: t.kind,
      externalReference: t.externalReference || null,
      customerCode: t.customerCode,
      currency: t.currency,
      date: t.date,
      targetAmount: formatAmount(t.gross, t.currency),
      ...ids(t.id),
      message: `The target's ${t.label} did not come from this pipeline`,
    });
  }

  report({ phase: 'balances' });
  const openBalances = await openBalanceRows(db, target, tctx, pipeline, to, unposted.docs);
  for (const b of openBalances) {
    if (b.matched) continue;
    mismatch({
      kind: 'open-balance-difference',
      reason: 'balance',
      customerCode: b.customerCode,
      currency: b.currency,
      date: to,
      sourceAmount: b.source,
      targetAmount: b.target,
      message: `Customer ${b.customerCode} owes ${b.target} ${b.currency} in ${target.type === 'ledger' ? 'the ledger' : 'the target'}; the source says ${b.source}`,
    });
  }

  const dayRows: DayRow[] = [...days.values()]
    .sort(
      (a, b) =>
        a.date.localeCompare(b.date) ||
        (a.customerCode ?? a.customerSourceId ?? '').localeCompare(b.customerCode ?? b.customerSourceId ?? '') ||
        a.currency.localeCompare(b.currency),
    )
    .map((d) => {
      const diff = emptyAcc();
      for (const k of DOC_KINDS) {
        diff[k].count = d.target[k].count - d.source[k].count;
        diff[k].total = d.target[k].total - d.source[k].total;
      }
      return {
        date: d.date,
        customerCode: d.customerCode,
        customerSourceId: d.customerSourceId,
        currency: d.currency,
        source: side(d.source, d.currency),
        target: side(d.target, d.currency),
        difference: side(diff, d.currency),
        matched: DOC_KINDS.every((k) => diff[k].count === 0 && diff[k].total === 0n),
      };
    });

  return {
    pipeline: pipeline.name,
    from,
    to,
    summary: {
      matched,
      mismatched: mismatches.length,
      sourceDocuments: sources.length,
      ledgerDocuments: counted.size,
      fees: fees.summary(),
    },
    days: dayRows,
    openBalances,
    mismatches,
    notes: [
      ...fees.notes(),
      // Never a silent substitute: a target column that only repeats the source's says so.
      ...(target.openBalances || openBalances.length === 0
        ? []
        : [
            `Open balances were not compared: the ${target.type} target cannot tell what each customer owes it, so its column repeats the source's and this report does not say whether they agree.`,
          ]),
    ],
  };
}

/**
 * Each of the pipeline's customers: what the source says it owes as at `to` (its invoices less
 * its payments, plus its refunds, parked ones included, for they are owed all the same) against the balance of its
 * open items in the ledger, computed as the customer statement computes it.
 */
async function openBalanceRows(
  db: Queryable,
  target: TargetConnector,
  tctx: TargetCallContext,
  pipeline: Pipeline,
  to: string,
  unposted: SourceDoc[],
): Promise<OpenBalanceRow[]> {
  const source = new Map<string, bigint>();
  const add = (code: string, currency: string, v: bigint) =>
    source.set(`${code}\u0000${currency}`, (source.get(`${code}\u0000${currency}`) ?? 0n) + v);
  for (const b of await loadSourceBalances(db, target, tctx, pipeline.id, to))
    add(b.customerCode, b.currency, b.balance);
  for (const d of unposted) {
    if (d.customerCode && d.currency && d.gross !== null && d.date !== null && d.date <= to)
      // What the customer owes: more by an invoice, and by money refunded to it; less by the rest.
      add(d.customerCode, d.currency, d.kind === 'invoice' || d.kind === 'refund' ? d.gross : -d.gross);
  }
  const scope = new Set([
    ...(await loadPipelineCustomers(db, pipeline.id)),
    ...[...source.keys()].map((k) => k.split('\u0000')[0]!),
  ]);
  // A target that cannot tell balances is compared with what it acknowledged: the source side.
  const balances = target.openBalances ? await target.openBalances(tctx, [...scope], to) : null;
  // A platform may hold a customer's balance in several currencies (Xero's contacts): one per currency.
  const inTarget = new Map<string, Map<string, bigint>>();
  for (const b of balances ?? []) {
    const held = inTarget.get(b.customerTargetId) ?? new Map<string, bigint>();
    held.set(b.currency, (held.get(b.currency) ?? 0n) + b.balance);
    inTarget.set(b.customerTargetId, held);
  }
  const rows: OpenBalanceRow[] = [];
  for (const code of [...scope].sort()) {
    const held = inTarget.get(code) ?? new Map<string, bigint>();
    const currencies = new Set(
      [...source.keys()].filter((k) => k.startsWith(`${code}\u0000`)).map((k) => k.split('\u0000')[1]!),
    );
    for (const c of held.keys()) currencies.add(c);
    for (const currency of [...currencies].sort()) {
      const s = source.get(`${code}\u0000${currency}`) ?? 0n;
      const t = balances === null ? s : (held.get(currency) ?? 0n);
      rows.push({
        customerCode: code,
        currency,
        source: formatAmount(s, currency),
        target: formatAmount(t, currency),
        difference: formatAmount(t - s, currency),
        matched: s === t,
      });
    }
  }
  return rows;
}
