/*
 * The subset of QuickBooks Online's query language the simulator answers:
 *   SELECT * | COUNT(*) FROM <Entity> [WHERE <cond> [AND <cond>]…] [ORDERBY <field> [ASC|DESC]]
 *   [STARTPOSITION n] [MAXRESULTS n]
 * with conditions `<field> = | != | < | > | <= | >= | LIKE '<text>'` and `<field> IN ('a', 'b')`.
 * Fields may be dotted (`MetaData.LastUpdatedTime`, `CustomerRef`, which compares the `value`).
 * Anything else is refused with the QueryParserError QuickBooks answers (code 4000).
 */

export interface Condition {
  field: string;
  op: '=' | '!=' | '<' | '>' | '<=' | '>=' | 'LIKE' | 'IN';
  values: string[];
}

export interface ParsedQuery {
  entity: string;
  count: boolean;
  where: Condition[];
  orderBy: { field: string; desc: boolean } | null;
  start: number;
  max: number;
}

export class QueryError extends Error {}

const TOKEN =
  /\s*(?:('(?:[^'\\]|\\.|'')*')|(\(|\)|,|\*|<=|>=|!=|=|<|>)|([A-Za-z_][\w.]*(?:\(\*\))?)|(-?\d+(?:\.\d+)?))/y;

function tokens(text: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (!m) throw new QueryError(`Error parsing query near "${text.slice(at, at + 20)}"`);
    out.push(m[1] ?? m[2] ?? m[3] ?? m[4]!);
  }
  return out;
}

const unquote = (t: string) =>
  t.startsWith("'") ? t.slice(1, -1).replace(/\\'/g, "'").replace(/''/g, "'").replace(/\\\\/g, '\\') : t;

/** Parses one query; throws QueryError with what QuickBooks would say. */
export function parseQuery(text: string): ParsedQuery {
  const t = tokens(text);
  let i = 0;
  const next = () => t[i++];
  const peek = () => t[i]?.toUpperCase();
  const expect = (word: string) => {
    const got = next();
    if (got?.toUpperCase() !== word) throw new QueryError(`Error parsing query: expected ${word}, got ${got ?? 'end'}`);
  };
  expect('SELECT');
  const what = next();
  const count = what?.toUpperCase() === 'COUNT(*)';
  if (!count && what !== '*')
    throw new QueryError('Error parsing query: only SELECT * and SELECT COUNT(*) are supported');
  expect('FROM');
  const entity = next();
  if (!entity) throw new QueryError('Error parsing query: no entity');
  const q: ParsedQuery = { entity, count, where: [], orderBy: null, start: 1, max: 100 };
  if (peek() === 'WHERE') {
    next();
    for (;;) {
      const field = next();
      const rawOp = next()?.toUpperCase();
      if (!field || !rawOp) throw new QueryError('Error parsing query: incomplete condition');
      if (rawOp === 'IN') {
        if (next() !== '(') throw new QueryError('Error parsing query: IN without (');
        const values: string[] = [];
        for (;;) {
          const v = next();
          if (v === undefined) throw new QueryError('Error parsing query: unclosed IN');
          values.push(unquote(v));
          const sep = next();
          if (sep === ')') break;
          if (sep !== ',') throw new QueryError('Error parsing query: expected , or )');
        }
        q.where.push({ field, op: 'IN', values });
      } else if (['=', '!=', '<', '>', '<=', '>=', 'LIKE'].includes(rawOp)) {
        const v = next();
        if (v === undefined) throw new QueryError('Error parsing query: condition without value');
        q.where.push({ field, op: rawOp as Condition['op'], values: [unquote(v)] });
      } else throw new QueryError(`Error parsing query: operator ${rawOp} is not supported`);
      if (peek() !== 'AND') break;
      next();
    }
  }
  while (i < t.length) {
    const word = next()!.toUpperCase();
    if (word === 'ORDERBY' || word === 'ORDER') {
      if (word === 'ORDER') expect('BY');
      const field = next()!;
      const dir = peek();
      if (dir === 'ASC' || dir === 'DESC') next();
      q.orderBy = { field, desc: dir === 'DESC' };
    } else if (word === 'STARTPOSITION') q.start = Number(next());
    else if (word === 'MAXRESULTS') q.max = Math.min(1000, Number(next()));
    else throw new QueryError(`Error parsing query near ${word}`);
  }
  return q;
}

/** A field's value for comparisons: a reference compares by its `value`. */
export function fieldValue(entity: Record<string, unknown>, field: string): string | undefined {
  let v: unknown = entity;
  for (const part of field.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
  if (v && typeof v === 'object' && 'value' in v) v = v.value;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  // A LosslessNumber (an amount as parsed): its digits.
  if (v && typeof v === 'object' && 'isLosslessNumber' in v) return String((v as unknown as { value: string }).value);
  return undefined;
}

function compare(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether an entity meets every condition (text compared case-insensitively, as QuickBooks does). */
export function matches(entity: Record<string, unknown>, where: Condition[]): boolean {
  return where.every((c) => {
    const v = fieldValue(entity, c.field);
    if (v === undefined) return c.op === '!=';
    const lower = v.toLowerCase();
    switch (c.op) {
      case '=':
        return lower === c.values[0]!.toLowerCase();
      case '!=':
        return lower !== c.values[0]!.toLowerCase();
      case 'IN':
        return c.values.some((x) => x.toLowerCase() === lower);
      case 'LIKE': {
        const re = new RegExp(
          '^' +
            c.values[0]!.toLowerCase()
              .split('%')
              .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
              .join('.*') +
            '$',
          's',
        );
        return re.test(lower);
      }
      case '<':
        return compare(v, c.values[0]!) < 0;
      case '>':
        return compare(v, c.values[0]!) > 0;
      case '<=':
        return compare(v, c.values[0]!) <= 0;
      case '>=':
        return compare(v, c.values[0]!) >= 0;
    }
    return false;
  });
}
