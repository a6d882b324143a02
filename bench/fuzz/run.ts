import { verifyLedger } from '../../src/ledger/verify.ts';
import { createFuzzContext, type FuzzContext } from './context.ts';
import { fuzzIxpole } from './ixpole.ts';
import { fuzzRoutes } from './routes.ts';
import { fuzzCsv, fuzzXlsx } from './imports.ts';
import { fuzzStripe, fuzzWebhooks } from './webhooks.ts';
import type { FamilyResult, Finding } from './state.ts';

/**
 * The fuzzer (issue #14): every family against one app on one database, cases split by weight,
 * then the ledger's invariants. Used by `npm run fuzz` (bench/fuzz.ts) and, smaller, by
 * test/fuzz.test.ts.
 */

type Family = (ctx: FuzzContext, runs: number, seed: number) => Promise<FamilyResult>;

/** Each family's share of the cases. */
export const FAMILIES: [string, number, Family][] = [
  ['routes', 0.5, fuzzRoutes],
  ['webhook', 0.14, fuzzWebhooks],
  ['stripe', 0.1, fuzzStripe],
  ['csv', 0.11, fuzzCsv],
  ['xlsx', 0.07, fuzzXlsx],
  ['ixpole', 0.08, fuzzIxpole],
];

export interface FuzzReport {
  seed: number;
  runs: number;
  families: FamilyResult[];
  findings: Finding[];
  ms: number;
}

/** Cases per family: the shares of `runs`, rounded, the remainder to the first family. */
export function split(runs: number, only?: string[]): [string, number, Family][] {
  const chosen = FAMILIES.filter(([name]) => !only || only.includes(name));
  const total = chosen.reduce((s, [, w]) => s + w, 0);
  const out = chosen.map(([name, w, fn]): [string, number, Family] => [name, Math.floor((runs * w) / total), fn]);
  const rest = runs - out.reduce((s, [, n]) => s + n, 0);
  if (out[0]) out[0][1] += rest;
  return out;
}

export async function runFuzz(options: {
  runs: number;
  seed: number;
  only?: string[];
  log: (line: string) => void;
}): Promise<FuzzReport> {
  const started = Date.now();
  const ctx = await createFuzzContext(options.log);
  const families: FamilyResult[] = [];
  try {
    for (const [name, runs, fn] of split(options.runs, options.only)) {
      options.log(`fuzz ${name}: ${runs} cases (seed ${options.seed})`);
      families.push(await fn(ctx, runs, options.seed));
    }
    const ledger = await verifyLedger(ctx.t.db, { id: ctx.entityId, code: 'FUZZ' });
    const broken = ledger.checks.filter((c) => c.problems.length > 0);
    if (broken.length > 0) {
      families.push({
        family: 'ledger',
        cases: 1,
        statuses: {},
        ms: 0,
        findings: broken.map((c) => ({
          family: 'ledger',
          target: c.name,
          seed: options.seed,
          path: 'end',
          problem: `${c.description}: ${c.problems.slice(0, 3).join('; ')}`,
          input: '',
        })),
      });
    }
  } finally {
    await ctx.close();
  }
  return {
    seed: options.seed,
    runs: families.reduce((s, f) => s + (f.family === 'ledger' ? 0 : f.cases), 0),
    families,
    findings: families.flatMap((f) => f.findings),
    ms: Date.now() - started,
  };
}

/** The report as text: one line per family, then each finding. */
export function formatReport(report: FuzzReport): string {
  const lines = [`fuzz: ${report.runs} cases, seed ${report.seed}, ${(report.ms / 1000).toFixed(1)} s`];
  for (const f of report.families) {
    const statuses = Object.entries(f.statuses)
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    lines.push(
      `  ${f.family.padEnd(8)} ${String(f.cases).padStart(6)} cases  ${(f.ms / 1000).toFixed(1).padStart(6)} s  ${statuses}  findings ${f.findings.length}`,
    );
  }
  for (const x of report.findings.slice(0, 50)) {
    lines.push(`FINDING ${x.family} ${x.target} (seed ${x.seed}, path ${x.path}): ${x.problem}\n    input: ${x.input}`);
  }
  if (report.findings.length > 50) lines.push(`… and ${report.findings.length - 50} more findings`);
  return lines.join('\n');
}
