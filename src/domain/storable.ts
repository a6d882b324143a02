/*
 * Text PostgreSQL can store. A NUL cannot be held by a text or jsonb value, and an unpaired UTF-16
 * surrogate has no UTF-8 form: a jsonb value refuses its "\udXXX" escape, a text value would get
 * U+FFFD in its place (a silent substitute). The API refuses both at its edge
 * (src/api/text-guard.ts); sources park a record holding one (src/sync/engine/page.ts); copies kept
 * for people to read (exceptions, run records, the audit trail) show U+FFFD instead.
 */

// eslint-disable-next-line no-control-regex -- the NUL is what is looked for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/** What is wrong with a string that PostgreSQL cannot store, or null when it can be. */
export function unstorableProblem(text: string): string | null {
  const m = UNSTORABLE.exec(text);
  if (!m) return null;
  return m[0] === '\u0000' ? 'contains a NUL character' : 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
}

/**
 * The first string (or object key) in `value` that PostgreSQL cannot store, with its path from
 * `path` ("body.lines.0.description"), or null. Nesting past `maxDepth` is not looked into: the
 * callers' schemas refuse it, and a scan must not recurse without end.
 */
export function findUnstorable(
  value: unknown,
  path: string[],
  maxDepth = 64,
): { field: string; message: string } | null {
  const scan = (v: unknown, at: string[], depth: number): { field: string; message: string } | null => {
    if (typeof v === 'string') {
      const message = unstorableProblem(v);
      return message ? { field: at.join('.'), message } : null;
    }
    if (v === null || typeof v !== 'object' || depth > maxDepth) return null;
    for (const [k, x] of Object.entries(v)) {
      const keyProblem = unstorableProblem(k);
      if (keyProblem) return { field: [...at, JSON.stringify(k)].join('.'), message: `key ${keyProblem}` };
      const found = scan(x, [...at, k], depth + 1);
      if (found) return found;
    }
    return null;
  };
  return scan(value, path, 0);
}

/** The string with each character PostgreSQL cannot store replaced by U+FFFD. */
export function storable(text: string): string {
  return text.replace(UNSTORABLE_ALL, '\uFFFD');
}

/** JSON for a jsonb column: every string and object key made storable (see storable). */
export function storableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'string') return storable(v);
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).some((k) => UNSTORABLE.test(k))) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [storable(k), x as unknown]));
    }
    return v;
  });
}
