/**
 * EXPLAIN ANALYZE of one chunk of ledgerlink's set-based bulk write, with the time of every
 * trigger (foreign keys, journal balance, allocation limit):
 *
 *   node bin/run-ts.js bench/explain.ts [pglite|postgres] [--analyze] [--full]
 *
 * Posts 1,000 warm-up queries on one entity, optionally ANALYZEs, posts 4,000 more on a second
 * entity while keeping the last `writeDocuments` statement, then re-runs that statement for a
 * third entity under EXPLAIN ANALYZE inside a transaction that is rolled back. Last, the
 * duplicate check as a single request makes it (two unused references of the second entity).
 */
import { benchArgs, usageError } from './cli-args.ts';
import type { SqlParam } from '../src/db/database.ts';
import { type DbKind, DEFAULT_POSTGRES_URL, openBenchDatabase, startApp } from './harness.ts';
import { StatementStats, instrument, statementKind } from './instrument.ts';
import { postBulk } from './throughput.ts';
import { batchesOf } from './workload.ts';

const { values: opts, positionals } = benchArgs(
  {
    allowPositionals: true,
    options: { analyze: { type: 'boolean', default: false }, full: { type: 'boolean', default: false } },
  },
  `Usage: node bin/run-ts.js bench/explain.ts [pglite|postgres] [--analyze] [--full]

EXPLAIN ANALYZE of one chunk of the set-based bulk write, with every trigger's time. --analyze:
ANALYZE after the warm-up; --full: the whole plan. PostgreSQL at BENCH_DATABASE_URL.`,
);
const kind = (positionals[0] ?? 'pglite') as DbKind;
if (kind !== 'pglite' && kind !== 'postgres') usageError(`${String(kind)}: pglite or postgres`);
const bench = await openBenchDatabase(kind, process.env.BENCH_DATABASE_URL || DEFAULT_POSTGRES_URL);
const stats = new StatementStats();
let kept: [string, readonly SqlParam[]] | undefined;
let usedSql: string | undefined;
stats.onStatement = (sql, params) => {
  if (statementKind(sql).startsWith('writeDocuments')) kept = [sql, params];
  if (statementKind(sql).startsWith('usedReferences')) usedSql = sql;
};
const app = await startApp(instrument(bench.db, stats));
try {
  const warm = await app.entity('WARM');
  const client = await app.entity('BENCH');
  for (const batch of batchesOf('W', 0, 1000)) await postBulk(warm, batch);
  if (opts.analyze) await bench.db.exec('ANALYZE');
  for (const batch of batchesOf('B', 0, 4000)) await postBulk(client, batch);
  const other = await app.entity('OTHER');
  if (!kept) throw new Error('no writeDocuments statement was seen');
  const [sql, params] = kept;
  const rollback = new Error('rollback');
  await bench.db
    .transaction(async (tx) => {
      const { rows } = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, TIMING) ${sql}`, [
        other.entityId,
        ...params.slice(1),
      ]);
      const lines = rows.map((r) => r['QUERY PLAN']);
      const shown = opts.full
        ? lines
        : lines.filter((l) => /^Trigger|Execution Time|Planning Time|Insert on/.test(l.trim()));
      process.stdout.write(`${kind}${opts.analyze ? ' after ANALYZE' : ''}:\n${shown.join('\n')}\n`);
      throw rollback;
    })
    .catch((err: unknown) => {
      if (err !== rollback) throw err;
    });
  if (usedSql) {
    // Parameters as the posting code sends them: entity, then customer, type and reference arrays.
    const params = [client.entityId, ['C001', 'C001'], ['SI', 'SR'], ['INV-none', 'PAY-none']];
    const { rows } = await bench.db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, TIMING) ${usedSql}`, params);
    const lines = rows.map((r) => r['QUERY PLAN']);
    const shown = opts.full ? lines : lines.filter((l) => /Scan|Rows Removed|Execution Time/.test(l));
    process.stdout.write(`\nduplicate check of one post-pay-allocate (2 references):\n${shown.join('\n')}\n`);
  }
} finally {
  await app.close();
  await bench.close();
}
