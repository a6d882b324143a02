import { parse, isSafeNumber } from 'lossless-json';

/**
 * Whether a JSON text has a number literal that a binary float could alter: one with a fraction
 * or an exponent, or an integer beyond 2^53. Strings are skipped, escapes included.
 */
export function hasInexactNumber(text: string): boolean {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) {
      inString = true;
    } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < text.length) {
        const d = text.charCodeAt(j);
        if (d === 46 /* . */ || d === 101 /* e */ || d === 69 /* E */) return true;
        if (d < 48 || d > 57) break;
        j++;
      }
      if (j - i > 15 && !isSafeNumber(text.slice(i, j))) return true;
      i = j - 1;
    }
  }
  return false;
}

/**
 * Parses a JSON body without letting a decimal pass through a binary float: integers that fit
 * exactly stay numbers, every other number literal is kept as its exact source text ("120.10").
 * Amount and rate schemas accept both forms. Bodies with only safe integers take the fast path.
 */
export function parseJsonExact(text: string): unknown {
  if (!hasInexactNumber(text)) return JSON.parse(text);
  return parse(text, null, (value: string) => (/^-?\d+$/.test(value) && isSafeNumber(value) ? Number(value) : value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** JSON with object keys sorted, so two equal bodies hash alike whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? 'null';
}
