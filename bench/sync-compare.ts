/**
 * The sync benchmark of two checkouts, interleaved in one run (issue 6: is the sync to the embedded
 * ledger through the target interface no slower than before?).
 *
 *   node bin/run-ts.js bench/sync-compare.ts --before ../wt-before [--after .] [--instalments N]
 *     [--rounds R] [--skip-postgres]
 *
 * Per database, R rounds of "before, after": each run is `node bin/run-ts.js bench/sync.ts --only DB
 * --instalments N` in its own child process with cwd = that checkout, so both see the same machine
 * load. Reads the sync's documents/s from the JSON line the child prints and reports, per database,
 * the median of each checkout and the ratio after / before; the same for the ledger bulk writer the
 * child measures after its sync (no engine, no target), which tells the engine's share of a change
 * from the ledger's. Writes bench/results/sync-compare.json.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { resolve } from 'node:path';
import { benchArgs, positiveInt, usageError } from './cli-args.ts';

const { values: args } = benchArgs(
  {
    options: {
      before: { type: 'string' },
      after: { type: 'string', default: '.' },
      instalments: { type: 'string' },
      rounds: { type: 'string' },
      'skip-postgres': { type: 'boolean', default: false },
    },
  },
  `Usage: npm run bench:compare -- --before DIR [--after DIR] [--instalments N] [--rounds R] [--skip-postgres]

The sync benchmark of two checkouts, interleaved in one run: per database, R rounds of "before,
after", each in a child process in that checkout; the medians and the ratio after / before.

  --before DIR       the checkout to compare against (required)
  --after DIR        the other (default: this one)
  --instalments N    per run (default 20,000)
  --rounds R         rounds per database (default 3)
  --skip-postgres    PGlite only
  -h, --help         this help

Writes bench/results/sync-compare.json.`,
);
if (!args.before) usageError('--before DIR is required: the checkout to compare against');
const N = positiveInt(args.instalments, 20_000, 'instalments');
const ROUNDS = positiveInt(args.rounds, 3, 'rounds');
const checkouts = { before: resolve(args.before), after: resolve(args.after) };
const databases = args['skip-postgres'] ? (['pglite'] as const) : (['pglite', 'postgres'] as const);

interface Sample {
  sync: number;
  bulk: number;
}

/** One sync benchmark in `cwd`; resolves to its documents/s, sync and ledger bulk. */
function runSync(cwd: string, db: string): Promise<Sample> {
  const argv = ['bin/run-ts.js', 'bench/sync.ts', '--only', db, '--instalments', String(N)];
  return new Promise((done, fail) =>
    execFile(process.execPath, argv, { cwd, maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      if (error) return fail(new Error(`${cwd}: ${error.message}\n${stderr.slice(-2000)}`));
      const r = JSON.parse(stdout.trim().split('\n').pop()!);
      done({ sync: r.syncDocsPerSecond, bulk: r.ledgerBulkDocsPerSecond });
    }),
  );
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const started = Date.now();
const results: Record<string, { before: Sample[]; after: Sample[] }> = {};
for (const db of databases) {
  const samples = (results[db] = { before: [] as Sample[], after: [] as Sample[] });
  for (let r = 1; r <= ROUNDS; r++) {
    for (const which of ['before', 'after'] as const) {
      const s = await runSync(checkouts[which], db);
      samples[which].push(s);
      const load = os.loadavg()[0]!.toFixed(2);
      console.error(
        `${db} round ${r}/${ROUNDS} ${which}: sync ${s.sync.toFixed(0)}, ledger bulk ${s.bulk.toFixed(0)} documents/s (load ${load})`,
      );
    }
  }
}

const rows = Object.entries(results).flatMap(([db, s]) =>
  (['sync', 'bulk'] as const).map((what) => {
    const before = median(s.before.map((x) => x[what]));
    const after = median(s.after.map((x) => x[what]));
    return {
      db,
      what: what === 'sync' ? 'sync' : 'ledger bulk',
      before,
      after,
      ratio: after / before,
      samples: { before: s.before.map((x) => Math.round(x[what])), after: s.after.map((x) => Math.round(x[what])) },
    };
  }),
);
console.log(`\n${N} instalments, ${ROUNDS} rounds, ${((Date.now() - started) / 60000).toFixed(1)} min`);
console.log('| database | measure | median docs/s before | median docs/s after | ratio after / before |');
console.log('|---|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.db} | ${r.what} | ${r.before.toFixed(0)} | ${r.after.toFixed(0)} | **${r.ratio.toFixed(2)}** |`);
for (const r of rows)
  console.log(
    `${r.db} ${r.what} samples: before [${r.samples.before.join(', ')}], after [${r.samples.after.join(', ')}]`,
  );

await mkdir('bench/results', { recursive: true });
await writeFile(
  'bench/results/sync-compare.json',
  JSON.stringify({ date: new Date().toISOString(), instalments: N, rounds: ROUNDS, checkouts, rows }, null, 2),
);
