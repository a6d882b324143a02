import type { Queryable } from '../db/database.ts';
import { dueDateFromTerms, today } from '../domain/dates.ts';
import { DomainError, fieldError } from '../domain/errors.ts';
import { Dec } from '../domain/money.ts';
import { type DraftInvoice, getDraft, lockDraft, refuseFinal } from './drafts.ts';
import {
  type CustomerLineDefaults,
  type ItemDocumentInput,
  type ItemDocumentType,
  type ItemLineInput,
  customerLineDefaults,
  formatAmounts,
  postItemDocument,
  prepareItemDocument,
  resolveLines,
} from './item-documents.ts';
import { copyInvoiceLines, loadCreditedItemInvoice } from './item-credit-notes.ts';
import { type ItemTaxSettings, getItemTaxSettings } from './item-settings.ts';
import { requireCustomer } from './posting/references.ts';
import type { PostingContext } from './posting/types.ts';

/**
 * Item invoices and credit notes are drafts until posted, in the draft-invoice table (kind
 * `items`), numbered with the batch drafts and final once posted or cancelled by the same trigger.
 */

/** A change to a draft: absent keeps, null clears an optional field, `lines` replaces every line. */
export type ItemDraftPatch = {
  [K in keyof ItemDocumentInput]?: K extends
    'customerCode' | 'date' | 'lines' | 'performExternalReferenceDuplicateCheck' | 'enforceCreditLimit'
    ? ItemDocumentInput[K] | undefined
    : ItemDocumentInput[K] | null | undefined;
};

async function defaultsOf(db: Queryable, entityId: string, code: string): Promise<CustomerLineDefaults> {
  const d = await customerLineDefaults(db, entityId, code);
  if (!d) {
    throw new DomainError('CUSTOMER_CODE_DOES_NOT_EXIST', `Customer ${code} does not exist`, [
      { field: 'customerCode', message: 'unknown customer' },
    ]);
  }
  return d;
}

/** Drops absent and null fields, so the saved input has only what applies. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as T;
}

/**
 * Validates a draft as it would post (customer, references, amounts, dates, the locked period,
 * a duplicate reference among posted documents and other open drafts of the same type).
 */
async function validate(ctx: PostingContext, type: ItemDocumentType, input: ItemDocumentInput, self: number | null) {
  const built = await prepareItemDocument(ctx, type, input);
  const ref = built.t.externalReference;
  if (built.t.duplicateChecked && ref !== '') {
    const { rows } = await ctx.db.query<{ number: string }>(
      `SELECT number FROM draft_invoices
        WHERE entity_id = $1 AND customer_code = $2 AND status = 'draft' AND type = $3
          AND ll_reference_key(input->>'externalReference') = ll_reference_key($4)
          AND id IS DISTINCT FROM $5::bigint LIMIT 1`,
      [ctx.entity.id, built.t.customerCode, type, ref, self],
    );
    if (rows[0]) {
      const e =
        type === 'SI' ? 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS' : 'CREDIT_NOTE_EXTERNAL_REFERENCE_ALREADY_EXISTS';
      throw new DomainError(
        e,
        `Customer ${built.t.customerCode} already has open draft ${rows[0].number} with reference "${ref}"`,
        [{ field: 'externalReference', message: 'already used by an open draft of this customer' }],
      );
    }
  }
  return built;
}

function computedOf(built: Awaited<ReturnType<typeof validate>>) {
  return formatAmounts(built.amounts, built.t.currency);
}

/**
 * A new draft as sent: a credit note raised from an invoice (`fromInvoiceTransactionId`) may leave
 * out the customer and the lines, which it then takes from the invoice.
 */
export type NewItemDraft = Omit<ItemDocumentInput, 'customerCode' | 'lines'> & {
  customerCode?: string | undefined;
  lines?: ItemLineInput[] | undefined;
};

/**
 * What a credit note from an invoice takes from it when not sent: the customer, its lines (every
 * value given, so the copy does not depend on the item or customer defaults of now), the
 * invoice's exchange rate, and a description naming it.
 */
async function fromInvoice(ctx: PostingContext, id: number, body: NewItemDraft) {
  const invoice = await loadCreditedItemInvoice(ctx, id);
  const { rows } = await ctx.db.query<{ currency: string }>(
    'SELECT currency FROM transactions WHERE id = $1 AND entity_id = $2',
    [id, ctx.entity.id],
  );
  const foreign = rows[0]!.currency.trim() !== ctx.entity.baseCurrency;
  return {
    customerCode: invoice.customerCode,
    lines: body.lines === undefined ? await copyInvoiceLines(ctx, id) : null,
    header: {
      description: body.description ?? `Credit for ${invoice.label}`,
      // The invoice's rate was booked with it: the credit reverses it at the same rate unless told.
      ...(foreign && body.exchangeRate === undefined
        ? { exchangeRate: new Dec(invoice.exchangeRate).toFixed(), confirmExchangeRate: true }
        : {}),
    },
  };
}

/** Creates an item draft; its lines are saved with every default filled in. */
export async function createItemDraft(
  ctx: PostingContext,
  type: ItemDocumentType,
  body: NewItemDraft,
): Promise<DraftInvoice> {
  return ctx.db.transaction(async (db) => {
    const c = { ...ctx, db };
    const from = body.fromInvoiceTransactionId;
    if (from !== undefined && type !== 'SN') {
      throw fieldError('fromInvoiceTransactionId', 'only a credit note credits an invoice');
    }
    const source = from !== undefined ? await fromInvoice(c, from, body) : null;
    const customerCode = body.customerCode ?? source?.customerCode;
    if (customerCode === undefined) throw fieldError('customerCode', 'required without fromInvoiceTransactionId');
    let lines: ItemLineInput[];
    if (body.lines !== undefined) {
      lines = await resolveLines(db, ctx.entity.id, await defaultsOf(db, ctx.entity.id, customerCode), body.lines);
    } else if (source?.lines) lines = source.lines;
    else throw fieldError('lines', 'required without fromInvoiceTransactionId');
    const input = compact<ItemDocumentInput>({ ...body, ...source?.header, customerCode, lines });
    const built = await validate(c, type, input, null);
    const { rows } = await db.query<{ id: string }>(
      `WITH seq AS (
         INSERT INTO document_sequences (entity_id, type, last_number) VALUES ($1, 'DR', 1)
         ON CONFLICT (entity_id, type) DO UPDATE SET last_number = document_sequences.last_number + 1
         RETURNING last_number
       )
       INSERT INTO draft_invoices (entity_id, number, kind, type, customer_code, input, computed, currency, net, tax, gross,
                                   due_date, created_by)
       SELECT $1, last_number, 'items', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM seq
       RETURNING id`,
      [
        ctx.entity.id,
        type,
        built.t.customerCode,
        JSON.stringify(input),
        JSON.stringify(computedOf(built)),
        built.t.currency,
        built.t.net,
        built.t.tax,
        built.t.gross,
        built.t.dueDate ?? input.date,
        ctx.actor,
      ],
    );
    return (await getDraft(db, ctx.entity.id, Number(rows[0]!.id), 'items', type))!;
  });
}

/**
 * Changes the fields given on an open draft (PUT semantics of issue #11: only what is sent).
 * New `lines` are resolved against the item and customer defaults of now; lines not sent keep
 * the values they were saved with, even when the customer changes.
 */
export async function updateItemDraft(
  ctx: PostingContext,
  type: ItemDocumentType,
  id: number,
  change: ItemDraftPatch,
): Promise<{ before: DraftInvoice; after: DraftInvoice }> {
  return ctx.db.transaction(async (db) => {
    const c = { ...ctx, db };
    const before = await lockDraft(db, ctx.entity.id, id, 'items', type);
    refuseFinal(before, 'changed');
    const current = before.input as unknown as ItemDocumentInput;
    const merged = { ...current } as Record<string, unknown>;
    for (const [k, v] of Object.entries(change)) if (v !== undefined && k !== 'lines') merged[k] = v;
    const next = merged as unknown as ItemDocumentInput;
    if (change.lines !== undefined) {
      const defaults = await defaultsOf(db, ctx.entity.id, next.customerCode);
      next.lines = await resolveLines(db, ctx.entity.id, defaults, change.lines);
    }
    const input = compact(next);
    const built = await validate(c, type, input, id);
    await db.query(
      `UPDATE draft_invoices SET customer_code = $2, input = $3, computed = $4, currency = $5, net = $6, tax = $7, gross = $8,
              due_date = $9, updated_at = now()
        WHERE id = $1`,
      [
        id,
        built.t.customerCode,
        JSON.stringify(input),
        JSON.stringify(computedOf(built)),
        built.t.currency,
        built.t.net,
        built.t.tax,
        built.t.gross,
        built.t.dueDate ?? input.date,
      ],
    );
    return { before, after: (await getDraft(db, ctx.entity.id, id, 'items', type))! };
  });
}

/**
 * Posts an item draft and records the transaction. Posting it again answers the same
 * transaction (`replayed`); the draft row lock makes concurrent posters queue.
 */
export async function postItemDraft(
  ctx: PostingContext,
  type: ItemDocumentType,
  id: number,
): Promise<{ draft: DraftInvoice; replayed: boolean }> {
  return ctx.db.transaction(async (db) => {
    const draft = await lockDraft(db, ctx.entity.id, id, 'items', type);
    if (draft.status === 'posted') return { draft, replayed: true };
    refuseFinal(draft, 'posted');
    const input = draft.input as unknown as ItemDocumentInput;
    const { posted, t, amounts } = await postItemDocument({ ...ctx, db }, type, input);
    await db.query(
      `UPDATE draft_invoices SET status = 'posted', transaction_id = $2, net = $3, tax = $4, gross = $5, due_date = $6,
              computed = $7, posted_at = now(), updated_at = now()
        WHERE id = $1`,
      [
        id,
        posted.id,
        t.net,
        t.tax,
        t.gross,
        t.dueDate ?? input.date,
        JSON.stringify(formatAmounts(amounts, t.currency)),
      ],
    );
    return { draft: (await getDraft(db, ctx.entity.id, id, 'items', type))!, replayed: false };
  });
}

/** What GET /v1/sales/invoices/new answers: an invoice prefilled from the customer, not saved. */
export interface NewItemInvoice {
  customerCode: string;
  currency: string;
  date: string;
  dueDate: string;
  lines: ItemLineInput[];
  lineDefaults: CustomerLineDefaults;
  settings: ItemTaxSettings;
}

/** AccountsIQ GetNewSalesInvoice: today's date, the due date from the terms, the line defaults. */
export async function newItemInvoice(ctx: PostingContext, customerCode: string): Promise<NewItemInvoice> {
  // A read: the customer is checked as posting would, without the posting lock.
  const { rows } = await ctx.db.query<{
    code: string;
    currency: string;
    credit_days: number;
    credit_end_of_month: boolean;
    is_active: boolean;
  }>(
    `SELECT code, currency, credit_days, credit_end_of_month, is_active FROM customers WHERE entity_id = $1 AND code = $2`,
    [ctx.entity.id, customerCode],
  );
  const r = rows[0];
  const customer = requireCustomer(
    r && {
      code: r.code,
      name: '',
      currency: r.currency.trim(),
      creditLimit: 0n,
      creditDays: r.credit_days,
      creditEndOfMonth: r.credit_end_of_month,
      controlGlAccountCode: '',
      isActive: r.is_active,
      onHold: false,
    },
    customerCode,
    'customerCode',
  );
  const lineDefaults = await defaultsOf(ctx.db, ctx.entity.id, customerCode);
  const date = today();
  return {
    customerCode,
    currency: customer.currency,
    date,
    dueDate: dueDateFromTerms(date, { days: customer.creditDays, endOfMonth: customer.creditEndOfMonth }),
    lines: [],
    lineDefaults,
    settings: await getItemTaxSettings(ctx.db, ctx.entity.id),
  };
}
