import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { Code } from '../schemas.ts';
import { GL_ACCOUNT_TYPES, findGlAccount, listGlAccounts, saveGlAccount } from '../../ledger/setup/gl-accounts.ts';
import { CodeParams, Name, checkBodyKey, notFound, savedByKey } from './setup-shared.ts';

const GlAccount = z.object({
  code: z.string(),
  name: z.string(),
  type: z.enum(GL_ACCOUNT_TYPES),
  isPosting: z.boolean().meta({ description: 'false for a header account, which cannot be posted to.' }),
  isDepartmental: z.boolean().meta({ description: 'Lines posted to it need a departmentId.' }),
  isControl: z.boolean().meta({
    description:
      'A control account (debtors control): only the customer side of documents posts to it; lines, tax codes and bank accounts cannot.',
  }),
  isActive: z.boolean(),
});

export const listGlAccountsRoute = defineRoute({
  method: 'GET',
  path: '/v1/gl-accounts',
  operationId: 'listGlAccounts',
  summary: 'List the chart of accounts',
  tags: ['setup'],
  auth: 'entity',
  success: { status: 200, description: 'Every GL account, ordered by code.', schema: z.array(GlAccount) },
  handler: async ({ db, entity }) => listGlAccounts(db, entity.id),
});

export const getGlAccountRoute = defineRoute({
  method: 'GET',
  path: '/v1/gl-accounts/{code}',
  operationId: 'getGlAccount',
  summary: 'Read a GL account',
  tags: ['setup'],
  auth: 'entity',
  params: CodeParams,
  success: { status: 200, description: 'The GL account.', schema: GlAccount },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => {
    const account = await findGlAccount(db, entity.id, params.code);
    if (!account) throw notFound(`GL account ${params.code}`);
    return account;
  },
});

export const putGlAccountRoute = defineRoute({
  method: 'PUT',
  path: '/v1/gl-accounts/{code}',
  operationId: 'putGlAccount',
  summary: 'Create or update a GL account',
  description:
    'Creates the account (name and type required) or updates the fields sent; omitted fields keep their values. ' +
    'The type of an account with postings cannot change, and it cannot become a header account (isPosting: false; deactivate it instead). ' +
    'An account a tax code, bank account, customer, supplier, item, pending deferral, or the entity’s account roles or customer defaults use stays active and posting. ' +
    'A control account in use stays one and, with a balance, stays active.',
  tags: ['setup'],
  auth: 'entity',
  role: 'owner',
  params: CodeParams,
  body: z.strictObject({
    code: Code.optional().meta({ description: 'May repeat the code in the path.' }),
    name: Name.optional(),
    type: z.enum(GL_ACCOUNT_TYPES).optional(),
    isPosting: z.boolean().optional(),
    isDepartmental: z.boolean().optional(),
    isControl: z.boolean().optional(),
    isActive: z.boolean().optional(),
  }),
  example: { name: 'Sales - memberships', type: 'income', isPosting: true },
  success: { status: 200, description: 'The account as saved (201 when it was created).', schema: GlAccount },
  errors: [
    'GLACCOUNT_TYPE_CANNOT_CHANGE',
    'GLACCOUNT_CANNOT_BECOME_HEADER',
    'GLACCOUNT_IN_USE',
    'GLACCOUNT_CONTROL_ACCOUNT_IN_USE',
    'OUTDATED_RECORD',
  ],
  handler: async ({ db, entity, params, body, audit, setStatus }) => {
    checkBodyKey(body.code, params.code, 'code');
    return savedByKey({ audit, setStatus }, { objectType: 'glAccount', objectId: params.code }, () =>
      saveGlAccount(db, entity.id, params.code, body),
    );
  },
});

export const glAccountRoutes = [listGlAccountsRoute, getGlAccountRoute, putGlAccountRoute];
