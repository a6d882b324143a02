import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
export { seeded } from '../../src/sync/seeded.ts';

const BIN = fileURLToPath(new URL('../../bin/ledgerlink.js', import.meta.url));

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The real `ledgerlink` command in a child process, as an operator runs it. */
export interface Cli {
  child: ChildProcess;
  /** What it printed so far (stdout and stderr), for a failing test's message. */
  output(): string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  /** `kill -9`: no handler, no cleanup, no graceful anything. */
  kill9(): Promise<void>;
  /** SIGTERM, the graceful stop. */
  stop(): Promise<void>;
}

/**
 * Starts `ledgerlink <args>` with `env` over a clean environment: no test-runner variables (the
 * child runs as in production) and no DATABASE_URL unless given.
 */
export function startCli(args: string[], env: Record<string, string>, cwd?: string): Cli {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'DATABASE_URL' && k !== 'NODE_ENV'),
  );
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...base, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString('utf8')).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `probe` until it returns a value (not undefined), or fails after `ms` with `what`. */
export async function waitFor<T>(
  what: string | (() => string),
  ms: number,
  probe: () => Promise<T | undefined>,
  every = 100,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    let last: unknown;
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(
        `timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, every));
  }
}
