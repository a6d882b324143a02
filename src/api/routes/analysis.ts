import { z } from 'zod';
import { MAX_DIMENSIONS } from '../../domain/analysis.ts';
import {
  findAnalysisDimension,
  listAnalysisDimensions,
  saveAnalysisDimension,
} from '../../ledger/analysis/dimensions.ts';
import { analysisReport } from '../../ledger/reports/analysis.ts';
import { defineRoute } from '../route.ts';
import { BooleanFlag, Code, IsoDate } from '../schemas.ts';
import { Money } from './reports/schemas.ts';
import { Name, notFound, savedByKey } from './setup-shared.ts';

const Dimension = z.object({
  dimension: z.number().int().meta({ description: '1..6' }),
  name: z.string(),
  codes: z.array(z.object({ code: z.string(), name: z.string(), active: z.boolean() })),
});

const DimensionParams = z.object({
  n: z.coerce
    .number()
    .int('must be an integer')
    .min(1, 'must be 1..6')
    .max(MAX_DIMENSIONS, 'must be 1..6')
    .meta({ description: 'The dimension, 1..6.', examples: [1] }),
});

export const listAnalysisDimensionsRoute = defineRoute({
  method: 'GET',
  path: '/v1/analysis-dimensions',
  operationId: 'listAnalysisDimensions',
  summary: 'List analysis dimensions and their codes',
  tags: ['setup'],
  auth: 'entity',
  success: {
    status: 200,
    description: 'The dimensions defined (up to six), in order, each with its codes ordered by code.',
    schema: z.array(Dimension),
  },
  handler: async ({ db, entity }) => listAnalysisDimensions(db, entity.id),
});

export const getAnalysisDimensionRoute = defineRoute({
  method: 'GET',
  path: '/v1/analysis-dimensions/{n}',
  operationId: 'getAnalysisDimension',
  summary: 'Read an analysis dimension',
  tags: ['setup'],
  auth: 'entity',
  params: DimensionParams,
  success: { status: 200, description: 'The dimension with its codes.', schema: Dimension },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => {
    const d = await findAnalysisDimension(db, entity.id, params.n);
    if (!d) throw notFound(`analysis dimension ${params.n}`);
    return d;
  },
});

export const putAnalysisDimensionRoute = defineRoute({
  method: 'PUT',
  path: '/v1/analysis-dimensions/{n}',
  operationId: 'putAnalysisDimension',
  summary: 'Define an analysis dimension and its codes',
  description:
    'Creates or replaces dimension n (1..6): its name and its whole list of codes. A code used by a department ' +
    'or a posted line cannot leave the list (ANALYSIS_CODE_IN_USE); send it with `active: false` instead. ' +
    'Lines may only take active codes; departments name one code per dimension (`analysisCodes`).',
  tags: ['setup'],
  auth: 'entity',
  role: 'owner',
  params: DimensionParams,
  body: z.strictObject({
    name: Name,
    codes: z
      .array(
        z.strictObject({
          code: Code,
          name: Name,
          active: z.boolean().optional().meta({ description: 'Default true.' }),
        }),
      )
      .max(1000, 'at most 1,000 codes'),
  }),
  example: {
    name: 'Region',
    codes: [
      { code: 'NORTH', name: 'North' },
      { code: 'SOUTH', name: 'South' },
      { code: 'WEST', name: 'West (closed)', active: false },
    ],
  },
  success: { status: 200, description: 'The dimension as saved (201 when it was created).', schema: Dimension },
  errors: ['ANALYSIS_CODE_IN_USE', 'OUTDATED_RECORD'],
  handler: async ({ db, entity, params, body, audit, setStatus }) => {
    return savedByKey({ audit, setStatus }, { objectType: 'analysis-dimension', objectId: String(params.n) }, () =>
      saveAnalysisDimension(db, entity.id, params.n, body),
    );
  },
});

const Amounts = z.object({ invoiced: Money, credited: Money, net: Money });
const ReportRow = Amounts.extend({
  code: z.string().nullable().meta({ description: 'Null for lines without a code in this dimension.' }),
  name: z.string().nullable(),
});

export const analysisReportRoute = defineRoute({
  method: 'GET',
  path: '/v1/reports/analysis',
  operationId: 'getAnalysisReport',
  summary: 'Revenue, credit notes and net per analysis code',
  description:
    'The net lines of invoices and credit notes dated from..to (both optional, inclusive) by the code they carry in ' +
    "`dimension`, in the base currency: each line's own base amount as posted to the GL, so the report agrees with " +
    'the trial balance to the cent. Every code of the dimension is listed (zeros when unused), then `code: null` for ' +
    'lines without one. `byCurrency=true` adds the same per document currency, in that currency.',
  tags: ['reports'],
  auth: 'entity',
  query: z
    .strictObject({
      dimension: z.coerce.number().int('must be an integer').min(1, 'must be 1..6').max(MAX_DIMENSIONS, 'must be 1..6'),
      from: IsoDate.optional(),
      to: IsoDate.optional(),
      byCurrency: BooleanFlag.optional(),
    })
    .refine((q) => !q.from || !q.to || q.from <= q.to, { message: 'must not be before from', path: ['to'] }),
  success: {
    status: 200,
    description: 'Amounts per code; `totals` is the sum of the rows.',
    schema: z.object({
      dimension: z.number().int(),
      name: z.string().nullable().meta({ description: 'Null when the dimension is not defined.' }),
      from: z.string().nullable(),
      to: z.string().nullable(),
      currency: z.string(),
      rows: z.array(ReportRow),
      totals: Amounts,
      byCurrency: z.array(z.object({ currency: z.string(), rows: z.array(ReportRow), totals: Amounts })).optional(),
    }),
  },
  handler: async ({ db, entity, query }) => analysisReport(db, entity.id, entity.baseCurrency, query),
});

export const analysisRoutes = [listAnalysisDimensionsRoute, getAnalysisDimensionRoute, putAnalysisDimensionRoute];
