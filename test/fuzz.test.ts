import { describe, expect, it } from 'vitest';
import { FAMILIES, formatReport, runFuzz, split } from '../bench/fuzz/run.ts';
import { fuzzedRoutes } from '../bench/fuzz/routes.ts';

/**
 * The small form of `npm run fuzz` (issue #14; the full form is 10,000 cases, docs/testing.md):
 * every family (iXpole pages included), seeded, on the suite's database. Any 5xx, any refused request that wrote a row or
 * moved the trial balance, any accepted record dropped without a reason fails it with the seed and
 * the case to replay (`npm run fuzz -- --seed <seed> --only <family>`).
 */
const seed = Number(process.env.FUZZ_SEED ?? 20261203);
const runs = Number(process.env.FUZZ_RUNS ?? 400);

describe('fuzzing every POST/PUT route and every source payload', () => {
  it('splits the cases over every family, and the route family covers the registry', () => {
    expect(split(10_000).map(([name, n]) => [name, n])).toEqual([
      ['routes', 5000],
      ['webhook', 1400],
      ['stripe', 1000],
      ['csv', 1100],
      ['xlsx', 700],
      ['ixpole', 800],
    ]);
    expect(FAMILIES.map(([name]) => name)).toEqual(['routes', 'webhook', 'stripe', 'csv', 'xlsx', 'ixpole']);
    const routes = fuzzedRoutes().map((r) => `${r.method} ${r.path}`);
    expect(routes.length).toBeGreaterThan(50);
    expect(routes).toContain('POST /v1/sales/invoices');
    expect(routes).toContain('PUT /v1/customers/{code}');
    // Webhooks and imports have families of their own, which sign and build their bodies.
    expect(routes.some((r) => r.includes('/v1/webhooks/'))).toBe(false);
  });

  it(`finds no 5xx and no partial write in ${runs} cases (seed ${seed})`, async () => {
    console.log(`fuzz seed ${seed}, ${runs} cases: replay with npm run fuzz -- --seed ${seed} --runs ${runs}`);
    const report = await runFuzz({ runs, seed, log: () => undefined });
    console.log(formatReport(report));
    expect(report.runs).toBe(runs);
    const families = Object.fromEntries(report.families.map((f) => [f.family, f]));
    // Each family got its share, and the shares were exercised both ways: accepted and refused.
    for (const name of ['routes', 'webhook', 'stripe', 'csv', 'xlsx']) {
      expect(families[name]?.cases, name).toBeGreaterThan(0);
      expect(families[name]?.statuses['4xx'] ?? 0, `${name} refused nothing`).toBeGreaterThan(0);
    }
    expect(families.routes!.statuses['2xx'] ?? 0).toBeGreaterThan(0);
    expect(families.csv!.statuses['2xx'] ?? 0).toBeGreaterThan(0);
    // iXpole runs were served records they posted and records they parked (none skipped: a finding).
    expect(families.ixpole?.cases).toBeGreaterThan(0);
    expect(families.ixpole!.statuses.created ?? 0).toBeGreaterThan(0);
    expect(families.ixpole!.statuses.parked ?? 0).toBeGreaterThan(0);
    expect(report.findings, formatReport(report)).toEqual([]);
  }, 600_000);
});
