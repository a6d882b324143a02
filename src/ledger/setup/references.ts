import type { Queryable } from '../../db/database.ts';
import { fieldError } from '../../domain/errors.ts';

/**
 * Checks that references to setup data can be posted to. `field` names the input field in the
 * error so the caller sees which of several references failed.
 *
 * The GL account is share-locked until the caller's transaction ends: saveGlAccount locks it to
 * close it and then looks for what uses it, so a tax code, bank account or customer saved onto it
 * at the same moment is either seen there or waits and finds it closed, never left pointing at a
 * closed account.
 */
export async function requirePostingGlAccount(
  db: Queryable,
  entityId: string,
  code: string,
  field: string,
  control: 'refuse' | 'require' = 'refuse',
): Promise<void> {
  const { rows } = await db.query<{ is_control: boolean }>(
    'SELECT is_control FROM gl_accounts WHERE entity_id = $1 AND code = $2 AND is_posting AND is_active FOR SHARE',
    [entityId, code],
  );
  if (rows.length === 0) {
    throw fieldError(
      field,
      `GL account ${code} does not exist, is inactive or is a header account`,
      'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
    );
  }
  const isControl = rows[0]!.is_control;
  if (control === 'refuse' && isControl) {
    throw fieldError(
      field,
      `GL account ${code} is a control account; only the customer side of a document posts to it`,
      'GLACCOUNT_IS_CONTROL_ACCOUNT',
    );
  }
  if (control === 'require' && !isControl) {
    throw fieldError(
      field,
      `GL account ${code} is not a control account; mark it isControl first`,
      'GLACCOUNT_IS_NOT_CONTROL_ACCOUNT',
    );
  }
}

export async function requireActiveTaxCode(
  db: Queryable,
  entityId: string,
  code: string,
  field: string,
): Promise<void> {
  const { rows } = await db.query('SELECT 1 FROM tax_codes WHERE entity_id = $1 AND code = $2 AND is_active', [
    entityId,
    code,
  ]);
  if (rows.length === 0) {
    throw fieldError(field, `tax code ${code} does not exist or is inactive`, 'TAX_CODE_DOES_NOT_EXIST');
  }
}

export async function requireActiveDepartment(
  db: Queryable,
  entityId: string,
  id: string,
  field: string,
): Promise<void> {
  const { rows } = await db.query('SELECT 1 FROM departments WHERE entity_id = $1 AND id = $2 AND is_active', [
    entityId,
    id,
  ]);
  if (rows.length === 0) {
    throw fieldError(field, `department ${id} does not exist or is inactive`, 'DEPARTMENT_DOES_NOT_EXIST');
  }
}
