import type { Queryable } from '../../db/database.ts';
import { DomainError } from '../../domain/errors.ts';
import { type Saved, createdConcurrently } from '../setup/upsert.ts';

/** An analysis dimension (1..6) with its codes, as AccountsIQ's analysis / BI codes. */
export interface AnalysisDimension {
  dimension: number;
  name: string;
  codes: AnalysisCode[];
}

export interface AnalysisCode {
  code: string;
  name: string;
  active: boolean;
}

export interface AnalysisDimensionInput {
  name: string;
  codes: { code: string; name: string; active?: boolean | undefined }[];
}

interface DimensionRow {
  dimension: number;
  name: string;
  codes: { code: string; name: string; active: boolean }[] | null;
}

const SELECT = `SELECT d.dimension, d.name,
         (SELECT json_agg(json_build_object('code', c.code, 'name', c.name, 'active', c.is_active) ORDER BY c.code)
            FROM analysis_codes c WHERE c.entity_id = d.entity_id AND c.dimension = d.dimension) AS codes
    FROM analysis_dimensions d`;

function toDimension(r: DimensionRow): AnalysisDimension {
  return { dimension: Number(r.dimension), name: r.name, codes: r.codes ?? [] };
}

/** The dimensions the entity has defined, in order, each with its codes ordered by code. */
export async function listAnalysisDimensions(db: Queryable, entityId: string): Promise<AnalysisDimension[]> {
  const { rows } = await db.query<DimensionRow>(`${SELECT} WHERE d.entity_id = $1 ORDER BY d.dimension`, [entityId]);
  return rows.map(toDimension);
}

export async function findAnalysisDimension(
  db: Queryable,
  entityId: string,
  dimension: number,
): Promise<AnalysisDimension | null> {
  const { rows } = await db.query<DimensionRow>(`${SELECT} WHERE d.entity_id = $1 AND d.dimension = $2`, [
    entityId,
    dimension,
  ]);
  return rows[0] ? toDimension(rows[0]) : null;
}

/**
 * Defines a dimension or replaces its name and list of codes. A code that a department or a posted
 * line uses cannot leave the list (ANALYSIS_CODE_IN_USE): it is deactivated instead, so posted
 * lines keep a name in reports and departments keep a valid code.
 */
export async function saveAnalysisDimension(
  db: Queryable,
  entityId: string,
  dimension: number,
  input: AnalysisDimensionInput,
): Promise<Saved<AnalysisDimension>> {
  const seen = new Set<string>();
  input.codes.forEach((c, n) => {
    if (seen.has(c.code)) {
      throw new DomainError('VALIDATION_ERROR', `codes[${n}].code: ${c.code} is listed twice`, [
        { field: `codes[${n}].code`, message: 'listed twice' },
      ]);
    }
    seen.add(c.code);
  });
  // The dimension row is locked first: two saves of one dimension queue, and postings reading its
  // codes see either list whole.
  const locked = await db.query(
    `SELECT 1 FROM analysis_dimensions WHERE entity_id = $1 AND dimension = $2 FOR UPDATE`,
    [entityId, dimension],
  );
  const before = locked.rows.length > 0 ? await findAnalysisDimension(db, entityId, dimension) : null;
  if (!before) {
    const inserted = await db.query(
      `INSERT INTO analysis_dimensions (entity_id, dimension, name) VALUES ($1, $2, $3)
       ON CONFLICT (entity_id, dimension) DO NOTHING RETURNING dimension`,
      [entityId, dimension, input.name],
    );
    if (inserted.rows.length === 0) throw createdConcurrently(`analysis dimension ${dimension}`);
  }
  await refuseLeavingOutUsedCodes(db, entityId, dimension, [...seen]);
  const codes = input.codes.map((c) => c.code);
  await db.query(
    `DELETE FROM analysis_codes WHERE entity_id = $1 AND dimension = $2 AND NOT (code = ANY($3::text[]))`,
    [entityId, dimension, codes],
  );
  await db.query(
    `INSERT INTO analysis_codes (entity_id, dimension, code, name, is_active)
     SELECT $1, $2, c.code, c.name, c.active FROM unnest($3::text[], $4::text[], $5::boolean[]) AS c(code, name, active)
     ON CONFLICT (entity_id, dimension, code) DO UPDATE
       SET name = EXCLUDED.name, is_active = EXCLUDED.is_active,
           updated_at = CASE WHEN (analysis_codes.name, analysis_codes.is_active) = (EXCLUDED.name, EXCLUDED.is_active)
                             THEN analysis_codes.updated_at ELSE now() END`,
    [entityId, dimension, codes, input.codes.map((c) => c.name), input.codes.map((c) => c.active ?? true)],
  );
  await db.query(
    `UPDATE analysis_dimensions SET name = $3, updated_at = now() WHERE entity_id = $1 AND dimension = $2`,
    [entityId, dimension, input.name],
  );
  const after = (await findAnalysisDimension(db, entityId, dimension))!;
  return { created: !before, before, after };
}

/**
 * Every code a department or a posted line already has in this dimension stays in its list: codes
 * removed from it, and, when a dimension is first defined, the codes departments carried in that
 * position before. Otherwise a line could hold a code its dimension does not know.
 */
async function refuseLeavingOutUsedCodes(db: Queryable, entityId: string, dimension: number, keep: string[]) {
  const { rows } = await db.query<{ code: string; user: string }>(
    `SELECT code, user_kind AS user FROM (
       SELECT d.analysis_codes[$2::int] AS code, 'department ' || d.id AS user_kind
         FROM departments d
        WHERE d.entity_id = $1 AND d.analysis_codes[$2::int] <> '' AND NOT (d.analysis_codes[$2::int] = ANY($3::text[]))
       UNION ALL
       SELECT i.analysis->>($2::text), 'a posted invoice or credit-note line'
         FROM transaction_items i
        WHERE i.entity_id = $1 AND i.analysis ? ($2::text) AND NOT (i.analysis->>($2::text) = ANY($3::text[]))
       UNION ALL
       SELECT j.analysis->>($2::text), 'a posted journal line'
         FROM journal_lines j
        WHERE j.entity_id = $1 AND j.analysis ? ($2::text) AND NOT (j.analysis->>($2::text) = ANY($3::text[]))
     ) AS used ORDER BY code LIMIT 1`,
    [entityId, dimension, keep],
  );
  const hit = rows[0];
  if (hit) {
    throw new DomainError(
      'ANALYSIS_CODE_IN_USE',
      `codes: ${hit.code} is used by ${hit.user}; list it (with active: false to stop its use)`,
      [{ field: 'codes', message: `${hit.code} is in use` }],
    );
  }
}

/**
 * Checks a department's codes (position i for dimension i + 1) against the dimensions defined:
 * a non-empty code of a defined dimension must be one of its codes. Dimensions not defined accept
 * any code, as before analysis dimensions existed; an empty string means no code.
 */
export async function checkDepartmentAnalysisCodes(
  db: Queryable,
  entityId: string,
  codes: readonly string[],
  field: string,
): Promise<void> {
  const given = codes.map((code, i) => ({ code, dimension: i + 1 })).filter((c) => c.code !== '');
  if (given.length === 0) return;
  const { rows } = await db.query<{ dimension: number; known: boolean }>(
    `SELECT g.dimension, EXISTS (SELECT 1 FROM analysis_codes c
                                 WHERE c.entity_id = $1 AND c.dimension = g.dimension AND c.code = g.code) AS known
       FROM unnest($2::int[], $3::text[]) AS g(dimension, code)
       JOIN analysis_dimensions d ON d.entity_id = $1 AND d.dimension = g.dimension`,
    [entityId, given.map((c) => c.dimension), given.map((c) => c.code)],
  );
  const bad = rows.find((r) => !r.known);
  if (bad) {
    const at = `${field}.${Number(bad.dimension) - 1}`;
    const code = codes[Number(bad.dimension) - 1];
    throw new DomainError(
      'ANALYSIS_CODE_DOES_NOT_EXIST',
      `${at}: ${code} is not a code of analysis dimension ${bad.dimension}`,
      [{ field: at, message: `not a code of analysis dimension ${bad.dimension}` }],
    );
  }
}
