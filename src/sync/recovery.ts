import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import { recordAudit } from '../ledger/audit.ts';
import type { JobQueue } from './queue.ts';
import { setRunStatus } from './runs.ts';

/** Runs of records that were in a process's hands (an import, a retried exception): nothing to resume them from. */
const IN_HAND = ['import', 'retry'];

export interface RecoveryOptions {
  /** A run is orphaned when its heartbeat is older than this (the lease). */
  leaseSeconds: number;
  /** Runs this process works: never its own orphans. */
  localRuns: string[];
  /**
   * The start of the only process that may open the database (a PGlite folder is locked to one
   * process): every lease and every run or job left unfinished was left by a dead process, and is
   * taken over at once, without waiting for a lease to lapse.
   */
  takeOverAll?: boolean;
}

export interface Recovered {
  resumed: string[];
  failed: string[];
}

/**
 * Finds runs that nobody works and no job will start (their worker died: `kill -9`, a lost
 * machine) and queues them again; they resume from their saved cursor, and what the dead worker
 * had already posted is found in the source map and skipped. Runs of records in hand (imports,
 * retried exceptions) cannot resume: they are failed with a message saying to send them again,
 * which posts nothing twice. Safe on several workers at once (rows are claimed with SKIP LOCKED).
 */
export async function recoverOrphanedRuns(
  deps: { db: Database; queue: JobQueue; log: Logger },
  o: RecoveryOptions,
): Promise<Recovered> {
  const { db, queue } = deps;
  const all = o.takeOverAll ?? false;
  const result = await db.transaction(async (tx) => {
    if (all) await tx.query(`DELETE FROM pipeline_leases`);
    const { rows } = await tx.query<{ id: string; entity_id: string; trigger: string; status: string }>(
      `SELECT id, entity_id, trigger, status FROM runs
        WHERE status IN ('queued', 'running')
          AND ($1 OR coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $2))
          AND NOT (id = ANY($3::uuid[]))
        ORDER BY created_at, id
        LIMIT 500
        FOR UPDATE SKIP LOCKED`,
      [all, o.leaseSeconds, o.localRuns],
    );
    const live = await queue.runsWithLiveJobs(
      tx,
      rows.map((r) => r.id),
      all ? null : o.leaseSeconds,
    );
    const orphans = rows.filter((r) => !live.has(r.id));
    if (orphans.length === 0) return { resumed: [], failed: [] };
    await queue.abandonJobs(
      tx,
      orphans.map((r) => r.id),
    );
    const out: Recovered = { resumed: [], failed: [] };
    for (const r of orphans) {
      if (IN_HAND.includes(r.trigger)) {
        await setRunStatus(
          tx,
          r.id,
          'failed',
          'Interrupted: the process working these records stopped. Send them again (import the file, retry the exception); what was already posted is skipped.',
        );
        out.failed.push(r.id);
      } else {
        await tx.query(`UPDATE runs SET status = 'queued', heartbeat_at = NULL WHERE id = $1`, [r.id]);
        await queue.enqueueRun(tx, r.id);
        out.resumed.push(r.id);
      }
      await recordAudit(tx, {
        entityId: r.entity_id,
        actor: 'recovery',
        action: IN_HAND.includes(r.trigger) ? 'run.failed' : 'run.resumed',
        objectType: 'run',
        objectId: r.id,
        before: { status: r.status },
        after: { reason: 'its worker stopped without finishing it' },
      });
    }
    return out;
  });
  if (result.resumed.length || result.failed.length) deps.log.warn(result, 'runs left by a stopped worker taken over');
  return result;
}
