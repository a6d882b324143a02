import type { ComponentChildren } from 'preact';

/** Previous / next links of a list paged on the server; the other query parameters are kept. */
export function Pager(props: {
  path: string;
  query: Record<string, string | undefined>;
  page: number;
  hasNext: boolean;
  total?: number;
  pageSize: number;
}) {
  const link = (page: number) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(props.query)) if (v !== undefined && v !== '') q.set(k, v);
    q.set('page', String(page));
    return `${props.path}?${q.toString()}`;
  };
  const pages = props.total !== undefined ? Math.max(1, Math.ceil(props.total / props.pageSize)) : null;
  // One page holds it all: nothing to page through.
  if (props.page === 1 && !props.hasNext) return null;
  return (
    <nav class="pager" aria-label="Pages">
      {props.page > 1 ? (
        <a href={link(props.page - 1)} rel="prev">
          ← Previous
        </a>
      ) : (
        <span></span>
      )}
      <span>{pages !== null ? `Page ${props.page} of ${pages}` : `Page ${props.page}`}</span>
      {props.hasNext ? (
        <a href={link(props.page + 1)} rel="next">
          Next →
        </a>
      ) : (
        <span></span>
      )}
    </nav>
  );
}

const STATUS_TEXT: Record<string, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  partial: 'Partly parked',
  failed: 'Failed',
  cancelled: 'Cancelled',
  open: 'Open',
  resolved: 'Resolved',
  created: 'Created',
  updated: 'Updated',
  skipped: 'Skipped',
  parked: 'Parked',
  writtenBack: 'Written back',
};

/**
 * The links of a list paged by keyset, newest first: back to the newest page when this one is not,
 * back one page when the query string's trail says which (src/web/keyset.ts) and that is not the
 * newest, and on to older rows when there are some. Hrefs are built by the page (its own query and cursor).
 */
export function KeysetPager(props: { newest: string | null; previous: string | null; older: string | null }) {
  if (props.newest === null && props.older === null) return null;
  const previous = props.previous !== null && props.previous !== props.newest ? props.previous : null;
  return (
    <nav class="pager" aria-label="Pages">
      <span class="pager-back">
        {props.newest !== null ? <a href={props.newest}>↑ Newest</a> : null}
        {previous !== null ? (
          <a href={previous} rel="prev">
            ← Previous
          </a>
        ) : null}
      </span>
      {props.older !== null ? (
        <a href={props.older} rel="next">
          Older →
        </a>
      ) : (
        <span></span>
      )}
    </nav>
  );
}

/** A status as a word with a colour (the word carries the meaning; the colour only helps). */
export function StatusBadge(props: { status: string }) {
  return <span class={`badge badge-${props.status}`}>{STATUS_TEXT[props.status] ?? props.status}</span>;
}

/** A message for a list with nothing in it, saying why and what to do. */
export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

/**
 * Text of ours that marks commands, paths and settings with backticks (docs' Markdown habit), with
 * those shown as code rather than as literal backticks. An unpaired backtick stays as it is.
 */
export function WithCode(props: { text: string }) {
  const parts = props.text.split(/`([^`\n]+)`/);
  return <>{parts.map((part, i) => (i % 2 === 1 ? <code>{part}</code> : part))}</>;
}

/** A refusal or failure, announced to screen readers. */
export function ErrorNotice(props: { code?: string | undefined; message: string }) {
  return (
    <div class="notice notice-error" role="alert">
      <strong>{props.code === 'FORBIDDEN_ROLE' ? 'Not allowed. ' : 'Could not do that. '}</strong>
      <WithCode text={props.message} />
      {props.code ? <small class="code"> ({props.code})</small> : null}
    </div>
  );
}

/** A success message, announced politely. */
export function SuccessNotice(props: { children: ComponentChildren }) {
  return (
    <div class="notice notice-success" role="status">
      {props.children}
    </div>
  );
}
