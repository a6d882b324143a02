import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { Code, Currency, Rate } from '../schemas.ts';
import { Name } from './setup-shared.ts';
import { taxRateProblem } from '../../ledger/setup/tax-codes.ts';
import {
  ENTITY_CODE,
  createEntity,
  type EntityContext,
  findEntityByCode,
  issueKeys,
  listKeys,
  revokeKey,
} from '../../ledger/entities.ts';
import type { Queryable } from '../../db/database.ts';
import { DomainError } from '../../domain/errors.ts';

const EntityAddress = z.strictObject({
  street: z.string().max(200).optional(),
  city: z.string().max(100).optional(),
  postalCode: z.string().max(20).optional(),
  country: z.string().max(100).optional(),
});

const IssuedKeyPair = z.object({
  entityId: z.string(),
  code: z.string(),
  keyId: z.string().meta({ description: 'The id of the key pair, to revoke it.' }),
  partnerKey: z.string(),
  userKey: z.string(),
});

/** What creating an entity takes, over HTTP and on the command line (`ledgerlink entity create`). */
export const NewEntityBody = z.strictObject({
  code: Code.refine((v) => ENTITY_CODE.test(v), {
    message: 'upper-case letters, digits, "_", "." and "-", starting with a letter or digit',
  }),
  name: Name,
  baseCurrency: Currency,
  standardTaxRate: Rate.superRefine((v, ctx) => {
    const problem = taxRateProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
    .optional()
    .meta({ description: 'Rate of the STD tax code, a fraction 0..1 (default "0.20"; write "0.21" for 21%).' }),
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
  idempotency: 'secret',
  body: NewEntityBody,
  example: { code: 'CLUB', name: 'Example Sports Club', baseCurrency: 'EUR', standardTaxRate: '0.21' },
  success: {
    status: 201,
    description: 'The entity and its first key pair.',
    schema: IssuedKeyPair,
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
    return {
      entityId: entity.id,
      code: entity.code,
      keyId: keys.credentialId,
      partnerKey: keys.partnerKey,
      userKey: keys.userKey,
    };
  },
});

async function requireEntity(db: Queryable, code: string): Promise<EntityContext> {
  const entity = await findEntityByCode(db, code);
  if (!entity)
    throw new DomainError('ENTITY_DOES_NOT_EXIST', `No entity ${code}`, [
      { field: 'params.code', message: 'unknown entity' },
    ]);
  return entity;
}

const KeyView = z
  .object({
    keyId: z.string().meta({ description: 'The key pair id (a UUID); the keys themselves are never shown again.' }),
    label: z.string().nullable(),
    createdAt: z.string(),
    revokedAt: z.string().nullable().meta({ description: 'When it was revoked; null while it works.' }),
  })
  .meta({ id: 'EntityKey' });

export const listKeysRoute = defineRoute({
  method: 'GET',
  path: '/v1/admin/entities/{code}/keys',
  operationId: 'listEntityKeys',
  summary: "List an entity's key pairs (ids, labels, when issued and revoked; never the keys)",
  tags: ['admin'],
  auth: 'admin',
  params: z.object({ code: Code }),
  success: { status: 200, description: 'The key pairs, oldest first.', schema: z.object({ items: z.array(KeyView) }) },
  errors: ['ENTITY_DOES_NOT_EXIST'],
  handler: async ({ db, params }) => ({ items: await listKeys(db, (await requireEntity(db, params.code)).id) }),
});

export const revokeKeyRoute = defineRoute({
  method: 'DELETE',
  path: '/v1/admin/entities/{code}/keys/{keyId}',
  operationId: 'revokeEntityKey',
  summary: 'Revoke a key pair: it can no longer log in, and every session opened with it ends at once',
  description: 'Revoking a revoked key pair changes nothing. The key pair stays listed, with `revokedAt`.',
  tags: ['admin'],
  auth: 'admin',
  params: z.object({ code: Code, keyId: z.string().min(1).max(36) }),
  success: { status: 200, description: 'The key pair, revoked.', schema: KeyView },
  errors: ['ENTITY_DOES_NOT_EXIST', 'NOT_FOUND'],
  handler: async ({ db, params, audit }) => {
    const entity = await requireEntity(db, params.code);
    const revoked = await revokeKey(db, entity.id, params.keyId);
    if (!revoked)
      throw new DomainError('NOT_FOUND', `Entity ${entity.code} has no key pair ${params.keyId}`, [
        { field: 'params.keyId', message: 'unknown key pair' },
      ]);
    await audit({
      entityId: entity.id,
      action: 'entity.key-revoked',
      objectType: 'credential',
      objectId: params.keyId,
      after: { revokedAt: revoked.credential.revokedAt, sessionsEnded: revoked.sessionsEnded },
    });
    return revoked.credential;
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
  idempotency: 'secret',
  params: z.object({ code: Code }),
  body: z.strictObject({ label: z.string().max(100).optional() }).optional(),
  success: {
    status: 201,
    description: 'The new key pair.',
    schema: IssuedKeyPair,
  },
  errors: ['ENTITY_DOES_NOT_EXIST'],
  handler: async ({ db, params, body, audit }) => {
    const entity = await requireEntity(db, params.code);
    const keys = await issueKeys(db, entity.id, body?.label ?? null);
    await audit({
      entityId: entity.id,
      action: 'entity.keys-issued',
      objectType: 'credential',
      objectId: keys.credentialId,
    });
    return {
      entityId: entity.id,
      code: entity.code,
      keyId: keys.credentialId,
      partnerKey: keys.partnerKey,
      userKey: keys.userKey,
    };
  },
});
