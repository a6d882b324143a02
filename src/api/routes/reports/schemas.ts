import { z } from 'zod';
import { AGING_BASES, AGING_BUCKETS } from '../../../domain/aging.ts';
import { TransactionId } from '../../schemas.ts';

/** Response schemas shared by the reading endpoints; they document, the handlers build the values. */
export const Money = z
  .string()
  .meta({ description: 'A decimal amount with its currency’s decimals.', examples: ['120.50'] });
export const DateText = z.string().meta({ description: 'YYYY-MM-DD', examples: ['2026-11-21'] });

export const TRANSACTION_TYPES = ['SI', 'SN', 'SR', 'SD', 'SC', 'DS', 'DX', 'FX', 'GJ', 'RV', 'PI'] as const;
export const TransactionType = z.enum(TRANSACTION_TYPES).meta({
  description:
    'SI invoice, SN credit note, SR receipt, SD debit journal (refund), SC credit journal, DS settlement discount, ' +
    'DX discount reversal, FX realised exchange difference, GJ general journal (no customer), ' +
    'RV unrealised exchange revaluation (or its reversal, the next day).',
});

export const AllocationStatusSchema = z.enum(['open', 'partiallyAllocated', 'allocated', 'none']).meta({
  description: 'How far the document is allocated; `none` for FX differences and general journals, never open items.',
});

// bigint columns hold the ids; past 2^53 a JS number would silently name another transaction.
export const SafeTransactionId = TransactionId.refine((n) => Number.isSafeInteger(n), { message: 'is too large' });

export const Basis = z
  .enum(AGING_BASES)
  .default('dueDate')
  .meta({ description: 'Age open items from their due date (default) or their document date.' });

export const Bucket = z.enum(AGING_BUCKETS);

export const Aging = z.object({
  current: Money.meta({ description: 'Not yet due (age ≤ 0 days).' }),
  days1to30: Money,
  days31to60: Money,
  days61to90: Money,
  days91to120: Money,
  over120: Money,
});

export const StatementSchema = z.object({
  customerCode: z.string(),
  customerName: z.string(),
  currency: z.string(),
  upTo: DateText,
  basis: z.enum(AGING_BASES),
  currentBalance: Money.meta({ description: 'Σ signed outstanding of the open items = Σ of the buckets.' }),
  aging: Aging,
  openItems: z.array(
    z.object({
      transactionId: z.number().int(),
      type: TransactionType,
      number: z.number().int(),
      externalReference: z.string(),
      description: z.string(),
      transactionDate: DateText,
      dueDate: DateText.nullable(),
      amount: Money.meta({ description: 'The document total; negative for credits.' }),
      outstanding: Money.meta({ description: 'What is left as at upTo; negative for credits.' }),
      daysOverdue: z
        .number()
        .int()
        .meta({
          description:
            'Days from the aging date to upTo; 0 when not yet due, and 0 for a credit (a credit note, a receipt not ' +
            'allocated), which has no due date and is never overdue.',
        }),
      bucket: Bucket,
    }),
  ),
});
