import { DomainError } from '../domain/errors.ts';

// A NUL cannot be stored in a PostgreSQL text or jsonb value, and an unpaired UTF-16 surrogate has
// no UTF-8 form (it would be stored as U+FFFD, a silent substitute). Both are refused at the edge.
// eslint-disable-next-line no-control-regex -- the NUL is what is looked for
const BAD_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function problemOf(text: string): string | null {
  const m = BAD_TEXT.exec(text);
  if (!m) return null;
  return m[0] === '\u0000' ? 'contains a NUL character' : 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
}

/**
 * Refuses a request value holding a string (or an object key) that no database column can hold,
 * naming the field: `body.lines.0.description`.
 */
export function assertStorableText(value: unknown, location: string): void {
  const found = findBadText(value, [location], 0);
  if (found) {
    throw new DomainError('VALIDATION_ERROR', `${found.field}: ${found.message}`, [found]);
  }
}

function findBadText(value: unknown, path: string[], depth: number): { field: string; message: string } | null {
  if (typeof value === 'string') {
    const message = problemOf(value);
    return message ? { field: path.join('.'), message } : null;
  }
  // Deeper than any schema goes: left to the schema, which refuses it (and a scan must not recurse without end).
  if (value === null || typeof value !== 'object' || depth > 64) return null;
  for (const [k, v] of Object.entries(value)) {
    const keyProblem = problemOf(k);
    if (keyProblem) return { field: [...path, JSON.stringify(k)].join('.'), message: `key ${keyProblem}` };
    const found = findBadText(v, [...path, k], depth + 1);
    if (found) return found;
  }
  return null;
}

/** The deepest nesting of arrays and objects any request needs is far below this. */
export const MAX_JSON_DEPTH = 32;

/**
 * Whether a JSON text nests arrays and objects deeper than `max` (strings skipped, escapes
 * included). Checked before parsing: a recursive parser, hash or schema would otherwise run
 * out of stack on a body of a few kilobytes of brackets.
 */
export function nestsDeeperThan(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return true;
    } else if (c === 93 /* ] */ || c === 125 /* } */) depth--;
  }
  return false;
}
