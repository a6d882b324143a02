import type { Queryable } from '../../db/database.ts';
import { type DomainError, isDomainError } from '../../domain/errors.ts';
import { createDraft } from '../../ledger/drafts.ts';
import { dateRuleViolation } from '../../ledger/periods.ts';
import type { EntityContext } from '../../ledger/entities.ts';
import { Batch, type PostPayAllocateInput } from '../../ledger/posting/post-pay-allocate.ts';
import type { BatchInvoiceInput } from '../../ledger/posting/types.ts';
import { referenceKey } from '../../domain/documents.ts';
import { type ItemResult, type PipelineMapping, type TargetInvoice, failed, ok } from '../../sync/target.ts';
import { canonicalGross } from '../../sync/canonical.ts';
import { ledgerLines, loadLineData } from './lines.ts';
import { withReference } from '../../ledger/reference-lookup.ts';
import {
  FOUND_COLUMNS,
  type FoundTransaction,
  differsFrom,
  foundTransaction,
  referenceTaken,
  settleAwaitingPayments,
} from './payments.ts';

/** A ledger refusal as a per-item failure: business rules do not change on a retry. */
export function refused(err: DomainError): ItemResult {
  const field = Array.isArray(err.details)
    ? err.details[0]?.field
    : typeof err.details?.field === 'string'
      ? err.details.field
      : undefined;
  return failed({ code: err.code, message: err.message, retryable: false, field });
}

/** An item refused once something of it was written: thrown out of its savepoint, which undoes the writes. */
export class Refused extends Error {
  constructor(readonly result: ItemResult) {
    super(result.ok ? 'refused' : result.error.message);
  }
}

/**
 * Books each item in a savepoint of its own inside the engine's transaction, so that a refused one
 * leaves nothing behind: a ledger rule refuses it (and a date rule the database enforces, a lock
 * date set meanwhile, refuses like the ledger's own checks), or `book` throws `Refused`. Anything
 * else is thrown.
 */
export async function eachInSavepoint<T>(
  db: Queryable,
  items: readonly T[],
  book: (tx: Queryable, item: T) => Promise<ItemResult>,
): Promise<ItemResult[]> {
  const results: ItemResult[] = [];
  for (const item of items) {
    try {
      results.push(await db.transaction((tx) => book(tx, item)));
    } catch (err) {
      if (err instanceof Refused) {
        results.push(err.result);
        continue;
      }
      const known = isDomainError(err) ? err : dateRuleViolation(err);
      if (!known) throw err;
      results.push(refused(known));
    }
  }
  return results;
}

/** Each invoice as a ledger batch invoice on accounts and tax codes, or the reason it cannot be one. */
async function prepare(
  db: Queryable,
  entity: EntityContext,
  mapping: PipelineMapping,
  items: TargetInvoice[],
): Promise<(BatchInvoiceInput | ItemResult)[]> {
  const data = await loadLineData(
    db,
    entity.id,
    items.flatMap((i) => Object.values(i.productTargetIds)),
    items.map((i) => i.customerTargetId),
  );
  return items.map((item) => {
    const inv = item.record;
    const customer = data.customers.get(item.customerTargetId);
    if (customer && customer.currency !== inv.currency)
      return failed({
        code: 'CURRENCY_MISMATCH',
        message: `The invoice is in ${inv.currency}; customer ${item.customerTargetId} is in ${customer.currency}`,
        retryable: false,
        field: 'currency',
      });
    const lines = ledgerLines(data, mapping, inv, item.customerTargetId, item.productTargetIds);
    if (!Array.isArray(lines))
      return failed({ code: lines.reasonCode, message: lines.message, retryable: false, field: lines.field });
    return {
      customerCode: item.customerTargetId,
      invoiceDate: inv.invoiceDate,
      ...(inv.dueDate ? { dueDate: inv.dueDate } : {}),
      externalReference: inv.externalReference,
      description: inv.description,
      ...(inv.exchangeRate ? { exchangeRate: inv.exchangeRate } : {}),
      lines,
    };
  });
}

const isResult = (x: BatchInvoiceInput | ItemResult): x is ItemResult => 'ok' in x;

/**
 * Posts invoices in one set-based batch inside the engine's transaction. An external reference
 * the customer already has (posted by an interrupted run or by hand) is linked, not posted again.
 */
export async function createInvoices(
  db: Queryable,
  entity: EntityContext,
  actor: string,
  mapping: PipelineMapping,
  items: TargetInvoice[],
): Promise<ItemResult[]> {
  const prepared = await prepare(db, entity, mapping, items);
  const results: (ItemResult | null)[] = prepared.map((p) => (isResult(p) ? p : null));
  const queries: { at: number; query: PostPayAllocateInput }[] = [];
  prepared.forEach((p, at) => {
    if (!isResult(p))
      queries.push({
        at,
        query: {
          batchInvoice: p,
          performExternalReferenceDuplicateCheckOnInvoice: true,
          performExternalReferenceDuplicateCheckOnReceipt: true,
          performAllocation: false,
        },
      });
  });
  if (queries.length === 0) return results as ItemResult[];
  const postingCtx = { db, entity, actor };
  const batch = await Batch.load(
    postingCtx,
    queries.map((q) => q.query),
  );
  const posted: { at: number; finish: ReturnType<Batch['add']> }[] = [];
  const adopt: number[] = [];
  for (const q of queries) {
    try {
      posted.push({ at: q.at, finish: batch.add(postingCtx, q.query) });
    } catch (err) {
      if (!isDomainError(err)) throw err;
      if (err.code === 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS') adopt.push(q.at);
      else results[q.at] = refused(err);
    }
  }
  const written = await batch.write(postingCtx);
  for (const { at, finish } of posted) {
    const r = finish(written);
    results[at] = ok(String(r.invoiceTransactionId), { number: String(r.invoiceNumber), outcome: 'created' });
  }
  if (adopt.length) {
    const found = await findInvoices(
      db,
      entity.id,
      adopt.map((at) => ({
        customerCode: items[at]!.customerTargetId,
        reference: items[at]!.record.externalReference,
      })),
    );
    for (const at of adopt) {
      const inv = items[at]!.record;
      const f = found.get(`${items[at]!.customerTargetId}\u0000${referenceKey(inv.externalReference)}`)!;
      // Another invoice under the same reference is not this one: refused, never linked.
      const differs = differsFrom(
        f,
        { currency: inv.currency, date: inv.invoiceDate, gross: canonicalGross(inv) },
        BigInt(inv.lines.length),
      );
      results[at] = differs
        ? referenceTaken(f, 'SI', 'invoice', inv.externalReference, differs)
        : ok(String(f.id), { number: f.number, outcome: 'linked', message: 'already in the ledger; linked' });
    }
  }
  // Payments booked before their invoice (a webhook that overtook the invoice's) are allocated to it now.
  const booked = queries.flatMap(({ at }) => {
    const r = results[at];
    return r?.ok
      ? [
          {
            at,
            id: Number(r.targetId),
            customerCode: items[at]!.customerTargetId,
            reference: items[at]!.record.externalReference,
          },
        ]
      : [];
  });
  const settled = await settleAwaitingPayments(db, entity, actor, booked);
  for (const b of booked) {
    const said = settled.get(b.id);
    const r = results[b.at];
    if (said && r?.ok) {
      const paid = said.join('; ');
      results[b.at] = { ...r, message: r.message ? `${r.message}; ${paid}` : paid };
    }
  }
  return results as ItemResult[];
}

/** The first posted sales invoice of each (customer, reference), with the figures it was posted with. */
export async function findInvoices(
  db: Queryable,
  entityId: string,
  keys: { customerCode: string; reference: string }[],
): Promise<Map<string, FoundTransaction>> {
  const { rows } = await db.query<Parameters<typeof foundTransaction>[0] & { reference_key: string }>(
    `SELECT DISTINCT ON (d.customer_code, ll_reference_key(d.external_reference)) d.id, d.number, d.customer_code, d.type,
            d.currency, d.transaction_date::text AS transaction_date, d.gross::text AS gross, d.external_reference,
            ll_reference_key(d.external_reference) AS reference_key
       FROM unnest($2::text[], $3::text[]) AS u(c, r)
       CROSS JOIN LATERAL ${withReference('$1', 'u.r', FOUND_COLUMNS)} d
      WHERE d.type = 'SI' AND d.customer_code = u.c
      ORDER BY d.customer_code, ll_reference_key(d.external_reference), d.id`,
    [entityId, keys.map((k) => k.customerCode), keys.map((k) => k.reference)],
  );
  // Keyed as the duplicate check compares references: trimmed, case-insensitive (docs/ledger.md).
  return new Map(rows.map((r) => [`${r.customer_code}\u0000${r.reference_key}`, foundTransaction(r)]));
}

/**
 * Drafts instead of invoices (iXpole's draft mode), each in a savepoint so one refused draft
 * fails only itself. A reference the ledger already has is linked: a posted invoice (answered
 * with documentKind `invoice`) or an open draft.
 */
export async function createDraftInvoices(
  db: Queryable,
  entity: EntityContext,
  actor: string,
  mapping: PipelineMapping,
  items: TargetInvoice[],
): Promise<ItemResult[]> {
  const prepared = await prepare(db, entity, mapping, items);
  const results: ItemResult[] = [];
  for (const [at, p] of prepared.entries()) {
    if (isResult(p)) {
      results.push(p);
      continue;
    }
    try {
      const d = await createDraft(
        { db, entity, actor },
        { ...p, performExternalReferenceDuplicateCheck: true, enforceCreditLimit: false },
      );
      results.push(
        ok(String(d.id), {
          number: String(d.number),
          outcome: 'created',
          documentKind: 'draft',
          message: `draft D${d.number}`,
        }),
      );
    } catch (err) {
      if (!isDomainError(err)) throw err;
      const existing =
        err.code === 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS'
          ? await findExisting(db, entity.id, items[at]!.customerTargetId, p.externalReference ?? '')
          : null;
      if (existing?.kind === 'invoice')
        results.push(
          ok(existing.id, {
            number: existing.number,
            outcome: 'linked',
            documentKind: 'invoice',
            message: 'already in the ledger; linked',
          }),
        );
      else if (existing?.kind === 'draft')
        results.push(
          ok(existing.id, {
            number: existing.number,
            outcome: 'linked',
            documentKind: 'draft',
            message: `open draft D${existing.number} in the ledger; linked`,
          }),
        );
      else results.push(refused(err));
    }
  }
  return results;
}

/** The posted invoice, else the open draft, that already carries this customer's reference. */
async function findExisting(
  db: Queryable,
  entityId: string,
  customerCode: string,
  reference: string,
): Promise<{ kind: 'invoice' | 'draft'; id: string; number: string } | null> {
  const { rows } = await db.query<{ kind: 'invoice' | 'draft'; id: string; number: string }>(
    `(SELECT 'invoice' AS kind, id, number FROM ${withReference('$1', '$3', 'id, number, customer_code, type')} d
       WHERE d.customer_code = $2 AND d.type = 'SI' ORDER BY id LIMIT 1)
     UNION ALL
     (SELECT 'draft', id, number FROM draft_invoices
       WHERE entity_id = $1 AND customer_code = $2 AND status = 'draft' AND kind = 'batch'
         AND ll_reference_key(input->>'externalReference') = ll_reference_key($3) ORDER BY id LIMIT 1)`,
    [entityId, customerCode, reference],
  );
  return rows.find((r) => r.kind === 'invoice') ?? rows[0] ?? null;
}
