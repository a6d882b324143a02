import type { ComponentChildren } from 'preact';
import type { ExceptionView } from '../../sync/exceptions.ts';
import { StatusBadge, WithCode } from '../components/common.tsx';
import { FieldError, type FieldProblem, type FieldWords, invalidAttributes } from '../components/field-errors.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { roleAtLeast } from '../../domain/roles.ts';
import { formatAgo, formatCount, formatDateTime } from '../format.ts';
import { noRetry, reasonHelp } from './exceptions.tsx';

/** How the resolve form speaks of its note. */
export const RESOLVE_WORDS: Record<string, FieldWords> = {
  note: { label: 'Note', missing: 'Write a note saying why it is resolved (for example, how it was booked)' },
};

/** An exception with who resolved it as a person reads it. */
export type Exception = ExceptionView & { pipelineId: string; entityId: string; resolvedByLabel?: string };

function json(value: unknown): string {
  return value === undefined ? '(none)' : JSON.stringify(value, null, 2);
}

/**
 * The exception's status, reason and actions: what htmx swaps after a retry or a resolve, with the
 * outcome in `notice` (replacing an earlier one) or, for a note refused, the problem beside the note.
 */
export function ExceptionPanel(props: {
  ctx: PageContext;
  x: Exception;
  notice?: ComponentChildren;
  noteProblem?: FieldProblem | undefined;
  /** The note as typed, kept when it was refused. */
  note?: string | undefined;
}) {
  const { ctx, x } = props;
  const { locale, now } = ctx;
  const canChange = roleAtLeast(ctx.viewer.role, 'accountant') && x.status === 'open';
  const blocked = x.status === 'open' ? noRetry(x) : null;
  return (
    <div id="exception-panel">
      {props.notice}
      <section aria-labelledby="reason-title" class="card reason">
        <h2 id="reason-title">
          <StatusBadge status={x.status} /> <code>{x.reasonCode}</code>
        </h2>
        <p class="message">{x.message}</p>
        {x.field ? (
          <p>
            Field at fault: <code>{x.field}</code>
          </p>
        ) : null}
        <h3>What to do</h3>
        <p>
          <WithCode text={reasonHelp(x.reasonCode)} />
        </p>
        <dl class="facts">
          <div>
            <dt>First parked</dt>
            <dd>
              <time dateTime={x.createdAt}>{formatDateTime(x.createdAt, locale)}</time> (
              {formatAgo(x.createdAt, now, locale)})
            </dd>
          </div>
          <div>
            <dt>Attempts</dt>
            <dd>{formatCount(x.attempts, locale)}</dd>
          </div>
          {x.runId ? (
            <div>
              <dt>Last run</dt>
              <dd>
                <a href={`/runs/${x.runId}`}>Open the run</a>
              </dd>
            </div>
          ) : null}
          {x.status === 'resolved' ? (
            <div>
              <dt>Resolved</dt>
              <dd>
                {x.resolvedAt ? formatDateTime(x.resolvedAt, locale) : ''} by{' '}
                {x.resolvedByLabel ?? x.resolvedBy ?? 'unknown'}
                {x.note ? `: ${x.note}` : ''}
              </dd>
            </div>
          ) : null}
        </dl>
      </section>
      {canChange ? (
        <section aria-labelledby="actions-title" class="card actions-card">
          <h2 id="actions-title">Fix it</h2>
          {blocked ? (
            <p class="no-retry">
              <WithCode text={blocked.text} />
            </p>
          ) : (
            <div class="action-row">
              <button
                type="button"
                class="retry"
                hx-post={`/exceptions/${x.id}/retry`}
                hx-target="#exception-panel"
                hx-swap="outerHTML"
                hx-disabled-elt="this"
              >
                Retry now
              </button>
              <p class="muted">Once its cause is fixed, the record is processed again (never booked twice).</p>
            </div>
          )}
          <form
            class="resolve"
            hx-post={`/exceptions/${x.id}/resolve`}
            hx-target="#exception-panel"
            hx-swap="outerHTML"
            hx-disabled-elt="find button"
          >
            <input type="hidden" name="_csrf" value={ctx.viewer.csrfToken ?? ''} />
            <label for="resolve-note">{blocked ? 'Resolve it with a note' : 'Or resolve it with a note'}</label>
            <textarea
              id="resolve-note"
              name="note"
              required
              maxLength={1000}
              rows={2}
              placeholder="For example: booked by hand as invoice 1042"
              {...invalidAttributes('resolve-note-error', props.noteProblem)}
            >
              {props.note ?? ''}
            </textarea>
            <FieldError id="resolve-note-error" problem={props.noteProblem} />
            <button type="submit" class="secondary">
              Resolve
            </button>
          </form>
        </section>
      ) : null}
    </div>
  );
}

export function ExceptionDetailPage(props: { ctx: PageContext; x: Exception }) {
  const { ctx, x } = props;
  const payload = (x.payload ?? {}) as { record?: unknown; raw?: unknown };
  return (
    <Layout ctx={ctx} title={`Exception ${x.id}`} section="exceptions">
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <a href="/exceptions">Exceptions</a> ›{' '}
        <a href={`/exceptions?pipeline=${encodeURIComponent(x.pipeline)}`}>{x.pipeline}</a>
      </nav>
      <h1>
        Exception {x.id}: {x.kind} <code>{x.sourceId}</code>
      </h1>
      <ExceptionPanel ctx={ctx} x={x} />
      <section aria-labelledby="data-title">
        <h2 id="data-title">The record</h2>
        <div class="side-by-side">
          <div>
            <h3 id="raw-title">As the source sent it</h3>
            <pre class="json" tabindex={0} aria-labelledby="raw-title">
              {json(payload.raw)}
            </pre>
          </div>
          <div>
            <h3 id="record-title">As ledgerlink read it</h3>
            <pre class="json" tabindex={0} aria-labelledby="record-title">
              {json(payload.record)}
            </pre>
          </div>
        </div>
      </section>
    </Layout>
  );
}
