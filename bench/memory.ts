/**
 * Memory of the embedded server (issue 8; part of `npm run bench`, alone: `npm run bench:memory`).
 *
 *  - idle: `node bin/ledgerlink.js serve` on a fresh PGlite folder, demo included, with the Node.js
 *    flags of the command's first line, as `npm start` and `npx ledgerlink serve` run it: resident memory (VmRSS) once it listens and has settled, and its high-water mark
 *    (VmHWM, the most it ever held, start-up included);
 *  - sync: `bench/sync.ts --only pglite --sync-only` in a child process (the same flags): the child's VmHWM over
 *    opening a fresh PGlite folder and syncing N instalments from the iXpole simulator.
 *
 * Each measure runs in its own process and reads the kernel's figures (/proc/PID/status), so
 * nothing else in this process counts. Method and figures: docs/performance.md, "Memory (issue 8)".
 *
 *   npm run bench:memory                       100,000 instalments, 30 s of settling
 *   npm run bench:memory -- --quick            5,000 instalments, 10 s
 *   npm run bench:memory -- --instalments N --settle S
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { procMemory, progress, round, serverNodeFlags } from './stats.ts';
import { benchArgs, positiveInt } from './cli-args.ts';

export const MEMORY_TARGETS = { idleRssMb: 300, syncPeakMb: 400 };

export interface MemoryResult {
  targets: typeof MEMORY_TARGETS;
  idle: { settleSeconds: number; rssMb: number; hwmMb: number };
  sync: { instalments: number; hwmMb: number; sampledPeakRssMb: number; docsPerSecond: number };
}

const root = fileURLToPath(new URL('../', import.meta.url));

/** Starts the server as `npm start` does, waits for it to listen and settle, reads its memory, stops it. */
async function idleServer(settleSeconds: number): Promise<MemoryResult['idle']> {
  const dir = await mkdtemp(join(tmpdir(), 'll-memory-'));
  const child = spawn(process.execPath, [...serverNodeFlags(root), 'bin/ledgerlink.js', 'serve', '--port', '0'], {
    cwd: root,
    env: { ...process.env, LEDGERLINK_DATA_DIR: dir, LOG_LEVEL: 'info', LOG_JSON: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not listen within 120 s:\n${output}`)), 120_000);
      const look = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('ledgerlink API on')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', look);
      child.stderr.on('data', look);
      void exited.then((code) => reject(new Error(`the server exited (${code}) before listening:\n${output}`)));
    });
    await new Promise((r) => setTimeout(r, settleSeconds * 1000));
    if (child.pid === undefined) throw new Error('the server did not start');
    const m = procMemory(child.pid);
    return { settleSeconds, rssMb: round(m.rssMb, 0), hwmMb: round(m.hwmMb, 0) };
  } finally {
    child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}

/** The sync benchmark alone, in a child process of its own; its VmHWM is what the sync needed. */
function syncPeak(instalments: number): MemoryResult['sync'] {
  const out = execFileSync(
    process.execPath,
    [
      ...serverNodeFlags(root),
      'bin/run-ts.js',
      'bench/sync.ts',
      '--only',
      'pglite',
      '--sync-only',
      '--instalments',
      String(instalments),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
  );
  const r = JSON.parse(out.toString().trim().split('\n').pop()!) as {
    vmHwmMb: number;
    peakRssMb: number;
    syncDocsPerSecond: number;
  };
  return {
    instalments,
    hwmMb: round(r.vmHwmMb, 0),
    sampledPeakRssMb: round(r.peakRssMb, 0),
    docsPerSecond: round(r.syncDocsPerSecond, 0),
  };
}

export async function runMemory(opts: { instalments: number; settleSeconds: number }): Promise<MemoryResult> {
  progress(`memory: idle server (fresh PGlite folder, demo), ${opts.settleSeconds} s of settling`);
  const idle = await idleServer(opts.settleSeconds);
  progress(`memory: peak of a sync of ${opts.instalments} instalments on PGlite`);
  const sync = syncPeak(opts.instalments);
  return { targets: MEMORY_TARGETS, idle, sync };
}

/** The lines of the report. */
export function memoryReport(m: MemoryResult): string {
  const verdict = (v: number, target: number) => (v < target ? 'met' : 'MISSED');
  return [
    `| measure | MB | target | |`,
    `|---|---|---|---|`,
    `| idle server after ${m.idle.settleSeconds} s, VmRSS | ${m.idle.rssMb} | < ${m.targets.idleRssMb} | ${verdict(m.idle.rssMb, m.targets.idleRssMb)} |`,
    `| idle server, peak since start (VmHWM) | ${m.idle.hwmMb} | | |`,
    `| sync of ${m.sync.instalments} instalments, peak (VmHWM) | ${m.sync.hwmMb} | < ${m.targets.syncPeakMb} | ${verdict(m.sync.hwmMb, m.targets.syncPeakMb)} |`,
    `| the same, sampled during the sync only | ${m.sync.sampledPeakRssMb} | | (${m.sync.docsPerSecond} documents/s) |`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values: args } = benchArgs(
    {
      options: {
        quick: { type: 'boolean', default: false },
        instalments: { type: 'string' },
        settle: { type: 'string' },
      },
    },
    `Usage: npm run bench:memory -- [--quick] [--instalments N] [--settle SECONDS]
Resident memory of the embedded server (PGlite): idle after SECONDS (default 30; --quick 10), and the peak
during a sync of N instalments (default 100,000; --quick 5,000), each in a process of its own.
Exits 1 when a figure misses its target.`,
  );
  const instalments = positiveInt(args.instalments, args.quick ? 5000 : 100_000, 'instalments');
  const settleSeconds = positiveInt(args.settle, args.quick ? 10 : 30, 'settle');
  const result = await runMemory({ instalments, settleSeconds });
  process.stdout.write(`${memoryReport(result)}\n${JSON.stringify(result)}\n`);
  const missed = result.idle.rssMb >= MEMORY_TARGETS.idleRssMb || result.sync.hwmMb >= MEMORY_TARGETS.syncPeakMb;
  if (missed) process.exitCode = 1;
}
