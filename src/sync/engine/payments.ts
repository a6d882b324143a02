import { isDomainError } from '../../domain/errors.ts';
import { formatAmount, minBig, parseAmount } from '../../domain/money.ts';
import { controlJournal } from '../../domain/documents.ts';
import { postReceipt } from '../../ledger/posting/receipts.ts';
import { postLedgerJournal } from '../../ledger/posting/journals.ts';
import { allocate } from '../../ledger/posting/allocations.ts';
import { loadOpenTransactions } from '../../ledger/posting/open-items.ts';
import { insertTransaction } from '../../ledger/posting/write.ts';
import { loadReferences } from '../../ledger/posting/references.ts';
import type { PostingContext } from '../../ledger/posting/types.ts';
import type { Queryable } from '../../db/database.ts';
import { resolveSucceeded } from '../exceptions.ts';
import type { CanonicalPayment, CanonicalRefund } from '../canonical.ts';
import { type PageOutcome, type SyncContext, mappedIds, saveMapping } from './context.ts';
import { recordSourceDocuments } from './invoices.ts';

async function findTransaction(
  db: Queryable,
  entityId: string,
  customerCode: string,
  type: string,
  reference: string,
): Promise<number | null> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM transactions WHERE entity_id = $1 AND customer_code = $2 AND type = $3 AND external_reference = $4 ORDER BY id LIMIT 1`,
    [entityId, customerCode, type, reference],
  );
  return rows[0] ? Number(rows[0].id) : null;
}

/** A payment provider's fee: bank charges debited, the bank credited (a general journal). */
async function postFee(
  ctx: PostingContext,
  bankCode: string,
  fee: bigint,
  currency: string,
  date: string,
  reference: string,
): Promise<number> {
  const refs = await loadReferences(ctx.db, ctx.entity.id, { banks: [bankCode] });
  const bank = refs.requireBank(bankCode, 'bankAccountCode');
  const journal = controlJournal(
    ctx.entity.roles.bankCharges,
    `Fee on ${reference}`,
    [
      {
        role: 'bank',
        glAccountCode: bank.glAccountCode,
        departmentId: null,
        description: `Fee on ${reference}`,
        amount: fee,
      },
    ],
    { currency, baseCurrency: ctx.entity.baseCurrency, rate: '1' },
    1n,
  );
  const posted = await insertTransaction(ctx.db, {
    entityId: ctx.entity.id,
    type: 'GJ',
    customerCode: null,
    currency,
    exchangeRate: '1',
    transactionDate: date,
    dueDate: null,
    externalReference: reference.slice(0, 50),
    description: `Payment provider fee on ${reference}`,
    net: fee,
    tax: 0n,
    gross: fee,
    baseGross: fee,
    duplicateChecked: false,
    relatedTransactionId: null,
    details: { fee: true },
    createdBy: ctx.actor,
    items: [],
    lines: journal.lines.map((l) => (l.role === 'control' ? { ...l, role: 'gl' as const } : l)),
  });
  return posted.id;
}

/**
 * Payments become receipts, allocated to the invoice they pay when the source names it (by its
 * external reference) and it is still open; otherwise left unallocated and said so in the run's
 * record. A fee goes to bank charges. Each payment commits on its own, exactly once: a receipt
 * reference the customer already has is linked, not posted again.
 */
export async function syncPayments(
  ctx: SyncContext,
  payments: { record: CanonicalPayment; raw: unknown }[],
  customers: Map<string, string>,
  unavailable: Map<string, { reasonCode: string; message: string }>,
  out: PageOutcome,
): Promise<void> {
  if (payments.length === 0) return;
  const p = ctx.pipeline;
  const mapped = await mappedIds(
    ctx.db,
    p.id,
    'payment',
    payments.map((x) => x.record.sourceId),
  );
  for (const { record: pay, raw } of payments) {
    const already = mapped.get(pay.sourceId);
    if (already) {
      out.record({
        kind: 'payment',
        sourceId: pay.sourceId,
        outcome: 'skipped',
        targetId: already.targetId,
        message: 'already posted',
      });
      continue;
    }
    const customerCode = customers.get(pay.customerSourceId);
    if (!customerCode) {
      const why = unavailable.get(pay.customerSourceId) ?? {
        reasonCode: 'CUSTOMER_NOT_SYNCED',
        message: `Customer ${pay.customerSourceId} is not in the ledger`,
      };
      out.park({
        kind: 'payment',
        sourceId: pay.sourceId,
        reasonCode: why.reasonCode,
        message: why.message,
        field: 'customerSourceId',
        payload: { record: pay, raw },
      });
      continue;
    }
    try {
      await ctx.db.transaction(async (tx) => {
        const pctx: PostingContext = { db: tx, entity: ctx.entity, actor: ctx.actor };
        const bankAccountCode = pay.bankAccountCode ?? p.mapping.bankAccountCode ?? 'BANK';
        let receiptId = await findTransaction(tx, ctx.entity.id, customerCode, 'SR', pay.externalReference);
        let message: string | null = null;
        let outcome: 'created' | 'skipped' = 'skipped';
        if (receiptId === null) {
          const r = await postReceipt(
            pctx,
            {
              customerCode,
              checkReference: pay.externalReference,
              paymentAmount: pay.amount,
              paymentDate: pay.date,
              bankAccountCode,
              description: pay.description,
            },
            true,
          );
          receiptId = r.id;
          outcome = 'created';
          const fee = pay.fee ? parseAmount(pay.fee, pay.currency) : 0n;
          if (typeof fee === 'bigint' && fee > 0n)
            await postFee(pctx, bankAccountCode, fee, pay.currency, pay.date, pay.externalReference);
        } else message = 'already in the ledger; linked';
        if (pay.invoiceExternalReference) {
          const invoiceId = await findTransaction(tx, ctx.entity.id, customerCode, 'SI', pay.invoiceExternalReference);
          if (invoiceId === null)
            message = `unallocated: no invoice ${pay.invoiceExternalReference} for ${customerCode}`;
          else {
            const open = await loadOpenTransactions(tx, ctx.entity.id, [invoiceId, receiptId]);
            const amount = minBig(open.get(invoiceId)!.outstanding, open.get(receiptId)!.outstanding);
            if (amount > 0n) {
              await allocate(pctx, {
                transactionId1: invoiceId,
                transactionId2: receiptId,
                amount: formatAmount(amount, open.get(receiptId)!.currency),
                date: pay.date,
                reference: pay.externalReference,
              });
              message = `allocated to invoice ${invoiceId}`;
            } else message = `unallocated: invoice ${pay.invoiceExternalReference} has nothing outstanding`;
          }
        } else message ??= 'unallocated: the payment names no invoice';
        await saveMapping(tx, p.id, 'payment', [{ sourceId: pay.sourceId, targetId: String(receiptId) }]);
        await resolveSucceeded(tx, p.id, 'payment', [pay.sourceId], ctx.actor);
        const gross = parseAmount(pay.amount, pay.currency);
        await recordSourceDocuments(tx, p.id, [
          {
            kind: 'payment',
            sourceId: pay.sourceId,
            externalReference: pay.externalReference,
            customerSourceId: pay.customerSourceId,
            customerCode,
            date: pay.date,
            currency: pay.currency,
            gross: typeof gross === 'bigint' ? gross : 0n,
            location: pay.location,
            payload: {},
          },
        ]);
        out.record({ kind: 'payment', sourceId: pay.sourceId, outcome, targetId: String(receiptId), message });
      });
    } catch (err) {
      if (!isDomainError(err)) throw err;
      const field = Array.isArray(err.details) ? err.details[0]?.field : undefined;
      out.park({
        kind: 'payment',
        sourceId: pay.sourceId,
        reasonCode: err.code,
        message: err.message,
        field,
        payload: { record: pay, raw },
      });
    }
  }
}

/** Refunds become sales debit journals paid out of the bank, allocated against the refunded receipt. */
export async function syncRefunds(
  ctx: SyncContext,
  refunds: { record: CanonicalRefund; raw: unknown }[],
  customers: Map<string, string>,
  out: PageOutcome,
): Promise<void> {
  if (refunds.length === 0) return;
  const p = ctx.pipeline;
  const mapped = await mappedIds(
    ctx.db,
    p.id,
    'refund',
    refunds.map((x) => x.record.sourceId),
  );
  for (const { record: ref, raw } of refunds) {
    const already = mapped.get(ref.sourceId);
    if (already) {
      out.record({
        kind: 'refund',
        sourceId: ref.sourceId,
        outcome: 'skipped',
        targetId: already.targetId,
        message: 'already posted',
      });
      continue;
    }
    const customerCode = customers.get(ref.customerSourceId);
    if (!customerCode) {
      out.park({
        kind: 'refund',
        sourceId: ref.sourceId,
        reasonCode: 'CUSTOMER_NOT_SYNCED',
        message: `Customer ${ref.customerSourceId} is not in the ledger`,
        field: 'customerSourceId',
        payload: { record: ref, raw },
      });
      continue;
    }
    try {
      await ctx.db.transaction(async (tx) => {
        const pctx: PostingContext = { db: tx, entity: ctx.entity, actor: ctx.actor };
        let journalId = await findTransaction(tx, ctx.entity.id, customerCode, 'SD', ref.externalReference);
        let outcome: 'created' | 'skipped' = 'skipped';
        let message: string | null = journalId === null ? null : 'already in the ledger; linked';
        if (journalId === null) {
          const bankAccountCode = ref.bankAccountCode ?? p.mapping.bankAccountCode ?? 'BANK';
          const j = await postLedgerJournal(
            pctx,
            'SD',
            {
              customerCode,
              transactionDate: ref.date,
              externalReference: ref.externalReference,
              description: ref.description || 'Refund',
              lines: [{ bankAccountCode, amount: ref.amount }],
            },
            true,
          );
          journalId = j.id;
          outcome = 'created';
          if (ref.paymentExternalReference) {
            const receiptId = await findTransaction(
              tx,
              ctx.entity.id,
              customerCode,
              'SR',
              ref.paymentExternalReference,
            );
            if (receiptId === null) message = `unallocated: no receipt ${ref.paymentExternalReference}`;
            else {
              const open = await loadOpenTransactions(tx, ctx.entity.id, [journalId, receiptId]);
              const amount = minBig(open.get(journalId)!.outstanding, open.get(receiptId)!.outstanding);
              if (amount > 0n) {
                await allocate(pctx, {
                  transactionId1: journalId,
                  transactionId2: receiptId,
                  amount: formatAmount(amount, open.get(receiptId)!.currency),
                  date: ref.date,
                  reference: ref.externalReference,
                });
                message = `allocated against receipt ${receiptId}`;
              } else message = `unallocated: receipt ${ref.paymentExternalReference} has nothing open`;
            }
          }
        }
        await saveMapping(tx, p.id, 'refund', [{ sourceId: ref.sourceId, targetId: String(journalId) }]);
        await resolveSucceeded(tx, p.id, 'refund', [ref.sourceId], ctx.actor);
        out.record({ kind: 'refund', sourceId: ref.sourceId, outcome, targetId: String(journalId), message });
      });
    } catch (err) {
      if (!isDomainError(err)) throw err;
      const field = Array.isArray(err.details) ? err.details[0]?.field : undefined;
      out.park({
        kind: 'refund',
        sourceId: ref.sourceId,
        reasonCode: err.code,
        message: err.message,
        field,
        payload: { record: ref, raw },
      });
    }
  }
}
