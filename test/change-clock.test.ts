import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedgerSource } from '../src/connectors/ledger/source.ts';
import { migrate } from '../src/db/migrate.ts';
import { glBalances } from '../src/ledger/reports/gl-balances.ts';
import { listOpenItems } from '../src/ledger/reports/open-items.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import type { SourceItem } from '../src/sync/connector.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { ledgerSettled } from './helpers/db.ts';
import { checkGlBalancesCache, checkOpenItemsCache, postInvoice, postReceipt, seedCustomer } from './helpers/ledger.ts';

/*
 * The change order after a restore into another PostgreSQL cluster (migration 0110,
 * src/db/change-clock.ts). The rows keep the transaction ids of the cluster they were written in;
 * the new cluster counts from its own, lower, counter. Here the rows and cursors are moved a
 * billion ids ahead of this cluster's counter, which is what such a restore leaves: the open items
 * and GL balances caches and the ledger as a source must still see what is written after it.
 */

const AHEAD = 1_000_000_000n;

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const offset = async () =>
  BigInt((await t.db.query<{ o: string }>(`SELECT id_offset::text AS o FROM change_clock`)).rows[0]!.o);

/** Every page the ledger as a source gives after `cursor`, and the cursor it ends at. */
async function mirrored(entityId: string, cursor: string | null) {
  const source = createLedgerSource(
    { id: '00000000-0000-4000-8000-000000000000', entityId, entityCode: 'CLOCK', sourceConfig: {} } as Pipeline,
    t.db,
  );
  const items: SourceItem[] = [];
  let at = cursor;
  for await (const page of source.pages({} as never, cursor)) {
    items.push(...page.items);
    at = page.cursor ?? at;
  }
  const refs = items.map((i) => ('record' in i ? i.record.sourceId : `invalid: ${i.invalid.message}`));
  return { refs, at };
}

describe('the change clock', () => {
  it('stays where it is when a process starts on the database it was written in', async () => {
    const c = await t.entity('CLOCK0', 'EUR');
    await seedCustomer(t.db, c.entityId, 'A');
    await postInvoice(c, 'A', '10');
    expect(await migrate(t.db)).toEqual([]);
    expect(await offset()).toBe(0n);
  });

  it('after a restore into another cluster, puts what is written next after what the restore holds', async () => {
    const c = await t.entity('CLOCK', 'EUR');
    await seedCustomer(t.db, c.entityId, 'A');
    const i1 = await postInvoice(c, 'A', '100', { invoiceDate: '2026-11-02' });
    await postReceipt(c, 'A', '50', { paymentDate: '2026-11-10' });
    await ledgerSettled(t.db);
    // Both caches built, and the platform sent everything so far.
    expect((await listOpenItems(t.db, c.entityId, '2026-12-31')).map((i) => i.transactionId)).toContain(
      i1.transactionId,
    );
    await glBalances(t.db, c.entityId, '2026-12-31');
    const sent = await mirrored(c.entityId, null);
    expect(sent.refs).toHaveLength(2);

    // The dump restored into a cluster whose counter is a billion ids behind the rows and cursors.
    const shift = (column: string) => `${column} = (${column}::text::numeric + ${AHEAD})::text::xid8`;
    await t.db.transaction(async (tx) => {
      await tx.query(`SET LOCAL session_replication_role = replica`);
      await tx.query(`UPDATE transactions SET ${shift('xid')} WHERE entity_id = $1`, [c.entityId]);
      await tx.query(`UPDATE allocations SET ${shift('xid')} WHERE entity_id = $1`, [c.entityId]);
      for (const cursors of ['open_items_cursors', 'gl_balances_cursors'])
        await tx.query(`UPDATE ${cursors} SET ${shift('xid')} WHERE entity_id = $1`, [c.entityId]);
    });
    const [xid, ...rest] = sent.at!.split(':');
    const cursor = [String(BigInt(xid!) + AHEAD), ...rest].join(':');

    // A process starts: the clock moves past what is stored, once.
    expect(await migrate(t.db)).toEqual([]);
    const moved = await offset();
    expect(moved).toBeGreaterThan(AHEAD - 1_000_000n);
    expect(await migrate(t.db)).toEqual([]);
    expect(await offset()).toBe(moved);

    const i2 = await postInvoice(c, 'A', '40', { invoiceDate: '2026-11-20' });
    const moveDue = await c.put(`/v1/transactions/${i1.transactionId}/due-date`, { dueDate: '2027-01-31' });
    expect(moveDue.status).toBe(200);
    await ledgerSettled(t.db);
    // In the statement, the trial balance and the mirror: without the clock, none of them had it.
    expect((await listOpenItems(t.db, c.entityId, '2026-12-31')).map((i) => i.transactionId)).toContain(
      i2.transactionId,
    );
    for (const at of ['2026-11-15', '2026-11-20', '2026-12-31']) {
      await checkOpenItemsCache(t.db, c.entityId, at);
      await checkGlBalancesCache(t.db, c.entityId, at);
    }
    expect(
      (await listOpenItems(t.db, c.entityId, '2026-12-31', 'A')).find((i) => i.transactionId === i1.transactionId)
        ?.dueDate,
    ).toBe('2027-01-31');
    expect((await mirrored(c.entityId, cursor)).refs).toEqual([`SI-${i2.number}`]);
    const verified = await verifyLedger(t.db, { id: c.entityId, code: 'CLOCK' });
    expect(verified.checks.filter((x) => x.problems.length)).toEqual([]);
  });
});
