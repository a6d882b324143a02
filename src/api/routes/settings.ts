import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { IsoDate } from '../schemas.ts';
import { getSettings, updateSettings } from '../../ledger/settings.ts';

const Settings = z.object({
  lockDate: z
    .string()
    .nullable()
    .meta({
      description:
        'Nothing may be posted, allocated or reversed on or before this date (PERIOD_LOCKED); null when no period is locked.',
      examples: ['2026-03-31'],
    }),
});

export const getSettingsRoute = defineRoute({
  method: 'GET',
  path: '/v1/settings',
  operationId: 'getSettings',
  summary: "Read the entity's ledger settings",
  tags: ['setup'],
  auth: 'entity',
  success: { status: 200, description: 'The settings.', schema: Settings },
  handler: async ({ db, entity }) => getSettings(db, entity.id),
});

export const putSettingsRoute = defineRoute({
  method: 'PUT',
  path: '/v1/settings',
  operationId: 'putSettings',
  summary: "Change the entity's ledger settings",
  description:
    'Changes the fields sent; absent fields stay as they are. `lockDate` locks the books up to and including ' +
    'that date: documents, allocations and unallocations dated on or before it are refused with PERIOD_LOCKED, ' +
    'so reports up to it can no longer change. Send `null` to reopen every period; moving the date back reopens ' +
    'the days after it. Each change is in the audit trail.',
  tags: ['setup'],
  auth: 'entity',
  body: z.strictObject({
    lockDate: IsoDate.nullable().optional().meta({ description: 'The last locked day, or null to unlock.' }),
  }),
  example: { lockDate: '2026-03-31' },
  success: { status: 200, description: 'The settings as saved.', schema: Settings },
  errors: ['DATE_OUT_OF_RANGE'],
  handler: async ({ db, entity, body, audit }) => {
    const saved = await updateSettings(db, entity.id, body);
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
