import type { Queryable } from '../../db/database.ts';
import { MAX_DATE } from '../../domain/dates.ts';
import { type DeferralPlan, addMonths, deferralReleases } from '../../domain/deferrals.ts';
import type { Item, JournalLine } from '../../domain/documents.ts';
import { DomainError } from '../../domain/errors.ts';
import { formatAmount } from '../../domain/money.ts';
import { join } from './common.ts';
import type { References } from './references.ts';
import { type AccountUse, requireOpenAccounts } from './role-accounts.ts';
import type { InvoiceLineInput, PostingContext } from './types.ts';
import { type NewTransaction, writeDocuments } from './write.ts';
import { STORED_LINES, type StoredJournal, turnedLines } from './journal-reversal.ts';

/**
 * Deferred revenue on invoice lines (docs/ledger.md "Deferred revenue"): the part of invoice
 * posting that sends a deferred line's net to the deferred revenue account and writes its schedule
 * of monthly releases. Releases are posted by deferral-release.ts.
 */

/** The GL accounts of the lines' deferrals, to load with the lines' own references. */
export function deferralAccounts(
  lines: readonly Pick<InvoiceLineInput, 'deferral'>[],
  defaultAccount: string,
): string[] {
  return lines.flatMap((l) => (l.deferral ? [l.deferral.glAccountCode ?? defaultAccount] : []));
}

/** Refuses deferrals where they are not taken (credit note lines, post-pay-allocate). */
export function refuseDeferrals(lines: InvoiceLineInput[], prefix: string, where: string): void {
  const n = lines.findIndex((l) => l.deferral !== undefined);
  if (n < 0) return;
  const field = join(prefix, `lines[${n}].deferral`);
  throw new DomainError('VALIDATION_ERROR', `${field}: a deferral is not accepted on ${where}`, [
    { field, message: `not accepted on ${where}` },
  ]);
}

/**
 * Checks the lines' deferrals and moves each deferred line's journal line from its revenue account
 * to the deferred account (same department). Returns the journal and the schedules to save once
 * the invoice has its id. `items` and `lines` are what itemJournal built from the same lines: one
 * `net` journal line per item with a non-zero net, in item order.
 */
export function planDeferrals(
  inputs: InvoiceLineInput[],
  items: Item[],
  lines: JournalLine[],
  refs: References,
  defaultAccount: string,
  currency: string,
  invoiceDate: string,
  prefix: string,
): { lines: JournalLine[]; plans: DeferralPlan[] } {
  if (!inputs.some((l) => l.deferral)) return { lines, plans: [] };
  const netLines = lines.flatMap((l, index) => (l.role === 'net' ? [index] : []));
  const out = [...lines];
  const plans: DeferralPlan[] = [];
  let k = 0;
  items.forEach((item, n) => {
    const lineIndex = item.net === 0n ? undefined : netLines[k++];
    const d = inputs[n]!.deferral;
    if (!d) return;
    const at = (f: string) => join(prefix, `lines[${n}].deferral.${f}`);
    const account = d.glAccountCode ?? defaultAccount;
    refs.requireGl(account, at('glAccountCode'), item.departmentId);
    if (item.net <= 0n) {
      throw new DomainError('VALIDATION_ERROR', `${at('months')}: only a line with a positive net can be deferred`, [
        { field: join(prefix, `lines[${n}].deferral`), message: 'the line net must be positive' },
      ]);
    }
    if (BigInt(d.months) > item.net) {
      const message = `${formatAmount(item.net, currency)} ${currency} cannot be spread over ${d.months} months without empty months`;
      throw new DomainError('VALIDATION_ERROR', `${at('months')}: ${message}`, [{ field: at('months'), message }]);
    }
    if (d.startDate < invoiceDate.slice(0, 7) + '-01') {
      const message = `must not be before the month of the invoice (${invoiceDate})`;
      throw new DomainError('VALIDATION_ERROR', `${at('startDate')}: ${message}`, [
        { field: at('startDate'), message },
      ]);
    }
    const last = addMonths(d.startDate, d.months - 1);
    if (last > MAX_DATE) {
      const message = `the last release would be due on ${last}, after ${MAX_DATE}`;
      throw new DomainError('DATE_OUT_OF_RANGE', `${at('startDate')}: ${message}`, [
        { field: at('startDate'), message },
      ]);
    }
    const journalLine = out[lineIndex!]!;
    out[lineIndex!] = { ...journalLine, glAccountCode: account };
    const baseAmount = -journalLine.baseAmount;
    plans.push({
      lineNo: item.lineNo,
      deferredGlAccountCode: account,
      revenueGlAccountCode: item.glAccountCode,
      departmentId: item.departmentId,
      months: d.months,
      startDate: d.startDate,
      amount: item.net,
      baseAmount,
      releases: deferralReleases(item.net, baseAmount, d.months, d.startDate),
    });
  });
  return { lines: out, plans };
}

/** Writes the schedules of a posted invoice, in the posting's transaction. */
export async function saveDeferrals(
  db: Queryable,
  entityId: string,
  transactionId: number,
  currency: string,
  exchangeRate: string,
  plans: DeferralPlan[],
): Promise<void> {
  if (plans.length === 0) return;
  const releases = plans.flatMap((p) => p.releases.map((r) => ({ lineNo: p.lineNo, r })));
  await db.query(
    `WITH s AS (
       INSERT INTO deferral_schedules (entity_id, transaction_id, line_no, deferred_gl_account_code, revenue_gl_account_code,
                                       department_id, currency, exchange_rate, amount, base_amount, months, start_date)
       SELECT $1, $2, p.line_no, p.deferred, p.revenue, p.dept, $3, $4::numeric, p.amount, p.base, p.months, p.start
         FROM unnest($5::int[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::int[], $12::date[])
              AS p(line_no, deferred, revenue, dept, amount, base, months, start)
       RETURNING id, line_no
     )
     INSERT INTO deferral_releases (schedule_id, entity_id, seq, due_date, amount, base_amount)
     SELECT s.id, $1, r.seq, r.due, r.amount, r.base
       FROM unnest($13::int[], $14::int[], $15::date[], $16::bigint[], $17::bigint[]) AS r(line_no, seq, due, amount, base)
       JOIN s ON s.line_no = r.line_no`,
    [
      entityId,
      transactionId,
      currency,
      exchangeRate,
      plans.map((p) => p.lineNo),
      plans.map((p) => p.deferredGlAccountCode),
      plans.map((p) => p.revenueGlAccountCode),
      plans.map((p) => p.departmentId),
      plans.map((p) => p.amount),
      plans.map((p) => p.baseAmount),
      plans.map((p) => p.months),
      plans.map((p) => p.startDate),
      releases.map((x) => x.lineNo),
      releases.map((x) => x.r.seq),
      releases.map((x) => x.r.dueDate),
      releases.map((x) => x.r.amount),
      releases.map((x) => x.r.baseAmount),
    ],
  );
}

/** A posted release a back-dated credit note reverses: its release and the general journal that posted it. */
export interface ReleaseToReverse {
  releaseId: number;
  transactionId: number;
}

/**
 * A credit note that copies invoice lines reverses deferred lines where their money was on the
 * credit note's date: for each copied deferred line, what was not released by then is debited to
 * the deferred account and only what releases dated on or before it moved to revenue is debited
 * to revenue. So nothing is released after the credit, and revenue is never reversed for money
 * still deferred. What the credit takes off the deferred account is the line's releases not
 * posted yet (cancelled once the credit note is posted, `cancelReleases`) and those posted on a
 * later date than the credit note's (a back-dated credit note): as at its date they had not
 * happened, so they are reversed, each by a journal of its own date (`reverseReleases`), and every
 * date's trial balance shows the line neither deferred nor as revenue after the credit.
 * The schedules are locked (in id order, as the release does) so a release running at the same
 * time waits, and then sees them cancelled. `items` are the credit note's copies of invoice lines
 * `invoiceLineNos` (in that order), `lines` the journal itemJournal built for them.
 */
export async function creditDeferrals(
  db: Queryable,
  entityId: string,
  invoiceId: number,
  invoiceLineNos: number[],
  creditNoteDate: string,
  items: Item[],
  lines: JournalLine[],
): Promise<{ lines: JournalLine[]; cancel: number[]; reverse: ReleaseToReverse[] }> {
  const locked = await db.query<{
    id: string;
    line_no: number;
    deferred_gl_account_code: string;
    revenue_gl_account_code: string;
  }>(
    `SELECT id, line_no, deferred_gl_account_code, revenue_gl_account_code FROM deferral_schedules
      WHERE entity_id = $1 AND transaction_id = $2 AND line_no = ANY($3::int[])
      ORDER BY id FOR UPDATE`,
    [entityId, invoiceId, invoiceLineNos],
  );
  if (locked.rows.length === 0) return { lines, cancel: [], reverse: [] };
  // A statement of its own after the lock: it sees releases posted by whoever held it before.
  // Still deferred on the credit note's date: not posted, or released by a journal dated after it.
  const { rows } = await db.query<{
    id: string;
    schedule_id: string;
    amount: string;
    base_amount: string;
    released_by: string | null;
  }>(
    `SELECT r.id, r.schedule_id, r.amount, r.base_amount, p.transaction_id AS released_by
       FROM deferral_releases r
       LEFT JOIN deferral_release_postings p ON p.release_id = r.id
       LEFT JOIN transactions pt ON pt.id = p.transaction_id
      WHERE r.schedule_id = ANY($1::bigint[])
        AND (p.release_id IS NULL
             OR (p.kind = 'released' AND pt.transaction_date > $2::date
                 AND NOT EXISTS (SELECT 1 FROM deferral_release_reversals x WHERE x.release_id = r.id)))
      ORDER BY r.id`,
    [locked.rows.map((s) => s.id), creditNoteDate],
  );
  const byLine = new Map(
    locked.rows.map((s) => {
      const pending = rows.filter((r) => r.schedule_id === s.id);
      const amount = pending.reduce((t, r) => t + BigInt(r.amount), 0n);
      const base = pending.reduce((t, r) => t + BigInt(r.base_amount), 0n);
      return [s.line_no, { account: s.deferred_gl_account_code, amount, base }];
    }),
  );
  await requireScheduleAccounts(db, entityId, locked.rows, rows);
  const out: JournalLine[] = [];
  const netLines = lines.flatMap((l, i) => (l.role === 'net' ? [i] : []));
  const netOf = new Map<number, number>(); // journal line index -> item index
  let k = 0;
  items.forEach((item, n) => {
    if (item.net !== 0n) netOf.set(netLines[k++]!, n);
  });
  lines.forEach((line, index) => {
    const n = netOf.get(index);
    const pending = n === undefined ? undefined : byLine.get(invoiceLineNos[n]!);
    if (!pending || pending.amount === 0n) {
      out.push(line);
      return;
    }
    out.push({ ...line, glAccountCode: pending.account, amount: pending.amount, baseAmount: pending.base });
    const rest = { amount: line.amount - pending.amount, baseAmount: line.baseAmount - pending.base };
    if (rest.amount !== 0n || rest.baseAmount !== 0n) out.push({ ...line, ...rest });
  });
  return {
    lines: out,
    cancel: rows.flatMap((r) => (r.released_by === null ? [Number(r.id)] : [])),
    reverse: rows.flatMap((r) =>
      r.released_by === null ? [] : [{ releaseId: Number(r.id), transactionId: Number(r.released_by) }],
    ),
  };
}

/**
 * Refuses the credit note when what it takes off a deferred line would post to an account that is
 * no longer an active posting account: the deferred account it debits with what is still deferred,
 * or the accounts of the releases it reverses (the deferred and revenue accounts). The schedule
 * keeps its accounts (role-accounts.ts).
 */
async function requireScheduleAccounts(
  db: Queryable,
  entityId: string,
  schedules: { id: string; line_no: number; deferred_gl_account_code: string; revenue_gl_account_code: string }[],
  pending: { schedule_id: string; released_by: string | null }[],
): Promise<void> {
  const uses: AccountUse[] = [];
  const use = (glAccountCode: string, what: string, why: string): AccountUse => ({
    glAccountCode,
    field: 'fromInvoiceTransactionId',
    what,
    why,
    otherwise: 'a deferral schedule keeps its accounts',
  });
  for (const s of schedules) {
    const mine = pending.filter((r) => r.schedule_id === s.id);
    if (mine.length === 0) continue;
    const line = `invoice line ${s.line_no}`;
    uses.push(use(s.deferred_gl_account_code, `The credit of ${line}`, 'the deferred revenue account of its schedule'));
    if (mine.some((r) => r.released_by !== null)) {
      const what = `The reversal of ${line}'s releases dated after the credit note`;
      uses.push(use(s.revenue_gl_account_code, what, 'the revenue account of its schedule'));
    }
  }
  await requireOpenAccounts(db, entityId, uses);
}

/**
 * Reverses releases posted after the date of the credit note that credited their line: each by a
 * general journal dated as the release's (so as at every date the two cancel out, and no period
 * shows revenue the credit note had already taken back), every line of the release's journal with
 * its sign turned, its department and the analysis codes it was stored with. The release's journal
 * never changes; the reversal names it (`details.reverses`, as a journal reversal does) and
 * `deferral_release_reversals` records it against the credit note. The release's date is after the
 * credit note's, which is after the lock date, so the reversal is in an open period.
 */
export async function reverseReleases(
  ctx: PostingContext,
  releases: ReleaseToReverse[],
  creditNote: { id: number; label: string },
): Promise<void> {
  if (releases.length === 0) return;
  const { rows } = await ctx.db.query<ReleaseJournalRow>(
    `SELECT t.id, t.currency, t.exchange_rate::text AS exchange_rate, t.transaction_date::text AS date,
            t.external_reference, t.description, t.gross, t.base_gross, t.details->'deferralRelease' AS release,
            ${STORED_LINES} AS lines
       FROM transactions t JOIN journal_lines j ON j.transaction_id = t.id
      WHERE t.entity_id = $1 AND t.id = ANY($2::bigint[])
      GROUP BY t.id ORDER BY t.id`,
    [ctx.entity.id, releases.map((r) => r.transactionId)],
  );
  const docs: NewTransaction[] = rows.map((r) => ({
    entityId: ctx.entity.id,
    type: 'GJ',
    customerCode: null,
    currency: r.currency.trim(),
    exchangeRate: r.exchange_rate,
    // The rate the release was booked at, so the two cancel out in the base currency too.
    rateCheck: { field: 'fromInvoiceTransactionId', confirmed: true },
    transactionDate: r.date,
    dueDate: null,
    externalReference: `${r.external_reference}-R`.slice(0, 50),
    description: `Reversal of ${r.description}: credited by ${creditNote.label}`.slice(0, 500),
    net: BigInt(r.gross),
    tax: 0n,
    gross: BigInt(r.gross),
    baseGross: BigInt(r.base_gross),
    duplicateChecked: false,
    relatedTransactionId: Number(r.id),
    details: {
      reverses: Number(r.id),
      deferralReleaseReversal: { ...r.release, creditNoteTransactionId: creditNote.id },
    },
    createdBy: ctx.actor,
    items: [],
    lines: turnedLines(r.lines),
  }));
  const { documents } = await writeDocuments(ctx.db, ctx.entity.id, docs);
  const releaseOf = new Map(releases.map((r) => [r.transactionId, r.releaseId]));
  await ctx.db.query(
    `INSERT INTO deferral_release_reversals (release_id, entity_id, credit_note_id, transaction_id)
     SELECT r, $1, $2, t FROM unnest($3::bigint[], $4::bigint[]) AS x(r, t)`,
    [ctx.entity.id, creditNote.id, rows.map((r) => releaseOf.get(Number(r.id))!), documents.map((d) => d.id)],
  );
}

interface ReleaseJournalRow extends StoredJournal {
  release: Record<string, unknown> | null;
}

/** Marks releases as cancelled by the credit note that took their amount off the deferred account. */
export async function cancelReleases(
  db: Queryable,
  entityId: string,
  releaseIds: number[],
  creditNoteId: number,
): Promise<void> {
  if (releaseIds.length === 0) return;
  await db.query(
    `INSERT INTO deferral_release_postings (release_id, entity_id, kind, transaction_id)
     SELECT r, $1, 'cancelled', $3 FROM unnest($2::bigint[]) AS r`,
    [entityId, releaseIds, creditNoteId],
  );
}
