/**
 * Target faults proof (issue 14): every HTTP target, through a fault-injecting proxy
 * (test/helpers/fault-proxy.ts) that times out after commit, resets before and after commit,
 * answers 5xx before and after commit and storms 429s, must end with every document on the
 * platform exactly once, each posted or parked with a clear reason and posted on retry.
 *
 *   npm run bench:faults                  360 invoices (≈ 500 documents) per target, 15% of requests faulted
 *   npm run bench:faults -- --quick       the suite's size: 30 invoices (≈ 45 documents), 12%
 *   npm run bench:faults -- --invoices N --rate R --only xero,netsuite
 *
 * It runs the conformance suite's faults scenario (test/conformance/scenarios.ts) of each target's
 * harness, one vitest process per target, so that the simulators, the target settings and the
 * checks are exactly the suite's; the scenario first syncs the same batch without faults through
 * the same proxy, for the ratio, and appends its figures to a file this bench reads. Writes
 * bench/results/target-faults.json; exits 1 when a target fails its checks (a duplicate, a missing
 * document, an unclear exception, a run that does not settle). Figures: docs/performance.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAULT_KINDS, type FaultKind } from '../test/helpers/fault-proxy.ts';
import { benchArgs, usageError } from './cli-args.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

/** Every target with HTTP between ledgerlink and its platform (the embedded ledger has none). */
export const HTTP_TARGETS = [
  'quickbooks',
  'xero',
  'accountsiq',
  'businesscentral',
  'acumatica',
  'zohobooks',
  'netsuite',
  'intacct',
  'odoo',
  'freshbooks',
  'myob',
  'webhook',
] as const;

interface Figures {
  target: string;
  documents: number;
  faults: Record<FaultKind, number>;
  storms: number;
  forwarded: number;
  posted: number;
  parked: Record<string, number>;
  /** Exceptions a person retried (the faults scenario's retries); the rest ran again by themselves. */
  retriedByHand?: number;
  duplicates: number;
  missing: number;
  faultsMs: number;
  baselineMs: number | null;
}

interface Outcome {
  target: string;
  passed: boolean;
  figures: Figures | null;
  /** The first lines of vitest's failure report, when it failed. */
  failure: string | null;
}

const SHORT: Record<FaultKind, string> = {
  timeoutAfterCommit: 'timeout',
  resetAfterCommit: 'reset after',
  resetBeforeSend: 'reset before',
  error5xx: '5xx',
  error5xxAfterCommit: '5xx after',
  storm429: '429',
};

function runTarget(target: string, invoices: number, rate: number, report: string): Outcome {
  rmSync(report, { force: true });
  const res = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules/vitest/vitest.mjs'),
      'run',
      `test/conformance/${target}.test.ts`,
      '-t',
      'exactly once through timeouts',
      '--testTimeout=900000',
    ],
    {
      cwd: root,
      encoding: 'utf8',
      env: {
        ...process.env,
        LEDGERLINK_FAULTS_INVOICES: String(invoices),
        LEDGERLINK_FAULTS_RATE: String(rate),
        LEDGERLINK_FAULTS_REPORT: report,
      },
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  let figures: Figures | null = null;
  try {
    const lines = readFileSync(report, 'utf8').trim().split('\n');
    figures = JSON.parse(lines.at(-1)!) as Figures;
  } catch {
    figures = null;
  }
  const out = (res.stdout ?? '') + (res.stderr ?? '');
  // eslint-disable-next-line no-control-regex -- vitest colours its output
  const plain = out.replace(/\u001b\[[0-9;]*m/g, '');
  const at = plain.search(/FAIL|Error:/);
  return {
    target,
    passed: res.status === 0,
    figures,
    failure: res.status === 0 ? null : plain.slice(Math.max(0, at), Math.max(0, at) + 1500),
  };
}

function table(outcomes: Outcome[]): string {
  const head = [
    'target',
    'documents',
    ...FAULT_KINDS.map((k) => SHORT[k]),
    'posted',
    'parked (by reason)',
    'retried by hand',
    'duplicates',
    'missing',
    'wall s',
    'no faults s',
    'ratio',
    'checks',
  ];
  const rows = outcomes.map((o) => {
    const f = o.figures;
    if (!f) return [o.target, ...head.slice(1, -1).map(() => '–'), 'FAILED'];
    const parked = Object.entries(f.parked)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    return [
      o.target,
      String(f.documents),
      ...FAULT_KINDS.map((k) => (k === 'storm429' ? `${f.faults[k]} (${f.storms} storms)` : String(f.faults[k]))),
      String(f.posted),
      parked || '0',
      f.retriedByHand === undefined ? '–' : String(f.retriedByHand),
      String(f.duplicates),
      String(f.missing),
      (f.faultsMs / 1000).toFixed(1),
      f.baselineMs === null ? '–' : (f.baselineMs / 1000).toFixed(1),
      f.baselineMs ? `${(f.faultsMs / f.baselineMs).toFixed(1)}×` : '–',
      o.passed ? 'passed' : 'FAILED',
    ];
  });
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

async function main(): Promise<void> {
  const { values: args } = benchArgs(
    {
      options: {
        quick: { type: 'boolean', default: false },
        invoices: { type: 'string' },
        rate: { type: 'string' },
        only: { type: 'string' },
      },
    },
    `Usage: npm run bench:faults -- [--quick] [--invoices N] [--rate R] [--only a,b]
Default: 360 invoices (about 500 documents) per target, 15% of requests faulted; --quick: 30 invoices, 12%.`,
  );
  const invoices = Number(args.invoices ?? (args.quick ? 30 : 360));
  const rate = Number(args.rate ?? (args.quick ? 0.12 : 0.15));
  if (!Number.isInteger(invoices) || invoices < 30) usageError('--invoices must be a whole number of 30 or more');
  if (!(rate > 0 && rate < 1)) usageError('--rate must be between 0 and 1');
  const targets = args.only ? args.only.split(',').map((s) => s.trim()) : [...HTTP_TARGETS];
  for (const t of targets)
    if (!(HTTP_TARGETS as readonly string[]).includes(t))
      usageError(`--only: no HTTP target "${t}" (${HTTP_TARGETS.join(', ')})`);
  const dir = join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const load = loadavg()[0]!.toFixed(2);
  console.log(`== target faults: ${invoices} invoices per target, ${rate * 100}% of requests faulted`);
  console.log(`   ${cpus().length} cores, load average ${load} at the start`);
  const started = Date.now();
  const outcomes: Outcome[] = [];
  for (const target of targets) {
    const t0 = Date.now();
    const o = runTarget(target, invoices, rate, join(dir, `target-faults-${target}.jsonl`));
    outcomes.push(o);
    console.log(`   ${target}: ${o.passed ? 'passed' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (o.failure) console.log(o.failure);
  }
  console.log('\n' + table(outcomes));
  console.log(
    `\n${targets.length} targets in ${((Date.now() - started) / 1000).toFixed(0)} s; load average ${loadavg()[0]!.toFixed(2)} at the end`,
  );
  writeFileSync(
    join(dir, 'target-faults.json'),
    JSON.stringify({ invoices, rate, load, at: new Date().toISOString(), outcomes }, null, 2),
  );
  const bad = outcomes.filter((o) => !o.passed || !o.figures || o.figures.duplicates > 0 || o.figures.missing > 0);
  if (bad.length > 0) {
    console.error(`FAILED: ${bad.map((o) => o.target).join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
