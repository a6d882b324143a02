import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPlace, type CliPlace } from './helpers/cli.ts';
import { createTestApp } from './helpers/app.ts';
import { syncServer, upload } from './helpers/uploads.ts';

/*
 * A disabled pipeline runs nothing, however a run is asked for: `ledgerlink sync run` makes the
 * checks POST /v1/pipelines/{name}/runs makes, and it, `ledgerlink import` and the API refuse with
 * one code, PIPELINE_DISABLED, and one message, which says how to enable it.
 */

const ENABLE = '(`ledgerlink pipeline enable files`, or PUT /v1/pipelines/files with "enabled": true)';
const MESSAGE = `Pipeline files is disabled: nothing runs until it is enabled again ${ENABLE}`;

let place: CliPlace;

beforeAll(async () => {
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
}, 120_000);
afterAll(async () => {
  await place?.close();
});

async function runCount(): Promise<number> {
  const db = await place.open();
  try {
    return (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM runs`)).rows[0]!.n;
  } finally {
    await db.close();
  }
}

describe('a disabled pipeline on the command line', () => {
  it('sync run and import refuse it with PIPELINE_DISABLED and how to enable it; nothing runs', async () => {
    const disabled = await place.run(['pipeline', 'disable', 'files']);
    expect(disabled.code, disabled.stderr).toBe(0);

    const run = await place.run(['sync', 'run', 'files']);
    expect(run.code, run.stdout).toBe(1);
    expect(run.stderr).toBe(`error: PIPELINE_DISABLED: ${MESSAGE}\n`);
    const json = await place.run(['sync', 'run', 'files', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      error: { code: 'PIPELINE_DISABLED', message: MESSAGE, details: [{ field: 'NAME', message: 'disabled' }] },
    });

    const imported = await place.run(['import', 'customers.csv', '--pipeline', 'files']);
    expect(imported.code, imported.stdout).toBe(1);
    expect(imported.stderr).toBe(`error: PIPELINE_DISABLED: ${MESSAGE}\n`);
    const importJson = await place.run(['import', 'customers.csv', '--pipeline', 'files', '--json']);
    expect(importJson.code).toBe(1);
    expect(JSON.parse(importJson.stdout)).toEqual({
      error: { code: 'PIPELINE_DISABLED', message: MESSAGE, details: [{ field: '--pipeline', message: 'disabled' }] },
    });
    expect(await runCount()).toBe(0);

    // What the message says to do works.
    expect((await place.run(['pipeline', 'enable', 'files'])).code).toBe(0);
    const after = await place.run(['import', 'customers.csv', '--pipeline', 'files']);
    expect(after.code, after.stderr + after.stdout).toBe(0);
    const again = await place.run(['sync', 'run', 'files']);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stdout).toMatch(/run [0-9a-f-]{36}: succeeded/);
  }, 240_000);
});

describe('a disabled pipeline in the API', () => {
  it('POST /v1/pipelines/{name}/runs answers 409 PIPELINE_DISABLED with the same message; nothing is queued', async () => {
    const t = await createTestApp();
    try {
      const c = await t.entity('CLUB');
      const saved = await c.put('/v1/pipelines/files', { source: { type: 'file' }, enabled: false });
      expect(saved.status, JSON.stringify(saved.body)).toBe(201);
      const res = await c.post('/v1/pipelines/files/runs', {});
      expect(res.status).toBe(409);
      expect(res.body.error).toEqual({
        code: 'PIPELINE_DISABLED',
        message: MESSAGE,
        details: [{ field: 'params.name', message: 'disabled' }],
      });
      const runs = await c.get('/v1/runs?pipeline=files');
      expect(runs.body.total).toBe(0);
      // An import through the API: the same refusal, and nothing read or booked.
      const app = await syncServer(t);
      try {
        const csv = 'customer_id,name,currency\nC-1,Ann,EUR\n';
        const imported = await upload(app, c.token, { pipeline: 'files' }, { name: 'customers.csv', content: csv });
        expect(imported.status).toBe(409);
        expect(imported.body.error).toEqual({
          code: 'PIPELINE_DISABLED',
          message: MESSAGE,
          details: [{ field: 'pipeline', message: 'disabled' }],
        });
        expect((await c.get('/v1/runs?pipeline=files')).body.total).toBe(0);
      } finally {
        if (app !== t.app) await app.close();
      }
    } finally {
      await t.close();
    }
  });
});
