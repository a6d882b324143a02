import type { Queryable } from '../../db/database.ts';
import { fieldError } from '../../domain/errors.ts';
import { isKnownCurrency } from '../../domain/currency.ts';
import { requirePostingGlAccount } from './references.ts';
import { type Saved, createdConcurrently, patch, requireOnCreate } from './upsert.ts';

export interface BankAccount {
  code: string;
  name: string;
  glAccountCode: string;
  currency: string;
  isActive: boolean;
}

export interface BankAccountInput {
  name?: string | undefined;
  glAccountCode?: string | undefined;
  currency?: string | undefined;
  isActive?: boolean | undefined;
}

interface BankAccountRow {
  code: string;
  name: string;
  gl_account_code: string;
  currency: string;
  is_active: boolean;
}

const COLUMNS = 'code, name, gl_account_code, currency, is_active';

function toBankAccount(r: BankAccountRow): BankAccount {
  return {
    code: r.code,
    name: r.name,
    glAccountCode: r.gl_account_code,
    currency: r.currency,
    isActive: r.is_active,
  };
}

export async function listBankAccounts(db: Queryable, entityId: string): Promise<BankAccount[]> {
  const { rows } = await db.query<BankAccountRow>(
    `SELECT ${COLUMNS} FROM bank_accounts WHERE entity_id = $1 ORDER BY code`,
    [entityId],
  );
  return rows.map(toBankAccount);
}

export async function findBankAccount(
  db: Queryable,
  entityId: string,
  code: string,
  options: { lock?: boolean } = {},
): Promise<BankAccount | null> {
  const { rows } = await db.query<BankAccountRow>(
    `SELECT ${COLUMNS} FROM bank_accounts WHERE entity_id = $1 AND code = $2${options.lock ? ' FOR UPDATE' : ''}`,
    [entityId, code],
  );
  return rows[0] ? toBankAccount(rows[0]) : null;
}

/**
 * Whether anything was booked through the bank account: a receipt that names it (`details`), or a
 * journal's bank line on its GL account (a refund, a payment provider's fee). Such a line does not
 * name its bank account, so it counts for every bank account on that GL account.
 */
async function hasPostings(db: Queryable, entityId: string, bank: BankAccount): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM transactions WHERE entity_id = $1 AND type = 'SR' AND details->>'bankAccountCode' = $2
     UNION ALL
     SELECT 1 FROM journal_lines l JOIN transactions t ON t.id = l.transaction_id
      WHERE l.entity_id = $1 AND l.gl_account_code = $3 AND l.role = 'bank' AND NOT (t.details ? 'bankAccountCode')
     LIMIT 1`,
    [entityId, bank.code, bank.glAccountCode],
  );
  return rows.length > 0;
}

/**
 * Creates the bank account or updates the fields given; a changed GL account must be a posting
 * one. Its currency is fixed once it has postings, as a customer's is: what it holds was booked in
 * the old one, so relabelling it would misstate the balance and let receipts in the new currency
 * mix with it. The row lock taken first, and the share lock every posting takes on the bank
 * accounts it books to (loadReferences), order a change after any posting in flight: it waits for
 * it and then finds it.
 */
export async function saveBankAccount(
  db: Queryable,
  entityId: string,
  code: string,
  input: BankAccountInput,
): Promise<Saved<BankAccount>> {
  const before = await findBankAccount(db, entityId, code, { lock: true });
  let current = before;
  if (!current) {
    const { name, glAccountCode, currency } = requireOnCreate(input, ['name', 'glAccountCode', 'currency']);
    current = { code, name, glAccountCode, currency, isActive: true };
  }
  const next: BankAccount = {
    code,
    name: patch(input.name, current.name),
    glAccountCode: patch(input.glAccountCode, current.glAccountCode),
    currency: patch(input.currency, current.currency),
    isActive: patch(input.isActive, current.isActive),
  };
  if (!isKnownCurrency(next.currency)) throw fieldError('currency', 'must be an ISO 4217 currency code');
  if (before && next.currency !== before.currency && (await hasPostings(db, entityId, before))) {
    throw fieldError(
      'currency',
      `bank account ${code} has postings in ${before.currency}; its currency cannot change (open another bank account in ${next.currency})`,
      'BANK_ACCOUNT_CURRENCY_CANNOT_CHANGE',
    );
  }
  if (next.glAccountCode !== before?.glAccountCode) {
    await requirePostingGlAccount(db, entityId, next.glAccountCode, 'glAccountCode');
  }
  const values = [entityId, code, next.name, next.glAccountCode, next.currency, next.isActive];
  const { rows } = before
    ? await db.query<BankAccountRow>(
        `UPDATE bank_accounts SET name = $3, gl_account_code = $4, currency = $5, is_active = $6, updated_at = now()
          WHERE entity_id = $1 AND code = $2 RETURNING ${COLUMNS}`,
        values,
      )
    : await db.query<BankAccountRow>(
        `INSERT INTO bank_accounts (entity_id, code, name, gl_account_code, currency, is_active)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (entity_id, code) DO NOTHING RETURNING ${COLUMNS}`,
        values,
      );
  if (!rows[0]) throw createdConcurrently(`bank account ${code}`);
  return { created: !before, before, after: toBankAccount(rows[0]) };
}
