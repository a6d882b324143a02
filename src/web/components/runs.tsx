import type { Run } from '../../sync/runs.ts';
import type { PageContext } from '../context.ts';
import { roleAtLeast } from '../../domain/roles.ts';
import { formatCount, formatDateTime, formatDuration } from '../format.ts';
import { StatusBadge } from './common.tsx';

export const FINISHED = new Set(['succeeded', 'partial', 'failed', 'cancelled']);

/** Where a pipeline's live progress is shown, by name (names are `[a-z0-9_-]`). */
export function progressId(pipeline: string): string {
  return `progress-${pipeline}`;
}

/** The "Run now" button of a pipeline for those who may run it; nothing for a viewer. */
export function RunNowButton(props: { ctx: PageContext; pipeline: string; enabled: boolean }) {
  if (!roleAtLeast(props.ctx.viewer.role, 'accountant')) return null;
  if (!props.enabled) return <small class="muted">Disabled</small>;
  return (
    <button
      type="button"
      class="run-now"
      hx-post={`/pipelines/${props.pipeline}/run`}
      hx-target={`#${progressId(props.pipeline)}`}
      hx-swap="innerHTML"
      hx-disabled-elt="this"
      aria-describedby={progressId(props.pipeline)}
    >
      Run {props.pipeline} now
    </button>
  );
}

/**
 * Cancelling a live run, for those who may run it: it ends at once when nobody works it, else after
 * the page in hand (src/sync/run-cancel.ts), an import too. Once asked, what is under way says so
 * instead. An exception retry works one record for its request, and has no button.
 */
function CancelRun(props: { ctx: PageContext; run: Run }) {
  const { run } = props;
  if (run.cancelRequestedAt)
    return (
      <p class="muted" role="status">
        Cancelling: it stops after the page in hand.
      </p>
    );
  if (!roleAtLeast(props.ctx.viewer.role, 'accountant') || run.trigger === 'retry') return null;
  const after =
    run.trigger === 'import'
      ? 'What it posted is kept; import the file again to post the rest.'
      : 'What it posted is kept; the next run reads on.';
  return (
    <button
      type="button"
      class="secondary cancel-run"
      hx-post={`/runs/${run.runId}/cancel`}
      hx-target="closest .run-progress"
      hx-swap="outerHTML"
      hx-disabled-elt="this"
      hx-confirm={`Cancel this run of ${run.pipeline}? ${after}`}
    >
      Cancel run
    </button>
  );
}

/**
 * A run's status and counts. While the run is queued or running, htmx fetches this fragment again
 * every second in its place, and every ten while documents of a finished run still wait for the
 * target; once none does, the answer has no trigger and the polling stops.
 */
export function RunProgress(props: { ctx: PageContext; run: Run }) {
  const { run, ctx } = props;
  const live = !FINISHED.has(run.status);
  const c = run.counts;
  const n = (v: number) => formatCount(v, ctx.locale);
  return (
    <div
      class="run-progress"
      data-run={run.runId}
      data-status={run.status}
      {...(live || run.waiting > 0
        ? // Documents still on their way go through on the workers' timer: looked at again less often.
          {
            'hx-get': `/runs/${run.runId}/progress`,
            'hx-trigger': live ? 'every 1s' : 'every 10s',
            'hx-swap': 'outerHTML',
          }
        : {})}
    >
      <p>
        <StatusBadge status={run.status} />{' '}
        <a href={`/runs/${run.runId}`}>
          Run of {run.pipeline}, {formatDateTime(run.createdAt, ctx.locale)}
        </a>
        {run.startedAt && run.finishedAt ? ` · took ${formatDuration(run.startedAt, run.finishedAt)}` : null}
      </p>
      {live ? <progress aria-label={`Run of ${run.pipeline} in progress`}></progress> : null}
      {live ? <CancelRun ctx={ctx} run={run} /> : null}
      <dl class="counts">
        <div>
          <dt>Fetched</dt>
          <dd class="num">{n(c.fetched)}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd class="num">{n(c.created)}</dd>
        </div>
        <div>
          <dt>Updated</dt>
          <dd class="num">{n(c.updated)}</dd>
        </div>
        <div>
          <dt>Skipped</dt>
          <dd class="num">{n(c.skipped)}</dd>
        </div>
        <div>
          <dt>Parked</dt>
          <dd class="num">{n(c.parked)}</dd>
        </div>
        {run.waiting > 0 ? (
          <div>
            <dt>Waiting</dt>
            <dd class="num">{n(run.waiting)}</dd>
          </div>
        ) : null}
      </dl>
      {run.error && run.waiting > 0 ? (
        // On their way, not failed: what becomes of them is added to this run as it happens.
        <p class="notice notice-warning" role="status">
          {run.error}
        </p>
      ) : run.error ? (
        <p class="notice notice-error" role="alert">
          {run.error}
        </p>
      ) : null}
      {!live && c.parked > 0 ? (
        <p>
          <a href={`/exceptions?pipeline=${encodeURIComponent(run.pipeline)}`}>See the parked records</a>
        </p>
      ) : null}
    </div>
  );
}
