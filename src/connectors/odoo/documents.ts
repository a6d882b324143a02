import { ConnectorError } from '../../sync/connector.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import type {
  FoundDocument,
  ItemError,
  ItemResult,
  TargetCreditNote,
  TargetDocument,
  TargetInvoice,
  TargetKind,
} from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type Company, invoiceLines, minor } from './map.ts';
import { type OdooAnswer, type OdooFault, type OdooObject, type OdooRpc, describe, int, m2o, text } from './rpc.ts';
import { type OdooVersion, SYSTEM, paymentReferenceField } from './settings.ts';

/*
 * Invoices and credit notes in Odoo: `account.move` of `move_type` out_invoice or out_refund,
 * created as a draft with its lines as `(0, 0, {…})` commands and our reference in `ref`, then
 * posted (`action_post`), which gives it its number (`name`). A lost answer is found again by
 * `search_read` on `ref` (findMove); a draft found so is posted then. Refusals are item
 * failures carrying Odoo's exception class and message; an unknown outcome is the RemoteClient's
 * retryable ConnectorError, thrown for the engine to look the call's documents up.
 */

export interface DocumentContext {
  rpc: OdooRpc;
  company: Company;
  version: OdooVersion;
  taxRates: Record<string, number> | undefined;
  journals: { sales?: number | undefined; bank?: number | undefined } | undefined;
  /** `accounts.fees`: the expense account of payment providers' fees (fees.ts); found by name when unset. */
  feesAccountId?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** Payments and reconciliations live beside moves and share their id space: their target ids say what they are. */
export const PAYMENT_PREFIX = 'payment:';
export const PARTIAL_PREFIX = 'partial:';

const MOVE_TYPE = { invoice: 'out_invoice', creditNote: 'out_refund' } as const;
/** The domain leaf of a customer's receivable journal items (an invoice's, a credit note's, a payment's). */
export const RECEIVABLE = ['account_type', '=', 'asset_receivable'];
export const MOVE_FIELDS = ['name', 'ref', 'state', 'move_type', 'partner_id'];

export const refused = (what: string, reference: string, f: OdooFault): ItemError => ({
  code: 'TARGET_REFUSED',
  message: `${SYSTEM} refused ${what} ${reference} (${describe(f)})`,
  retryable: false,
});

export const currencyMismatch = (what: string, currency: string, company: Company): ItemError => ({
  code: 'CURRENCY_MISMATCH',
  message: `${what} is in ${currency}; this target books only the company's currency (${company.currency})`,
  retryable: false,
  field: 'currency',
});

/** The answer's result, or a ConnectorError when Odoo answered something that is not what the method returns. */
export function idOf(a: Extract<OdooAnswer, { ok: true }>, what: string): number {
  const id = int(a.result);
  if (id === null) throw new ConnectorError(SYSTEM, `${what} answered without an id`, { retryable: false });
  return id;
}

/** The move Odoo holds under our reference (not cancelled), the customer's when it is known; the oldest first. */
export async function findMove(
  c: DocumentContext,
  kind: 'invoice' | 'creditNote',
  reference: string,
  customerId: string | null | undefined,
): Promise<OdooObject | null> {
  const domain: unknown[] = [
    ['move_type', '=', MOVE_TYPE[kind]],
    ['ref', '=', reference],
    ['state', '!=', 'cancel'],
  ];
  if (customerId) domain.push(['partner_id', '=', Number(customerId)]);
  const rows = await c.rpc.searchRead('account.move', domain, MOVE_FIELDS, c.signal, 2);
  return rows[0] ?? null;
}

/**
 * Posts a draft move (or payment), then reads its number. Posting cannot happen twice, so after a
 * refusal it is read back: posted is posted, whichever request did it. Returns the refusal when
 * it is still a draft.
 */
export async function post(
  c: DocumentContext,
  model: 'account.move' | 'account.payment',
  id: number,
): Promise<{ name: string } | { fault: OdooFault }> {
  let a: OdooAnswer | null = null;
  try {
    a = await c.rpc.execute(model, 'action_post', [[id]], {}, true, c.signal);
  } catch (err) {
    // A lost answer: whether it was posted is read below; still a draft, the failure stands.
    if (!(err instanceof ConnectorError) || !err.retryable) throw err;
    const row = await readState(c, model, id);
    if (text(row.state) === 'draft') throw err;
    return { name: text(row.name) };
  }
  const row = await readState(c, model, id);
  if (text(row.state) === 'draft') {
    if (!a.ok) return { fault: a.fault };
    throw new ConnectorError(SYSTEM, `${model} ${id} is still a draft after action_post`, { retryable: false });
  }
  return { name: text(row.name) };
}

async function readState(c: DocumentContext, model: string, id: number): Promise<OdooObject> {
  const [row] = (await c.rpc.read(model, 'read', [[id]], { fields: ['name', 'state'] }, c.signal)) as OdooObject[];
  if (!row) throw new ConnectorError(SYSTEM, `${model} ${id} is not readable`, { retryable: false });
  return row;
}

/** The number of a move or payment that may already be posted (the wizard posts its payment): posted first when still a draft. */
export async function posted(
  c: DocumentContext,
  model: 'account.move' | 'account.payment',
  id: number,
): Promise<{ name: string } | { fault: OdooFault }> {
  const row = await readState(c, model, id);
  return text(row.state) === 'draft' ? post(c, model, id) : { name: text(row.name) };
}

/**
 * Removes a draft Odoo refused to post (a locked period), so that a refused document leaves
 * nothing behind and is created afresh once fixed. Best effort: a draft left behind is found by
 * its reference and posted by the next attempt.
 */
export async function discardDraft(
  c: DocumentContext,
  model: 'account.move' | 'account.payment',
  id: number,
): Promise<void> {
  await c.rpc.execute(model, 'unlink', [[id]], {}, true, c.signal).catch(() => undefined);
}

/** The lookup of the engine: the move or payment under our reference, a draft posted on the way. */
export async function lookUp(
  c: DocumentContext,
  kind: TargetKind,
  reference: string,
  customerTargetId: string | null | undefined,
): Promise<FoundDocument | null> {
  if (kind === 'payment' || kind === 'refund') return lookUpPayment(c, kind, reference, customerTargetId);
  if (kind !== 'invoice' && kind !== 'creditNote') return null;
  const found = await findMove(c, kind, reference, customerTargetId);
  if (!found) return null;
  const id = int(found.id)!;
  let number = text(found.name);
  if (text(found.state) === 'draft') {
    const posted = await post(c, 'account.move', id);
    if ('fault' in posted)
      throw new ConnectorError(
        SYSTEM,
        `${kind} ${reference} is a draft in Odoo and could not be posted (${describe(posted.fault)})`,
        {
          retryable: false,
        },
      );
    number = posted.name;
  }
  return { targetId: String(id), number, customerTargetId: String(m2o(found.partner_id) ?? '') || null };
}

/** The customer payment under our reference (`ref`, `memo` on 18), posted on the way when a draft. */
export async function findPayment(
  c: DocumentContext,
  kind: 'payment' | 'refund',
  reference: string,
  customerId: string | null | undefined,
): Promise<OdooObject | null> {
  const field = paymentReferenceField(c.version);
  const domain: unknown[] = [
    [field, '=', reference],
    ['payment_type', '=', kind === 'payment' ? 'inbound' : 'outbound'],
    ['partner_type', '=', 'customer'],
  ];
  if (customerId) domain.push(['partner_id', '=', Number(customerId)]);
  const rows = await c.rpc.searchRead(
    'account.payment',
    domain,
    ['name', 'state', 'partner_id', 'amount', field],
    c.signal,
    2,
  );
  return rows.find((r) => text(r.state) !== 'cancel' && text(r.state) !== 'canceled') ?? null;
}

async function lookUpPayment(
  c: DocumentContext,
  kind: 'payment' | 'refund',
  reference: string,
  customerId: string | null | undefined,
) {
  const found = await findPayment(c, kind, reference, customerId);
  if (!found) return null;
  const id = int(found.id)!;
  let number = text(found.name);
  if (text(found.state) === 'draft') {
    const posted = await post(c, 'account.payment', id);
    if ('fault' in posted)
      throw new ConnectorError(
        SYSTEM,
        `payment ${reference} is a draft in Odoo and could not be posted (${describe(posted.fault)})`,
        {
          retryable: false,
        },
      );
    number = posted.name;
  }
  // Not found, to the engine, while it has anything open: createRefunds finds it by reference and finishes it.
  if (kind === 'refund' && (await unfinished(c, id))) return null;
  const doc = {
    targetId: `${PAYMENT_PREFIX}${id}`,
    number,
    customerTargetId: String(m2o(found.partner_id) ?? '') || null,
  };
  return kind === 'payment' && (await feeUnapplied(c, id, found)) ? { ...doc, awaitsInvoice: true } : doc;
}

/**
 * Whether a payment booked with a provider's fee (fees.ts: its receivable line settles more than
 * its amount, the rest a write-off) still has all of it open: its answer lost before it was set
 * against its invoice. The engine then applies it once (applyEarlyPayments), as it does a payment
 * that came before its invoice; one applied, or without a fee, is left as it is.
 */
async function feeUnapplied(c: DocumentContext, paymentId: number, pay: OdooObject): Promise<boolean> {
  const currency = c.company.currency;
  const [line] = await c.rpc.searchRead(
    'account.move.line',
    [['payment_id', '=', paymentId], RECEIVABLE],
    ['balance', 'amount_residual'],
    c.signal,
    1,
  );
  if (!line) return false;
  const settles = -(minor(line.balance, currency) ?? 0n);
  return settles > (minor(pay.amount, currency) ?? 0n) && minor(line.amount_residual, currency) === -settles;
}

/**
 * Whether a refund's receivable line still has something open: an attempt whose answer was lost
 * may have posted it and not yet reconciled it with the payment it returns, or reconciled it with
 * what the payment held unapplied and not yet taken the rest off the payment's invoices
 * (refund-reconcile.ts). A refund with nothing open, or with no journal entry (Odoo 18 without an
 * outstanding account), is as finished as the target can make it; one that stays open for good
 * (its payment has nothing left) is finished by createRefunds, which links it.
 */
async function unfinished(c: DocumentContext, refundId: number): Promise<boolean> {
  const [line] = await c.rpc.searchRead(
    'account.move.line',
    [['payment_id', '=', refundId], RECEIVABLE],
    ['amount_residual'],
    c.signal,
    1,
  );
  return line !== undefined && (minor(line.amount_residual, c.company.currency) ?? 0n) > 0n;
}

/** Creates and posts moves one by one: invoices, or credit notes (reversing the invoice they credit, when booked). */
async function createMoves(
  c: DocumentContext,
  kind: 'invoice' | 'creditNote',
  items: (TargetInvoice | TargetCreditNote)[],
): Promise<ItemResult[]> {
  const what = kind === 'invoice' ? 'invoice' : 'credit note';
  // One request a document: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    const reference = r.externalReference;
    if (r.currency !== c.company.currency)
      return failed(currencyMismatch(`${what} ${reference}`, r.currency, c.company));
    const lines = invoiceLines(r.lines, d.productTargetIds, c.company, c.taxRates);
    if (!Array.isArray(lines)) return failed(lines);
    const values: OdooObject = {
      move_type: MOVE_TYPE[kind],
      partner_id: Number(d.customerTargetId),
      ref: reference,
      invoice_date: r.kind === 'invoice' ? r.invoiceDate : r.date,
      invoice_line_ids: lines,
    };
    if (r.kind === 'invoice' && r.dueDate) values.invoice_date_due = r.dueDate;
    if (r.description) values.narration = r.description;
    if (c.journals?.sales) values.journal_id = c.journals.sales;
    if ('invoiceTargetId' in d && d.invoiceTargetId) values.reversed_entry_id = Number(d.invoiceTargetId);
    const a = await c.rpc.execute('account.move', 'create', [values], {}, true, c.signal);
    if (!a.ok) return failed(refused(what, reference, a.fault));
    const id = idOf(a, 'account.move.create');
    const posted = await post(c, 'account.move', id);
    if ('fault' in posted) {
      await discardDraft(c, 'account.move', id);
      return failed(refused(`to post ${what}`, reference, posted.fault));
    }
    return ok(String(id), { number: posted.name, outcome: 'created' });
  });
}

export const createInvoices = (c: DocumentContext, items: TargetInvoice[]) => createMoves(c, 'invoice', items);
export const createCreditNotes = (c: DocumentContext, items: TargetCreditNote[]) => createMoves(c, 'creditNote', items);

/** States of an `account.payment` that are out of the books: a draft, cancelled (17: `cancel`, 18: `canceled`), rejected (18). */
export const PAYMENT_OUT_OF_BOOKS = new Set(['draft', 'cancel', 'canceled', 'rejected']);

/** The fields of an `account.move` that `moveDocument` reads. */
export const MOVE_DOCUMENT_FIELDS = [
  'move_type',
  'state',
  'name',
  'ref',
  'partner_id',
  'invoice_date',
  'invoice_date_due',
  'currency_id',
  'amount_total',
  'invoice_line_ids',
];

/** The fields of an `account.payment` that `paymentDocuments` reads (the reference's field is the version's). */
export const paymentDocumentFields = (c: DocumentContext): string[] => [
  'name',
  'state',
  paymentReferenceField(c.version),
  'partner_id',
  'date',
  'amount',
  'currency_id',
  'payment_type',
];

const currencyOf = (c: DocumentContext, v: unknown) => (Array.isArray(v) ? text(v[1]) : '') || c.company.currency;

/** A customer invoice or credit note (`account.move` read with MOVE_DOCUMENT_FIELDS) as a document; null for another kind of move. */
export function moveDocument(c: DocumentContext, e: OdooObject): TargetDocument | null {
  const type = text(e.move_type);
  if (type !== 'out_invoice' && type !== 'out_refund') return null;
  const currency = currencyOf(c, e.currency_id);
  const id = String(int(e.id));
  return {
    targetId: id,
    kind: type === 'out_invoice' ? 'invoice' : 'creditNote',
    number: text(e.name),
    customerTargetId: String(m2o(e.partner_id) ?? ''),
    externalReference: text(e.ref),
    date: text(e.invoice_date),
    dueDate: text(e.invoice_date_due) || null,
    currency,
    gross: minor(e.amount_total, currency) ?? 0n,
    lines: Array.isArray(e.invoice_line_ids) ? e.invoice_line_ids.length : 0,
    ...(text(e.state) !== 'posted' ? { voided: true } : {}),
  };
}

/**
 * Payments (`account.payment` rows read with `paymentDocumentFields`) as documents, an outbound one
 * a refund: one more `search_read` for what each settles on its customer (its receivable line: the
 * amount, and a fee written off beside it).
 */
export async function paymentDocuments(c: DocumentContext, rows: OdooObject[]): Promise<TargetDocument[]> {
  if (rows.length === 0) return [];
  const field = paymentReferenceField(c.version);
  const ids = rows.map((e) => int(e.id)).filter((id): id is number => id !== null);
  const settled = new Map<number, bigint>();
  for (const l of await c.rpc.searchRead(
    'account.move.line',
    [['payment_id', 'in', ids], RECEIVABLE],
    ['payment_id', 'balance'],
    c.signal,
    null,
  )) {
    const p = m2o(l.payment_id);
    const b = minor(l.balance, c.company.currency);
    if (p !== null && b !== null) settled.set(p, (settled.get(p) ?? 0n) + (b < 0n ? -b : b));
  }
  return rows.map((e) => {
    const currency = currencyOf(c, e.currency_id);
    return {
      targetId: `${PAYMENT_PREFIX}${int(e.id)}`,
      kind: text(e.payment_type) === 'outbound' ? 'refund' : 'payment',
      number: text(e.name),
      customerTargetId: String(m2o(e.partner_id) ?? ''),
      externalReference: text(e[field]),
      date: text(e.date),
      dueDate: null,
      currency,
      gross: settled.get(int(e.id)!) ?? minor(e.amount, currency) ?? 0n,
      lines: 0,
      ...(PAYMENT_OUT_OF_BOOKS.has(text(e.state)) ? { voided: true } : {}),
    };
  });
}

/**
 * Documents by id, as Odoo holds them now: moves (invoices, credit notes) and payments (refunds
 * are outbound ones), each model in one `search_read` on `[('id', 'in', ids)]`, so that a page of
 * ids is a few requests whatever its size, and an id Odoo no longer has (a draft deleted) is left
 * out rather than failing the read as `read` would (MissingError). A move that is not posted
 * (cancelled, or reset to draft) and a payment cancelled or back in draft are `voided`: out of the
 * books. A payment's `gross` is what it settles on its customer: its amount, and the provider's
 * fee written off beside it (fees.ts).
 */
export async function readDocuments(c: DocumentContext, ids: string[]): Promise<Map<string, TargetDocument>> {
  const out = new Map<string, TargetDocument>();
  const moveIds = ids.filter((i) => /^\d+$/.test(i)).map(Number);
  const paymentIds = ids.filter((i) => i.startsWith(PAYMENT_PREFIX)).map((i) => Number(i.slice(PAYMENT_PREFIX.length)));
  if (moveIds.length > 0)
    for (const e of await c.rpc.searchRead(
      'account.move',
      [['id', 'in', moveIds]],
      MOVE_DOCUMENT_FIELDS,
      c.signal,
      null,
    )) {
      const d = moveDocument(c, e);
      if (d) out.set(d.targetId, d);
    }
  if (paymentIds.length > 0) {
    const rows = await c.rpc.searchRead(
      'account.payment',
      [['id', 'in', paymentIds]],
      paymentDocumentFields(c),
      c.signal,
      null,
    );
    for (const d of await paymentDocuments(c, rows)) out.set(d.targetId, d);
  }
  return out;
}
