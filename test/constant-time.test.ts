import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { safeEqual } from '../src/domain/safe-equal.ts';
import { secretsEqual } from '../src/ledger/secrets.ts';

/*
 * Issue #14: tokens, keys, signatures and the like are compared in constant time, by one helper
 * (src/domain/safe-equal.ts). The helper is tested for what it answers; the sources are scanned so
 * that a secret compared with === or !== (or timingSafeEqual called around the helper, with its
 * length check) fails here. The scan reads names, so it is a net, not a proof: a secret under an
 * innocent name passes it. Every hit it lets through is listed below with the reason.
 */

describe('safeEqual', () => {
  it('is true for equal values and false for any difference, whatever the lengths', () => {
    expect(safeEqual('llt_abc', 'llt_abc')).toBe(true);
    expect(safeEqual('', '')).toBe(true);
    expect(safeEqual(Buffer.from('abc'), Buffer.from('abc'))).toBe(true);
    expect(safeEqual('llt_abc', 'llt_abd')).toBe(false);
    expect(safeEqual('llt_abc', 'llt_ab')).toBe(false);
    expect(safeEqual('llt_ab', 'llt_abc')).toBe(false);
    expect(safeEqual('', 'a')).toBe(false);
    expect(safeEqual(Buffer.from([0, 1]), Buffer.from([0, 1, 0]))).toBe(false);
    expect(safeEqual('x'.repeat(10_000), 'x'.repeat(10_000))).toBe(true);
    expect(secretsEqual('same', 'same')).toBe(true);
    expect(secretsEqual('same', 'Same')).toBe(false);
  });
});

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

// The simulators stand in for outside services in tests; they guard no secret of ours.
const FILES = sources('src').filter((f) => !/simulator/.test(f));

/** A name that holds a secret: its last part says token, secret, signature, hash, nonce, … */
const SECRET_NAME = /(token|secret|signature|nonce|csrf|password|verifier|apikey|partnerkey|userkey|hash)$/i;
const LITERAL = /^(undefined|null|true|false|''|""|``|'[^']*'|"[^"]*"|\d+|\[\]|\{\})$/;
const COMPARISON = /([\w.?[\]!()]+)\s*(===|!==)\s*([\w.?[\]'"`()]+)/g;

/** `file: the line` of comparisons reviewed and let through, with why. */
const REVIEWED: Record<string, string> = {
  "src/api/idempotency.ts: if (prior.request_hash !== claim.hash) throw new DomainError('IDEMPOTENCY_KEY_REUSED');":
    'the SHA-256 of a request the caller sent itself: no secret',
  'src/connectors/webhook/receiver.ts: if (stored.hash !== hash) {':
    'the hash of a delivered payload (deduplication): no secret',
  'src/sync/remote/oauth.ts: if (cached?.token === token) cached = null;':
    'drops our own cached token when the platform refused it: both sides are ours',
  'src/sync/remote/service-token.ts: if (current?.token === token) current = null;':
    'drops our own cached token when the platform refused it: both sides are ours',
};

function operandName(operand: string): string {
  return (
    operand
      .replace(/[?!]|\)+$/g, '')
      .split('.')
      .pop() ?? ''
  );
}

describe('secrets are never compared with === or !==', () => {
  it('calls timingSafeEqual only inside safeEqual', () => {
    const callers = FILES.filter((f) => readFileSync(f, 'utf8').includes('timingSafeEqual'));
    expect(callers).toEqual(['src/domain/safe-equal.ts']);
  });

  it('finds no comparison of a secret-named value with === or !== outside the reviewed list', () => {
    const hits: string[] = [];
    for (const file of FILES) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const trimmed = line.trim();
        if (trimmed.startsWith('//') || trimmed.startsWith('*')) continue;
        for (const m of trimmed.matchAll(COMPARISON)) {
          const [, left, , right] = m as unknown as [string, string, string, string];
          if (LITERAL.test(right.replace(/\)+$/, '')) || /typeof|\.length$|\.type$|\.kind$/.test(left)) continue;
          if (!SECRET_NAME.test(operandName(left)) && !SECRET_NAME.test(operandName(right))) continue;
          hits.push(`${file}: ${trimmed}`);
        }
      }
    }
    expect(hits.filter((h) => !(h in REVIEWED))).toEqual([]);
    // A reviewed line that no longer exists is dropped from the list, so the list stays true.
    expect(Object.keys(REVIEWED).filter((r) => !hits.includes(r))).toEqual([]);
  });

  it('the scan catches the comparison it is meant to catch', () => {
    const line = "if (given.csrfToken !== session.csrfToken) throw refuse('no');";
    const found = [...line.matchAll(COMPARISON)].some(
      ([, left, , right]) => SECRET_NAME.test(operandName(left!)) || SECRET_NAME.test(operandName(right!)),
    );
    expect(found).toBe(true);
  });
});
