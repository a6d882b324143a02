import type { Queryable } from '../db/database.ts';

/** Documents a pipeline created in one hour (UTC). */
export interface HourlyCount {
  /** The hour's start, ISO 8601. */
  hour: string;
  documents: number;
}

const HOUR_MS = 3600_000;

/**
 * Documents (invoices, receipts and other documents; not the customers and products they brought
 * along) created by the entity's runs in each of the last `hours` hours up to `now`, oldest first,
 * hours without any included as zero. A run's documents count in the hour it finished (or, still
 * running, the hour of its last heartbeat): runs are few, so this reads the runs table only.
 */
export async function documentsPerHour(db: Queryable, entityId: string, now: Date, hours = 24): Promise<HourlyCount[]> {
  const end = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS + HOUR_MS;
  const start = end - hours * HOUR_MS;
  const { rows } = await db.query<{ hour: Date; documents: string }>(
    `SELECT date_trunc('hour', coalesce(r.finished_at, r.heartbeat_at, r.started_at, r.created_at)) AS hour,
            sum(coalesce((r.counts->>'createdInvoices')::bigint, 0) + coalesce((r.counts->>'createdReceipts')::bigint, 0)
                + coalesce((r.counts->>'createdOther')::bigint, 0)) AS documents
       FROM runs r
      WHERE r.entity_id = $1 AND r.created_at < $3 AND coalesce(r.finished_at, now()) >= $2
      GROUP BY 1`,
    [entityId, new Date(start), new Date(end)],
  );
  const byHour = new Map(rows.map((r) => [r.hour.getTime(), Number(r.documents)]));
  return Array.from({ length: hours }, (_, i) => {
    const at = start + i * HOUR_MS;
    return { hour: new Date(at).toISOString(), documents: byHour.get(at) ?? 0 };
  });
}
