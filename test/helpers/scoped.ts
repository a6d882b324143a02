import { type MockInstance, afterAll, vi } from 'vitest';
import { type XeroRuntime, configureXeroRuntime } from '../../src/connectors/xero/index.ts';
import { allowOutboundHost } from '../../src/sync/http.ts';
import {
  type InboundHandler,
  type SourceFactory,
  type TargetDefinition,
  registerInbound,
  registerSource,
  registerTarget,
} from '../../src/sync/registry.ts';
import type { ConnectorSettings } from '../../src/sync/registry.ts';

/*
 * Changes to the process that a test file takes back when it ends, so that the file can share its
 * worker with the files after it (vitest.config.ts, test/helpers/isolated-files.ts): connectors
 * registered for the test, Xero's runtime knobs, hosts allowed out, environment variables, spies.
 * Each change may be made anywhere (at the top of the file, in beforeAll, in a test) and any number
 * of times; when the file's tests are done, they are undone in reverse order, so the process is as
 * the file found it, whatever failed in between.
 *
 *   const scope = processScope();
 *   scope.target({ ...xeroTarget, create: … });
 *   beforeAll(() => scope.env('LEDGERLINK_OUTBOUND_ALLOW', `127.0.0.1:${port}`));
 */
export interface ProcessScope {
  /** registerTarget, until the file ends (then the definition it replaced, or none, is back). */
  target(def: TargetDefinition): void;
  /** registerSource, until the file ends. */
  source(type: string, factory: SourceFactory, settings?: ConnectorSettings): void;
  /** registerInbound, until the file ends. */
  inbound(handler: InboundHandler): void;
  /** configureXeroRuntime, until the file ends. */
  xeroRuntime(runtime: XeroRuntime): void;
  /** allowOutboundHost, until the file ends. */
  allowHost(host: string, port: number): void;
  /** Sets (or, with undefined, removes) an environment variable until the file ends. */
  env(name: string, value: string | undefined): void;
  /** vi.spyOn, restored when the file ends at the latest. */
  spyOn: typeof vi.spyOn;
}

/** A scope for this test file: what it changes is undone after the file's last test (afterAll). */
export function processScope(): ProcessScope {
  const scope = changeLog();
  afterAll(() => scope.undo());
  return scope;
}

/** The changes, and `undo` to take them all back, last first (processScope calls it in afterAll). */
export function changeLog(): ProcessScope & { undo(): void } {
  const undo: (() => void)[] = [];
  return {
    undo: () => {
      while (undo.length > 0) undo.pop()!();
    },
    target: (def) => void undo.push(registerTarget(def)),
    source: (type, factory, settings) => void undo.push(registerSource(type, factory, settings)),
    inbound: (handler) => void undo.push(registerInbound(handler)),
    xeroRuntime: (runtime) => {
      const before = configureXeroRuntime(runtime);
      undo.push(() => void configureXeroRuntime(before));
    },
    allowHost: (host, port) => void undo.push(allowOutboundHost(host, port)),
    env: (name, value) => {
      const had = Object.hasOwn(process.env, name);
      const before = process.env[name];
      set(name, value);
      undo.push(() => set(name, had ? before : undefined));
    },
    spyOn: ((...args: unknown[]) => {
      const spy = (vi.spyOn as unknown as (...a: unknown[]) => MockInstance)(...args);
      undo.push(() => spy.mockRestore());
      return spy;
    }) as unknown as typeof vi.spyOn,
  };
}

function set(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
