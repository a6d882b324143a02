import { afterAll, describe, expect, it } from 'vitest';
import { startApp } from '../bench/harness.ts';
import { postBulk } from '../bench/throughput.ts';
import { querySpec } from '../bench/workload.ts';
import type { Database } from '../src/db/database.ts';
import type { Replanner } from '../src/db/pglite-replan.ts';
import { openPglite } from '../src/db/pglite.ts';
import { onPostgres, pgliteTemplate } from './helpers/db.ts';

/*
 * The posting path on a fresh PGlite, as a new installation runs it (src/db/pglite-replan.ts). Its
 * statements are prepared once and, after five executions, keep a generic plan; PGlite has no
 * autovacuum, so the plan the bulk duplicate check got on the first requests, when the entity had a
 * few documents, was kept: it read the entity's documents by the entity index and filtered them,
 * for every reference of every request, 0.3 ms more per request for each document posted since
 * the server started. The rows of `transactions` read by one request count it, whatever the plan.
 */
const open: { close(): Promise<unknown> }[] = [];
afterAll(async () => {
  for (const x of open.reverse()) await x.close();
});

async function transactionRowsRead(db: Database): Promise<number> {
  await db.query('SELECT pg_stat_force_next_flush()'); // sent as it ends
  const { rows } = await db.query<{ n: string }>(
    `SELECT (seq_tup_read + coalesce(idx_tup_fetch, 0))::text AS n FROM pg_stat_user_tables WHERE relname = 'transactions'`,
  );
  return Number(rows[0]!.n);
}

describe.skipIf(onPostgres)('plans of the posting path on a PGlite that grows', () => {
  it('are made again once the table has doubled: a request then reads a few rows, not the whole entity', async () => {
    const from = await pgliteTemplate();
    // The replanner's timer is off: its look is taken below, at a known moment.
    const db = (await openPglite('memory', undefined, {
      ...(from ? { from } : {}),
      replanIntervalMs: 0,
    })) as Database & {
      replanner: Replanner;
    };
    open.push(db);
    const app = await startApp(db);
    open.push(app);
    const warm = await app.entity('WARM');
    const client = await app.entity('BENCH');
    const batch = (tag: string, i: number) => Array.from({ length: 50 }, (_, k) => querySpec(tag, i * 50 + k));
    for (let i = 0; i < 4; i++) await postBulk(warm, batch('W', i));
    for (let i = 0; i < 20; i++) await postBulk(client, batch('B', i)); // 2,000 documents

    const before = await transactionRowsRead(db);
    await postBulk(client, batch('B', 20));
    const stale = (await transactionRowsRead(db)) - before;
    // 100 references looked up, each among the entity's 2,000 documents.
    expect(stale).toBeGreaterThan(100_000);

    expect(await db.replanner.tick()).toContain('public.transactions');
    const after = await transactionRowsRead(db);
    await postBulk(client, batch('B', 21));
    expect((await transactionRowsRead(db)) - after).toBeLessThan(2_000);
  }, 120_000);
});
