import { afterAll, beforeAll, expect } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import {
  type IxpoleSimulator,
  type IxpoleSimulatorOptions,
  startIxpoleSimulator,
} from '../../src/connectors/ixpole/simulator.ts';
import type { CanonicalRecord } from '../../src/sync/canonical.ts';
import type { Pipeline } from '../../src/sync/pipelines.ts';
import type { TargetDefinition } from '../../src/sync/registry.ts';
import type { RatePlanner } from '../../src/sync/remote/contracts.ts';
import { createRatePlanner } from '../../src/sync/remote/rate-planner.ts';
import { type Run, getRun } from '../../src/sync/runs.ts';
import type { SyncService } from '../../src/sync/service.ts';
import type { TargetConnector, TargetDeps } from '../../src/sync/target.ts';
import { type Client, type TestApp, createTestApp } from './app.ts';
import { type ProcessScope, processScope } from './scoped.ts';
import { definePipeline, drainTarget, openExceptions, sendRecords, syncService } from './sync.ts';

/*
 * The engine a platform's end-to-end test file (test/<platform>.test.ts) runs its pipelines on: a
 * test app on a fresh database (PGlite, or PostgreSQL with DATABASE_URL), the sync service retrying
 * at once, the platform's target registered with the file's knobs (its planner on the simulator's
 * clock, a short backoff) until the file ends, and its simulators closed after the last test; and
 * the steps those files take alike: a run from iXpole to the end, records sent and drained, a
 * revoked connection parked. The checks of what the platform then holds are test/helpers/platform-e2e.ts.
 *
 *   const e2e = platformEngine({
 *     name: 'Zoho Books',
 *     start: async (e) => void (zoho = e.closeLater(await startZohoBooksSimulator({ … }))),
 *     target: (t) => ({ ...zohoBooksTarget, create: (deps) => … }),
 *   });
 */

export interface Closable {
  close(): Promise<void>;
}

export interface PlatformEngineOptions {
  /** The platform as messages name it ("documents still wait for Zoho Books"). */
  name: string;
  /** The engine renders PDFs (to write them back to iXpole). */
  pdfs?: boolean;
  /** Starts what the file's tests share (its simulator), once the app and engine are up. */
  start?: (e: PlatformEngine) => Promise<void>;
  /** The platform's target as the file's tests run it; registered until the file ends. */
  target?: (t: TestApp) => TargetDefinition;
}

export interface PlatformEngine {
  /** The test app (set before the first test). */
  readonly t: TestApp;
  readonly db: Database;
  /** The sync service: failed sends retried at once, up to 10 attempts. */
  readonly sync: SyncService;
  /** This file's process scope, for what else it registers (test/helpers/scoped.ts). */
  readonly scope: ProcessScope;
  /** Closes `c` after the file's tests (the last registered first, the app after all of them); returns it. */
  closeLater<T extends Closable>(c: T): T;
  /** An entity in EUR whose standard VAT rate is 21 %, as the platforms' scenarios want. */
  entity(code: string): Promise<Client>;
  /** A pipeline `name` of a new entity (`entity`) from the `records` source into `target`. */
  recordsPipeline(entity: string, name: string, target: Record<string, unknown>): Promise<Pipeline>;
  /** Flushes the pipeline's outbox until nothing waits for the platform (drainTarget). */
  drain(pipeline: Pipeline): Promise<void>;
  /**
   * Imports the records through the engine, then drains; returns the import's run id. With
   * `mayStillWait`, documents still waiting after the drain (a connection refused) do not fail it:
   * the checks after say what became of them.
   */
  send(pipeline: Pipeline, records: CanonicalRecord[], o?: { mayStillWait?: boolean }): Promise<string>;
  /** A manual run of the pipeline, then drained: the run as it ended. */
  run(pipeline: Pipeline): Promise<Run>;
  /**
   * An iXpole (seed 9, 40 instalments, 8 customers, 3 products, unless `ix` says otherwise) read
   * by a pipeline `name` of a new entity into `target`, `pageSize` instalments a page, run to the
   * end: the run succeeded (or partly), the outbox drained and flushed once more, and nothing
   * parked. Faults to meet are set on the platform's simulator before.
   */
  ixpoleRun(o: {
    entity: string;
    name: string;
    target: Record<string, unknown>;
    pageSize: number;
    ix?: IxpoleSimulatorOptions;
  }): Promise<{ ix: IxpoleSimulator; pipeline: Pipeline; codes: string[] }>;
  /**
   * After the platform refused the pipeline's grant: a customer sent (R-C unless `customer` says)
   * is parked with TARGET_AUTH_REVOKED alone, its message saying what to do (`message`) and none of
   * `secrets`, and the platform got no write (`writes`, counted before and after).
   */
  expectRevokedParked(
    pipeline: Pipeline,
    o: { writes: () => number; message: RegExp; secrets: string[]; customer?: CanonicalRecord },
  ): Promise<void>;
  /** The same records sent again write nothing (`writes`, counted before and after). */
  expectResendWritesNothing(pipeline: Pipeline, records: CanonicalRecord[], writes: () => number): Promise<void>;
  /**
   * Refused is final: `flushes` of the timer's flushes, then a drain, send nothing (`sent`, counted
   * before and after), and leave the pipeline's exceptions as `parked`.
   */
  expectFlushesSendNothing(
    pipeline: Pipeline,
    o: { parked: Awaited<ReturnType<typeof openExceptions>>; sent: () => number; flushes?: number },
  ): Promise<void>;
}

/** The `source:` of a pipeline reading the simulated iXpole, its retries short. */
export const ixpoleSource = (ix: IxpoleSimulator) => ({
  type: 'ixpole',
  baseUrl: ix.url,
  apiKey: ix.apiKey,
  backoffBaseMs: 5,
  backoffMaxMs: 20,
  maxAttempts: 4,
});

/** Every instalment code of the simulated iXpole, in its order. */
export const instalmentCodes = (ix: IxpoleSimulator) =>
  [...Array(ix.total).keys()].map((i) => ix.instalmentAt(i).InstalmentCode);

/**
 * `def` (a platform's target, as `target:` of platformEngine) created by `create` with its rate
 * planner on a simulator's scaled clock, a "minute" of `minuteMs`, with the margin production gives
 * a minute (250 ms), and a short backoff.
 */
export function onScaledMinute(
  def: TargetDefinition,
  create: (
    deps: TargetDeps,
    o: { planner: RatePlanner; client: { backoffBaseMs: number; backoffMaxMs: number } },
  ) => TargetConnector,
  minuteMs: number,
): (t: TestApp) => TargetDefinition {
  return (t) => ({
    ...def,
    create: (deps) =>
      Promise.resolve(
        create(deps, {
          planner: createRatePlanner(t.db, { windowsMs: { minute: minuteMs }, marginMs: () => 250 }),
          client: { backoffBaseMs: 5, backoffMaxMs: 40 },
        }),
      ),
  });
}

/** The engine of a platform's end-to-end test file; call once, at the top of the file. */
export function platformEngine(o: PlatformEngineOptions): PlatformEngine {
  const scope = processScope();
  const closers: Closable[] = [];
  let app: TestApp | null = null;
  let service: SyncService | null = null;
  const t = () => app ?? fail('the test app is not up yet (used before beforeAll?)');
  const sync = () => service ?? fail('the sync service is not up yet (used before beforeAll?)');

  const e: PlatformEngine = {
    get t() {
      return t();
    },
    get db() {
      return t().db;
    },
    get sync() {
      return sync();
    },
    scope,
    closeLater: (c) => {
      closers.push(c);
      return c;
    },
    entity: (code) => t().entity(code, 'EUR', { standardTaxRate: '0.21' }),
    recordsPipeline: async (entity, name, target) => {
      await e.entity(entity);
      return definePipeline(t().db, entity, { name, source: { type: 'records' }, target });
    },
    drain: (pipeline) => drainTarget(t().db, sync(), pipeline, o.name),
    send: async (pipeline, records, { mayStillWait = false } = {}) => {
      if (!mayStillWait) return sendRecords(t().db, sync(), pipeline, records, o.name);
      const runId = await sync().processRecords(
        pipeline,
        'import',
        'test',
        records.map((record) => ({ record })),
      );
      await e.drain(pipeline).catch(() => undefined);
      return runId;
    },
    run: async (pipeline) => {
      const run = (await getRun(t().db, (await sync().trigger(pipeline, 'manual', 'test'))!))!;
      await e.drain(pipeline);
      return run;
    },
    ixpoleRun: async ({ entity, name, target, pageSize, ix: ixOptions }) => {
      await e.entity(entity);
      const ix = e.closeLater(
        await startIxpoleSimulator({ seed: 9, instalments: 40, customers: 8, products: 3, ...ixOptions }),
      );
      const pipeline = await definePipeline(t().db, entity, {
        name,
        source: ixpoleSource(ix),
        target,
        options: { pageSize },
      });
      const run = await e.run(pipeline);
      expect(['succeeded', 'partial']).toContain(run.status);
      await sync().flushAll();
      expect(await openExceptions(t().db, pipeline)).toEqual([]);
      return { ix, pipeline, codes: instalmentCodes(ix) };
    },
    expectRevokedParked: async (pipeline, { writes, message, secrets, customer }) => {
      const before = writes();
      await e.send(pipeline, [customer ?? { kind: 'customer', sourceId: 'R-C', name: 'Revoked customer' }], {
        mayStillWait: true,
      });
      const parked = await openExceptions(t().db, pipeline);
      expect(parked.map((p) => p.reason_code)).toEqual(['TARGET_AUTH_REVOKED']);
      expect(parked[0]!.message).toMatch(message);
      for (const secret of secrets) expect(parked[0]!.message).not.toContain(secret);
      expect(writes()).toBe(before);
    },
    expectResendWritesNothing: async (pipeline, records, writes) => {
      const before = writes();
      await e.send(pipeline, records);
      expect(writes()).toBe(before);
    },
    expectFlushesSendNothing: async (pipeline, { parked, sent, flushes = 1 }) => {
      const before = sent();
      for (let i = 0; i < flushes; i++) await sync().flushAll();
      await e.drain(pipeline);
      expect(sent()).toBe(before);
      expect(await openExceptions(t().db, pipeline)).toEqual(parked);
    },
  };

  beforeAll(async () => {
    app = await createTestApp();
    service = syncService(app.db, {
      ...(o.pdfs ? { pdfs: true } : {}),
      engine: { retry: { baseSeconds: 0, maxAttempts: 10 } },
    });
    await o.start?.(e);
    if (o.target) scope.target(o.target(app));
  }, 60_000);
  afterAll(async () => {
    for (const c of closers.reverse()) await c.close();
    await app?.close();
  });
  return e;
}

function fail(message: string): never {
  throw new Error(message);
}
