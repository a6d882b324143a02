import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { type Pipeline, checkPipelineFilter, listPipelines } from '../../sync/pipelines.ts';
import { type Run, type RunRecord, listRunRecords, listRuns } from '../../sync/runs.ts';
import type { SecretBox } from '../../sync/secrets.ts';
import { actorLabel } from '../actors.ts';
import { Empty, Pager, StatusBadge } from '../components/common.tsx';
import { Layout } from '../components/layout.tsx';
import { RunNowButton, RunProgress, progressId } from '../components/runs.tsx';
import type { PageContext } from '../context.ts';
import { formatCount, formatDateTime, formatDuration } from '../format.ts';

const STATUSES = ['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled'] as const;
const PAGE_SIZE = 50;

/** The runs list's query: a value that is not one of the choices is ignored, never a failure. */
export const RunsQuery = z.object({
  page: z.coerce.number().int().min(1).max(100_000).catch(1).default(1),
  pipeline: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/)
    .optional()
    .catch(undefined),
  status: z.enum(STATUSES).optional().catch(undefined),
});
type RunsQuery = z.output<typeof RunsQuery>;

export interface RunsData {
  query: RunsQuery;
  pipelines: Pipeline[];
  runs: Run[];
  total: number;
}

export async function loadRuns(db: Queryable, box: SecretBox, entityId: string, query: RunsQuery): Promise<RunsData> {
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
  return { query, pipelines, runs: runs.items, total: runs.total };
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
        <label>
          Pipeline
          <select name="pipeline">
            <option value="">All pipelines</option>
            {data.pipelines.map((p) => (
              <option value={p.name} selected={p.name === q.pipeline}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select name="status">
            <option value="">Any status</option>
            {STATUSES.map((s) => (
              <option value={s} selected={s === q.status}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
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

export const RunRecordsQuery = z.object({
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1).default(1),
});
const RECORDS_PAGE_SIZE = 100;

export interface RunDetailData {
  run: Run;
  /** Who started it, as a person reads it. */
  startedBy: string;
  page: number;
  records: (RunRecord & { at: string })[];
  hasNext: boolean;
}

export async function loadRunDetail(db: Queryable, run: Run, page: number): Promise<RunDetailData> {
  const records = await listRunRecords(db, run.runId, RECORDS_PAGE_SIZE + 1, (page - 1) * RECORDS_PAGE_SIZE);
  return {
    run,
    startedBy: await actorLabel(db, run.entityId, run.createdBy),
    page,
    records: records.slice(0, RECORDS_PAGE_SIZE),
    hasNext: records.length > RECORDS_PAGE_SIZE,
  };
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
                    </td>
                    <td data-label="Booked as">{r.targetId ?? '—'}</td>
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
