import { creditNoteAsInvoice } from '../../sync/canonical.ts';
import type { ItemError, ItemResult, TargetCallContext, TargetCreditNote } from '../../sync/target.ts';
import { type Built, type DocumentContext, buildInvoice, send } from './documents.ts';
import { scalar } from './map.ts';

/*
 * Credit notes → QuickBooks `CreditMemo`. A credit note is mapped as an invoice's lines are (items,
 * income accounts, TAX/NON or the VAT code of each rate, the source's tax as TotalTax) and carries
 * its reference the same way: DocNumber by the 21-character rule, the whole reference in
 * PrivateNote, so `findByReference('creditNote', …)` finds a lost one. Booked open on the customer:
 * what it settles is an allocation of its own (src/connectors/quickbooks/allocations.ts).
 */

/** Books credit notes as CreditMemos: one batch call with a requestid from their idempotency keys. */
export async function createCreditMemos(
  c: DocumentContext,
  ctx: TargetCallContext,
  items: TargetCreditNote[],
): Promise<ItemResult[]> {
  const built: (Built | ItemError)[] = [];
  for (const d of items) {
    built.push(
      await buildInvoice(
        c,
        {
          record: creditNoteAsInvoice(d.record),
          customerTargetId: d.customerTargetId,
          productTargetIds: d.productTargetIds,
        },
        'CreditMemo',
      ),
    );
  }
  return send(
    c,
    ctx,
    'creditNote',
    built,
    items.map((i) => i.idempotencyKey),
    (e) => scalar(e.DocNumber),
  );
}
