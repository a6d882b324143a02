import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, SqlParam } from '../src/db/database.ts';
import { createEntity } from '../src/ledger/entities.ts';
import { SettingsError } from '../src/settings.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import {
  RETENTION_QUERIES,
  purgeHistory,
  purgeReconciliations,
  purgeRunRecords,
  purgeWebhookEvents,
  retentionFromEnv,
} from '../src/sync/retention.ts';
import { addRunRecords, createRun, getRun, setRunStatus } from '../src/sync/runs.ts';
import { storeWebhookEvent } from '../src/sync/webhook-events.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { createTestDatabase, onPostgres } from './helpers/db.ts';
import { waitFor } from './helpers/process.ts';
import { queuedSync } from './helpers/queue.ts';
import { customerRecord, definePipeline, invoiceRecord, silentLog } from './helpers/sync.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';
import { invoiceEvent, webhookClient, type WebhookClient } from './helpers/webhooks.ts';

/*
 * The retention policy (src/sync/retention.ts): finished reconciliations, the per-document records
 * of finished runs and processed webhook events older than their retention are removed, a batch at
 * a time, and nothing else: each pipeline's newest finished and newest succeeded reconciliation stay
 * whatever their age, and so does one a replayed Idempotency-Key answer points to until it expires;
 * unfinished ones and recent ones stay; a run keeps its row and counts, says when its records went,
 * and a run with something still on its way or an exception open keeps its records; an unprocessed
 * webhook event stays, and a sender's delivery of a removed one posts nothing. The readers (the API,
 * the dashboard) say the records were removed instead of showing an empty list. The settings are
 * refused when they are not a number of days or "forever". On PGlite, and on PostgreSQL with
 * DATABASE_URL.
 */

const DAY_MS = 86_400_000;
let t: TestApp;
let owner: Client;
let anna: Browser;

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 12 });
  owner = await t.entity('RET', 'EUR', { standardTaxRate: '0.21' });
  const user = await addUser(t, owner, 'ret@example.com', 'viewer');
  anna = await signIn(t, user.email, user.password);
});
afterAll(async () => t?.close());

let pipelines = 0;
async function pipeline(): Promise<Pipeline> {
  return definePipeline(t.db, 'RET', { name: `ret-${++pipelines}`, source: { type: 'records' } });
}

type ReconciliationState = 'queued' | 'running' | 'succeeded' | 'failed';

/**
 * A reconciliation of the pipeline asked for `ageDays` ago (finished then too, when finished). Each
 * unfinished one gets a window of its own: the database keeps one unfinished per window.
 */
async function reconciliation(
  p: Pipeline,
  status: ReconciliationState,
  ageDays: number,
  db: Database = t.db,
): Promise<string> {
  const at = new Date(Date.now() - ageDays * DAY_MS);
  const finished = status === 'succeeded' || status === 'failed';
  const to = new Date(Date.UTC(2026, 0, 1) + Math.round(ageDays) * DAY_MS).toISOString().slice(0, 10);
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO reconciliations (pipeline_id, entity_id, date_from, date_to, status, report, error_code, error_message,
                                  worker, heartbeat_at, attempts, created_by, created_at, started_at, finished_at)
     VALUES ($1, $2, '2025-12-01', $3, $4, $5, $6, $7, $8, $9, $10, 'test', $11, $11, $12) RETURNING id`,
    [
      p.id,
      p.entityId,
      to,
      status,
      status === 'succeeded' ? JSON.stringify({ summary: { matched: 1, mismatched: 0 } }) : null,
      status === 'failed' ? 'RECONCILIATION_TARGET_UNAVAILABLE' : null,
      status === 'failed' ? 'Reading the target failed: 503' : null,
      status === 'running' ? 'other-host:1:x' : null,
      status === 'running' ? new Date() : null,
      status === 'queued' ? 0 : 1,
      at,
      finished ? at : null,
    ],
  );
  return rows[0]!.id;
}

async function reconciliationsLeft(p: Pipeline): Promise<string[]> {
  const { rows } = await t.db.query<{ id: string }>(
    `SELECT id FROM reconciliations WHERE pipeline_id = $1 ORDER BY created_at`,
    [p.id],
  );
  return rows.map((r) => r.id);
}

describe('reconciliations', () => {
  it('go once finished longer ago than the retention, except the newest finished and newest succeeded of each pipeline', async () => {
    const a = await pipeline();
    const aOldest = await reconciliation(a, 'succeeded', 200);
    const aOldFailed = await reconciliation(a, 'failed', 150);
    const aQueued = await reconciliation(a, 'queued', 120);
    const aRunning = await reconciliation(a, 'running', 110);
    // The newest succeeded, older than the retention, with a newer failure: the last report there is.
    const aLastReport = await reconciliation(a, 'succeeded', 100);
    // The newest finished, older than the retention too.
    const aLastWord = await reconciliation(a, 'failed', 95);

    const b = await pipeline();
    const bOld = await reconciliation(b, 'succeeded', 100);
    const bOldFailed = await reconciliation(b, 'failed', 91);
    const bRecent = await reconciliation(b, 'succeeded', 30);
    const bRecentFailed = await reconciliation(b, 'failed', 20);
    const bNewest = await reconciliation(b, 'succeeded', 1);

    // A pipeline's only reconciliation, however old.
    const c = await pipeline();
    const cOnly = await reconciliation(c, 'succeeded', 400);

    // A batch of one: the purge goes on until a batch comes back short.
    expect(await purgeReconciliations(t.db, 90, { batch: 1 })).toBe(4);
    expect(await reconciliationsLeft(a)).toEqual([aQueued, aRunning, aLastReport, aLastWord]);
    expect(await reconciliationsLeft(b)).toEqual([bRecent, bRecentFailed, bNewest]);
    expect(await reconciliationsLeft(c)).toEqual([cOnly]);
    expect(await purgeReconciliations(t.db, 90)).toBe(0);

    // Those removed are gone from the API; what stays is read as before, its report whole.
    for (const gone of [aOldest, aOldFailed, bOld, bOldFailed])
      expect((await owner.get(`/v1/reconciliations/${gone}`)).status, gone).toBe(404);
    const kept = await owner.get(`/v1/reconciliations/${aLastReport}`);
    expect(kept.status).toBe(200);
    expect(kept.body.report).toEqual({ summary: { matched: 1, mismatched: 0 } });
    const list = await owner.get(`/v1/pipelines/${a.name}/reconciliations`);
    expect(list.body.total).toBe(4);

    // With a retention of a day, only the newest of each kind stays of b; the unfinished of a stay.
    expect(await purgeReconciliations(t.db, 1)).toBe(2);
    expect(await reconciliationsLeft(a)).toEqual([aQueued, aRunning, aLastReport, aLastWord]);
    expect(await reconciliationsLeft(b)).toEqual([bNewest]);
  });

  it('stay while an Idempotency-Key answer that points to them is replayed, and go once it has expired', async () => {
    const p = await pipeline();
    const start = () =>
      owner.post(
        `/v1/pipelines/${p.name}/reconciliations`,
        { from: '2026-01-01', to: '2026-01-31' },
        { 'idempotency-key': `reconcile-${p.name}` },
      );
    const first = await start();
    expect(first.status).toBe(202);
    const id: string = first.body.reconciliationId;
    const location = `/v1/reconciliations/${id}`;
    expect(first.headers.location).toBe(location);
    // A retention shorter than the key's life (say 1 day against LEDGERLINK_IDEMPOTENCY_TTL_SECONDS of
    // 30 days), as it comes to the purge: due by its age, not the newest of its pipeline, and only
    // the replayed answer keeps it.
    await t.db.query(`UPDATE reconciliations SET created_at = $2, started_at = $2, finished_at = $2 WHERE id = $1`, [
      id,
      new Date(Date.now() - 100 * DAY_MS),
    ]);
    const newer = await reconciliation(p, 'succeeded', 1);
    expect(await purgeReconciliations(t.db, 90)).toBe(0);
    const replayed = await start();
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.headers.location).toBe(location);
    expect((await owner.get(location)).status).toBe(200);

    // Once the answer is no longer replayed, the next pass removes the report...
    await t.db.query(`UPDATE idempotency_keys SET expires_at = now() WHERE response_location = $1`, [location]);
    expect(await purgeReconciliations(t.db, 90)).toBe(1);
    expect(await reconciliationsLeft(p)).toEqual([newer]);
    // ...and the same key starts a reconciliation again rather than pointing at the removed one.
    const again = await start();
    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(again.body.reconciliationId).not.toBe(id);
    expect((await owner.get(String(again.headers.location))).status).toBe(200);
  });
});

/** An invoice parked for a customer the source never sent, and one that goes through with its customer. */
async function syncedRun(p: Pipeline, tag: string, parked: boolean): Promise<string> {
  const records = [customerRecord(`C-${tag}`), invoiceRecord(`I-${tag}`, `C-${tag}`)];
  if (parked) records.push(invoiceRecord(`P-${tag}`, `NOBODY-${tag}`));
  return t.sync.processRecords(
    p,
    'import',
    'test',
    records.map((record) => ({ record })),
  );
}

/** A succeeded run of `n` skipped invoice records, `<tag>-0` and on. */
async function runOf(p: Pipeline, tag: string, n: number, message?: string): Promise<string> {
  const id = (await createRun(t.db, { pipelineId: p.id, entityId: p.entityId, trigger: 'manual', createdBy: 'test' }))!;
  const records = Array.from({ length: n }, (_, i) => ({
    kind: 'invoice',
    sourceId: `${tag}-${i}`,
    outcome: 'skipped' as const,
    message,
  }));
  await addRunRecords(t.db, id, records);
  await setRunStatus(t.db, id, 'succeeded');
  return id;
}

async function finishedDaysAgo(runId: string, days: number): Promise<void> {
  await t.db.query(`UPDATE runs SET created_at = $2, started_at = $2, finished_at = $2 WHERE id = $1`, [
    runId,
    new Date(Date.now() - days * DAY_MS),
  ]);
}

async function recordsOf(runId: string): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM run_records WHERE run_id = $1`, [runId]);
  return Number(rows[0]!.n);
}

async function ledgerState(entityId: string) {
  const { rows } = await t.db.query<{ transactions: string; mapped: string; exceptions: string; audit: string }>(
    `SELECT (SELECT count(*) FROM transactions WHERE entity_id = $1) AS transactions,
            (SELECT count(*) FROM sync_map m JOIN pipelines p ON p.id = m.pipeline_id WHERE p.entity_id = $1) AS mapped,
            (SELECT count(*) FROM exceptions WHERE entity_id = $1) AS exceptions,
            (SELECT count(*) FROM audit_log WHERE entity_id = $1) AS audit`,
    [entityId],
  );
  return rows[0]!;
}

describe('run records', () => {
  let p: Pipeline;
  let old: string;
  let recent: string;
  let oldParked: string;
  let oldWaiting: string;
  let running: string;
  let big: string;
  const before = new Map<string, Awaited<ReturnType<typeof getRun>>>();

  beforeAll(async () => {
    p = await pipeline();
    old = await syncedRun(p, 'old', false);
    recent = await syncedRun(p, 'recent', false);
    oldParked = await syncedRun(p, 'parked', true);
    oldWaiting = await syncedRun(p, 'waiting', false);
    await finishedDaysAgo(old, 100);
    await finishedDaysAgo(recent, 10);
    await finishedDaysAgo(oldParked, 100);
    await finishedDaysAgo(oldWaiting, 100);
    // As a run that ended with documents still on their way to a remote target says it.
    await t.db.query(`UPDATE runs SET status = 'partial', waiting = 1 WHERE id = $1`, [oldWaiting]);
    // Queued 100 days ago and still running (a long backfill): never touched.
    running = (await createRun(t.db, {
      pipelineId: p.id,
      entityId: p.entityId,
      trigger: 'manual',
      createdBy: 'test',
    }))!;
    await setRunStatus(t.db, running, 'running');
    await addRunRecords(t.db, running, [{ kind: 'customer', sourceId: 'R-1', outcome: 'skipped' }]);
    await t.db.query(`UPDATE runs SET created_at = now() - interval '100 days' WHERE id = $1`, [running]);
    // A run of 25 records, removed 10 at a time.
    big = await runOf(p, 'B', 25);
    await finishedDaysAgo(big, 200);
    for (const id of [old, recent, oldParked, oldWaiting, running, big]) before.set(id, await getRun(t.db, id));
  });

  it('go for finished runs older than the retention; the runs, their counts and the books stay', async () => {
    for (const id of [old, recent, oldParked, oldWaiting, running]) expect(await recordsOf(id)).toBeGreaterThan(0);
    expect(await recordsOf(big)).toBe(25);
    const books = await ledgerState(p.entityId);
    const runsBefore = (await owner.get(`/v1/runs?pipeline=${p.name}`)).body;

    const removed = await purgeRunRecords(t.db, 90, { batch: 10 });
    expect(removed).toEqual({ runs: 2, records: 25 + before.get(old)!.counts.fetched });
    expect(await recordsOf(old)).toBe(0);
    expect(await recordsOf(big)).toBe(0);
    // Recent, not finished, with a document on its way, with an exception open: kept whole.
    for (const id of [recent, running, oldWaiting, oldParked]) expect(await recordsOf(id)).toBeGreaterThan(0);

    for (const [id, was] of before) {
      const now = (await getRun(t.db, id))!;
      expect({ ...now, recordsRemovedAt: null }).toEqual({ ...was, recordsRemovedAt: null });
      expect(now.recordsRemovedAt !== null).toBe(id === old || id === big);
    }
    expect(await ledgerState(p.entityId)).toEqual(books);
    const runsAfter = (await owner.get(`/v1/runs?pipeline=${p.name}`)).body;
    expect(runsAfter.total).toBe(runsBefore.total);
    expect(runsAfter.items.map((r: { counts: unknown }) => r.counts)).toEqual(
      runsBefore.items.map((r: { counts: unknown }) => r.counts),
    );
    expect(await purgeRunRecords(t.db, 90)).toEqual({ runs: 0, records: 0 });
  });

  it('are said to be removed by the API and the dashboard, not shown as an empty list', async () => {
    const run = await owner.get(`/v1/runs/${old}`);
    expect(run.status).toBe(200);
    expect(Date.now() - Date.parse(run.body.recordsRemovedAt)).toBeLessThan(10 * 60_000);
    expect(run.body.counts.createdByKind.invoices).toBe(1);
    const records = await owner.get(`/v1/runs/${old}/records`);
    expect(records.body).toMatchObject({ items: [], recordsRemovedAt: run.body.recordsRemovedAt });
    const kept = await owner.get(`/v1/runs/${recent}/records`);
    expect(kept.body.recordsRemovedAt).toBeNull();
    expect(kept.body.items.map((r: { sourceId: string }) => r.sourceId)).toEqual(['C-recent', 'I-recent']);
    expect((await owner.get(`/v1/runs/${recent}`)).body.recordsRemovedAt).toBeNull();

    // What the run created is still in the audit trail, where the API's description sends people.
    const audit = await owner.get(`/v1/audit?objectType=run&objectId=${old}`);
    expect(JSON.stringify(audit.body.items)).toContain('I-old');

    const page = await anna.request('GET', `/runs/${old}`);
    expect(page.status).toBe(200);
    const html = String(page.body);
    expect(html).toContain('The outcome of each record of this run was removed on');
    expect(html).toContain(`href="/audit?objectType=run&amp;objectId=${old}"`);
    expect(html).not.toContain('This run has no records');
    const keptPage = String((await anna.request('GET', `/runs/${recent}`)).body);
    expect(keptPage).not.toContain('was removed on');
    expect(keptPage).toContain('I-recent');
  });

  it('of a run kept for its open exception go once it is resolved', async () => {
    const { rows } = await t.db.query<{ id: string }>(
      `SELECT id FROM exceptions WHERE run_id = $1 AND status = 'open'`,
      [oldParked],
    );
    expect(rows).toHaveLength(1);
    const resolved = await owner.post(`/v1/exceptions/${rows[0]!.id}/resolve`, { note: 'booked by hand' });
    expect(resolved.status).toBe(200);
    expect(await purgeRunRecords(t.db, 90)).toEqual({ runs: 1, records: before.get(oldParked)!.counts.fetched });
    expect(await recordsOf(oldParked)).toBe(0);
    // The exception itself stays, resolved, with what it was about.
    const listed = await owner.get(`/v1/exceptions?pipeline=${p.name}&status=resolved`);
    expect(listed.body.items.map((x: { sourceId: string; runId: string }) => [x.sourceId, x.runId])).toEqual([
      ['P-parked', oldParked],
    ]);
  });
});

/** Stores events of the pipeline as processed (or received, when `processed` is false) `days` ago. */
async function storedEvents(p: Pipeline, ids: string[], days: number, processed = true): Promise<void> {
  for (const eventId of ids) {
    await storeWebhookEvent(t.db, p.id, { eventId, type: 'invoice.created', payload: { id: eventId } });
    await t.db.query(
      `UPDATE webhook_events SET received_at = $3, processed_at = CASE WHEN $4 THEN $3::timestamptz END
        WHERE pipeline_id = $1 AND event_id = $2`,
      [p.id, eventId, new Date(Date.now() - days * DAY_MS), processed],
    );
  }
}

async function eventsLeft(p: Pipeline): Promise<string[]> {
  const { rows } = await t.db.query<{ event_id: string }>(
    `SELECT event_id FROM webhook_events WHERE pipeline_id = $1 ORDER BY event_id`,
    [p.id],
  );
  return rows.map((r) => r.event_id);
}

describe('webhook events', () => {
  const SECRET = 'retention-webhook-secret-0123';
  let hooks: WebhookClient;
  let shop: Pipeline;
  beforeAll(async () => {
    hooks = await webhookClient(t);
    shop = await definePipeline(t.db, 'RET', { name: 'ret-shop', source: { type: 'webhook' }, webhookSecret: SECRET });
  });
  afterAll(async () => hooks?.close());

  /** Delivers an invoice event as the shop does every time it delivers it: the same body, signed anew. */
  const deliver = async (ref: string) => {
    const event = invoiceEvent(`evt-${ref}`, ref, {
      created: 1_790_000_000,
      customer: { sourceId: 'cust-ret', name: 'Retained Customer', email: 'ret@example.org' },
      net: '100.00',
    });
    const r = await hooks.deliver(shop.name, event, SECRET);
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body as { eventId: string; duplicate: boolean };
  };
  const processedDaysAgo = (ref: string, days: number) =>
    t.db.query(
      `UPDATE webhook_events SET received_at = $3, processed_at = $3 WHERE pipeline_id = $1 AND event_id = $2`,
      [shop.id, `evt-${ref}`, new Date(Date.now() - days * DAY_MS)],
    );

  it('go once processed longer ago than the retention; unprocessed and recent ones stay, and so do the books', async () => {
    for (const ref of ['W-1', 'W-2', 'W-3', 'W-RECENT']) expect(await deliver(ref)).toMatchObject({ duplicate: false });
    for (const ref of ['W-1', 'W-2', 'W-3']) await processedDaysAgo(ref, 100);
    await processedDaysAgo('W-RECENT', 10);
    // Events nobody processed (a pipeline disabled for months, runs that kept failing): however old, kept.
    const paused = await definePipeline(t.db, 'RET', {
      name: 'ret-paused',
      source: { type: 'webhook' },
      webhookSecret: SECRET,
      enabled: false,
    });
    await storedEvents(paused, ['evt-P-1', 'evt-P-2'], 400, false);
    const books = await ledgerState(shop.entityId);

    // A batch of two: the purge goes on until a batch comes back short.
    expect(await purgeWebhookEvents(t.db, 90, { batch: 2 })).toBe(3);
    expect(await eventsLeft(shop)).toEqual(['evt-W-RECENT']);
    expect(await eventsLeft(paused)).toEqual(['evt-P-1', 'evt-P-2']);
    expect(await ledgerState(shop.entityId)).toEqual(books);
    expect(await purgeWebhookEvents(t.db, 90)).toBe(0);
  });

  it("a sender's delivery of one kept is a duplicate; of one removed, is stored and processed again and posts nothing", async () => {
    // Within the retention, the row answers the retry.
    expect(await deliver('W-RECENT')).toEqual({ eventId: 'evt-W-RECENT', duplicate: true });

    // After it (a sender retrying for longer than it ever does): no row, so it is taken as new...
    const books = async () => {
      const { transactions, mapped, exceptions } = await ledgerState(shop.entityId);
      return { transactions, mapped, exceptions };
    };
    const before = await books();
    const runs = async () => (await owner.get(`/v1/runs?pipeline=${shop.name}`)).body;
    const runsBefore = (await runs()).total;
    expect(await deliver('W-1')).toEqual({ eventId: 'evt-W-1', duplicate: false });
    // ...and its run finds the invoice and its customer in the source map: nothing is posted again.
    const after = await runs();
    expect(after.total).toBe(runsBefore + 1);
    expect(after.items[0].status).toBe('succeeded');
    const records = (await owner.get(`/v1/runs/${after.items[0].runId}/records`)).body.items;
    expect(
      records.map((r: { kind: string; sourceId: string; outcome: string }) => [r.kind, r.sourceId, r.outcome]),
    ).toEqual([
      ['customer', 'cust-ret', 'skipped'],
      ['invoice', 'order-W-1', 'skipped'],
    ]);
    expect(await books()).toEqual(before);
    expect(await eventsLeft(shop)).toEqual(['evt-W-1', 'evt-W-RECENT']);
    // Stored again, it answers the next retry as any other event does.
    expect(await deliver('W-1')).toEqual({ eventId: 'evt-W-1', duplicate: true });
  });
});

describe('a pass of the policy', () => {
  it('logs at info what it removed, only when it removed something; "forever" removes nothing', async () => {
    const p = await pipeline();
    await reconciliation(p, 'succeeded', 50);
    await reconciliation(p, 'succeeded', 40);
    const run = await syncedRun(p, 'pass', false);
    await finishedDaysAgo(run, 50);
    await storedEvents(p, ['evt-pass'], 50);

    const lines: { level: number; msg: string }[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()));
          done();
        },
      }),
    );
    const forever = { reconciliationDays: 'forever', runRecordsDays: 'forever', webhookEventsDays: 'forever' } as const;
    expect(await purgeHistory(t.db, forever, log)).toEqual({
      reconciliations: 0,
      runs: 0,
      runRecords: 0,
      webhookEvents: 0,
    });
    expect(await recordsOf(run)).toBeGreaterThan(0);
    expect(await eventsLeft(p)).toEqual(['evt-pass']);
    expect(lines).toEqual([]);

    const month = { reconciliationDays: 30, runRecordsDays: 30, webhookEventsDays: 30 };
    const removed = await purgeHistory(t.db, month, log);
    expect(removed).toEqual({ reconciliations: 1, runs: 1, runRecords: 2, webhookEvents: 1 });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [30, 'retention: removed 1 reconciliation(s) finished more than 30 days ago'],
      [30, 'retention: removed 2 run record(s) of 1 run(s) finished more than 30 days ago'],
      [30, 'retention: removed 1 webhook event(s) processed more than 30 days ago'],
    ]);
    expect(await eventsLeft(p)).toEqual([]);

    lines.length = 0;
    await purgeHistory(t.db, month, log);
    expect(lines).toEqual([]);
  });

  it('may run in several processes at once: each run, reconciliation and event goes once, the newest stay', async () => {
    const p = await pipeline();
    const runs: string[] = [];
    for (let i = 0; i < 30; i++) {
      const id = await runOf(p, `M-${i}`, 5);
      await finishedDaysAgo(id, 100 + i);
      runs.push(id);
    }
    for (let i = 0; i < 12; i++) await reconciliation(p, i % 3 === 0 ? 'failed' : 'succeeded', 200 - i);
    const newest = await reconciliation(p, 'succeeded', 150);
    await storedEvents(
      p,
      Array.from({ length: 20 }, (_, i) => `evt-M-${String(i).padStart(2, '0')}`),
      100,
    );
    await storedEvents(p, ['evt-M-pending'], 100, false);
    const purge = (batch: number) =>
      Promise.all([
        purgeRunRecords(t.db, 90, { batch }),
        purgeReconciliations(t.db, 90, { batch }),
        purgeWebhookEvents(t.db, 90, { batch }),
      ]);
    const [one, two] = await Promise.all([purge(2), purge(3)]);
    expect(one[0].runs + two[0].runs).toBe(30);
    expect(one[0].records + two[0].records).toBe(150);
    expect(one[1] + two[1]).toBe(12);
    expect(one[2] + two[2]).toBe(20);
    expect(await reconciliationsLeft(p)).toEqual([newest]);
    expect(await eventsLeft(p)).toEqual(['evt-M-pending']);
    const { rows } = await t.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM runs WHERE id = ANY($1::uuid[]) AND records_removed_at IS NOT NULL`,
      [runs],
    );
    expect(rows[0]!.n).toBe('30');
  });

  it.skipIf(onPostgres)(
    'on PGlite, which has no autovacuum, leaves the space of what it removed to new rows',
    async () => {
      const p = await pipeline();
      const size = async () =>
        Number((await t.db.query<{ n: string }>(`SELECT pg_relation_size('run_records')::text AS n`)).rows[0]!.n);
      const fill = (tag: string) => runOf(p, tag, 20_000, 'already posted; nothing changed');
      const first = await fill('first');
      await finishedDaysAgo(first, 100);
      const full = await size();
      expect(
        (
          await purgeHistory(
            t.db,
            { reconciliationDays: 'forever', runRecordsDays: 90, webhookEventsDays: 'forever' },
            silentLog,
          )
        ).runRecords,
      ).toBe(20_000);
      await fill('second');
      // Without the VACUUM the second run's records went after the first's dead ones: twice the size.
      expect(await size()).toBeLessThanOrEqual(full);
    },
  );

  it('has its searches served by the indexes of migrations 0117 and 0120', async () => {
    const plan = async (sql: string, params: SqlParam[]) =>
      t.db.transaction(async (tx) => {
        // On tables this small a sequential scan is cheapest; what matters is that the index can serve.
        await tx.query('SET LOCAL enable_seqscan = off');
        const { rows } = await tx.query<Record<string, string>>(`EXPLAIN ${sql}`, params);
        return rows.map((r) => Object.values(r)[0]).join('\n');
      });
    const walk = [90, '-infinity', '00000000-0000-0000-0000-000000000000', 100];
    expect(await plan(RETENTION_QUERIES.runs, walk)).toContain('runs_records_kept');
    // With many exceptions open, whether a run has one is looked up by run, not among all of them.
    const p = await pipeline();
    await t.db.query(
      `WITH r AS (INSERT INTO runs (pipeline_id, entity_id, trigger, created_by)
                  SELECT $1, $2, 'manual', 'test' FROM generate_series(1, 3000) RETURNING id)
       INSERT INTO exceptions (pipeline_id, entity_id, kind, source_id, reason_code, message, run_id)
       SELECT $1, $2, 'invoice', 'X-' || r.id, 'AMOUNT_INVALID', 'bad', r.id FROM r`,
      [p.id, p.entityId],
    );
    await t.db.query('ANALYZE exceptions');
    await t.db.query('ANALYZE runs');
    expect(await plan(RETENTION_QUERIES.runs, walk)).toContain('exceptions_open_run');
    // With a month of reconciliations every 20 minutes (none due), whether a newer one of the
    // pipeline exists is looked up by pipeline, not among every finished one (on the few rows of
    // the tests before, which index the planner takes is a toss-up).
    await t.db.query(
      `INSERT INTO reconciliations (pipeline_id, entity_id, date_from, date_to, status, report, attempts, created_by,
                                    created_at, started_at, finished_at)
       SELECT $1, $2, '2026-01-01', '2026-01-31', 'succeeded', '{}', 1, 'test', at, at, at
         FROM generate_series(now() - interval '30 days', now() - interval '1 day', interval '20 minutes') AS at`,
      [p.id, p.entityId],
    );
    await t.db.query('ANALYZE reconciliations');
    const reconciliations = await plan(RETENTION_QUERIES.reconciliations, [90, 100]);
    expect(reconciliations).toContain('reconciliations_finished');
    expect(reconciliations).toContain('reconciliations_pipeline_created');
    // Whether a replayed answer still points to a candidate is looked up, not read from every key.
    expect(reconciliations).toContain('idempotency_keys_location');
    expect(await plan(RETENTION_QUERIES.webhookEvents, [90, 500])).toContain('webhook_events_processed');
  });
});

describe('a worker', () => {
  let db: Database & { schema?: string };
  afterAll(async () => db?.close());

  it('removes what has aged out as it starts', async () => {
    db = await createTestDatabase();
    await db.transaction((tx) => createEntity(tx, { code: 'WRK', name: 'Worker', baseCurrency: 'EUR' }));
    const w = await definePipeline(db, 'WRK', { name: 'worked', source: { type: 'records' } });
    const gone = await reconciliation(w, 'succeeded', 10, db);
    const stays = await reconciliation(w, 'succeeded', 5, db);
    const q = await queuedSync(db);
    try {
      await q.sync.startWorker({
        tickSeconds: 3600,
        retention: { reconciliationDays: 7, runRecordsDays: 'forever', webhookEventsDays: 'forever' },
      });
      const left = await waitFor('the worker to remove the old reconciliation', 20_000, async () => {
        const { rows } = await db.query<{ id: string }>(`SELECT id FROM reconciliations ORDER BY created_at`);
        return rows.length === 1 ? rows.map((r) => r.id) : undefined;
      });
      expect(left).toEqual([stays]);
      expect(left).not.toContain(gone);
    } finally {
      await q.close();
    }
  }, 60_000);
});

describe('the settings', () => {
  it('take 90 days by default, a number of days, or "forever"', () => {
    expect(retentionFromEnv({})).toEqual({ reconciliationDays: 90, runRecordsDays: 90, webhookEventsDays: 90 });
    expect(
      retentionFromEnv({
        LEDGERLINK_RECONCILIATION_RETENTION_DAYS: ' 30 ',
        LEDGERLINK_RUN_RECORDS_RETENTION_DAYS: 'forever',
        LEDGERLINK_WEBHOOK_EVENTS_RETENTION_DAYS: '7',
      }),
    ).toEqual({ reconciliationDays: 30, runRecordsDays: 'forever', webhookEventsDays: 7 });
    expect(retentionFromEnv({ LEDGERLINK_RUN_RECORDS_RETENTION_DAYS: '36500' }).runRecordsDays).toBe(36500);
  });

  it.each([
    ['LEDGERLINK_RECONCILIATION_RETENTION_DAYS', '0', '0 is not a retention'],
    ['LEDGERLINK_RECONCILIATION_RETENTION_DAYS', '-7', 'out of range'],
    ['LEDGERLINK_RUN_RECORDS_RETENTION_DAYS', '90d', 'is not a number of days'],
    ['LEDGERLINK_RUN_RECORDS_RETENTION_DAYS', '1.5', 'is not a number of days'],
    ['LEDGERLINK_RUN_RECORDS_RETENTION_DAYS', 'never', 'is not a number of days'],
    ['LEDGERLINK_RUN_RECORDS_RETENTION_DAYS', 'Forever', 'is not a number of days'],
    ['LEDGERLINK_RUN_RECORDS_RETENTION_DAYS', '36501', 'out of range'],
    ['LEDGERLINK_WEBHOOK_EVENTS_RETENTION_DAYS', '0', '0 is not a retention'],
    ['LEDGERLINK_WEBHOOK_EVENTS_RETENTION_DAYS', '90 days', 'is not a number of days'],
  ])('refuses %s=%s, naming the variable', (name, value, says) => {
    let error: unknown;
    try {
      retentionFromEnv({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SettingsError);
    expect((error as SettingsError).variable).toBe(name);
    expect((error as Error).message).toContain(says);
    expect((error as Error).message).toContain('"forever" to keep everything');
  });

  it.each([
    ['worker', 'LEDGERLINK_RUN_RECORDS_RETENTION_DAYS'],
    ['serve --no-demo', 'LEDGERLINK_WEBHOOK_EVENTS_RETENTION_DAYS'],
  ])(
    'stop `ledgerlink %s` at start, naming the variable (%s=0)',
    async (command, variable) => {
      const outcome = await promisify(execFile)(process.execPath, ['bin/ledgerlink.js', ...command.split(' ')], {
        env: { ...process.env, [variable]: '0', LEDGERLINK_DATA_DIR: 'memory', PORT: '0' },
        timeout: 20_000,
      }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain(`${variable}: 0 is not a retention: some read it`);
    },
    30_000,
  );
});
