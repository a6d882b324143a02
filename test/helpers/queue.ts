import type { Database } from '../../src/db/database.ts';
import { JobQueue } from '../../src/sync/queue.ts';
import type { SyncService } from '../../src/sync/service.ts';
import { silentLog, syncService } from './sync.ts';

/**
 * A sync service with the durable queue, as `ledgerlink serve` and `worker` have, on a test
 * database. On PostgreSQL the queue gets a schema of its own beside the test's, dropped by `close`.
 */
export async function queuedSync(
  db: Database & { schema?: string },
  extra: Partial<Parameters<typeof syncService>[1]> = {},
): Promise<{ sync: SyncService; queue: JobQueue; schema: string; close(): Promise<void> }> {
  const schema = db.schema ? `${db.schema}_boss` : 'pgboss';
  const queue = await JobQueue.start(db, silentLog, schema);
  const sync = syncService(db, { queue, ...extra });
  return {
    sync,
    queue,
    schema,
    close: async () => {
      await sync.stop();
      if (db.schema) await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
  };
}
