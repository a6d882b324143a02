import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { type Pipeline, checkPipelineFilter, listPipelines } from '../../sync/pipelines.ts';
import { exceptionsOfParked, runTargetType } from '../../sync/run-links.ts';
import { type Run, type RunRecord, listRunRecords, listRuns } from '../../sync/runs.ts';
import { transactionHeads } from '../../ledger/reports/transaction-list.ts';
import { listTransactionTypes } from '../../ledger/reports/transactions.ts';
import { typeName } from './transactions.tsx';
import type { SecretBox } from '../../sync/secrets.ts';
import { actorLabel } from '../actors.ts';
import { Empty, Pager, StatusBadge } from '../components/common.tsx';
import { FilterField, FilterProblems, type FilterProblem, QueryReader, invalidAttrs } from '../components/filters.tsx';
import { Layout } from '../components/layout.tsx';
import { RunNowButton, RunProgress, progressId } from '../components/runs.tsx';
import type { PageContext } from '../context.ts';
import { formatCount, formatDateTime, formatDuration } from '../format.ts';

const STATUSES = ['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled'] as const;
const PAGE_SIZE = 50;

/**
 * The runs list's query. A status that is not one, or a page that is not a page number, is set
 * aside and said so (`problems`); a pipeline the entity does not have is refused by loadRuns.
 */
export const RunsQuery = z.unknown().transform((raw) => {
  const r = new QueryReader(raw);
  const page = r.page();
  const pipeline = r.text('pipeline', 'Pipeline', 'runs of every pipeline are shown');
  const status = r.choice('status', 'Status', STATUSES, 'a run status', 'runs of every status are shown');
  return { page, pipeline, status, matchesNothing: r.matchesNothing, problems: r.problems };
});
type RunsQuery = z.output<typeof RunsQuery>;

export interface RunsData {
  query: RunsQuery;
  pipelines: Pipeline[];
  runs: Run[];
  total: number;
  /** Values of the query set aside, said at their field and above the list. */
  problems: FilterProblem[];
}

export async function loadRuns(db: Queryable, box: SecretBox, entityId: string, query: RunsQuery): Promise<RunsData> {
  if (query.matchesNothing)
    return { query, pipelines: await listPipelines(db, box, entityId), runs: [], total: 0, problems: query.problems };
  await checkPipelineFilter(db, query.pipeline, entityId, 'pipeline');
  const [pipelines, runs] = await Promise.all([
    listPipelines(db, box, entityId),
    listRuns(db, {
      entityId,
      pipeline: query.pipeline,
      status: query.status,
      limit: PAGE_SIZE,
      offset: (query.page - 1) * PAGE_SIZE,
    }),
  ]);
  return { query, pipelines, runs: runs.items, total: runs.total, problems: query.problems };
}

const TRIGGERS: Record<string, string> = {
  manual: 'By hand',
  schedule: 'Schedule',
  webhook: 'Webhook',
  import: 'Import',
  'daily-summary': 'Daily summary',
  retry: 'Retry',
};

export function RunsPage(props: { ctx: PageContext; data: RunsData }) {
  const { ctx, data } = props;
  const { locale } = ctx;
  const q = data.query;
  const runnable = data.pipelines.filter((p) => !q.pipeline || p.name === q.pipeline);
  return (
    <Layout ctx={ctx} title="Runs" section="runs">
      <h1>Runs</h1>
      {runnable.length > 0 && ctx.viewer.role !== 'viewer' ? (
        <section aria-labelledby="run-now-title" class="card">
          <h2 id="run-now-title">Run a pipeline now</h2>
          <ul class="run-now-list">
            {runnable.map((p) => (
              <li>
                <RunNowButton ctx={ctx} pipeline={p.name} enabled={p.enabled} />
                <div id={progressId(p.name)} class="progress-slot" aria-live="polite"></div>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <form method="get" action="/runs" class="filters" role="search" aria-label="Filter runs">
        <FilterField problems={data.problems} field="pipeline">
          Pipeline
          <select name="pipeline" {...invalidAttrs(data.problems, 'pipeline')}>
            <option value="">All pipelines</option>
            {data.pipelines.map((p) => (
              <option value={p.name} selected={p.name === q.pipeline}>
                {p.name}
              </option>
            ))}
          </select>
        </FilterField>
        <FilterField problems={data.problems} field="status">
          Status
          <select name="status" {...invalidAttrs(data.problems, 'status')}>
            <option value="">Any status</option>
            {STATUSES.map((s) => (
              <option value={s} selected={s === q.status}>
                {s}
              </option>
            ))}
          </select>
        </FilterField>
        <button type="submit">Filter</button>
      </form>
      <FilterProblems problems={data.problems} />
      <p class="muted" role="status">
        {formatCount(data.total, locale)} {data.total === 1 ? 'run' : 'runs'}
        {q.pipeline ? ` of ${q.pipeline}` : ''}
        {q.status ? `, ${q.status}` : ''}, newest first.
      </p>
      {data.runs.length === 0 ? (
        <Empty>
          {q.pipeline || q.status ? (
            <>
              No runs match these filters. <a href="/runs">Show all runs</a>.
            </>
          ) : (
            'No runs yet. Run a pipeline, or wait for its schedule.'
          )}
        </Empty>
      ) : (
        <div class="table-scroll">
          <table class="runs stack">
            <thead>
              <tr>
                <th scope="col">Queued</th>
                <th scope="col">Pipeline</th>
                <th scope="col">Trigger</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Fetched
                </th>
                <th scope="col" class="num">
                  Created
                </th>
                <th scope="col" class="num">
                  Parked
                </th>
                <th scope="col" class="num">
                  Took
                </th>
              </tr>
            </thead>
            <tbody>
              {data.runs.map((r) => (
                <tr>
                  <td data-label="Queued">
                    <a href={`/runs/${r.runId}`}>
                      <time dateTime={r.createdAt}>{formatDateTime(r.createdAt, locale)}</time>
                    </a>
                  </td>
                  <td data-label="Pipeline">{r.pipeline}</td>
                  <td data-label="Trigger">{TRIGGERS[r.trigger] ?? r.trigger}</td>
                  <td data-label="Status">
                    <StatusBadge status={r.status} />
                    {r.waiting > 0 ? (
                      <small class="muted"> {formatCount(r.waiting, locale)} waiting for the target</small>
                    ) : null}
                  </td>
                  <td data-label="Fetched" class="num">
                    {formatCount(r.counts.fetched, locale)}
                  </td>
                  <td data-label="Created" class="num">
                    {formatCount(r.counts.created, locale)}
                  </td>
                  <td data-label="Parked" class="num">
                    {formatCount(r.counts.parked, locale)}
                  </td>
                  <td data-label="Took" class="num">
                    {r.startedAt && r.finishedAt ? formatDuration(r.startedAt, r.finishedAt) : '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        path="/runs"
        query={{ pipeline: q.pipeline, status: q.status }}
        page={q.page}
        pageSize={PAGE_SIZE}
        total={data.total}
        hasNext={q.page * PAGE_SIZE < data.total}
      />
    </Layout>
  );
}

/** A run's page of records: a page that is not a page number shows the first, said so. */
export const RunRecordsQuery = z.unknown().transform((raw) => {
  const r = new QueryReader(raw);
  return { page: r.page(1_000_000), problems: r.problems };
});
const RECORDS_PAGE_SIZE = 100;

/** What a record was booked as, as the page shows it: a document's label, linked where it has a page. */
export interface BookedAs {
  /** "Sales invoice 12", a customer's code, or the target's own id. */
  label: string;
  /** The dashboard page of what was booked, when the target is the ledger; else `label` is the target's id. */
  href: string | null;
}

export interface RunRecordRow extends RunRecord {
  at: string;
  booked: BookedAs | null;
  /** The exception a parked record is in. */
  exceptionId: number | null;
}

export interface RunDetailData {
  run: Run;
  /** Who started it, as a person reads it. */
  startedBy: string;
  /** The target type of the run's pipeline (`ledger`, `xero`, …); null if unknown. */
  targetType: string | null;
  page: number;
  records: RunRecordRow[];
  hasNext: boolean;
  problems: FilterProblem[];
}

/** Record kinds the ledger target books as a transaction, whose target id is the transaction's id. */
const DOCUMENT_KINDS = new Set(['invoice', 'creditNote', 'payment', 'refund']);

/**
 * A page of a run's records, each with what it was booked as (a ledger document by its label and
 * linked, a customer linked, a remote target's id as it is) and, when parked, its exception.
 */
export async function loadRunDetail(
  db: Queryable,
  run: Run,
  page: number,
  problems: FilterProblem[] = [],
): Promise<RunDetailData> {
  const fetched = await listRunRecords(db, run.runId, RECORDS_PAGE_SIZE + 1, (page - 1) * RECORDS_PAGE_SIZE);
  const records = fetched.slice(0, RECORDS_PAGE_SIZE);
  const targetType = await runTargetType(db, run.pipelineId);
  const ledger = targetType === 'ledger';
  const documentId = (r: RunRecord) =>
    ledger && DOCUMENT_KINDS.has(r.kind) && r.targetId && /^[1-9][0-9]{0,15}$/.test(r.targetId)
      ? Number(r.targetId)
      : null;
  const ids = records.map(documentId).filter((id): id is number => id !== null);
  const parked = records.filter((r) => r.outcome === 'parked');
  const [heads, types, exceptions, startedBy] = await Promise.all([
    transactionHeads(db, run.entityId, ids),
    ids.length > 0 ? listTransactionTypes(db) : [],
    exceptionsOfParked(db, run, parked),
    actorLabel(db, run.entityId, run.createdBy),
  ]);
  const exceptionOf = new Map(parked.map((r, i) => [r, exceptions[i] ?? null]));
  const bookedAs = (r: RunRecord): BookedAs | null => {
    if (!r.targetId) return null;
    const id = documentId(r);
    const head = id === null ? undefined : heads.get(id);
    if (head) return { label: `${typeName(types, head.type)} ${head.number}`, href: `/transactions/${id}` };
    if (ledger && r.kind === 'customer')
      return { label: r.targetId, href: `/customers/${encodeURIComponent(r.targetId)}` };
    return { label: r.targetId, href: null };
  };
  return {
    run,
    startedBy,
    targetType,
    page,
    records: records.map((r) => ({ ...r, booked: bookedAs(r), exceptionId: exceptionOf.get(r) ?? null })),
    hasNext: fetched.length > RECORDS_PAGE_SIZE,
    problems,
  };
}

/** What a record was booked as: the document's label linked to its page, or the target's id named as one. */
function BookedCell(props: { booked: BookedAs | null; targetType: string | null }) {
  const { booked } = props;
  if (!booked) return <>—</>;
  if (booked.href) return <a href={booked.href}>{booked.label}</a>;
  return (
    <>
      <code>{booked.label}</code>
      <small class="muted">
        {' '}
        {props.targetType === 'ledger' ? 'id in the ledger' : `id in ${props.targetType ?? 'the target'}`}
      </small>
    </>
  );
}

/**
 * Said where the records would be once the retention policy has removed them (src/sync/retention.ts):
 * an empty table would read as a run that did nothing.
 */
function RecordsRemoved(props: { run: Run; locale: string }) {
  const { run } = props;
  const audit = `/audit?${new URLSearchParams({ objectType: 'run', objectId: run.runId }).toString()}`;
  return (
    <p class="notice" role="note">
      The outcome of each record of this run was removed on{' '}
      <time dateTime={run.recordsRemovedAt!}>{formatDateTime(run.recordsRemovedAt!, props.locale)}</time>, as history
      older than its retention is (<code>LEDGERLINK_RUN_RECORDS_RETENTION_DAYS</code>). Its counts above are kept, and
      what it created, updated or parked is still in the <a href={audit}>audit log</a>.
    </p>
  );
}

export function RunDetailPage(props: { ctx: PageContext; data: RunDetailData }) {
  const { ctx, data } = props;
  const { run } = data;
  const { locale } = ctx;
  return (
    <Layout ctx={ctx} title={`Run of ${run.pipeline}`} section="runs">
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <a href="/runs">Runs</a> › <a href={`/runs?pipeline=${encodeURIComponent(run.pipeline)}`}>{run.pipeline}</a>
      </nav>
      <h1>Run of {run.pipeline}</h1>
      <dl class="facts">
        <div>
          <dt>Run id</dt>
          <dd>
            <code>{run.runId}</code>
          </dd>
        </div>
        <div>
          <dt>Trigger</dt>
          <dd>{TRIGGERS[run.trigger] ?? run.trigger}</dd>
        </div>
        <div>
          <dt>Started by</dt>
          <dd>{data.startedBy}</dd>
        </div>
        {typeof run.params.fileName === 'string' ? (
          <div>
            <dt>File</dt>
            <dd>{run.params.fileName}</dd>
          </div>
        ) : null}
        <div>
          <dt>Queued</dt>
          <dd>
            <time dateTime={run.createdAt}>{formatDateTime(run.createdAt, locale)}</time>
          </dd>
        </div>
        <div>
          <dt>Finished</dt>
          <dd>
            {run.finishedAt ? <time dateTime={run.finishedAt}>{formatDateTime(run.finishedAt, locale)}</time> : '—'}
          </dd>
        </div>
      </dl>
      <section aria-labelledby="progress-title" class="card">
        <h2 id="progress-title">Outcome</h2>
        <div aria-live="polite">
          <RunProgress ctx={ctx} run={run} />
        </div>
      </section>
      <section aria-labelledby="records-title">
        <h2 id="records-title">Records</h2>
        <FilterProblems problems={data.problems} />
        {run.recordsRemovedAt ? <RecordsRemoved run={run} locale={locale} /> : null}
        {run.recordsRemovedAt && data.records.length === 0 ? null : data.records.length === 0 ? (
          <Empty>{data.page > 1 ? 'No more records.' : 'This run has no records (yet).'}</Empty>
        ) : (
          <div class="table-scroll">
            <table class="records stack">
              <thead>
                <tr>
                  <th scope="col">Kind</th>
                  <th scope="col">Source id</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Booked as</th>
                  <th scope="col">Message</th>
                </tr>
              </thead>
              <tbody>
                {data.records.map((r) => (
                  <tr>
                    <td data-label="Kind">{r.kind}</td>
                    <td data-label="Source id">
                      <code>{r.sourceId}</code>
                    </td>
                    <td data-label="Outcome">
                      <StatusBadge status={r.outcome} />
                      {r.exceptionId !== null ? (
                        <>
                          {' '}
                          <a href={`/exceptions/${r.exceptionId}`}>Exception {r.exceptionId}</a>
                        </>
                      ) : null}
                    </td>
                    <td data-label="Booked as">
                      <BookedCell booked={r.booked} targetType={data.targetType} />
                    </td>
                    <td data-label="Message" class="message">
                      {r.message ?? ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager
          path={`/runs/${run.runId}`}
          query={{}}
          page={data.page}
          pageSize={RECORDS_PAGE_SIZE}
          hasNext={data.hasNext}
        />
      </section>
    </Layout>
  );
}
