import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { createRun } from '../src/sync/runs.ts';
import { cliPlace, type CliPlace } from './helpers/cli.ts';
import { startCli, waitFor } from './helpers/process.ts';

/*
 * Ctrl-C during `ledgerlink sync run`, with the real command on an iXpole pipeline whose listings
 * answer slowly. The first stops the run after the page in hand and hands it back (exit 130, what
 * it posted kept), the second quits at once; either way the same command then goes on with that
 * run from where it stopped, and every instalment is invoiced exactly once, by one run.
 */

const KEY = 'ixsim_cli_stop_key';
const INSTALMENTS = 24;
const PAGE = 4;

let place: CliPlace;
let sim: IxpoleSimulator;

beforeAll(async () => {
  sim = await startIxpoleSimulator({ seed: 7, instalments: INSTALMENTS, customers: 6, products: 3, apiKey: KEY });
  place = await cliPlace();
  writeFileSync(
    join(place.dir, 'ledgerlink.json'),
    JSON.stringify({
      entities: [{ code: 'CLUB', name: 'Club', baseCurrency: 'EUR', standardTaxRate: '0.21' }],
      pipelines: [
        {
          name: 'ix',
          entity: 'CLUB',
          source: { type: 'ixpole', baseUrl: sim.url, apiKey: KEY },
          options: { pageSize: PAGE },
        },
      ],
    }),
  );
  const applied = await place.run(['config', 'apply', 'ledgerlink.json'], env());
  expect(applied.code, applied.stderr).toBe(0);
}, 120_000);
afterAll(async () => {
  await sim?.close();
  await place?.close();
});

function env(more: Record<string, string> = {}): Record<string, string> {
  return {
    ...(place.env as Record<string, string>),
    LEDGERLINK_OUTBOUND_ALLOW: `127.0.0.1:${new URL(sim.url).port}`,
    ...more,
  };
}

/** Starts `sync run ix` and waits until it has asked for its `pages`-th listing page (the ones before are posted). */
async function startRun(pages: number, more: Record<string, string> = {}) {
  const before = sim.control.stats.requests.instalments;
  const cli = startCli(['sync', 'run', 'ix'], env(more), place.dir);
  await waitFor(
    () => `the run to ask for page ${pages}\n${cli.output()}`,
    60_000,
    async () => {
      if (cli.child.exitCode !== null) throw new Error(`exited early:\n${cli.output()}`);
      return sim.control.stats.requests.instalments - before >= pages || undefined;
    },
  );
  return cli;
}

async function ledger() {
  const db = await place.open();
  try {
    const runs = await db.query<{ id: string; status: string; trigger: string }>(
      `SELECT id, status, trigger FROM runs ORDER BY created_at`,
    );
    const invoices = await db.query<{ reference: string; n: number }>(
      `SELECT external_reference AS reference, count(*)::int AS n FROM transactions WHERE type = 'SI' GROUP BY 1`,
    );
    return { runs: runs.rows, invoices: invoices.rows };
  } finally {
    await db.close();
  }
}

describe('Ctrl-C during sync run', () => {
  it('stops after the page in hand and hands the run back; the same command goes on with it', async () => {
    // Slow listings: the stop lands while a page is fetched.
    sim.control.delay({ ms: 400, route: 'instalments' });
    const cli = await startRun(2);
    const signalled = Date.now();
    cli.child.kill('SIGINT');
    const code = await cli.exited;
    expect(code, cli.output()).toBe(130);
    // Stopped at the page boundary, not after the whole run (six pages of 400 ms and more).
    expect(Date.now() - signalled).toBeLessThan(10_000);
    const out = cli.output();
    expect(out).toContain('stopping after the page in hand');
    const runId = /run ([0-9a-f-]{36}): stopped \(Ctrl-C\)/.exec(out)?.[1];
    expect(runId, out).toBeDefined();
    expect(out).toContain('`ledgerlink sync run ix` goes on with it from where it stopped');
    expect(out).toContain(`\`ledgerlink runs cancel ${runId}\` ends it`);
    const stopped = await ledger();
    expect(stopped.runs).toEqual([{ id: runId, status: 'queued', trigger: 'manual' }]);
    const posted = stopped.invoices.length;
    expect(posted).toBeGreaterThan(0);
    expect(posted).toBeLessThan(INSTALMENTS);

    sim.control.reset();
    const again = await place.run(['sync', 'run', 'ix'], env());
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stderr).toContain(`going on with run ${runId}, which stopped before it finished`);
    expect(again.stdout).toContain(`run ${runId}: succeeded`);
    const done = await ledger();
    expect(done.runs).toEqual([{ id: runId, status: 'succeeded', trigger: 'manual' }]);
    expect(done.invoices).toHaveLength(INSTALMENTS);
    expect(done.invoices.every((i) => i.n === 1)).toBe(true);
  }, 180_000);

  it('a second Ctrl-C quits at once; once its lease has passed the same command goes on with the run', async () => {
    // More instalments to post, and slower pages, so that the run is long.
    sim.control.delay({ ms: 1500, route: 'instalments' });
    const before = (await ledger()).runs.length;
    const cli = await startRun(1, { LEDGERLINK_LEASE_SECONDS: '3' });
    cli.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 100));
    const signalled = Date.now();
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(130);
    expect(Date.now() - signalled).toBeLessThan(1_000);
    const quit = (await ledger()).runs;
    expect(quit).toHaveLength(before + 1);
    const runId = quit.at(-1)!.id;

    sim.control.reset();
    await new Promise((r) => setTimeout(r, 3_500));
    const again = await place.run(['sync', 'run', 'ix'], env({ LEDGERLINK_LEASE_SECONDS: '3' }));
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stdout).toContain(`run ${runId}: succeeded`);
    const done = await ledger();
    expect(done.runs).toHaveLength(before + 1);
    expect(done.invoices.every((i) => i.n === 1)).toBe(true);
  }, 180_000);

  it('runs cancel ends a run nobody works; sync run then starts another rather than going on with it', async () => {
    const db = await place.open();
    let runId: string;
    let finished: string;
    try {
      const p = await db.query<{ id: string; entity_id: string }>(
        `SELECT id, entity_id FROM pipelines WHERE name = 'ix'`,
      );
      // As Ctrl-C leaves one: queued, handed back, made by this command.
      runId = (await createRun(db, {
        pipelineId: p.rows[0]!.id,
        entityId: p.rows[0]!.entity_id,
        trigger: 'manual',
        createdBy: 'cli',
      }))!;
      finished = (await db.query<{ id: string }>(`SELECT id FROM runs WHERE status = 'succeeded' LIMIT 1`)).rows[0]!.id;
    } finally {
      await db.close();
    }
    const cancelled = await place.run(['runs', 'cancel', runId], env());
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toBe(`run ${runId} (ix): cancelled (Cancelled by cli before it started)\n`);
    const json = await place.run(['runs', 'cancel', runId, '--json'], env());
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ runId, status: 'cancelled', cancelledBy: 'cli' });
    const refused = await place.run(['runs', 'cancel', finished], env());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`RUN_ALREADY_FINISHED: Run ${finished} has finished (succeeded)`);
    const bad = await place.run(['runs', 'cancel', 'nope'], env());
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('RUNID: not a run id');

    const again = await place.run(['sync', 'run', 'ix'], env());
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stderr).not.toContain('going on with run');
    expect(again.stdout).not.toContain(runId);
  }, 180_000);
});
