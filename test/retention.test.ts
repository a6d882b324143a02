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
  retentionFromEnv,
} from '../src/sync/retention.ts';
import { addRunRecords, createRun, getRun, setRunStatus } from '../src/sync/runs.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { createTestDatabase, onPostgres } from './helpers/db.ts';
import { waitFor } from './helpers/process.ts';
import { queuedSync } from './helpers/queue.ts';
import { customerRecord, definePipeline, invoiceRecord, silentLog } from './helpers/sync.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';

/*
 * The retention policy (src/sync/retention.ts): finished reconciliations and the per-document
 * records of finished runs older than their retention are removed, a batch at a time, and nothing
 * else: each pipeline's newest finished and newest succeeded reconciliation stay whatever their age,
 * unfinished ones and recent ones stay; a run keeps its row and counts, says when its records went,
 * and a run with something still on its way or an exception open keeps its records. The readers
 * (the API, the dashboard) say the records were removed instead of showing an empty list. The
 * settings are refused when they are not a number of days or "forever". On PGlite, and on
 * PostgreSQL with DATABASE_URL.
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
async function reconciliation(p: Pipeline, status: ReconciliationState, ageDays: number): Promise<string> {
  const at = new Date(Date.now() - ageDays * DAY_MS);
  const finished = status === 'succeeded' || status === 'failed';
  const to = new Date(Date.UTC(2026, 0, 1) + Math.round(ageDays) * DAY_MS).toISOString().slice(0, 10);
  const { rows } = await t.db.query<{ id: string }>(
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
    expect((await owner.get(`/v1/reconciliations/${aOldest}`)).status).toBe(404);
    expect((await owner.get(`/v1/reconciliations/${bOld}`)).status).toBe(404);
    expect((await owner.get(`/v1/reconciliations/${aOldFailed}`)).status).toBe(404);
    expect((await owner.get(`/v1/reconciliations/${bOldFailed}`)).status).toBe(404);
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
    big = (await createRun(t.db, { pipelineId: p.id, entityId: p.entityId, trigger: 'manual', createdBy: 'test' }))!;
    await addRunRecords(
      t.db,
      big,
      Array.from({ length: 25 }, (_, i) => ({ kind: 'invoice', sourceId: `B-${i}`, outcome: 'skipped' as const })),
    );
    await setRunStatus(t.db, big, 'succeeded');
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

describe('a pass of the policy', () => {
  it('logs at info what it removed, only when it removed something; "forever" removes nothing', async () => {
    const p = await pipeline();
    await reconciliation(p, 'succeeded', 50);
    await reconciliation(p, 'succeeded', 40);
    const run = await syncedRun(p, 'pass', false);
    await finishedDaysAgo(run, 50);

    const lines: { level: number; msg: string; reconciliations?: number; runRecords?: number }[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()));
          done();
        },
      }),
    );
    const forever = { reconciliationDays: 'forever', runRecordsDays: 'forever' } as const;
    expect(await purgeHistory(t.db, forever, log)).toEqual({ reconciliations: 0, runs: 0, runRecords: 0 });
    expect(await recordsOf(run)).toBeGreaterThan(0);
    expect(lines).toEqual([]);

    const removed = await purgeHistory(t.db, { reconciliationDays: 30, runRecordsDays: 30 }, log);
    expect(removed).toEqual({ reconciliations: 1, runs: 1, runRecords: 2 });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [30, 'retention: removed 1 reconciliation(s) finished more than 30 days ago'],
      [30, 'retention: removed 2 run record(s) of 1 run(s) finished more than 30 days ago'],
    ]);

    lines.length = 0;
    await purgeHistory(t.db, { reconciliationDays: 30, runRecordsDays: 30 }, log);
    expect(lines).toEqual([]);
  });

  it('may run in several processes at once: each run and reconciliation goes once, the newest stay', async () => {
    const p = await pipeline();
    const runs: string[] = [];
    for (let i = 0; i < 30; i++) {
      const id = (await createRun(t.db, {
        pipelineId: p.id,
        entityId: p.entityId,
        trigger: 'manual',
        createdBy: 'test',
      }))!;
      await addRunRecords(
        t.db,
        id,
        Array.from({ length: 5 }, (_, k) => ({
          kind: 'invoice',
          sourceId: `M-${i}-${k}`,
          outcome: 'skipped' as const,
        })),
      );
      await setRunStatus(t.db, id, 'succeeded');
      await finishedDaysAgo(id, 100 + i);
      runs.push(id);
    }
    for (let i = 0; i < 12; i++) await reconciliation(p, i % 3 === 0 ? 'failed' : 'succeeded', 200 - i);
    const newest = await reconciliation(p, 'succeeded', 150);
    const [one, two] = await Promise.all([
      Promise.all([purgeRunRecords(t.db, 90, { batch: 2 }), purgeReconciliations(t.db, 90, { batch: 2 })]),
      Promise.all([purgeRunRecords(t.db, 90, { batch: 3 }), purgeReconciliations(t.db, 90, { batch: 3 })]),
    ]);
    expect(one[0].runs + two[0].runs).toBe(30);
    expect(one[0].records + two[0].records).toBe(150);
    expect(one[1] + two[1]).toBe(12);
    expect(await reconciliationsLeft(p)).toEqual([newest]);
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
      const fill = async (tag: string) => {
        const id = (await createRun(t.db, {
          pipelineId: p.id,
          entityId: p.entityId,
          trigger: 'manual',
          createdBy: 'test',
        }))!;
        await addRunRecords(
          t.db,
          id,
          Array.from({ length: 20_000 }, (_, i) => ({
            kind: 'invoice',
            sourceId: `${tag}-${i}`,
            outcome: 'skipped' as const,
            message: 'already posted; nothing changed',
          })),
        );
        await setRunStatus(t.db, id, 'succeeded');
        return id;
      };
      const first = await fill('first');
      await finishedDaysAgo(first, 100);
      const full = await size();
      expect(
        (await purgeHistory(t.db, { reconciliationDays: 'forever', runRecordsDays: 90 }, silentLog)).runRecords,
      ).toBe(20_000);
      await fill('second');
      // Without the VACUUM the second run's records went after the first's dead ones: twice the size.
      expect(await size()).toBeLessThanOrEqual(full);
    },
  );

  it('has its searches served by the indexes of migration 0117', async () => {
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
    const reconciliations = await plan(RETENTION_QUERIES.reconciliations, [90, 100]);
    expect(reconciliations).toContain('reconciliations_finished');
    expect(reconciliations).toContain('reconciliations_pipeline_created');
  });
});

describe('a worker', () => {
  let db: Database & { schema?: string };
  afterAll(async () => db?.close());

  it('removes what has aged out as it starts', async () => {
    db = await createTestDatabase();
    await db.transaction((tx) => createEntity(tx, { code: 'WRK', name: 'Worker', baseCurrency: 'EUR' }));
    const w = await definePipeline(db, 'WRK', { name: 'worked', source: { type: 'records' } });
    const insert = (age: number) =>
      db.query<{ id: string }>(
        `INSERT INTO reconciliations (pipeline_id, entity_id, date_from, date_to, status, report, attempts, created_by,
                                      created_at, started_at, finished_at)
         VALUES ($1, $2, '2026-01-01', '2026-01-31', 'succeeded', '{}', 1, 'test', $3, $3, $3) RETURNING id`,
        [w.id, w.entityId, new Date(Date.now() - age * DAY_MS)],
      );
    const gone = (await insert(10)).rows[0]!.id;
    const stays = (await insert(5)).rows[0]!.id;
    const q = await queuedSync(db);
    try {
      await q.sync.startWorker({ tickSeconds: 3600, retention: { reconciliationDays: 7, runRecordsDays: 'forever' } });
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
    expect(retentionFromEnv({})).toEqual({ reconciliationDays: 90, runRecordsDays: 90 });
    expect(
      retentionFromEnv({
        LEDGERLINK_RECONCILIATION_RETENTION_DAYS: ' 30 ',
        LEDGERLINK_RUN_RECORDS_RETENTION_DAYS: 'forever',
      }),
    ).toEqual({ reconciliationDays: 30, runRecordsDays: 'forever' });
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

  it.each([['worker'], ['serve', '--no-demo']])(
    'stop `ledgerlink %s` at start, naming the variable',
    async (...args) => {
      const outcome = await promisify(execFile)(process.execPath, ['bin/ledgerlink.js', ...args], {
        env: { ...process.env, LEDGERLINK_RUN_RECORDS_RETENTION_DAYS: '0', LEDGERLINK_DATA_DIR: 'memory', PORT: '0' },
        timeout: 20_000,
      }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain('LEDGERLINK_RUN_RECORDS_RETENTION_DAYS: 0 is not a retention: some read it');
    },
    30_000,
  );
});
