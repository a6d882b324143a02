import type { Queryable } from '../../db/database.ts';
import { fieldError } from '../../domain/errors.ts';
import { type Saved, createdConcurrently, patch, requireOnCreate } from './upsert.ts';
import { checkDepartmentAnalysisCodes } from '../analysis/dimensions.ts';

/** AccountsIQ has six analysis dimensions; the department (BI code) carries one value per dimension. */
export const MAX_ANALYSIS_CODES = 6;

export interface Department {
  id: string;
  name: string;
  /** Position i is the value for analysis dimension i + 1. */
  analysisCodes: string[];
  isActive: boolean;
}

export interface DepartmentInput {
  name?: string | undefined;
  analysisCodes?: string[] | undefined;
  isActive?: boolean | undefined;
}

interface DepartmentRow {
  id: string;
  name: string;
  analysis_codes: string[];
  is_active: boolean;
}

const COLUMNS = 'id, name, analysis_codes, is_active';

function toDepartment(r: DepartmentRow): Department {
  return { id: r.id, name: r.name, analysisCodes: r.analysis_codes, isActive: r.is_active };
}

export async function listDepartments(db: Queryable, entityId: string): Promise<Department[]> {
  const { rows } = await db.query<DepartmentRow>(
    `SELECT ${COLUMNS} FROM departments WHERE entity_id = $1 ORDER BY id`,
    [entityId],
  );
  return rows.map(toDepartment);
}

export async function findDepartment(
  db: Queryable,
  entityId: string,
  id: string,
  options: { lock?: boolean } = {},
): Promise<Department | null> {
  const { rows } = await db.query<DepartmentRow>(
    `SELECT ${COLUMNS} FROM departments WHERE entity_id = $1 AND id = $2${options.lock ? ' FOR UPDATE' : ''}`,
    [entityId, id],
  );
  return rows[0] ? toDepartment(rows[0]) : null;
}

/** Creates the department or updates the fields given; `analysisCodes` replaces the whole list. */
export async function saveDepartment(
  db: Queryable,
  entityId: string,
  id: string,
  input: DepartmentInput,
): Promise<Saved<Department>> {
  const before = await findDepartment(db, entityId, id, { lock: true });
  let current = before;
  if (!current) {
    const { name } = requireOnCreate(input, ['name']);
    current = { id, name, analysisCodes: [], isActive: true };
  }
  const next: Department = {
    id,
    name: patch(input.name, current.name),
    analysisCodes: patch(input.analysisCodes, current.analysisCodes),
    isActive: patch(input.isActive, current.isActive),
  };
  if (next.analysisCodes.length > MAX_ANALYSIS_CODES) {
    throw fieldError('analysisCodes', `at most ${MAX_ANALYSIS_CODES} analysis codes`);
  }
  if (input.analysisCodes !== undefined) {
    await checkDepartmentAnalysisCodes(db, entityId, next.analysisCodes, 'analysisCodes');
  }
  const values = [entityId, id, next.name, next.analysisCodes, next.isActive];
  const { rows } = before
    ? await db.query<DepartmentRow>(
        `UPDATE departments SET name = $3, analysis_codes = $4::text[], is_active = $5, updated_at = now()
          WHERE entity_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
        values,
      )
    : await db.query<DepartmentRow>(
        `INSERT INTO departments (entity_id, id, name, analysis_codes, is_active)
         VALUES ($1, $2, $3, $4::text[], $5) ON CONFLICT (entity_id, id) DO NOTHING RETURNING ${COLUMNS}`,
        values,
      );
  if (!rows[0]) throw createdConcurrently(`department ${id}`);
  return { created: !before, before, after: toDepartment(rows[0]) };
}
