import { alignChangeClock } from './change-clock.ts';
import type { Database, Queryable } from './database.ts';

/*
 * Copies everything one ledgerlink database holds into another, empty, one at the same migration:
 * how an installation on embedded PGlite moves to a PostgreSQL server when it outgrows one machine
 * (`ledgerlink copy-to-postgres`, docs/deploy.md).
 *
 * Every table of the schema but the migrations' own record, the change clock and the report
 * caches (which the target builds again from what is copied), in an order where a row comes after
 * the rows it refers to, each in the order of its primary key. The rows go over as their JSON text
 * (`to_jsonb`), never parsed in JavaScript, so no amount, id or timestamp passes through a float,
 * and into the target through `jsonb_populate_recordset`, which reads each value with its column's
 * own type. The target's triggers are switched off for the copy (the rows were checked when they
 * were written; a lock date, for one, would refuse every document dated before it), its foreign
 * keys stay on, and it is one transaction: a copy that fails leaves the target as it was.
 */

/** Tables not copied: the target has its own, or builds them from the rows copied. */
const NOT_COPIED = new Set([
  'ledgerlink_migrations',
  'change_clock',
  'open_items_cache',
  'open_items_cursors',
  'gl_daily_balances',
  'gl_balances_cursors',
]);

/** Rows per statement. */
const BATCH = 2000;

export interface CopiedTable {
  table: string;
  rows: number;
}

export class CopyRefused extends Error {
  constructor(
    readonly code: 'TARGET_NOT_EMPTY' | 'SCHEMAS_DIFFER',
    message: string,
  ) {
    super(message);
    this.name = 'CopyRefused';
  }
}

interface Table {
  name: string;
  /** Tables it refers to (foreign keys), itself excluded. */
  refers: string[];
  /** Columns to copy (not generated), and the primary key's, with their types. */
  columns: string[];
  key: { name: string; type: string }[];
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The schema's tables with their columns, keys and references. */
async function tables(db: Queryable): Promise<Table[]> {
  const { rows } = await db.query<{
    name: string;
    refers: string[];
    columns: string[];
    key: string[];
    types: string[];
  }>(
    `SELECT c.relname AS name,
            ARRAY(SELECT DISTINCT r.relname::text FROM pg_constraint k JOIN pg_class r ON r.oid = k.confrelid
                   WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confrelid <> c.oid ORDER BY 1) AS refers,
            ARRAY(SELECT a.attname::text FROM pg_attribute a
                   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                   ORDER BY a.attnum) AS columns,
            ARRAY(SELECT a.attname::text FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                   WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.n) AS key,
            ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                   WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.n) AS types
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind = 'r'
      ORDER BY c.relname`,
  );
  return rows
    .filter((r) => !NOT_COPIED.has(r.name))
    .map((r) => ({
      name: r.name,
      refers: r.refers.filter((x) => !NOT_COPIED.has(x)),
      columns: r.columns,
      key: r.key.map((name, i) => ({ name, type: r.types[i]! })),
    }));
}

/** The tables in an order where each comes after those it refers to. */
function inOrder(list: Table[]): Table[] {
  const byName = new Map(list.map((t) => [t.name, t]));
  const out: Table[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const place = (t: Table) => {
    if (placed.has(t.name)) return;
    if (visiting.has(t.name)) throw new Error(`the tables' foreign keys go round in a circle through ${t.name}`);
    visiting.add(t.name);
    for (const r of t.refers) {
      const dep = byName.get(r);
      if (dep) place(dep);
    }
    visiting.delete(t.name);
    placed.add(t.name);
    out.push(t);
  };
  for (const t of list) place(t);
  return out;
}

/** The highest migration each database has applied. */
async function migrationOf(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ id: number | null }>(`SELECT max(id) AS id FROM ledgerlink_migrations`);
  return Number(rows[0]?.id ?? 0);
}

/**
 * Copies every row of `from` into `to` (both migrated to the same version; `to` without any
 * entity). `progress` hears of each table as it goes. Answers the rows copied per table, counted
 * again in the target after the copy.
 */
export async function copyDatabase(
  from: Database,
  to: Database,
  progress: (table: string, copied: number, total: number) => void = () => undefined,
): Promise<CopiedTable[]> {
  const [a, b] = [await migrationOf(from), await migrationOf(to)];
  if (a !== b)
    throw new CopyRefused(
      'SCHEMAS_DIFFER',
      `the two databases are at different migrations (${a} and ${b}): run the same version of ledgerlink on both`,
    );
  const { rows: held } = await to.query<{ n: string }>(`SELECT count(*)::text AS n FROM entities`);
  if (Number(held[0]!.n) > 0)
    throw new CopyRefused(
      'TARGET_NOT_EMPTY',
      `the target already holds ledgerlink data (${held[0]!.n === '1' ? '1 entity' : `${held[0]!.n} entities`}): copy into an empty database, or a schema of its own (LEDGERLINK_DB_SCHEMA)`,
    );
  const source = new Map((await tables(from)).map((t) => [t.name, t]));
  const order = inOrder(await tables(to));
  const missing = order.filter((t) => !source.has(t.name)).map((t) => t.name);
  if (missing.length > 0) throw new CopyRefused('SCHEMAS_DIFFER', `the source has no table ${missing.join(', ')}`);

  const copied = new Map<string, number>();
  await to.transaction(async (tx) => {
    // Rows that were checked as they were written, copied as they are: user triggers off for the
    // copy (allowed to the tables' owner, who ran the migrations), foreign keys on.
    for (const t of order) await tx.query(`ALTER TABLE ${quote(t.name)} DISABLE TRIGGER USER`);
    // Emptied tables a migration filled with defaults of its own (the target has no entity yet).
    for (const t of [...order].reverse()) await tx.query(`DELETE FROM ${quote(t.name)}`);
    for (const t of order) copied.set(t.name, await copyTable(from, tx, t, progress));
    for (const t of order) await tx.query(`ALTER TABLE ${quote(t.name)} ENABLE TRIGGER USER`);
    // Identity and serial columns go on after the highest id copied.
    const { rows: sequences } = await tx.query<{ table: string; column: string; sequence: string }>(
      `SELECT c.relname AS table, a.attname AS column, pg_get_serial_sequence(quote_ident(c.relname), a.attname) AS sequence
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relkind = 'r' AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL`,
    );
    for (const s of sequences)
      await tx.query(
        `SELECT setval($1, coalesce((SELECT max(${quote(s.column)}) FROM ${quote(s.table)}), 0) + 1, false)`,
        [s.sequence],
      );
    // The rows keep the change ids of the source's cluster: the target's change order moves past them.
    await alignChangeClock(tx);
  });

  const out: CopiedTable[] = [];
  for (const t of order) {
    const [x, y] = [copied.get(t.name)!, await count(to, t.name)];
    if (x !== y) throw new Error(`table ${t.name}: ${x} rows in the source, ${y} in the target after the copy`);
    out.push({ table: t.name, rows: y });
  }
  return out;
}

async function count(db: Queryable, table: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quote(table)}`);
  return Number(rows[0]!.n);
}

/**
 * One table, a batch at a time in the order of its primary key (rows referring to earlier rows of
 * it come after them). Answers the rows the source holds (nothing writes to it meanwhile: the data
 * folder takes one process).
 */
async function copyTable(
  from: Queryable,
  to: Queryable,
  t: Table,
  progress: (table: string, copied: number, total: number) => void,
): Promise<number> {
  const total = await count(from, t.name);
  progress(t.name, 0, total);
  if (total === 0) return 0;
  const columns = t.columns.map(quote).join(', ');
  const insert = `INSERT INTO ${quote(t.name)} (${columns}) OVERRIDING SYSTEM VALUE
    SELECT ${columns} FROM jsonb_populate_recordset(NULL::${quote(t.name)}, $1::jsonb)`;
  const keyList = t.key.map((k) => quote(k.name)).join(', ');
  const keyText = t.key.map((k, i) => `${quote(k.name)}::text AS k${i}`).join(', ');
  const after = t.key.map((k, i) => `$${i + 1}::${k.type}`).join(', ');
  let last: string[] | null = null;
  let copied = 0;
  for (;;) {
    let rows: Record<string, string>[];
    if (t.key.length === 0) {
      // No primary key: a small table (none of the ledger's), read at once.
      rows = (await from.query<Record<string, string>>(`SELECT to_jsonb(x)::text AS row FROM ${quote(t.name)} x`)).rows;
    } else {
      rows = (
        await from.query<Record<string, string>>(
          `SELECT to_jsonb(x)::text AS row, ${keyText} FROM ${quote(t.name)} x
            ${last ? `WHERE (${keyList}) > (${after})` : ''} ORDER BY ${keyList} LIMIT ${BATCH}`,
          last ?? [],
        )
      ).rows;
    }
    if (rows.length === 0) break;
    await to.query(insert, [`[${rows.map((r) => r.row).join(',')}]`]);
    copied += rows.length;
    progress(t.name, copied, total);
    if (t.key.length === 0 || rows.length < BATCH) break;
    const end = rows.at(-1)!;
    last = t.key.map((_, i) => end[`k${i}`]!);
  }
  if (copied !== total) throw new Error(`table ${t.name}: ${total} rows in the source, ${copied} read to copy`);
  return copied;
}
