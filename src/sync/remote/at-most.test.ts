import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../connector.ts';
import { BatchInterrupted, type ItemResult, ok } from '../target.ts';
import { mapAtMost, retryUnknownOutcome } from './at-most.ts';

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

describe('retryUnknownOutcome', () => {
  const unknown = (retryAfterMs?: number) =>
    new ConnectorError('Test', 'no answer', { status: 503, retryable: true, retryAfterMs: retryAfterMs ?? null });

  /** A write failing with each of `errors` in turn, then answering; its calls, their times, and what was logged. */
  function attempts(errors: unknown[], signal?: AbortSignal) {
    const at: number[] = [];
    const logged: Record<string, unknown>[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const write = async () => {
      at.push(performance.now());
      if (at.length <= errors.length) throw errors[at.length - 1];
      return 'written';
    };
    const o = { attempts: 3, signal, log, system: 'Test', what: 'customer', by: 'code' };
    return { run: () => retryUnknownOutcome(write, o).catch((e: unknown) => e), at, logged };
  }

  it('tries a write whose outcome is unknown again, logging each retry, until it answers', async () => {
    const a = attempts([unknown(), unknown()]);
    expect(await a.run()).toBe('written');
    expect(a.at).toHaveLength(3);
    expect(a.logged).toMatchObject([
      { level: 20, system: 'Test', what: 'customer', attempt: 1, msg: 'unknown outcome; looking the code up again' },
      { attempt: 2, msg: 'unknown outcome; looking the code up again' },
    ]);
    // 100 ms times the attempt between them (a timer may fire a few ms early by performance.now()).
    expect(a.at[1]! - a.at[0]!).toBeGreaterThanOrEqual(90);
    expect(a.at[2]! - a.at[1]!).toBeGreaterThanOrEqual(190);
  });

  it('throws the last error after `attempts` tries in all', async () => {
    const last = unknown();
    const a = attempts([unknown(), unknown(), last, unknown()]);
    expect(await a.run()).toBe(last);
    expect(a.at).toHaveLength(3);
  });

  it('never tries again a refusal, or an error that is not a ConnectorError', async () => {
    const refused = new ConnectorError('Test', 'refused', { status: 400, retryable: false });
    const plain = Object.assign(new Error('a bug'), { retryable: true });
    for (const error of [refused, plain]) {
      const a = attempts([error]);
      expect(await a.run()).toBe(error);
      expect(a.at).toHaveLength(1);
      expect(a.logged).toEqual([]);
    }
  });

  it('tries nothing again once the worker is stopping', async () => {
    const stop = new AbortController();
    stop.abort();
    const error = unknown();
    const a = attempts([error], stop.signal);
    expect(await a.run()).toBe(error);
    expect(a.at).toHaveLength(1);
  });

  it('waits the Retry-After when it is longer than its own wait', async () => {
    const a = attempts([unknown(250)]);
    expect(await a.run()).toBe('written');
    expect(a.at[1]! - a.at[0]!).toBeGreaterThanOrEqual(240);
  });
});
