import { describe, expect, it } from 'vitest';
import { BatchInterrupted, type ItemResult, ok } from '../target.ts';
import { mapAtMost } from './at-most.ts';

/** A call that stays open until `finish` is called for it, counting those open at once. */
function gated() {
  let open = 0;
  let most = 0;
  const pending = new Map<number, () => void>();
  const started: number[] = [];
  const call = (n: number) =>
    new Promise<ItemResult>((resolve, reject) => {
      open++;
      most = Math.max(most, open);
      started.push(n);
      pending.set(n, () => {
        open--;
        if (n < 0) reject(new Error(`call ${n} failed`));
        else resolve(ok(`r${n}`));
      });
    });
  const finish = async (n: number) => {
    pending.get(n)!();
    pending.delete(n);
    // Let the worker take its next item.
    await new Promise((r) => setImmediate(r));
  };
  return { call, finish, started, most: () => most, open: () => [...pending.keys()] };
}

describe('mapAtMost', () => {
  it('keeps `limit` calls open at once, no more, and answers in the items’ order whatever order they end in', async () => {
    const g = gated();
    const done = mapAtMost([1, 2, 3, 4, 5], 2, g.call);
    await new Promise((r) => setImmediate(r));
    expect(g.open()).toEqual([1, 2]);
    await g.finish(2);
    expect(g.open()).toEqual([1, 3]);
    await g.finish(3);
    await g.finish(1);
    await g.finish(4);
    await g.finish(5);
    expect((await done).map((r) => r.ok && r.targetId)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    expect(g.most()).toBe(2);
  });

  it('starts nothing after a failure, lets those under way finish, then throws the first error', async () => {
    const g = gated();
    const done = mapAtMost([1, -2, 3, 4], 2, g.call).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    await g.finish(-2);
    // 3 and 4 never start; 1 is still under way and the error waits for it.
    expect(g.open()).toEqual([1]);
    let settled = false;
    void done.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    await g.finish(1);
    // What finished before the failure comes with it: the engine keeps 1 and looks up -2, 3 and 4.
    const err = await done;
    expect(err).toBeInstanceOf(BatchInterrupted);
    expect(err).toMatchObject({ message: 'call -2 failed', error: { message: 'call -2 failed' } });
    expect((err as BatchInterrupted).results).toEqual([ok('r1'), undefined, undefined, undefined]);
    expect(g.started).toEqual([1, -2]);
  });

  it('throws the error itself when nothing had finished', async () => {
    const g = gated();
    const done = mapAtMost([-1, 2], 1, g.call).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    await g.finish(-1);
    const err = await done;
    expect(err).not.toBeInstanceOf(BatchInterrupted);
    expect(err).toMatchObject({ message: 'call -1 failed' });
    expect(g.started).toEqual([-1]);
  });

  it('one at a time with a limit of 1 (or less), and nothing for no items', async () => {
    const g = gated();
    const done = mapAtMost([1, 2], 0, g.call);
    await new Promise((r) => setImmediate(r));
    expect(g.open()).toEqual([1]);
    await g.finish(1);
    await g.finish(2);
    expect((await done).map((r) => r.ok && r.targetId)).toEqual(['r1', 'r2']);
    expect(await mapAtMost([], 3, g.call)).toEqual([]);
  });
});
