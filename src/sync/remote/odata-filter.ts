import { LosslessNumber } from 'lossless-json';
import { Dec } from '../../domain/money.ts';

/*
 * An OData `$filter` as the platform simulators answer it (MYOB's, OData version 3; Acumatica's
 * contract-based REST API, the OData URI conventions): a field path (`Customer/UID`) compared with
 * a literal by `eq ne lt le gt ge`, conditions joined by `and` (binding first) and `or`, negated by
 * `not`, grouped in parentheses. Literals: 'text' (a quote doubled), guid'…', datetime'…' and
 * datetimeoffset'…', numbers (a trailing m, d: a decimal, a double), true, false, null. Text
 * compares ignoring case, as both platforms' databases do; date-times as instants (one without an
 * offset is UTC, the simulators' time zone); numbers as exact decimals. A field that is absent
 * meets only `ne` (and `eq null`), as SQL's comparison with NULL. Anything else is refused with
 * the reason, for the simulator to answer in its platform's words.
 */

export type ODataRow = Record<string, unknown>;

/** A `$filter` this parser does not take, and why. */
export class ODataFilterError extends Error {}

type Op = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
type Literal =
  | { kind: 'text'; value: string }
  | { kind: 'instant'; ms: number }
  | { kind: 'number'; value: string }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'null' };
type Node = { and: Node[] } | { or: Node[] } | { not: Node } | { path: string[]; op: Op; literal: Literal };

const OPS: readonly Op[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'];
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A date or date-time as an instant; one without an offset is UTC. Null when it is none. */
function instantOf(text: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:\d{2})?)?$/.exec(text.trim());
  if (!m) return null;
  const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00'}${m[3] ?? 'Z'}`);
  return Number.isNaN(ms) ? null : ms;
}

function parse(filter: string): Node {
  let at = 0;
  const fail = (why: string) => new ODataFilterError(why);
  const space = () => {
    while (filter[at] === ' ') at++;
  };
  const word = (w: string): boolean => {
    space();
    const end = at + w.length;
    if (filter.slice(at, end) === w && (end === filter.length || /[\s()]/.test(filter[end]!))) {
      at = end;
      return true;
    }
    return false;
  };
  const quoted = (): string => {
    if (filter[at] !== "'") throw fail(`a quoted literal expected at ${at}`);
    let out = '';
    for (at++; at < filter.length; at++) {
      if (filter[at] !== "'") {
        out += filter[at];
      } else if (filter[at + 1] === "'") {
        out += "'";
        at++;
      } else {
        at++;
        return out;
      }
    }
    throw fail('a literal is not closed');
  };
  const literal = (): Literal => {
    space();
    if (filter[at] === "'") return { kind: 'text', value: quoted() };
    const typed = /^(guid|datetimeoffset|datetime)'/.exec(filter.slice(at));
    if (typed) {
      at += typed[1]!.length;
      const v = quoted();
      if (typed[1] === 'guid') {
        if (!GUID.test(v)) throw fail(`${v} is not a guid`);
        return { kind: 'text', value: v };
      }
      const ms = instantOf(v);
      if (ms === null) throw fail(`${v} is not a ${typed[1]}`);
      return { kind: 'instant', ms };
    }
    const n = /^-?\d+(?:\.\d+)?[mMdD]?(?![A-Za-z0-9])/.exec(filter.slice(at));
    if (n) {
      at += n[0].length;
      return { kind: 'number', value: n[0].replace(/[mMdD]$/, '') };
    }
    if (word('true')) return { kind: 'boolean', value: true };
    if (word('false')) return { kind: 'boolean', value: false };
    if (word('null')) return { kind: 'null' };
    throw fail(`a literal expected at ${at}`);
  };
  const comparison = (): Node => {
    space();
    const p = /^[A-Za-z_][A-Za-z0-9_]*(?:\/[A-Za-z_][A-Za-z0-9_]*)*/.exec(filter.slice(at));
    if (!p) throw fail(`a field expected at ${at}`);
    at += p[0].length;
    const op = OPS.find((o) => word(o));
    if (!op) throw fail(`an operator (${OPS.join(', ')}) expected at ${at}`);
    return { path: p[0].split('/'), op, literal: literal() };
  };
  const unary = (): Node => {
    if (word('not')) return { not: unary() };
    space();
    if (filter[at] !== '(') return comparison();
    at++;
    const inner = or();
    space();
    if (filter[at] !== ')') throw fail(`")" expected at ${at}`);
    at++;
    return inner;
  };
  const and = (): Node => {
    const parts = [unary()];
    while (word('and')) parts.push(unary());
    return parts.length === 1 ? parts[0]! : { and: parts };
  };
  const or = (): Node => {
    const parts = [and()];
    while (word('or')) parts.push(and());
    return parts.length === 1 ? parts[0]! : { or: parts };
  };
  const node = or();
  space();
  if (at !== filter.length) throw fail(`unexpected "${filter.slice(at, at + 20)}"`);
  return node;
}

/** The sign of a comparison, or null when the value is not of the literal's kind. */
function sign(v: unknown, l: Exclude<Literal, { kind: 'null' }>): number | null {
  const order = <T>(a: T, b: T) => (a < b ? -1 : a > b ? 1 : 0);
  const text =
    typeof v === 'string' ? v : v instanceof LosslessNumber ? v.value : typeof v === 'number' ? String(v) : null;
  switch (l.kind) {
    case 'number':
      return text !== null && /^\s*-?\d+(\.\d+)?\s*$/.test(text) ? new Dec(text.trim()).cmp(new Dec(l.value)) : null;
    case 'boolean':
      return typeof v === 'boolean' || text === 'true' || text === 'false' ? order(String(v), String(l.value)) : null;
    case 'instant': {
      const ms = text === null ? null : instantOf(text);
      return ms === null ? null : order(ms, l.ms);
    }
    case 'text':
      return order((text ?? JSON.stringify(v)).toLowerCase(), l.value.toLowerCase());
  }
}

function test(n: Node, row: ODataRow, valueOf: (row: ODataRow, path: string[]) => unknown): boolean {
  if ('and' in n) return n.and.every((x) => test(x, row, valueOf));
  if ('or' in n) return n.or.some((x) => test(x, row, valueOf));
  if ('not' in n) return !test(n.not, row, valueOf);
  const v = valueOf(row, n.path);
  const absent = v === null || v === undefined;
  if (n.literal.kind === 'null') return n.op === 'eq' ? absent : n.op === 'ne' ? !absent : false;
  const s = absent ? null : sign(v, n.literal);
  if (s === null) return n.op === 'ne';
  return { eq: s === 0, ne: s !== 0, lt: s < 0, le: s <= 0, gt: s > 0, ge: s >= 0 }[n.op];
}

/** A field path's value in a plain record (`Customer/UID`). */
export const plainPath = (row: ODataRow, path: string[]): unknown =>
  path.reduce<unknown>((v, key) => (v && typeof v === 'object' ? (v as ODataRow)[key] : undefined), row);

/**
 * The rows a `$filter` keeps, as a predicate over rows whose field values `valueOf` reads (a plain
 * record by default); throws ODataFilterError, with the reason, for a filter it does not take.
 */
export function odataFilter(
  filter: string,
  valueOf: (row: ODataRow, path: string[]) => unknown = plainPath,
): (row: ODataRow) => boolean {
  const node = parse(filter);
  return (row) => test(node, row, valueOf);
}
