import { describe, expect, it } from 'vitest';
import { hasInexactNumber, parseJsonExact } from './json.ts';

describe('parseJsonExact', () => {
  it('keeps decimals as their exact text and safe integers as numbers', () => {
    expect(parseJsonExact('{"a": 0.1, "b": 12, "c": "x", "d": 90071992547409.93, "e": 1e2}')).toEqual({
      a: '0.1',
      b: 12,
      c: 'x',
      d: '90071992547409.93',
      e: '1e2',
    });
  });

  it('keeps integers beyond 2^53 as text', () => {
    expect(parseJsonExact('{"n": 9007199254740993}')).toEqual({ n: '9007199254740993' });
  });

  it('ignores digits, dots and escaped quotes inside strings', () => {
    expect(hasInexactNumber('{"a": "1.5", "b": "say \\"2.5\\"", "c": -3}')).toBe(false);
    expect(hasInexactNumber('{"a": "x", "b": -3.0}')).toBe(true);
    expect(parseJsonExact('{"a": "1.5", "b": [1, 2]}')).toEqual({ a: '1.5', b: [1, 2] });
  });

  it('rejects malformed JSON on both paths', () => {
    expect(() => parseJsonExact('{"a": 1')).toThrow();
    expect(() => parseJsonExact('{"a": 1.5')).toThrow();
  });
});
