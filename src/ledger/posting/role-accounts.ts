import type { Queryable } from '../../db/database.ts';
import { DomainError } from '../../domain/errors.ts';
import type { AccountRoles } from '../chart.ts';

/**
 * The GL accounts the ledger posts to by itself, not named by the request: the entity's account
 * roles (discount allowed, exchange gains and losses, unrealised exchange differences…), a
 * deferral schedule's deferred and revenue accounts, the accounts of a discount a DX reverses.
 * Setup refuses to close an account a role or a pending schedule uses (saveGlAccount), but data
 * from before that rule, or an account a schedule stopped using before a back-dated credit note
 * reverses a release, may be inactive or a header account: a posting is then refused as a journal
 * line on it is (GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST), naming the account, why the
 * posting goes there and what to do, and nothing is posted.
 */
export interface AccountUse {
  glAccountCode: string;
  /** The request field the posting comes from. */
  field: string;
  /** What posts to the account, e.g. "The settlement discount". */
  what: string;
  /** Why it goes to that account, e.g. "the entity's discountAllowed account". */
  why: string;
  /** What to do besides reopening the account (may be empty). */
  otherwise: string;
}

/** A use of the account an entity's role names. */
export function roleUse(roles: AccountRoles, role: keyof AccountRoles, field: string, what: string): AccountUse {
  return {
    glAccountCode: roles[role],
    field,
    what,
    why: `the entity's ${role} account`,
    otherwise: "the entity's account roles cannot be changed",
  };
}

/** The refusal of a posting to an account that is unknown, inactive or a header account. */
export function closedAccountError(use: AccountUse): DomainError {
  return new DomainError('GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', `${use.field}: ${closedAccountMessage(use)}`, [
    { field: use.field, message: closedAccountProblem(use) },
  ]);
}

/** What is wrong: the account, what posts to it and why. */
function closedAccountProblem(use: AccountUse): string {
  return `${use.what} posts to GL account ${use.glAccountCode} (${use.why}), which is inactive or a header account`;
}

/** What is wrong and what to do, without the field (a release's reason, say). */
export function closedAccountMessage(use: AccountUse): string {
  const code = use.glAccountCode;
  const fix =
    `make ${code} an active posting account again (PUT /v1/gl-accounts/${code} {"isActive": true, "isPosting": true})` +
    (use.otherwise ? `; ${use.otherwise}` : '');
  return `${closedAccountProblem(use)}; ${fix}`;
}

/**
 * Of these GL accounts, those that are not active posting accounts (unknown, inactive or header).
 * The open ones are key-share-locked, in code order, as loadReferences locks the accounts it
 * reads: saveGlAccount (FOR UPDATE) then waits for the posting and sees its lines, instead of
 * closing the account between this check and the lines.
 */
export async function closedAccounts(db: Queryable, entityId: string, codes: Iterable<string>): Promise<Set<string>> {
  const list = [...new Set(codes)];
  if (list.length === 0) return new Set();
  const { rows } = await db.query<{ code: string }>(
    `WITH open AS (
       SELECT g.code FROM gl_accounts g
        WHERE g.entity_id = $1 AND g.code = ANY($2::text[]) AND g.is_posting AND g.is_active
        ORDER BY g.code FOR KEY SHARE
     )
     SELECT c.code FROM unnest($2::text[]) AS c(code) WHERE c.code NOT IN (SELECT code FROM open)`,
    [entityId, list],
  );
  return new Set(rows.map((r) => r.code));
}

/** Refuses the posting when one of the accounts it uses is not an active posting account (the first one named). */
export async function requireOpenAccounts(db: Queryable, entityId: string, uses: readonly AccountUse[]): Promise<void> {
  const closed = await closedAccounts(
    db,
    entityId,
    uses.map((u) => u.glAccountCode),
  );
  const use = uses.find((u) => closed.has(u.glAccountCode));
  if (use) throw closedAccountError(use);
}
