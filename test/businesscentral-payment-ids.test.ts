import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../src/db/database.ts';
import {
  type BusinessCentralSimulator,
  startBusinessCentralSimulator,
} from '../src/connectors/businesscentral/simulator.ts';
import { createBusinessCentralTarget } from '../src/connectors/businesscentral/target.ts';
import type { RatePlanner } from '../src/sync/remote/contracts.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import type { TargetCallContext, TargetConnector, TargetPayment } from '../src/sync/target.ts';
import { businessCentralSettings } from './helpers/businesscentral.ts';

/*
 * Two customers' payments booked under one reference (and so one Document No.) in Business
 * Central: each gets a target id of its own (`<Document No.>@<customer>`), and reconciliation's
 * read (`documents()`) reads each customer's own payment. A payment mapped before under the bare
 * Document No. (a sync_map row kept as it was) is still read.
 */

const log = pino({ level: 'silent' });
const planner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};
const ctx: TargetCallContext = { db: null as unknown as Queryable, log, actor: 'test' };

let sim: BusinessCentralSimulator;
let target: TargetConnector;

async function customer(code: string): Promise<string> {
  const [r] = await target.upsertCustomers(ctx, [
    { sourceId: code, code, targetId: null, record: { kind: 'customer', sourceId: code, name: `Customer ${code}` } },
  ]);
  if (!r?.ok) throw new Error(JSON.stringify(r));
  return r.targetId;
}

const pay = (customerTargetId: string, ref: string, amount: string): TargetPayment => ({
  sourceId: `${customerTargetId}-${ref}`,
  idempotencyKey: `${customerTargetId}-${ref}`,
  customerTargetId,
  invoiceTargetId: null,
  bankAccountCode: '',
  record: {
    kind: 'payment',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    date: '2026-11-20',
    amount,
    currency: 'EUR',
    description: '',
  },
});

beforeAll(async () => {
  sim = await startBusinessCentralSimulator({ client: { clientId: 'ids', clientSecret: 'bc-ids-secret-0123456789' } });
  target = createBusinessCentralTarget(
    {
      db: ctx.db,
      log,
      mapping: {},
      settings: businessCentralSettings(sim),
      entityId: '1',
      pipelineId: '1',
      pipelineName: 'bc',
      box: new SecretBox(Buffer.alloc(32, 1)),
    },
    { planner, client: { backoffBaseMs: 1, backoffMaxMs: 5, maxAttempts: 1 } },
  );
});
afterAll(async () => {
  await sim.close();
});

describe('Business Central payment target ids', () => {
  it("gives two customers' payments under one Document No. each its own id, and reads each back as its own", async () => {
    const alice = await customer('IDS-A');
    const bob = await customer('IDS-B');
    const [a] = await target.createPayments!(ctx, [pay(alice, 'ORDER 1001', '10.00')]);
    const [b] = await target.createPayments!(ctx, [pay(bob, 'ORDER 1001', '25.00')]);
    if (!a?.ok || !b?.ok) throw new Error(JSON.stringify([a, b]));
    expect(a.number).toBe('ORDER 1001');
    expect(b.number).toBe('ORDER 1001');
    expect(a.targetId).not.toBe(b.targetId);
    const docs = await target.documents!(ctx, [a.targetId, b.targetId], { lines: false });
    expect(
      [a.targetId, b.targetId].map((id) => {
        const doc = docs.get(id);
        return [doc?.customerTargetId, doc?.gross, doc?.number];
      }),
    ).toEqual([
      [alice, 1000n, 'ORDER 1001'],
      [bob, 2500n, 'ORDER 1001'],
    ]);
    // Found again after a lost answer, each under its own id.
    expect((await target.findByReference(ctx, 'payment', 'ORDER 1001', bob))?.targetId).toBe(b.targetId);
    expect((await target.findByReference(ctx, 'payment', 'ORDER 1001', alice))?.targetId).toBe(a.targetId);
  });

  it('still reads a payment mapped under its bare Document No. (the old form), as the first customer it names', async () => {
    const carol = await customer('IDS-C');
    const [c] = await target.createPayments!(ctx, [pay(carol, 'OLD-FORM-1', '7.50')]);
    expect(c?.ok).toBe(true);
    // The id a sync_map row kept from before: the Document No. alone.
    const docs = await target.documents!(ctx, ['OLD-FORM-1'], { lines: false });
    expect(docs.get('OLD-FORM-1')).toMatchObject({
      targetId: 'OLD-FORM-1',
      kind: 'payment',
      customerTargetId: carol,
      gross: 750n,
    });
    // Asked in one read with new-form ids, each is answered under the id asked.
    const both = await target.documents!(ctx, ['OLD-FORM-1', (c as { targetId: string }).targetId], { lines: false });
    expect([...both.keys()].sort()).toEqual(['OLD-FORM-1', `OLD-FORM-1@${carol}`].sort());
  });
});
