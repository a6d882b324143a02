import { z } from 'zod';
import { formatAmount } from '../../domain/money.ts';
import { type ReceiptFee, feeOfReceipt, recordReceiptFee } from '../../ledger/receipt-fees.ts';
import { type AnyRoute, defineRoute } from '../route.ts';
import { DateText, Money, SafeTransactionId } from './reports/schemas.ts';

const Fee = z
  .object({
    transactionId: z.number().int().meta({ description: 'The general journal (GET /v1/journals/{id}).' }),
    number: z.number().int(),
    reference: z.string(),
    date: DateText,
    currency: z.string(),
    amount: Money.meta({ description: 'What it takes out of the bank.' }),
    keyedByHand: z.boolean().meta({
      description: 'False for a fee a pipeline posted; true for a journal keyed by hand (POST /v1/journals).',
    }),
  })
  .nullable();

const ReceiptFeeView = z.object({
  receiptId: z.number().int(),
  fee: Fee.meta({ description: "The receipt's payment provider's fee; null when it has none recorded." }),
});

const view = (receiptId: number, f: ReceiptFee | null) => ({
  receiptId,
  fee: f && {
    transactionId: f.transactionId,
    number: f.number,
    reference: f.reference,
    date: f.date,
    currency: f.currency,
    amount: formatAmount(f.gross, f.currency),
    keyedByHand: f.keyedByHand,
  },
});

const Params = z.strictObject({ id: SafeTransactionId });

const getReceiptFeeRoute = defineRoute({
  method: 'GET',
  path: '/v1/transactions/{id}/fee',
  operationId: 'getReceiptFee',
  summary: "A receipt's payment provider's fee",
  description:
    'The general journal recorded as the receipt’s payment provider’s fee (bank charges debited, the bank credited): ' +
    'one a pipeline posted with the payment, or one keyed by hand that a pipeline recognised or a bookkeeper recorded ' +
    '(PUT). A pipeline sending the payment again finds it there and posts no second fee. Other ids than receipts are NOT_FOUND.',
  tags: ['transactions'],
  auth: 'entity',
  params: Params,
  success: { status: 200, description: 'The receipt and its fee.', schema: ReceiptFeeView },
  errors: ['NOT_FOUND'],
  handler: async ({ db, entity, params }) => view(params.id, await feeOfReceipt(db, entity.id, params.id)),
});

const putReceiptFeeRoute = defineRoute({
  method: 'PUT',
  path: '/v1/transactions/{id}/fee',
  operationId: 'recordReceiptFee',
  summary: "Record a journal keyed by hand as a receipt's payment provider's fee",
  description:
    'Tells the ledger that a general journal keyed by hand is this receipt’s payment provider’s fee, so that a ' +
    'pipeline sending the payment posts no second one. A pipeline recognises such a journal by itself when it is ' +
    'the only one under the payment’s reference and takes exactly the fee; this settles the payments it refused ' +
    '(PAYMENT_FEE_AMBIGUOUS, PAYMENT_FEE_DIFFERS: retry the exception afterwards). The journal must take money out ' +
    'of the GL account the receipt went into, in the receipt’s currency, and be neither a reversal nor reversed. Its ' +
    'amount is taken as the fee: a pipeline sending the payment with another fee is refused (PAYMENT_FEE_DIFFERS). ' +
    'The same journal again changes nothing (`changed: false`). A receipt with another fee is refused: reverse that ' +
    'journal first (POST /v1/journals/{id}/reverse).',
  tags: ['transactions'],
  auth: 'entity',
  params: Params,
  body: z.strictObject({
    journalId: SafeTransactionId.meta({ description: 'The general journal that is the fee.' }),
  }),
  example: { journalId: 1042 },
  success: {
    status: 200,
    description: 'The receipt and its fee now.',
    schema: ReceiptFeeView.extend({
      changed: z.boolean().meta({ description: 'False when the journal was the receipt’s fee already.' }),
    }),
  },
  errors: ['NOT_FOUND', 'RECEIPT_ALREADY_HAS_FEE', 'FEE_JOURNAL_ALREADY_USED', 'FEE_JOURNAL_NOT_ELIGIBLE'],
  handler: async (ctx) => {
    const r = await recordReceiptFee(
      { db: ctx.db, entity: ctx.entity, actor: ctx.principal.actor },
      ctx.params.id,
      ctx.body.journalId,
    );
    if (r.changed)
      await ctx.audit({
        action: 'receipt-fee.recorded',
        objectType: 'transaction',
        objectId: ctx.params.id,
        after: { journalId: ctx.body.journalId },
      });
    return { ...view(ctx.params.id, r.fee), changed: r.changed };
  },
});

export const receiptFeeRoutes: AnyRoute[] = [getReceiptFeeRoute, putReceiptFeeRoute];
