import { addDays } from '../../domain/dates.ts';
import { documentLabel } from '../../domain/documents.ts';
import { checkDateInRange, readLockDate } from '../periods.ts';
import { type AccountUse, closedAccountMessage, closedAccounts } from './role-accounts.ts';
import type { PostingContext } from './types.ts';
import { type NewTransaction, writeDocuments } from './write.ts';

/** A release posted by `releaseDeferrals`. */
export interface PostedRelease {
  releaseId: number;
  invoiceTransactionId: number;
  invoiceNumber: number;
  lineNo: number;
  seq: number;
  months: number;
  dueDate: string;
  /** The GJ's date: the due date, or the first open day after the lock date (or the invoice date) when later. */
  postedOn: string;
  amount: bigint;
  baseAmount: bigint;
  currency: string;
  transactionId: number;
  transactionNumber: number;
}

/**
 * A release due but not posted because one of its accounts is no longer an active posting
 * account: it stays due, and the next run after the account is reopened posts it.
 */
export interface FailedRelease {
  releaseId: number;
  invoiceTransactionId: number;
  invoiceNumber: number;
  lineNo: number;
  seq: number;
  dueDate: string;
  glAccountCode: string;
  code: 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST';
  message: string;
}

/** What a release run did: the releases it posted and those it could not post (each with why). */
export interface ReleaseRun {
  released: PostedRelease[];
  failed: FailedRelease[];
}

interface DueRow {
  id: string;
  seq: number;
  due_date: string;
  amount: string;
  base_amount: string;
  line_no: number;
  months: number;
  deferred_gl_account_code: string;
  revenue_gl_account_code: string;
  department_id: string | null;
  currency: string;
  exchange_rate: string;
  invoice_id: string;
  invoice_number: string;
  external_reference: string;
  invoice_date: string;
}

/**
 * Of the releases due, those whose deferred or revenue account is not an active posting account
 * (data from before setup refused to close an account a pending schedule uses): they are not
 * posted, each is reported with the account and what to do, and the others post as usual, so
 * one closed account never holds up the entity's other releases.
 */
async function refuseClosedAccounts(ctx: PostingContext, rows: DueRow[]): Promise<Map<string, FailedRelease>> {
  const closed = await closedAccounts(
    ctx.db,
    ctx.entity.id,
    rows.flatMap((r) => [r.deferred_gl_account_code, r.revenue_gl_account_code]),
  );
  const failed = new Map<string, FailedRelease>();
  if (closed.size === 0) return failed;
  for (const r of rows) {
    const label = documentLabel({ type: 'SI', number: r.invoice_number, externalReference: r.external_reference });
    const uses: AccountUse[] = [
      { glAccountCode: r.deferred_gl_account_code, why: 'its deferred revenue account' },
      { glAccountCode: r.revenue_gl_account_code, why: 'its revenue account' },
    ].map((u) => ({
      ...u,
      field: 'upTo',
      what: `Release ${r.seq} of ${r.months} of ${label} line ${r.line_no}`,
      otherwise: 'a deferral schedule keeps its accounts; the release stays due and posts on the next run',
    }));
    const use = uses.find((u) => closed.has(u.glAccountCode));
    if (!use) continue;
    failed.set(r.id, {
      releaseId: Number(r.id),
      invoiceTransactionId: Number(r.invoice_id),
      invoiceNumber: Number(r.invoice_number),
      lineNo: r.line_no,
      seq: r.seq,
      dueDate: r.due_date,
      glAccountCode: use.glAccountCode,
      code: 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
      message: closedAccountMessage(use),
    });
  }
  return failed;
}

/**
 * Posts every release due on or before `upTo` that is neither posted nor cancelled: one general
 * journal (GJ) each, the deferred account debited and the line's revenue account credited, both
 * with the line's department, in the invoice's currency at its rate. Idempotent: a release posts
 * at most once. The schedules are locked in id order first, then their releases read in a new
 * statement, so a concurrent run waits and then finds nothing left to post; the primary key of
 * `deferral_release_postings` is the backstop. A release due on or before the lock date is posted
 * on the first open day after it (documented in docs/ledger.md), never refused and never lost. A
 * release whose account was closed is not posted and is reported in `failed` (refuseClosedAccounts).
 */
export async function releaseDeferrals(ctx: PostingContext, upTo: string): Promise<ReleaseRun> {
  checkDateInRange(upTo, 'upTo');
  const entityId = ctx.entity.id;
  const lockDate = await readLockDate(ctx.db, entityId);
  const locked = await ctx.db.query<{ id: string }>(
    `SELECT s.id FROM deferral_schedules s
      WHERE s.entity_id = $1
        AND EXISTS (SELECT 1 FROM deferral_releases r
                     WHERE r.schedule_id = s.id AND r.due_date <= $2::date
                       AND NOT EXISTS (SELECT 1 FROM deferral_release_postings p WHERE p.release_id = r.id))
      ORDER BY s.id FOR UPDATE`,
    [entityId, upTo],
  );
  if (locked.rows.length === 0) return { released: [], failed: [] };
  const { rows: due } = await ctx.db.query<DueRow>(
    `SELECT r.id, r.seq, r.due_date::text AS due_date, r.amount, r.base_amount, s.line_no, s.months,
            s.deferred_gl_account_code, s.revenue_gl_account_code, s.department_id, s.currency,
            s.exchange_rate::text AS exchange_rate, t.id AS invoice_id, t.number AS invoice_number,
            t.external_reference, t.transaction_date::text AS invoice_date
       FROM deferral_releases r
       JOIN deferral_schedules s ON s.id = r.schedule_id
       JOIN transactions t ON t.id = s.transaction_id
      WHERE s.id = ANY($1::bigint[]) AND r.due_date <= $2::date
        AND NOT EXISTS (SELECT 1 FROM deferral_release_postings p WHERE p.release_id = r.id)
      ORDER BY r.due_date, r.id`,
    [locked.rows.map((r) => r.id), upTo],
  );
  const failed = await refuseClosedAccounts(ctx, due);
  const rows = due.filter((r) => !failed.has(r.id));
  if (rows.length === 0) return { released: [], failed: [...failed.values()] };
  const firstOpen = lockDate === null ? null : addDays(lockDate, 1);
  const postedOn = (r: DueRow) => [r.due_date, r.invoice_date, firstOpen ?? r.due_date].sort()[2]!;
  const docs: NewTransaction[] = rows.map((r) => {
    const amount = BigInt(r.amount);
    const base = BigInt(r.base_amount);
    const currency = r.currency.trim();
    const label = documentLabel({ type: 'SI', number: r.invoice_number, externalReference: r.external_reference });
    const description = `Deferred revenue release ${r.seq} of ${r.months}: ${label} line ${r.line_no}`.slice(0, 500);
    const line = { departmentId: r.department_id, taxCode: null, description, role: 'gl' as const };
    return {
      entityId,
      type: 'GJ',
      customerCode: null,
      currency,
      exchangeRate: r.exchange_rate,
      // The rate the deferral was booked at, so the deferred account empties in the base currency too.
      rateCheck: { field: 'upTo', confirmed: true },
      transactionDate: postedOn(r),
      dueDate: null,
      externalReference: `DEF-${r.invoice_number}-${r.line_no}-${r.seq}`,
      description,
      net: amount,
      tax: 0n,
      gross: amount,
      baseGross: base,
      duplicateChecked: false,
      relatedTransactionId: null,
      details: {
        deferralRelease: {
          releaseId: Number(r.id),
          invoiceTransactionId: Number(r.invoice_id),
          lineNo: r.line_no,
          seq: r.seq,
        },
      },
      createdBy: ctx.actor,
      items: [],
      lines: [
        { ...line, glAccountCode: r.deferred_gl_account_code, amount, baseAmount: base },
        { ...line, glAccountCode: r.revenue_gl_account_code, amount: -amount, baseAmount: -base },
      ],
    };
  });
  const { documents } = await writeDocuments(ctx.db, entityId, docs);
  await ctx.db.query(
    `INSERT INTO deferral_release_postings (release_id, entity_id, kind, transaction_id)
     SELECT r, $1, 'released', t FROM unnest($2::bigint[], $3::bigint[]) AS x(r, t)`,
    [entityId, rows.map((r) => r.id), documents.map((d) => d.id)],
  );
  const released = rows.map((r, n) => ({
    releaseId: Number(r.id),
    invoiceTransactionId: Number(r.invoice_id),
    invoiceNumber: Number(r.invoice_number),
    lineNo: r.line_no,
    seq: r.seq,
    months: r.months,
    dueDate: r.due_date,
    postedOn: docs[n]!.transactionDate,
    amount: BigInt(r.amount),
    baseAmount: BigInt(r.base_amount),
    currency: r.currency.trim(),
    transactionId: documents[n]!.id,
    transactionNumber: documents[n]!.number,
  }));
  return { released, failed: [...failed.values()] };
}
