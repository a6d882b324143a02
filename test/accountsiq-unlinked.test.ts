/**
 * What reconciliation names as posted outside the pipeline in AccountsIQ (`unlinkedDocuments`):
 * the customers' AccountIDs from GetCustomerBalanceInformation (500 codes a call), then their
 * transactions dated in the window by GetTransactionsBy (500 AccountIDs a call, paged by `Skip`
 * until a page holds none), against the simulated Integration web service (every envelope checked
 * against wsdl.ts, five transactions a page here). The window honoured to the day, only the
 * customers asked for, the linked ones and the reversed ones left out, each kind read as
 * documents() reads it, the calls for many customers and many transactions, and AccountsIQ's
 * refusals as ConnectorErrors. The connector alone, no database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDirectAccountsIq } from './helpers/accountsiq.ts';
import {
  UNLINKED_FROM,
  UNLINKED_TO,
  bookUnlinkedDocuments,
  callContext,
  documentSummary,
  noDatabase,
} from './helpers/direct-target.ts';
import { CODES_PER_CALL } from '../src/connectors/accountsiq/balances.ts';
import type { AccountsIqSimulator } from '../src/connectors/accountsiq/simulator.ts';
import { ACCOUNTS_PER_CALL } from '../src/connectors/accountsiq/unlinked.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TargetConnector } from '../src/sync/target.ts';

const noDb = noDatabase('AccountsIQ');
const ctx = callContext(noDb);
const CLIENT = { clientId: 'aiq-unlinked-app', clientSecret: 'aiq-unlinked-secret-0123456789abcd' };
const FROM = UNLINKED_FROM;
const TO = UNLINKED_TO;

let sim: AccountsIqSimulator;
let t: TargetConnector;
/** Target id by our reference. */
const ids: Record<string, string> = {};

beforeAll(async () => {
  ({ sim, target: t } = await startDirectAccountsIq({
    db: noDb,
    entityId: 'UNL',
    client: CLIENT,
    seed: 13,
    pipelineName: 'unlinked',
    customers: ['U-1', 'U-2', 'U-3'],
    transactionsPageSize: 5,
  }));
  // U-3 is not asked for.
  Object.assign(ids, await bookUnlinkedDocuments(t, ctx, 'U-1', 'U-2', 'U-3', { refund: true }));
  // A person reverses it in AccountsIQ: it stays, flagged, beside its reversal (flagged too).
  sim.books.reverse(Number(ids.REVERSED));
});
afterAll(() => sim.close());

const calls = (op: string) => sim.stats.byOperation[op] ?? 0;
const unlinked = (customerTargetIds: string[], linkedTargetIds: string[] = [], from = FROM, to = TO) =>
  t.unlinkedDocuments!(ctx, { customerTargetIds, references: [], linkedTargetIds }, from, to);
const summary = documentSummary;

describe('AccountsIQ unlinkedDocuments (GetCustomerBalanceInformation, then GetTransactionsBy)', () => {
  it('reads each kind of the customers asked for, dated from the first day to the last, reversed ones left out', async () => {
    const docs = await unlinked(['U-1', 'U-2']);
    expect(summary(docs)).toEqual([
      ['CN', 'creditNote', 'U-1', '2026-11-10', 1210n],
      ['ON-FROM', 'invoice', 'U-1', FROM, 12100n],
      ['ON-TO', 'invoice', 'U-1', TO, 1210n],
      ['OTHER', 'invoice', 'U-2', '2026-11-20', 4840n],
      ['PAY', 'payment', 'U-1', '2026-11-12', 5000n],
      ['REF', 'refund', 'U-1', '2026-11-15', 1000n],
    ]);
    // Each as documents() reads it, under the id the connector booked it by.
    const read = await t.documents!(
      ctx,
      docs.map((d) => d.targetId),
    );
    for (const d of docs) expect(d).toEqual(read.get(d.targetId));
    expect(docs.map((d) => d.targetId).sort()).toEqual(
      ['CN', 'ON-FROM', 'ON-TO', 'OTHER', 'PAY', 'REF'].map((r) => ids[r]).sort(),
    );
    expect(sim.violations).toEqual([]);
  });

  it('leaves out what the pipelines booked', async () => {
    const docs = await unlinked(['U-1', 'U-2'], [ids['ON-FROM']!, ids.PAY!, ids.REF!, 'not-an-id']);
    expect(summary(docs).map((d) => d[0])).toEqual(['CN', 'ON-TO', 'OTHER']);
  });

  it('reads only the customers asked for, whatever references are given', async () => {
    const docs = await t.unlinkedDocuments!(
      ctx,
      { customerTargetIds: ['U-2'], references: ['NOT-ASKED', 'ON-FROM'], linkedTargetIds: [] },
      FROM,
      TO,
    );
    expect(summary(docs)).toEqual([['OTHER', 'invoice', 'U-2', '2026-11-20', 4840n]]);
    // A one-day window: that day only.
    expect(summary(await unlinked(['U-1'], [], TO, TO)).map((d) => d[0])).toEqual(['ON-TO']);
    expect(summary(await unlinked(['U-1'], [], '2026-12-01', '2026-12-01')).map((d) => d[0])).toEqual(['AFTER']);
  });

  it('asks nothing for no customer, or codes that cannot be AccountsIQ’s', async () => {
    const before = sim.stats.calls;
    expect(await unlinked([])).toEqual([]);
    expect(await unlinked(['u-1', '', 'X'.repeat(51)])).toEqual([]);
    expect(sim.stats.calls - before).toBe(0);
  });

  it(`asks for ${CODES_PER_CALL} codes and ${ACCOUNTS_PER_CALL} accounts a call, and pages to the end`, async () => {
    // U-1 and U-2 hold 8 transactions in the window (the reversed invoice and its reversal
    // included): pages of 5, 3 and none. Another 499 customers AccountsIQ holds, none dated there.
    const more = Array.from({ length: ACCOUNTS_PER_CALL - 1 }, (_, i) => `M-${String(i).padStart(3, '0')}`);
    for (const code of more) sim.books.updateCustomer({ ...sim.books.defaults(), Code: code, Name: code }, true);
    let before = [calls('GetCustomerBalanceInformation'), calls('GetTransactionsBy')];
    expect(summary(await unlinked(['U-1', 'U-2'])).length).toBe(6);
    expect([calls('GetCustomerBalanceInformation') - before[0]!, calls('GetTransactionsBy') - before[1]!]).toEqual([
      1, 3,
    ]);
    // 501 customers: two balance calls; two batches of accounts, the first paged (5, 3, none), the second none.
    before = [calls('GetCustomerBalanceInformation'), calls('GetTransactionsBy')];
    expect(summary(await unlinked(['U-1', 'U-2', ...more])).length).toBe(6);
    expect([calls('GetCustomerBalanceInformation') - before[0]!, calls('GetTransactionsBy') - before[1]!]).toEqual([
      2, 4,
    ]);
    expect(sim.violations).toEqual([]);
  });

  it('throws AccountsIQ’s refusal and a failed call as ConnectorErrors', async () => {
    const refused = await unlinked(['U-1'], [], '1700-01-01', TO).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectorError);
    expect((refused as ConnectorError).message).toMatch(/GetTransactionsBy refused: DATE_IS_OUT_OF_RANGE/);
    expect((refused as ConnectorError).retryable).toBe(false);
    sim.failNext(503, 1, 'GetTransactionsBy');
    const failed = await unlinked(['U-1']).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ConnectorError);
    expect((failed as ConnectorError).retryable).toBe(true);
  });
});
