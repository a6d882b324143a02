import type { Queryable } from '../db/database.ts';
import { rateWanted } from './posting/common.ts';
import { DomainError } from '../domain/errors.ts';
import { buildInvoice, checkInvoiceReference, lineReferences, postBatchInvoice } from './posting/invoices.ts';
import { loadReferences, lockCustomer } from './posting/references.ts';
import type { CustomerTransaction } from './posting/write.ts';
import { requirePeriodOpen } from './periods.ts';
import type { BatchInvoiceInput, PostingContext } from './posting/types.ts';
import type { PostingWarning } from '../domain/documents.ts';

/** A batch-invoice request with its posting options: what a draft holds until it is posted. */
export interface DraftInput extends BatchInvoiceInput {
  performExternalReferenceDuplicateCheck: boolean;
  enforceCreditLimit: boolean;
}

export type DraftStatus = 'draft' | 'posted' | 'cancelled';
/** `batch`: a batch-invoice request (the draft-invoice routes); `items`: an item document (item-documents.ts). */
export type DraftKind = 'batch' | 'items';
/** An invoice (SI) or, for item drafts only, a credit note (SN). */
export type DraftType = 'SI' | 'SN';
export const DRAFT_STATUSES = ['draft', 'posted', 'cancelled'] as const;

/** A draft sales invoice; amounts are minor units of `currency`, as validated (or as posted). */
export interface DraftInvoice {
  id: number;
  number: number;
  status: DraftStatus;
  kind: DraftKind;
  type: DraftType;
  customerCode: string;
  /** The request as saved: a DraftInput for batch drafts, an ItemDocumentInput for item drafts. */
  input: DraftInput;
  /** Item drafts: the lines' amounts and VAT breakdown as last computed; null for batch drafts. */
  computed: unknown;
  currency: string;
  net: bigint;
  tax: bigint;
  gross: bigint;
  dueDate: string;
  transactionId: number | null;
  transactionNumber: number | null;
  createdAt: string;
  updatedAt: string;
  postedAt: string | null;
  cancelledAt: string | null;
}

interface DraftRow {
  id: string;
  number: string;
  status: DraftStatus;
  kind: DraftKind;
  type: DraftType;
  customer_code: string;
  input: DraftInput;
  computed: unknown;
  currency: string;
  net: string;
  tax: string;
  gross: string;
  due_date: string;
  transaction_id: string | null;
  transaction_number: string | null;
  created_at: Date | string;
  updated_at: Date | string;
  posted_at: Date | string | null;
  cancelled_at: Date | string | null;
}

const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());

function toDraft(r: DraftRow): DraftInvoice {
  return {
    id: Number(r.id),
    number: Number(r.number),
    status: r.status,
    kind: r.kind,
    type: r.type,
    customerCode: r.customer_code,
    input: r.input,
    computed: r.computed,
    currency: r.currency.trim(),
    net: BigInt(r.net),
    tax: BigInt(r.tax),
    gross: BigInt(r.gross),
    dueDate: r.due_date,
    transactionId: r.transaction_id === null ? null : Number(r.transaction_id),
    transactionNumber: r.transaction_number === null ? null : Number(r.transaction_number),
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    postedAt: iso(r.posted_at),
    cancelledAt: iso(r.cancelled_at),
  };
}

const SELECT_DRAFT = `SELECT d.id, d.number, d.status, d.kind, d.type, d.computed, d.customer_code, d.input, d.currency, d.net, d.tax, d.gross,
         d.due_date::text AS due_date, d.transaction_id, t.number AS transaction_number,
         d.created_at, d.updated_at, d.posted_at, d.cancelled_at
    FROM draft_invoices d LEFT JOIN transactions t ON t.id = d.transaction_id`;

/**
 * One draft of the entity, or null (another entity's draft is not found, nor a draft of another
 * kind or type: each set of routes sees only its own drafts).
 */
export async function getDraft(
  db: Queryable,
  entityId: string,
  id: number,
  kind: DraftKind = 'batch',
  type: DraftType = 'SI',
): Promise<DraftInvoice | null> {
  const { rows } = await db.query<DraftRow>(
    `${SELECT_DRAFT} WHERE d.id = $1 AND d.entity_id = $2 AND d.kind = $3 AND d.type = $4`,
    [id, entityId, kind, type],
  );
  return rows[0] ? toDraft(rows[0]) : null;
}

export async function listDrafts(
  db: Queryable,
  entityId: string,
  filter: { status?: DraftStatus | undefined; customerCode?: string | undefined; page: number; pageSize: number },
  kind: DraftKind = 'batch',
  type: DraftType = 'SI',
): Promise<{ items: DraftInvoice[]; total: number }> {
  const where =
    `d.entity_id = $1 AND ($2::text IS NULL OR d.status = $2) AND ($3::text IS NULL OR d.customer_code = $3) ` +
    `AND d.kind = $4 AND d.type = $5`;
  const params = [entityId, filter.status ?? null, filter.customerCode ?? null, kind, type];
  const { rows } = await db.query<DraftRow>(`${SELECT_DRAFT} WHERE ${where} ORDER BY d.id LIMIT $6 OFFSET $7`, [
    ...params,
    filter.pageSize,
    (filter.page - 1) * filter.pageSize,
  ]);
  const count = await db.query<{ n: string }>(`SELECT count(*) AS n FROM draft_invoices d WHERE ${where}`, params);
  return { items: rows.map(toDraft), total: Number(count.rows[0]!.n) };
}

/**
 * Checks a draft could be posted now (customer, GL accounts, tax codes, departments, amounts, due
 * date, a duplicate external reference among posted invoices and other open drafts), with the same
 * code that posts it. Credit limits are checked when it is posted: the balance will differ by then.
 */
async function validate(ctx: PostingContext, input: DraftInput, self: number | null): Promise<CustomerTransaction> {
  const customer = await lockCustomer(ctx.db, ctx.entity.id, input.customerCode, 'customerCode');
  const refs = await loadReferences(ctx.db, ctx.entity.id, {
    ...lineReferences(input.lines, ctx.entity.roles.deferredRevenue),
    rates: rateWanted(ctx, customer.currency, input.exchangeRate, input.invoiceDate),
  });
  const t = buildInvoice(ctx, customer, input, refs, {
    performExternalReferenceDuplicateCheck: input.performExternalReferenceDuplicateCheck,
    enforceCreditLimit: input.enforceCreditLimit,
  });
  // A draft that could never be posted (its date in a locked period) is refused as it would be then.
  await requirePeriodOpen(ctx.db, ctx.entity.id, input.invoiceDate, 'invoiceDate', 'post an invoice');
  await checkInvoiceReference(ctx, t, 'externalReference');
  if (t.duplicateChecked && t.externalReference !== '') {
    const { rows } = await ctx.db.query<{ number: string }>(
      `SELECT number FROM draft_invoices
        WHERE entity_id = $1 AND customer_code = $2 AND status = 'draft' AND type = 'SI' AND input->>'externalReference' = $3
          AND id IS DISTINCT FROM $4::bigint LIMIT 1`,
      [ctx.entity.id, t.customerCode, t.externalReference, self],
    );
    if (rows[0]) {
      throw new DomainError(
        'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
        `Customer ${t.customerCode} already has open draft invoice ${rows[0].number} with reference "${t.externalReference}"`,
        [{ field: 'externalReference', message: 'already used by an open draft of this customer' }],
      );
    }
  }
  return t;
}

const noun = (type: DraftType) => (type === 'SN' ? 'credit note' : 'invoice');

/** Reads and locks a draft of this kind and type; NOT_FOUND otherwise. */
export async function lockDraft(
  db: Queryable,
  entityId: string,
  id: number,
  kind: DraftKind = 'batch',
  type: DraftType = 'SI',
): Promise<DraftInvoice> {
  const { rows } = await db.query<DraftRow>(
    `${SELECT_DRAFT} WHERE d.id = $1 AND d.entity_id = $2 AND d.kind = $3 AND d.type = $4 FOR UPDATE OF d`,
    [id, entityId, kind, type],
  );
  if (!rows[0]) throw new DomainError('NOT_FOUND', `Draft ${noun(type)} ${id} does not exist in this entity`);
  return toDraft(rows[0]);
}

/** A posted or cancelled draft is final. */
export function refuseFinal(d: DraftInvoice, doing: string): void {
  if (d.status === 'posted') {
    throw new DomainError(
      'DRAFT_IS_POSTED',
      `Draft ${noun(d.type)} ${d.number} was posted as ${noun(d.type)} ${d.transactionNumber}; it cannot be ${doing}`,
    );
  }
  if (d.status === 'cancelled') {
    throw new DomainError(
      'DRAFT_IS_CANCELLED',
      `Draft ${noun(d.type)} ${d.number} was cancelled; it cannot be ${doing}`,
    );
  }
}

/** Creates a draft after checking it could be posted; numbers are gapless per entity (type DR). */
export async function createDraft(ctx: PostingContext, input: DraftInput): Promise<DraftInvoice> {
  return ctx.db.transaction(async (db) => {
    const t = await validate({ ...ctx, db }, input, null);
    const { rows } = await db.query<{ id: string }>(
      `WITH seq AS (
         INSERT INTO document_sequences (entity_id, type, last_number) VALUES ($1, 'DR', 1)
         ON CONFLICT (entity_id, type) DO UPDATE SET last_number = document_sequences.last_number + 1
         RETURNING last_number
       )
       INSERT INTO draft_invoices (entity_id, number, customer_code, input, currency, net, tax, gross, due_date, created_by)
       SELECT $1, last_number, $2, $3, $4, $5, $6, $7, $8, $9 FROM seq
       RETURNING id`,
      [ctx.entity.id, t.customerCode, JSON.stringify(input), t.currency, t.net, t.tax, t.gross, t.dueDate, ctx.actor],
    );
    return (await getDraft(db, ctx.entity.id, Number(rows[0]!.id)))!;
  });
}

/** Replaces an open draft's invoice (validated again); a posted or cancelled draft is final. */
export async function updateDraft(ctx: PostingContext, id: number, input: DraftInput): Promise<DraftInvoice> {
  return ctx.db.transaction(async (db) => {
    refuseFinal(await lockDraft(db, ctx.entity.id, id), 'changed');
    const t = await validate({ ...ctx, db }, input, id);
    await db.query(
      `UPDATE draft_invoices SET customer_code = $2, input = $3, currency = $4, net = $5, tax = $6, gross = $7, due_date = $8, updated_at = now()
        WHERE id = $1`,
      [id, t.customerCode, JSON.stringify(input), t.currency, t.net, t.tax, t.gross, t.dueDate],
    );
    return (await getDraft(db, ctx.entity.id, id))!;
  });
}

/**
 * Posts a draft exactly like a batch invoice (the same validation and posting code) and records
 * the transaction. Posting a posted draft again answers its transaction (`replayed`), never a
 * second invoice: the draft row is locked, so concurrent posters queue and the second sees it posted.
 */
export async function postDraft(
  ctx: PostingContext,
  id: number,
): Promise<{ draft: DraftInvoice; replayed: boolean; warnings: PostingWarning[] }> {
  return ctx.db.transaction(async (db) => {
    const draft = await lockDraft(db, ctx.entity.id, id);
    if (draft.status === 'posted') return { draft, replayed: true, warnings: [] };
    refuseFinal(draft, 'posted');
    const { performExternalReferenceDuplicateCheck, enforceCreditLimit, ...input } = draft.input;
    const posted = await postBatchInvoice({ ...ctx, db }, input, {
      performExternalReferenceDuplicateCheck,
      enforceCreditLimit,
    });
    await db.query(
      `UPDATE draft_invoices SET status = 'posted', transaction_id = $2, net = $3, tax = $4, gross = $5, due_date = $6,
              posted_at = now(), updated_at = now()
        WHERE id = $1`,
      [id, posted.id, posted.net, posted.tax, posted.gross, posted.dueDate],
    );
    return { draft: (await getDraft(db, ctx.entity.id, id))!, replayed: false, warnings: posted.warnings };
  });
}

/** Cancels an open draft (cancelling it again changes nothing); a posted draft is final. */
export async function cancelDraft(
  ctx: PostingContext,
  id: number,
  kind: DraftKind = 'batch',
  type: DraftType = 'SI',
): Promise<DraftInvoice> {
  return ctx.db.transaction(async (db) => {
    const draft = await lockDraft(db, ctx.entity.id, id, kind, type);
    if (draft.status === 'cancelled') return draft;
    refuseFinal(draft, 'cancelled');
    await db.query(
      `UPDATE draft_invoices SET status = 'cancelled', cancelled_at = now(), updated_at = now() WHERE id = $1`,
      [id],
    );
    return (await getDraft(db, ctx.entity.id, id, kind, type))!;
  });
}
