import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo } from '../src/cli/demo.ts';
import type { Runtime } from '../src/cli/runtime.ts';
import { findPipeline } from '../src/sync/pipelines.ts';
import { listRuns } from '../src/sync/runs.ts';
import { ADMIN_TOKEN, type Client, type TestApp, createTestApp } from './helpers/app.ts';
import { processScope } from './helpers/scoped.ts';
import { testBox } from './helpers/sync.ts';

/*
 * Attack review, finding 6: the demo's sample system is plain http on loopback, which the outbound
 * policy refuses. The demo allows its address to its own pipeline (entity DEMO, pipeline demo)
 * only: while it runs, every other pipeline is refused that address as any loopback address, and
 * once it stops, the demo's pipeline is too.
 */

let t: TestApp;
let other: Client;
let simUrl: string;
let stopDemo: () => Promise<void>;
let stopped = false;
const stop = async () => {
  if (stopped) return;
  stopped = true;
  await stopDemo();
};
const scope = processScope();

const asAdmin = { authorization: `Bearer ${ADMIN_TOKEN}` };

beforeAll(async () => {
  // The default policy: no host allowed (vitest.config.ts allows 127.0.0.1 for the simulators of other tests).
  scope.env('LEDGERLINK_OUTBOUND_ALLOW', '');
  scope.env('LEDGERLINK_ALLOW_PRIVATE_NETWORKS', '');
  t = await createTestApp();
  const rt: Runtime = {
    db: t.db,
    box: testBox,
    log: pino({ level: 'silent' }),
    sync: t.sync,
    configPath: null,
    close: async () => {},
  };
  stopDemo = await startDemo(rt, 3000);
  simUrl = String((await findPipeline(t.db, testBox, 'demo'))!.sourceConfig.baseUrl);
  other = await t.entity('OTHER');
});
afterAll(async () => {
  await stop();
  await t.close();
});

describe("the demo's loopback address is its own pipeline's alone", () => {
  it('lets the demo pipeline reach its sample system over http on loopback', async () => {
    expect(simUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const runs = (await listRuns(t.db, { pipeline: 'demo', limit: 10, offset: 0 })).items;
    expect(runs.map((r) => r.status)).toEqual(['succeeded']);
  });

  it("refuses the address to another entity's pipeline, as a source or as a target (the reproduction)", async () => {
    const source = await other.put('/v1/pipelines/sim', {
      source: { type: 'ixpole', baseUrl: simUrl, apiKey: 'k_123456789' },
      target: { type: 'ledger' },
    });
    expect(source.status).toBe(400);
    expect(source.body.error.code).toBe('PIPELINE_URL_REFUSED');
    expect(source.body.error.details).toEqual([{ field: 'body.source.baseUrl', message: expect.any(String) }]);
    const target = await other.put('/v1/pipelines/sim', {
      source: { type: 'file' },
      target: { type: 'webhook', url: `${simUrl}in`, secret: 'target-secret-0123456789' },
    });
    expect(target.status).toBe(400);
    expect(target.body.error.details).toEqual([{ field: 'body.target.url', message: expect.any(String) }]);
    expect((await other.get('/v1/pipelines/sim')).status).toBe(404);
  });

  it("refuses it to another pipeline of entity DEMO, and to the demo pipeline's target", async () => {
    const res = await t.request(
      'PUT',
      '/v1/pipelines/copy',
      { entity: 'DEMO', source: { type: 'ixpole', baseUrl: simUrl, apiKey: 'k_123456789' } },
      asAdmin,
    );
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('PIPELINE_URL_REFUSED');
    // The demo pipeline itself, saved again as it is, is fine.
    const demo = (await t.request('GET', '/v1/pipelines/demo', undefined, asAdmin)).body;
    const again = await t.request('PUT', '/v1/pipelines/demo', { ...demo, entity: 'DEMO' }, asAdmin);
    expect(again.status).toBe(200);
  });

  it('refuses a run of a pipeline that holds the address anyway (saved while the operator allowed loopback)', async () => {
    scope.env('LEDGERLINK_OUTBOUND_ALLOW', '127.0.0.1');
    const saved = await other.put('/v1/pipelines/sneaky', {
      source: { type: 'ixpole', baseUrl: simUrl, apiKey: 'k_123456789', maxAttempts: 1 },
    });
    expect(saved.status).toBe(201);
    scope.env('LEDGERLINK_OUTBOUND_ALLOW', '');
    const run = await other.post('/v1/pipelines/sneaky/runs', {});
    expect(run.status).toBe(400);
    expect(run.body.error.code).toBe('PIPELINE_URL_REFUSED');
  });

  it('takes the permission back when the demo stops', async () => {
    await stop();
    const demo = (await t.request('GET', '/v1/pipelines/demo', undefined, asAdmin)).body;
    const again = await t.request('PUT', '/v1/pipelines/demo', { ...demo, entity: 'DEMO' }, asAdmin);
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe('PIPELINE_URL_REFUSED');
  });
});
