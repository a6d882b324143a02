/**
 * Times `GET /v1/customers/BIG/statement` (section 4 of `npm run bench`) for this tree against
 * another commit's, in one process on one PGlite database, so that a loaded machine slows both
 * alike: BIG gets its open items once, then each round asks every app once, in turns.
 *
 *   mkdir -p scratch/base && git archive <commit> src migrations | tar -x -C scratch/base
 *   node bin/run-ts.js bench/statement-compare.ts [--base scratch/base] [--items 10000] [--rounds 40]
 *     [--warmup 5] [--other-items 20000]
 *
 * `--base` is a directory holding that commit's `src/` and `migrations/` inside this repository
 * (`scratch/` is ignored by git), so that its imports find the same node_modules. Without it,
 * only this tree is timed. Prints each app's median and p95, wall-clock and CPU time of the
 * process (which load from other processes distorts less), and the ratios of medians to the
 * base; the two answers must be the same bytes, or it stops.
 */
import { resolve } from 'node:path';
import { benchArgs, positiveInt } from './cli-args.ts';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { type buildServer as BuildServer } from '../src/api/server.ts';
import { openBenchDatabase, startApp } from './harness.ts';
import { STATEMENT_CUSTOMER, STATEMENT_UP_TO, seedStatementCustomer } from './statement.ts';
import { distribution, progress } from './stats.ts';

const { values: args } = benchArgs(
  {
    options: {
      base: { type: 'string' },
      items: { type: 'string', default: '10000' },
      rounds: { type: 'string', default: '40' },
      warmup: { type: 'string', default: '5' },
      'other-items': { type: 'string', default: '20000' },
    },
  },
  `Usage: node bin/run-ts.js bench/statement-compare.ts [--base DIR] [--items N] [--rounds N] [--warmup N] [--other-items N]

Times GET /v1/customers/BIG/statement for this tree against another commit's (--base: a directory
holding that commit's src/ and migrations/ inside this repository, e.g. scratch/base), in one process
on one PGlite database. Defaults: 10,000 items, 40 rounds, 5 warm-up, 20,000 other items.`,
);
for (const option of ['items', 'rounds', 'warmup', 'other-items'] as const) positiveInt(args[option], 1, option);

const bench = await openBenchDatabase('pglite', '');
const current = await startApp(bench.db);
const client = await current.entity('BENCH');
await seedStatementCustomer(bench.db, client.entityId, Number(args.items));
// In `npm run bench` the table also holds the bulk run's documents: another entity's stand in for them.
const other = await current.entity('OTHER');
await seedStatementCustomer(bench.db, other.entityId, Number(args['other-items']));
const url = `/v1/customers/${STATEMENT_CUSTOMER}/statement?upTo=${STATEMENT_UP_TO}`;

const apps: { name: string; app: FastifyInstance }[] = [];
if (args.base) {
  const from = pathToFileURL(resolve(args.base, 'src/api/server.ts')).href;
  const { buildServer } = (await import(from)) as { buildServer: typeof BuildServer };
  // The base app shares the database (and so the entity, its token and BIG's items) with this one.
  const app = await buildServer({
    db: bench.db,
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: 'bench-admin-token-0123456789abcdef',
      tokenTtlSeconds: 3600,
      logLevel: 'silent',
      bodyLimitBytes: 20 * 1024 * 1024,
    },
    logger: false,
  });
  await app.ready();
  apps.push({ name: 'base', app });
}
apps.push({ name: 'this tree', app: current.app });

/** The answer, the wall-clock ms and the process's CPU ms (user and system: all threads) it took. */
async function ask(app: FastifyInstance): Promise<[string, number, number]> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const res = await app.inject({ method: 'GET', url, headers: client.headers });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (res.statusCode !== 200) throw new Error(`GET ${url} answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
  return [res.body, ms, (cpu.user + cpu.system) / 1000];
}

const samples = apps.map(() => [] as number[]);
const cpuSamples = apps.map(() => [] as number[]);
const warmup = Number(args.warmup);
const rounds = Number(args.rounds);
for (let round = 0; round < warmup + rounds; round++) {
  // Who goes first alternates, so neither always follows the other's garbage.
  const order = round % 2 === 0 ? apps.map((_, i) => i) : apps.map((_, i) => apps.length - 1 - i);
  const bodies: string[] = [];
  for (const i of order) {
    const [body, ms, cpuMs] = await ask(apps[i]!.app);
    bodies.push(body);
    if (round >= warmup) {
      samples[i]!.push(ms);
      cpuSamples[i]!.push(cpuMs);
    }
  }
  if (bodies.some((b) => b !== bodies[0])) throw new Error('the apps answered different statements');
  if (round % 10 === 9) progress(`statement compare: round ${round + 1}/${warmup + rounds}`);
}

// CPU time is what a busy machine distorts least: waiting for a core is wall time, not CPU time.
const base = distribution(samples[0]!);
const baseCpu = distribution(cpuSamples[0]!);
for (const [i, { name }] of apps.entries()) {
  const d = distribution(samples[i]!);
  const c = distribution(cpuSamples[i]!);
  const ratio = (x: number, y: number) => (i === 0 ? '' : `  ratio ${(x / y).toFixed(2)}`);
  console.log(`${name.padEnd(10)} wall median ${d.p50} ms  p95 ${d.p95} ms${ratio(d.p50, base.p50)}`);
  console.log(`${''.padEnd(10)} CPU  median ${c.p50} ms  p95 ${c.p95} ms${ratio(c.p50, baseCpu.p50)}  (n=${d.count})`);
}
for (const { name, app } of apps) if (name === 'base') await app.close();
await current.close();
await bench.close();
