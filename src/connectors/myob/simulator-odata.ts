import { LosslessNumber } from 'lossless-json';
import { Dec } from '../../domain/money.ts';
import { MyobRefusal } from './simulator-store.ts';

/*
 * The simulated MYOB's `$filter`: the part of OData version 3 (the version MYOB's API speaks,
 * apisupport.myob.com "Digging into ODATA filters") that lists are filtered by here: comparisons
 * `eq ne lt le gt ge` of a field path (`Customer/UID`) with a literal (`'text'`, `guid'…'`,
 * `datetime'2026-11-30T00:00:00'`, a number, `true`, `false`, `null`), joined by `and` (binding
 * first) and `or`, grouped in parentheses. Text is compared without regard to case, as MYOB's
 * server does; date-times as `YYYY-MM-DDTHH:MM:SS`. Anything else is refused, 400 `InvalidFilter`.
 */

type Obj = Record<string, unknown>;
type Literal =
  | { kind: 'text'; value: string }
  | { kind: 'datetime'; value: string }
  | { kind: 'number'; value: string }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'null' };
type Op = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
type Node = { and: Node[] } | { or: Node[] } | { path: string[]; op: Op; literal: Literal };

const refuse = (filter: string, why: string) =>
  new MyobRefusal(400, 'InvalidFilter', `The $filter "${filter}" is not supported: ${why}`);

/** A date-time literal as MYOB's dates are written: `YYYY-MM-DDTHH:MM:SS`. */
function dateTimeOf(v: string): string | null {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2})?(?:\.\d+)?)?$/.exec(v);
  return m ? `${m[1]}T${m[2] ?? '00:00'}${m[3] ?? ':00'}` : null;
}

/** Parses a `$filter`; throws MYOB's refusal for what it does not take. */
export function parseFilter(filter: string): Node {
  let at = 0;
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
    if (filter[at] !== "'") throw refuse(filter, `a quoted literal expected at ${at}`);
    let out = '';
    for (at++; at < filter.length; at++) {
      if (filter[at] === "'") {
        if (filter[at + 1] === "'") {
          out += "'";
          at++;
        } else {
          at++;
          return out;
        }
      } else out += filter[at];
    }
    throw refuse(filter, 'a literal is not closed');
  };
  const literal = (): Literal => {
    space();
    if (filter[at] === "'") return { kind: 'text', value: quoted() };
    const m = /^(guid|datetime)'/.exec(filter.slice(at));
    if (m) {
      at += m[1]!.length;
      const v = quoted();
      if (m[1] === 'guid') {
        if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v))
          throw refuse(filter, `${v} is not a guid`);
        return { kind: 'text', value: v };
      }
      const d = dateTimeOf(v);
      if (!d) throw refuse(filter, `${v} is not a datetime`);
      return { kind: 'datetime', value: d };
    }
    const n = /^-?\d+(?:\.\d+)?[mMdD]?/.exec(filter.slice(at));
    if (n) {
      at += n[0].length;
      return { kind: 'number', value: n[0].replace(/[mMdD]$/, '') };
    }
    if (word('true')) return { kind: 'boolean', value: true };
    if (word('false')) return { kind: 'boolean', value: false };
    if (word('null')) return { kind: 'null' };
    throw refuse(filter, `a literal expected at ${at}`);
  };
  const comparison = (): Node => {
    space();
    const p = /^[A-Za-z][A-Za-z0-9]*(?:\/[A-Za-z][A-Za-z0-9]*)*/.exec(filter.slice(at));
    if (!p) throw refuse(filter, `a field expected at ${at}`);
    at += p[0].length;
    const op = (['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const).find((o) => word(o));
    if (!op) throw refuse(filter, `an operator (eq, ne, lt, le, gt, ge) expected at ${at}`);
    return { path: p[0].split('/'), op, literal: literal() };
  };
  const unary = (): Node => {
    space();
    if (filter[at] !== '(') return comparison();
    at++;
    const inner = or();
    space();
    if (filter[at] !== ')') throw refuse(filter, `")" expected at ${at}`);
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
  if (at !== filter.length) throw refuse(filter, `unexpected "${filter.slice(at, at + 20)}"`);
  return node;
}

function compare(a: string | Dec | boolean, b: string | Dec | boolean): number {
  if (a instanceof Dec && b instanceof Dec) return a.cmp(b);
  const [x, y] = [String(a), String(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

function test(record: Obj, n: Node): boolean {
  if ('and' in n) return n.and.every((x) => test(record, x));
  if ('or' in n) return n.or.some((x) => test(record, x));
  let v: unknown = record;
  for (const key of n.path) v = (v as Obj | null | undefined)?.[key];
  const l = n.literal;
  if (l.kind === 'null') return (v === null || v === undefined) === (n.op === 'eq');
  if (v === null || v === undefined) return n.op === 'ne';
  let left: string | Dec | boolean;
  let right: string | Dec | boolean;
  if (l.kind === 'number') {
    const t = v instanceof LosslessNumber ? v.value : typeof v === 'number' ? String(v) : null;
    if (t === null) return n.op === 'ne';
    [left, right] = [new Dec(t), new Dec(l.value)];
  } else if (l.kind === 'boolean') {
    if (typeof v !== 'boolean') return n.op === 'ne';
    [left, right] = [v, l.value];
  } else if (l.kind === 'datetime') {
    const d = typeof v === 'string' ? dateTimeOf(v) : null;
    if (d === null) return n.op === 'ne';
    [left, right] = [d, l.value];
  } else {
    const t = typeof v === 'string' ? v : v instanceof LosslessNumber ? v.value : JSON.stringify(v);
    [left, right] = [t.toLowerCase(), l.value.toLowerCase()];
  }
  const c = compare(left, right);
  return { eq: c === 0, ne: c !== 0, lt: c < 0, le: c <= 0, gt: c > 0, ge: c >= 0 }[n.op];
}

/** Which records (as the list shows them) the `$filter` keeps; none keeps every one. Refused when it does not parse. */
export function matcher(filter: string | null): (record: Obj) => boolean {
  if (!filter) return () => true;
  const node = parseFilter(filter);
  return (record) => test(record, node);
}
