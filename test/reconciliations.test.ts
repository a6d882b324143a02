import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/api/server.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import { importFile } from '../src/sync/imports.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { TARGET_READ_PAGE } from '../src/sync/reconcile-data.ts';
import { targetDefinition } from '../src/sync/registry.ts';
import type { TargetConnector } from '../src/sync/target.ts';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp, type TestResponse } from './helpers/app.ts';
import { queuedSync } from './helpers/queue.ts';
import { waitFor } from './helpers/process.ts';
import { processScope } from './helpers/scoped.ts';
import { definePipeline } from './helpers/sync.ts';

/*
 * Reconciliations worked by a worker (POST /v1/pipelines/{name}/reconciliations): queued through the
 * durable queue, worked by a worker of a second server on the same database, followed with GET
 * /v1/reconciliations/{id}. The report must be the one the synchronous GET answers on the same data;
 * a slow target shows its progress page by page; a target that fails fails it with a stable code and
 * a message fit to show; one left running by a dead worker is taken up again at the restart, or failed
 * once it has had its attempts. On PGlite, and on PostgreSQL with DATABASE_URL.
 */

const scope = processScope();
const BOOKED = TARGET_READ_PAGE + 10;
const FROM = '2026-11-01';
const TO = '2026-11-30';

/** The next reconciliation's second read of the target waits until the function returned is called. */
let gate: Promise<void> = Promise.resolve();
let release: () => void = () => undefined;
let reads = 0;
let balanceReads = 0;
function holdSecondPage(): () => void {
  reads = 0;
  gate = new Promise<void>((resolve) => (release = resolve));
  return release;
}
/** The gate, or a retryable "was cancelled" as the remote client says it, once `signal` aborts. */
function heldUnlessStopped(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return gate;
  const stopped = new Promise<never>((_, reject) => {
    const cancel = () => reject(new ConnectorError('Slowbooks', 'GET /invoices was cancelled', { retryable: true }));
    if (signal.aborted) cancel();
    else signal.addEventListener('abort', cancel, { once: true });
  });
  return Promise.race([gate, stopped]);
}
scope.target({
  type: 'slow-ledger',
  description: 'The embedded ledger, its second page of reads held until the test lets it go',
  settings: z.strictObject({}),
  create: async (deps) => {
    const inner = await targetDefinition('ledger').create(deps);
    const slow: TargetConnector = {
      ...inner,
      documents: async (ctx, ids) => {
        // Held as a platform's rate limit holds a read: a stopping worker's signal ends the wait.
        if (++reads === 2) await heldUnlessStopped(ctx.signal);
        return inner.documents!(ctx, ids);
      },
      openBalances: async (ctx, customers, at) => {
        balanceReads++;
        return inner.openBalances!(ctx, customers, at);
      },
    };
    return slow;
  },
});
scope.target({
  type: 'down-books',
  description: 'A platform that answers 503 to everything',
  settings: z.strictObject({}),
  create: () =>
    Promise.reject(
      new ConnectorError('Downbooks', 'GET /invoices answered 503 Service Unavailable', {
        status: 503,
        retryable: true,
      }),
    ),
});
scope.target({
  type: 'broken-books',
  description: 'A connector with a bug that lets a database message through',
  settings: z.strictObject({}),
  create: () => Promise.reject(new Error('relation "secret_internal_table" does not exist')),
});

let t: TestApp;
let q: Awaited<ReturnType<typeof queuedSync>>;
/** A server with the durable queue and a worker, as `ledgerlink serve` runs; `t.app` has no queue. */
let app: FastifyInstance;
let a: Client;
let b: Client;
let shop: Pipeline;
/** Reconciliations as a dead worker left them before the worker here started (beforeAll). */
const left = { running: '', queued: '', exhausted: '' };

async function call(client: Client, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await app.inject({
    method: method as 'GET',
    url,
    headers: {
      authorization: `Bearer ${client.token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  return { status: res.statusCode, body: res.json(), headers: res.headers } as TestResponse;
}

async function start(client: Client, pipeline: string, window: unknown = { from: FROM, to: TO }) {
  const r = await call(client, 'POST', `/v1/pipelines/${pipeline}/reconciliations`, window);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.reconciliationId as string;
}

/** The reconciliation once `done` says it is what was waited for. */
function until(id: string, done: (body: any) => boolean, ms = 30_000): Promise<any> {
  return waitFor(`reconciliation ${id}`, ms, async () => {
    const r = await call(a, 'GET', `/v1/reconciliations/${id}`);
    expect(r.status).toBe(200);
    return done(r.body) ? r.body : undefined;
  });
}
const finished = (id: string) => until(id, (r) => r.status === 'succeeded' || r.status === 'failed');

/** What a worker killed while working it leaves: its job taken an hour ago, its heartbeat as old. */
async function leftByDeadWorker(id: string, status: 'queued' | 'running', attempts: number) {
  await t.db.query(
    `UPDATE ${q.schema}.job SET state = 'active', started_on = now() - interval '1 hour' WHERE data->>'reconciliationId' = $1`,
    [id],
  );
  await t.db.query(
    `UPDATE reconciliations SET status = $2, attempts = $3, created_at = now() - interval '1 hour',
            worker = CASE WHEN $2 = 'running' THEN 'dead-host:1:x' END,
            heartbeat_at = CASE WHEN $2 = 'running' THEN now() - interval '1 hour' END,
            started_at = CASE WHEN $2 = 'running' THEN now() - interval '1 hour' END
      WHERE id = $1`,
    [id, status, attempts],
  );
}

beforeAll(async () => {
  t = await createTestApp();
  a = await t.entity('RCJA', 'EUR', { standardTaxRate: '0.21' });
  b = await t.entity('RCJB', 'EUR', { standardTaxRate: '0.21' });
  shop = await definePipeline(t.db, 'RCJA', { name: 'shop', source: { type: 'file' } });
  for (const name of ['customers.csv', 'invoices.csv', 'receipts.csv']) {
    const bytes = await readFile(join('docs/examples', name));
    expect((await importFile(t.sync, shop, { fileName: name, bytes }, 'test')).failedRows).toBe(0);
  }
  // Typed in by hand for one of the pipeline's customers: a mismatch for the report to name.
  const hand = await a.post('/v1/sales/batch-invoices', {
    customerCode: 'ACME',
    invoiceDate: '2026-11-10',
    externalReference: 'HAND-1',
    lines: [{ glAccountCode: '4000', taxCode: 'ZERO', netAmount: '100.00', taxRate: '0' }],
  });
  expect(hand.status).toBe(201);

  // More booked documents than one page of target reads, under ledger ids that hold nothing.
  const slow = await definePipeline(t.db, 'RCJA', {
    name: 'slow',
    source: { type: 'file' },
    target: { type: 'slow-ledger' },
  });
  await t.db.query(
    `INSERT INTO source_documents (pipeline_id, kind, source_id, external_reference, customer_source_id, customer_code, document_date, currency, gross)
     SELECT $1, 'invoice', 'INV-' || i, 'INV-' || i, 'C-' || (i % 40), 'C' || (i % 40), $2::date + (i % 30), 'EUR', 12100
       FROM generate_series(1, $3::int) AS i`,
    [slow.id, FROM, BOOKED],
  );
  await t.db.query(
    `INSERT INTO sync_map (pipeline_id, kind, source_id, target_id)
     SELECT $1, 'invoice', 'INV-' || i, (900000000 + i)::text FROM generate_series(1, $2::int) AS i`,
    [slow.id, BOOKED],
  );
  await definePipeline(t.db, 'RCJA', { name: 'down', source: { type: 'file' }, target: { type: 'down-books' } });
  await definePipeline(t.db, 'RCJA', { name: 'broken', source: { type: 'file' }, target: { type: 'broken-books' } });
  await definePipeline(t.db, 'RCJB', { name: 'other', source: { type: 'file' } });

  q = await queuedSync(t.db, { leaseSeconds: 3 });
  app = await buildServer({
    db: t.db,
    sync: q.sync,
    logger: false,
    config: {
      port: 0,
      host: '127.0.0.1',
      adminToken: ADMIN_TOKEN,
      tokenTtlSeconds: 1200,
      logLevel: 'silent',
      bodyLimitBytes: 1024 * 1024,
    },
  });
  await app.ready();

  // What a worker killed while working them left, found by the worker started next.
  // Three periods: one unfinished reconciliation of a pipeline's period is kept at a time.
  left.running = await start(a, 'shop', { from: FROM, to: TO });
  left.queued = await start(a, 'shop', { from: FROM, to: '2026-11-29' });
  left.exhausted = await start(a, 'shop', { from: FROM, to: '2026-11-28' });
  await leftByDeadWorker(left.running, 'running', 1);
  await leftByDeadWorker(left.queued, 'queued', 0);
  await leftByDeadWorker(left.exhausted, 'running', 3);
  expect((await call(a, 'GET', `/v1/reconciliations/${left.running}`)).body.status).toBe('running');
  // The restart: the worker's first sweep takes them over (on PGlite at once, on PostgreSQL their
  // heartbeats are older than a lease), then works what it queued again.
  await q.sync.startWorker({ tickSeconds: 3600, concurrency: 2 });
}, 120_000);
afterAll(async () => {
  release();
  await app?.close();
  await q?.close();
  await t?.close();
});

describe('a reconciliation left by a dead worker', () => {
  it('is taken up again when the worker starts, or failed once it has had its three attempts', async () => {
    const { running, queued, exhausted } = left;
    for (const id of [running, queued]) {
      const r = await finished(id);
      expect(r.status, JSON.stringify(r.error)).toBe('succeeded');
      expect(r.report.summary.sourceDocuments).toBeGreaterThan(0);
    }
    const { rows } = await t.db.query<{ id: string; attempts: number }>(
      `SELECT id, attempts FROM reconciliations WHERE id = ANY($1::uuid[])`,
      [[running, queued]],
    );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.attempts]))).toEqual({ [running]: 2, [queued]: 1 });
    const failed = await finished(exhausted);
    expect(failed).toMatchObject({ status: 'failed', report: null, error: { code: 'RECONCILIATION_INTERRUPTED' } });
    expect(failed.error.message).toMatch(/stopped before it finished, 3 times/);
    expect(failed.finishedAt).not.toBeNull();
    const { rows: audit } = await t.db.query<{ action: string; object_id: string }>(
      `SELECT action, object_id FROM audit_log WHERE actor = 'recovery' AND object_type = 'reconciliation'`,
    );
    expect(audit.map((x) => `${x.action} ${x.object_id}`).sort()).toEqual(
      [
        `reconciliation.resumed ${running}`,
        `reconciliation.resumed ${queued}`,
        `reconciliation.failed ${exhausted}`,
      ].sort(),
    );
  }, 60_000);
});

describe('POST /v1/pipelines/{name}/reconciliations', () => {
  it('queues it; the worker stores the report the synchronous GET answers on the same data', async () => {
    const res = await call(a, 'POST', '/v1/pipelines/shop/reconciliations', { from: FROM, to: TO });
    expect(res.status).toBe(202);
    const id = res.body.reconciliationId as string;
    expect(res.body).toEqual({ reconciliationId: id, status: 'queued', location: `/v1/reconciliations/${id}` });
    expect(res.headers.location).toBe(`/v1/reconciliations/${id}`);
    const done = await finished(id);
    const sync = await call(a, 'GET', `/v1/pipelines/shop/reconciliation?from=${FROM}&to=${TO}`);
    expect(sync.status).toBe(200);
    expect(done.status).toBe('succeeded');
    expect(done.report).toEqual(sync.body);
    // Not a clean report: the invoice typed in by hand is named.
    expect(
      done.report.mismatches.some((m: any) => m.kind === 'not-from-source' && m.externalReference === 'HAND-1'),
    ).toBe(true);
    expect(done).toMatchObject({ pipeline: 'shop', from: FROM, to: TO, error: null, progress: { phase: 'balances' } });
    expect(done.createdBy).toMatch(/^credential:/);
    expect(Date.parse(done.startedAt)).toBeLessThanOrEqual(Date.parse(done.finishedAt));

    // The list: newest first, paginated, the summary without the report.
    const list = await call(a, 'GET', '/v1/pipelines/shop/reconciliations?pageSize=2');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ page: 1, pageSize: 2, total: 4 });
    expect(list.body.items).toHaveLength(2);
    expect(list.body.items[0]).toMatchObject({ reconciliationId: id, status: 'succeeded', summary: sync.body.summary });
    expect(list.body.items[0].report).toBeUndefined();
    const second = await call(a, 'GET', '/v1/pipelines/shop/reconciliations?page=2&pageSize=2');
    expect(second.body.items.map((r: any) => r.reconciliationId)).not.toContain(id);
    expect(second.body.items).toHaveLength(2);
  });

  it('takes the window from the query string too, with the GET defaults', async () => {
    const id = (await call(a, 'POST', `/v1/pipelines/shop/reconciliations?from=${FROM}&to=${TO}`)).body
      .reconciliationId;
    expect((await finished(id)).report.summary).toEqual(
      (await call(a, 'GET', `/v1/pipelines/shop/reconciliation?from=${FROM}&to=${TO}`)).body.summary,
    );
    const byDefault = await call(a, 'POST', '/v1/pipelines/shop/reconciliations');
    expect(byDefault.status).toBe(202);
    const r = await finished(byDefault.body.reconciliationId);
    const today = new Date().toISOString().slice(0, 10);
    expect(r.to).toBe(today);
    expect(Date.parse(r.to) - Date.parse(r.from)).toBe(30 * 86_400_000);
  });

  it('answers the one of the same period still queued or running instead of queueing another', async () => {
    const release = holdSecondPage();
    const first = await start(a, 'slow');
    await until(first, (r) => r.status === 'running');
    const again = await call(a, 'POST', '/v1/pipelines/slow/reconciliations', { from: FROM, to: TO });
    expect(again.status).toBe(202);
    expect(again.body.reconciliationId).toBe(first);
    // Another period is another reconciliation.
    const other = await start(a, 'slow', { from: FROM, to: '2026-11-29' });
    expect(other).not.toBe(first);
    release();
    expect((await finished(first)).status).toBe('succeeded');
    expect((await finished(other)).status).toBe('succeeded');
    // Once it is done, asking again queues a new one.
    const later = await start(a, 'slow');
    expect(later).not.toBe(first);
    expect((await finished(later)).status).toBe('succeeded');
  }, 60_000);

  it('shows its progress while it reads the target, page by page', async () => {
    const release = holdSecondPage();
    const id = await start(a, 'slow');
    const reading = await until(id, (r) => r.progress?.phase === 'target' && r.progress.fetched > 0);
    expect(reading.status).toBe('running');
    expect(reading.progress).toEqual({
      phase: 'target',
      sourceDocuments: BOOKED,
      fetched: TARGET_READ_PAGE,
      toFetch: BOOKED,
    });
    expect(reading.report).toBeNull();
    release();
    const done = await finished(id);
    expect(done.status).toBe('succeeded');
    expect(done.progress).toEqual({ phase: 'balances', sourceDocuments: BOOKED, fetched: BOOKED, toFetch: BOOKED });
    expect(done.report.mismatches.filter((m: any) => m.reason === 'not-posted')).toHaveLength(BOOKED);
  }, 60_000);

  it('stops an execution that another took over, and the one that took it over finishes it', async () => {
    const release = holdSecondPage();
    const id = await start(a, 'slow');
    await until(id, (r) => r.progress?.phase === 'target' && r.progress.fetched > 0);
    // Another worker's sweep took it over while this process looked dead, and then died in its turn.
    await t.db.query(`UPDATE reconciliations SET worker = 'other-host:2:y' WHERE id = $1`, [id]);
    const balances = balanceReads;
    // This execution's next heartbeat finds it gone; it stops at its next phase, reading nothing more.
    await new Promise((r) => setTimeout(r, 1500));
    release();
    await new Promise((r) => setTimeout(r, 500));
    expect(balanceReads).toBe(balances);
    // The other's heartbeat is quiet: once it is older than a lease, the sweep here queues it again.
    const done = await finished(id);
    expect(done.status).toBe('succeeded');
    expect(balanceReads).toBe(balances + 1);
    const { rows } = await t.db.query<{ attempts: number; worker: string | null }>(
      `SELECT attempts, worker FROM reconciliations WHERE id = $1`,
      [id],
    );
    expect(rows[0]).toEqual({ attempts: 2, worker: null });
  }, 60_000);

  it('fails with a stable code and a message fit to show when the target cannot be read', async () => {
    const down = await finished(await start(a, 'down'));
    expect(down).toMatchObject({
      status: 'failed',
      report: null,
      error: { code: 'RECONCILIATION_TARGET_UNAVAILABLE' },
    });
    expect(down.error.message).toBe(
      'Reading the target failed: Downbooks: GET /invoices answered 503 Service Unavailable',
    );
    // A raw message from below (a database's, a library's) stays in the log.
    const broken = await finished(await start(a, 'broken'));
    expect(broken).toMatchObject({ status: 'failed', error: { code: 'RECONCILIATION_FAILED' } });
    expect(broken.error.message).toMatch(/failed unexpectedly; the server log has the details/);
    expect(JSON.stringify(broken)).not.toContain('secret_internal_table');
  });

  it('refuses a bad window with 400, naming the field, and stores nothing', async () => {
    const before = (await t.db.query(`SELECT count(*)::int AS n FROM reconciliations`)).rows[0];
    const cases: [string, unknown, string][] = [
      ['/v1/pipelines/shop/reconciliations', { from: '2026-12-01', to: '2026-11-01' }, 'body.from'],
      ['/v1/pipelines/shop/reconciliations?from=2026-12-01&to=2026-11-01', undefined, 'query.from'],
      ['/v1/pipelines/shop/reconciliations', { from: '2026-13-45' }, 'body.from'],
      ['/v1/pipelines/shop/reconciliations?to=yesterday', undefined, 'query.to'],
      ['/v1/pipelines/shop/reconciliations?to=2026-11-30', { to: '2026-11-29' }, 'body.to'],
    ];
    for (const [url, body, field] of cases) {
      const r = await call(a, 'POST', url, body);
      expect(r.status, `${url} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
      expect(r.body.error.details.map((d: any) => d.field)).toContain(field);
    }
    const unknown = await call(a, 'POST', '/v1/pipelines/shop/reconciliations', { from: FROM, until: TO });
    expect(unknown.status).toBe(400);
    expect((await t.db.query(`SELECT count(*)::int AS n FROM reconciliations`)).rows[0]).toEqual(before);
  });

  it("answers another entity's reconciliation and pipeline as not found", async () => {
    const id = await start(a, 'shop');
    await finished(id);
    const mine = await start(b, 'other');
    for (const [url, method, code] of [
      [`/v1/reconciliations/${id}`, 'GET', 'NOT_FOUND'],
      ['/v1/pipelines/shop/reconciliations', 'GET', 'PIPELINE_NOT_FOUND'],
      ['/v1/pipelines/shop/reconciliations', 'POST', 'PIPELINE_NOT_FOUND'],
    ] as const) {
      const r = await call(b, method, url, method === 'POST' ? {} : undefined);
      expect(r.status, url).toBe(404);
      expect(r.body.error.code).toBe(code);
    }
    const list = await call(b, 'GET', '/v1/pipelines/other/reconciliations');
    expect(list.body.items.map((r: any) => r.reconciliationId)).toEqual([mine]);
    expect((await call(a, 'GET', `/v1/reconciliations/${mine}`)).status).toBe(404);
    expect((await call(a, 'GET', '/v1/reconciliations/not-an-id')).status).toBe(400);
    // The admin token sees every entity's.
    const admin = await app.inject({
      method: 'GET',
      url: `/v1/reconciliations/${id}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(admin.statusCode).toBe(200);
  });

  it('honours an Idempotency-Key: the retry answers the same reconciliation and queues nothing', async () => {
    const headers = { 'idempotency-key': 'reconcile-november' };
    const first = await call(a, 'POST', '/v1/pipelines/shop/reconciliations', { from: FROM, to: TO }, headers);
    expect(first.status).toBe(202);
    const count = async () =>
      (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM reconciliations`)).rows[0]!.n;
    const n = await count();
    const again = await call(a, 'POST', '/v1/pipelines/shop/reconciliations', { from: FROM, to: TO }, headers);
    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    // A client that lost the first answer follows the same header as one that got it.
    expect(first.headers.location).toBe(`/v1/reconciliations/${first.body.reconciliationId}`);
    expect(again.headers.location).toBe(first.headers.location);
    expect(await count()).toBe(n);
    await finished(first.body.reconciliationId);
  });

  it('without a queue (a server with no worker) works it before answering', async () => {
    const r = await a.post('/v1/pipelines/shop/reconciliations', { from: FROM, to: TO });
    expect(r.status).toBe(202);
    expect(r.body.status).toBe('succeeded');
    const stored = await a.get(`/v1/reconciliations/${r.body.reconciliationId}`);
    expect(stored.body.report).toEqual((await a.get(`/v1/pipelines/shop/reconciliation?from=${FROM}&to=${TO}`)).body);
  });
});

describe('a worker that stops while it works a reconciliation', () => {
  // Last in the file: it stops the worker the other tests use.
  it('ends its wait for the target at once and hands it back; the next worker does it', async () => {
    const release = holdSecondPage();
    const id = await start(a, 'slow');
    await until(id, (r) => r.progress?.phase === 'target' && r.progress.fetched > 0);
    const started = Date.now();
    await q.sync.stop();
    // The target's wait was ended by the stop, not waited out (the gate is still shut).
    expect(Date.now() - started).toBeLessThan(5_000);
    const { rows } = await t.db.query<{ status: string; attempts: number; worker: string | null }>(
      `SELECT status, attempts, worker FROM reconciliations WHERE id = $1`,
      [id],
    );
    // Handed back: queued again, the interrupted execution not counted against its attempts.
    expect(rows[0]).toEqual({ status: 'queued', attempts: 0, worker: null });
    const jobs = await t.db.query<{ state: string }>(
      `SELECT state FROM ${q.schema}.job WHERE data->>'reconciliationId' = $1 ORDER BY created_on`,
      [id],
    );
    expect(jobs.rows.map((r) => r.state)).toEqual(['completed', 'created']);

    release();
    const next = await queuedSync(t.db, { leaseSeconds: 3 });
    try {
      await next.sync.startWorker({ tickSeconds: 3600, concurrency: 1 });
      const done = await finished(id);
      expect(done.status).toBe('succeeded');
      expect(done.report.mismatches.filter((m: any) => m.reason === 'not-posted')).toHaveLength(BOOKED);
    } finally {
      await next.sync.stop();
    }
  }, 60_000);
});
