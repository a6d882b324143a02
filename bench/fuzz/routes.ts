import fc from 'fast-check';
import type { z } from 'zod';
import { allRoutes } from '../../src/api/routes/index.ts';
import type { FuzzContext } from './context.ts';
import { countStatus, difference, excerpt, type FamilyResult, newResult } from './state.ts';
import { anyValue, fromZod, hostileString, nestedText, paths, withValue } from './values.ts';

/**
 * The route family: every POST and PUT route of the registry (webhook endpoints excepted: the
 * source families sign their bodies), fed bodies drawn from its zod schema with hostile values,
 * its documented example with one field made hostile, random JSON, malformed JSON (→ 400),
 * nesting past the limit (→ 400) and bodies over the limit (→ 413). Never a 5xx; a refusal
 * carries an error code and changes no row count and not the trial balance.
 */

/** Routes that end the fuzzer's own session: fuzzing them would turn every later case into a 401. */
const SESSION_ENDING = new Set(['POST /v1/auth/logout', 'POST /v1/auth/sign-out']);

export interface FuzzRoute {
  method: string;
  path: string;
  auth: string;
  body?: z.ZodType;
  example?: unknown;
  multipart?: boolean;
}

export function fuzzedRoutes(): FuzzRoute[] {
  return (allRoutes as unknown as (FuzzRoute & { rawBody?: boolean })[]).filter(
    (r) =>
      (r.method === 'POST' || r.method === 'PUT') &&
      !r.rawBody &&
      !r.multipart &&
      !SESSION_ENDING.has(`${r.method} ${r.path}`),
  );
}

type Kind = 'schema' | 'example' | 'json' | 'malformed' | 'deep' | 'oversize';
// Out of every 20 cases of a route: mostly shaped bodies, a few of each kind that must be refused.
const KINDS: Kind[] = [
  ...Array<Kind>(8).fill('schema'),
  ...Array<Kind>(6).fill('example'),
  'json',
  'json',
  'malformed',
  'deep',
  'oversize',
  'schema',
];

const MALFORMED = ['{"a": ', '{a: 1}', "{'a': 1}", '[1, 2,]', '{"a": 1}}', '\u0000', 'nul', '{"a": NaN}', '"\\x41"'];

const PARAM_VALUES = [
  '1',
  '2',
  'CUST001',
  'C1',
  'X1',
  'shop',
  '2026-11-21',
  'USD',
  "'; DROP TABLE x; --",
  '%00',
  '99999999999999999999',
  '-1',
  '%F0%9F%98%80',
];

const draw = <T>(arb: fc.Arbitrary<T>, seed: number): T => fc.sample(arb, { seed, numRuns: 1 })[0]!;

/** The case's body text and what the answer must be beyond "not a 5xx". */
function bodyFor(route: FuzzRoute, kind: Kind, seed: number, limit: number): { text: string; expect?: number } {
  switch (kind) {
    case 'schema':
      // Half the shaped bodies keep most leaves valid, so that hostile text gets past validation.
      return {
        text: JSON.stringify(
          draw(route.body ? fromZod(route.body, seed % 2 ? 'shaped' : 'hostile') : anyValue, seed) ?? null,
        ),
      };
    case 'example': {
      const base = route.example ?? {};
      const fields = paths(base);
      if (fields.length === 0) return { text: JSON.stringify(draw(anyValue, seed) ?? null) };
      const [i, value] = draw(fc.tuple(fc.nat(fields.length - 1), fc.oneof(hostileString, anyValue)), seed);
      return { text: JSON.stringify(withValue(base, fields[i]!, value) ?? null) };
    }
    case 'json':
      return { text: JSON.stringify(draw(fc.jsonValue({ maxDepth: 4 }), seed) ?? null) };
    case 'malformed':
      return { text: draw(fc.constantFrom(...MALFORMED), seed), expect: 400 };
    case 'deep':
      return { text: nestedText(draw(fc.integer({ min: 40, max: 20_000 }), seed)), expect: 400 };
    case 'oversize':
      return { text: JSON.stringify({ note: 'x'.repeat(limit + 1 + (seed % 1000)) }), expect: 413 };
  }
}

/** Runs `runs` cases spread round-robin over the routes. */
export async function fuzzRoutes(ctx: FuzzContext, runs: number, seed: number): Promise<FamilyResult> {
  const result = newResult('routes');
  const started = Date.now();
  const routes = fuzzedRoutes();
  let before = await ctx.probe.read();
  for (let n = 0; n < runs; n++) {
    const route = routes[n % routes.length]!;
    const round = Math.floor(n / routes.length);
    const kind = KINDS[round % KINDS.length]!;
    const caseSeed = (seed + n * 7919) | 0;
    const { text, expect } = bodyFor(route, kind, caseSeed, ctx.bodyLimitBytes);
    const param = draw(fc.constantFrom(...PARAM_VALUES), caseSeed + 1);
    const url = route.path.replace(/\{(\w+)\}/g, param);
    const target = `${route.method} ${route.path}`;
    const report = (problem: string) =>
      result.findings.push({
        family: 'routes',
        target,
        seed,
        path: `${n}:${kind}`,
        problem,
        input: `${url} ${excerpt(text)}`,
      });
    result.cases++;
    if (process.env.FUZZ_TRACE) process.stderr.write(`${n} ${kind} ${target} ${url} ${text.length}\n`);
    let res = await ctx.send(route.method, url, text, route.auth, n);
    if (res.status === 401 && route.auth !== 'none') {
      // A case that took the session away (a key rotated, a user demoted): sign in again and retry once.
      await ctx.renewSessions();
      res = await ctx.send(route.method, url, text, route.auth, n);
    }
    countStatus(result, res.status);
    if (res.status >= 500) report(`answered ${res.status}: ${excerpt(res.body)}`);
    // A deep body may also be longer than a route's own, smaller limit (the sign-in routes'): 413 is right then.
    else if (expect !== undefined && res.status !== expect && !(kind === 'deep' && res.status === 413))
      report(`answered ${res.status}, expected ${expect}: ${excerpt(res.body)}`);
    if (res.status >= 400 && typeof (res.body as { error?: { code?: unknown } } | null)?.error?.code !== 'string') {
      report(`answered ${res.status} without an error code: ${excerpt(res.body)}`);
    }
    const after = await ctx.probe.read();
    if (res.status >= 400) {
      const changed = difference(before, after);
      if (changed) report(`refused with ${res.status} but wrote: ${changed}`);
    }
    before = after;
    ctx.progress('routes', n + 1, runs);
  }
  result.ms = Date.now() - started;
  return result;
}
