/**
 * The bulk path alone, to profile it:
 *
 *   node --cpu-prof --cpu-prof-dir=bench/results bin/run-ts.js bench/profile.ts [pglite|postgres] [queries] [batch]
 *   node bin/run-ts.js bench/profile-summary.ts bench/results/CPU.*.cpuprofile
 *
 * Warms up on one entity, then posts `queries` (default 3,000) post-pay-allocate queries in
 * requests of `batch` (default 1,000; section 9 over HTTP sends 100) on another, and prints the rate.
 */
import { type DbKind, DEFAULT_POSTGRES_URL, openBenchDatabase, startApp } from './harness.ts';
import { rate } from './stats.ts';
import { postBulk } from './throughput.ts';
import { batchesOf } from './workload.ts';

const kind = (process.argv[2] ?? 'pglite') as DbKind;
const queries = Number(process.argv[3] ?? 3000);
const batch = Number(process.argv[4] ?? 1000);
const bench = await openBenchDatabase(kind, process.env.BENCH_DATABASE_URL || DEFAULT_POSTGRES_URL);
const app = await startApp(bench.db);
try {
  const warm = await app.entity('WARM');
  const client = await app.entity('BENCH');
  for (const slice of batchesOf('W', 0, 1000, batch)) await postBulk(warm, slice);
  let total = 0;
  for (const slice of batchesOf('B', 0, queries, batch)) total += await postBulk(client, slice);
  process.stdout.write(
    `${kind}: ${queries} queries in ${Math.round(total)} ms, ${rate(queries * 2, total)} documents/s\n`,
  );
} finally {
  await app.close();
  await bench.close();
}
