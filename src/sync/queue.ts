import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { Database, Queryable, SqlParam } from '../db/database.ts';

export const JOBS = {
  run: 'ledgerlink-pipeline-run',
  writeBack: 'ledgerlink-write-back',
  reconcile: 'ledgerlink-reconciliation',
} as const;

function adapter(db: Queryable): PgBoss.Db {
  return {
    executeSql: async (text: string, values?: unknown[]) => {
      // pg-boss sends its schema scripts as several statements without parameters; those go
      // through exec (PGlite cannot prepare a multi-statement query).
      if ((!values || values.length === 0) && /;\s*\S/.test(text.trim().replace(/;\s*$/, ''))) {
        await db.exec(text);
        return { rows: [] };
      }
      return db.query(text, (values ?? []) as SqlParam[]);
    },
  };
}

export interface RunJob {
  runId: string;
}

/** A stored reconciliation to work (src/sync/reconciliation-worker.ts). */
export interface ReconciliationJob {
  reconciliationId: string;
}

/** A job as a handler sees it: its data, and how many retries it has had and may have. */
export interface WorkedJob<T> {
  id: string;
  data: T;
  retryCount: number;
  retryLimit: number;
}

/**
 * The durable job queue: pg-boss on the same database as the ledger (PGlite or PostgreSQL), so a
 * run is enqueued in the same transaction that creates it and several worker processes on one
 * PostgreSQL server share the work. Failed jobs are retried with exponential backoff.
 */
export class JobQueue {
  #running = true;
  private constructor(
    private readonly boss: PgBoss,
    private readonly log: Logger,
    /** pg-boss's schema, where its job table is. */
    readonly schema: string,
  ) {}

  static async start(
    db: Database,
    log: Logger,
    schema = process.env.LEDGERLINK_QUEUE_SCHEMA ?? 'pgboss',
  ): Promise<JobQueue> {
    const boss = new PgBoss({
      db: adapter(db),
      schema,
      supervise: true,
      schedule: false,
      migrate: true,
      maintenanceIntervalSeconds: 120,
    });
    boss.on('error', (err) => log.error({ err }, 'job queue error'));
    await boss.start();
    for (const name of Object.values(JOBS)) {
      await boss.createQueue(name, { name, retryLimit: 8, retryDelay: 2, retryBackoff: true, expireInSeconds: 3600 });
    }
    if (!/^[a-z_][a-z0-9_]*$/.test(schema))
      throw new Error(`LEDGERLINK_QUEUE_SCHEMA must be a lower-case SQL name, not ${JSON.stringify(schema)}`);
    const queue = new JobQueue(boss, log, schema);
    boss.on('stopped', () => (queue.#running = false));
    return queue;
  }

  /** Started and not stopped: what `GET /ready` asks of a process that runs the queue. */
  get running(): boolean {
    return this.#running;
  }

  /** Enqueues a run inside the caller's transaction: the run row and its job commit together. */
  async enqueueRun(tx: Queryable, runId: string, startAfterSeconds = 0): Promise<void> {
    await this.boss.send(JOBS.run, { runId } satisfies RunJob, {
      db: adapter(tx),
      ...(startAfterSeconds ? { startAfter: startAfterSeconds } : {}),
    });
  }

  /** Enqueues a stored reconciliation inside the caller's transaction, like a run. */
  async enqueueReconciliation(tx: Queryable, reconciliationId: string, startAfterSeconds = 0): Promise<void> {
    await this.boss.send(JOBS.reconcile, { reconciliationId } satisfies ReconciliationJob, {
      db: adapter(tx),
      ...(startAfterSeconds ? { startAfter: startAfterSeconds } : {}),
    });
  }

  async enqueueWriteBack(tx: Queryable, pipelineId: string, startAfterSeconds = 0): Promise<void> {
    await this.boss.send(
      JOBS.writeBack,
      { pipelineId },
      { db: adapter(tx), singletonKey: pipelineId, ...(startAfterSeconds ? { startAfter: startAfterSeconds } : {}) },
    );
  }

  /**
   * Works jobs of a queue with `concurrency` handlers in this process, each taking one job at a
   * time (pg-boss hands out the oldest job that is due, skipping those another handler holds).
   * A handler that throws has its job retried with backoff until its retry limit.
   */
  async work<T extends object>(
    name: string,
    handler: (job: WorkedJob<T>) => Promise<void>,
    options: { concurrency?: number; pollingIntervalSeconds?: number } = {},
  ): Promise<void> {
    const { concurrency = 1, pollingIntervalSeconds = 1 } = options;
    for (let n = 0; n < concurrency; n++) {
      await this.boss.work<T>(name, { pollingIntervalSeconds, batchSize: 1, includeMetadata: true }, async (jobs) => {
        for (const job of jobs)
          await handler({ id: job.id, data: job.data, retryCount: job.retryCount, retryLimit: job.retryLimit });
      });
    }
  }

  /**
   * Of the given runs, those a job will still start or is working: a job waiting (created, or
   * retry), or one taken less than `activeWithinSeconds` ago (its handler may not have written the
   * run's first heartbeat yet). With `activeWithinSeconds` null, taken jobs do not count: at the
   * start of the only process of a PGlite folder, every taken job was left by a dead process.
   */
  async runsWithLiveJobs(tx: Queryable, runIds: string[], activeWithinSeconds: number | null): Promise<Set<string>> {
    return this.withLiveJobs(tx, JOBS.run, 'runId', runIds, activeWithinSeconds);
  }

  /** Cancels the jobs still marked active for these runs: their process is gone, new jobs replace them. */
  async abandonJobs(tx: Queryable, runIds: string[]): Promise<void> {
    await this.abandonJobsOf(tx, JOBS.run, 'runId', runIds);
  }

  /**
   * Of the given ids (the job data's `key`, in jobs of queue `name`), those a job will still start
   * or is working, as `runsWithLiveJobs` tells it for runs.
   */
  async withLiveJobs(
    tx: Queryable,
    name: string,
    key: string,
    ids: string[],
    activeWithinSeconds: number | null,
  ): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    // pg-boss 10's job table (one partition per queue); read only here and in abandonJobsOf.
    const { rows } = await tx.query<{ id: string }>(
      `SELECT DISTINCT data->>$4::text AS id FROM ${this.schema}.job
        WHERE name = $1 AND data->>$4::text = ANY($2::text[])
          AND (state IN ('created', 'retry')
               OR (state = 'active' AND $3::int IS NOT NULL AND started_on > now() - make_interval(secs => $3::int)))`,
      [name, ids, activeWithinSeconds, key],
    );
    return new Set(rows.map((r) => r.id));
  }

  /** Cancels the jobs of queue `name` still marked active for these ids: their process is gone. */
  async abandonJobsOf(tx: Queryable, name: string, key: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const { rows } = await tx.query<{ id: string }>(
      `SELECT id FROM ${this.schema}.job WHERE name = $1 AND state = 'active' AND data->>$3::text = ANY($2::text[])`,
      [name, ids, key],
    );
    if (rows.length)
      await this.boss.cancel(
        name,
        rows.map((r) => r.id),
        { db: adapter(tx) },
      );
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    this.log.debug('job queue stopped');
  }
}
