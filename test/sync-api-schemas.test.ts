import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import '../src/connectors/all.ts';
import { addCounts, addRunRecords, createRun, setRunStatus } from '../src/sync/runs.ts';
import { parkRecords, retryException, type RetryRunner } from '../src/sync/exceptions.ts';
import { requirePipeline } from '../src/sync/pipelines.ts';
import type { SourceItem } from '../src/sync/connector.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { testBox } from './helpers/sync.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * The run, exception, pipeline and audit endpoints answer exactly what /openapi.json says: every
 * response below is checked against the published document, with no field missing, none extra
 * and each of the declared type. No run is executed (that needs the engine): runs, records and
 * exceptions are written with the engine's own functions, as a run would.
 */
const scope = processScope();
scope.target({
  type: 'test-sink',
  description: 'A target for this test only',
  settings: z.strictObject({ url: z.url(), apiKey: z.string().optional() }),
  secrets: ['apiKey'],
  create: () => Promise.reject(new Error('test-sink is never run')),
});

type Json = Record<string, unknown>;

/** Checks `value` against a JSON Schema of the OpenAPI document (the subset zod emits); returns the problems. */
function check(doc: Json, schema: Json, value: unknown, at = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = ((doc.components as Json).schemas as Record<string, Json>)[name];
    return target ? check(doc, target, value, at) : [`${at}: unresolved ${schema.$ref}`];
  }
  if (Array.isArray(schema.anyOf)) {
    const all = (schema.anyOf as Json[]).map((s) => check(doc, s, value, at));
    return all.some((p) => p.length === 0) ? [] : all.flat();
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value))
    return [`${at}: ${JSON.stringify(value)} not in enum`];
  const types = schema.type === undefined ? [] : ([] as unknown[]).concat(schema.type);
  if (types.length) {
    const actual =
      value === null
        ? 'null'
        : Array.isArray(value)
          ? 'array'
          : Number.isInteger(value)
            ? 'integer'
            : typeof value === 'object'
              ? 'object'
              : typeof value;
    const ok = types.includes(actual) || (actual === 'integer' && types.includes('number'));
    if (!ok) return [`${at}: ${actual}, expected ${types.join(' or ')}`];
  }
  if (Array.isArray(value) && schema.items)
    return value.flatMap((v, i) => check(doc, schema.items as Json, v, `${at}[${i}]`));
  if (value && typeof value === 'object' && !Array.isArray(value) && schema.properties) {
    const props = schema.properties as Record<string, Json>;
    const problems: string[] = [];
    for (const key of (schema.required as string[] | undefined) ?? [])
      if (!(key in value)) problems.push(`${at}.${key}: missing`);
    for (const [key, v] of Object.entries(value)) {
      if (props[key]) problems.push(...check(doc, props[key], v, `${at}.${key}`));
      // An open object (`additionalProperties: {}`) may carry more; every other must not.
      else if (schema.additionalProperties === undefined || schema.additionalProperties === false)
        problems.push(`${at}.${key}: not in the schema`);
    }
    return problems;
  }
  return [];
}

let t: TestApp;
let c: Client;
let doc: Json;

/** The problems of a response against the schema /openapi.json gives for that operation and status. */
function problems(path: string, method: string, status: number, body: unknown): string[] {
  const op = (doc.paths as Record<string, Record<string, Json>>)[path]![method]!;
  const schema = (((op.responses as Json)[String(status)] as Json).content as Record<string, Json>)['application/json']!
    .schema as Json;
  return check(doc, schema, body);
}

const invoice = {
  kind: 'invoice',
  sourceId: 'INV-1',
  customerSourceId: 'C-1',
  externalReference: 'INV-1',
  invoiceDate: '2026-11-20',
  currency: 'EUR',
  lines: [{ description: 'Ticket', netAmount: '10.00', vatRate: '0.21' }],
};

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('SC');
  doc = (await t.request('GET', '/openapi.json')).body as Json;
});
afterAll(async () => t?.close());

describe('the response checker', () => {
  it('catches an extra field, a missing one, a wrong type and a value outside an enum', () => {
    const run = {
      runId: 'r',
      pipeline: 'p',
      trigger: 'manual',
      status: 'queued',
      createdAt: 'x',
      startedAt: null,
      finishedAt: null,
      counts: {
        fetched: 0,
        created: 0,
        updated: 0,
        skipped: 0,
        parked: 0,
        writtenBack: 0,
        createdByKind: { invoices: 0, receipts: 0, customers: 0, products: 0, other: 0 },
      },
      waiting: 0,
      error: null,
      createdBy: 'cli',
      recordsRemovedAt: null,
      cancelRequestedAt: null,
      cancelledBy: null,
    };
    expect(problems('/v1/runs/{runId}', 'get', 200, run)).toEqual([]);
    expect(problems('/v1/runs/{runId}', 'get', 200, { ...run, extra: 1 })).toEqual(['$.extra: not in the schema']);
    const { createdBy: _, ...missing } = run;
    expect(problems('/v1/runs/{runId}', 'get', 200, missing)).toEqual(['$.createdBy: missing']);
    expect(problems('/v1/runs/{runId}', 'get', 200, { ...run, counts: { ...run.counts, parked: '1' } })).toEqual([
      '$.counts.parked: string, expected integer',
    ]);
    expect(problems('/v1/runs/{runId}', 'get', 200, { ...run, status: 'done' })).toHaveLength(1);
  });
});

describe('typed responses of runs, exceptions, pipelines and audit', () => {
  let runId: string;
  let exceptionIds: number[];

  it('pipelines: PUT, GET one and the list answer the Pipeline schema, secrets redacted', async () => {
    const put = await c.put('/v1/pipelines/shop', {
      source: { type: 'webhook' },
      target: { type: 'test-sink', url: 'https://erp.example/', apiKey: 'k-1' },
      schedule: '*/5 * * * *',
      webhookSecret: 'a-webhook-secret-of-length',
      mapping: { bankAccountCode: 'BANK' },
    });
    expect(put.status).toBe(201);
    expect(problems('/v1/pipelines/{name}', 'put', 200, put.body)).toEqual([]);
    expect(put.body).toMatchObject({
      name: 'shop',
      entity: 'SC',
      target: { type: 'test-sink', apiKey: '[secret]' },
      hasWebhookSecret: true,
      managedBy: 'api',
    });
    const one = await c.get('/v1/pipelines/shop');
    expect(problems('/v1/pipelines/{name}', 'get', 200, one.body)).toEqual([]);
    const list = await c.get('/v1/pipelines');
    expect(problems('/v1/pipelines', 'get', 200, list.body)).toEqual([]);
    expect(list.body.items).toHaveLength(1);
  });

  it('runs: the run, its records and the list answer the Run and RunRecord schemas', async () => {
    const pipeline = await requirePipeline(t.db, testBox, 'shop');
    runId = (await createRun(t.db, {
      pipelineId: pipeline.id,
      entityId: pipeline.entityId,
      trigger: 'webhook',
      createdBy: 'webhook:shop',
    }))!;
    await setRunStatus(t.db, runId, 'running');
    await addRunRecords(t.db, runId, [
      { kind: 'customer', sourceId: 'C-1', outcome: 'created', targetId: 'CUST1' },
      { kind: 'invoice', sourceId: 'INV-1', outcome: 'parked', message: 'no tax code for 0.21' },
    ]);
    await addCounts(t.db, runId, { fetched: 2, created: 1, parked: 1 });
    await setRunStatus(t.db, runId, 'partial');

    const run = await c.get(`/v1/runs/${runId}`);
    expect(problems('/v1/runs/{runId}', 'get', 200, run.body)).toEqual([]);
    expect(run.body).toMatchObject({ status: 'partial', createdBy: 'webhook:shop', counts: { parked: 1 } });
    const records = await c.get(`/v1/runs/${runId}/records`);
    expect(problems('/v1/runs/{runId}/records', 'get', 200, records.body)).toEqual([]);
    expect(records.body.items.map((r: { outcome: string }) => r.outcome)).toEqual(['created', 'parked']);
    const list = await c.get('/v1/runs?pipeline=shop');
    expect(problems('/v1/runs', 'get', 200, list.body)).toEqual([]);
    expect(list.body.total).toBe(1);
  });

  it('exceptions: the list, a refused retry and a resolve answer the Exception schemas', async () => {
    const pipeline = await requirePipeline(t.db, testBox, 'shop');
    await parkRecords(t.db, pipeline.id, pipeline.entityId, runId, [
      {
        kind: 'invoice',
        sourceId: 'INV-1',
        reasonCode: 'MAPPING_NO_TAX_CODE_FOR_RATE',
        message: 'no tax code for 0.21',
        field: 'lines[0].vatRate',
        payload: { record: invoice, raw: { id: 'INV-1' } },
      },
      {
        kind: 'invoice',
        sourceId: 'INV-2',
        reasonCode: 'IMPORT_ROW_INVALID',
        message: 'date: not a date',
        payload: { raw: { id: 'INV-2', date: '32/13' } },
      },
    ]);
    const list = await c.get('/v1/exceptions?pipeline=shop');
    expect(problems('/v1/exceptions', 'get', 200, list.body)).toEqual([]);
    expect(list.body.total).toBe(2);
    exceptionIds = list.body.items.map((x: { id: number }) => x.id);

    // Nothing to retry: refused before any run, with the field named as the API names it.
    const refused = await c.post(`/v1/exceptions/${exceptionIds[1]}/retry`, {});
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'params.id' }] });

    const resolved = await c.post(`/v1/exceptions/${exceptionIds[1]}/resolve`, { note: 'bad row; re-sent by hand' });
    expect(resolved.status).toBe(200);
    expect(problems('/v1/exceptions/{id}/resolve', 'post', 200, resolved.body)).toEqual([]);
    expect(resolved.body).toMatchObject({ status: 'resolved', pipelineId: pipeline.id, entityId: pipeline.entityId });

    // Resolved already: a conflict with its state (409, a code of its own), for a retry and a second resolve alike.
    const again = await c.post(`/v1/exceptions/${exceptionIds[1]}/retry`, {});
    const twice = await c.post(`/v1/exceptions/${exceptionIds[1]}/resolve`, { note: 'again' });
    for (const r of [again, twice]) {
      expect(r.status).toBe(409);
      expect(r.body.error).toMatchObject({
        code: 'EXCEPTION_ALREADY_RESOLVED',
        details: [{ field: 'params.id', message: 'already resolved' }],
      });
      expect(r.body.error.message).toMatch(
        new RegExp(`^Exception ${exceptionIds[1]} is already resolved \\(since \\d{4}-`),
      );
    }
  });

  it('audit: the page answers the AuditEntry schema', async () => {
    const audit = await c.get('/v1/audit');
    expect(problems('/v1/audit', 'get', 200, audit.body)).toEqual([]);
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(
      expect.arrayContaining(['pipeline.created', 'exception.resolved']),
    );
    const admin = await t.request('GET', '/v1/audit?pageSize=500', undefined, {
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect(problems('/v1/audit', 'get', 200, admin.body)).toEqual([]);
  });

  it('the shared schemas are components of /openapi.json, referenced by the operations', () => {
    const names = Object.keys((doc.components as Json).schemas as Json);
    expect(names).toEqual(
      expect.arrayContaining(['Run', 'RunRecord', 'Exception', 'ExceptionDetail', 'Pipeline', 'AuditEntry']),
    );
    expect(JSON.stringify(doc)).not.toContain('#/$defs/');
  });

  it('retryException, used by the API and the CLI: runs the stored record as a retry run and answers the exception after it', async () => {
    const pipeline = await requirePipeline(t.db, testBox, 'shop');
    const calls: { trigger: string; actor: string; items: SourceItem[]; params: Record<string, unknown> }[] = [];
    // The engine's part, done by hand: a run of its own that posts the record and closes the exception.
    const runner: RetryRunner = {
      box: testBox,
      processRecords: async (p, trigger, actor, items, params = {}) => {
        calls.push({ trigger, actor, items, params });
        const id = (await createRun(t.db, {
          pipelineId: p.id,
          entityId: p.entityId,
          trigger,
          createdBy: actor,
          params,
        }))!;
        await t.db.query(
          `UPDATE exceptions SET status = 'resolved', resolved_at = now(), resolved_by = $2 WHERE id = $1`,
          [Number(params.exceptionId), actor],
        );
        await setRunStatus(t.db, id, 'succeeded');
        return id;
      },
    };
    const outcome = await retryException(t.db, runner, exceptionIds[0]!, 'cli');
    expect(calls).toEqual([
      {
        trigger: 'retry',
        actor: 'cli',
        items: [{ record: expect.objectContaining({ sourceId: 'INV-1' }) as CanonicalRecord, raw: { id: 'INV-1' } }],
        params: { exceptionId: exceptionIds[0] },
      },
    ]);
    expect(outcome.exception).toMatchObject({ id: exceptionIds[0], status: 'resolved', pipelineId: pipeline.id });
    expect(outcome.runStatus).toBe('succeeded');
    expect(problems('/v1/exceptions/{id}/retry', 'post', 200, outcome)).toEqual([]);

    // Another entity's exception is not found by an entity-scoped retry (the API's), and nothing runs.
    const other = await t.entity('SO');
    await expect(
      retryException(t.db, runner, exceptionIds[0]!, 'x', { entityId: other.entityId, field: 'params.id' }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(calls).toHaveLength(1);
  });
});
