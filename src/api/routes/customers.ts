import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { Amount, BooleanFlag, Code, Currency, ModifiedSince, Page, Rate, paged } from '../schemas.ts';
import { formatAmount } from '../../domain/money.ts';
import {
  type Customer,
  type CustomerTemplate,
  listCustomers,
  loadCustomer,
  newCustomerFromDefaults,
} from '../../ledger/customers.ts';
import { saveCustomer } from '../../ledger/save-customer.ts';
import { auditChange } from '../../ledger/audit.ts';
import { CodeParams, Name, Text, checkBodyKey, inBody, notFound } from './setup-shared.ts';

// "1e99999999" would be expanded digit by digit (for seconds) before any range check; no credit
// limit needs more than 40 characters or an exponent past 18, so such text is refused unparsed.
const CreditLimit = Amount.refine((v) => v.length <= 40 && Math.abs(Number(v.split(/[eE]/)[1] ?? '0')) <= 18, {
  message: 'is too large',
}).meta({ description: 'In the customer currency, at least 0; 0 means no limit.', examples: ['5000.00'] });

const Address = z.strictObject({
  street: Text(200).nullable().optional(),
  city: Text(100).nullable().optional(),
  postalCode: Text(20).nullable().optional(),
  country: Text(100).nullable().optional(),
});

const CreditTerms = z.strictObject({
  days: z.number().int().min(0).max(3650).optional().meta({ description: 'Days from the invoice date.' }),
  endOfMonth: z.boolean().optional().meta({ description: 'Count the days from the end of the invoice month.' }),
});

const CustomerBody = z.strictObject({
  code: Code.nullable().optional().meta({ description: 'May repeat the code in the path.' }),
  name: Name.optional().meta({ description: 'Required when creating.' }),
  currency: Currency.optional(),
  creditLimit: CreditLimit.optional(),
  creditTerms: CreditTerms.optional(),
  email: Text(254)
    .regex(/^[^\s@]+@[^\s@]+$/, 'must be an email address')
    .nullable()
    .optional(),
  phone: Text(50).nullable().optional(),
  address: Address.optional().meta({ description: 'Keys sent replace those keys; null clears one.' }),
  vatNumber: Text(50).nullable().optional(),
  defaultTaxCode: Code.nullable().optional(),
  defaultGlAccountCode: Code.nullable().optional(),
  controlGlAccountCode: Code.optional().meta({ description: 'The debtors control account.' }),
  departmentId: Code.nullable().optional(),
  discountRate: Rate.optional().meta({
    description: 'Default line discount of item invoices, a fraction below 1 ("0.05" = 5 %); "0" for none.',
  }),
  notes: Text(2000).nullable().optional(),
  isActive: z.boolean().optional(),
  onHold: z.boolean().optional(),
  rowVersion: z
    .number()
    .int()
    .min(1)
    .nullable()
    .optional()
    .meta({ description: 'The version read; required to update, absent or null to create.' }),
});

const nullableString = z.string().nullable();
const CustomerFields = {
  currency: z.string(),
  creditLimit: z.string().meta({ description: 'Decimal text in the customer currency; "0.00" means no limit.' }),
  creditTerms: z.object({ days: z.number().int(), endOfMonth: z.boolean() }),
  email: nullableString,
  phone: nullableString,
  address: z.object({
    street: nullableString,
    city: nullableString,
    postalCode: nullableString,
    country: nullableString,
  }),
  vatNumber: nullableString,
  defaultTaxCode: nullableString,
  defaultGlAccountCode: nullableString,
  controlGlAccountCode: z.string(),
  departmentId: nullableString,
  discountRate: z.string().meta({ description: 'Default line discount of item lines, a fraction.' }),
  notes: nullableString,
  isActive: z.boolean(),
  onHold: z.boolean(),
};
const CustomerView = z.object({ code: z.string(), name: z.string(), ...CustomerFields, rowVersion: z.number().int() });
const CustomerTemplateView = z.object({ code: z.null(), name: z.null(), ...CustomerFields, rowVersion: z.null() });

/** Amounts leave the API as decimal text in the customer's currency. */
function toView<C extends Customer | CustomerTemplate>(c: C): Omit<C, 'creditLimit'> & { creditLimit: string } {
  return { ...c, creditLimit: formatAmount(c.creditLimit, c.currency) };
}

export const newCustomerRoute = defineRoute({
  method: 'GET',
  path: '/v1/customers/new',
  operationId: 'getNewCustomerFromDefaults',
  summary: "A new customer prefilled from the entity's customer defaults (not saved)",
  description: 'AccountsIQ GetNewCustomerFromDefaults. Fill in code and name and PUT it to /v1/customers/{code}.',
  tags: ['customers'],
  auth: 'entity',
  success: { status: 200, description: 'The prefilled customer.', schema: CustomerTemplateView },
  handler: async ({ entity }) => toView(newCustomerFromDefaults(entity.customerDefaults)),
});

export const getCustomerRoute = defineRoute({
  method: 'GET',
  path: '/v1/customers/{code}',
  operationId: 'getCustomer',
  summary: 'Read a customer',
  tags: ['customers'],
  auth: 'entity',
  params: CodeParams,
  success: { status: 200, description: 'The customer.', schema: CustomerView },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => {
    const customer = await loadCustomer(db, entity.id, params.code);
    if (!customer) throw notFound(`customer ${params.code}`);
    return toView(customer);
  },
});

export const listCustomersRoute = defineRoute({
  method: 'GET',
  path: '/v1/customers',
  operationId: 'listCustomers',
  summary: 'List customers, paged and filtered',
  description:
    'AccountsIQ GetCustomerList, GetCustomersByEmail and the modified-since queries. Filters combine. ' +
    '`modifiedSince` is inclusive and compares with the time the change was saved: poll with an overlap ' +
    '(the previous request time less a minute), as a change still being saved carries the time it began.',
  tags: ['customers'],
  auth: 'entity',
  query: Page.extend({
    search: Text(200).optional().meta({ description: 'Part of the code or name, any case.' }),
    isActive: BooleanFlag.optional(),
    onHold: BooleanFlag.optional(),
    currency: Currency.optional(),
    email: Text(254)
      .min(1, 'must not be empty')
      .optional()
      .meta({ description: 'The whole e-mail address, any case.', examples: ['ada@example.com'] }),
    modifiedSince: ModifiedSince.optional().meta({ description: 'Created or changed at or after this instant.' }),
  }),
  success: { status: 200, description: 'One page of customers, ordered by code.', schema: paged(CustomerView) },
  handler: async ({ db, entity, query }) => {
    const { page, pageSize, ...filter } = query;
    const { items, total } = await listCustomers(db, entity.id, filter, { page, pageSize });
    return { items: items.map(toView), page, pageSize, total };
  },
});

export const putCustomerRoute = defineRoute({
  method: 'PUT',
  path: '/v1/customers/{code}',
  operationId: 'putCustomer',
  summary: 'Create or update a customer',
  description:
    "AccountsIQ UpdateCustomer. Creating needs a name; other omitted fields take the entity's customer defaults. " +
    'Updating needs the rowVersion last read (409 OUTDATED_RECORD otherwise) and changes only the fields sent; ' +
    'null clears an optional field. A rowVersion for a customer that does not exist answers 404. ' +
    'A customer with transactions keeps its currency.',
  tags: ['customers'],
  auth: 'entity',
  params: CodeParams,
  body: CustomerBody,
  example: { name: 'Ada Lovelace', email: 'ada@example.com', creditLimit: '5000.00' },
  success: { status: 200, description: 'The customer as saved (201 when it was created).', schema: CustomerView },
  errors: [
    'AMOUNT_HAS_TOO_MANY_DECIMALS',
    'NOT_FOUND',
    'OUTDATED_RECORD',
    'CUSTOMER_CURRENCY_CANNOT_CHANGE',
    'CUSTOMER_CONTROL_ACCOUNT_LOCKED',
    'GLACCOUNT_IS_NOT_CONTROL_ACCOUNT',
    'GLACCOUNT_IS_CONTROL_ACCOUNT',
    'AMOUNT_OUT_OF_RANGE',
    'TAX_CODE_DOES_NOT_EXIST',
    'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
    'DEPARTMENT_DOES_NOT_EXIST',
  ],
  handler: async ({ db, entity, params, body, audit, setStatus }) => {
    checkBodyKey(body.code, params.code, 'code');
    const saved = await inBody(() => saveCustomer(db, entity, params.code, body));
    const after = toView(saved.after);
    await audit({
      action: saved.created ? 'customer.created' : 'customer.updated',
      objectType: 'customer',
      objectId: params.code,
      ...auditChange(saved.before && toView(saved.before), after, { ignore: ['rowVersion'] }),
    });
    if (saved.created) setStatus(201);
    return after;
  },
});

// /new is registered before /{code}; it is a lower-case word, which no customer code can be.
export const customerRoutes = [newCustomerRoute, getCustomerRoute, listCustomersRoute, putCustomerRoute];
