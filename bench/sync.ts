/**
 * The sync engine's benchmark (part of `npm run bench`; alone: `node bin/run-ts.js bench/sync.ts`).
 *
 * In one run, on PGlite and on PostgreSQL:
 *  - sync N instalments (default 100,000) from the local iXpole simulator into the ledger, without
 *    PDFs: documents per second, and peak resident memory of the whole process (engine, database
 *    and simulator together, sampled every 50 ms);
 *  - the ledger's own bulk throughput in the same run (the same number of invoices posted through
 *    the set-based batch writer directly), and the ratio sync / ledger;
 *  - PDFs rendered per second (the write-back renderer, 500 invoices);
 *  - webhook → posted latency (200 signed events through the HTTP stack, a queue-less service, so
 *    the 202 comes back once the document is posted): p50 and p95.
 * Options: --instalments N, --skip-postgres, --quick. Results are appended to bench/results/sync.json.
 * `--only pglite --sync-only` runs the sync alone and adds the process's VmHWM (bench/memory.ts).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { benchArgs, positiveInt, usageError } from './cli-args.ts';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { Database } from '../src/db/database.ts';
import { openDatabase } from '../src/db/open.ts';
import { createEntity } from '../src/ledger/entities.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import { SyncService } from '../src/sync/service.ts';
import { PipelineDefinition, savePipeline } from '../src/sync/pipelines.ts';
import { getRun } from '../src/sync/runs.ts';
import { startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { allowOutboundHost } from '../src/sync/http.ts';
import { Batch, type PostPayAllocateInput } from '../src/ledger/posting/post-pay-allocate.ts';
import { renderInvoicePdf } from '../src/ledger/pdf.ts';
import { buildServer } from '../src/api/server.ts';
import { signatureHeader } from '../src/connectors/webhook/signature.ts';
import { procMemory } from './stats.ts';

const { values: args } = benchArgs(
  {
    options: {
      instalments: { type: 'string' },
      'skip-postgres': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'sync-only': { type: 'boolean', default: false },
    },
  },
  `Usage: npm run bench:sync -- [--instalments N] [--quick] [--skip-postgres] [--only pglite|postgres [--sync-only]]

Syncs N instalments from the local iXpole simulator into the ledger on PGlite and PostgreSQL, beside
the ledger's own bulk rate in the same run; PDFs per second; webhook-to-posted latency.

  --instalments N    how many (default 100,000; 5,000 with --quick)
  --quick            small counts
  --skip-postgres    PGlite only
  --only DB          one database, in this process (pglite or postgres); prints one JSON line
  --sync-only        with --only: the sync alone, and the process's peak memory (VmHWM)
  -h, --help         this help

Results are appended to bench/results/sync.json.`,
);
if (args.only !== undefined && args.only !== 'pglite' && args.only !== 'postgres')
  usageError(`--only ${args.only}: pglite or postgres`);
const N = positiveInt(args.instalments, args.quick ? 5000 : 100_000, 'instalments');
const PG_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const log = pino({ level: 'silent' });
const box = new SecretBox(randomBytes(32));

function err(msg: string) {
  process.stderr.write(msg + '\n');
}

async function open(kind: 'pglite' | 'postgres'): Promise<{ db: Database; drop: () => Promise<void> }> {
  if (kind === 'pglite') {
    // On disk, as users run it: an in-memory PGlite would count the whole database as process memory.
    const dir = await mkdtemp(join(tmpdir(), 'll-bench-'));
    const db = await openDatabase({ dataDir: dir });
    return {
      db,
      drop: async () => {
        await db.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `bench_sync_${Date.now().toString(36)}`;
  const db = await openDatabase({ databaseUrl: PG_URL, schema, poolSize: 10 });
  return {
    db,
    drop: async () => {
      await db.exec(`DROP SCHEMA "${schema}" CASCADE`);
      await db.close();
    },
  };
}

async function syncInstalments(db: Database, n: number) {
  const sim = await startIxpoleSimulator({
    customers: Math.max(50, Math.round(n / 50)),
    products: 12,
    instalments: n,
    seed: 7,
    recordPdf: false,
    pageSize: 500,
  });
  // The simulator is http on loopback, which the outbound policy refuses unless allowed: this process allows it.
  allowOutboundHost(new URL(sim.url).hostname, Number(new URL(sim.url).port));
  const { entity } = await db.transaction((tx) =>
    createEntity(tx, { code: 'BENCH', name: 'Bench Club', baseCurrency: 'EUR', standardTaxRate: '0.21' }),
  );
  const def = PipelineDefinition.parse({
    name: 'bench',
    entity: 'BENCH',
    source: { type: 'ixpole', baseUrl: sim.url, apiKey: sim.apiKey },
    options: { pdf: false, pageSize: 500 },
  });
  const pipeline = await db.transaction(async (tx) => (await savePipeline(tx, box, entity.id, def, 'api')).pipeline);
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  let posted = 0;
  const started = performance.now();
  const sync = new SyncService({
    db,
    box,
    log,
    engine: {
      onPage: (_id, c) => {
        posted += c.created;
        const s = (performance.now() - started) / 1000;
        process.stderr.write(
          `\r  synced ${posted} records · ${Math.round(posted / s)}/s · rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB   `,
        );
      },
    },
  });
  const runId = (await sync.trigger(pipeline, 'manual', 'bench'))!;
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  process.stderr.write('\n');
  const run = (await getRun(db, runId))!;
  const { rows } = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM transactions WHERE entity_id = $1 AND type = 'SI'`,
    [entity.id],
  );
  const invoices = Number(rows[0]!.n);
  await sim.close();
  if (invoices !== n)
    throw new Error(`expected ${n} invoices, found ${invoices} (run ${run.status}, ${JSON.stringify(run.counts)})`);
  return {
    entity,
    seconds,
    invoices,
    docsPerSecond: invoices / seconds,
    peakRssMb: peak / 2 ** 20,
    baselineRssMb: baseline / 2 ** 20,
    counts: run.counts,
    writtenBack: run.counts.writtenBack,
  };
}

async function ledgerBulk(db: Database, entity: Awaited<ReturnType<typeof createEntity>>['entity'], n: number) {
  // The same kind of documents (one-line invoices for ~n/50 customers) through the set-based
  // writer directly, in chunks of 250 as the engine and the bulk endpoint use.
  const customers = 200;
  await db.query(
    `INSERT INTO customers (entity_id, code, name, currency, control_gl_account_code, default_tax_code, default_gl_account_code)
     SELECT $1, 'L' || g, 'Ledger ' || g, 'EUR', '1100', 'STD', '4000' FROM generate_series(1, $2) g`,
    [entity.id, customers],
  );
  const ctx = { entity, actor: 'bench' };
  const started = performance.now();
  for (let i = 0; i < n; i += 250) {
    const queries: PostPayAllocateInput[] = [];
    for (let k = i; k < Math.min(n, i + 250); k++) {
      queries.push({
        batchInvoice: {
          customerCode: `L${(k % customers) + 1}`,
          invoiceDate: '2026-11-01',
          externalReference: `LB-${k}`,
          description: 'Ledger bulk',
          lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '100.00', taxRate: '0.21' }],
        },
        performExternalReferenceDuplicateCheckOnInvoice: true,
        performExternalReferenceDuplicateCheckOnReceipt: true,
        performAllocation: false,
      });
    }
    await db.transaction(async (tx) => {
      const batch = await Batch.load({ ...ctx, db: tx }, queries);
      for (const q of queries) batch.add({ ...ctx, db: tx }, q);
      await batch.write({ ...ctx, db: tx });
    });
  }
  const seconds = (performance.now() - started) / 1000;
  return { seconds, docsPerSecond: n / seconds };
}

async function pdfRate(db: Database, entity: Awaited<ReturnType<typeof createEntity>>['entity']) {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM transactions WHERE entity_id = $1 AND type = 'SI' ORDER BY id LIMIT 500`,
    [entity.id],
  );
  for (const r of rows.slice(0, 20)) await renderInvoicePdf(db, entity, Number(r.id));
  const started = performance.now();
  let bytes = 0;
  for (const r of rows) bytes += (await renderInvoicePdf(db, entity, Number(r.id))).length;
  const seconds = (performance.now() - started) / 1000;
  return { pdfs: rows.length, perSecond: rows.length / seconds, averageKb: bytes / rows.length / 1024 };
}

async function webhookLatency(db: Database) {
  const secret = 'bench-webhook-secret-0123456789';
  const { entity } = await db.transaction((tx) =>
    createEntity(tx, { code: 'HOOK', name: 'Hook', baseCurrency: 'EUR', standardTaxRate: '0.21' }),
  );
  const def = PipelineDefinition.parse({
    name: 'hooks',
    entity: 'HOOK',
    source: { type: 'webhook' },
    webhookSecret: secret,
  });
  await db.transaction((tx) => savePipeline(tx, box, entity.id, def, 'api'));
  const sync = new SyncService({ db, box, log });
  const app = await buildServer({
    db,
    sync,
    logger: false,
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: undefined,
      tokenTtlSeconds: 1200,
      logLevel: 'silent',
      bodyLimitBytes: 1 << 20,
    },
  });
  const times: number[] = [];
  for (let i = 0; i < 220; i++) {
    const body = JSON.stringify({
      id: `evt-${i}`,
      type: 'invoice.created',
      created: Math.floor(Date.now() / 1000),
      data: {
        sourceId: `order-${i}`,
        externalReference: `WH-${i}`,
        customerSourceId: `c-${i % 10}`,
        customer: { sourceId: `c-${i % 10}`, name: `Customer ${i % 10}` },
        invoiceDate: '2026-11-21',
        currency: 'EUR',
        lines: [{ description: 'Item', netAmount: '10.00', vatRate: '0.21' }],
      },
    });
    const started = performance.now();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/webhooks/hooks',
      payload: body,
      headers: { 'content-type': 'application/json', 'x-ledgerlink-signature': signatureHeader(body, secret) },
    });
    if (res.statusCode !== 202) throw new Error(`webhook answered ${res.statusCode}: ${res.body}`);
    if (i >= 20) times.push(performance.now() - started);
  }
  await app.close();
  const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM transactions WHERE entity_id = $1`, [
    entity.id,
  ]);
  if (Number(rows[0]!.n) !== 220) throw new Error(`expected 220 posted invoices, found ${rows[0]!.n}`);
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  return { events: times.length, p50Ms: q(0.5), p95Ms: q(0.95) };
}

async function measure(kind: 'pglite' | 'postgres') {
  err(`${kind}: syncing ${N} instalments from the iXpole simulator…`);
  const { db, drop } = await open(kind);
  try {
    const sync = await syncInstalments(db, N);
    if (args['sync-only']) {
      return {
        syncSeconds: sync.seconds,
        syncDocsPerSecond: sync.docsPerSecond,
        peakRssMb: sync.peakRssMb,
        baselineRssMb: sync.baselineRssMb,
        // Every byte the process ever held at once, opening the database included (not sampled).
        vmHwmMb: procMemory().hwmMb,
      };
    }
    err(`${kind}: ledger bulk of ${N} invoices…`);
    const ledger = await ledgerBulk(db, sync.entity, N);
    const pdf = await pdfRate(db, sync.entity);
    err(`${kind}: webhook latency…`);
    const hook = await webhookLatency(db);
    return {
      syncSeconds: sync.seconds,
      syncDocsPerSecond: sync.docsPerSecond,
      ledgerBulkDocsPerSecond: ledger.docsPerSecond,
      ratio: sync.docsPerSecond / ledger.docsPerSecond,
      peakRssMb: sync.peakRssMb,
      // What the database engine holds before the sync starts (PGlite's WASM heap), and what the sync added.
      baselineRssMb: sync.baselineRssMb,
      growthRssMb: sync.peakRssMb - sync.baselineRssMb,
      writtenBack: sync.writtenBack,
      pdf,
      webhook: hook,
    };
  } finally {
    await drop();
  }
}

if (args.only === 'pglite' || args.only === 'postgres') {
  // A child process per database, so one database's memory never shows in the other's figure.
  console.log(JSON.stringify(await measure(args.only)));
} else {
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    instalments: N,
  };
  for (const kind of args['skip-postgres'] ? (['pglite'] as const) : (['pglite', 'postgres'] as const)) {
    const out = execFileSync(
      process.execPath,
      [
        fileURLToPath(new URL('../bin/run-ts.js', import.meta.url)),
        fileURLToPath(import.meta.url),
        '--only',
        kind,
        '--instalments',
        String(N),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 1 << 24,
      },
    );
    results[kind] = JSON.parse(out.toString().trim().split('\n').pop()!);
  }
  console.log(JSON.stringify(results, null, 2));
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/sync.json', JSON.stringify(results, null, 2));
}
