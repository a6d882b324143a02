import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { IsoDate } from '../../domain/schemas.ts';
import { type AuditRecord, listAudit } from '../../ledger/audit.ts';
import { findMemberByEmail } from '../../ledger/users.ts';
import { actorLabel } from '../actors.ts';
import { Empty, KeysetPager } from '../components/common.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';
import { formatDateTime } from '../format.ts';
import { type KeysetStep, backParam, olderBack, parseBack, previousStep } from '../keyset.ts';

export const AUDIT_PAGE_SIZE = 50;

const trimmed = (max: number) =>
  z
    .string()
    .optional()
    .catch(undefined)
    .transform((s) => (s?.trim() ? s.trim().slice(0, max) : undefined));

/** A keyset cursor: the id of the last entry of a page. */
const CURSOR = /^[1-9]\d{0,15}$/;

/**
 * The audit search; what cannot be a value (a date that is not one) is ignored. `before` is the
 * keyset cursor, `back` the cursors of the pages before this one (src/web/keyset.ts).
 */
export const AuditQuery = z.object({
  actor: trimmed(200),
  action: trimmed(100),
  objectType: trimmed(100),
  objectId: trimmed(200),
  requestId: trimmed(200),
  from: IsoDate.optional().catch(undefined),
  to: IsoDate.optional().catch(undefined),
  before: z.coerce
    .number()
    .int()
    .positive()
    .refine((n) => Number.isSafeInteger(n))
    .optional()
    .catch(undefined),
  back: z
    .unknown()
    .transform((v) => parseBack(v, (s) => CURSOR.test(s) && Number.isSafeInteger(Number(s))))
    .catch(undefined),
});
export type AuditQuery = z.output<typeof AuditQuery>;

export interface AuditData {
  query: AuditQuery;
  items: (AuditRecord & { actorLabel: string })[];
  nextCursor: number | null;
  problem: string | null;
}

/**
 * The entity's audit trail newest first, searched by actor (an e-mail of a member, or the actor as
 * recorded: `user:<id>`, `pipeline:<name>`, `cli`…), action, object, request id and dates (UTC),
 * paged by keyset (`query.before`).
 */
export async function loadAudit(db: Queryable, entityId: string, query: AuditQuery): Promise<AuditData> {
  let actor = query.actor;
  if (actor?.includes('@')) {
    const member = await findMemberByEmail(db, entityId, actor);
    if (!member) {
      return { query, items: [], nextCursor: null, problem: `No user of this entity has the e-mail ${actor}.` };
    }
    actor = `user:${member.id}`;
  }
  if (query.from && query.to && query.from > query.to) {
    return { query, items: [], nextCursor: null, problem: 'The “from” date is after the “to” date.' };
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
  };
}

// Audit entries are written without secrets ("[secret]" in their place); a field named like one is
// hidden here too, so an entry written by a careless future change cannot show one.
const SECRET_NAME = /password|secret|token|api_?key|private_?key|credential|authorization|cookie/i;
const HIDDEN = '[secret]';

type Flat = Map<string, unknown>;

/** An object's fields as dotted paths (`address.city`), nested objects field by field; secrets hidden. */
function flatten(value: unknown, prefix = '', out: Flat = new Map()): Flat {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (SECRET_NAME.test(k) && v !== null && v !== false) out.set(path, HIDDEN);
      else flatten(v, path, out);
    }
    if (prefix && Object.keys(value).length === 0) out.set(prefix, {});
  } else {
    out.set(prefix || '(value)', value);
  }
  return out;
}

function show(v: unknown): string {
  if (v === undefined) return '';
  if (v === null) return '—';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** One row per field of before and after; a field whose value differs is marked "changed". */
export function auditDiff(
  before: unknown,
  after: unknown,
): { field: string; before: string; after: string; changed: boolean }[] {
  const b = before === null || before === undefined ? (new Map() as Flat) : flatten(before);
  const a = after === null || after === undefined ? (new Map() as Flat) : flatten(after);
  const fields = [...new Set([...b.keys(), ...a.keys()])];
  return fields.map((field) => {
    const was = b.get(field);
    const now = a.get(field);
    return {
      field,
      before: show(was),
      after: show(now),
      changed: before !== null && before !== undefined && JSON.stringify(was) !== JSON.stringify(now),
    };
  });
}

function AuditDetails(props: { entry: AuditRecord }) {
  const e = props.entry;
  const rows = auditDiff(e.before, e.after);
  const creation = e.before === null || e.before === undefined;
  if (rows.length === 0) return <p class="muted">Nothing recorded beyond the action.</p>;
  return (
    <table class="audit-diff">
      <caption class="visually-hidden">Before and after</caption>
      <thead>
        <tr>
          <th scope="col">Field</th>
          {creation ? null : <th scope="col">Before</th>}
          <th scope="col">{creation ? 'Value' : 'After'}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr class={r.changed ? 'changed' : undefined}>
            <th scope="row">
              {r.field}
              {r.changed ? <span class="change-mark"> changed</span> : null}
            </th>
            {creation ? null : <td>{r.changed ? <del>{r.before}</del> : r.before}</td>}
            <td>{r.changed ? <ins>{r.after}</ins> : r.after}</td>
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

function auditLink(query: Partial<AuditQuery>, before: number | string | undefined, back?: string[]): string {
  const q = new URLSearchParams();
  const { back: _back, ...search } = query;
  const fields: Record<string, string | number | undefined> = {
    ...search,
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
  const filtered = [q.actor, q.action, q.objectType, q.objectId, q.requestId, q.from, q.to].some(
    (v) => v !== undefined,
  );
  const here: KeysetStep = {
    cursor: q.before !== undefined ? String(q.before) : undefined,
    back: q.before !== undefined ? q.back : undefined,
  };
  const previous = previousStep(here);
  return (
    <Layout ctx={ctx} title="Audit log" section="audit">
      <h1>Audit log</h1>
      <form method="get" action="/audit" class="filters search-grid" role="search" aria-label="Search the audit log">
        <label>
          Actor (e-mail or id)
          <input type="search" name="actor" value={q.actor ?? ''} placeholder="ada@example.com" />
        </label>
        <label>
          Action
          <input type="search" name="action" value={q.action ?? ''} placeholder="customer.updated" />
        </label>
        <label>
          Object type
          <input type="search" name="objectType" value={q.objectType ?? ''} placeholder="customer" />
        </label>
        <label>
          Object id
          <input type="search" name="objectId" value={q.objectId ?? ''} />
        </label>
        <label>
          Request id
          <input type="search" name="requestId" value={q.requestId ?? ''} />
        </label>
        <label>
          From (UTC)
          <input type="date" name="from" value={q.from ?? ''} />
        </label>
        <label>
          To (UTC)
          <input type="date" name="to" value={q.to ?? ''} />
        </label>
        <button type="submit">Search</button>
        {filtered ? (
          <a href="/audit" class="clear-filters">
            Clear
          </a>
        ) : null}
      </form>
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
                  <AuditDetails entry={e} />
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
