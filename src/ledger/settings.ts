import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { checkDateInRange } from './periods.ts';

/** An entity's ledger settings. */
export interface EntitySettings {
  /** Nothing is posted, allocated or reversed on or before this date; null when the books are open. */
  lockDate: string | null;
}

export async function getSettings(db: Queryable, entityId: string): Promise<EntitySettings> {
  const { rows } = await db.query<{ lock_date: string | null }>(
    `SELECT lock_date::text AS lock_date FROM entities WHERE id = $1`,
    [entityId],
  );
  if (!rows[0]) throw new DomainError('ENTITY_DOES_NOT_EXIST', `Entity ${entityId} does not exist`);
  return { lockDate: rows[0].lock_date };
}

/**
 * Changes the settings sent (absent is unchanged; `lockDate: null` opens the books). The entity
 * row is locked, so a change of the lock date waits for postings in flight (they read it FOR SHARE)
 * and every later posting sees it.
 */
export async function updateSettings(
  db: Queryable,
  entityId: string,
  patch: { lockDate?: string | null | undefined },
): Promise<{ before: EntitySettings; after: EntitySettings }> {
  const { rows } = await db.query<{ lock_date: string | null }>(
    `SELECT lock_date::text AS lock_date FROM entities WHERE id = $1 FOR UPDATE`,
    [entityId],
  );
  if (!rows[0]) throw new DomainError('ENTITY_DOES_NOT_EXIST', `Entity ${entityId} does not exist`);
  const before: EntitySettings = { lockDate: rows[0].lock_date };
  const after: EntitySettings = { ...before };
  if (patch.lockDate !== undefined) {
    if (patch.lockDate !== null) checkDateInRange(patch.lockDate, 'lockDate');
    after.lockDate = patch.lockDate;
    await db.query(`UPDATE entities SET lock_date = $2 WHERE id = $1`, [entityId, patch.lockDate]);
  }
  return { before, after };
}
