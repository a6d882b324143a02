/**
 * `npm run fuzz`: property-based fuzzing of every POST and PUT route and of every source's payloads
 * (issue #14), in process against one app on PGlite, or on the PostgreSQL server of DATABASE_URL.
 *
 *   npm run fuzz                       10,000 cases, a random seed
 *   npm run fuzz -- --runs 500 --seed 42
 *   npm run fuzz -- --only routes,csv  some families only
 *
 * Progress goes to stderr, the report to stdout; exits 1 when anything was found (a 5xx, a refused
 * request that wrote, an accepted record dropped without a reason, a broken ledger invariant).
 * Replay a failure with the seed it prints (and --only its family).
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    only: { type: 'string' },
  },
});
const runs = Number(values.runs);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed)) {
  process.stderr.write('usage: npm run fuzz -- [--runs N] [--seed S] [--only family,...]\n');
  process.exit(2);
}
if (process.env.DATABASE_URL && !process.env.LEDGERLINK_ENCRYPTION_KEY) {
  process.env.LEDGERLINK_ENCRYPTION_KEY = Buffer.alloc(32, 3).toString('base64');
}
// As the test suite runs: the Stripe simulator listens on 127.0.0.1, over http.
process.env.LEDGERLINK_OUTBOUND_ALLOW ??= '127.0.0.1';
process.env.TZ = 'UTC';
const { formatReport, runFuzz } = await import('./fuzz/run.ts');
const report = await runFuzz({
  runs,
  seed,
  ...(values.only ? { only: values.only.split(',') } : {}),
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`${formatReport(report)}\n`);
process.exit(report.findings.length > 0 ? 1 : 0);
