import type { Queryable } from '../db/database.ts';
import { DomainError, type FieldProblem } from '../domain/errors.ts';
import type { PipelineMapping } from './pipelines.ts';

interface Reference {
  field: string;
  kind: 'glAccount' | 'taxCode' | 'department' | 'bankAccount';
  code: string;
}

const WHAT: Record<Reference['kind'], string> = {
  glAccount: 'active posting GL account (not a control account)',
  taxCode: 'active tax code',
  department: 'active department',
  bankAccount: 'active bank account',
};

function references(mapping: PipelineMapping, at: string): Reference[] {
  const field = (...path: string[]) => [at, 'mapping', ...path].filter(Boolean).join('.');
  const refs: Reference[] = [];
  for (const [product, m] of Object.entries(mapping.products ?? {})) {
    if (m.glAccountCode)
      refs.push({ field: field('products', product, 'glAccountCode'), kind: 'glAccount', code: m.glAccountCode });
    if (m.taxCode) refs.push({ field: field('products', product, 'taxCode'), kind: 'taxCode', code: m.taxCode });
    if (m.departmentId)
      refs.push({ field: field('products', product, 'departmentId'), kind: 'department', code: m.departmentId });
  }
  for (const [rate, code] of Object.entries(mapping.vatRates ?? {}))
    refs.push({ field: field('vatRates', rate), kind: 'taxCode', code });
  if (mapping.defaultGlAccountCode)
    refs.push({ field: field('defaultGlAccountCode'), kind: 'glAccount', code: mapping.defaultGlAccountCode });
  if (mapping.defaultDepartmentId)
    refs.push({ field: field('defaultDepartmentId'), kind: 'department', code: mapping.defaultDepartmentId });
  if (mapping.bankAccountCode)
    refs.push({ field: field('bankAccountCode'), kind: 'bankAccount', code: mapping.bankAccountCode });
  return refs;
}

/**
 * The mapping's references that the entity's ledger does not have: GL accounts, tax codes,
 * departments and bank accounts. Only a pipeline into the embedded ledger is checked; a remote
 * target's codes are its own. `at` is where the pipeline sits in what was sent (`body`, `pipelines[2]`).
 * The API and ledgerlink.yaml both refuse with these, so a typo is caught when it is saved rather
 * than parking every record of the first run.
 */
export async function mappingProblems(
  db: Queryable,
  entity: { id: string; code: string },
  def: { target: { type: string }; mapping: PipelineMapping },
  at = '',
): Promise<FieldProblem[]> {
  if (def.target.type !== 'ledger') return [];
  const refs = references(def.mapping, at);
  if (refs.length === 0) return [];
  const { rows } = await db.query<{ kind: Reference['kind']; code: string }>(
    `SELECT 'glAccount' AS kind, code FROM gl_accounts
       WHERE entity_id = $1 AND is_active AND is_posting AND NOT is_control
     UNION ALL SELECT 'taxCode', code FROM tax_codes WHERE entity_id = $1 AND is_active
     UNION ALL SELECT 'department', id FROM departments WHERE entity_id = $1 AND is_active
     UNION ALL SELECT 'bankAccount', code FROM bank_accounts WHERE entity_id = $1 AND is_active`,
    [entity.id],
  );
  const known = new Set(rows.map((r) => `${r.kind}:${r.code}`));
  return refs
    .filter((r) => !known.has(`${r.kind}:${r.code}`))
    .map((r) => ({ field: r.field, message: `${r.code} is not an ${WHAT[r.kind]} of entity ${entity.code}` }));
}

/** The API's refusal of `mappingProblems`: one error naming every field. */
export function mappingError(problems: FieldProblem[]): DomainError {
  return new DomainError(
    'PIPELINE_MAPPING_TARGET_UNKNOWN',
    `The mapping names what the ledger does not have: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
    problems,
  );
}
