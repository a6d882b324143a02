import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route.ts';
import { IsoDate, Page, paged } from '../schemas.ts';
import { scopeOf } from './sync-shared.ts';
import { listAudit } from '../../ledger/audit.ts';

export const AuditEntryView = z
  .object({
    id: z.number().int(),
    entityId: z.string().nullable().meta({ description: 'The entity, or null for actions across entities.' }),
    at: z.string().meta({ description: 'ISO 8601 timestamp.' }),
    actor: z.string().meta({ description: '`credential:<id>`, `admin`, `pipeline:<name>`, `cli`, `config`, …' }),
    action: z.string().meta({
      description: 'What was done, e.g. `customer.updated`, `pipeline.updated`, `glAccount.created`, `sync.page`.',
    }),
    objectType: z.string().nullable(),
    objectId: z.string().nullable(),
    before: z.unknown().meta({
      description:
        'For a change: the fields that changed, as they were (an address field by field), so it can be undone by hand. ' +
        'Null when the object was created. Secrets read `[secret]`.',
    }),
    after: z.unknown().meta({
      description:
        'For a change: the same fields as they are now. For a creation: the whole object. For other actions: what was done.',
    }),
    requestId: z.string().nullable().meta({ description: 'The API request that did it, when one did.' }),
  })
  .meta({ id: 'AuditEntry', description: 'One entry of the audit trail.' });

const AuditPage = paged(AuditEntryView).extend({
  nextCursor: z
    .number()
    .int()
    .nullable()
    .meta({ description: 'Pass as `before` for the next page; null on the last.' }),
});

const auditRoute = defineRoute({
  method: 'GET',
  path: '/v1/audit',
  operationId: 'listAudit',
  summary: 'The audit trail: every API write and every action of the engine',
  description:
    'What was done, when, by which credential (or pipeline, scheduler, CLI). A change to a customer (through the API or by a ' +
    'sync), to setup data (GL accounts, tax codes, departments, bank accounts, settings) or to a pipeline keeps before and ' +
    'after of exactly the fields that changed; secrets are never shown. Newest first.',
  tags: ['audit'],
  auth: 'entityOrAdmin',
  query: Page.extend({
    action: z.string().optional(),
    objectType: z.string().optional(),
    objectId: z.string().optional(),
    actor: z.string().optional(),
    requestId: z.string().max(200).optional(),
    from: IsoDate.optional().meta({ description: 'On or after this day (UTC).' }),
    to: IsoDate.optional().meta({ description: 'On or before this day (UTC).' }),
    before: z.coerce
      .number()
      .int()
      .positive()
      .refine((n) => Number.isSafeInteger(n), { message: 'is too large' })
      .optional()
      .meta({
        description:
          'Keyset paging: entries older than this id (the previous answer’s `nextCursor`); `page` is then ignored.',
      }),
  }),
  success: {
    status: 200,
    description: 'A page of audit entries.',
    schema: AuditPage,
  },
  handler: async (ctx): Promise<z.output<typeof AuditPage>> => {
    const q = ctx.query;
    const page = await listAudit(ctx.db, { ...q, entityId: scopeOf(ctx), before: q.before, count: true });
    return { ...page, total: page.total ?? 0 };
  },
});

export const auditRoutes: AnyRoute[] = [auditRoute];
