import { LosslessNumber } from 'lossless-json';

/*
 * The `$filter` of the contract-based REST API as the simulator (simulator.ts) answers it, in the
 * OData URI conventions Acumatica documents: a field compared with a literal (`eq`, `ne`, `gt`,
 * `ge`, `lt`, `le`), conditions joined by `and` (binding tighter) and `or`, grouped in
 * parentheses, negated by `not`. Literals: 'text' (a quote doubled), datetimeoffset'…' and
 * datetime'…', numbers, true, false, null. A field is one of the record, or of a linked entity
 * (`MainContact/Email`). Text compares as the database does, ignoring case; dates as instants;
 * numbers as exact decimals. Anything else is not parsed, and the simulator answers 400.
 */

export type Row = Record<string, unknown>;
type Cmp = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
type Literal =
  | { kind: 'text'; value: string }
  | { kind: 'date'; ms: number }
  | { kind: 'number'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'null' };
type Node =
  | { op: 'and' | 'or'; left: Node; right: Node }
  | { op: 'not'; arg: Node }
  | { op: 'cmp'; cmp: Cmp; field: string; literal: Literal };

const TOKEN =
  /\s*(?:(\()|(\))|(datetimeoffset|datetime)'([^']*)'|'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?)[mMdD]?(?![A-Za-z])|([A-Za-z_][A-Za-z0-9_]*(?:\/[A-Za-z_][A-Za-z0-9_]*)*))/y;
type Token = { t: '(' | ')' } | { t: 'lit'; literal: Literal } | { t: 'word'; word: string };

function tokens(text: string): Token[] | null {
  const out: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break;
    const m = TOKEN.exec(text);
    if (!m) return null;
    if (m[1]) out.push({ t: '(' });
    else if (m[2]) out.push({ t: ')' });
    else if (m[3]) {
      // A datetime without an offset is taken as UTC, the simulated instance's time zone.
      const raw = m[3] === 'datetime' && !/(Z|[+-]\d\d:\d\d)$/.test(m[4]!) ? `${m[4]}Z` : m[4]!;
      const ms = Date.parse(raw);
      if (Number.isNaN(ms)) return null;
      out.push({ t: 'lit', literal: { kind: 'date', ms } });
    } else if (m[5] !== undefined) out.push({ t: 'lit', literal: { kind: 'text', value: m[5].replace(/''/g, "'") } });
    else if (m[6]) out.push({ t: 'lit', literal: { kind: 'number', value: m[6] } });
    else if (m[7] === 'true' || m[7] === 'false')
      out.push({ t: 'lit', literal: { kind: 'bool', value: m[7] === 'true' } });
    else if (m[7] === 'null') out.push({ t: 'lit', literal: { kind: 'null' } });
    else out.push({ t: 'word', word: m[7]! });
  }
  return out;
}

const CMPS = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);

function parse(list: Token[]): Node | null {
  let at = 0;
  const word = (w: string) => {
    const x = list[at];
    return x?.t === 'word' && x.word === w ? (at++, true) : false;
  };
  function or(): Node | null {
    let left = and();
    while (left && word('or')) {
      const right = and();
      left = right ? { op: 'or', left, right } : null;
    }
    return left;
  }
  function and(): Node | null {
    let left = unary();
    while (left && word('and')) {
      const right = unary();
      left = right ? { op: 'and', left, right } : null;
    }
    return left;
  }
  function unary(): Node | null {
    if (word('not')) {
      const arg = unary();
      return arg ? { op: 'not', arg } : null;
    }
    const x = list[at];
    if (x?.t === '(') {
      at++;
      const inner = or();
      if (!inner || list[at]?.t !== ')') return null;
      at++;
      return inner;
    }
    const field = list[at];
    const cmp = list[at + 1];
    const lit = list[at + 2];
    if (field?.t !== 'word' || cmp?.t !== 'word' || !CMPS.has(cmp.word) || lit?.t !== 'lit') return null;
    at += 3;
    return { op: 'cmp', cmp: cmp.word as Cmp, field: field.word, literal: lit.literal };
  }
  const node = or();
  return node && at === list.length ? node : null;
}

/** A field's value as text, '' when absent: `{"value": …}` of the record or of a linked entity. */
function valueOf(row: Row, path: string): string {
  let node: unknown = row;
  for (const part of path.split('/')) node = node && typeof node === 'object' ? (node as Row)[part] : undefined;
  const x = node && typeof node === 'object' ? (node as { value?: unknown }).value : undefined;
  return typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean' || x instanceof LosslessNumber
    ? String(x)
    : '';
}

/** a − b of two decimal texts, as a sign, without a binary float. */
function compareDecimal(a: string, b: string): number | null {
  const parts = (x: string) => /^(-?)(\d+)(?:\.(\d+))?$/.exec(x.trim());
  const [pa, pb] = [parts(a), parts(b)];
  if (!pa || !pb) return null;
  const scale = Math.max((pa[3] ?? '').length, (pb[3] ?? '').length);
  const int = (p: RegExpExecArray) => BigInt(`${p[1]}${p[2]}${(p[3] ?? '').padEnd(scale, '0')}`);
  const d = int(pa) - int(pb);
  return d === 0n ? 0 : d < 0n ? -1 : 1;
}

function order(cmp: Cmp, sign: number): boolean {
  if (cmp === 'eq') return sign === 0;
  if (cmp === 'ne') return sign !== 0;
  if (cmp === 'gt') return sign > 0;
  if (cmp === 'ge') return sign >= 0;
  if (cmp === 'lt') return sign < 0;
  return sign <= 0;
}

function test(node: Node, row: Row): boolean {
  switch (node.op) {
    case 'and':
      return test(node.left, row) && test(node.right, row);
    case 'or':
      return test(node.left, row) || test(node.right, row);
    case 'not':
      return !test(node.arg, row);
    case 'cmp':
      return compare(node, row);
  }
}

function compare(node: Extract<Node, { op: 'cmp' }>, row: Row): boolean {
  const value = valueOf(row, node.field);
  const l = node.literal;
  if (l.kind === 'null') return node.cmp === 'eq' ? value === '' : node.cmp === 'ne' ? value !== '' : false;
  // A condition on an empty field is false, as SQL's comparison with NULL is.
  if (value === '') return node.cmp === 'ne';
  if (l.kind === 'text') {
    const [a, b] = [value.toLowerCase(), l.value.toLowerCase()];
    return order(node.cmp, a === b ? 0 : a < b ? -1 : 1);
  }
  if (l.kind === 'bool') return order(node.cmp, value === String(l.value) ? 0 : 1) && /^(eq|ne)$/.test(node.cmp);
  if (l.kind === 'date') {
    const ms = Date.parse(value);
    return !Number.isNaN(ms) && order(node.cmp, Math.sign(ms - l.ms));
  }
  const sign = compareDecimal(value, l.value);
  return sign !== null && order(node.cmp, sign);
}

/** The rows a `$filter` keeps, as a predicate; null when it does not parse. */
export function parseFilter(filter: string): ((row: Row) => boolean) | null {
  const list = tokens(filter);
  const node = list && list.length > 0 ? parse(list) : null;
  return node ? (row) => test(node, row) : null;
}
