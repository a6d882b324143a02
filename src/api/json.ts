import { parse, isSafeNumber } from 'lossless-json';

/**
 * Parses a JSON body without letting a decimal pass through a binary float: integers that fit
 * exactly stay numbers, every other number literal is kept as its exact source text ("120.10").
 * Amount and rate schemas accept both forms.
 */
export function parseJsonExact(text: string): unknown {
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
