import { z } from 'zod';
import { defineRoute } from '../route.ts';
import { IsoDate } from '../schemas.ts';
import { type Amendable, changeDueDate, setDispute } from '../../ledger/amendments.ts';
import { auditChange } from '../../ledger/audit.ts';
import { Text } from './setup-shared.ts';
import { DateText, SafeTransactionId, TransactionType } from './reports/schemas.ts';

const AmendedDocument = z.object({
  transactionId: z.number().int(),
  type: TransactionType,
  number: z.number().int(),
  customerCode: z.string(),
  transactionDate: DateText,
  dueDate: DateText.nullable(),
  disputed: z.boolean(),
  disputeReason: z.string().nullable(),
  changed: z.boolean().meta({ description: 'False when the document already read so (nothing was written).' }),
});

const Params = z.strictObject({ id: SafeTransactionId });

/** What the audit trail keeps: the document's identity with the fields that changed, before and after. */
function auditEntry(action: string, before: Amendable, after: Amendable) {
  const { transactionId, type, number, customerCode } = before;
  const change = auditChange(before, after);
  return {
    action,
    objectType: 'transaction',
    objectId: transactionId,
    before: { transactionId, type, number, customerCode, ...change.before },
    after: { transactionId, type, number, customerCode, ...change.after },
  };
}

export const disputeRoute = defineRoute({
  method: 'POST',
  path: '/v1/transactions/{id}/dispute',
  operationId: 'setTransactionDispute',
  summary: 'Flag a posted document as disputed, or clear the flag',
  description:
    'One of the two changes a posted document accepts (the other is its due date). Amounts, lines and dates stay ' +
    'as posted; the flag is shown on the transaction and recorded in the audit trail with before and after. ' +
    'Clearing the flag clears the reason. Discounts (DS, DX) and exchange differences (FX) cannot be disputed.',
  tags: ['transactions'],
  auth: 'entity',
  params: Params,
  body: z.strictObject({
    disputed: z.boolean().meta({ description: 'true flags the document, false clears the flag.' }),
    reason: Text(500)
      .min(1, 'must not be empty')
      .nullable()
      .optional()
      .meta({ description: 'Why it is disputed (ignored when clearing).' }),
  }),
  example: { disputed: true, reason: 'Goods returned damaged' },
  success: { status: 200, description: 'The document’s due date and dispute flag now.', schema: AmendedDocument },
  errors: ['NOT_FOUND', 'TRANSACTION_CANNOT_BE_DISPUTED'],
  handler: async ({ db, entity, params, body, audit }) => {
    const r = await setDispute(db, entity.id, params.id, { disputed: body.disputed, reason: body.reason ?? null });
    if (r.changed)
      await audit(auditEntry(body.disputed ? 'transaction.disputed' : 'transaction.undisputed', r.before, r.after));
    return { ...r.after, changed: r.changed };
  },
});

export const dueDateRoute = defineRoute({
  method: 'PUT',
  path: '/v1/transactions/{id}/due-date',
  operationId: 'changeTransactionDueDate',
  summary: 'Move the due date of a posted invoice or debit journal',
  description:
    'One of the two changes a posted document accepts (the other is the dispute flag). Statements, aging, PDFs and ' +
    'the ledger reads use the new date; the audit trail keeps the old and new ones. Not before the document date.',
  tags: ['transactions'],
  auth: 'entity',
  params: Params,
  body: z.strictObject({ dueDate: IsoDate }),
  example: { dueDate: '2026-12-31' },
  success: { status: 200, description: 'The document’s due date and dispute flag now.', schema: AmendedDocument },
  errors: [
    'NOT_FOUND',
    'TRANSACTION_DUE_DATE_CANNOT_CHANGE',
    'DUE_DATE_BEFORE_TRANSACTION_DATE',
    'DATE_OUT_OF_RANGE',
    'PERIOD_LOCKED',
  ],
  handler: async ({ db, entity, params, body, audit }) => {
    const r = await changeDueDate(db, entity.id, params.id, body.dueDate);
    if (r.changed) await audit(auditEntry('transaction.due_date_changed', r.before, r.after));
    return { ...r.after, changed: r.changed };
  },
});

/** The only two changes a posted document accepts. */
export const amendmentRoutes = [disputeRoute, dueDateRoute];
