import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/connectors/all.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { syncServer, upload } from './helpers/uploads.ts';
import { createRun, setRunStatus } from '../src/sync/runs.ts';

/*
 * DELETE /v1/pipelines/{name}: refused while a run is queued or running, keeps the pipeline's
 * history, frees the name; and a pipeline name that names no pipeline, as a filter, in a path or in
 * an import's form, is one refusal (404 PIPELINE_NOT_FOUND naming the field sent), not an empty list.
 */
let t: TestApp;
let club: Client;
let other: Client;

const del = (c: Client, path: string) => t.request('DELETE', path, undefined, { authorization: `Bearer ${c.token}` });

beforeAll(async () => {
  t = await createTestApp();
  club = await t.entity('DELCLUB');
  other = await t.entity('DELOTHER');
  for (const name of ['shop', 'tills'])
    expect((await club.put(`/v1/pipelines/${name}`, { source: { type: 'file' } })).status).toBe(201);
});
afterAll(async () => t?.close());

describe('DELETE /v1/pipelines/{name}', () => {
  it('is refused with 409 PIPELINE_RUN_IN_PROGRESS while a run is queued or running, and kept', async () => {
    const shop = (await club.get('/v1/pipelines/shop')).body;
    const runId = (await createRun(t.db, {
      pipelineId: shop.id,
      entityId: club.entityId,
      trigger: 'manual',
      createdBy: 'test',
    }))!;
    const queued = await del(club, '/v1/pipelines/shop');
    expect(queued.status).toBe(409);
    expect(queued.body.error.code).toBe('PIPELINE_RUN_IN_PROGRESS');
    expect(queued.body.error.message).toBe(
      `Pipeline shop has a run queued: ${runId} (queued); delete it once it has finished, or cancel it first (ledgerlink runs cancel RUNID, or POST /v1/runs/{runId}/cancel)`,
    );
    expect(queued.body.error.details).toEqual([{ field: 'params.name', message: '1 run(s) queued or running' }]);
    await setRunStatus(t.db, runId, 'running');
    // Two at once (a scheduled run queued behind it): both named, so that both can be cancelled.
    const second = (await createRun(t.db, {
      pipelineId: shop.id,
      entityId: club.entityId,
      trigger: 'manual',
      createdBy: 'test',
    }))!;
    const both = await del(club, '/v1/pipelines/shop');
    expect(both.body.error.code).toBe('PIPELINE_RUN_IN_PROGRESS');
    expect(both.body.error.message).toMatch(
      new RegExp(
        `^Pipeline shop has 2 runs not finished: ${runId} \\(running\\), ${second} \\(queued\\); delete it once they have finished, or cancel them first`,
      ),
    );
    await t.db.query(`DELETE FROM runs WHERE id = $1`, [second]);
    expect((await club.get('/v1/pipelines/shop')).status).toBe(200);
    await setRunStatus(t.db, runId, 'succeeded');
  });

  it('is entity-scoped: another entity cannot see or delete it', async () => {
    const res = await del(other, '/v1/pipelines/shop');
    expect(res.status).toBe(404);
    expect((await club.get('/v1/pipelines/shop')).status).toBe(200);
  });

  it('deletes, audits, keeps the runs and frees the name', async () => {
    const before = (await club.get('/v1/pipelines/shop')).body;
    const res = await del(club, '/v1/pipelines/shop');
    expect(res.status).toBe(200);
    expect(res.body.name).toBe('shop');
    expect((await club.get('/v1/pipelines/shop')).status).toBe(404);
    expect((await club.get('/v1/pipelines')).body.items.map((p: { name: string }) => p.name)).toEqual(['tills']);
    expect((await del(club, '/v1/pipelines/shop')).status).toBe(404);
    // Its history is still there, and still found by its name.
    const runs = await club.get('/v1/runs?pipeline=shop');
    expect(runs.status).toBe(200);
    expect(runs.body.items).toHaveLength(1);
    const audit = await club.get('/v1/audit?action=pipeline.deleted');
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0].objectId).toBe('shop');
    // The name can be used again: a new pipeline, with no history of its own.
    const again = await club.put('/v1/pipelines/shop', { source: { type: 'file' } });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(before.id);
    const { rows } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM pipelines WHERE name = 'shop'`);
    expect(Number(rows[0]!.n)).toBe(2);
  });

  it('the database keeps one live pipeline per name', async () => {
    await expect(
      t.db.query(`INSERT INTO pipelines (entity_id, name, source_type) VALUES ($1, 'shop', 'file')`, [club.entityId]),
    ).rejects.toThrow();
  });
});

describe('a pipeline filter that names no pipeline', () => {
  for (const path of ['/v1/runs?pipeline=tils', '/v1/exceptions?pipeline=tils']) {
    it(`${path} is 404 PIPELINE_NOT_FOUND naming the known pipelines`, async () => {
      const res = await club.get(path);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('PIPELINE_NOT_FOUND');
      expect(res.body.error.message).toContain('known pipelines: shop, tills');
      expect(res.body.error.details[0].field).toBe('query.pipeline');
    });
  }

  it("does not name another entity's pipelines", async () => {
    const res = await other.get('/v1/runs?pipeline=tills');
    expect(res.status).toBe(404);
    expect(res.body.error.message).not.toContain('known pipelines');
    expect(res.body.error.message).toContain('there are no pipelines');
  });

  it('a known name still filters', async () => {
    expect((await club.get('/v1/exceptions?pipeline=tills')).status).toBe(200);
  });

  it('reconciliation of an unknown pipeline names the known ones', async () => {
    const res = await club.get('/v1/pipelines/tils/reconciliation');
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain('known pipelines: shop, tills');
  });
});

describe('a pipeline name that names no pipeline, wherever it is given', () => {
  const expectUnknown = (res: { status: number; body: any }, field: string) => {
    expect([res.status, res.body.error?.code], JSON.stringify(res.body)).toEqual([404, 'PIPELINE_NOT_FOUND']);
    expect(res.body.error.message).toBe('No pipeline named tils; known pipelines: shop, tills');
    expect(res.body.error.details).toEqual([{ field, message: 'unknown pipeline; known pipelines: shop, tills' }]);
  };

  for (const [method, path] of [
    ['POST', '/v1/pipelines/tils/runs'],
    ['GET', '/v1/pipelines/tils/reconciliation'],
    ['POST', '/v1/pipelines/tils/reconciliations'],
    ['GET', '/v1/pipelines/tils'],
    ['DELETE', '/v1/pipelines/tils'],
  ] as const) {
    it(`${method} ${path} answers it for params.name`, async () => {
      const res = await t.request(method, path, method === 'POST' ? {} : undefined, {
        authorization: `Bearer ${club.token}`,
      });
      expectUnknown(res, 'params.name');
    });
  }

  it('GET /v1/connections/{pipeline} answers it for params.pipeline', async () => {
    expectUnknown(await club.get('/v1/connections/tils'), 'params.pipeline');
  });

  it('POST /v1/imports answers it for the form field pipeline', async () => {
    const app = await syncServer(t);
    const file = { name: 'customers.csv', content: 'customer_id,name\nC-1,Someone\n' };
    expectUnknown(await upload(app, club.token, { pipeline: 'tils' }, file), 'pipeline');
  });

  it('names the first 20 known pipelines and counts the rest', async () => {
    const many = await t.entity('DELMANY');
    for (let i = 1; i <= 22; i++)
      expect(
        (await many.put(`/v1/pipelines/p${String(i).padStart(2, '0')}`, { source: { type: 'file' } })).status,
      ).toBe(201);
    const listed = Array.from({ length: 20 }, (_, i) => `p${String(i + 1).padStart(2, '0')}`).join(', ');
    for (const path of ['/v1/pipelines/nope/reconciliation', '/v1/runs?pipeline=nope']) {
      const res = await many.get(path);
      expect(res.status).toBe(404);
      expect(res.body.error.message).toBe(`No pipeline named nope; known pipelines: ${listed}, … (22 in all)`);
    }
  });
});
