import type { Queryable } from '../db/database.ts';

/*
 * What a run's records point at, for the run's page: the target its documents were booked in, and
 * the exception of each record it parked.
 */

/** The target type of a run's pipeline (`ledger`, `xero`, …), deleted pipelines included; null if unknown. */
export async function runTargetType(db: Queryable, pipelineId: string): Promise<string | null> {
  const { rows } = await db.query<{ target_type: string }>('SELECT target_type FROM pipelines WHERE id = $1', [
    pipelineId,
  ]);
  return rows[0]?.target_type ?? null;
}

/** A record a run parked: its kind and source id, and when the run recorded it (ISO 8601). */
export interface ParkedRecordRef {
  kind: string;
  sourceId: string;
  at: string;
}

/**
 * The exception of each parked record, in the order given (null where none is found): the one this
 * run parked it in (an exception parked again by a later run moves to that run), else the newest
 * exception of the record in the pipeline parked no later than the record was, else the first one
 * parked after it. A record that went through and was parked again later has one exception per
 * time it was parked; this finds the one of this run's time.
 */
export async function exceptionsOfParked(
  db: Queryable,
  run: { runId: string; pipelineId: string },
  records: readonly ParkedRecordRef[],
): Promise<(number | null)[]> {
  if (records.length === 0) return [];
  const { rows } = await db.query<{ i: string; id: string }>(
    `SELECT DISTINCT ON (r.i) r.i, x.id
       FROM unnest($3::text[], $4::text[], $5::timestamptz[]) WITH ORDINALITY AS r(kind, source_id, at, i)
       JOIN exceptions x ON x.pipeline_id = $1 AND x.kind = r.kind AND x.source_id = r.source_id
      ORDER BY r.i, (x.run_id IS NOT DISTINCT FROM $2::uuid) DESC, (x.created_at <= r.at) DESC,
               CASE WHEN x.created_at <= r.at THEN -x.id ELSE x.id END`,
    [run.pipelineId, run.runId, records.map((r) => r.kind), records.map((r) => r.sourceId), records.map((r) => r.at)],
  );
  const found = new Map(rows.map((r) => [Number(r.i), Number(r.id)]));
  return records.map((_, i) => found.get(i + 1) ?? null);
}
