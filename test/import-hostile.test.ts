import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants } from './helpers/ledger.ts';
import { definePipeline, syncService } from './helpers/sync.ts';
import { syncServer, upload } from './helpers/uploads.ts';
import type { Database, Queryable } from '../src/db/database.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { importFile } from '../src/sync/imports.ts';
import { runImport } from '../src/cli/import.ts';
import { cliImportPlace } from './helpers/cli.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * Hostile import files: an import is checked row by row before anything is posted, refuses each
 * bad cell naming its column, and never answers "nothing was changed" when rows were posted.
 */

const scope = processScope();
let t: TestApp;
let app: FastifyInstance;
let c: Client;
let files: Pipeline;

beforeAll(async () => {
  t = await createTestApp();
  app = await syncServer(t);
  c = await t.entity('HOST', 'EUR', { standardTaxRate: '0.21' });
  files = await definePipeline(t.db, 'HOST', { name: 'files', source: { type: 'file' } });
});
afterAll(async () => {
  if (app !== t.app) await app.close();
  await t.close();
});

const HEADER =
  'invoice_reference,customer_id,customer_name,invoice_date,due_date,currency,line_description,net_amount,vat_rate\n';
const row = (ref: string, o: { name?: string; due?: string; net?: string; customer?: string } = {}) =>
  `${ref},${o.customer ?? 'C1'},"${o.name ?? 'Customer One'}",2026-11-02,"${o.due ?? '2026-12-02'}",EUR,Service,${o.net ?? '10.00'},0.21\n`;

async function references() {
  const { rows } = await t.db.query<{ external_reference: string }>(
    `SELECT external_reference FROM transactions WHERE entity_id = $1 AND type = 'SI' ORDER BY external_reference`,
    [c.entityId],
  );
  return rows.map((r) => r.external_reference);
}

async function send(name: string, content: Buffer | string) {
  return upload(app, c.token, { pipeline: 'files' }, { name, content });
}

/** UTF-16LE with its BOM, as Excel's "Unicode text" saves; the only way a lone surrogate reaches a CSV. */
function utf16(text: string): Buffer {
  const body = Buffer.alloc(text.length * 2);
  for (let i = 0; i < text.length; i++) body.writeUInt16LE(text.charCodeAt(i), i * 2);
  return Buffer.concat([Buffer.from([0xff, 0xfe]), body]);
}

describe('POST /v1/imports with hostile cells', () => {
  it('a NUL in a due date refuses that row naming due_date; the other row posts; re-importing answers the same, never 500', async () => {
    const file = HEADER + row('NUL-1') + row('NUL-2', { due: 'a\u0000b' });
    for (const attempt of [1, 2]) {
      const r = await send('nul-date.csv', file);
      expect(r.status).toBe(200);
      expect(r.body.alreadyImported).toBe(attempt === 2);
      expect(r.body.rows).toMatchObject([
        { line: 2, sourceId: 'NUL-1', outcome: attempt === 1 ? 'created' : 'skipped' },
        { line: 3, sourceId: 'NUL-2', outcome: 'parked' },
      ]);
      expect(r.body.rows[1].message).toMatch(/^IMPORT_ROW_INVALID: due_date: contains a NUL character/);
      expect(r.body.failedRows).toBe(1);
    }
    expect(await references()).toEqual(['NUL-1']);
    const { rows } = await t.db.query<{ field: string; reason_code: string }>(
      `SELECT field, reason_code FROM exceptions WHERE pipeline_id = $1 AND source_id = 'NUL-2' AND status = 'open'`,
      [files.id],
    );
    expect(rows).toEqual([{ field: 'due_date', reason_code: 'IMPORT_ROW_INVALID' }]);
  });

  it('refuses a NUL in a customer name, a lone surrogate, and an amount beyond the range, each naming its column', async () => {
    const nulName = await send(
      'nul-name.csv',
      HEADER + row('NN-1') + row('NN-2', { customer: 'C2', name: 'Bad\u0000Name' }),
    );
    expect(nulName.status).toBe(200);
    expect(nulName.body.rows.map((r: any) => r.outcome)).toEqual(['created', 'parked']);
    expect(nulName.body.rows[1].message).toMatch(/customer_name: contains a NUL character/);

    const lone = await send(
      'surrogate.csv',
      utf16(HEADER + row('LS-1') + row('LS-2', { customer: 'C3', name: 'Bad\uD800Name' })),
    );
    expect(lone.status).toBe(200);
    expect(lone.body.rows.map((r: any) => r.outcome)).toEqual(['created', 'parked']);
    expect(lone.body.rows[1].message).toMatch(/customer_name: contains a lone UTF-16 surrogate/);

    const huge = await send(
      'huge.csv',
      HEADER +
        row('HG-1') +
        row('HG-2', { net: '100000000000000000000' }) +
        // Each line fits; the invoice's total does not.
        row('HG-3', { net: '50000000000000000.00' }) +
        row('HG-3', { net: '50000000000000000.00' }),
    );
    expect(huge.status).toBe(200);
    expect(huge.body.rows.map((r: any) => [r.sourceId, r.outcome])).toEqual([
      ['HG-1', 'created'],
      ['HG-2', 'parked'],
      ['HG-3', 'parked'],
      ['HG-3', 'parked'],
    ]);
    expect(huge.body.rows[1].message).toMatch(/net_amount: .* beyond the largest amount/);
    expect(huge.body.rows[2].message).toMatch(/AMOUNT_OUT_OF_RANGE/);
    // No customers were created from the refused rows' bad names.
    const { rows: names } = await t.db.query<{ name: string }>(
      `SELECT name FROM customers WHERE entity_id = $1 ORDER BY code`,
      [c.entityId],
    );
    expect(names.map((n) => n.name)).toEqual(['Customer One']);
    expect(await references()).toEqual(['HG-1', 'LS-1', 'NN-1', 'NUL-1']);
    await checkInvariants(t.db, c.entityId);
  });
});

describe('an import interrupted by an unexpected error', () => {
  it('reports exactly which rows were posted, not "nothing was changed"', async () => {
    // A database whose run records cannot be written: the failure comes after the invoices are booked.
    const failing = (db: Queryable): Queryable => ({
      get inTransaction() {
        return db.inTransaction;
      },
      query: async (sql, params) => {
        if (sql.includes('INSERT INTO run_records')) throw new Error('disk full (simulated)');
        return db.query(sql, params);
      },
      exec: (sql) => db.exec(sql),
      transaction: (fn) => db.transaction((tx) => fn(failing(tx))),
    });
    const db = Object.assign<Database, Queryable>(Object.create(t.db) as Database, failing(t.db));
    const sync = syncService(db);
    const errors = scope.spyOn(sync.log, 'error').mockImplementation(() => undefined);
    const result = await importFile(
      sync,
      files,
      {
        fileName: 'interrupted.csv',
        bytes: Buffer.from(HEADER + row('INT-1') + row('INT-2', { customer: 'C9', name: 'Nine' })),
      },
      'test',
    );
    errors.mockRestore();
    expect(result.status).toBe('failed');
    expect(result.rows.map((r) => [r.sourceId, r.outcome])).toEqual([
      ['INT-1', 'created'],
      ['INT-2', 'created'],
    ]);
    expect(await references()).toContain('INT-1');
    expect(await references()).toContain('INT-2');
  });
});

describe('ledgerlink import with a hostile file', () => {
  const dir = cliImportPlace(scope, 'hostile');

  it('parks the NUL row with its column and posts the other, every time', async () => {
    const file = join(dir(), 'nul.csv');
    await writeFile(file, HEADER + row('CLI-1') + row('CLI-2', { due: 'a\u0000b' }));
    for (const attempt of [1, 2]) {
      const out: string[] = [];
      const log = scope.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
      const error = scope.spyOn(console, 'error').mockImplementation(() => undefined);
      let code: number;
      try {
        code = await runImport(file, { pipeline: 'cli-files', json: true });
      } finally {
        log.mockRestore();
        error.mockRestore();
      }
      expect(code).toBe(1);
      const result = JSON.parse(out.join('\n'));
      expect(result.rows.map((r: any) => r.outcome)).toEqual([attempt === 1 ? 'created' : 'skipped', 'parked']);
      expect(result.rows[1].message).toMatch(/due_date: contains a NUL character/);
    }
  });
});
