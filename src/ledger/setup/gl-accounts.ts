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

/** What may name a GL account and post to it or hand it on, as a refusal names it (singular, plural). */
const USERS = {
  role: ["the entity's account role", "the entity's account roles"],
  default: ["the entity's customer default", "the entity's customer defaults"],
  taxCode: ['tax code', 'tax codes'],
  bankAccount: ['bank account', 'bank accounts'],
  customer: ['customer', 'customers'],
  supplier: ['supplier', 'suppliers'],
  item: ['item', 'items'],
  deferral: ['the deferral schedule of invoice', 'the deferral schedules of invoices'],
} as const;
type UserKind = keyof typeof USERS;

/** The entity's own settings: no endpoint changes them, so an account they name cannot be freed. */
const ENTITY_USERS: ReadonlySet<UserKind> = new Set(['role', 'default']);

/** How many codes of each kind a refusal names before "and N more". */
const NAMED = 5;

/**
 * What names the account and would post to it or give it to what it creates, in the words of a
 * refusal: the entity's account roles (control accounts, VAT, FX, bank charges…) and customer
 * defaults, tax codes, bank accounts, customers and suppliers (default or control account), items,
 * and deferral schedules with releases still to post. Inactive ones count too, since reactivating
 * one does not check its account again. Empty when nothing does.
 */
async function accountUsers(
  db: Queryable,
  entityId: string,
  code: string,
): Promise<{ kind: UserKind; text: string }[]> {
  const { rows } = await db.query<{ kind: UserKind; codes: string[]; n: number }>(
    `SELECT kind, (array_agg(code ORDER BY length(code), code))[1:${NAMED}] AS codes, count(*)::int AS n FROM (
       SELECT 'role' AS kind, r.key AS code FROM entities e CROSS JOIN LATERAL jsonb_each_text(e.account_roles) r
        WHERE e.id = $1 AND r.value = $2
       UNION ALL
       SELECT 'default', d.key FROM entities e CROSS JOIN LATERAL jsonb_each_text(e.customer_defaults) d
        WHERE e.id = $1 AND d.key IN ('defaultGlAccountCode', 'controlGlAccountCode') AND d.value = $2
       UNION ALL SELECT 'taxCode', code FROM tax_codes WHERE entity_id = $1 AND gl_account_code = $2
       UNION ALL SELECT 'bankAccount', code FROM bank_accounts WHERE entity_id = $1 AND gl_account_code = $2
       UNION ALL SELECT 'customer', code FROM customers
        WHERE entity_id = $1 AND (default_gl_account_code = $2 OR control_gl_account_code = $2)
       UNION ALL SELECT 'supplier', code FROM suppliers
        WHERE entity_id = $1 AND (default_gl_account_code = $2 OR control_gl_account_code = $2)
       UNION ALL SELECT 'item', code FROM products WHERE entity_id = $1 AND gl_account_code = $2
       UNION ALL SELECT DISTINCT 'deferral', t.number::text FROM deferral_schedules s
         JOIN transactions t ON t.id = s.transaction_id
        WHERE s.entity_id = $1 AND $2 IN (s.deferred_gl_account_code, s.revenue_gl_account_code)
          AND EXISTS (SELECT 1 FROM deferral_releases r WHERE r.schedule_id = s.id
                       AND NOT EXISTS (SELECT 1 FROM deferral_release_postings p WHERE p.release_id = r.id))
     ) u GROUP BY kind`,
    [entityId, code],
  );
  const found = new Map(rows.map((r) => [r.kind, r]));
  return (Object.keys(USERS) as UserKind[]).flatMap((kind) => {
    const r = found.get(kind);
    if (!r) return [];
    const more = r.n > r.codes.length ? ` and ${r.n - r.codes.length} more` : '';
    return [{ kind, text: `${USERS[kind][r.n === 1 ? 0 : 1]} ${r.codes.join(', ')}${more}` }];
  });
}

/**
 * Guards an account leaving posting use. One that something still names (`accountUsers`) stays an
 * active posting account: a tax code or bank account would post to it regardless, and a customer
 * created from the defaults would be refused for a field its caller never sent. An account with
 * postings never becomes a header account: a header takes no postings, so its posted lines would
 * sit in the trial balance under an account the chart says has none. Deactivating it is the way
 * to close it: its lines stay where they are and nothing new posts to it.
 */
async function checkPostingUse(db: Queryable, entityId: string, before: GlAccount, next: GlAccount): Promise<void> {
  const code = before.code;
  const closing = before.isActive && !next.isActive;
  const heading = before.isPosting && !next.isPosting;
  if (!closing && !heading) return;
  const field = heading ? 'isPosting' : 'isActive';
  const users = await accountUsers(db, entityId, code);
  if (users.length > 0) {
    const becoming = heading ? (closing ? 'an inactive header account' : 'a header account') : 'inactive';
    const what = `GL account ${code} is used by ${users.map((u) => u.text).join(', ')}, so it cannot become ${becoming}`;
    const todo = users.some((u) => ENTITY_USERS.has(u.kind))
      ? "the entity's account roles and customer defaults cannot be changed, so it stays an active posting account"
      : 'give them another active posting account first';
    throw fieldError(field, `${what}; ${todo}`, 'GLACCOUNT_IN_USE');
  }
  if (heading && (await hasJournalLines(db, entityId, code))) {
    throw fieldError(
      'isPosting',
      `GL account ${code} has postings, so it cannot become a header account; send isActive: false to close it instead`,
      'GLACCOUNT_CANNOT_BECOME_HEADER',
    );
  }
}

/**
 * Creates the GL account or updates the fields given. Its type is fixed once it has postings:
 * moving posted amounts between balance sheet and P&L would silently rewrite past reports. While
 * anything uses it, it stays an active posting account, and with postings it never becomes a
 * header account (`checkPostingUse`).
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
  if (before) await checkPostingUse(db, entityId, before, next);
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
