import { z } from 'zod';
import { defineRoute } from '../../route.ts';
import { BooleanFlag, Code, IsoDate, Page, paged } from '../../schemas.ts';
import { listAllocations, transactionExists } from '../../../ledger/reports/allocations.ts';
import { notFound } from '../setup-shared.ts';
import { DateText, Money, SafeTransactionId, TransactionType } from './schemas.ts';

const AllocationSide = z.object({
  transactionId: z.number().int(),
  type: TransactionType,
  number: z.number().int(),
  externalReference: z.string(),
});

const AllocationItem = z.object({
  allocationId: z.number().int(),
  customerCode: z.string(),
  currency: z.string().meta({ description: 'The currency of both documents, which the amount is in.' }),
  debit: AllocationSide.meta({ description: 'The invoice, debit journal or refund.' }),
  credit: AllocationSide.meta({ description: 'The receipt, credit note, credit journal or discount.' }),
  amount: Money,
  date: DateText.meta({ description: 'The allocation date.' }),
  reference: z.string(),
  active: z.boolean().meta({ description: 'False once the allocation has been reversed (unallocated).' }),
  reversalDate: DateText.nullable(),
  createdAt: z.string().meta({ description: 'When it was recorded (ISO 8601, UTC).' }),
});

const Active = BooleanFlag.optional().meta({
  description: '`true`: only allocations in force; `false`: only reversed ones; absent: both.',
});

// Strict, as the report queries are: a misspelt `form` must not quietly list every allocation.
const AllocationQuery = z
  .strictObject({
    from: IsoDate.optional().meta({ description: 'Allocation date on or after.' }),
    to: IsoDate.optional().meta({ description: 'Allocation date on or before (inclusive).' }),
    customerCode: Code.optional(),
    transactionId: SafeTransactionId.optional().meta({ description: 'Allocations of this transaction, either side.' }),
    active: Active,
    ...Page.shape,
  })
  .refine((q) => !q.from || !q.to || q.from <= q.to, { message: 'must not be before from', path: ['to'] });

export const listAllocationsRoute = defineRoute({
  method: 'GET',
  path: '/v1/allocations',
  operationId: 'listAllocations',
  summary: 'Allocations between two dates, by customer or by transaction',
  description:
    'AccountsIQ GetAllocationsBetween(Paged): allocations by allocation date, ordered by allocation id. ' +
    'Both dates are inclusive (AccountsIQ’s `until` is exclusive: pass the day before). Reversed allocations ' +
    'are listed with their reversal date unless `active=true`.',
  tags: ['allocations'],
  auth: 'entity',
  query: AllocationQuery,
  success: { status: 200, description: 'One page of allocations.', schema: paged(AllocationItem) },
  handler: async ({ db, entity, query }) => {
    const { page, pageSize, ...filter } = query;
    const { items, total } = await listAllocations(db, entity.id, filter, { page, pageSize });
    return { items, page, pageSize, total };
  },
});

export const transactionAllocationsRoute = defineRoute({
  method: 'GET',
  path: '/v1/transactions/{id}/allocations',
  operationId: 'getAllocationsByTransactionId',
  summary: 'The allocations of one transaction',
  description:
    'AccountsIQ GetAllocationsByTransactionId: every allocation the transaction took part in, on either side, ' +
    'reversed ones included unless `active=true`. Another entity’s transaction is 404.',
  tags: ['allocations'],
  auth: 'entity',
  params: z.strictObject({ id: SafeTransactionId }),
  query: z.strictObject({ active: Active, ...Page.shape }),
  success: { status: 200, description: 'One page of allocations.', schema: paged(AllocationItem) },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params, query }) => {
    if (!(await transactionExists(db, entity.id, params.id))) throw notFound(`transaction ${params.id}`);
    const { page, pageSize, active } = query;
    const { items, total } = await listAllocations(
      db,
      entity.id,
      { transactionId: params.id, active },
      { page, pageSize },
    );
    return { items, page, pageSize, total };
  },
});
