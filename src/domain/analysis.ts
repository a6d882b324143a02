import { DomainError } from './errors.ts';

/**
 * The analysis codes of one line: dimension ("1".."6") → code, or null for "no code in this
 * dimension" (which overrides the line's department). Dimensions left out take the department's code.
 */
export type Analysis = Record<string, string | null>;

/** The number of analysis dimensions an entity can have, as AccountsIQ. */
export const MAX_DIMENSIONS = 6;

/** The "dimension:code" keys the analyses name, to load those codes in one query. */
export function analysisKeys(analyses: Iterable<Analysis | null | undefined>): string[] {
  const keys = new Set<string>();
  for (const a of analyses) {
    if (!a) continue;
    for (const [dimension, code] of Object.entries(a)) if (code !== null) keys.add(`${dimension}:${code}`);
  }
  return [...keys];
}

/**
 * Refuses an analysis naming a code its dimension does not have (or a dimension that is not
 * defined), or an inactive code. `known` maps "dimension:code" to whether the code is active.
 */
export function checkAnalysis(
  analysis: Analysis | null | undefined,
  known: ReadonlyMap<string, boolean>,
  field: string,
) {
  if (!analysis) return;
  for (const [dimension, code] of Object.entries(analysis)) {
    if (code === null) continue;
    const at = `${field}.${dimension}`;
    const active = known.get(`${dimension}:${code}`);
    if (active === undefined) {
      throw new DomainError(
        'ANALYSIS_CODE_DOES_NOT_EXIST',
        `${at}: ${code} is not a code of analysis dimension ${dimension}`,
        [{ field: at, message: `not a code of analysis dimension ${dimension}` }],
      );
    }
    if (!active) {
      throw new DomainError('ANALYSIS_CODE_IS_INACTIVE', `${at}: analysis code ${code} is inactive`, [
        { field: at, message: 'inactive analysis code' },
      ]);
    }
  }
}

/** "No code" in every dimension: overlaid with a line's stored codes, it copies them exactly. */
export const NO_ANALYSIS: Readonly<Analysis> = Object.fromEntries(
  Array.from({ length: MAX_DIMENSIONS }, (_, i) => [String(i + 1), null]),
);
