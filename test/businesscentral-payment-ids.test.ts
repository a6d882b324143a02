import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BusinessCentralSimulator,
  startBusinessCentralSimulator,
} from '../src/connectors/businesscentral/simulator.ts';
import type { TargetConnector, TargetPayment } from '../src/sync/target.ts';
import {
  businessCentralCallContext,
  businessCentralCustomer,
  businessCentralPayment,
  directBusinessCentral,
} from './helpers/businesscentral.ts';

/*
 * Two customers' payments booked under one reference (and so one Document No.) in Business
 * Central: each gets a target id of its own (`<Document No.>@<customer>`), and reconciliation's
 * read (`documents()`) reads each customer's own payment. A payment mapped before under the bare
 * Document No. (a sync_map row kept as it was) is still read.
 */

const ctx = businessCentralCallContext;

let sim: BusinessCentralSimulator;
let target: TargetConnector;

const customer = (code: string): Promise<string> => businessCentralCustomer(target, code);

const pay = (customerTargetId: string, ref: string, amount: string): TargetPayment =>
  businessCentralPayment(customerTargetId, ref, amount, '2026-11-20');

beforeAll(async () => {
  sim = await startBusinessCentralSimulator({ client: { clientId: 'ids', clientSecret: 'bc-ids-secret-0123456789' } });
  target = directBusinessCentral(sim);
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
