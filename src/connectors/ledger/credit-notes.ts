import type { Queryable } from '../../db/database.ts';
import type { EntityContext } from '../../ledger/entities.ts';
import { allocate } from '../../ledger/posting/allocations.ts';
import { postCreditNote } from '../../ledger/posting/credit-notes.ts';
import { lockCustomers } from '../../ledger/posting/references.ts';
import type { PostingContext } from '../../ledger/posting/types.ts';
import { canonicalGross, creditNoteAsInvoice } from '../../sync/canonical.ts';
import {
  type ItemResult,
  type PipelineMapping,
  type TargetAllocation,
  type TargetCreditNote,
  failed,
  ok,
} from '../../sync/target.ts';
import { eachInSavepoint } from './invoices.ts';
import { ledgerLines, loadLineData } from './lines.ts';
import { differsFrom, findTransaction, referenceTaken } from './payments.ts';

/**
 * Credit notes from their own lines, mapped to accounts and tax codes as invoice lines are. A
 * reference the customer already has on a credit note is linked, not posted again. Left open:
 * what settles them comes as allocations.
 */
export async function createCreditNotes(
  db: Queryable,
  entity: EntityContext,
  actor: string,
  mapping: PipelineMapping,
  items: TargetCreditNote[],
): Promise<ItemResult[]> {
  const data = await loadLineData(
    db,
    entity.id,
    items.flatMap((i) => Object.values(i.productTargetIds)),
    items.map((i) => i.customerTargetId),
  );
  return eachInSavepoint(db, items, async (tx, item) => {
    const note = item.record;
    // The customer's row lock first (postCreditNote takes it anyway): the same credit note posted
    // by another run at the same moment is committed by the time it is looked for, and linked.
    await lockCustomers(tx, entity.id, [item.customerTargetId]);
    const existing = await findTransaction(tx, entity.id, item.customerTargetId, 'SN', note.externalReference);
    if (existing) {
      // Another credit note under the same reference is not this one: refused, never linked.
      const differs = differsFrom(
        existing,
        { currency: note.currency, date: note.date, gross: canonicalGross(creditNoteAsInvoice(note)) },
        BigInt(note.lines.length),
      );
      if (differs) return referenceTaken(existing, 'SN', 'credit note', note.externalReference, differs);
      return ok(String(existing.id), {
        number: existing.number,
        outcome: 'linked',
        message: 'already in the ledger; linked',
      });
    }
    const customer = data.customers.get(item.customerTargetId);
    if (customer && customer.currency !== note.currency)
      return failed({
        code: 'CURRENCY_MISMATCH',
        message: `The credit note is in ${note.currency}; customer ${item.customerTargetId} is in ${customer.currency}`,
        retryable: false,
        field: 'currency',
      });
    const lines = ledgerLines(data, mapping, creditNoteAsInvoice(note), item.customerTargetId, item.productTargetIds);
    if (!Array.isArray(lines))
      return failed({ code: lines.reasonCode, message: lines.message, retryable: false, field: lines.field });
    const posted = await postCreditNote(
      { db: tx, entity, actor },
      {
        customerCode: item.customerTargetId,
        creditNoteDate: note.date,
        externalReference: note.externalReference,
        description: note.description,
        ...(note.exchangeRate ? { exchangeRate: note.exchangeRate } : {}),
        lines,
      },
      true,
    );
    return ok(String(posted.id), { number: String(posted.number), outcome: 'created' });
  });
}

/** Allocations between documents the pipeline booked: the ledger's own allocation, with its id. */
export async function createAllocations(
  db: Queryable,
  entity: EntityContext,
  actor: string,
  items: TargetAllocation[],
): Promise<ItemResult[]> {
  return eachInSavepoint(db, items, async (tx, item) => {
    const pctx: PostingContext = { db: tx, entity, actor };
    const a = await allocate(pctx, {
      transactionId1: Number(item.invoiceTargetId),
      transactionId2: Number(item.fromTargetId),
      amount: item.record.amount,
      date: item.record.date,
      reference: item.sourceId.slice(0, 100),
    });
    return ok(String(a.allocationId), { outcome: 'created' });
  });
}
