import fc from 'fast-check';
import type { z } from 'zod';

/**
 * Values for fuzzing: hostile strings and numbers, and fast-check arbitraries derived from a zod
 * schema so that most generated bodies have the route's shape (and so reach the code behind the
 * validation) while carrying hostile values.
 */

/** Strings an attacker or a broken sender would send: SQL, HTML, control characters, long values. */
export const HOSTILE_STRINGS: string[] = [
  "'; DROP TABLE customers; --",
  "1' OR '1'='1",
  'Robert"); DELETE FROM journal_lines; --',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '</td></tr><iframe src=javascript:alert(1)>',
  '{{constructor.constructor("alert(1)")()}}',
  '__proto__',
  'constructor',
  '\u0000',
  'a\u0000b',
  '\u0007\u0008\u001b[31mred\u001b[0m',
  'line\r\nbreak',
  '\ud800',
  'x\udc00y',
  '\u202eevil\u202c',
  '\ufeff',
  '\uffff',
  '😀🏳️‍🌈',
  'Zoë Ærø Łódź 東京',
  '',
  ' ',
  '\t',
  '=HYPERLINK("http://x")',
  '+1+1',
  '@SUM(A1)',
  '%s%n%x',
  '../../etc/passwd',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-0',
  '0x10',
  '1e400',
  '1e-400',
  '92233720368547758.07',
  '-92233720368547758.08',
  '9223372036854775808',
  '99999999999999999999999999.99',
  '0.0000000001',
  '-10.00',
  '10.005',
  '2026-02-30',
  '2026-13-01',
  '0000-01-01',
  '9999-12-31',
  '2026-11-21T25:00:00Z',
];

/** Numbers at the edges: huge, negative, fractional, beyond a bigint, beyond a double's integers. */
export const HOSTILE_NUMBERS: number[] = [
  0,
  -0,
  -1,
  1.5,
  0.1,
  -0.005,
  2 ** 31,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  -(2 ** 63),
  1e21,
  1e308,
  -1e308,
  5e-324,
];

/** A very long string: beyond any column a field could reasonably have. */
export const longString = fc.constantFrom(70_000, 5_000, 256).map((n) => 'x'.repeat(n));

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.stringMatching(/^-?\d{1,25}(\.\d{1,12})?$/) },
  { weight: 1, arbitrary: longString },
);

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(...HOSTILE_NUMBERS),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Arrays and objects nested `depth` levels: past the API's limit of 32 they must be refused, not recursed. */
export function nested(depth: number, leaf: unknown = 1): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { a: v };
  return v;
}

/** JSON text nested `depth` levels, written out directly: too deep for JSON.stringify's own stack. */
export function nestedText(depth: number): string {
  return '[{"a":'.repeat(Math.floor(depth / 2)) + '1' + '}]'.repeat(Math.floor(depth / 2));
}

/** Any value at all: hostile scalars, random JSON, deep nesting. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 2, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(true, false, null, [], {}) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 5, max: 60 }).map((d) => nested(d)) },
);

function def(schema: z.ZodType): Record<string, any> {
  return (schema as unknown as { def: Record<string, any> }).def;
}

/** Plausible values by the name of the field, so that a body passes validation often enough to reach the ledger. */
function plausible(key: string): string[] {
  const k = key.toLowerCase();
  if (k.includes('date') || k === 'upto' || k === 'at') return ['2026-11-21', '2026-12-21', '2026-01-31'];
  // Beside plausible rates, two past what a column keeps: ten digits before the point (an exchange
  // rate, numeric(20, 10)) and seven decimals (a tax rate, numeric(9, 6)). Both once got through.
  if (k.includes('rate')) return ['0.21', '0', '1.0850', '12345678901', '0.1234567'];
  if (k.includes('amount') || k.includes('price') || k === 'fee' || k.includes('total'))
    return ['10.00', '1234.56', '0.01'];
  if (k.includes('currency')) return ['EUR', 'USD'];
  if (k.includes('email')) return ['a@example.org'];
  if (k.includes('customer') && k.includes('code')) return ['CUST001', 'C1'];
  if (k.includes('account') || k.includes('gl')) return ['4000', '1200'];
  if (k.includes('quantity')) return ['1', '2.5'];
  return [];
}

/** How far a leaf strays: "shaped" keeps most leaves valid (a few hostile), "hostile" makes most of them hostile. */
export type Mode = 'shaped' | 'hostile';

interface Checks {
  min?: number;
  max?: number;
  pattern?: RegExp;
  format?: string;
  int?: boolean;
  positive?: boolean;
}

function checksOf(schema: z.ZodType): Checks {
  const out: Checks = {};
  const d = def(schema);
  if (typeof d.format === 'string') out.format = d.format;
  for (const c of (d.checks ?? []) as { _zod: { def: Record<string, any> } }[]) {
    const cd = c._zod.def;
    if (cd.check === 'min_length') out.min = cd.minimum;
    else if (cd.check === 'max_length') out.max = cd.maximum;
    else if (cd.check === 'string_format' && cd.pattern instanceof RegExp) out.pattern = cd.pattern;
    else if (cd.check === 'number_format') out.int = true;
    else if (cd.check === 'greater_than') out.positive = true;
    else if (cd.check === 'less_than' && typeof cd.value === 'number') out.max = cd.value;
  }
  return out;
}

function drawable(pattern: RegExp): fc.Arbitrary<string> | null {
  // A pattern fast-check cannot draw from (lookarounds, flags) is left to the hostile values.
  try {
    const arb = fc.stringMatching(new RegExp(pattern.source));
    fc.sample(arb, { numRuns: 1, seed: 1 });
    return arb;
  } catch {
    return null;
  }
}

function stringArbitrary(schema: z.ZodType, key: string, mode: Mode): fc.Arbitrary<unknown> {
  const c = checksOf(schema);
  const fits = (v: string) => v.length >= (c.min ?? 0) && v.length <= (c.max ?? Infinity);
  const shaped: fc.Arbitrary<string>[] = [];
  const known = plausible(key);
  const fromPattern = c.pattern ? drawable(c.pattern) : null;
  if (known.length > 0) shaped.push(fc.constantFrom(...known));
  else if (fromPattern) shaped.push(fromPattern);
  else if (c.format === 'email') shaped.push(fc.emailAddress());
  else {
    const generic = ['CUST001', 'C1', 'Service', 'x', 'a-longer-plausible-value-0123456789'].filter(fits);
    if (generic.length > 0) shaped.push(fc.constantFrom(...generic));
    // Hostile text that the schema itself accepts: it reaches the database, the PDFs and the pages.
    const accepted = HOSTILE_STRINGS.filter(fits);
    if (accepted.length > 0) shaped.push(fc.constantFrom(...accepted));
    if (shaped.length === 0) shaped.push(hostileString);
  }
  if (mode === 'shaped') {
    return fc.oneof({ weight: 30, arbitrary: fc.oneof(...shaped) }, { weight: 1, arbitrary: hostileString });
  }
  return fc.oneof(
    { weight: 3, arbitrary: fc.oneof(...shaped) },
    { weight: 3, arbitrary: hostileString },
    { weight: 1, arbitrary: anyValue },
  );
}

function numberArbitrary(schema: z.ZodType, mode: Mode): fc.Arbitrary<unknown> {
  const c = checksOf(schema);
  const valid = c.positive ? fc.integer({ min: 1, max: 1_900_000_000 }) : fc.integer({ min: 0, max: 100 });
  if (mode === 'shaped') return fc.oneof({ weight: 30, arbitrary: valid }, { weight: 1, arbitrary: hostileNumber });
  return fc.oneof(
    { weight: 3, arbitrary: valid },
    { weight: 3, arbitrary: hostileNumber },
    { weight: 1, arbitrary: anyValue },
  );
}

/**
 * An arbitrary for bodies of the schema's shape, with hostile values at its leaves and, now and
 * then, a leaf of the wrong type altogether. `depth` bounds recursive (lazy) schemas.
 */
export function fromZod(schema: z.ZodType, mode: Mode = 'hostile', key = '', depth = 0): fc.Arbitrary<unknown> {
  if (depth > 8) return anyValue;
  const d = def(schema);
  const inner = (s: z.ZodType, k = key) => fromZod(s, mode, k, depth + 1);
  const rare = mode === 'shaped' ? 30 : 4;
  switch (d.type) {
    case 'object': {
      const shape = d.shape as Record<string, z.ZodType>;
      const keys = Object.keys(shape);
      const record = fc.record(Object.fromEntries(keys.map((k) => [k, inner(shape[k]!, k)])), {
        requiredKeys: keys.filter((k) => !['optional', 'default'].includes(def(shape[k]!).type)),
      });
      // Sometimes with an extra key the schema does not know, prototype pollution attempts included.
      return fc.oneof(
        { weight: rare, arbitrary: record },
        {
          weight: 1,
          arbitrary: fc
            .tuple(record, fc.constantFrom('__proto__', 'constructor', 'extra', '$where'), anyValue)
            .map(([r, k, v]) => JSON.parse(JSON.stringify({ ...(r as object), [k]: v })) as unknown),
        },
      );
    }
    case 'array':
      return fc.oneof(
        { weight: rare, arbitrary: fc.array(inner(d.element), { minLength: 1, maxLength: 4 }) },
        // Many copies of one element: long lists without drawing (and sending) megabytes of text.
        {
          weight: 1,
          arbitrary: fc
            .tuple(inner(d.element), fc.integer({ min: 0, max: 1200 }))
            .map(([e, n]) =>
              Array<unknown>(Math.min(n, Math.floor(400_000 / (JSON.stringify(e) ?? '').length + 1))).fill(e),
            ),
        },
      );
    case 'tuple':
      return fc.tuple(...(d.items as z.ZodType[]).map((s) => inner(s)));
    case 'record':
      return fc.dictionary(hostileString, inner(d.valueType), { maxKeys: 4 });
    case 'optional':
    case 'default':
    case 'nullable':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return fc.oneof({ weight: rare, arbitrary: inner(d.innerType) }, { weight: 1, arbitrary: fc.constant(null) });
    case 'union':
      return fc.oneof(...(d.options as z.ZodType[]).map((s) => inner(s)));
    case 'intersection':
      return fc.oneof(inner(d.left), inner(d.right));
    case 'pipe':
      return inner(d.in);
    case 'lazy':
      return inner(d.getter());
    case 'enum':
      return fc.oneof(
        { weight: rare, arbitrary: fc.constantFrom(...Object.values(d.entries as Record<string, string | number>)) },
        { weight: 1, arbitrary: hostileString },
      );
    case 'literal':
      return fc.oneof(
        { weight: rare, arbitrary: fc.constantFrom(...(d.values as unknown[])) },
        { weight: 1, arbitrary: anyValue },
      );
    case 'string':
      return stringArbitrary(schema, key, mode);
    case 'number':
    case 'int':
    case 'bigint':
      return numberArbitrary(schema, mode);
    case 'boolean':
      return fc.oneof({ weight: rare, arbitrary: fc.boolean() }, { weight: 1, arbitrary: anyValue });
    case 'null':
      return fc.constant(null);
    default:
      return anyValue;
  }
}

/** Every path to a leaf, object and array of a JSON value. */
export function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => [[...prefix, i], ...paths(v, [...prefix, i])]);
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])]);
  }
  return [];
}

/** A copy of `base` with `value` at `path`. */
export function withValue(base: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(base) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
  return copy;
}
