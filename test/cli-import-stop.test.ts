import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPlace, type CliPlace } from './helpers/cli.ts';
import { onPostgres } from './helpers/db.ts';
import { startCli, waitFor } from './helpers/process.ts';

/*
 * Ctrl-C during `ledgerlink import`, with the real command: the import is cancelled after the rows
 * in hand, reports what it posted and what it did not (exit 130), and the same file imported again
 * posts the rest, nothing twice. On PostgreSQL only: the test watches the run in the database to
 * choose its moment, and a PGlite data folder belongs to the one process that has it open (the
 * cancellation itself is tested on both databases in test/imports.test.ts).
 */

const ROWS = 6000;

let place: CliPlace;

beforeAll(async () => {
  if (!onPostgres) return;
  place = await cliPlace();
  writeFileSync(
    join(place.dir, 'ledgerlink.json'),
    JSON.stringify({
      entities: [{ code: 'CLUB', name: 'Club', baseCurrency: 'EUR', standardTaxRate: '0.21' }],
      pipelines: [{ name: 'files', entity: 'CLUB', source: { type: 'file' } }],
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

describe.skipIf(!onPostgres)('Ctrl-C during ledgerlink import', () => {
  it('cancels the import after the rows in hand, says which were not posted, and the file again posts the rest', async () => {
    const cli = startCli(['import', 'many.csv', '--pipeline', 'files'], place.env as Record<string, string>, place.dir);
    // The report has a line per row: what was said on stderr before it is kept whole.
    let stderr = '';
    cli.child.stderr!.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    await waitFor(
      () => `the import to post its first rows\n${cli.output()}`,
      60_000,
      async () => {
        if (cli.child.exitCode !== null) throw new Error(`exited early:\n${cli.output()}`);
        return (await ledger()).runs.some((r) => r.status === 'running' && r.created > 0) || undefined;
      },
    );
    cli.child.kill('SIGINT');
    const code = await cli.exited;
    const out = cli.output();
    expect(code, out).toBe(130);
    expect(stderr).toContain('stopping after the page in hand (what it posted is kept)');
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
