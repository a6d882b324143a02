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
import { benchArgs, positiveInt, usageError } from './cli-args.ts';

const { values } = benchArgs(
  {
    options: {
      runs: { type: 'string' },
      seed: { type: 'string' },
      only: { type: 'string' },
    },
  },
  `Usage: npm run fuzz -- [--runs N] [--seed S] [--only family,...]

Property-based fuzzing of every POST and PUT route and of every source's payloads, in process
against one app on PGlite (or the PostgreSQL server of DATABASE_URL).

  --runs N          cases in all, shared by the families by weight (default 10,000)
  --seed S          replay the seed a failure printed
  --only a,b        these families only: routes, webhook, stripe, csv, xlsx, ixpole
  -h, --help        this help

Progress goes to stderr, the report to stdout; exits 1 when anything was found.`,
);
const runs = positiveInt(values.runs, 10_000, 'runs');
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isInteger(seed)) usageError(`--seed must be a whole number, not "${values.seed}"`);
if (process.env.DATABASE_URL && !process.env.LEDGERLINK_ENCRYPTION_KEY) {
  process.env.LEDGERLINK_ENCRYPTION_KEY = Buffer.alloc(32, 3).toString('base64');
}
// As the test suite runs: the Stripe simulator listens on 127.0.0.1, over http.
process.env.LEDGERLINK_OUTBOUND_ALLOW ??= '127.0.0.1';
process.env.TZ = 'UTC';
const { FAMILIES, formatReport, runFuzz } = await import('./fuzz/run.ts');
const unknown = (values.only?.split(',') ?? []).filter((name) => !FAMILIES.some(([family]) => family === name));
if (unknown.length > 0)
  usageError(`--only ${unknown.join(',')}: no such family (${FAMILIES.map(([family]) => family).join(', ')})`);
const report = await runFuzz({
  runs,
  seed,
  ...(values.only ? { only: values.only.split(',') } : {}),
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`${formatReport(report)}\n`);
process.exit(report.findings.length > 0 ? 1 : 0);
