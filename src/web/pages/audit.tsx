import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { type AuditRecord, listAudit } from '../../ledger/audit.ts';
import { findMemberByEmail } from '../../ledger/users.ts';
import { actorLabel } from '../actors.ts';
import { Empty, KeysetPager } from '../components/common.tsx';
import {
  FilterField,
  FilterProblems,
  type FilterProblem,
  QueryReader,
  SearchPanel,
  invalidAttrs,
  quoted,
} from '../components/filters.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { formatCount, formatDate, formatDateTime } from '../format.ts';
import { type KeysetStep, backParam, olderBack, parseBack, previousStep } from '../keyset.ts';

export const AUDIT_PAGE_SIZE = 50;

/** A keyset cursor: the id of the last entry of a page. */
const CURSOR = /^[1-9]\d{0,15}$/;
/** The longest value a search field takes: far beyond any actor, action, object or request id. */
const SEARCH_MAX = 1000;

/**
 * The audit search as the address gives it. What cannot be a value (a date that is not one) is set
 * aside and said so (`problems`, at its field and above the list), never dropped in silence.
 * `before` is the keyset cursor, `back` the cursors of the pages before this one (src/web/keyset.ts).
 */
export const AuditQuery = z.unknown().transform((raw) => {
  const r = new QueryReader(raw);
  const without = 'the entries are shown without this filter';
  let matchesNothing = false;
  const exact = (field: string, label: string) => {
    const value = r.text(field, label, without);
    if (value === undefined || [...value].length <= SEARCH_MAX) return value;
    r.problem(
      field,
      `${label}: ${quoted(value)} is longer than a search takes (at most ${SEARCH_MAX} characters); nothing is searched.`,
    );
    matchesNothing = true;
    return value;
  };
  const actor = exact('actor', 'Actor');
  const action = exact('action', 'Action');
  const objectType = exact('objectType', 'Object type');
  const objectId = exact('objectId', 'Object id');
  const requestId = exact('requestId', 'Request id');
  const from = r.date('from', 'From', without);
  const to = r.date('to', 'To', without);
  const before = r.positive('before', 'The page', 'a page of this list', 'the newest page is shown');
  const back = parseBack(
    (raw as Record<string, unknown> | null)?.back,
    (s) => CURSOR.test(s) && Number.isSafeInteger(Number(s)),
  );
  return {
    actor,
    action,
    objectType,
    objectId,
    requestId,
    from,
    to,
    before,
    back,
    matchesNothing: matchesNothing || r.matchesNothing,
    problems: r.problems,
  };
});
export type AuditQuery = z.output<typeof AuditQuery>;

export interface AuditData {
  query: AuditQuery;
  items: (AuditRecord & { actorLabel: string })[];
  nextCursor: number | null;
  problem: string | null;
  /** Values of the search set aside, each said at its field and above the list. */
  problems: FilterProblem[];
}

/**
 * The entity's audit trail newest first, searched by actor (an e-mail of a member, or the actor as
 * recorded: `user:<id>`, `pipeline:<name>`, `cli`…), action, object, request id and dates (UTC),
 * paged by keyset (`query.before`).
 */
export async function loadAudit(db: Queryable, entityId: string, query: AuditQuery): Promise<AuditData> {
  const none = { query, items: [], nextCursor: null, problems: query.problems };
  if (query.matchesNothing) return { ...none, problem: null };
  let actor = query.actor;
  if (actor?.includes('@')) {
    const member = await findMemberByEmail(db, entityId, actor);
    if (!member) return { ...none, problem: `No user of this entity has the e-mail ${actor}.` };
    actor = `user:${member.id}`;
  }
  if (query.from && query.to && query.from > query.to) {
    return { ...none, problem: 'The “from” date is after the “to” date.' };
  }
  const page = await listAudit(db, {
    entityId,
    actor,
    action: query.action,
    objectType: query.objectType,
    objectId: query.objectId,
    requestId: query.requestId,
    from: query.from,
    to: query.to,
    before: query.before,
    page: 1,
    pageSize: AUDIT_PAGE_SIZE,
    count: false,
  });
  const labels = new Map<string, string>();
  for (const e of page.items) if (!labels.has(e.actor)) labels.set(e.actor, await actorLabel(db, entityId, e.actor));
  return {
    query,
    items: page.items.map((e) => ({ ...e, actorLabel: labels.get(e.actor) ?? e.actor })),
    nextCursor: page.nextCursor,
    problem: null,
    problems: query.problems,
  };
}

// Audit entries are written without secrets ("[secret]" in their place); a field named like one is
// hidden here too, so an entry written by a careless future change cannot show one.
const SECRET_NAME = /password|secret|token|api_?key|private_?key|credential|authorization|cookie/i;
const HIDDEN = '[secret]';

type Flat = Map<string, unknown>;

/** The value with every field named like a secret hidden, however deep, in lists too. */
function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SECRET_NAME.test(k) && v !== null && v !== false ? HIDDEN : redact(v)]),
  );
}

/** An object's fields as dotted paths (`address.city`), nested objects field by field; lists are values. */
function flatten(value: unknown, prefix = '', out: Flat = new Map()): Flat {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    if (prefix && Object.keys(value).length === 0) out.set(prefix, {});
  } else {
    out.set(prefix || '(value)', value);
  }
  return out;
}

export interface AuditDiffRow {
  field: string;
  /** The values as recorded (secrets hidden); undefined where the field was absent. */
  before: unknown;
  after: unknown;
  changed: boolean;
}

/** One row per field of before and after; a field whose value differs is marked "changed". */
export function auditDiff(before: unknown, after: unknown): AuditDiffRow[] {
  const b = before === null || before === undefined ? (new Map() as Flat) : flatten(redact(before));
  const a = after === null || after === undefined ? (new Map() as Flat) : flatten(redact(after));
  const fields = [...new Set([...b.keys(), ...a.keys()])];
  return fields.map((field) => {
    const was = b.get(field);
    const now = a.get(field);
    return {
      field,
      before: was,
      after: now,
      changed: before !== null && before !== undefined && JSON.stringify(was) !== JSON.stringify(now),
    };
  });
}

/** An instant as the API writes it (ISO 8601 with a zone); business dates (YYYY-MM-DD) stay as they are. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
/** A list longer than this is folded under its count. */
const LIST_SHOWN = 5;

/**
 * A recorded value as a person reads it: an instant as the dashboard writes times (UTC, said so),
 * a list as a list (folded under its count when long), an object in a list field by field.
 */
export function AuditValue(props: { value: unknown; locale: string }) {
  const { value: v, locale } = props;
  if (v === undefined) return null;
  if (v === null) return <span class="muted">—</span>;
  if (typeof v === 'string') {
    if (TIMESTAMP.test(v) && !Number.isNaN(Date.parse(v))) return <time dateTime={v}>{formatDateTime(v, locale)}</time>;
    return <>{v}</>;
  }
  if (Array.isArray(v)) {
    const items: unknown[] = v;
    if (items.length === 0) return <span class="muted">none (an empty list)</span>;
    const list = (
      <ul class="audit-list">
        {items.map((item) => (
          <li>
            <AuditValue value={item} locale={locale} />
          </li>
        ))}
      </ul>
    );
    if (items.length <= LIST_SHOWN) return list;
    return (
      <details class="audit-more">
        <summary>{formatCount(items.length, locale)} items</summary>
        {list}
      </details>
    );
  }
  if (typeof v === 'object') {
    const entries: [string, unknown][] = Object.entries(v);
    if (entries.length === 0) return <span class="muted">(empty)</span>;
    return (
      <dl class="audit-object">
        {entries.map(([k, x]) => (
          <div>
            <dt>{k}</dt>
            <dd>
              <AuditValue value={x} locale={locale} />
            </dd>
          </div>
        ))}
      </dl>
    );
  }
  // A number, a boolean, a bigint: written as JSON writes it.
  return <>{typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : ''}</>;
}

/** A dotted field name that may wrap after each dot, never inside a word. */
function FieldName(props: { field: string }) {
  const parts = props.field.split('.');
  return (
    <span class="field-name">
      {parts.map((part, i) => (
        <>
          {part}
          {i < parts.length - 1 ? (
            <>
              .<wbr />
            </>
          ) : null}
        </>
      ))}
    </span>
  );
}

function AuditDetails(props: { entry: AuditRecord; locale: string }) {
  const e = props.entry;
  const { locale } = props;
  const rows = auditDiff(e.before, e.after);
  const creation = e.before === null || e.before === undefined;
  if (rows.length === 0) return <p class="muted">Nothing recorded beyond the action.</p>;
  const afterLabel = creation ? 'Value' : 'After';
  return (
    <table class="audit-diff">
      <caption class="visually-hidden">Before and after</caption>
      <thead>
        <tr>
          <th scope="col">Field</th>
          {creation ? null : <th scope="col">Before</th>}
          <th scope="col">{afterLabel}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr class={r.changed ? 'changed' : undefined}>
            <th scope="row">
              <FieldName field={r.field} />
              {r.changed ? <span class="change-mark"> changed</span> : null}
            </th>
            {creation ? null : (
              <td data-label="Before">
                {r.changed ? (
                  <del>
                    <AuditValue value={r.before} locale={locale} />
                  </del>
                ) : (
                  <AuditValue value={r.before} locale={locale} />
                )}
              </td>
            )}
            <td data-label={afterLabel}>
              {r.changed ? (
                <ins>
                  <AuditValue value={r.after} locale={locale} />
                </ins>
              ) : (
                <AuditValue value={r.after} locale={locale} />
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The dashboard page of an entry's object, where there is one. */
function objectLink(e: AuditRecord): string | null {
  if (!e.objectId) return null;
  if (e.objectType === 'transaction' && /^[1-9][0-9]*$/.test(e.objectId)) return `/transactions/${e.objectId}`;
  if (e.objectType === 'customer') return `/customers/${encodeURIComponent(e.objectId)}`;
  return null;
}

/** The search in force, in words, for the summary of the folded search form. */
function activeSearch(q: AuditSearch, locale: string): string[] {
  const active: string[] = [];
  if (q.actor !== undefined) active.push(`actor ${q.actor}`);
  if (q.action !== undefined) active.push(q.action);
  if (q.objectType !== undefined || q.objectId !== undefined)
    active.push(`on ${[q.objectType, q.objectId].filter((v) => v !== undefined).join(' ')}`);
  if (q.requestId !== undefined) active.push(`request ${q.requestId}`);
  if (q.from !== undefined) active.push(`from ${formatDate(q.from, locale)}`);
  if (q.to !== undefined) active.push(`to ${formatDate(q.to, locale)}`);
  return active;
}

type AuditSearch = Pick<AuditQuery, 'actor' | 'action' | 'objectType' | 'objectId' | 'requestId' | 'from' | 'to'>;

function auditLink(query: Partial<AuditSearch>, before: number | string | undefined, back?: string[]): string {
  const q = new URLSearchParams();
  const fields: Record<string, string | number | undefined> = {
    actor: query.actor,
    action: query.action,
    objectType: query.objectType,
    objectId: query.objectId,
    requestId: query.requestId,
    from: query.from,
    to: query.to,
    before,
    back: before === undefined ? undefined : backParam(back),
  };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `/audit?${s}` : '/audit';
}

export function AuditPage(props: { ctx: PageContext; data: AuditData }) {
  const { ctx, data } = props;
  const { locale } = ctx;
  const q = data.query;
  const problems = data.problems;
  const filtered = activeSearch(q, locale).length > 0;
  const here: KeysetStep = {
    cursor: q.before !== undefined ? String(q.before) : undefined,
    back: q.before !== undefined ? q.back : undefined,
  };
  const previous = previousStep(here);
  return (
    <Layout ctx={ctx} title="Audit log" section="audit">
      <h1>Audit log</h1>
      <SearchPanel active={activeSearch(q, locale)} open={problems.some((p) => p.field !== 'before')}>
        <form method="get" action="/audit" class="filters search-grid" role="search" aria-label="Search the audit log">
          <FilterField problems={problems} field="actor">
            Actor (e-mail or id)
            <input
              type="search"
              name="actor"
              value={q.actor ?? ''}
              placeholder="ada@example.com"
              {...invalidAttrs(problems, 'actor')}
            />
          </FilterField>
          <FilterField problems={problems} field="action">
            Action
            <input
              type="search"
              name="action"
              value={q.action ?? ''}
              placeholder="customer.updated"
              {...invalidAttrs(problems, 'action')}
            />
          </FilterField>
          <FilterField problems={problems} field="objectType">
            Object type
            <input
              type="search"
              name="objectType"
              value={q.objectType ?? ''}
              placeholder="customer"
              {...invalidAttrs(problems, 'objectType')}
            />
          </FilterField>
          <FilterField problems={problems} field="objectId">
            Object id
            <input type="search" name="objectId" value={q.objectId ?? ''} {...invalidAttrs(problems, 'objectId')} />
          </FilterField>
          <FilterField problems={problems} field="requestId">
            Request id
            <input type="search" name="requestId" value={q.requestId ?? ''} {...invalidAttrs(problems, 'requestId')} />
          </FilterField>
          <FilterField problems={problems} field="from">
            From (UTC)
            <input type="date" name="from" value={q.from ?? ''} {...invalidAttrs(problems, 'from')} />
          </FilterField>
          <FilterField problems={problems} field="to">
            To (UTC)
            <input type="date" name="to" value={q.to ?? ''} {...invalidAttrs(problems, 'to')} />
          </FilterField>
          <button type="submit">Search</button>
          {filtered || problems.length > 0 ? (
            <a href="/audit" class="clear-filters">
              Clear
            </a>
          ) : null}
        </form>
      </SearchPanel>
      <FilterProblems problems={problems} />
      {data.problem ? (
        <div class="notice notice-error" role="alert">
          <strong>Could not search. </strong>
          {data.problem}
        </div>
      ) : null}
      <p class="muted" role="status">
        {q.before ? 'Older entries' : 'Newest first'}
        {filtered ? ', matching the search (each field exactly)' : ''}. Open an entry to see what changed.
      </p>
      {data.items.length === 0 ? (
        <Empty>
          {q.before ? (
            <>
              No older entries. <a href={auditLink(q, undefined)}>Back to the newest</a>.
            </>
          ) : filtered ? (
            <>
              Nothing in the audit log matches this search. <a href="/audit">Show every entry</a>.
            </>
          ) : (
            'Nothing recorded yet: every change through the API, the dashboard and the engine appears here.'
          )}
        </Empty>
      ) : (
        <ol class="audit-entries">
          {data.items.map((e) => (
            <li>
              <details>
                <summary>
                  <time datetime={e.at}>{formatDateTime(e.at, locale)}</time> <strong>{e.action}</strong>
                  {e.objectType ? (
                    <span>
                      {' '}
                      on {e.objectType}
                      {e.objectId ? ` ${e.objectId}` : ''}
                    </span>
                  ) : null}{' '}
                  <span class="muted">by {e.actorLabel}</span>
                </summary>
                <div class="audit-body">
                  <dl class="facts">
                    <div>
                      <dt>Actor</dt>
                      <dd>{e.actor}</dd>
                    </div>
                    <div>
                      <dt>Request</dt>
                      <dd>
                        {e.requestId ? (
                          <a href={auditLink({ requestId: e.requestId }, undefined)}>{e.requestId}</a>
                        ) : (
                          '—'
                        )}
                      </dd>
                    </div>
                    <div>
                      <dt>Entry</dt>
                      <dd>{e.id}</dd>
                    </div>
                    {objectLink(e) ? (
                      <div>
                        <dt>Object</dt>
                        <dd>
                          <a href={objectLink(e)!}>
                            Open {e.objectType} {e.objectId}
                          </a>
                        </dd>
                      </div>
                    ) : null}
                  </dl>
                  <AuditDetails entry={e} locale={locale} />
                </div>
              </details>
            </li>
          ))}
        </ol>
      )}
      <KeysetPager
        newest={q.before !== undefined ? auditLink(q, undefined) : null}
        previous={previous ? auditLink(q, previous.cursor, previous.back) : null}
        older={data.nextCursor !== null ? auditLink(q, data.nextCursor, olderBack(here)) : null}
      />
    </Layout>
  );
}
