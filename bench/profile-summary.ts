/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time by function and by where the
 * code lives (ledgerlink, PGlite's WebAssembly, fastify, zod, pg, Node internals, idle, GC).
 *
 *   node bin/run-ts.js bench/profile-summary.ts bench/results/CPU.….cpuprofile [top]
 */
import { readFile } from 'node:fs/promises';
import { table } from './stats.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function area(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'V8 (program)';
  if (url.startsWith('wasm://') || url.includes('.wasm')) return 'PGlite WebAssembly';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.includes('/src/')) return `ledgerlink ${/\/src\/([^/]+)/.exec(url)?.[1] ?? ''}`;
  if (url.includes('/bench/')) return 'bench';
  if (url.startsWith('node:') || url === '') return 'Node internals';
  return url;
}

const file = process.argv[2];
if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [top]');
const top = Number(process.argv[3] ?? 25);
const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((s, v) => s + v, 0);

const byArea = new Map<string, number>();
const byFunction = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  const a = area(n.callFrame.url, n.callFrame.functionName);
  byArea.set(a, (byArea.get(a) ?? 0) + us);
  const short = n.callFrame.url.replace(/^.*\/(node_modules|src|bench)\//, '$1/');
  const key = `${n.callFrame.functionName || '(anonymous)'} ${short}:${n.callFrame.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
}
const pct = (us: number) => ((100 * us) / total).toFixed(1);
const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);

process.stdout.write(`${(total / 1e6).toFixed(1)} s sampled\n\n`);
process.stdout.write(
  table([['where', 'ms', '%'], ...sorted(byArea).map(([k, us]) => [k, Math.round(us / 1000), pct(us)])]) + '\n\n',
);
process.stdout.write(
  table([
    ['function (self time)', 'ms', '%'],
    ...sorted(byFunction)
      .slice(0, top)
      .map(([k, us]) => [k.slice(0, 110), Math.round(us / 1000), pct(us)]),
  ]) + '\n',
);
