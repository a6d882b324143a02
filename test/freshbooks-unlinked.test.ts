import { beforeAll, describe, expect, it } from 'vitest';
import { directInvoice, directPayment, targetIdOf, thrown } from './helpers/direct-target.ts';
import { useFreshBooksAccount } from './helpers/freshbooks.ts';
import type { TargetConnector, TargetDocument } from '../src/sync/target.ts';
import type { FreshBooksSimulator } from '../src/connectors/freshbooks/simulator.ts';

/*
 * Documents of the pipeline's clients that no pipeline booked, read from FreshBooks for
 * reconciliation (src/connectors/freshbooks/unlinked.ts): what a person keyed in the simulated
 * account, dated in the window, of the asked clients, each as documents() reads it, less what the
 * pipelines booked. FreshBooks numbers invoices and payments apart and the booked ids come without
 * their kinds: a payment keyed by hand is named though an invoice the pipeline booked has its id.
 */

const z = useFreshBooksAccount({
  accountId: 'Unl1',
  seed: 7,
  app: { clientId: 'fb-unlinked-client', clientSecret: 'fb-unlinked-secret-0123456789' },
  customers: [
    ['UA', 'Ann Unlinked'],
    ['UB', 'Bob Unlinked'],
    ['UC', 'Carl Unlinked'],
  ],
});
const { ctx, acc, keyed } = z;
const { invoice, paid, credit } = keyed;
let sim: FreshBooksSimulator;
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
    .map((d) => [d.kind, d.customerTargetId, d.date, d.gross, d.externalReference])
    .sort((a, b) => `${String(a[2])}${String(a[0])}`.localeCompare(`${String(b[2])}${String(b[0])}`));

describe('FreshBooks: documents of the pipeline’s clients no pipeline booked', () => {
  it('reads invoices, credit notes and payments dated in the window, both ends included, of the asked clients only, as documents() reads them; drafts, deleted ones, credit moved by a Credit payment, overpayment credit and the linked ones left out', async () => {
    invoice(ann, 'UL-I0', '1.00', '2026-10-31');
    const i1 = invoice(ann, 'UL-I1', '100.00', '2026-11-01');
    invoice(ann, 'UL-I2', '20.00', '2026-11-30');
    invoice(ann, 'UL-I3', '3.00', '2026-12-01');
    invoice(ann, 'UL-ID', '4.00', '2026-11-10', false);
    acc().deleteInvoice(invoice(ann, 'UL-IX', '5.00', '2026-11-11'));
    const linkedInvoice = invoice(ann, 'UL-IL', '7.00', '2026-11-12');
    credit(ann, '8.00', '2026-11-15');
    acc().creditNotes.get(credit(ann, '9.00', '2026-11-16'))!.vis_state = 1;
    // Paid 130.00 of 100.00: 30.00 of it FreshBooks keeps as Ann's credit, an overpayment credit note.
    paid(i1, '130.00', '2026-11-20');
    acc().payments.get(paid(i1, '2.00', '2026-11-21'))!.vis_state = 1;
    // Ann's credit set against another invoice: a payment of type Credit, moving credit, not money.
    paid(invoice(ann, 'UL-I4', '50.00', '2026-10-01'), '30.00', '2026-11-22', 'Credit');
    // Bob is not asked: his invoice under Ann's reference is not read.
    invoice(bob, 'UL-I1', '99.00', '2026-11-02');
    invoice(carl, 'UL-C1', '11.00', '2026-11-03');

    const docs = await unlinked([ann, carl], '2026-11-01', '2026-11-30', [linkedInvoice]);
    expect(rows(docs)).toEqual([
      ['invoice', ann, '2026-11-01', 10000n, 'UL-I1'],
      ['invoice', carl, '2026-11-03', 1100n, 'UL-C1'],
      ['creditNote', ann, '2026-11-15', 800n, ''],
      ['payment', ann, '2026-11-20', 13000n, ''],
      ['invoice', ann, '2026-11-30', 2000n, 'UL-I2'],
    ]);
    // Each as documents() reads it by its id and kind.
    for (const d of docs)
      expect(d).toEqual((await target.documents!(ctx(), [d.targetId], { kind: d.kind })).get(d.targetId));
    // The window moved by a day each side: the documents just outside it.
    expect(rows(await unlinked([ann], '2026-10-31', '2026-10-31'))).toEqual([
      ['invoice', ann, '2026-10-31', 100n, 'UL-I0'],
    ]);
    expect(rows(await unlinked([ann], '2026-12-01', '2026-12-31'))).toEqual([
      ['invoice', ann, '2026-12-01', 300n, 'UL-I3'],
    ]);
    // Every one linked: nothing.
    expect(
      await unlinked([ann, carl], '2026-11-01', '2026-11-30', docs.map((d) => d.targetId).concat(linkedInvoice)),
    ).toEqual(
      // The ones carrying no reference of ours cannot be what a pipeline booked under their ids.
      docs.filter((d) => d.externalReference === ''),
    );
    // No client of FreshBooks': nothing asked.
    const before = sim.requests.length;
    expect(await unlinked(['C-17', ''], '2026-11-01', '2026-11-30')).toEqual([]);
    expect(sim.requests.length).toBe(before);
    expect(sim.violations).toEqual([]);
  });

  it('a payment keyed by hand is named though an invoice a pipeline booked has its number; what a pipeline booked under an id is not', async () => {
    // Booked by the pipeline: an invoice and its payment, each carrying our reference.
    const [inv] = (
      await target.createInvoices(ctx(), [directInvoice('UL-B1', bob, '10.00', '0.21', '2026-11-05')])
    ).map(targetIdOf);
    const [pay] = (
      await target.createPayments!(ctx(), [directPayment('UL-BP1', bob, inv!, '12.10', { date: '2026-11-06' })])
    ).map(targetIdOf);
    // Keyed by hand: a payment and a credit note of Bob's, which FreshBooks numbered as the
    // pipeline's invoice and payment (each kind has its own sequence).
    const hand = paid(invoice(bob, '', '40.00', '2026-10-01'), '40.00', '2026-11-07');
    const p = acc().payments.get(hand)!;
    acc().payments.delete(hand);
    p.id = inv!;
    acc().payments.set(inv!, p);
    const note = acc().creditNotes.get(credit(bob, '6.00', '2026-11-08'))!;
    acc().creditNotes.delete(note.creditid);
    note.creditid = pay!;
    acc().creditNotes.set(pay!, note);

    const docs = await unlinked([bob], '2026-11-05', '2026-11-08', [inv!, pay!]);
    expect(docs.map((d) => [d.kind, d.targetId, d.gross])).toEqual([
      ['creditNote', pay, 600n],
      ['payment', inv, 4000n],
    ]);
    for (const d of docs)
      expect(d).toEqual((await target.documents!(ctx(), [d.targetId], { kind: d.kind })).get(d.targetId));
    // Not linked: the pipeline's are named too, each under its own kind.
    expect(rows(await unlinked([bob], '2026-11-05', '2026-11-08')).map((r) => [r[0], r[3], r[4]])).toEqual([
      ['invoice', 1210n, 'UL-B1'],
      ['payment', 1210n, 'UL-BP1'],
      ['payment', 4000n, ''],
      ['creditNote', 600n, ''],
    ]);
  });

  it('asks for invoices 100 clients a request, credit notes and payments a client a request, the window and lines in each, and pages each list', async () => {
    const many = Array.from({ length: 101 }, (_, k) => acc().upsertClient(null, { organization: `Many ${k}` }).id);
    for (let k = 0; k < 101; k++) invoice(many[0]!, `UL-M${k}`, '1.00', '2027-01-02');
    invoice(many[100]!, 'UL-M-last', '7.00', '2027-01-03');
    for (let k = 0; k < 101; k++) paid(invoice(many[1]!, '', '1.00', '2026-12-01'), '1.00', '2027-01-04');
    const from = sim.requests.length;
    const got = await unlinked(many, '2027-01-01', '2027-01-31');
    expect(got.filter((d) => d.kind === 'invoice')).toHaveLength(102);
    expect(got.filter((d) => d.kind === 'payment')).toHaveLength(101);
    const asked = sim.requests.slice(from);
    // Two batches of clients (100 and 1); the first has two pages of 100.
    expect(
      asked
        .filter((r) => r.route === '/invoices/invoices')
        .map((r) => [r.query.getAll('search[customerids][]').length, r.query.get('page')]),
    ).toEqual([
      [100, '1'],
      [100, '2'],
      [1, '1'],
    ]);
    // ⌈101/100⌉ + 2 × 101, one more for the invoices' second page and one for many[1]'s payments'.
    expect(asked).toHaveLength(2 + 2 * 101 + 2);
    for (const r of asked) {
      expect([r.query.get('search[date_min]'), r.query.get('search[date_max]'), r.query.get('per_page')]).toEqual([
        '2027-01-01',
        '2027-02-01',
        '100',
      ]);
      expect(r.query.getAll('include[]')).toEqual(r.route === '/payments/payments' ? [] : ['lines']);
    }
    expect(asked.filter((r) => r.route === '/payments/payments').map((r) => r.query.get('search[clientid]'))).toEqual(
      [...many].sort().flatMap((id) => (id === many[1] ? [id, id] : [id])),
    );
    expect(got.every((d) => d.lines === (d.kind === 'payment' ? 0 : 1))).toBe(true);
  });

  it('a refusal or an outage of FreshBooks is a ConnectorError, nothing answered', async () => {
    // A date FreshBooks does not take: refused, not retried.
    const refused = await thrown(unlinked([ann], '2026-11-1', '2026-11-30'));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toMatch(/GET \/invoices\/invoices.*was refused \(400.*date_min/);
    sim.failNext(500);
    const err = await thrown(unlinked([ann], '2026-11-01', '2026-11-30'));
    expect(err.retryable).toBe(true);
  });
});
