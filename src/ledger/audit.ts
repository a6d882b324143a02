import type { Queryable } from '../db/database.ts';

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
      e.before === undefined ? null : JSON.stringify(e.before),
      e.after === undefined ? null : JSON.stringify(e.after),
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
