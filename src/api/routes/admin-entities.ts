import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { Code, Currency, Rate } from '../schemas.ts';
import { createEntity, findEntityByCode, issueKeys } from '../../ledger/entities.ts';
import { DomainError } from '../../domain/errors.ts';

const EntityAddress = z.strictObject({
  street: z.string().max(200).optional(),
  city: z.string().max(100).optional(),
  postalCode: z.string().max(20).optional(),
  country: z.string().max(100).optional(),
});

/** What creating an entity takes, over HTTP and on the command line (`ledgerlink entity create`). */
export const NewEntityBody = z.strictObject({
  code: Code,
  name: z.string().min(1).max(200),
  baseCurrency: Currency,
  standardTaxRate: Rate.refine((v) => /^(0(\.\d+)?|1(\.0+)?)$/.test(v), {
    message: 'must be a fraction: "0.21" for 21%',
  })
    .optional()
    .meta({ description: 'Rate of the STD tax code as a fraction, at most 1 (default "0.20").' }),
  address: EntityAddress.optional(),
  vatNumber: z.string().max(50).optional(),
});

export const createEntityRoute = defineRoute({
  method: 'POST',
  path: '/v1/admin/entities',
  operationId: 'createEntity',
  summary: 'Create an entity (company) with the default chart of accounts',
  description:
    'Creates the entity, its default chart of accounts, tax codes (STD, ZERO, EXEMPT), one bank account (BANK) ' +
    'and customer defaults, and issues its first key pair. The keys are shown once; only hashes are stored.',
  tags: ['admin'],
  auth: 'admin',
  body: NewEntityBody,
  example: { code: 'CLUB', name: 'Example Sports Club', baseCurrency: 'EUR', standardTaxRate: '0.21' },
  success: {
    status: 201,
    description: 'The entity and its first key pair.',
    schema: z.object({ entityId: z.string(), code: z.string(), partnerKey: z.string(), userKey: z.string() }),
  },
  errors: ['ENTITY_CODE_ALREADY_EXISTS', 'CURRENCY_CODE_DOES_NOT_EXIST'],
  handler: async ({ db, body, audit }) => {
    const { entity, keys } = await createEntity(db, body);
    await audit({
      entityId: entity.id,
      action: 'entity.created',
      objectType: 'entity',
      objectId: entity.code,
      after: { code: entity.code, name: entity.name, baseCurrency: entity.baseCurrency },
    });
    return { entityId: entity.id, code: entity.code, partnerKey: keys.partnerKey, userKey: keys.userKey };
  },
});

export const issueKeysRoute = defineRoute({
  method: 'POST',
  path: '/v1/admin/entities/{code}/keys',
  operationId: 'issueEntityKeys',
  summary: 'Issue a fresh key pair for an entity',
  description: 'Earlier key pairs stay valid until revoked. The keys are shown once; only hashes are stored.',
  tags: ['admin'],
  auth: 'admin',
  params: z.object({ code: Code }),
  body: z.strictObject({ label: z.string().max(100).optional() }).optional(),
  success: {
    status: 201,
    description: 'The new key pair.',
    schema: z.object({ entityId: z.string(), code: z.string(), partnerKey: z.string(), userKey: z.string() }),
  },
  errors: ['ENTITY_DOES_NOT_EXIST'],
  handler: async ({ db, params, body, audit }) => {
    const entity = await findEntityByCode(db, params.code);
    if (!entity)
      throw new DomainError('ENTITY_DOES_NOT_EXIST', `No entity ${params.code}`, [
        { field: 'params.code', message: 'unknown entity' },
      ]);
    const keys = await issueKeys(db, entity.id, body?.label ?? null);
    await audit({
      entityId: entity.id,
      action: 'entity.keys-issued',
      objectType: 'credential',
      objectId: keys.credentialId,
    });
    return { entityId: entity.id, code: entity.code, partnerKey: keys.partnerKey, userKey: keys.userKey };
  },
});
