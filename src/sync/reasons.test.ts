import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../domain/errors.ts';
import { REASON_CODES, isExceptionCode } from './reasons.ts';

const SRC = join(import.meta.dirname, '..');

/*
 * The closed list cannot drift: every reason code written in src/ must be in it. Types catch most
 * of this already (ParkedRecord.reasonCode is a union), but not a code held in a `string` on its
 * way to a park, nor a new field somewhere that takes a code; this scan does, by reading the
 * source the way a reviewer would.
 */

const CODE = String.raw`['"\x60]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"\x60]`;
const PATTERNS = [
  // reasonCode: 'X', reasonCode = 'X', reasonCode === 'X', and literal unions: reasonCode: 'A' | 'B'
  new RegExp(String.raw`reasonCode\??\s*(?:===?|!==?|:)\s*((?:${CODE}\s*\|?\s*)+)`, 'g'),
  // park('X', ...) and park(kind, d, 'X', ...): the engine's parking helpers take the code positionally
  new RegExp(String.raw`\bpark\(\s*(?:[\w.]+\s*,\s*)*${CODE}`, 'g'),
];

/** Reason codes written as string literals in a source text, with their line numbers. */
function reasonCodesIn(text: string): { code: string; line: number }[] {
  const found: { code: string; line: number }[] = [];
  for (const pattern of PATTERNS) {
    for (const m of text.matchAll(pattern)) {
      const line = text.slice(0, m.index).split('\n').length;
      for (const q of m[0].matchAll(new RegExp(CODE, 'g'))) found.push({ code: q[1]!, line });
    }
  }
  return found;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

async function scanSrc() {
  const hits: { code: string; where: string }[] = [];
  const texts = new Map<string, string>();
  // This file is left out: its examples of unknown codes are what the scan must catch.
  for (const file of (await sourceFiles(SRC)).filter((f) => f !== import.meta.filename)) {
    const text = await readFile(file, 'utf8');
    texts.set(file, text);
    for (const h of reasonCodesIn(text)) hits.push({ code: h.code, where: `src/${relative(SRC, file)}:${h.line}` });
  }
  return { hits, texts };
}

describe('exception reason codes', () => {
  it('every reason code written in src/ is in the closed list (REASON_CODES ∪ ERROR_CODES)', async () => {
    const { hits } = await scanSrc();
    const unknown = hits.filter((h) => !isExceptionCode(h.code)).map((h) => `${h.code} at ${h.where}`);
    expect(unknown).toEqual([]);
    // The scan sees the ways codes are written today (property, literal union, a constant, a
    // positional park(...)); if it stopped finding them it would pass on anything.
    const seen = new Set(hits.map((h) => h.code));
    for (const code of [
      'CUSTOMER_NOT_SYNCED', // reasonCode: '...'
      'MAPPING_NO_TAX_CODE_FOR_RATE', // reasonCode: 'A' | 'B' | 'C'
      'STRIPE_API_ERROR',
      'SOURCE_ITEM_INVALID',
    ])
      expect(seen, code).toContain(code);
    expect(hits.length).toBeGreaterThan(15);
  });

  it('finds a code the list does not have, however it is written', () => {
    const text = [
      "out.park({ kind: 'invoice', sourceId, reasonCode: 'FEE_SKIPPED', message });",
      'const why = { reasonCode: "NO_SUCH_REASON" };',
      "if (x.reasonCode === 'ALSO_UNKNOWN') return;",
      "type R = { reasonCode: 'CUSTOMER_NOT_SYNCED' | 'MADE_UP_CODE' };",
      "park('CURRENCY_TYPO', message);",
      'park(',
      '  kind,',
      '  d,',
      "  'POSITIONAL_UNKNOWN',",
      '  `a message`,',
      ');',
      "const other = 'NOT_A_REASON_AT_ALL';",
    ].join('\n');
    const found = reasonCodesIn(text);
    expect(found.map((f) => f.code).sort()).toEqual(
      [
        'ALSO_UNKNOWN',
        'CURRENCY_TYPO',
        'CUSTOMER_NOT_SYNCED',
        'FEE_SKIPPED',
        'MADE_UP_CODE',
        'NO_SUCH_REASON',
        'POSITIONAL_UNKNOWN',
      ].sort(),
    );
    expect(found.find((f) => f.code === 'POSITIONAL_UNKNOWN')?.line).toBe(6);
    expect(found.filter((f) => !isExceptionCode(f.code)).map((f) => f.code)).not.toContain('CUSTOMER_NOT_SYNCED');
  });

  it('is one list: reasons and ledger error codes do not overlap, and both count as exception codes', () => {
    const overlap = Object.keys(REASON_CODES).filter((c) => c in ERROR_CODES);
    expect(overlap).toEqual([]);
    expect(isExceptionCode('CUSTOMER_NOT_SYNCED')).toBe(true);
    expect(isExceptionCode('CUSTOMER_CREDIT_LIMIT_EXCEEDED')).toBe(true);
    expect(isExceptionCode('TARGET_UNAVAILABLE')).toBe(true);
    expect(isExceptionCode('FEE_SKIPPED')).toBe(false);
    expect(isExceptionCode('toString')).toBe(false);
  });

  it('says what each reason means and what to do, and lists no reason nothing can park', async () => {
    for (const [code, text] of Object.entries(REASON_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/);
      expect(text.length, code).toBeGreaterThan(60);
    }
    // Each reason appears somewhere in src/ besides this list, except those the engine's target
    // protocol is about to use (issue 6): drop a code from here once the engine parks with it.
    const { texts } = await scanSrc();
    const elsewhere = [...texts]
      .filter(([file]) => file !== join(SRC, 'sync', 'reasons.ts'))
      .map(([, text]) => text)
      .join('\n');
    const unused = Object.keys(REASON_CODES).filter((c) => !new RegExp(`['"\x60]${c}['"\x60]`).test(elsewhere));
    expect(unused).toEqual([]);
  });
});
