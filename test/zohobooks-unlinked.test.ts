import { beforeAll, describe, expect, it } from 'vitest';
import {
  directCustomer as customer,
  directPayment as payment,
  directRefund as refund,
  targetIdOf,
  thrown,
} from './helpers/direct-target.ts';
import { useZohoOrganisation } from './helpers/zohobooks.ts';
import type { TargetConnector, TargetDocument } from '../src/sync/target.ts';
import type { ZohoBooksSimulator } from '../src/connectors/zohobooks/simulator.ts';

/*
 * Documents of the pipeline's customers that no pipeline booked, read from Zoho Books for
 * reconciliation (src/connectors/zohobooks/unlinked.ts): what a person keyed in the simulated
 * organisation, dated in the window, of the asked customers, each as documents() reads it, less
 * what the pipelines booked (a refund named by its payment's id and its own, or by its own alone);
 * the lists read whole or customer by customer, page after page.
 */

const z = useZohoOrganisation({
  orgId: '70000000005',
  name: 'Zoho Unlinked BV',
  seed: 13,
  app: { clientId: '1000.UNLINKEDCLIENT', clientSecret: 'zoho-unlinked-secret-0123456789' },
  customers: [
    ['U1', 'Ann Unlinked'],
    ['U2', 'Bob Unlinked'],
    ['U3', 'Carl Unlinked'],
  ],
});
const { ctx, org, keyed } = z;
const { invoice, creditNote, paid } = keyed;
let sim: ZohoBooksSimulator;
let target: TargetConnector;
let ann: string;
let bob: string;
let carl: string;
beforeAll(() => {
  ({ sim, target } = z);
  [ann, bob, carl] = z.customers as [string, string, string];
});
const unlinked = (customerTargetIds: string[], from: string, to: string, linkedTargetIds: string[] = []) =>
  target.unlinkedDocuments!(ctx(), { customerTargetIds, references: [], linkedTargetIds }, from, to);
const rows = (docs: TargetDocument[]) =>
  docs
    .map((d) => [d.kind, d.externalReference, d.customerTargetId, d.date, d.gross])
    .sort((a, b) => String(a[1]).localeCompare(String(b[1])));
/** The list requests made since `from`: route, page and customer asked. */
const listed = (from: number) =>
  sim.requests.slice(from).map((r) => [r.route, r.query.get('page'), r.query.get('customer_id')]);

describe('Zoho Books: documents of the pipeline’s customers no pipeline booked', () => {
  it('reads each kind dated in the window, both ends included, of the asked customers only, as documents() reads it; voided, draft and deleted ones and the linked ones are left out', async () => {
    invoice(ann, 'UL-I0', '1.00', '2026-10-31');
    const first = invoice(ann, 'UL-I1', '10.00', '2026-11-01');
    invoice(ann, 'UL-I2', '20.00', '2026-11-30');
    invoice(ann, 'UL-I3', '3.00', '2026-12-01');
    invoice(ann, 'UL-ID', '4.00', '2026-11-10', false);
    const voided = invoice(ann, 'UL-IV', '5.00', '2026-11-11');
    org().voidInvoice(voided);
    const deleted = invoice(ann, 'UL-IX', '6.00', '2026-11-12');
    org().invoices.delete(deleted);
    const linkedInvoice = invoice(ann, 'UL-IL', '7.00', '2026-11-13');
    creditNote(ann, 'UL-N1', '8.00', '2026-11-15');
    paid(ann, 'UL-P1', '9.00', '2026-11-20');
    // Bob's invoice in the window, under a reference of Ann's: Bob is not asked, so not read.
    invoice(bob, 'UL-I1', '99.00', '2026-11-02');
    invoice(carl, 'UL-C1', '11.00', '2026-11-03');
    // A payment before the window, refunded three times in it: once by hand, and twice by the
    // pipeline, one of those under the older form of id (Zoho's refund id alone).
    const p = targetIdOf(
      (await target.createPayments!(ctx(), [payment('UL-P0', ann, null, '30.00', { date: '2026-10-20' })]))[0],
    );
    const refunds = (
      await target.createRefunds!(ctx(), [
        refund('UL-R1', ann, p, '1.00', { date: '2026-11-25' }),
        refund('UL-R2', ann, p, '2.00', { date: '2026-11-26' }),
        refund('UL-R3', ann, p, '3.00', { date: '2026-11-27' }),
        refund('UL-R4', ann, p, '4.00', { date: '2026-12-02' }),
      ])
    ).map(targetIdOf);
    expect(refunds.every((id) => id.startsWith(`${p}:`))).toBe(true);
    const linked = [linkedInvoice, refunds[1]!, refunds[2]!.split(':')[1]!, p];

    const docs = await unlinked([ann, carl], '2026-11-01', '2026-11-30', linked);
    expect(rows(docs)).toEqual([
      ['invoice', 'UL-C1', carl, '2026-11-03', 1100n],
      ['invoice', 'UL-I1', ann, '2026-11-01', 1000n],
      ['invoice', 'UL-I2', ann, '2026-11-30', 2000n],
      ['creditNote', 'UL-N1', ann, '2026-11-15', 800n],
      ['payment', 'UL-P1', ann, '2026-11-20', 900n],
      ['refund', 'UL-R1', ann, '2026-11-25', 100n],
    ]);
    // Each as documents() reads it by its id.
    const read = await target.documents!(
      ctx(),
      docs.map((d) => d.targetId),
    );
    for (const d of docs) expect(d).toEqual(read.get(d.targetId));
    expect(docs.find((d) => d.kind === 'refund')!.targetId).toBe(refunds[0]);
    expect(docs.find((d) => d.externalReference === 'UL-I1')!.targetId).toBe(first);

    // Linked: nothing; the window moved by a day each side: the documents just outside it.
    expect(rows(await unlinked([ann], '2026-11-01', '2026-11-30', docs.map((d) => d.targetId).concat(linked)))).toEqual(
      [],
    );
    expect(rows(await unlinked([ann], '2026-10-31', '2026-10-31'))).toEqual([
      ['invoice', 'UL-I0', ann, '2026-10-31', 100n],
    ]);
    expect(rows(await unlinked([ann], '2026-12-01', '2026-12-31', linked))).toEqual([
      ['invoice', 'UL-I3', ann, '2026-12-01', 300n],
      ['refund', 'UL-R4', ann, '2026-12-02', 400n],
    ]);
    // No customer of Zoho's: nothing asked.
    const before = sim.requests.length;
    expect(await unlinked(['not-an-id'], '2026-11-01', '2026-11-30')).toEqual([]);
    expect(sim.requests.length).toBe(before);
    expect(sim.violations).toEqual([]);
  });

  it('one customer: its own filter and the window on each list, three requests and one a refunded payment', async () => {
    const from = sim.requests.length;
    await unlinked([ann], '2026-11-01', '2026-11-30');
    const asked = sim.requests.slice(from);
    expect(listed(from)).toEqual([
      ['/invoices', '1', ann],
      ['/creditnotes', '1', ann],
      ['/customerpayments', '1', ann],
      // The refunded payment's refunds (UL-P0); UL-P1 has refunded nothing.
      [expect.stringMatching(/^\/customerpayments\/\d+\/refunds$/), '1', null],
    ]);
    expect(asked.slice(0, 2).map((r) => [r.query.get('date_start'), r.query.get('date_end')])).toEqual([
      ['2026-11-01', '2026-11-30'],
      ['2026-11-01', '2026-11-30'],
    ]);
    // Payments up to the window's end: a refund in it may be of an earlier payment.
    expect([asked[2]!.query.get('date_start'), asked[2]!.query.get('date_before')]).toEqual([null, '2026-12-01']);
  });

  it('many customers: the organisation’s whole lists when they end within a page a customer, else customer by customer, each to its last page', async () => {
    // 12 customers with a document or two each in January: one page of each list for all of them.
    const many = (
      await target.upsertCustomers(
        ctx(),
        Array.from({ length: 12 }, (_, k) => customer(`UM${k}`, `Many Unlinked ${k}`)),
      )
    ).map(targetIdOf);
    many.forEach((id, k) => {
      invoice(id, `UL-M${k}`, `${k + 1}.00`, '2027-01-05');
      if (k % 2 === 0) paid(id, `UL-MP${k}`, '0.50', '2027-01-06');
    });
    invoice(bob, 'UL-MB', '1.00', '2027-01-05');
    let from = sim.requests.length;
    const docs = await unlinked(many, '2027-01-01', '2027-01-31');
    expect(docs).toHaveLength(12 + 6);
    expect(new Set(docs.map((d) => d.customerTargetId))).toEqual(new Set(many));
    expect(listed(from)).toEqual([
      ['/invoices', '1', null],
      ['/creditnotes', '1', null],
      ['/customerpayments', '1', null],
    ]);

    // February: Ann has 201 invoices (two pages of hers), Carl 300 not asked: the whole list of
    // 501 does not end within 2 pages for Ann and Bob, so it is read again customer by customer.
    for (let k = 0; k < 201; k++) invoice(ann, `UL-F${k}`, '1.00', '2027-02-10');
    for (let k = 0; k < 300; k++) invoice(carl, `UL-G${k}`, '1.00', '2027-02-11');
    invoice(bob, 'UL-FB', '2.00', '2027-02-12');
    from = sim.requests.length;
    const feb = await unlinked([ann, bob], '2027-02-01', '2027-02-28');
    expect(feb.filter((d) => d.customerTargetId === ann)).toHaveLength(201);
    expect(rows(feb.filter((d) => d.customerTargetId !== ann))).toEqual([
      ['invoice', 'UL-FB', bob, '2027-02-12', 200n],
    ]);
    const [a, b] = [ann, bob].sort();
    expect(listed(from)).toEqual([
      ['/invoices', '1', null],
      ['/invoices', '2', null],
      ['/invoices', '1', a],
      ...(a === ann ? [['/invoices', '2', a]] : []),
      ['/invoices', '1', b],
      ...(b === ann ? [['/invoices', '2', b]] : []),
      ['/creditnotes', '1', null],
      ['/customerpayments', '1', null],
      // Ann's refunded payment of October (UL-P0).
      [expect.stringMatching(/^\/customerpayments\/\d+\/refunds$/), '1', null],
    ]);
    for (const r of sim.requests.slice(from)) expect(r.query.get('per_page')).toBe('200');
    expect(sim.violations).toEqual([]);
  });

  it('a refusal or an outage of Zoho is a ConnectorError, nothing answered', async () => {
    // A date Zoho does not take: refused (400 code 2), not retried.
    const refused = await thrown(unlinked([ann], '2026-11-01', '2026-11-3'));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toMatch(/GET \/invoices was refused \(400 code 2: Invalid value passed for date_end\)/);
    const end = sim.failWhile((r) => r.route === '/customerpayments');
    try {
      const err = await thrown(unlinked([ann], '2026-11-01', '2026-11-30'));
      expect(err.retryable).toBe(true);
    } finally {
      end();
    }
  });
});
