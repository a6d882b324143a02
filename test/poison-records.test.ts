import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants } from './helpers/ledger.ts';
import { definePipeline, openExceptions, silentLog } from './helpers/sync.ts';
import { invoiceEvent, webhookClient, type WebhookClient } from './helpers/webhooks.ts';
import { findEntityByCode } from '../src/ledger/entities.ts';
import { ledgerTarget } from '../src/connectors/ledger/index.ts';
import { getRun } from '../src/sync/runs.ts';
import { PageOutcome } from '../src/sync/engine/context.ts';
import { syncContext } from '../src/sync/engine/run.ts';
import { Liveness } from '../src/sync/engine/liveness.ts';
import { deliver } from '../src/sync/engine/deliver.ts';
import { invoiceDeliveries } from '../src/sync/engine/invoices.ts';
import { ok, type TargetConnector, type TargetInvoice } from '../src/sync/target.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';

/*
 * A record that cannot be booked is parked with its reason, and never blocks its pipeline: the
 * records around it are booked, and the pipeline's later runs succeed.
 */

const SECRET = 'poison-webhook-secret-0123456789';
let t: TestApp;
let c: Client;
let hooks: WebhookClient;
let shop: Pipeline;

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('POISON', 'EUR', { standardTaxRate: '0.21' });
  hooks = await webhookClient(t);
  shop = await definePipeline(t.db, 'POISON', { name: 'shop', source: { type: 'webhook' }, webhookSecret: SECRET });
});
afterAll(async () => {
  await hooks.close();
  await t.close();
});

let seq = 0;
const serviceEvent = (ref: string, net: string) => invoiceEvent(`evt-${++seq}`, ref, { net });
const send = (event: unknown) => hooks.deliver('shop', event, SECRET);

async function postedReferences() {
  const { rows } = await t.db.query<{ external_reference: string }>(
    `SELECT external_reference FROM transactions WHERE entity_id = $1 AND type = 'SI' ORDER BY id`,
    [c.entityId],
  );
  return rows.map((r) => r.external_reference);
}

describe('a poison record between good ones', () => {
  it('parks signed webhook events whose amounts the ledger cannot hold; the events around them post, later runs succeed', async () => {
    expect((await send(serviceEvent('GOOD-1', '10.00'))).status).toBe(202);
    // Each line fits, the total with VAT does not (the case that used to fail every later run).
    expect((await send(serviceEvent('HUGE-TOTAL', '92233720368547758.07'))).status).toBe(202);
    // The amount itself is beyond what a bigint holds in minor units.
    expect((await send(serviceEvent('HUGE-LINE', '100000000000000000000'))).status).toBe(202);
    expect((await send(serviceEvent('GOOD-2', '20.00'))).status).toBe(202);

    expect(await postedReferences()).toEqual(['GOOD-1', 'GOOD-2']);
    const parked = await openExceptions(t.db, shop);
    expect(parked.map((e) => [e.source_id, e.reason_code])).toEqual([
      ['order-HUGE-LINE', 'AMOUNT_OUT_OF_RANGE'],
      ['order-HUGE-TOTAL', 'AMOUNT_OUT_OF_RANGE'],
    ]);
    for (const e of parked) expect(e.message).not.toMatch(/out of range for type|bigint/i);

    const { rows: pending } = await t.db.query(
      `SELECT event_id FROM webhook_events WHERE pipeline_id = $1 AND processed_at IS NULL`,
      [shop.id],
    );
    expect(pending).toEqual([]);
    const runId = (await t.sync.trigger(shop, 'manual', 'test'))!;
    expect((await getRun(t.db, runId))!.status).toBe('succeeded');
    expect((await send(serviceEvent('GOOD-3', '30.00'))).status).toBe(202);
    expect(await postedReferences()).toEqual(['GOOD-1', 'GOOD-2', 'GOOD-3']);
    const { rows: failed } = await t.db.query(`SELECT id FROM runs WHERE pipeline_id = $1 AND status = 'failed'`, [
      shop.id,
    ]);
    expect(failed).toEqual([]);
    await checkInvariants(t.db, c.entityId);
  });

  it('parks a payment whose fee is beyond the range with AMOUNT_OUT_OF_RANGE, naming the fee', async () => {
    const huge = '100000000000000000000';
    const pay = {
      id: `evt-${++seq}`,
      type: 'payment.received',
      created: Math.floor(Date.now() / 1000),
      data: {
        sourceId: 'pay-huge',
        externalReference: 'PAY-HUGE',
        customerSourceId: 'cust-1',
        date: '2026-11-22',
        amount: '12.10',
        fee: huge,
        currency: 'EUR',
        invoiceExternalReference: 'GOOD-1',
      },
    };
    expect((await send(pay)).status).toBe(202);
    const e = (await openExceptions(t.db, shop)).find((x) => x.source_id === 'pay-huge');
    expect(e).toMatchObject({ reason_code: 'AMOUNT_OUT_OF_RANGE', field: 'fee' });
  });
});

describe('the backstop: an unexpected error on one record of a batch', () => {
  it('redoes the batch record by record, parks the one that fails as POSTING_FAILED and books the rest', async () => {
    const entity = (await findEntityByCode(t.db, 'POISON'))!;
    const real = ledgerTarget(entity, { mapping: shop.mapping });
    const batches: string[][] = [];
    // The ledger target with a fault no rule foresaw: a database error on one particular invoice.
    const target: TargetConnector = {
      ...real,
      async createInvoices(ctx, items: TargetInvoice[]) {
        batches.push(items.map((i) => i.sourceId));
        if (items.some((i) => i.sourceId === 'bad'))
          throw Object.assign(new Error('value "1e30" is out of range for type bigint'), { code: '22003' });
        return items.map((i, n) => ok(`T-${i.sourceId}-${n}`, { outcome: 'created' }));
      },
    };
    const deps = { db: t.db, box: undefined as never, log: silentLog, liveness: new Liveness(t.db, silentLog) };
    const ctx = syncContext(deps, shop, entity, { type: 'webhook', pages: async function* () {} }, target, null);
    const doc = (sourceId: string) => ({
      sourceId,
      raw: null,
      doc: {
        sourceId,
        record: { ...serviceEvent(sourceId, '1.00').data, kind: 'invoice' as const, description: '', sourceId },
        customerTargetId: 'CUST-1',
        productTargetIds: {},
        idempotencyKey: `k-${sourceId}`,
      },
    });
    const out = new PageOutcome();
    await deliver(ctx, invoiceDeliveries[0]!, [doc('a'), doc('bad'), doc('c')], out);
    expect(batches).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
    expect(out.records.map((r) => [r.sourceId, r.outcome])).toEqual([
      ['a', 'created'],
      ['bad', 'parked'],
      ['c', 'created'],
    ]);
    expect(out.parked).toMatchObject([{ sourceId: 'bad', reasonCode: 'POSTING_FAILED' }]);
    // The raw database message stays in the log.
    expect(out.parked[0]!.message).not.toMatch(/out of range/);
    expect(out.parked[0]!.message).toMatch(/22003/);
    const { rows } = await t.db.query<{ source_id: string }>(
      `SELECT source_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice' AND source_id IN ('a', 'bad', 'c') ORDER BY source_id`,
      [shop.id],
    );
    expect(rows.map((r) => r.source_id)).toEqual(['a', 'c']);
  });

  it('lets a transient failure (a lost connection, a deadlock) fail the run instead of parking', async () => {
    const entity = (await findEntityByCode(t.db, 'POISON'))!;
    const real = ledgerTarget(entity, { mapping: shop.mapping });
    const target: TargetConnector = {
      ...real,
      async createInvoices() {
        throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
      },
    };
    const ctx = syncContext(
      { db: t.db, box: undefined as never, log: silentLog, liveness: new Liveness(t.db, silentLog) },
      shop,
      entity,
      { type: 'webhook', pages: async function* () {} },
      target,
      null,
    );
    const out = new PageOutcome();
    const one = {
      sourceId: 'x',
      raw: null,
      doc: {
        sourceId: 'x',
        record: { ...serviceEvent('x', '1.00').data, kind: 'invoice' as const, description: '', sourceId: 'x' },
        customerTargetId: 'CUST-1',
        productTargetIds: {},
        idempotencyKey: 'k-x',
      },
    };
    await expect(deliver(ctx, invoiceDeliveries[0]!, [one], out)).rejects.toThrow(/deadlock/);
    expect(out.parked).toEqual([]);
  });
});
