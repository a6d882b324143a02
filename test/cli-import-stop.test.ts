import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeWebhookEvent } from '../src/sync/webhook-events.ts';
import { cliPlace, type CliPlace } from './helpers/cli.ts';
import { type Cli, startCli, waitFor } from './helpers/process.ts';

/*
 * Ctrl-C during `ledgerlink import`, with the real command: the import is cancelled after the rows
 * in hand, reports what it posted and what it did not (exit 130), and the same file imported again
 * posts the rest, nothing twice. Then Ctrl-C during `ledgerlink sync run` of a pipeline whose
 * source and target are both the database (stored webhook events into the ledger).
 *
 * Both on PGlite too, where the work is queries of an embedded database that resolve without the
 * event loop ever running: unless the engine lets it run between pages, the Ctrl-C handler runs
 * only once everything is posted. A PGlite data folder belongs to the one process that has it open,
 * so the moment to press Ctrl-C is told by the command itself: its debug log of the first page
 * processed (LOG_LEVEL=debug).
 */

const ROWS = 6000;
const EVENTS = 3000;

let place: CliPlace;

beforeAll(async () => {
  place = await cliPlace();
  writeFileSync(
    join(place.dir, 'ledgerlink.json'),
    JSON.stringify({
      entities: [{ code: 'CLUB', name: 'Club', baseCurrency: 'EUR', standardTaxRate: '0.21' }],
      pipelines: [
        { name: 'files', entity: 'CLUB', source: { type: 'file' } },
        { name: 'hooks', entity: 'CLUB', source: { type: 'webhook' } },
      ],
    }),
  );
  const applied = await place.run(['config', 'apply', 'ledgerlink.json']);
  expect(applied.code, applied.stderr).toBe(0);
  copyFileSync('docs/examples/customers.csv', join(place.dir, 'customers.csv'));
  const customers = await place.run(['import', 'customers.csv', '--pipeline', 'files']);
  expect(customers.code, customers.stderr + customers.stdout).toBe(0);
  const lines = Array.from({ length: ROWS }, (_, i) => `CI-${i + 1},C-1001,2026-11-02,EUR,10.00,0.21`);
  writeFileSync(
    join(place.dir, 'many.csv'),
    `invoice_reference,customer_id,invoice_date,currency,net_amount,vat_rate\n${lines.join('\n')}\n`,
  );
}, 120_000);
afterAll(async () => {
  await place?.close();
});

async function ledger() {
  const db = await place.open();
  try {
    const runs = await db.query<{ id: string; status: string; created: number }>(
      `SELECT id, status, coalesce((counts->>'created')::int, 0) AS created FROM runs
        WHERE trigger = 'import' AND params->>'fileName' = 'many.csv' ORDER BY created_at`,
    );
    const invoices = await db.query<{ n: number; refs: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT external_reference)::int AS refs FROM transactions WHERE type = 'SI'`,
    );
    return { runs: runs.rows, invoices: invoices.rows[0]! };
  } finally {
    await db.close();
  }
}

/**
 * Starts the command with its debug log on, and returns it once it has processed its first page.
 * `stderr` is kept whole: the report has a line per row, and what was said before it must not be lost.
 */
async function startAndWaitForAPage(args: string[]): Promise<{ cli: Cli; stderr: () => string }> {
  const cli = startCli(args, { ...(place.env as Record<string, string>), LOG_LEVEL: 'debug' }, place.dir);
  let stderr = '';
  cli.child.stderr!.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  await waitFor(
    () => `the command to process its first page\n${cli.output()}`,
    60_000,
    async () => {
      if (cli.child.exitCode !== null) throw new Error(`exited early:\n${cli.output()}`);
      return stderr.includes('"msg":"page processed"') || undefined;
    },
    20,
  );
  return { cli, stderr: () => stderr };
}

describe('Ctrl-C during ledgerlink import', () => {
  it('cancels the import after the rows in hand, says which were not posted, and the file again posts the rest', async () => {
    const { cli, stderr } = await startAndWaitForAPage(['import', 'many.csv', '--pipeline', 'files']);
    cli.child.kill('SIGINT');
    const code = await cli.exited;
    const out = cli.output();
    expect(code, out).toBe(130);
    expect(stderr()).toContain('stopping after the page in hand (what it posted is kept)');
    expect(out).toMatch(/into pipeline files: run [0-9a-f-]{36} cancelled/);
    expect(out).toContain('Not posted: the import was cancelled by cli before this row was booked.');
    const stopped = await ledger();
    expect(stopped.runs.map((r) => r.status)).toEqual(['cancelled']);
    const posted = stopped.invoices.n;
    expect(posted).toBe(stopped.runs[0]!.created);
    expect(posted % 500, 'whole pages').toBe(0);
    expect(posted).toBeLessThan(ROWS);

    const again = await place.run(['import', 'many.csv', '--pipeline', 'files']);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stdout).toContain('this file was imported before');
    const done = await ledger();
    expect(done.invoices).toEqual({ n: ROWS, refs: ROWS });
    expect(done.runs.map((r) => r.status)).toEqual(['cancelled', 'succeeded']);
    expect(done.runs[1]!.created).toBe(ROWS - posted);
  }, 240_000);
});

describe('Ctrl-C during ledgerlink sync run, the database being both source and target', () => {
  it('stops after the page in hand and hands the run back; the same command goes on with it', async () => {
    const db = await place.open();
    try {
      const { rows } = await db.query<{ id: string }>(`SELECT id FROM pipelines WHERE name = 'hooks'`);
      // Events that do not parse: each is parked (WEBHOOK_EVENT_INVALID), a page of 200 at a time.
      await db.transaction(async (tx) => {
        for (let i = 1; i <= EVENTS; i++)
          await storeWebhookEvent(tx, rows[0]!.id, { eventId: `ev-${i}`, type: 'invoice.created', payload: { id: i } });
      });
    } finally {
      await db.close();
    }
    const { cli } = await startAndWaitForAPage(['sync', 'run', 'hooks']);
    cli.child.kill('SIGINT');
    const code = await cli.exited;
    const out = cli.output();
    expect(code, out).toBe(130);
    expect(out).toContain('stopping after the page in hand');
    const runId = /run ([0-9a-f-]{36}): stopped \(Ctrl-C\)/.exec(out)?.[1];
    expect(runId, out).toBeDefined();
    const parked = Number(/parked (\d+)/.exec(out)?.[1]);
    expect(parked).toBeGreaterThan(0);
    expect(parked).toBeLessThan(EVENTS);

    const again = await place.run(['sync', 'run', 'hooks']);
    expect(again.stderr).toContain(`going on with run ${runId}, which stopped before it finished`);
    expect(again.stdout).toContain(`run ${runId}: partial`);
    expect(again.code, again.stderr + again.stdout).toBe(2);
    // Every event parked once (the events of the page in hand are read again: they are at-least-once).
    const open = await place.run(['exceptions', 'list', '--pipeline', 'hooks', '--json']);
    expect(JSON.parse(open.stdout).total).toBe(EVENTS);
  }, 240_000);
});
