import { DomainError } from '../domain/errors.ts';

import { findUnstorable } from '../domain/storable.ts';

/**
 * Refuses a request value holding a string (or an object key) that no database column can hold
 * (a NUL, an unpaired surrogate: src/domain/storable.ts), naming the field: `body.lines.0.description`.
 */
export function assertStorableText(value: unknown, location: string): void {
  const found = findUnstorable(value, [location]);
  if (found) {
    throw new DomainError('VALIDATION_ERROR', `${found.field}: ${found.message}`, [found]);
  }
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
