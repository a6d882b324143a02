import { z } from 'zod';
import { defineRoute } from '../route.ts';
import {
  DISCOUNT_VAT_TREATMENTS,
  getVatSettings,
  saveVatSettings,
  vatToleranceProblem,
} from '../../ledger/settings.ts';
import { inBody } from './setup-shared.ts';

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

const DiscountVatTreatment = z.enum(DISCOUNT_VAT_TREATMENTS).meta({
  description:
    '`gross`: a settlement discount goes whole to discount allowed. `adjustVat`: it is split into net and VAT in the ' +
    "proportions of the invoice's VAT breakdown, the VAT part reducing output VAT.",
});

const Settings = z.object({
  discountVatTreatment: DiscountVatTreatment,
  vatTolerance: z.string().meta({ description: 'A decimal without trailing zeros ("1", "0.05").' }),
});

export const getSettingsRoute = defineRoute({
  method: 'GET',
  path: '/v1/settings',
  operationId: 'getSettings',
  summary: "Read the entity's settings",
  tags: ['setup'],
  auth: 'entity',
  success: { status: 200, description: 'The settings.', schema: Settings },
  handler: async ({ db, entity }) => getVatSettings(db, entity.id),
});

export const putSettingsRoute = defineRoute({
  method: 'PUT',
  path: '/v1/settings',
  operationId: 'putSettings',
  summary: "Change the entity's settings",
  description: 'Changes the settings sent; the others keep their value.',
  tags: ['setup'],
  auth: 'entity',
  body: z.strictObject({
    discountVatTreatment: DiscountVatTreatment.optional(),
    vatTolerance: VatTolerance.optional(),
  }),
  example: { discountVatTreatment: 'adjustVat', vatTolerance: '1' },
  success: { status: 200, description: 'The settings as saved.', schema: Settings },
  handler: async ({ db, entity, body, audit }) => {
    const saved = await inBody(() => saveVatSettings(db, entity.id, body));
    await audit({
      action: 'settings.updated',
      objectType: 'entity',
      objectId: entity.id,
      before: saved.before,
      after: saved.after,
    });
    return saved.after;
  },
});

export const settingsRoutes = [getSettingsRoute, putSettingsRoute];
