/**
 * mulberry32: a small, fast, seedable generator of numbers in [0, 1). Every simulator's faults
 * (lost answers, 500s) and the test data it makes draw from one, so a failing pattern replays the
 * same on every machine. Not for anything secret.
 */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
