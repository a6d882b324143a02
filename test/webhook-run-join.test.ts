import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../src/db/database.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { createRun, setRunStatus } from '../src/sync/runs.ts';
import { storeWebhookEvent } from '../src/sync/webhook-events.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { onPostgres } from './helpers/db.ts';
import { definePipeline } from './helpers/sync.ts';

/*
 * One waiting webhook run per pipeline (migration 0062, joinWebhookRun): deliveries join the run
 * that has not started, and the database keeps it to one even when they race on several PostgreSQL
 * connections. The runs are triggered inside the deliveries' own transactions, as the webhook routes
 * do, and never worked here (no queue, and a caller's transaction means "do not run it now").
 */

let t: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp();
  await t.entity('JOIN', 'EUR', { standardTaxRate: '0.21' });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

async function pipeline(): Promise<Pipeline> {
  return definePipeline(t.db, 'JOIN', {
    name: `hooks-${++counter}`,
    source: { type: 'webhook' },
    webhookSecret: 'join-webhook-secret-0123456789',
  });
}

/** A delivery as the source webhook route makes it: its event stored and a run triggered, in one transaction. */
function deliver(p: Pipeline, eventId: string, tx: Queryable): Promise<string | null> {
  return (async () => {
    await storeWebhookEvent(tx, p.id, { eventId, type: 'invoice.created', payload: { id: eventId } });
    return t.sync.trigger(p, 'webhook', `webhook:${p.name}`, { eventId }, { tx });
  })();
}

async function runsOf(p: Pipeline): Promise<{ id: string; trigger: string; status: string; attempts: number }[]> {
  const { rows } = await t.db.query<{ id: string; trigger: string; status: string; attempts: number }>(
    `SELECT id, trigger, status, attempts FROM runs WHERE pipeline_id = $1 ORDER BY created_at, id`,
    [p.id],
  );
  return rows;
}

/** Resolves when `ready()` holds, checked every few milliseconds (a condition, never a duration). */
async function until(ready: () => Promise<boolean>): Promise<void> {
  while (!(await ready())) await new Promise((r) => setTimeout(r, 5));
}

describe('one waiting webhook run per pipeline', () => {
  it('simultaneous deliveries to an empty queue make one run, and each is answered with it', async () => {
    const p = await pipeline();
    const ids = await Promise.all(
      Array.from({ length: 12 }, (_, i) => t.db.transaction((tx) => deliver(p, `burst-${i}`, tx))),
    );
    const runs = await runsOf(p);
    expect(runs).toEqual([{ id: ids[0], trigger: 'webhook', status: 'queued', attempts: 0 }]);
    expect(new Set(ids)).toEqual(new Set([runs[0]!.id]));
    const { rows } = await t.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM audit_log WHERE object_id = $1 AND action = 'run.queued'`,
      [runs[0]!.id],
    );
    expect(rows[0]!.n).toBe('1');
  });

  // Deterministic on PostgreSQL: every delivery's transaction is open before any triggers, and none
  // commits until each has either triggered or is waiting on another's lock. Before migration 0062
  // every one of them found no waiting run and created its own.
  it.skipIf(!onPostgres)('deliveries racing on separate connections join one run', async () => {
    const p = await pipeline();
    const n = 8;
    const pids: number[] = [];
    let triggered = 0;
    let open!: () => void;
    const allOpen = new Promise<void>((r) => (open = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const deliveries = Array.from({ length: n }, (_, i) =>
      t.db.transaction(async (tx) => {
        const { rows } = await tx.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid`);
        pids.push(rows[0]!.pid);
        if (pids.length === n) open();
        await allOpen;
        const runId = await deliver(p, `race-${i}`, tx);
        triggered++;
        await released;
        return runId;
      }),
    );
    await allOpen;
    // Each has triggered, or waits for a lock another delivery's transaction holds.
    await until(async () => {
      const { rows } = await t.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM unnest($1::int[]) AS pid WHERE cardinality(pg_blocking_pids(pid)) > 0`,
        [pids],
      );
      return triggered + Number(rows[0]!.n) === n;
    });
    release();
    const ids = await Promise.all(deliveries);
    const runs = await runsOf(p);
    expect(runs.map((r) => r.status)).toEqual(['queued']);
    expect(new Set(ids)).toEqual(new Set([runs[0]!.id]));
    const { rows } = await t.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM webhook_events WHERE pipeline_id = $1 AND processed_at IS NULL`,
      [p.id],
    );
    expect(rows[0]!.n).toBe(String(n));
  });

  it('a run that has started is never joined: a delivery during it, or after its failure requeued it, makes the next run', async () => {
    const p = await pipeline();
    const first = (await t.db.transaction((tx) => deliver(p, 'a', tx)))!;
    await setRunStatus(t.db, first, 'running');
    const second = (await t.db.transaction((tx) => deliver(p, 'b', tx)))!;
    expect(second).not.toBe(first);
    expect(await t.db.transaction((tx) => deliver(p, 'c', tx))).toBe(second);
    // The first run is queued again after a retryable failure (src/sync/engine/run.ts): it may have
    // read events already, so it is not the waiting run; the second still is.
    await t.db.query(`UPDATE runs SET status = 'queued' WHERE id = $1`, [first]);
    expect(await t.db.transaction((tx) => deliver(p, 'd', tx))).toBe(second);
    await setRunStatus(t.db, second, 'running');
    const third = (await t.db.transaction((tx) => deliver(p, 'e', tx)))!;
    expect([first, second]).not.toContain(third);
    expect((await runsOf(p)).map((r) => [r.id, r.status, r.attempts])).toEqual([
      [first, 'queued', 1],
      [second, 'running', 1],
      [third, 'queued', 0],
    ]);
  });

  it('manual, scheduled and daily-summary runs each stay their own, beside a waiting webhook run', async () => {
    const p = await pipeline();
    const hook = (await t.db.transaction((tx) => deliver(p, 'x', tx)))!;
    const made = await t.db.transaction(async (tx) => [
      await t.sync.trigger(p, 'manual', 'test', {}, { tx }),
      await t.sync.trigger(p, 'manual', 'test', {}, { tx }),
      await t.sync.trigger(p, 'schedule', 'scheduler', {}, { tx, slot: '2026-11-21T10:00' }),
      await t.sync.trigger(p, 'schedule', 'scheduler', {}, { tx, slot: '2026-11-21T10:00' }),
      await t.sync.trigger(p, 'daily-summary', 'scheduler', {}, { tx }),
    ]);
    expect(made[3]).toBeNull(); // the slot was taken, as before
    const runs = await runsOf(p);
    expect(runs.map((r) => r.trigger).sort()).toEqual(['daily-summary', 'manual', 'manual', 'schedule', 'webhook']);
    expect(runs.find((r) => r.trigger === 'webhook')!.id).toBe(hook);
    // createRun with trigger webhook (used by tools and tests) joins too, rather than failing on the index.
    expect(await createRun(t.db, { pipelineId: p.id, entityId: p.entityId, trigger: 'webhook', createdBy: 'x' })).toBe(
      hook,
    );
  });

  it('migration 0062 folds waiting webhook runs an earlier race doubled into the oldest', async () => {
    const p = await pipeline();
    const other = await pipeline();
    const sql = await readFile(new URL('../migrations/0062_one_waiting_webhook_run.sql', import.meta.url), 'utf8');
    // The schema before 0062, with the doubled runs the race left.
    await t.db.exec(
      `DROP INDEX runs_one_waiting_webhook;
       CREATE INDEX runs_waiting_webhook ON runs (pipeline_id, created_at) WHERE status = 'queued' AND trigger = 'webhook';`,
    );
    const insert = async (pipelineId: string, at: string, attempts = 0) =>
      (
        await t.db.query<{ id: string }>(
          `INSERT INTO runs (pipeline_id, entity_id, trigger, created_by, created_at, attempts)
           VALUES ($1, $2, 'webhook', 'test', $3, $4) RETURNING id`,
          [pipelineId, p.entityId, at, attempts],
        )
      ).rows[0]!.id;
    const oldest = await insert(p.id, '2026-11-21T10:00:00Z');
    const later = [await insert(p.id, '2026-11-21T10:00:01Z'), await insert(p.id, '2026-11-21T10:00:01Z')];
    const started = await insert(p.id, '2026-11-21T09:00:00Z', 1);
    const alone = await insert(other.id, '2026-11-21T10:00:05Z');
    await t.db.transaction((tx) => tx.exec(sql));
    const status = async (id: string) =>
      (await t.db.query<{ status: string; error: string | null }>(`SELECT status, error FROM runs WHERE id = $1`, [id]))
        .rows[0]!;
    expect(await status(oldest)).toEqual({ status: 'queued', error: null });
    for (const id of later)
      expect((await status(id)).error).toMatch(/^Not run: joined into the earlier waiting webhook run/);
    expect((await status(later[0]!)).status).toBe('failed');
    expect((await status(started)).status).toBe('queued');
    expect((await status(alone)).status).toBe('queued');
    // The index is in place again: a second waiting run is refused by the database itself.
    await expect(insert(p.id, '2026-11-21T11:00:00Z')).rejects.toThrow(/runs_one_waiting_webhook/);
  });
});
