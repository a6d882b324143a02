import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { Code, Currency } from '../schemas.ts';
import { findBankAccount, listBankAccounts, saveBankAccount } from '../../ledger/setup/bank-accounts.ts';
import { CodeParams, Name, checkBodyKey, notFound, savedByKey } from './setup-shared.ts';

const BankAccount = z.object({
  code: z.string(),
  name: z.string(),
  glAccountCode: z.string().meta({ description: 'The GL account receipts into this bank are posted to.' }),
  currency: z.string(),
  isActive: z.boolean(),
});

export const listBankAccountsRoute = defineRoute({
  method: 'GET',
  path: '/v1/bank-accounts',
  operationId: 'listBankAccounts',
  summary: 'List bank accounts',
  tags: ['setup'],
  auth: 'entity',
  success: { status: 200, description: 'Every bank account, ordered by code.', schema: z.array(BankAccount) },
  handler: async ({ db, entity }) => listBankAccounts(db, entity.id),
});

export const getBankAccountRoute = defineRoute({
  method: 'GET',
  path: '/v1/bank-accounts/{code}',
  operationId: 'getBankAccount',
  summary: 'Read a bank account',
  tags: ['setup'],
  auth: 'entity',
  params: CodeParams,
  success: { status: 200, description: 'The bank account.', schema: BankAccount },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => {
    const bank = await findBankAccount(db, entity.id, params.code);
    if (!bank) throw notFound(`bank account ${params.code}`);
    return bank;
  },
});

export const putBankAccountRoute = defineRoute({
  method: 'PUT',
  path: '/v1/bank-accounts/{code}',
  operationId: 'putBankAccount',
  summary: 'Create or update a bank account',
  description:
    'Creates the bank account (name, glAccountCode and currency required) or updates the fields sent. The GL ' +
    'account must be an active posting account. The currency of a bank account with postings cannot change.',
  tags: ['setup'],
  auth: 'entity',
  role: 'owner',
  params: CodeParams,
  body: z.strictObject({
    code: Code.optional().meta({ description: 'May repeat the code in the path.' }),
    name: Name.optional(),
    glAccountCode: Code.optional(),
    currency: Currency.optional(),
    isActive: z.boolean().optional(),
  }),
  example: { name: 'USD account', glAccountCode: '1200', currency: 'USD' },
  success: { status: 200, description: 'The bank account as saved (201 when it was created).', schema: BankAccount },
  errors: [
    'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
    'GLACCOUNT_IS_CONTROL_ACCOUNT',
    'BANK_ACCOUNT_CURRENCY_CANNOT_CHANGE',
    'OUTDATED_RECORD',
  ],
  handler: async ({ db, entity, params, body, audit, setStatus }) => {
    checkBodyKey(body.code, params.code, 'code');
    return savedByKey({ audit, setStatus }, { objectType: 'bankAccount', objectId: params.code }, () =>
      saveBankAccount(db, entity.id, params.code, body),
    );
  },
});

export const bankAccountRoutes = [listBankAccountsRoute, getBankAccountRoute, putBankAccountRoute];
