import type { Queryable, SqlParam } from '../db/database.ts';
import { storableJson } from '../domain/storable.ts';

export interface AuditEntry {
  entityId: string | null;
  actor: string;
  action: string;
  objectType?: string | null;
  objectId?: string | number | null;
  before?: unknown;
  after?: unknown;
  requestId?: string | null;
}

/** Appends to the audit trail, in the caller's transaction. The table refuses updates and deletes. */
export async function recordAudit(db: Queryable, e: AuditEntry): Promise<void> {
  await db.query(
    `INSERT INTO audit_log (entity_id, actor, action, object_type, object_id, before, after, request_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      e.entityId,
      e.actor,
      e.action,
      e.objectType ?? null,
      e.objectId === undefined || e.objectId === null ? null : String(e.objectId),
      // What a source sent may hold a NUL or a lone surrogate, which jsonb refuses: shown as U+FFFD.
      e.before === undefined ? null : storableJson(e.before),
      e.after === undefined ? null : storableJson(e.after),
      e.requestId ?? null,
    ],
  );
}

/** Before and after of an audited change: only the fields that changed. */
export interface AuditChange {
  /** The changed fields as they were, or null when the object was created. */
  before: Record<string, unknown> | null;
  /** The changed fields as they are now (the whole object when it was created). */
  after: Record<string, unknown> | null;
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * The fields that differ between two versions of an object, nested objects (an address) field by
 * field: what the audit trail keeps, so that any change can be undone by hand by writing `before`
 * back. A field added or removed shows as null on the side it is missing from. `ignore` leaves
 * out bookkeeping that changes on every write (`rowVersion`).
 *
 * @example auditChange({ email: 'a@x', name: 'A' }, { email: 'b@x', name: 'A' })
 *   // → { before: { email: 'a@x' }, after: { email: 'b@x' } }
 */
export function auditChange(
  beforeObject: object | null | undefined,
  afterObject: object | null | undefined,
  opts: { ignore?: readonly string[] } = {},
): AuditChange {
  const before = beforeObject as Plain | null | undefined;
  const after = afterObject as Plain | null | undefined;
  const ignore = new Set(opts.ignore ?? []);
  const strip = (o: Plain): Plain => Object.fromEntries(Object.entries(o).filter(([k]) => !ignore.has(k)));
  if (!before) return { before: null, after: after ? strip(after) : null };
  if (!after) return { before: strip(before), after: null };
  const diff = (a: Plain, b: Plain, top: boolean): [Plain, Plain] => {
    const was: Plain = {};
    const now: Plain = {};
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (top && ignore.has(k)) continue;
      const x = a[k];
      const y = b[k];
      if (same(x, y)) continue;
      if (isPlain(x) && isPlain(y)) {
        const [w, n] = diff(x, y, false);
        if (Object.keys(w).length > 0) [was[k], now[k]] = [w, n];
      } else {
        was[k] = x ?? null;
        now[k] = y ?? null;
      }
    }
    return [was, now];
  };
  const [was, now] = diff(before, after, true);
  return { before: was, after: now };
}

/** True when an audited change changed nothing. */
export function isNoChange(c: AuditChange): boolean {
  return c.before !== null && c.after !== null && Object.keys(c.after).length === 0;
}

/** One entry of the audit trail as read back. */
export interface AuditRecord {
  id: number;
  entityId: string | null;
  /** ISO 8601, UTC. */
  at: string;
  actor: string;
  action: string;
  objectType: string | null;
  objectId: string | null;
  before: unknown;
  after: unknown;
  requestId: string | null;
}

export interface AuditFilter {
  /** The entity, or undefined for every entry (the admin token only). */
  entityId?: string | undefined;
  action?: string | undefined;
  objectType?: string | undefined;
  objectId?: string | undefined;
  actor?: string | undefined;
  requestId?: string | undefined;
  /** On or after this day (UTC), YYYY-MM-DD. */
  from?: string | undefined;
  /** On or before this day (UTC), YYYY-MM-DD. */
  to?: string | undefined;
  /** Keyset paging, newest first: only entries older than this id (the previous page's `nextCursor`). */
  before?: number | undefined;
  page: number;
  pageSize: number;
  /** Count every match for `total` (default true). */
  count?: boolean | undefined;
}

interface AuditRow {
  id: string;
  entity_id: string | null;
  at: Date | string;
  actor: string;
  action: string;
  object_type: string | null;
  object_id: string | null;
  before: unknown;
  after: unknown;
  request_id: string | null;
}

/**
 * The audit trail newest first, filtered by exact actor, action, object type and id, request id and
 * a date range (UTC days, inclusive). Paged by OFFSET (`page`) or keyset (`before`); each filter has
 * an index in id order (migrations/0097), so a keyset page reads about pageSize entries.
 */
export async function listAudit(
  db: Queryable,
  filter: AuditFilter,
): Promise<{ items: AuditRecord[]; page: number; pageSize: number; total: number | null; nextCursor: number | null }> {
  const params: SqlParam[] = [];
  const where: string[] = [];
  const add = (condition: string, value: SqlParam) => {
    params.push(value);
    where.push(condition.replaceAll('?', `$${params.length}`));
  };
  if (filter.entityId !== undefined) add('entity_id = ?', filter.entityId);
  if (filter.action !== undefined) add('action = ?', filter.action);
  if (filter.objectType !== undefined) add('object_type = ?', filter.objectType);
  if (filter.objectId !== undefined) add('object_id = ?', filter.objectId);
  if (filter.actor !== undefined) add('actor = ?', filter.actor);
  if (filter.requestId !== undefined) add('request_id = ?', filter.requestId);
  if (filter.from !== undefined) add(`at >= (?::date)::timestamp AT TIME ZONE 'UTC'`, filter.from);
  if (filter.to !== undefined) add(`at < (?::date + 1)::timestamp AT TIME ZONE 'UTC'`, filter.to);
  const countSql = `SELECT count(*) AS n FROM audit_log${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
  const countParams = [...params];
  if (filter.before !== undefined) add('id < ?', filter.before);
  const offset = filter.before === undefined ? (filter.page - 1) * filter.pageSize : 0;
  const { rows: fetched } = await db.query<AuditRow>(
    `SELECT id, entity_id, at, actor, action, object_type, object_id, before, after, request_id FROM audit_log
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, filter.pageSize + 1, offset],
  );
  const total =
    filter.count === false ? null : Number((await db.query<{ n: string }>(countSql, countParams)).rows[0]!.n);
  const rows = fetched.slice(0, filter.pageSize);
  const last = rows.at(-1);
  return {
    items: rows.map((r) => ({
      id: Number(r.id),
      entityId: r.entity_id,
      at: (r.at instanceof Date ? r.at : new Date(r.at)).toISOString(),
      actor: r.actor,
      action: r.action,
      objectType: r.object_type,
      objectId: r.object_id,
      before: r.before,
      after: r.after,
      requestId: r.request_id,
    })),
    page: filter.page,
    pageSize: filter.pageSize,
    total,
    nextCursor: fetched.length > filter.pageSize && last ? Number(last.id) : null,
  };
}
