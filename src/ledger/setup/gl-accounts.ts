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
  /** A control account (debtors control): only the customer side of documents posts to it. */
  isControl: boolean;
  isActive: boolean;
}

export interface GlAccountInput {
  name?: string | undefined;
  type?: GlAccountType | undefined;
  isPosting?: boolean | undefined;
  isDepartmental?: boolean | undefined;
  isControl?: boolean | undefined;
  isActive?: boolean | undefined;
}

interface GlAccountRow {
  code: string;
  name: string;
  type: GlAccountType;
  is_posting: boolean;
  is_departmental: boolean;
  is_control: boolean;
  is_active: boolean;
}

const COLUMNS = 'code, name, type, is_posting, is_departmental, is_control, is_active';

function toGlAccount(r: GlAccountRow): GlAccount {
  return {
    code: r.code,
    name: r.name,
    type: r.type,
    isPosting: r.is_posting,
    isDepartmental: r.is_departmental,
    isControl: r.is_control,
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
 * Guards the control flag. A control account in use (the debtors-control role, or a customer's
 * control account) stays one; one with a balance stays active, since deactivating it would hide
 * what customers owe. An account becomes a control account only while nothing but control lines
 * and no tax code or bank account uses it, so the control account keeps agreeing with the open items.
 */
async function checkControlChange(db: Queryable, entityId: string, before: GlAccount, next: GlAccount): Promise<void> {
  const code = before.code;
  const inUse = (message: string) => fieldError('isControl', message, 'GLACCOUNT_CONTROL_ACCOUNT_IN_USE');
  if (before.isControl && !next.isControl) {
    const { rows } = await db.query(
      `SELECT 1 FROM entities WHERE id = $1 AND $2 IN (account_roles->>'debtorsControl', account_roles->>'creditorsControl')
       UNION ALL SELECT 1 FROM customers WHERE entity_id = $1 AND control_gl_account_code = $2
       UNION ALL SELECT 1 FROM suppliers WHERE entity_id = $1 AND control_gl_account_code = $2 LIMIT 1`,
      [entityId, code],
    );
    if (rows.length > 0)
      throw inUse(
        `GL account ${code} is the debtors or creditors control account, or a customer's or supplier's control account`,
      );
  }
  if (!before.isControl && next.isControl) {
    const { rows } = await db.query(
      `SELECT 1 FROM journal_lines WHERE entity_id = $1 AND gl_account_code = $2
       UNION ALL SELECT 1 FROM tax_codes WHERE entity_id = $1 AND gl_account_code = $2
       UNION ALL SELECT 1 FROM bank_accounts WHERE entity_id = $1 AND gl_account_code = $2 LIMIT 1`,
      [entityId, code],
    );
    if (rows.length > 0) throw inUse(`GL account ${code} has postings or is used by a tax code or bank account`);
  }
  if (next.isControl && before.isActive && !next.isActive) {
    const { rows } = await db.query<{ balance: string }>(
      `SELECT coalesce(sum(base_amount), 0)::text AS balance FROM journal_lines WHERE entity_id = $1 AND gl_account_code = $2`,
      [entityId, code],
    );
    if (rows[0]!.balance !== '0') {
      throw fieldError(
        'isActive',
        `control account ${code} has a balance of ${rows[0]!.balance} minor units; it cannot be deactivated`,
        'GLACCOUNT_CONTROL_ACCOUNT_IN_USE',
      );
    }
  }
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
    current = { code, name, type, isPosting: true, isDepartmental: false, isControl: false, isActive: true };
  }
  const next: GlAccount = {
    code,
    name: input.name ?? current.name,
    type: input.type ?? current.type,
    isPosting: input.isPosting ?? current.isPosting,
    isDepartmental: input.isDepartmental ?? current.isDepartmental,
    isControl: input.isControl ?? current.isControl,
    isActive: input.isActive ?? current.isActive,
  };
  if (before) await checkControlChange(db, entityId, before, next);
  if (before && next.type !== before.type && (await hasJournalLines(db, entityId, code))) {
    throw fieldError(
      'type',
      `GL account ${code} has postings; its type cannot change from ${before.type}`,
      'GLACCOUNT_TYPE_CANNOT_CHANGE',
    );
  }
  const values = [
    entityId,
    code,
    next.name,
    next.type,
    next.isPosting,
    next.isDepartmental,
    next.isActive,
    next.isControl,
  ];
  const { rows } = before
    ? await db.query<GlAccountRow>(
        `UPDATE gl_accounts SET name = $3, type = $4, is_posting = $5, is_departmental = $6, is_active = $7,
                is_control = $8, updated_at = now()
          WHERE entity_id = $1 AND code = $2 RETURNING ${COLUMNS}`,
        values,
      )
    : await db.query<GlAccountRow>(
        `INSERT INTO gl_accounts (entity_id, code, name, type, is_posting, is_departmental, is_active, is_control)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (entity_id, code) DO NOTHING RETURNING ${COLUMNS}`,
        values,
      );
  if (!rows[0]) throw createdConcurrently(`GL account ${code}`);
  return { created: !before, before, after: toGlAccount(rows[0]) };
}
