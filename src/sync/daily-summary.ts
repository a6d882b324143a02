import { createHash } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import { isValidDate } from '../domain/dates.ts';
import { formatAmount, parseAmount } from '../domain/money.ts';
import { type SourceDeps, createSource } from './registry.ts';
import type { CanonicalInvoice, CanonicalLine, CanonicalPayment } from './canonical.ts';
import type { SourceConnector, SourceItem } from './connector.ts';
import type { DailyData, DailyLine } from './daily-summary-record.ts';
import type { Pipeline } from './pipelines.ts';

export { recordSales, isSummarySourceId } from './daily-summary-record.ts';

/**
 * End-of-day batches for point-of-sale pipelines (`mode: daily-summary`). Sales arrive all day and
 * are recorded, not posted (daily-summary-record.ts). A run of trigger "daily-summary" (the
 * pipeline's schedule through SyncService.tick, or by hand with `{date}`) then posts, per day:
 *
 * - ONE invoice per customer and location, external reference `DS-2026-11-21-<location>`, its lines
 *   grouped by GL account, tax code, department and VAT rate with the sales' net and VAT summed;
 * - ONE receipt per customer, location, payment method (and currency and bank account),
 *   `DS-2026-11-21-<location>-<method>`, allocated to that day's summary invoice; fees summed to
 *   bank charges.
 *
 * Exactly once, in two steps. First, in one transaction, every unsummarised sale of the days in
 * scope is claimed: its `summarized_in` is set to the id of the summary it belongs to
 * (`<reference>@<customer code>`), so a sale belongs to one summary for good. Then every claimed
 * summary that the engine's map does not yet hold is built from its sales and posted through the
 * engine, with the map, the ledger's unique external references and adoption of an existing
 * document guarding against a second posting. A crash between the two steps, or a parked
 * summary, is finished by the next summary run. Sales arriving for a day already summarised form
 * a further summary of that day (`…#2`), never a change to a posted one.
 */

export const DAILY_SUMMARY_SOURCE = 'daily-summary';

/** Summaries pending longer than this are left to their exceptions (POST /v1/exceptions/{id}/retry). */
const PENDING_LOOKBACK_DAYS = 92;

/**
 * The external reference of a summary: `DS-<date>-<parts…>[#<seq>]`, parts shown upper case,
 * letters and digits only; over 50 characters it is cut and a hash of the exact values appended.
 * Two summaries whose parts show alike ("shop-1" and "SHOP1") are told apart by their number,
 * given when they are claimed: a customer must never have two summaries with one reference, or the
 * ledger would take the second for the first.
 */
export function summaryReference(date: string, parts: (string | null)[], seq: number): string {
  const shown = parts.map((p) => (p ?? '').toUpperCase().replace(/[^A-Z0-9]/g, '')).filter((s) => s !== '');
  const ref = ['DS', date, ...shown].join('-') + (seq > 1 ? `#${seq}` : '');
  if (ref.length <= 50) return ref;
  const hash = createHash('sha256')
    .update(JSON.stringify([date, parts, seq]))
    .digest('hex')
    .slice(0, 6)
    .toUpperCase();
  return `${ref.slice(0, 43)}~${hash}`;
}

type Scope = { only: string } | { before: string };

/** Which days a run summarises: `{date}` that day; a scheduled slot or a bare run, every complete day before it (UTC). */
function scopeOf(params: Record<string, unknown>, now = new Date()): Scope {
  if (params.date !== undefined) {
    if (typeof params.date !== 'string' || !isValidDate(params.date))
      throw new Error(`Daily summary: date must be YYYY-MM-DD, not ${JSON.stringify(params.date)}`);
    return { only: params.date };
  }
  const at = typeof params.slot === 'string' && !Number.isNaN(Date.parse(params.slot)) ? new Date(params.slot) : now;
  return { before: at.toISOString().slice(0, 10) };
}

interface Claimable {
  kind: 'invoice' | 'payment';
  source_id: string;
  date: string;
  customer_code: string;
  location: string | null;
  currency: string;
  method: string | null;
  bank: string | null;
}

/** Step one: assigns every unsummarised sale in scope to its summary, in one transaction. */
async function claimSales(db: Queryable, pipeline: Pipeline, scope: Scope): Promise<number> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<Claimable>(
      `SELECT kind, source_id, document_date::text AS date, customer_code, location, trim(currency) AS currency,
              payload->'daily'->>'method' AS method, payload->'daily'->>'bankAccountCode' AS bank
         FROM source_documents
        WHERE pipeline_id = $1 AND summarized_in IS NULL AND payload ? 'daily' AND kind IN ('invoice', 'payment')
          AND ($2::date IS NULL OR document_date = $2::date) AND ($3::date IS NULL OR document_date < $3::date)
        ORDER BY source_id
        FOR UPDATE`,
      [pipeline.id, 'only' in scope ? scope.only : null, 'before' in scope ? scope.before : null],
    );
    if (rows.length === 0) return 0;
    const dates = [...new Set(rows.map((r) => r.date))];
    // Summaries already made for these days: a further one of the same kind gets the next number,
    // and a late receipt is allocated to the day's existing summary invoice.
    const { rows: made } = await tx.query<{
      kind: string;
      date: string;
      customer_code: string;
      location: string;
      method: string;
      currency: string;
      summarized_in: string;
    }>(
      `SELECT DISTINCT kind, document_date::text AS date, customer_code, coalesce(location, '') AS location,
              coalesce(payload->'daily'->>'method', '') AS method, trim(currency) AS currency, summarized_in
         FROM source_documents
        WHERE pipeline_id = $1 AND summarized_in IS NOT NULL AND payload ? 'daily' AND document_date = ANY($2::date[])
        ORDER BY summarized_in`,
      [pipeline.id, dates],
    );
    // Numbered by how the reference reads, so that parts that read alike never share one.
    const partsOf = (kind: string, r: { location: string | null; method: string | null }) =>
      kind === 'invoice' ? [r.location || null] : [r.location || null, r.method || null];
    const seqKey = (
      kind: string,
      r: { date: string; customer_code: string; location: string | null; method: string | null },
    ) => JSON.stringify([kind, r.date, r.customer_code, summaryReference(r.date, partsOf(kind, r), 1)]);
    const invoiceKey = (r: { date: string; customer_code: string; location: string | null; currency: string }) =>
      JSON.stringify([r.date, r.customer_code, r.location ?? '', r.currency]);
    const used = new Map<string, number>();
    const invoiceSummary = new Map<string, string>();
    for (const m of made) {
      used.set(seqKey(m.kind, m), (used.get(seqKey(m.kind, m)) ?? 0) + 1);
      if (m.kind === 'invoice') invoiceSummary.set(invoiceKey(m), m.summarized_in.split('@')[0]!);
    }
    const groups = new Map<string, { sample: Claimable; members: string[] }>();
    for (const r of rows) {
      const key = JSON.stringify([
        r.kind,
        r.date,
        r.customer_code,
        r.location ?? '',
        r.currency,
        r.method ?? '',
        r.bank ?? '',
      ]);
      const g = groups.get(key) ?? { sample: r, members: [] };
      g.members.push(r.source_id);
      groups.set(key, g);
    }
    // Invoices first, in a fixed order, so that this round's invoice summaries are known when
    // the receipts are assigned theirs.
    const ordered = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const assign = {
      kind: [] as string[],
      sourceId: [] as string[],
      summary: [] as string[],
      allocateTo: [] as (string | null)[],
    };
    for (const [, { sample: s, members }] of ordered) {
      const seq = (used.get(seqKey(s.kind, s)) ?? 0) + 1;
      used.set(seqKey(s.kind, s), seq);
      const ref = summaryReference(s.date, partsOf(s.kind, s), seq);
      if (s.kind === 'invoice') invoiceSummary.set(invoiceKey(s), ref);
      for (const id of members) {
        assign.kind.push(s.kind);
        assign.sourceId.push(id);
        assign.summary.push(`${ref}@${s.customer_code}`);
        assign.allocateTo.push(s.kind === 'payment' ? (invoiceSummary.get(invoiceKey(s)) ?? null) : null);
      }
    }
    await tx.query(
      `UPDATE source_documents d SET summarized_in = u.summary,
              payload = CASE WHEN u.allocate_to IS NULL THEN d.payload ELSE jsonb_set(d.payload, '{daily,allocateTo}', to_jsonb(u.allocate_to)) END
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS u(kind, source_id, summary, allocate_to)
        WHERE d.pipeline_id = $1 AND d.kind = u.kind AND d.source_id = u.source_id`,
      [pipeline.id, assign.kind, assign.sourceId, assign.summary, assign.allocateTo],
    );
    return rows.length;
  });
}

interface Claimed {
  kind: 'invoice' | 'payment';
  summarized_in: string;
  date: string;
  customer_code: string;
  customer_source_id: string;
  location: string | null;
  currency: string;
  daily: DailyData;
}

function sumAmounts(values: string[], currency: string): bigint {
  let total = 0n;
  for (const v of values) {
    const minor = parseAmount(v, currency);
    if (!minor.ok) throw new Error(`Daily summary: stored amount ${v} is not an amount in ${currency}`);
    total += minor.value;
  }
  return total;
}

/** The summary invoice of a group of claimed sales: lines grouped by GL, tax code, department and rate. */
function summaryInvoice(id: string, sales: Claimed[], customerSourceId: string): CanonicalInvoice {
  const s = sales[0]!;
  const grouped = new Map<string, { line: DailyLine; net: string[]; vat: string[] }>();
  for (const sale of sales) {
    for (const l of 'lines' in sale.daily ? sale.daily.lines : []) {
      const key = JSON.stringify([l.glAccountCode, l.taxCode, l.departmentId ?? '', l.vatRate]);
      const g = grouped.get(key) ?? { line: l, net: [], vat: [] };
      g.net.push(l.net);
      g.vat.push(l.vat);
      grouped.set(key, g);
    }
  }
  const lines: CanonicalLine[] = [...grouped.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, g]) => ({
      description: `Sales ${g.line.glAccountCode} ${g.line.taxCode}${g.line.departmentId ? ` ${g.line.departmentId}` : ''}`,
      netAmount: formatAmount(sumAmounts(g.net, s.currency), s.currency),
      vatRate: g.line.vatRate,
      vatAmount: formatAmount(sumAmounts(g.vat, s.currency), s.currency),
      glAccountCode: g.line.glAccountCode,
      taxCode: g.line.taxCode,
      departmentId: g.line.departmentId,
    }))
    .filter((l) => l.netAmount !== formatAmount(0n, s.currency) || l.vatAmount !== formatAmount(0n, s.currency));
  return {
    kind: 'invoice',
    sourceId: id,
    externalReference: id.split('@')[0]!,
    customerSourceId,
    invoiceDate: s.date,
    currency: s.currency,
    description: `Daily summary ${s.date}${s.location ? ` at ${s.location}` : ''}: ${sales.length} sale${sales.length === 1 ? '' : 's'}`,
    location: s.location,
    lines,
  };
}

/** The summary receipt of a group of claimed payments, allocated to the day's summary invoice. */
function summaryReceipt(id: string, payments: Claimed[], customerSourceId: string): CanonicalPayment {
  const s = payments[0]!;
  const data = payments.map((p) => p.daily).filter((d): d is Extract<DailyData, { amount: string }> => 'amount' in d);
  const first = data[0]!;
  const fee = sumAmounts(
    data.flatMap((d) => (d.fee ? [d.fee] : [])),
    s.currency,
  );
  return {
    kind: 'payment',
    sourceId: id,
    externalReference: id.split('@')[0]!,
    customerSourceId,
    date: s.date,
    amount: formatAmount(
      sumAmounts(
        data.map((d) => d.amount),
        s.currency,
      ),
      s.currency,
    ),
    currency: s.currency,
    invoiceExternalReference: data.find((d) => d.allocateTo)?.allocateTo ?? null,
    fee: fee > 0n ? formatAmount(fee, s.currency) : null,
    bankAccountCode: first.bankAccountCode,
    location: s.location,
    method: first.method,
    description: `Daily receipts ${s.date}${s.location ? ` at ${s.location}` : ''}${first.method ? ` by ${first.method}` : ''}: ${payments.length} payment${payments.length === 1 ? '' : 's'}`,
  };
}

/** Step two: the claimed summaries not yet in the engine's map, built from their sales, a page per day. */
async function pendingSummaries(db: Queryable, pipeline: Pipeline, newest: string): Promise<Map<string, SourceItem[]>> {
  const { rows } = await db.query<Claimed>(
    `SELECT d.kind, d.summarized_in, d.document_date::text AS date, d.customer_code, d.customer_source_id, d.location, trim(d.currency) AS currency,
            d.payload->'daily' AS daily
       FROM source_documents d
      WHERE d.pipeline_id = $1 AND d.summarized_in IS NOT NULL AND d.payload ? 'daily'
        AND d.document_date >= $2::date - $3::int
        AND NOT EXISTS (SELECT 1 FROM sync_map m WHERE m.pipeline_id = d.pipeline_id AND m.kind = d.kind AND m.source_id = d.summarized_in)
      ORDER BY d.document_date, d.kind, d.summarized_in, d.source_id`,
    [pipeline.id, newest, PENDING_LOOKBACK_DAYS],
  );
  const bySummary = new Map<string, Claimed[]>();
  for (const r of rows)
    bySummary.set(`${r.kind} ${r.summarized_in}`, [...(bySummary.get(`${r.kind} ${r.summarized_in}`) ?? []), r]);
  const pages = new Map<string, SourceItem[]>();
  for (const sales of bySummary.values()) {
    const s = sales[0]!;
    // A fixed summary customer has no source id of its own: it is linked by its ledger code.
    const customerSourceId = pipeline.options.summaryCustomer ? `ledger:${s.customer_code}` : s.customer_source_id;
    const record =
      s.kind === 'invoice'
        ? summaryInvoice(s.summarized_in, sales, customerSourceId)
        : summaryReceipt(s.summarized_in, sales, customerSourceId);
    const page = pages.get(s.date) ?? [];
    page.push({ record, raw: { dailySummary: s.summarized_in, sales: sales.length } });
    pages.set(s.date, page);
  }
  return pages;
}

/** Sources that hold received events: a summary run first works through those still waiting. */
const EVENT_SOURCES = new Set(['webhook', 'stripe']);

/**
 * The source of a daily-summary run: first the pipeline's received events still waiting (whose
 * run failed or has not come yet), recorded as sales like any others, so that the summary misses
 * none; then it claims the days' sales and yields their summaries, a page per day.
 */
export function dailySummarySource(pipeline: Pipeline, deps: SourceDeps): SourceConnector {
  const inner = EVENT_SOURCES.has(pipeline.sourceType) ? createSource(pipeline, deps) : null;
  return {
    type: DAILY_SUMMARY_SOURCE,
    async *pages(ctx) {
      if (inner) yield* inner.pages(ctx, null);
      const scope = scopeOf(deps.params);
      const claimed = await claimSales(deps.db, pipeline, scope);
      ctx.log.info({ scope, claimed }, 'daily summary: sales claimed');
      const newest = 'only' in scope ? scope.only : scope.before;
      for (const items of (await pendingSummaries(deps.db, pipeline, newest)).values()) yield { items, cursor: null };
    },
    async customer(sourceId) {
      if (!sourceId.startsWith('ledger:'))
        return inner?.customer
          ? inner.customer(sourceId)
          : { missing: `Customer ${sourceId} has not been sent to this pipeline yet` };
      const code = sourceId.slice('ledger:'.length);
      const found = await deps.target.customer(code, sourceId);
      return found ? { found } : { missing: `No customer ${code} in the target (options.summaryCustomer)` };
    },
  };
}
