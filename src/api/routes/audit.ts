import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route.ts';
import { IsoDate, Page, paged } from '../schemas.ts';
import { scopeOf } from './sync-shared.ts';

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

const AuditPage = paged(AuditEntryView);

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
    from: IsoDate.optional(),
    to: IsoDate.optional(),
  }),
  success: {
    status: 200,
    description: 'A page of audit entries.',
    schema: AuditPage,
  },
  handler: async (ctx): Promise<z.output<typeof AuditPage>> => {
    const q = ctx.query;
    const where = `($1::uuid IS NULL OR entity_id = $1) AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR object_type = $3)
      AND ($4::text IS NULL OR object_id = $4) AND ($5::text IS NULL OR actor = $5)
      AND ($6::date IS NULL OR at >= $6::date) AND ($7::date IS NULL OR at < $7::date + 1)`;
    const params = [
      scopeOf(ctx) ?? null,
      q.action ?? null,
      q.objectType ?? null,
      q.objectId ?? null,
      q.actor ?? null,
      q.from ?? null,
      q.to ?? null,
    ];
    const { rows } = await ctx.db.query<{
      id: string;
      entity_id: string | null;
      at: Date;
      actor: string;
      action: string;
      object_type: string | null;
      object_id: string | null;
      before: unknown;
      after: unknown;
      request_id: string | null;
    }>(
      `SELECT id, entity_id, at, actor, action, object_type, object_id, before, after, request_id FROM audit_log WHERE ${where}
        ORDER BY id DESC LIMIT $8 OFFSET $9`,
      [...params, q.pageSize, (q.page - 1) * q.pageSize],
    );
    const total = await ctx.db.query<{ n: string }>(`SELECT count(*) AS n FROM audit_log WHERE ${where}`, params);
    return {
      items: rows.map((r) => ({
        id: Number(r.id),
        entityId: r.entity_id,
        at: r.at.toISOString(),
        actor: r.actor,
        action: r.action,
        objectType: r.object_type,
        objectId: r.object_id,
        before: r.before,
        after: r.after,
        requestId: r.request_id,
      })),
      page: q.page,
      pageSize: q.pageSize,
      total: Number(total.rows[0]!.n),
    };
  },
});

export const auditRoutes: AnyRoute[] = [auditRoute];
