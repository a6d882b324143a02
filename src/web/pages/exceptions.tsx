import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { ERROR_CODES } from '../../domain/errors.ts';
import { type ExceptionView, exceptionReasonCodes, listExceptions, retryBlock } from '../../sync/exceptions.ts';
import { type Pipeline, checkPipelineFilter, listPipelines } from '../../sync/pipelines.ts';
import { REASON_CODES } from '../../sync/reasons.ts';
import type { SecretBox } from '../../sync/secrets.ts';
import { Empty, ErrorNotice, Pager, StatusBadge, WithCode } from '../components/common.tsx';
import {
  FilterField,
  FilterProblems,
  type FilterProblem,
  QueryReader,
  invalidAttrs,
  quoted,
} from '../components/filters.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { roleAtLeast } from '../../domain/roles.ts';
import { formatAgo, formatCount, formatDateTime } from '../format.ts';

const PAGE_SIZE = 50;
const DAY_MS = 86_400_000;

/** The age filter: how long ago an exception was first parked. */
export const AGES = {
  day: { label: 'Less than a day', from: 0, before: 1 },
  week: { label: '1 to 7 days', from: 1, before: 7 },
  older: { label: 'More than 7 days', from: 7, before: null },
  month: { label: 'More than 30 days', from: 30, before: null },
} as const;
type Age = keyof typeof AGES;

const STATUSES = ['open', 'resolved', 'all'] as const;
const NEEDS = ['person', 'itself'] as const;

/**
 * The exceptions list's query. A value that is not one of the choices (a status, an age, a reason
 * code that cannot be one, a page that is not a page number) is set aside and said so (`problems`);
 * a pipeline the entity does not have is refused by loadExceptions.
 */
export const ExceptionsQuery = z.unknown().transform((raw) => {
  const r = new QueryReader(raw);
  const page = r.page();
  const pipeline = r.text('pipeline', 'Pipeline', 'exceptions of every pipeline are shown');
  const anyReason = 'exceptions of every reason are shown';
  let reason = r.text('reason', 'Reason', anyReason);
  if (reason !== undefined && !/^[A-Z][A-Z0-9_]{0,80}$/.test(reason)) {
    r.problem('reason', `Reason: ${quoted(reason)} is not a reason code (such as CUSTOMER_NOT_FOUND); ${anyReason}.`);
    reason = undefined;
  }
  const age = r.choice(
    'age',
    'Age',
    Object.keys(AGES) as Age[],
    'an age (day, week, older or month)',
    'exceptions of any age are shown',
  );
  /** person: only those a person must act on; itself: only those that go by themselves (`runsByItself`). */
  const needs = r.choice('needs', 'Who acts', NEEDS, 'person or itself', 'exceptions are shown whoever acts');
  const status =
    r.choice('status', 'Status', STATUSES, 'a status (open, resolved or all)', 'open exceptions are shown') ?? 'open';
  return { page, pipeline, reason, age, needs, status, matchesNothing: r.matchesNothing, problems: r.problems };
});
export type ExceptionsQuery = z.output<typeof ExceptionsQuery>;

export interface ExceptionsData {
  query: ExceptionsQuery;
  pipelines: Pipeline[];
  reasons: string[];
  items: ExceptionView[];
  total: number;
  /** Values of the query set aside, said at their field and above the list. */
  problems: FilterProblem[];
}

/** What a reason code means and what to do about it: the sync reasons, then the ledger's error codes. */
export function reasonHelp(code: string): string {
  if (Object.hasOwn(REASON_CODES, code)) return REASON_CODES[code as keyof typeof REASON_CODES];
  if (Object.hasOwn(ERROR_CODES, code)) {
    return `The ledger refused the posting: ${ERROR_CODES[code as keyof typeof ERROR_CODES][1]} Fix what the message names (in the source, or the ledger's setup), then retry the exception.`;
  }
  return 'No description of this reason is known. Read the message, fix its cause, then retry the exception.';
}

/** Why an exception cannot be retried, for a person: a short line for the list, and what to do. */
export interface NoRetry {
  short: string;
  /** What to do instead; commands and paths in backticks (shown as code). */
  text: string;
}

/**
 * Why a retry of this exception could only be refused, in words, or null when it can be retried
 * (`retryBlock`, the check retryException makes before it runs anything): the dashboard offers no
 * "Retry" that cannot work and says instead what does.
 */
export function noRetry(x: Pick<ExceptionView, 'reasonCode' | 'payload' | 'pipeline'>): NoRetry | null {
  const blocked = retryBlock(x);
  switch (blocked?.kind) {
    case undefined:
      return null;
    case 'resolved-by-hand':
      return {
        short: 'book the correction, then resolve it',
        text: 'Nothing to retry: the document is booked and never changes. Book the correction, then resolve this.',
      };
    case 'import-row': {
      const { lines, file } = blocked;
      const where =
        (lines.length ? `line${lines.length > 1 ? 's' : ''} ${lines.join(', ')} of ` : '') +
        (file === null ? 'the imported file' : `the file \`${file}\``);
      return {
        short: 'correct the file and import it again',
        text:
          `Nothing to retry: this is ${where}, which could not be read, so there is no record to send again. ` +
          `Correct it in the file and import the whole file again into pipeline \`${x.pipeline}\`: what was booked ` +
          'from it is not booked twice, the corrected row is booked and this exception is resolved by itself. Files are ' +
          `imported on the server (\`ledgerlink import FILE --pipeline ${x.pipeline}\`) or through the API ` +
          '(`POST /v1/imports`), not from the dashboard.',
      };
    }
    case 'no-record':
      return {
        short: 'fix it at the source',
        text:
          'Nothing to retry: this exception holds no record that can be sent again. Fix it at the source; the next run ' +
          `of pipeline \`${x.pipeline}\` that brings the record books it and resolves this. Or resolve it with a note.`,
      };
  }
}

export async function loadExceptions(
  db: Queryable,
  box: SecretBox,
  entityId: string,
  query: ExceptionsQuery,
  now: Date,
): Promise<ExceptionsData> {
  if (query.matchesNothing) {
    const [pipelines, reasons] = await Promise.all([
      listPipelines(db, box, entityId),
      exceptionReasonCodes(db, entityId),
    ]);
    return { query, pipelines, reasons, items: [], total: 0, problems: query.problems };
  }
  await checkPipelineFilter(db, query.pipeline, entityId, 'pipeline');
  const age = query.age ? AGES[query.age] : null;
  const at = (days: number) => new Date(now.getTime() - days * DAY_MS).toISOString();
  const status = query.status === 'all' ? undefined : query.status;
  const [pipelines, reasons, list] = await Promise.all([
    listPipelines(db, box, entityId),
    exceptionReasonCodes(db, entityId),
    listExceptions(db, {
      entityId,
      pipeline: query.pipeline,
      status,
      reasonCode: query.reason,
      runsByItself: query.needs === undefined ? undefined : query.needs === 'itself',
      // Older than `from` days means created before now − from; younger than `before` days, at or after now − before.
      createdBefore: age && age.from > 0 ? at(age.from) : undefined,
      createdFrom: age && age.before !== null ? at(age.before) : undefined,
      limit: PAGE_SIZE,
      offset: (query.page - 1) * PAGE_SIZE,
    }),
  ]);
  return { query, pipelines, reasons, items: list.items, total: list.total, problems: query.problems };
}

/** What the bulk retry did to each exception it was given. */
export interface RetryResult {
  id: number;
  outcome: 'resolved' | 'open' | 'refused';
  message: string;
}

export function RetryResults(props: { results: RetryResult[] }) {
  const done = props.results.filter((r) => r.outcome === 'resolved').length;
  return (
    <div class={done === props.results.length ? 'notice notice-success' : 'notice notice-warning'} role="status">
      <p>
        <strong>
          Retried {props.results.length}: {done} went through, {props.results.length - done} still open.
        </strong>
      </p>
      <ul>
        {props.results.map((r) => (
          <li>
            <a href={`/exceptions/${r.id}`}>Exception {r.id}</a>: <WithCode text={r.message} />
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The list with its bulk-retry form: what htmx swaps after a bulk retry. */
export function ExceptionsRegion(props: {
  ctx: PageContext;
  data: ExceptionsData;
  results?: RetryResult[];
  /** A bulk retry refused as a whole (nothing selected, too many): in place of the results. */
  refusal?: { code: string; message: string } | undefined;
}) {
  const { ctx, data } = props;
  const { locale, now } = ctx;
  const q = data.query;
  const canChange = roleAtLeast(ctx.viewer.role, 'accountant');
  const blocked = new Map(data.items.map((x) => [x.id, x.status === 'open' ? noRetry(x) : null]));
  const retryable = (x: ExceptionView) => x.status === 'open' && blocked.get(x.id) === null;
  const selectable = canChange && q.status !== 'resolved' && data.items.some(retryable);
  const filtered = q.pipeline || q.reason || q.age || q.needs || q.status !== 'open';
  return (
    <div id="exceptions-region">
      {props.refusal ? <ErrorNotice code={props.refusal.code} message={props.refusal.message} /> : null}
      {props.results ? <RetryResults results={props.results} /> : null}
      <p class="muted" role="status">
        {formatCount(data.total, locale)} {data.total === 1 ? 'exception' : 'exceptions'}
        {q.status !== 'all' ? ` ${q.status}` : ''}, oldest first.
      </p>
      {data.items.length === 0 ? (
        <Empty>
          {filtered ? (
            <>
              No exceptions match these filters. <a href="/exceptions">Show the open ones</a>.
            </>
          ) : (
            'No open exceptions: every record went through.'
          )}
        </Empty>
      ) : (
        <form
          hx-post="/exceptions/retry"
          hx-target="#exceptions-region"
          hx-swap="outerHTML"
          hx-disabled-elt="find button[type=submit]"
          aria-label="Exceptions"
        >
          <input type="hidden" name="_csrf" value={ctx.viewer.csrfToken ?? ''} />
          {(['pipeline', 'reason', 'age', 'needs', 'status', 'page'] as const).map((k) =>
            q[k] !== undefined ? <input type="hidden" name={`filter.${k}`} value={String(q[k])} /> : null,
          )}
          <div class="table-scroll">
            <table class="exceptions stack">
              <thead>
                <tr>
                  {selectable ? (
                    <th scope="col">
                      <span class="visually-hidden">Select</span>
                    </th>
                  ) : null}
                  <th scope="col">Exception</th>
                  <th scope="col">Pipeline</th>
                  <th scope="col">Record</th>
                  <th scope="col">Reason</th>
                  <th scope="col">First parked</th>
                  <th scope="col" class="num">
                    Attempts
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((x) => (
                  <tr>
                    {selectable ? (
                      <td data-label="Select">
                        {retryable(x) ? (
                          <input
                            type="checkbox"
                            name="id"
                            value={String(x.id)}
                            id={`select-${x.id}`}
                            aria-label={`Select exception ${x.id}`}
                          />
                        ) : null}
                      </td>
                    ) : null}
                    <td data-label="Exception">
                      <a href={`/exceptions/${x.id}`}>#{x.id}</a> <StatusBadge status={x.status} />
                    </td>
                    <td data-label="Pipeline">{x.pipeline}</td>
                    <td data-label="Record">
                      {x.kind} <code>{x.sourceId}</code>
                    </td>
                    <td data-label="Reason" class="message">
                      <code>{x.reasonCode}</code>
                      {x.status === 'open' && x.runsByItself ? (
                        <>
                          {' '}
                          <span class="badge badge-itself">Goes by itself</span>
                        </>
                      ) : null}
                      <br />
                      <small>{x.message}</small>
                      {blocked.get(x.id) ? (
                        <>
                          <br />
                          <small class="no-retry">
                            <strong>Cannot be retried:</strong> {blocked.get(x.id)!.short}.
                          </small>
                        </>
                      ) : null}
                    </td>
                    <td data-label="First parked">
                      <time dateTime={x.createdAt} title={formatDateTime(x.createdAt, locale)}>
                        {formatAgo(x.createdAt, now, locale)}
                      </time>
                    </td>
                    <td data-label="Attempts" class="num">
                      {formatCount(x.attempts, locale)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {selectable ? (
            <button type="submit" class="bulk-retry">
              Retry selected
            </button>
          ) : null}
        </form>
      )}
      <Pager
        path="/exceptions"
        query={{ pipeline: q.pipeline, reason: q.reason, age: q.age, needs: q.needs, status: q.status }}
        page={q.page}
        pageSize={PAGE_SIZE}
        total={data.total}
        hasNext={q.page * PAGE_SIZE < data.total}
      />
    </div>
  );
}

export function ExceptionsPage(props: { ctx: PageContext; data: ExceptionsData }) {
  const { ctx, data } = props;
  const q = data.query;
  const reasons = q.reason && !data.reasons.includes(q.reason) ? [...data.reasons, q.reason] : data.reasons;
  return (
    <Layout ctx={ctx} title="Exceptions" section="exceptions">
      <h1>Exceptions</h1>
      <p class="lead">
        Records a pipeline could not book, and why. Fix the cause, then retry; or resolve with a note when it is booked
        by hand or not to be booked.
      </p>
      <form method="get" action="/exceptions" class="filters" role="search" aria-label="Filter exceptions">
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
        <FilterField problems={data.problems} field="reason">
          Reason
          <select name="reason" {...invalidAttrs(data.problems, 'reason')}>
            <option value="">Any reason</option>
            {reasons.map((r) => (
              <option value={r} selected={r === q.reason}>
                {r}
              </option>
            ))}
          </select>
        </FilterField>
        <FilterField problems={data.problems} field="age">
          Age
          <select name="age" {...invalidAttrs(data.problems, 'age')}>
            <option value="">Any age</option>
            {(Object.keys(AGES) as Age[]).map((a) => (
              <option value={a} selected={a === q.age}>
                {AGES[a].label}
              </option>
            ))}
          </select>
        </FilterField>
        <FilterField problems={data.problems} field="needs">
          Who acts
          <select name="needs" {...invalidAttrs(data.problems, 'needs')}>
            <option value="">Anyone</option>
            <option value="person" selected={q.needs === 'person'}>
              A person must act
            </option>
            <option value="itself" selected={q.needs === 'itself'}>
              Goes by itself
            </option>
          </select>
        </FilterField>
        <FilterField problems={data.problems} field="status">
          Status
          <select name="status" {...invalidAttrs(data.problems, 'status')}>
            <option value="open" selected={q.status === 'open'}>
              Open
            </option>
            <option value="resolved" selected={q.status === 'resolved'}>
              Resolved
            </option>
            <option value="all" selected={q.status === 'all'}>
              All
            </option>
          </select>
        </FilterField>
        <button type="submit">Filter</button>
      </form>
      <FilterProblems problems={data.problems} />
      <ExceptionsRegion ctx={ctx} data={data} />
    </Layout>
  );
}
