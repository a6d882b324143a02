import { z } from 'zod';
import { Code } from './schemas.ts';

/** The analysis codes of a line, by dimension: shared by invoice, credit-note and journal lines. */
export const LineAnalysis = z.partialRecord(z.enum(['1', '2', '3', '4', '5', '6']), Code.nullable()).meta({
  description:
    'Analysis codes by dimension ("1".."6"), each a code of that dimension (GET /v1/analysis-dimensions). ' +
    "Dimensions left out take the code of the line's department; null means no code in that dimension.",
  examples: [{ '1': 'NORTH', '2': null }],
});
