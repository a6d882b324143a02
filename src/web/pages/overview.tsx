import type { Queryable } from '../../db/database.ts';
import { today } from '../../domain/dates.ts';
import { type ReceivablesAging, receivablesAging } from '../../ledger/reports/receivables.ts';
import { type HourlyCount, documentsPerHour } from '../../sync/activity.ts';
import { listExceptions } from '../../sync/exceptions.ts';
import { listPipelines } from '../../sync/pipelines.ts';
import { type Run, listRuns } from '../../sync/runs.ts';
import { nextFire } from '../../sync/schedule.ts';
import type { SecretBox } from '../../sync/secrets.ts';
import { AgingChart, agingBars } from '../components/aging.tsx';
import { BarChart } from '../components/chart.tsx';
import { Empty, StatusBadge } from '../components/common.tsx';
import { Layout } from '../components/layout.tsx';
import { RunNowButton, progressId } from '../components/runs.tsx';
import type { PageContext } from '../context.ts';
import { formatAgo, formatCount, formatDateTime, formatHour, formatMinor } from '../format.ts';

interface PipelineRow {
  name: string;
  source: string;
  target: string;
  enabled: boolean;
  schedule: string | null;
  lastRun: Run | null;
  nextRun: string | null;
}

export interface OverviewData {
  pipelines: PipelineRow[];
  perHour: HourlyCount[];
  openExceptions: number;
  /** Of those, the ones a person must act on (the rest go by themselves once what they need is booked). */
  needPerson: number;
  receivables: ReceivablesAging[];
}

/** Everything the overview shows, from the functions the API's routes use. */
export async function loadOverview(db: Queryable, box: SecretBox, entityId: string, now: Date): Promise<OverviewData> {
  const pipelines = await listPipelines(db, box, entityId);
  const rows = await Promise.all(
    pipelines.map(async (p): Promise<PipelineRow> => {
      const last = await listRuns(db, { entityId, pipeline: p.name, limit: 1, offset: 0 });
      return {
        name: p.name,
        source: p.sourceType,
        target: p.targetType,
        enabled: p.enabled,
        schedule: p.schedule,
        lastRun: last.items[0] ?? null,
        nextRun: p.enabled && p.schedule ? nextFire(p.schedule, now) : null,
      };
    }),
  );
  const [perHour, open, needPerson, receivables] = await Promise.all([
    documentsPerHour(db, entityId, now),
    listExceptions(db, { entityId, status: 'open', limit: 0, offset: 0 }),
    listExceptions(db, { entityId, status: 'open', runsByItself: false, limit: 0, offset: 0 }),
    receivablesAging(db, entityId, today(now)),
  ]);
  return { pipelines: rows, perHour, openExceptions: open.total, needPerson: needPerson.total, receivables };
}

/** How many exceptions go by themselves, said in a sentence's second half. */
function byThemselves(n: number, locale: string): string {
  return n === 1
    ? '1 will go by itself once what it needs is booked.'
    : `${formatCount(n, locale)} will go by themselves once what they need is booked.`;
}

export function OverviewPage(props: { ctx: PageContext; data: OverviewData }) {
  const { ctx, data } = props;
  const { locale, now } = ctx;
  const posted = data.perHour.reduce((s, h) => s + h.documents, 0);
  return (
    <Layout ctx={ctx} title="Overview" section="overview">
      <h1>Overview</h1>
      <section aria-labelledby="pipelines-title">
        <h2 id="pipelines-title">Pipelines</h2>
        {data.pipelines.length === 0 ? (
          <Empty>
            No pipelines yet. Define one in ledgerlink.yaml or with <code>PUT /v1/pipelines/&#123;name&#125;</code> (see
            docs/sync.md).
          </Empty>
        ) : (
          <div class="table-scroll">
            <table class="pipelines stack">
              <thead>
                <tr>
                  <th scope="col">Pipeline</th>
                  <th scope="col">Last run</th>
                  <th scope="col">Status</th>
                  <th scope="col">Next scheduled run</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.pipelines.map((p) => (
                  <tr>
                    <th scope="row">
                      <a href={`/runs?pipeline=${encodeURIComponent(p.name)}`}>{p.name}</a>
                      <br />
                      <small class="muted">
                        {p.source} → {p.target}
                      </small>
                    </th>
                    <td data-label="Last run">
                      {p.lastRun ? (
                        <a href={`/runs/${p.lastRun.runId}`}>
                          <time dateTime={p.lastRun.finishedAt ?? p.lastRun.createdAt}>
                            {formatAgo(p.lastRun.finishedAt ?? p.lastRun.createdAt, now, locale)}
                          </time>
                        </a>
                      ) : (
                        <span class="muted">Never run</span>
                      )}
                    </td>
                    <td data-label="Status">
                      {p.lastRun ? <StatusBadge status={p.lastRun.status} /> : <span class="muted">—</span>}
                    </td>
                    <td data-label="Next run">
                      {p.nextRun ? (
                        <time dateTime={p.nextRun}>{formatDateTime(p.nextRun, locale)}</time>
                      ) : (
                        <span class="muted">{p.enabled ? 'No schedule' : 'Disabled'}</span>
                      )}
                    </td>
                    <td data-label="Run" class="actions">
                      <RunNowButton ctx={ctx} pipeline={p.name} enabled={p.enabled} />
                      <div id={progressId(p.name)} class="progress-slot" aria-live="polite"></div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <div class="grid-2">
        <section aria-labelledby="exceptions-title" class="card">
          <h2 id="exceptions-title">Open exceptions</h2>
          <p class="big-number">
            <a href="/exceptions?status=open">
              {formatCount(data.openExceptions, locale)}
              <span class="visually-hidden"> open exceptions: see them</span>
            </a>
          </p>
          <p class="muted">
            {data.openExceptions === 0
              ? 'Nothing is stuck.'
              : 'Records that could not be booked. Open one to see why and what to do.'}
          </p>
          {data.openExceptions > 0 ? (
            <p>
              <a href="/exceptions?needs=person">
                {formatCount(data.needPerson, locale)} {data.needPerson === 1 ? 'needs' : 'need'} a person
              </a>
              {data.openExceptions > data.needPerson
                ? `; ${byThemselves(data.openExceptions - data.needPerson, locale)}`
                : '.'}
            </p>
          ) : null}
        </section>
        <section aria-labelledby="posted-title" class="card">
          <h2 id="posted-title">Documents posted</h2>
          <p class="muted">
            {formatCount(posted, locale)} in the last 24 hours (hours in UTC; invoices, receipts and other documents
            created by runs).
          </p>
          {posted === 0 ? (
            <Empty>No documents were posted in the last 24 hours.</Empty>
          ) : (
            <BarChart
              id="posted-chart"
              title="Documents posted per hour, last 24 hours"
              labelHeader="Hour (UTC)"
              valueLabel="Documents"
              labelEvery={6}
              bars={data.perHour.map((h) => ({
                label: formatHour(h.hour, locale),
                value: h.documents,
                display: formatCount(h.documents, locale),
              }))}
            />
          )}
        </section>
      </div>
      <section aria-labelledby="receivables-title">
        <h2 id="receivables-title">Accounts receivable</h2>
        {data.receivables.length === 0 ? (
          <Empty>Customers owe nothing: there are no open items.</Empty>
        ) : (
          <div class="grid-2">
            {data.receivables.map((r) => (
              <div class="card">
                <p class="big-number num">{formatMinor(r.balance, r.currency, locale)}</p>
                <p class="muted">
                  Owed by {formatCount(r.customers, locale)} {r.customers === 1 ? 'customer' : 'customers'} in{' '}
                  {r.currency}, aged on due dates. <a href="/aged-debtors">By customer</a>
                </p>
                <AgingChart
                  id={`aging-${r.currency}`}
                  title={`Aging of receivables in ${r.currency}`}
                  valueLabel={`Amount (${r.currency})`}
                  bars={agingBars(r.aging, (v) => formatMinor(v, r.currency, locale))}
                />
              </div>
            ))}
          </div>
        )}
      </section>
    </Layout>
  );
}
