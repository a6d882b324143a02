import type { Logger } from 'pino';
import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { IsoDate } from '../../domain/schemas.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { type Pipeline, listPipelines } from '../../sync/pipelines.ts';
import {
  type Mismatch,
  type ReconcileProgress,
  type Reconciliation,
  readsTargetRemotely,
  reconcile,
  reconcileWindow,
} from '../../sync/reconcile.ts';
import { type StoredReconciliation, latestReconciliation } from '../../sync/reconciliations.ts';
import { KIND_WORD } from '../../sync/reconcile-data.ts';
import { listRuns } from '../../sync/runs.ts';
import type { SecretBox } from '../../sync/secrets.ts';
import { Empty, StatusBadge } from '../components/common.tsx';
import { Layout } from '../components/layout.tsx';
import { quoted } from '../components/filters.tsx';
import type { PageContext } from '../context.ts';
import { formatCount, formatDate, formatDateTime, formatMoney } from '../format.ts';

/** The page's query: a value that is not a pipeline name or a date is set aside, and said so. */
export const ReconciliationQuery = z.object({
  // Any text: one that names no pipeline of the entity is said (loadReconciliation), never passed over.
  pipeline: z
    .union([z.string(), z.array(z.string()).transform((all) => all.join(', '))])
    .optional()
    .catch(undefined),
  from: z.string().max(20).optional().catch(undefined),
  to: z.string().max(20).optional().catch(undefined),
});
type ReconciliationQuery = z.output<typeof ReconciliationQuery>;

export interface ReconciliationData {
  pipelines: Pipeline[];
  pipeline: Pipeline | null;
  from: string;
  to: string;
  /** Dates of the query that were not dates, or a period that ends before it starts. */
  problems: string[];
  /** False when the pipeline has no run at all: there is nothing to compare. */
  hasRun: boolean;
  result: Reconciliation | null;
  /**
   * True when the pipeline's target is read over the network (a platform): a worker reconciles it
   * (`stored`, the newest of this window), not the page, which would wait minutes for it.
   */
  remote: boolean;
  stored: StoredReconciliation | null;
}

function dateOf(value: string | undefined, label: string, problems: string[]): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (IsoDate.safeParse(value).success) return value;
  problems.push(`“${label}” is not a date (YYYY-MM-DD); the default is used instead.`);
  return undefined;
}

/**
 * The reconciliation of the chosen pipeline (the first one when none is chosen) over the period, by
 * the function behind GET /v1/pipelines/{name}/reconciliation; nothing is compared before a first run.
 */
export async function loadReconciliation(
  db: Queryable,
  box: SecretBox,
  log: Logger,
  entityId: string,
  query: ReconciliationQuery,
): Promise<ReconciliationData> {
  const pipelines = await listPipelines(db, box, entityId);
  const problems: string[] = [];
  let window = reconcileWindow(dateOf(query.from, 'From', problems), dateOf(query.to, 'To', problems));
  if (!window) {
    problems.push('The period ends before it starts; the 30 days up to “To” are shown instead.');
    window = reconcileWindow(undefined, dateOf(query.to, 'To', []))!;
  }
  const base = { pipelines, from: window.from, to: window.to, problems, remote: false, stored: null };
  const pipeline = query.pipeline ? pipelines.find((p) => p.name === query.pipeline) : pipelines[0];
  if (!pipeline) {
    if (query.pipeline) problems.push(`No pipeline named ${quoted(query.pipeline)}; choose one of the list.`);
    return { ...base, pipeline: null, hasRun: false, result: null };
  }
  const runs = await listRuns(db, { entityId, pipeline: pipeline.name, limit: 1, offset: 0 });
  if (runs.total === 0) return { ...base, pipeline, hasRun: false, result: null };
  if (await readsTargetRemotely(db, pipeline, log, box)) {
    const stored = await latestReconciliation(db, pipeline.id, window);
    if (stored?.status === 'failed' && stored.error)
      problems.push(`The last reconciliation of this period failed (${stored.error.code}): ${stored.error.message}`);
    return { ...base, pipeline, hasRun: true, remote: true, stored, result: stored?.report ?? null };
  }
  try {
    const result = await reconcile(db, pipeline, window.from, window.to, log, box);
    return { ...base, pipeline, hasRun: true, result };
  } catch (err) {
    // The target could not be read (a platform down, a revoked connection): said where the table would be.
    if (!(err instanceof ConnectorError)) throw err;
    problems.push(`The target could not be read, so nothing was compared: ${err.message}`);
    return { ...base, pipeline, hasRun: true, result: null };
  }
}

const KIND_TEXT: Record<Mismatch['kind'], string> = {
  'missing-in-ledger': 'Missing in the target',
  'not-from-source': 'Not from the source',
  'amount-difference': 'Amounts differ',
  'date-difference': 'Dates differ',
  'fee-difference': 'Provider fees differ',
  'open-balance-difference': 'Open balances differ',
};

/** Agrees / differs, as a word with an icon: never colour alone. */
function Verdict(props: { matched: boolean }) {
  return props.matched ? (
    <span class="badge badge-succeeded">
      <span aria-hidden="true">✓</span> Agrees
    </span>
  ) : (
    <span class="badge badge-failed">
      <span aria-hidden="true">⚠</span> Differs
    </span>
  );
}

function Links(props: { m: Mismatch; ledger: boolean }) {
  const { m } = props;
  const links = [];
  if (m.transactionId !== null && props.ledger)
    links.push(
      <a href={`/transactions/${m.transactionId}`}>
        Transaction {m.transactionId}
        <span class="visually-hidden"> in the ledger</span>
      </a>,
    );
  else if (m.targetId !== null)
    links.push(
      <span>
        Target id <code>{m.targetId}</code>
      </span>,
    );
  // A fee-difference's fee document (reports stored before 2026-12-07 have no such field).
  const fee = m.feeTargetId ?? null;
  if (fee !== null && props.ledger && /^\d{1,15}$/.test(fee))
    links.push(
      <a href={`/transactions/${fee}`}>
        Fee journal {fee}
        <span class="visually-hidden"> in the ledger</span>
      </a>,
    );
  else if (fee !== null)
    links.push(
      <span>
        Fee id <code>{fee}</code>
      </span>,
    );
  if (m.exceptionId !== null) links.push(<a href={`/exceptions/${m.exceptionId}`}>Exception {m.exceptionId}</a>);
  if (m.sourceId !== null)
    links.push(
      <span>
        Source record <code>{m.sourceId}</code>
      </span>,
    );
  if (links.length === 0) return <>—</>;
  return (
    <ul class="doc-links">
      {links.map((l) => (
        <li>{l}</li>
      ))}
    </ul>
  );
}

const PHASE_TEXT: Record<ReconcileProgress['phase'], string> = {
  source: 'Reading what the source sent',
  target: 'Reading the target',
  unlinked: 'Looking for documents the pipeline did not post',
  comparing: 'Comparing the two sides',
  balances: 'Reading the open balances',
};

/**
 * A reconciliation a worker is doing: its phase and how much of the target it has read, asked for
 * again every second; once it is done, the page reloads and shows the report.
 */
export function ReconciliationProgress(props: { ctx: PageContext; stored: StoredReconciliation }) {
  const { stored, ctx } = props;
  const p = stored.progress;
  const n = (v: number) => formatCount(v, ctx.locale);
  return (
    <div
      class="recon-progress"
      data-status={stored.status}
      hx-get={`/reconciliation/progress/${stored.reconciliationId}`}
      hx-trigger="every 1s"
      hx-swap="outerHTML"
      aria-live="polite"
    >
      <p>
        <StatusBadge status={stored.status} />{' '}
        {stored.status === 'queued'
          ? 'Waiting for a worker to reconcile it…'
          : `${p ? PHASE_TEXT[p.phase] : 'Starting'}${p && p.toFetch > 0 ? `: ${n(p.fetched)} of ${n(p.toFetch)} documents read` : ''}…`}
      </p>
      {p && p.toFetch > 0 ? (
        <progress value={p.fetched} max={p.toFetch} aria-label="Documents of the target read" />
      ) : (
        <progress aria-label="Reconciliation in progress" />
      )}
    </div>
  );
}

/** The button that has a worker reconcile the period (POST /reconciliation/start). */
function ReconcileButton(props: { data: ReconciliationData; again: boolean }) {
  const { data } = props;
  return (
    <button
      type="button"
      hx-post="/reconciliation/start"
      hx-vals={JSON.stringify({ pipeline: data.pipeline!.name, from: data.from, to: data.to })}
    >
      {props.again ? 'Reconcile again' : 'Reconcile now'}
    </button>
  );
}

/** For a target read over the network: the worker's reconciliation of the period, or the button to start one. */
function StoredPanel(props: { ctx: PageContext; data: ReconciliationData }) {
  const { ctx, data } = props;
  const stored = data.stored;
  if (stored && (stored.status === 'queued' || stored.status === 'running'))
    return <ReconciliationProgress ctx={ctx} stored={stored} />;
  return (
    <div class="recon-stored">
      <p class="muted">
        {stored?.status === 'succeeded' && stored.finishedAt
          ? `Reconciled by a worker on ${formatDateTime(stored.finishedAt, ctx.locale)}; what changed since shows when it is reconciled again. `
          : `${data.pipeline!.name} books into ${data.pipeline!.targetType}, read over the network under its rate limits: a worker reconciles it, and the result shows here when it is done. `}
      </p>
      <ReconcileButton data={data} again={stored !== null} />
    </div>
  );
}

export function ReconciliationPage(props: { ctx: PageContext; data: ReconciliationData }) {
  const { ctx, data } = props;
  const { locale } = ctx;
  const r = data.result;
  const money = (amount: string | null, currency: string | null) =>
    amount === null ? '—' : currency ? formatMoney(amount, currency, locale) : amount;
  const ledger = data.pipeline?.targetType === 'ledger';
  // Credit notes get their pair of columns only in a period that has some, on either side.
  const withNotes = r?.days.some((d) => d.source.creditNotes.count > 0 || d.target.creditNotes.count > 0) ?? false;
  return (
    <Layout ctx={ctx} title="Reconciliation" section="reconciliation">
      <h1>Reconciliation</h1>
      <p class="lead">
        What a pipeline’s source sent against what its target holds, per day, customer and currency, for the documents
        dated in the period.
      </p>
      {data.pipelines.length === 0 ? (
        <Empty>No pipelines yet: there is nothing to reconcile.</Empty>
      ) : (
        <form method="get" action="/reconciliation" class="filters" aria-label="What to reconcile">
          <label>
            Pipeline
            <select name="pipeline">
              {data.pipelines.map((p) => (
                <option value={p.name} selected={p.name === data.pipeline?.name}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            From (document date)
            <input type="date" name="from" value={data.from} required />
          </label>
          <label>
            To (document date)
            <input type="date" name="to" value={data.to} required />
          </label>
          <button type="submit">Reconcile</button>
        </form>
      )}
      {data.problems.length > 0 ? (
        <div class="notice notice-warning" role="status">
          <ul>
            {data.problems.map((p) => (
              <li>{p}</li>
            ))}
          </ul>
        </div>
      ) : null}
      {data.pipeline && data.hasRun && data.remote ? <StoredPanel ctx={ctx} data={data} /> : null}
      {data.pipeline && !data.hasRun ? (
        <Empty>
          {data.pipeline.name} has never run: there is nothing to compare yet. Run it from{' '}
          <a href={`/runs?pipeline=${encodeURIComponent(data.pipeline.name)}`}>Runs</a>, then come back.
        </Empty>
      ) : null}
      {r ? (
        <>
          <p role="status" class="recon-summary">
            {formatDate(r.from, locale)} to {formatDate(r.to, locale)}: {formatCount(r.summary.sourceDocuments, locale)}{' '}
            documents from the source, {formatCount(r.summary.ledgerDocuments, locale)} in the target;{' '}
            {formatCount(r.summary.matched, locale)} agree,{' '}
            <strong>{formatCount(r.summary.mismatched, locale)} differ</strong>.
          </p>
          {r.notes?.length ? (
            <div class="notice notice-warning recon-notes" role="note">
              <ul>
                {r.notes.map((n) => (
                  <li>{n}</li>
                ))}
              </ul>
            </div>
          ) : null}
          {r.mismatches.length === 0 ? (
            <div class="notice notice-success" role="status">
              <span aria-hidden="true">✓ </span>
              {r.days.length === 0
                ? 'No documents dated in this period on either side, and the open balances agree.'
                : r.notes?.length
                  ? 'Everything compared agrees: every document of the source is in the target with the same amount and date; the notes above say what was not compared.'
                  : 'Everything agrees: every document of the source is in the target with the same amount and date.'}
            </div>
          ) : (
            <section aria-labelledby="mismatches-title">
              <h2 id="mismatches-title">
                <span aria-hidden="true">⚠ </span>
                {formatCount(r.mismatches.length, locale)} {r.mismatches.length === 1 ? 'difference' : 'differences'}
              </h2>
              <div class="table-scroll">
                <table class="stack mismatches">
                  <thead>
                    <tr>
                      <th scope="col">What</th>
                      <th scope="col">Document</th>
                      <th scope="col">Customer</th>
                      <th scope="col">Date</th>
                      <th scope="col" class="num">
                        Source
                      </th>
                      <th scope="col" class="num">
                        Target
                      </th>
                      <th scope="col">Why</th>
                      <th scope="col">Look at</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.mismatches.map((m) => (
                      <tr class="mismatch">
                        <td data-label="What">
                          <span class="badge badge-failed">
                            <span aria-hidden="true">⚠</span> {KIND_TEXT[m.kind]}
                          </span>
                        </td>
                        <td data-label="Document">
                          {m.documentKind ? KIND_WORD[m.documentKind] : ''} {m.externalReference ?? ''}
                        </td>
                        <td data-label="Customer">{m.customerCode ?? '—'}</td>
                        <td data-label="Date">{m.date ? formatDate(m.date, locale) : '—'}</td>
                        <td data-label="Source" class="num">
                          {money(m.sourceAmount, m.currency)}
                        </td>
                        <td data-label="Target" class="num">
                          {money(m.targetAmount, m.currency)}
                        </td>
                        <td data-label="Why" class="message">
                          {m.message}
                        </td>
                        <td data-label="Look at">
                          <Links m={m} ledger={ledger} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          )}
          {r.days.length > 0 ? (
            <section aria-labelledby="days-title">
              <h2 id="days-title">Per day, customer and currency</h2>
              <p class="muted">Each cell: the number of documents · their total.</p>
              {/* Wide with credit notes (a pair of columns a kind): scrolled sideways, so reachable by keyboard. */}
              <div class="table-scroll" tabIndex={0} role="region" aria-labelledby="days-title">
                <table class="stack recon-days">
                  <thead>
                    <tr>
                      <th scope="col">Date</th>
                      <th scope="col">Customer</th>
                      <th scope="col" class="num">
                        Invoices, source
                      </th>
                      <th scope="col" class="num">
                        Invoices, target
                      </th>
                      {withNotes ? (
                        <>
                          <th scope="col" class="num">
                            Credit notes, source
                          </th>
                          <th scope="col" class="num">
                            Credit notes, target
                          </th>
                        </>
                      ) : null}
                      <th scope="col" class="num">
                        Payments, source
                      </th>
                      <th scope="col" class="num">
                        Payments, target
                      </th>
                      <th scope="col">Status</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.days.map((d) => {
                      const cell = (t: { count: number; total: string }) =>
                        `${formatCount(t.count, locale)} · ${formatMoney(t.total, d.currency, locale)}`;
                      return (
                        <tr class={d.matched ? undefined : 'mismatch'}>
                          <td data-label="Date">{formatDate(d.date, locale)}</td>
                          <td data-label="Customer">
                            {d.customerCode ?? (
                              <span>
                                not in the target yet (source <code>{d.customerSourceId}</code>)
                              </span>
                            )}
                          </td>
                          <td data-label="Invoices, source" class="num">
                            {cell(d.source.invoices)}
                          </td>
                          <td data-label="Invoices, target" class="num">
                            {cell(d.target.invoices)}
                          </td>
                          {withNotes ? (
                            <>
                              <td data-label="Credit notes, source" class="num">
                                {cell(d.source.creditNotes)}
                              </td>
                              <td data-label="Credit notes, target" class="num">
                                {cell(d.target.creditNotes)}
                              </td>
                            </>
                          ) : null}
                          <td data-label="Payments, source" class="num">
                            {cell(d.source.payments)}
                          </td>
                          <td data-label="Payments, target" class="num">
                            {cell(d.target.payments)}
                          </td>
                          <td data-label="Status">
                            <Verdict matched={d.matched} />
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            </section>
          ) : null}
          {r.openBalances.length > 0 ? (
            <section aria-labelledby="balances-title">
              <h2 id="balances-title">Open balances on {formatDate(r.to, locale)}</h2>
              <div class="table-scroll">
                <table class="stack recon-balances">
                  <thead>
                    <tr>
                      <th scope="col">Customer</th>
                      <th scope="col" class="num">
                        Source
                      </th>
                      <th scope="col" class="num">
                        Target
                      </th>
                      <th scope="col" class="num">
                        Difference (target less source)
                      </th>
                      <th scope="col">Status</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.openBalances.map((b) => (
                      <tr class={b.matched ? undefined : 'mismatch'}>
                        <td data-label="Customer">{b.customerCode}</td>
                        <td data-label="Source" class="num">
                          {formatMoney(b.source, b.currency, locale)}
                        </td>
                        <td data-label="Target" class="num">
                          {formatMoney(b.target, b.currency, locale)}
                        </td>
                        <td data-label="Difference" class="num">
                          {formatMoney(b.difference, b.currency, locale)}
                        </td>
                        <td data-label="Status">
                          <Verdict matched={b.matched} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          ) : null}
        </>
      ) : null}
    </Layout>
  );
}
