import { z } from 'zod';
import { getItem, listItems, saveItem } from '../../ledger/items.ts';
import { defineRoute } from '../route.ts';
import { BooleanFlag, Code, Page, paged } from '../schemas.ts';
import { UnitPrice } from '../../domain/schemas.ts';
import { Name, checkBodyKey, notFound, savedByKey } from './setup-shared.ts';

const Item = z.object({
  code: z.string(),
  description: z.string().meta({ description: 'The line description when a line gives none.' }),
  unitPrice: z
    .string()
    .nullable()
    .meta({ description: 'Default unit price (at most 4 decimals) in the currency of the document; null: none.' }),
  glAccountCode: z.string().nullable(),
  taxCode: z.string().nullable(),
  departmentId: z.string().nullable(),
  isActive: z.boolean(),
});

const CodeParams = z.object({ code: Code.meta({ examples: ['WIDGET'] }) });

export const listItemsRoute = defineRoute({
  method: 'GET',
  path: '/v1/items',
  operationId: 'listItems',
  summary: 'List items (products) with their line defaults',
  description: 'Ordered by code. Products synced from a source are items too.',
  tags: ['setup'],
  auth: 'entity',
  query: z.strictObject({ active: BooleanFlag.optional(), ...Page.shape }),
  success: { status: 200, description: 'A page of items.', schema: paged(Item) },
  handler: async ({ db, entity, query }) => {
    const { items, total } = await listItems(db, entity.id, query);
    return { items, page: query.page, pageSize: query.pageSize, total };
  },
});

export const getItemRoute = defineRoute({
  method: 'GET',
  path: '/v1/items/{code}',
  operationId: 'getItem',
  summary: 'Read an item',
  tags: ['setup'],
  auth: 'entity',
  params: CodeParams,
  success: { status: 200, description: 'The item.', schema: Item },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => {
    const item = await getItem(db, entity.id, params.code);
    if (!item) throw notFound(`item ${params.code}`);
    return item;
  },
});

export const putItemRoute = defineRoute({
  method: 'PUT',
  path: '/v1/items/{code}',
  operationId: 'putItem',
  summary: 'Create or update an item',
  description:
    'Creates the item (description required) or changes the fields sent; `null` clears a default. An item line ' +
    'that names the item takes from it what it leaves out: description, unit price, GL account, tax code, ' +
    'department (docs/ledger.md "Item invoices").',
  tags: ['setup'],
  auth: 'entity',
  params: CodeParams,
  body: z.strictObject({
    code: Code.optional().meta({ description: 'May repeat the code in the path.' }),
    description: Name.optional(),
    unitPrice: UnitPrice.nullable().optional(),
    glAccountCode: Code.nullable().optional(),
    taxCode: Code.nullable().optional(),
    departmentId: Code.nullable().optional(),
    isActive: z.boolean().optional(),
  }),
  example: { description: 'Widget, blue', unitPrice: '12.3333', glAccountCode: '4000', taxCode: 'STD' },
  success: { status: 200, description: 'The item as saved (201 when it was created).', schema: Item },
  errors: [
    'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
    'GLACCOUNT_IS_CONTROL_ACCOUNT',
    'TAX_CODE_DOES_NOT_EXIST',
    'DEPARTMENT_DOES_NOT_EXIST',
    'OUTDATED_RECORD',
  ],
  handler: async ({ db, entity, params, body, audit, setStatus }) => {
    checkBodyKey(body.code, params.code, 'code');
    return savedByKey({ audit, setStatus }, { objectType: 'item', objectId: params.code }, () =>
      saveItem(db, entity.id, params.code, body),
    );
  },
});

export const itemRoutes = [listItemsRoute, getItemRoute, putItemRoute];
