import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { Code, IsoDate, Rate } from '../schemas.ts';
import { findTaxCode, listTaxCodes, saveTaxCode, taxRateProblem } from '../../ledger/setup/tax-codes.ts';
import { CodeParams, Name, Text, checkBodyKey, notFound, savedByKey } from './setup-shared.ts';
import { VAT_CATEGORIES } from '../../domain/e-invoice-totals.ts';

const VatCategory = z.enum(VAT_CATEGORIES).meta({
  description:
    'The EN 16931 VAT category on e-invoices: S standard, Z zero rated, E exempt, AE reverse charge, K ' +
    'intra-community supply, G export outside the EU, O not subject to VAT. S needs a rate above 0, the others 0.',
});
const VatFields = {
  vatCategory: VatCategory.nullable().meta({ description: 'null: S for a positive rate, Z for zero.' }),
  vatExemptionReason: z.string().nullable().meta({ description: 'Why the supply is exempt (E, AE, K, G, O).' }),
  vatExemptionReasonCode: z.string().nullable().meta({ description: 'The VATEX code ("VATEX-EU-132-1I").' }),
};

const TaxRate = Rate.superRefine((v, ctx) => {
  const problem = taxRateProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}).meta({ description: 'A decimal fraction 0..1 with at most 6 decimals ("0.21" for 21%).', examples: ['0.21'] });

const DatedRate = z.object({
  from: z.string().meta({ description: 'The first date the rate applies to (YYYY-MM-DD).' }),
  rate: z.string().meta({ description: 'A decimal fraction without trailing zeros ("0.21").' }),
});

const TaxCode = z.object({
  code: z.string(),
  name: z.string(),
  rate: z
    .string()
    .meta({ description: 'The rate in force today: a decimal fraction without trailing zeros ("0.21").' }),
  rates: z.array(DatedRate).meta({
    description:
      'Every rate with the date it applies from, oldest first; a document takes the rate in force on its date.',
  }),
  glAccountCode: z.string().meta({ description: 'The account the tax is posted to.' }),
  isActive: z.boolean(),
  ...VatFields,
});

export const listTaxCodesRoute = defineRoute({
  method: 'GET',
  path: '/v1/tax-codes',
  operationId: 'listTaxCodes',
  summary: 'List tax codes',
  tags: ['setup'],
  auth: 'entity',
  success: { status: 200, description: 'Every tax code, ordered by code.', schema: z.array(TaxCode) },
  handler: async ({ db, entity }) => listTaxCodes(db, entity.id),
});

export const getTaxCodeRoute = defineRoute({
  method: 'GET',
  path: '/v1/tax-codes/{code}',
  operationId: 'getTaxCode',
  summary: 'Read a tax code',
  tags: ['setup'],
  auth: 'entity',
  params: CodeParams,
  success: { status: 200, description: 'The tax code.', schema: TaxCode },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => {
    const taxCode = await findTaxCode(db, entity.id, params.code);
    if (!taxCode) throw notFound(`tax code ${params.code}`);
    return taxCode;
  },
});

export const putTaxCodeRoute = defineRoute({
  method: 'PUT',
  path: '/v1/tax-codes/{code}',
  operationId: 'putTaxCode',
  summary: 'Create or update a tax code',
  description:
    'Creates the tax code (name, rate or rates, and glAccountCode required) or updates the fields sent. The GL account ' +
    'must be an active posting account. A plain `rate` on an existing code applies from today (earlier documents keep ' +
    'the earlier rate); on a new code it applies from the beginning. `rates` replaces the whole dated history. ' +
    'Posted documents keep the rate they were posted with. `vatCategory` (with `vatExemptionReason` and ' +
    '`vatExemptionReasonCode`) is what e-invoices show; it must fit every rate of the code (S above 0, the others 0).',
  tags: ['setup'],
  auth: 'entity',
  role: 'owner',
  params: CodeParams,
  body: z.strictObject({
    code: Code.optional().meta({ description: 'May repeat the code in the path.' }),
    name: Name.optional(),
    rate: TaxRate.optional(),
    rates: z
      .array(z.strictObject({ from: IsoDate, rate: TaxRate }))
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'The whole rate history, each rate with the first date it applies to.' }),
    glAccountCode: Code.optional(),
    isActive: z.boolean().optional(),
    vatCategory: VatCategory.nullable().optional(),
    vatExemptionReason: Text(300)
      .refine((v) => v.trim() !== '', { message: 'must not be blank (send null to clear it)' })
      .nullable()
      .optional()
      .meta({ description: 'Why the supply is exempt, shown on e-invoices of categories E, AE, K, G and O.' }),
    vatExemptionReasonCode: z
      .string()
      .regex(/^VATEX-[A-Z0-9-]{1,40}$/, 'must be a VATEX code such as "VATEX-EU-132-1I"')
      .nullable()
      .optional(),
  }),
  example: {
    name: 'Reduced rate',
    rates: [
      { from: '1900-01-01', rate: '0.09' },
      { from: '2026-07-01', rate: '0.135' },
    ],
    glAccountCode: '2200',
  },
  success: { status: 200, description: 'The tax code as saved (201 when it was created).', schema: TaxCode },
  errors: ['GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', 'GLACCOUNT_IS_CONTROL_ACCOUNT', 'OUTDATED_RECORD'],
  handler: async ({ db, entity, params, body, audit, setStatus }) => {
    checkBodyKey(body.code, params.code, 'code');
    return savedByKey({ audit, setStatus }, { objectType: 'taxCode', objectId: params.code }, () =>
      saveTaxCode(db, entity.id, params.code, body),
    );
  },
});

export const taxCodeRoutes = [listTaxCodesRoute, getTaxCodeRoute, putTaxCodeRoute];
