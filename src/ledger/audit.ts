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
