import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { registerReconcile, runReconcile } from '../src/cli/reconcile.ts';
import { createEntity } from '../src/ledger/entities.ts';
import { PipelineDefinition, requirePipeline, savePipeline } from '../src/sync/pipelines.ts';
import { type ReconcileProgress, reconcile } from '../src/sync/reconcile.ts';
import { TARGET_READ_PAGE } from '../src/sync/reconcile-data.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import { type CliPlace, cliPlace } from './helpers/cli.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * What `ledgerlink reconcile` shows while it works: reconcile() tells its caller each phase and,
 * page by page, how many of the target's documents it has read; the command draws that on stderr
 * when stderr is a terminal, and with --json prints the reconciliation alone, byte for byte.
 * The pipeline's booked documents are more than one page of target reads (TARGET_READ_PAGE), so the
 * count has to grow across pages. They are recorded as the engine records what it booked
 * (source_documents and sync_map) under ledger ids that hold nothing: each is then missing from
 * the ledger, which shows that every one of them was asked for.
 */

const scope = processScope();
const BOOKED = TARGET_READ_PAGE + 250;
const FROM = '2026-11-01';
const TO = '2026-11-30';
let place: CliPlace;
let box: SecretBox;

beforeAll(async () => {
  place = await cliPlace();
  // runReconcile opens the database as the command does, from the environment.
  for (const name of ['LEDGERLINK_ENCRYPTION_KEY', 'LEDGERLINK_DB_SCHEMA'] as const)
    if (place.env[name]) scope.env(name, place.env[name]);
  if (!process.env.DATABASE_URL) scope.env('LEDGERLINK_DATA_DIR', join(place.dir, 'data'));
  box = SecretBox.fromEnv();
  const db = await place.open();
  try {
    const { entity } = await db.transaction((tx) =>
      createEntity(tx, { code: 'PROG', name: 'Progress', baseCurrency: 'EUR', standardTaxRate: '0.21' }),
    );
    const def = PipelineDefinition.parse({ name: 'big', entity: 'PROG', source: { type: 'file' } });
    const { pipeline } = await db.transaction((tx) => savePipeline(tx, box, entity.id, def, 'api'));
    await db.query(
      `INSERT INTO source_documents (pipeline_id, kind, source_id, external_reference, customer_source_id, customer_code, document_date, currency, gross)
       SELECT $1, 'invoice', 'INV-' || i, 'INV-' || i, 'C-' || (i % 40), 'C' || (i % 40), $2::date + (i % 30), 'EUR', 12100
         FROM generate_series(1, $3::int) AS i`,
      [pipeline.id, FROM, BOOKED],
    );
    await db.query(
      `INSERT INTO sync_map (pipeline_id, kind, source_id, target_id)
       SELECT $1, 'invoice', 'INV-' || i, (900000000 + i)::text FROM generate_series(1, $2::int) AS i`,
      [pipeline.id, BOOKED],
    );
  } finally {
    await db.close();
  }
}, 120_000);
afterAll(async () => place?.close());

describe('reconcile() reports its progress', () => {
  it('tells each phase in order, and the target documents read growing page by page to all of them', async () => {
    const db = await place.open();
    const seen: ReconcileProgress[] = [];
    try {
      const pipeline = await requirePipeline(db, box, 'big');
      const r = await reconcile(db, pipeline, FROM, TO, pino({ level: 'silent' }), box, {
        onProgress: (p) => seen.push(p),
      });
      expect(r.summary.sourceDocuments).toBe(BOOKED);
      expect(r.mismatches.filter((m) => m.reason === 'not-posted')).toHaveLength(BOOKED);
    } finally {
      await db.close();
    }
    // Each phase once, in order, with the pages of the target in between.
    const phases = seen.map((p) => p.phase).filter((p, i, all) => p !== all[i - 1]);
    expect(phases).toEqual(['source', 'target', 'unlinked', 'comparing', 'balances']);
    expect(seen[0]).toEqual({ phase: 'source', sourceDocuments: 0, fetched: 0, toFetch: 0 });
    const target = seen.filter((p) => p.phase === 'target');
    expect(target.map((p) => p.fetched)).toEqual([0, TARGET_READ_PAGE, BOOKED]);
    expect(target.every((p) => p.toFetch === BOOKED && p.sourceDocuments === BOOKED)).toBe(true);
    // Once read, the counts stay as they were to the end.
    expect(seen.at(-1)).toEqual({ phase: 'balances', sourceDocuments: BOOKED, fetched: BOOKED, toFetch: BOOKED });
  }, 120_000);
});

describe('ledgerlink reconcile on a terminal', () => {
  /** Runs the command in this process with stderr as a terminal, and returns every byte it wrote where. */
  async function onTerminal(json: boolean) {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const push = (to: string[]) => (chunk: string | Uint8Array) => {
      to.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    };
    // console.log and console.error go through vitest's console, not the streams: both are caught.
    const spies = [
      scope.spyOn(process.stdout, 'write').mockImplementation(push(stdout)),
      scope.spyOn(process.stderr, 'write').mockImplementation(push(stderr)),
      scope.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void stdout.push(`${a.join(' ')}\n`)),
      scope.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void stderr.push(`${a.join(' ')}\n`)),
    ];
    const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    try {
      const code = await runReconcile('big', { from: FROM, to: TO, json });
      return { code, stdout: stdout.join(''), stderr: stderr.join('') };
    } finally {
      if (tty) Object.defineProperty(process.stderr, 'isTTY', tty);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
      for (const spy of spies) spy.mockRestore();
    }
  }

  it('shows the phase and the documents read on stderr, and only the report on stdout', async () => {
    const r = await onTerminal(false);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^big from 2026-11-01 to 2026-11-30: 0 documents match, \d+ mismatches\n/);
    expect(r.stdout).not.toContain('\r');
    expect(r.stdout).not.toContain('\x1b');
    expect(r.stderr).toContain('\r\x1b[2K');
    expect(r.stderr).toContain(`reconcile big, reading the target: source ${BOOKED} · fetched 0/${BOOKED} · `);
    expect(r.stderr).toContain(
      `reconcile big, comparing open balances: source ${BOOKED} · fetched ${BOOKED}/${BOOKED} · `,
    );
    // The line is ended before anything else is printed.
    expect(r.stderr.endsWith('\n')).toBe(true);
  }, 120_000);

  it('with --json prints exactly the reconciliation on stdout, and no progress anywhere', async () => {
    const r = await onTerminal(true);
    expect(r.code).toBe(1);
    expect(r.stdout.endsWith('}\n')).toBe(true);
    const parsed = JSON.parse(r.stdout) as { summary: { sourceDocuments: number } };
    expect(r.stdout).toBe(`${JSON.stringify(parsed)}\n`);
    expect(parsed.summary.sourceDocuments).toBe(BOOKED);
    expect(r.stderr).toBe('');
  }, 120_000);

  it('--help says what goes to stdout and what to stderr, and when progress is shown', async () => {
    const program = new Command().exitOverride();
    let help = '';
    program.configureOutput({ writeOut: (text) => (help += text), writeErr: (text) => (help += text) });
    registerReconcile(program);
    await expect(program.parseAsync(['node', 'ledgerlink', 'reconcile', '--help'])).rejects.toThrow();
    const said = help.replace(/\s+/g, ' ');
    expect(said).toContain('with --json only the reconciliation as JSON, on stdout; errors and warnings on stderr');
    expect(said).toContain('On a terminal, stderr also shows progress on one line');
    expect(said).toContain('nothing with --json or on a pipe');
  });
});
