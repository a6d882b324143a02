import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setBasedBatch } from '../bench/baseline-set.ts';
import { baselineEntity } from '../bench/harness.ts';
import { compare, fingerprint } from '../bench/verify.ts';
import { type QuerySpec, querySpec } from '../bench/workload.ts';
import type { Database } from '../src/db/database.ts';
import { createTestDatabase } from './helpers/db.ts';

/*
 * The identical-rows check of the HTTP bench (bench/http-posting.ts): concurrent requests number
 * documents in commit order, so it names them by reference. It must still see a missing or a
 * changed document, or the bench could pass by posting less than it claims.
 */

let db: Database;
const actor = 'bench:test';
const batches = (count: number, size: number): QuerySpec[][] =>
  Array.from({ length: Math.ceil(count / size) }, (_, b) =>
    Array.from({ length: Math.min(size, count - b * size) }, (_, k) => querySpec('T', b * size + k)),
  );

/** An entity holding the workload's first `count` queries, written batch by batch in the order given. */
async function written(code: string, order: QuerySpec[][]): Promise<string> {
  const { entityId } = await baselineEntity(db, code);
  for (const batch of order) await setBasedBatch(db, entityId, actor, batch);
  return entityId;
}

let inOrder: string;
let reversed: string;
let short: string;

beforeAll(async () => {
  db = await createTestDatabase();
  inOrder = await written('INORDER', batches(40, 10));
  reversed = await written('REVERSED', batches(40, 10).reverse());
  short = await written('SHORT', batches(39, 10));
}, 60_000);
afterAll(async () => db?.close());

const identical = async (a: string, b: string, names: 'number' | 'reference') =>
  compare(await fingerprint(db, a, names), await fingerprint(db, b, names)).every((c) => c.identical);

describe("the bench's identical-rows check", () => {
  it('by number, tells two posting orders apart (the numbers differ)', async () => {
    expect(await identical(inOrder, reversed, 'number')).toBe(false);
  });

  it('by reference, finds the same rows whatever order they were numbered in', async () => {
    expect(await identical(inOrder, reversed, 'reference')).toBe(true);
  });

  it('by reference, sees one query missing', async () => {
    expect(await identical(inOrder, short, 'reference')).toBe(false);
  });

  it('by reference, sees a gap in the numbers', async () => {
    const gap = await written('GAP', batches(40, 10));
    // The ledger's rows cannot be changed (immutability triggers), so a gap is made the way a lost
    // request would leave one: the numbers of the last query's documents skipped by a sequence bump.
    const other = await baselineEntity(db, 'GAPPED');
    const all = batches(40, 10);
    for (const batch of all.slice(0, -1)) await setBasedBatch(db, other.entityId, actor, batch);
    await db.query(`UPDATE document_sequences SET last_number = last_number + 1 WHERE entity_id = $1`, [
      other.entityId,
    ]);
    await setBasedBatch(db, other.entityId, actor, all.at(-1)!);
    expect(await identical(gap, other.entityId, 'reference')).toBe(false);
  });
});
