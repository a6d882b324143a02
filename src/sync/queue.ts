import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { Database, Queryable, SqlParam } from '../db/database.ts';

export const JOBS = {
  run: 'ledgerlink-pipeline-run',
  writeBack: 'ledgerlink-write-back',
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

/**
 * The durable job queue: pg-boss on the same database as the ledger (PGlite or PostgreSQL), so a
 * run is enqueued in the same transaction that creates it and several worker processes on one
 * PostgreSQL server share the work. Failed jobs are retried with exponential backoff.
 */
export class JobQueue {
  private constructor(
    private readonly boss: PgBoss,
    private readonly log: Logger,
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
    return new JobQueue(boss, log);
  }

  /** Enqueues a run inside the caller's transaction: the run row and its job commit together. */
  async enqueueRun(tx: Queryable, runId: string, startAfterSeconds = 0): Promise<void> {
    await this.boss.send(JOBS.run, { runId } satisfies RunJob, {
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

  async work<T extends object>(
    name: string,
    handler: (data: T) => Promise<void>,
    pollingIntervalSeconds = 1,
  ): Promise<void> {
    await this.boss.work<T>(name, { pollingIntervalSeconds, batchSize: 1 }, async (jobs) => {
      for (const job of jobs) await handler(job.data);
    });
  }

  async stop(): Promise<void> {
    await this.boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    this.log.debug('job queue stopped');
  }
}
