import { z } from 'zod';
import { auditChange } from '../../ledger/audit.ts';
import type { Queryable } from '../../db/database.ts';
import { defineRoute, type RouteContext } from '../route.ts';
import { IsoDate } from '../schemas.ts';
import {
  type AllSettings,
  DISCOUNT_VAT_TREATMENTS,
  exchangeRateToleranceProblem,
  getAllSettings,
  updateAllSettings,
  vatToleranceProblem,
} from '../../ledger/settings.ts';
import { inBody } from './setup-shared.ts';
import { BrandingBody, BrandingSchema } from './branding-schemas.ts';
import { TAX_CALCULATIONS, TAX_ROUNDINGS } from '../../domain/item-lines.ts';

const TaxCalculation = z.enum(TAX_CALCULATIONS).meta({
  description:
    "How ledgerlink computes the tax of item invoices and credit notes: `perLine` (default) rounds each line's " +
    'net × rate; `perDocument` rounds each rate\'s total net × rate once (docs/ledger.md "Item invoices").',
});
const TaxRounding = z.enum(TAX_ROUNDINGS).meta({
  description:
    'How computed item nets and taxes round at the half cent: `halfUp` (default, away from zero) or `halfEven`.',
});

const VatTolerance = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .superRefine((v, ctx) => {
    const problem = vatToleranceProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description:
      'How far a supplied taxAmount may differ from netAmount × rate, in units of the document currency per line, ' +
      'before the response carries a warning (default "1").',
    examples: ['1'],
  });

const ExchangeRateTolerance = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .superRefine((v, ctx) => {
    const problem = exchangeRateToleranceProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description:
      "How far a document's exchangeRate may differ from the last known rate of its currency, as a fraction " +
      '("0.5" = ±50 %, the default) before it is refused with EXCHANGE_RATE_IMPLAUSIBLE unless confirmed ' +
      '(`confirmExchangeRate: true`).',
    examples: ['0.5'],
  });

const DiscountVatTreatment = z.enum(DISCOUNT_VAT_TREATMENTS).meta({
  description:
    '`gross`: a settlement discount goes whole to discount allowed. `adjustVat`: it is split into net and VAT in the ' +
    "proportions of the invoice's VAT breakdown, the VAT part reducing output VAT.",
});

const Settings = z.object({
  lockDate: z
    .string()
    .nullable()
    .meta({
      description:
        'Nothing may be posted, allocated or reversed on or before this date (PERIOD_LOCKED); null when no period is locked.',
      examples: ['2026-03-31'],
    }),
  discountVatTreatment: DiscountVatTreatment,
  vatTolerance: z.string().meta({ description: 'A decimal without trailing zeros ("1", "0.05").' }),
  exchangeRateTolerance: z.string().meta({
    description: 'The plausible band of exchange rates around the last known one, as a fraction ("0.5" = ±50 %).',
  }),
  branding: BrandingSchema,
  taxCalculation: TaxCalculation,
  taxRounding: TaxRounding,
});

/** A change of the settings: only the fields sent change. */
export const SettingsBody = z.strictObject({
  lockDate: IsoDate.nullable().optional().meta({ description: 'The last locked day, or null to unlock.' }),
  discountVatTreatment: DiscountVatTreatment.optional(),
  vatTolerance: VatTolerance.optional(),
  exchangeRateTolerance: ExchangeRateTolerance.optional(),
  branding: BrandingBody.optional(),
  taxCalculation: TaxCalculation.optional(),
  taxRounding: TaxRounding.optional(),
});

export const getSettingsRoute = defineRoute({
  method: 'GET',
  path: '/v1/settings',
  operationId: 'getSettings',
  summary: "Read the entity's settings",
  tags: ['setup'],
  auth: 'entity',
  success: { status: 200, description: 'The settings.', schema: Settings },
  handler: async ({ db, entity }) => getAllSettings(db, entity.id),
});

export const putSettingsRoute = defineRoute({
  method: 'PUT',
  path: '/v1/settings',
  operationId: 'putSettings',
  summary: "Change the entity's settings",
  description:
    'Changes the fields sent; absent fields stay as they are. `lockDate` locks the books up to and including ' +
    'that date: documents, allocations and unallocations dated on or before it are refused with PERIOD_LOCKED, ' +
    'so reports up to it can no longer change. Send `null` to reopen every period; moving the date back reopens ' +
    'the days after it. `discountVatTreatment` and `vatTolerance` set the VAT rules, `exchangeRateTolerance` the ' +
    'plausible band of exchange rates, `taxCalculation` and `taxRounding` how item documents compute tax ' +
    '(docs/ledger.md), `branding` what the PDFs print (company name, address, VAT number, logo, bank details, ' +
    'footer; within it too only the fields sent change, and null clears one). Each change ' +
    'is in the audit trail.',
  tags: ['setup'],
  auth: 'entity',
  role: 'owner',
  body: SettingsBody,
  example: {
    lockDate: '2026-03-31',
    discountVatTreatment: 'adjustVat',
    vatTolerance: '1',
    branding: { companyName: 'Harbour Sports Ltd', iban: 'BE71 0961 2345 6769', bic: 'GKCCBEBB' },
  },
  success: { status: 200, description: 'The settings as saved.', schema: Settings },
  errors: ['DATE_OUT_OF_RANGE', 'LOGO_INVALID'],
  handler: async ({ db, entity, body, audit }) => (await inBody(() => saveSettings(db, entity.id, body, audit))).after,
});

/**
 * Changes the settings given (absent ones stay) and records the change in the audit trail: PUT
 * /v1/settings and the dashboard's settings form.
 */
export async function saveSettings(
  db: Queryable,
  entityId: string,
  body: z.output<typeof SettingsBody>,
  audit: RouteContext<unknown, unknown, unknown>['audit'],
): Promise<{ before: AllSettings; after: AllSettings }> {
  const saved = await updateAllSettings(db, entityId, body);
  await audit({
    action: 'settings.updated',
    objectType: 'entity',
    objectId: entityId,
    ...auditChange(saved.before, saved.after),
  });
  return saved;
}

export const settingsRoutes = [getSettingsRoute, putSettingsRoute];
