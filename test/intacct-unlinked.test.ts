/**
 * What reconciliation names as posted outside the pipeline in Sage Intacct (`unlinkedDocuments`):
 * invoices, credit adjustments and received payments read with readByQuery by CUSTOMERID IN (…)
 * and by DOCNUMBER IN (…), a thousand a query, dated in the window and in the books, pages
 * followed with readMore, against the simulated XML gateway (every request checked against the
 * contract). The window honoured to the day, only the customers asked for (or the references),
 * the linked ones, the reversed one and its reversal left out, each kind read as documents()
 * reads it, the requests for a thousand and one customers and for more than a page of rows, and
 * the gateway's refusal as a ConnectorError. Intacct takes no refunds through this target
 * (capabilities.refunds is false): none to read. The connector alone, no database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  UNLINKED_FROM,
  UNLINKED_TO,
  bookUnlinkedDocuments,
  callContext,
  customerInvoice,
  documentSummary,
  noDatabase,
} from './helpers/direct-target.ts';
import { startDirectIntacct } from './helpers/intacct.ts';
import type { IntacctSimulator } from '../src/connectors/intacct/simulator.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TargetConnector } from '../src/sync/target.ts';

const noDb = noDatabase('Intacct');
const ctx = callContext(noDb);
const SENDER = { senderId: 'unl_sender', senderPassword: 'unl-sender-secret-0123' };
const USER = { companyId: 'UNL', userId: 'xml_user', password: 'unl-user-secret-4567' };
const FROM = UNLINKED_FROM;
const TO = UNLINKED_TO;

let sim: IntacctSimulator;
let t: TargetConnector;
/** Target id by our reference. */
const ids: Record<string, string> = {};

beforeAll(async () => {
  ({ sim, target: t } = await startDirectIntacct({
    db: noDb,
    sender: SENDER,
    user: USER,
    seed: 17,
    pipelineName: 'unlinked',
    customers: ['C-1', 'C-2', 'C-3', 'C-4'],
  }));
  // C-3 is not asked for: only under a reference asked for.
  Object.assign(
    ids,
    await bookUnlinkedDocuments(t, ctx, 'C-1', 'C-2', 'C-3', {
      moreInvoices: [customerInvoice('C-3', 'BY-REF', '2026-11-21', '1.00', '0.21')],
    }),
  );
  // A person reverses it in Intacct: kept, Reversed, beside its Reversal (dated in the window too).
  sim.company('UNL').reverse(ids.REVERSED!, '2026-11-19');
});
afterAll(() => sim.close());

const reads = () => ({
  readByQuery: sim.requests.filter((r) => r.function === 'readByQuery').length,
  readMore: sim.requests.filter((r) => r.function === 'readMore').length,
});
const unlinked = (
  customerTargetIds: string[],
  o: { linked?: string[]; references?: string[]; from?: string; to?: string } = {},
) =>
  t.unlinkedDocuments!(
    ctx,
    { customerTargetIds, references: o.references ?? [], linkedTargetIds: o.linked ?? [] },
    o.from ?? FROM,
    o.to ?? TO,
  );
const summary = documentSummary;

describe('Intacct unlinkedDocuments (readByQuery by customer and by reference)', () => {
  it('reads each kind of the customers asked for, dated from the first day to the last, reversed ones left out', async () => {
    const docs = await unlinked(['C-1', 'C-2']);
    expect(summary(docs)).toEqual([
      ['CN', 'creditNote', 'C-1', '2026-11-10', 1210n],
      ['ON-FROM', 'invoice', 'C-1', FROM, 12100n],
      ['ON-TO', 'invoice', 'C-1', TO, 1210n],
      ['OTHER', 'invoice', 'C-2', '2026-11-20', 4840n],
      ['PAY', 'payment', 'C-1', '2026-11-12', 5000n],
    ]);
    // Each as documents() reads it, under the id the connector booked it by.
    const read = await t.documents!(
      ctx,
      docs.map((d) => d.targetId),
    );
    for (const d of docs) expect(d).toEqual(read.get(d.targetId));
    expect(docs.map((d) => d.targetId).sort()).toEqual(
      ['CN', 'ON-FROM', 'ON-TO', 'OTHER', 'PAY'].map((r) => ids[r]).sort(),
    );
    expect(sim.violations).toEqual([]);
  });

  it('leaves out what the pipelines booked', async () => {
    const docs = await unlinked(['C-1', 'C-2'], { linked: [ids['ON-FROM']!, ids.PAY!, ids.CN!, 'not-an-id'] });
    expect(summary(docs).map((d) => d[0])).toEqual(['ON-TO', 'OTHER']);
  });

  it('reads another customer’s document only under a reference asked for', async () => {
    expect(summary(await unlinked(['C-2'])).map((d) => d[0])).toEqual(['OTHER']);
    const docs = await unlinked(['C-2'], { references: ['BY-REF', 'OTHER', 'BEFORE', ''] });
    expect(summary(docs)).toEqual([
      ['BY-REF', 'invoice', 'C-3', '2026-11-21', 121n],
      ['OTHER', 'invoice', 'C-2', '2026-11-20', 4840n],
    ]);
    // A one-day window: that day only.
    expect(summary(await unlinked(['C-1'], { from: TO, to: TO })).map((d) => d[0])).toEqual(['ON-TO']);
    expect(summary(await unlinked(['C-1'], { from: '2026-12-01', to: '2026-12-01' })).map((d) => d[0])).toEqual([
      'AFTER',
    ]);
  });

  it('asks for a thousand customers a query, three objects, and nothing for none', async () => {
    let before = reads();
    expect(await unlinked(['', ' C-1'])).toEqual([]);
    expect(reads()).toEqual(before);
    const unknown = Array.from({ length: 1000 }, (_, i) => `NONE-${i}`);
    expect(summary(await unlinked([...unknown, 'C-2', 'C-2'])).map((d) => d[0])).toEqual(['OTHER']);
    expect(reads()).toEqual({ readByQuery: before.readByQuery + 6, readMore: before.readMore });
    // References: a thousand a query too, three objects.
    before = reads();
    await unlinked(['C-2'], { references: ['BY-REF'] });
    expect(reads()).toEqual({ readByQuery: before.readByQuery + 6, readMore: before.readMore });
    expect(sim.violations).toEqual([]);
  });

  it('reads every page of a query with readMore', async () => {
    const company = sim.company('UNL');
    for (let n = 0; n < 1001; n++)
      company.createInvoice({
        customerid: 'C-4',
        datecreated: { year: '2026', month: '11', day: '05' },
        ponumber: `BULK-${n}`,
        invoiceitems: { lineitem: [{ glaccountno: '4000', amount: '1.00' }] },
      });
    const before = reads();
    const docs = await unlinked(['C-4']);
    expect(docs.length).toBe(1001);
    expect(new Set(docs.map((d) => d.externalReference)).size).toBe(1001);
    expect(reads()).toEqual({ readByQuery: before.readByQuery + 3, readMore: before.readMore + 1 });
    expect(sim.violations).toEqual([]);
  });

  it('throws the gateway’s refusal and a failed request as ConnectorErrors', async () => {
    const refused = await unlinked(['C-1'], { from: '2026-02-30' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectorError);
    expect((refused as ConnectorError).message).toMatch(/readByQuery was refused .*Invalid date/);
    expect((refused as ConnectorError).retryable).toBe(false);
    sim.failNext(500);
    const failed = await unlinked(['C-1']).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ConnectorError);
    expect((failed as ConnectorError).system).toBe('Sage Intacct');
  });
});
