import type { Queryable } from '../../db/database.ts';
import { fieldError } from '../../domain/errors.ts';
import { type Saved, createdConcurrently, requireOnCreate } from './upsert.ts';

export const GL_ACCOUNT_TYPES = ['asset', 'liability', 'equity', 'income', 'expense'] as const;
export type GlAccountType = (typeof GL_ACCOUNT_TYPES)[number];

export interface GlAccount {
  code: string;
  name: string;
  type: GlAccountType;
  isPosting: boolean;
  isDepartmental: boolean;
  isActive: boolean;
}

export interface GlAccountInput {
  name?: string | undefined;
  type?: GlAccountType | undefined;
  isPosting?: boolean | undefined;
  isDepartmental?: boolean | undefined;
  isActive?: boolean | undefined;
}

interface GlAccountRow {
  code: string;
  name: string;
  type: GlAccountType;
  is_posting: boolean;
  is_departmental: boolean;
  is_active: boolean;
}

const COLUMNS = 'code, name, type, is_posting, is_departmental, is_active';

function toGlAccount(r: GlAccountRow): GlAccount {
  return {
    code: r.code,
    name: r.name,
    type: r.type,
    isPosting: r.is_posting,
    isDepartmental: r.is_departmental,
    isActive: r.is_active,
  };
}

/** The entity's chart of accounts, ordered by code. */
export async function listGlAccounts(db: Queryable, entityId: string): Promise<GlAccount[]> {
  const { rows } = await db.query<GlAccountRow>(
    `SELECT ${COLUMNS} FROM gl_accounts WHERE entity_id = $1 ORDER BY code`,
    [entityId],
  );
  return rows.map(toGlAccount);
}

/** One GL account of the entity, or null; `lock` holds it until the transaction ends. */
export async function findGlAccount(
  db: Queryable,
  entityId: string,
  code: string,
  options: { lock?: boolean } = {},
): Promise<GlAccount | null> {
  const { rows } = await db.query<GlAccountRow>(
    `SELECT ${COLUMNS} FROM gl_accounts WHERE entity_id = $1 AND code = $2${options.lock ? ' FOR UPDATE' : ''}`,
    [entityId, code],
  );
  return rows[0] ? toGlAccount(rows[0]) : null;
}

async function hasJournalLines(db: Queryable, entityId: string, code: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM journal_lines WHERE entity_id = $1 AND gl_account_code = $2 LIMIT 1', [
    entityId,
    code,
  ]);
  return rows.length > 0;
}

/**
 * Creates the GL account or updates the fields given. Its type is fixed once it has postings:
 * moving posted amounts between balance sheet and P&L would silently rewrite past reports.
 */
export async function saveGlAccount(
  db: Queryable,
  entityId: string,
  code: string,
  input: GlAccountInput,
): Promise<Saved<GlAccount>> {
  const before = await findGlAccount(db, entityId, code, { lock: true });
  let current = before;
  if (!current) {
    const { name, type } = requireOnCreate(input, ['name', 'type']);
    current = { code, name, type, isPosting: true, isDepartmental: false, isActive: true };
  }
  const next: GlAccount = {
    code,
    name: input.name ?? current.name,
    type: input.type ?? current.type,
    isPosting: input.isPosting ?? current.isPosting,
    isDepartmental: input.isDepartmental ?? current.isDepartmental,
    isActive: input.isActive ?? current.isActive,
  };
  if (before && next.type !== before.type && (await hasJournalLines(db, entityId, code))) {
    throw fieldError(
      'type',
      `GL account ${code} has postings; its type cannot change from ${before.type}`,
      'GLACCOUNT_TYPE_CANNOT_CHANGE',
    );
  }
  const values = [entityId, code, next.name, next.type, next.isPosting, next.isDepartmental, next.isActive];
  const { rows } = before
    ? await db.query<GlAccountRow>(
        `UPDATE gl_accounts SET name = $3, type = $4, is_posting = $5, is_departmental = $6, is_active = $7,
                updated_at = now()
          WHERE entity_id = $1 AND code = $2 RETURNING ${COLUMNS}`,
        values,
      )
    : await db.query<GlAccountRow>(
        `INSERT INTO gl_accounts (entity_id, code, name, type, is_posting, is_departmental, is_active)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (entity_id, code) DO NOTHING RETURNING ${COLUMNS}`,
        values,
      );
  if (!rows[0]) throw createdConcurrently(`GL account ${code}`);
  return { created: !before, before, after: toGlAccount(rows[0]) };
}
