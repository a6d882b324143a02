import { describe, expect, it } from 'vitest';
import { thrown } from './helpers/direct-target.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import { useOdooTarget } from './helpers/odoo-target.ts';

/*
 * The Odoo target's documents no pipeline booked (unlinked.ts) against the simulated Odoo, its
 * documents keyed into the database as a person would: the window's days both included and none
 * outside, the customers asked (and any customer's under a reference asked), none of the linked
 * ids (a payment's as `payment:{id}`), nothing cancelled, in draft or deleted, each kind as
 * documents() reads it, one search_read per model per 1,000 customers and per 1,000 references
 * read page by page to the end, and Odoo's refusal thrown as a ConnectorError, on 16, 17 and 18.
 */

const { ctx, setup: start } = useOdooTarget('odoo-unlinked');

async function setup(version: '16' | '17' | '18' = '17') {
  const { sim, apiKey, target, book } = await start(version);
  const d = sim.db;
  const unlinked = async (
    customerTargetIds: string[],
    from: string,
    to: string,
    o: { references?: string[]; linked?: string[] } = {},
  ) =>
    await target.unlinkedDocuments!(
      ctx(),
      { customerTargetIds, references: o.references ?? [], linkedTargetIds: o.linked ?? [] },
      from,
      to,
    );
  const ids = async (...args: Parameters<typeof unlinked>) => (await unlinked(...args)).map((x) => x.targetId).sort();
  const reads = (model: string) => sim.calls.filter((c) => c.model === model && c.modelMethod === 'search_read').length;
  return { sim, d, apiKey, target, book, unlinked, ids, reads };
}

const sorted = (...ids: string[]) => [...ids].sort();

describe('Odoo documents no pipeline booked', () => {
  it('reads the window’s first and last days, and nothing the day before or the day after', async () => {
    const { book, ids } = await setup();
    const c = book.customer('C');
    book.invoice('INV-0', c, '10.00', '2026-10-31');
    const first = book.invoice('INV-1', c, '10.00', '2026-11-01');
    const last = book.move('out_refund', 'CN-1', c, '10.00', '2026-11-30');
    book.invoice('INV-2', c, '10.00', '2026-12-01');
    book.payment('inbound', 'PAY-0', c, '5.00', '2026-10-31');
    const paidFirst = book.payment('inbound', 'PAY-1', c, '5.00', '2026-11-01');
    const paidLast = book.payment('inbound', 'PAY-2', c, '5.00', '2026-11-30');
    book.payment('inbound', 'PAY-3', c, '5.00', '2026-12-01');
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual(sorted(first, last, paidFirst, paidLast));
  });

  it('reads the customers asked only, and any customer’s document under a reference asked', async () => {
    const { book, ids } = await setup();
    const c = book.customer('C');
    const d = book.customer('D');
    const e = book.customer('E');
    const mine = book.invoice('INV-1', c, '10.00', '2026-11-10');
    const theirs = book.invoice('INV-2', d, '10.00', '2026-11-10');
    const referenced = book.payment('inbound', 'PAY-9', e, '10.00', '2026-11-10');
    const referencedMove = book.invoice('INV-9', e, '10.00', '2026-11-10');
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual([mine]);
    expect(await ids([c], '2026-11-01', '2026-11-30', { references: ['PAY-9', 'INV-9', 'NOT-HELD'] })).toEqual(
      sorted(mine, referenced, referencedMove),
    );
    // Under a reference, still only in the window.
    expect(await ids([], '2026-12-01', '2026-12-31', { references: ['PAY-9', 'INV-9'] })).toEqual([]);
    // Ids that cannot be partners go into no domain; nothing asked, nothing read.
    expect(await ids(['CUST-9', ''], '2026-11-01', '2026-11-30', { references: [''] })).toEqual([]);
    expect(await ids([d, c, d], '2026-11-01', '2026-11-30')).toEqual(sorted(mine, theirs));
  });

  it('leaves out the ids pipelines booked, a payment’s as payment:{id}', async () => {
    const { book, ids } = await setup();
    const c = book.customer('C');
    const booked = book.invoice('INV-1', c, '10.00', '2026-11-10');
    const hand = book.invoice('INV-2', c, '10.00', '2026-11-10');
    const pay = book.payment('inbound', 'PAY-1', c, '10.00', '2026-11-11');
    const other = book.payment('inbound', 'PAY-2', c, '10.00', '2026-11-11');
    expect(await ids([c], '2026-11-01', '2026-11-30', { linked: [booked, pay, '999999'] })).toEqual(
      sorted(hand, other),
    );
    // A payment's bare id is no payment's target id: it leaves nothing out.
    expect(
      await ids([c], '2026-11-01', '2026-11-30', { references: ['INV-1'], linked: [pay.slice('payment:'.length)] }),
    ).toEqual(sorted(booked, hand, pay, other));
  });

  it('leaves out what is cancelled, in draft or deleted in Odoo', async () => {
    const { d, book, ids } = await setup();
    const c = book.customer('C');
    const kept = book.invoice('INV-1', c, '10.00', '2026-11-10');
    const cancelled = book.invoice('INV-2', c, '10.00', '2026-11-10');
    book.invoice('INV-3', c, '10.00', '2026-11-10', false);
    const deleted = book.invoice('INV-4', c, '10.00', '2026-11-10', false);
    const payKept = book.payment('inbound', 'PAY-1', c, '10.00', '2026-11-10');
    const payCancelled = book.payment('inbound', 'PAY-2', c, '10.00', '2026-11-10');
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual(sorted(kept, cancelled, payKept, payCancelled));
    d.cancelMove(Number(cancelled));
    d.unlink('account.move', [Number(deleted)]);
    d.payments.get(Number(payCancelled.slice('payment:'.length)))!.state = 'cancel';
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual(sorted(kept, payKept));
    expect(await ids([], '2026-11-01', '2026-11-30', { references: ['INV-2', 'INV-3', 'PAY-2'] })).toEqual([]);
  });

  for (const version of ['16', '17', '18'] as const)
    it(`reads each kind with its gross and customer, as documents() reads it (Odoo ${version})`, async () => {
      const { book, unlinked, target } = await setup(version);
      const c = book.customer('C');
      const d = book.customer('D');
      const inv = book.invoice('INV-1', c, '100.00', '2026-11-10');
      const cn = book.move('out_refund', 'CN-1', d, '10.00', '2026-11-11');
      const pay = book.payment('inbound', 'PAY-1', c, '150.00', '2026-11-12');
      const refund = book.payment('outbound', 'RF-1', c, '29.00', '2026-11-13');
      const got = await unlinked([c, d], '2026-11-01', '2026-11-30');
      const byId = new Map(got.map((x) => [x.targetId, x]));
      expect(
        [inv, cn, pay, refund].map((id) => {
          const x = byId.get(id);
          return [x?.kind, x?.customerTargetId, x?.externalReference, x?.gross];
        }),
      ).toEqual([
        ['invoice', c, 'INV-1', 12100n],
        ['creditNote', d, 'CN-1', 1210n],
        ['payment', c, 'PAY-1', 15000n],
        ['refund', c, 'RF-1', 2900n],
      ]);
      expect(got).toHaveLength(4);
      const read = await target.documents!(ctx(), [inv, cn, pay, refund]);
      expect(new Map(got.map((x) => [x.targetId, x]))).toEqual(read);
    });

  it('asks one search_read per model per 1,000 customers and per 1,000 references', async () => {
    const { book, ids, reads } = await setup();
    const customers = Array.from({ length: 1500 }, (_, i) => book.customer(`C${i}`));
    const other = book.customer('OTHER');
    const docs = customers.slice(0, 20).map((c, i) => book.invoice(`INV-${i}`, c, '10.00', '2026-11-10'));
    const referenced = book.invoice('REF-1499', other, '10.00', '2026-11-10');
    let [moves, payments] = [reads('account.move'), reads('account.payment')];
    expect(await ids(customers, '2026-11-01', '2026-11-30')).toEqual(sorted(...docs));
    expect([reads('account.move') - moves, reads('account.payment') - payments]).toEqual([2, 2]);
    const references = Array.from({ length: 1500 }, (_, i) => `REF-${i}`);
    [moves, payments] = [reads('account.move'), reads('account.payment')];
    expect(await ids(customers.slice(0, 10), '2026-11-01', '2026-11-30', { references })).toEqual(
      sorted(...docs.slice(0, 10), referenced),
    );
    expect([reads('account.move') - moves, reads('account.payment') - payments]).toEqual([3, 3]);
  });

  it('reads every page of 1,000 rows to the end', async () => {
    const { book, ids, reads } = await setup();
    const c = book.customer('C');
    const docs = Array.from({ length: 2100 }, (_, i) => book.invoice(`INV-${i}`, c, '1.00', '2026-11-10'));
    const pays = Array.from({ length: 1000 }, (_, i) => book.payment('inbound', `PAY-${i}`, c, '1.00', '2026-11-10'));
    const [moves, lines] = [reads('account.move'), reads('account.move.line')];
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual(sorted(...docs, ...pays));
    // Three pages of moves; a full page of payments, and the empty page after it; their settled amounts.
    expect([reads('account.move') - moves, reads('account.move.line') - lines]).toEqual([3, 1]);
  });

  it('throws Odoo’s refusal, an unanswered call, and a day that is no date, as ConnectorErrors', async () => {
    const { sim, apiKey, book, ids } = await setup();
    const c = book.customer('C');
    const inv = book.invoice('INV-1', c, '100.00', '2026-11-10');
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual([inv]);
    const bad = await thrown(ids([c], '2026-11-01', '30/11/2026'));
    expect(bad).toBeInstanceOf(ConnectorError);
    expect(bad.message).toMatch(/not a date/);
    const restore = sim.failWhile((call) => call.modelMethod === 'search_read', 502);
    const failed = await thrown(ids([c], '2026-11-01', '2026-11-30'));
    expect(failed).toBeInstanceOf(ConnectorError);
    expect(failed.retryable).toBe(true);
    restore();
    sim.revokeApiKey(apiKey);
    const refused = await thrown(ids([c], '2026-11-01', '2026-11-30'));
    expect(refused).toBeInstanceOf(ConnectorError);
    expect(refused.retryable).toBe(false);
    expect(refused.message).toMatch(/Access ?Denied/i);
  });
});
