import { formatAmount, minBig, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { PipelineMapping } from '../../sync/pipelines.ts';
import type {
  EarlyPayment,
  FoundDocument,
  ItemError,
  ItemResult,
  TargetAllocation,
  TargetCreditNote,
  TargetInvoice,
  TargetKind,
  TargetPayment,
} from '../../sync/target.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import { appliedEarly, invoiceMissing, nothingToApply, paymentGone } from '../../sync/remote/early.ts';
import { BatchInterrupted, failed, ok } from '../../sync/target.ts';
import { type Answer, type IntacctApi, writeControlId } from './api.ts';
import { type BookedFee, bookFee, feesAccount } from './fees.ts';
import { lineItems } from './map.ts';
import { type IntacctSettings, SYSTEM } from './settings.ts';
import { type Xml, describe, isoDate, legacyDate, quote, text, usDate } from './xml.ts';

/*
 * Invoices (create_invoice), credit adjustments (create_aradjustment), received payments (ARPYMT
 * applied to the invoice they pay) and credit adjustments applied to invoices (apply_arpayment),
 * one request each, its control id derived from the document with uniqueid true. Our reference
 * is each document's reference number (DOCNUMBER: the invoice's ponumber, the adjustment's
 * invoiceno, the payment's DOCNUMBER or refid), a field Intacct does not hold unique, so that two
 * customers' documents under one reference are each booked, and a lost answer is found again with
 * readByQuery on it and the customer. A write the gateway refuses as a repeated control id is
 * looked up at once: it was committed by an earlier attempt.
 */

export interface DocumentContext {
  api: IntacctApi;
  settings: IntacctSettings;
  mapping: PipelineMapping;
  /** Requests the company allows at once (the planner holds every call to them as well). */
  concurrency: number;
  signal?: AbortSignal | undefined;
}

type Row = Record<string, Xml>;
/**
 * Where our reference is, and where an earlier version kept it: a credit adjustment's number
 * (RECORDID, `adjustmentno`), which is one number per company, so a second customer's adjustment
 * under the same reference could not be booked.
 */
export const OBJECTS = {
  invoice: { object: 'ARINVOICE', ref: 'DOCNUMBER', before: null },
  creditNote: { object: 'ARADJUSTMENT', ref: 'DOCNUMBER', before: 'RECORDID' },
  payment: { object: 'ARPYMT', ref: 'DOCNUMBER', before: null },
} as const;
export type DocKind = keyof typeof OBJECTS;

const refused = (what: string, reference: string, a: Extract<Answer, { duplicate: false }>): ItemError => ({
  code: 'TARGET_REFUSED',
  message: `${SYSTEM} refused ${what} ${reference} (${describe(a.result.errors)})`,
  retryable: false,
});

function currencyOk(c: DocumentContext, what: string, currency: string): ItemError | null {
  if (currency === c.settings.currency) return null;
  return {
    code: 'CURRENCY_MISMATCH',
    message: `${what} is in ${currency}; this target books only the company's base currency (${c.settings.currency})`,
    retryable: false,
    field: 'currency',
  };
}

/** The one document held under our reference (the customer's, when known); the oldest if several. */
export async function findDocument(
  c: DocumentContext,
  kind: DocKind,
  reference: string,
  customerId: string | null | undefined,
): Promise<Row | null> {
  const o = OBJECTS[kind];
  const under = async (field: string) => {
    const where = `${field} = ${quote(reference)}${customerId ? ` AND CUSTOMERID = ${quote(customerId)}` : ''}`;
    const rows = (await c.api.query(o.object, where, c.signal))
      .filter((r) => text(r[field]) === reference)
      .sort((a, b) => Number(text(a.RECORDNO)) - Number(text(b.RECORDNO)));
    return rows[0] ?? null;
  };
  return (await under(o.ref)) ?? (o.before ? under(o.before) : null);
}

/** Our reference on a document read back: where it is now, else where an earlier version kept it. */
export const referenceOf = (kind: DocKind, r: Row): string => {
  const o = OBJECTS[kind];
  return text(r[o.ref]) || (o.before ? text(r[o.before]) : '');
};

export const numberOf = (kind: DocKind, r: Row) => (kind === 'payment' ? text(r.DOCNUMBER) : text(r.RECORDID));

/** The engine's lookup before anything is sent again. */
export async function lookUp(
  c: DocumentContext,
  kind: TargetKind,
  reference: string,
  customerTargetId: string | null | undefined,
): Promise<FoundDocument | null> {
  if (kind === 'customer' || kind === 'product') {
    const [object, id] = kind === 'customer' ? ['CUSTOMER', 'CUSTOMERID'] : ['ITEM', 'ITEMID'];
    const row = (await c.api.query(object, `${id} = ${quote(reference)}`, c.signal))[0];
    return row ? { targetId: text(row[id]), number: text(row[id]) } : null;
  }
  if (kind !== 'invoice' && kind !== 'creditNote' && kind !== 'payment') return null;
  const row = await findDocument(c, kind, reference, customerTargetId);
  if (!row) return null;
  return { targetId: text(row.RECORDNO), number: numberOf(kind, row) || null, customerTargetId: text(row.CUSTOMERID) };
}

/**
 * What a write answered, as an item: created (its record read back for the number), found again
 * after the gateway refused its control id as used, or refused.
 */
async function settleWrite(
  c: DocumentContext,
  kind: DocKind,
  what: string,
  reference: string,
  customerId: string,
  a: Answer,
  key: (a: Extract<Answer, { duplicate: false }>) => string,
): Promise<ItemResult> {
  if (a.duplicate) {
    const found = await findDocument(c, kind, reference, customerId);
    if (!found)
      throw new ConnectorError(
        SYSTEM,
        `${what} ${reference}: the gateway says this request was already processed, and it cannot be found yet (${describe(a.errors)})`,
        { retryable: true },
      );
    return ok(text(found.RECORDNO), {
      number: numberOf(kind, found),
      outcome: 'linked',
      message: 'already processed under the same control id; linked',
    });
  }
  if (a.result.status !== 'success') return failed(refused(what, reference, a));
  const recordNo = key(a);
  const rows = recordNo ? await c.api.query(OBJECTS[kind].object, `RECORDNO = ${quote(recordNo)}`, c.signal) : [];
  if (!rows[0])
    throw new ConnectorError(SYSTEM, `${what} ${reference} was created but its record ${recordNo} cannot be read`, {
      retryable: false,
    });
  return ok(recordNo, { number: numberOf(kind, rows[0]) || reference, outcome: 'created' });
}

const lineContext = (c: DocumentContext) => ({
  mapping: c.mapping,
  salesGlAccount: c.settings.salesGlAccount,
  taxGlAccounts: c.settings.taxGlAccounts,
  currency: c.settings.currency,
});

/**
 * Books invoices with create_invoice, one a request and up to the company's requests at once
 * (its only limit: one at a time would leave the others idle); our reference is its reference
 * number (ponumber).
 */
export function createInvoices(c: DocumentContext, items: TargetInvoice[]): Promise<ItemResult[]> {
  return mapAtMost(items, c.concurrency, async (d) => {
    const r = d.record;
    const wrong = currencyOk(c, `Invoice ${r.externalReference}`, r.currency);
    const lines = wrong ?? lineItems(r.lines, lineContext(c), 1n, d.productTargetIds);
    if ('code' in lines) return failed(lines);
    const a = await c.api.call(
      {
        name: 'create_invoice',
        body: {
          customerid: d.customerTargetId,
          datecreated: legacyDate(r.invoiceDate),
          datedue: legacyDate(r.dueDate ?? r.invoiceDate),
          ponumber: r.externalReference,
          ...(r.description ? { description: r.description.slice(0, 1000) } : {}),
          invoiceitems: { lineitem: lines.items },
        },
      },
      { write: true, controlId: writeControlId(d.idempotencyKey, 'invoice'), signal: c.signal },
    );
    return settleWrite(c, 'invoice', 'invoice', r.externalReference, d.customerTargetId, a, (x) => x.result.key);
  });
}

/**
 * Books credit notes as credit adjustments (negative lines). Our reference is the adjustment's
 * reference number (`invoiceno`, DOCNUMBER), which another customer's adjustment may share; it is
 * its number (`adjustmentno`, RECORDID) too, as people look for it, unless an adjustment holds
 * that number already (another customer's under the same reference): then Intacct numbers it.
 */
export async function createCreditNotes(c: DocumentContext, items: TargetCreditNote[]): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  for (const d of items) {
    const r = d.record;
    const wrong = currencyOk(c, `Credit note ${r.externalReference}`, r.currency);
    const lines = wrong ?? lineItems(r.lines, lineContext(c), -1n, d.productTargetIds);
    if ('code' in lines) {
      out.push(failed(lines));
      continue;
    }
    const numbered = (await c.api.query('ARADJUSTMENT', `RECORDID = ${quote(r.externalReference)}`, c.signal)).some(
      (x) => text(x.RECORDID) === r.externalReference,
    );
    const a = await c.api.call(
      {
        name: 'create_aradjustment',
        body: {
          customerid: d.customerTargetId,
          datecreated: legacyDate(r.date),
          ...(numbered ? {} : { adjustmentno: r.externalReference }),
          invoiceno: r.externalReference,
          ...(r.description ? { description: r.description.slice(0, 1000) } : {}),
          aradjustmentitems: { lineitem: lines.items },
        },
      },
      { write: true, controlId: writeControlId(d.idempotencyKey, 'creditNote'), signal: c.signal },
    );
    out.push(
      await settleWrite(
        c,
        'creditNote',
        'credit note',
        r.externalReference,
        d.customerTargetId,
        a,
        (x) => x.result.key,
      ),
    );
  }
  return out;
}

/** What an invoice still owes, in minor units (0 when it is gone). */
async function due(c: DocumentContext, invoiceId: string, currency: string): Promise<bigint> {
  const row = (await c.api.query('ARINVOICE', `RECORDNO = ${quote(invoiceId)}`, c.signal))[0];
  const parsed = parseAmount(text(row?.TOTALDUE) || '0', currency);
  return parsed.ok ? parsed.value : 0n;
}

/**
 * A payment with nothing to apply, or more than its invoice still owes: ARPYMT creates no advance
 * (developer.intacct.com "AR Payments"), so it goes with the legacy create_arpayment, which keeps
 * the rest as an overpayment that apply_arpayment sets against invoices later.
 */
async function legacyPayment(
  c: DocumentContext,
  d: TargetPayment,
  amount: bigint,
  applied: bigint,
): Promise<ItemResult> {
  const r = d.record;
  const a = await c.api.call(
    {
      name: 'create_arpayment',
      body: {
        customerid: d.customerTargetId,
        paymentamount: formatAmount(amount, r.currency),
        bankaccountid: c.settings.bankAccountId,
        refid: r.externalReference,
        datereceived: legacyDate(r.date),
        paymentmethod: c.settings.paymentMethod,
        ...(applied > 0n && d.invoiceTargetId
          ? { arpaymentitem: [{ invoicekey: d.invoiceTargetId, amount: formatAmount(applied, r.currency) }] }
          : {}),
      },
    },
    { write: true, controlId: writeControlId(d.idempotencyKey, 'payment'), signal: c.signal },
  );
  return settleWrite(c, 'payment', 'payment', r.externalReference, d.customerTargetId, a, (x) => x.result.key);
}

/** A payment's result with what became of its fee said (the fee is booked first: fees.ts). */
function withFee(r: ItemResult, fee: BookedFee | null): ItemResult {
  if (!fee) return r;
  if (r.ok)
    return {
      ...r,
      message: `fee ${fee.label} ${fee.found ? 'already booked' : 'booked'} as bank charge ${fee.id}${r.message ? `; ${r.message}` : ''}`,
    };
  // Said, so that nobody books the fee again by hand: it is found, not booked again, when the payment is sent again.
  return {
    ok: false,
    error: { ...r.error, message: `${r.error.message} (its fee ${fee.label} is booked as bank charge ${fee.id})` },
  };
}

/**
 * Books received payments as ARPYMT applied to the invoice they pay, up to what it owes; the
 * rest (or a payment naming no invoice) as the legacy create_arpayment's overpayment. A payment
 * with a provider's fee has its fee booked first (fees.ts), and is not sent without it.
 */
export async function createPayments(c: DocumentContext, items: TargetPayment[]): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  // The fees account, read once a call and only when a payment has a fee.
  let account: Promise<string | ItemError> | null = null;
  const accountOnce = () => (account ??= feesAccount(c));
  for (const d of items) {
    const r = d.record;
    const wrong = currencyOk(c, `Payment ${r.externalReference}`, r.currency);
    if (wrong) {
      out.push(failed(wrong));
      continue;
    }
    const amount = parseAmount(r.amount, r.currency);
    if (!amount.ok || amount.value <= 0n) {
      out.push(
        failed({
          code: 'AMOUNT_INVALID',
          message: `Payment ${r.externalReference}: ${r.amount} is not an amount Intacct takes (more than zero)`,
          retryable: false,
          field: 'amount',
        }),
      );
      continue;
    }
    const fee = await bookFee(c, d, accountOnce);
    if (fee && 'code' in fee) {
      out.push(failed(fee));
      continue;
    }
    const owed = d.invoiceTargetId ? await due(c, d.invoiceTargetId, r.currency) : 0n;
    if (!d.invoiceTargetId || owed < amount.value) {
      out.push(withFee(await legacyPayment(c, d, amount.value, minBig(owed, amount.value)), fee));
      continue;
    }
    const a = await c.api.call(
      {
        name: 'create',
        body: {
          ARPYMT: {
            FINANCIALENTITY: c.settings.bankAccountId,
            PAYMENTMETHOD: c.settings.paymentMethod,
            CUSTOMERID: d.customerTargetId,
            DOCNUMBER: r.externalReference,
            ...(r.description ? { DESCRIPTION: r.description.slice(0, 1000) } : {}),
            RECEIPTDATE: usDate(r.date),
            PAYMENTDATE: usDate(r.date),
            ARPYMTDETAILS: {
              ARPYMTDETAIL: [
                { RECORDKEY: d.invoiceTargetId, TRX_PAYMENTAMOUNT: formatAmount(amount.value, r.currency) },
              ],
            },
          },
        },
      },
      { write: true, controlId: writeControlId(d.idempotencyKey, 'payment'), signal: c.signal },
    );
    out.push(
      withFee(
        await settleWrite(c, 'payment', 'payment', r.externalReference, d.customerTargetId, a, (x) => {
          const rows = x.result.data?.arpymt;
          return text(Array.isArray(rows) ? (rows[0] as Row | undefined)?.RECORDNO : undefined);
        }),
        fee,
      ),
    );
  }
  return out;
}

/** The target id of an application (Intacct answers apply_arpayment with no id of its own). */
const applicationId = (fromId: string, invoiceId: string, amount: string, date: string) =>
  `${fromId}>${invoiceId}:${amount}@${date}`;

/** What a payment or credit adjustment has applied to an invoice, in minor units (ARPYMTDETAIL). */
async function applied(c: DocumentContext, fromId: string, invoiceId: string, currency: string): Promise<bigint> {
  const rows = await c.api.query(
    'ARPYMTDETAIL',
    `PAYMENTKEY = ${quote(fromId)} AND RECORDKEY = ${quote(invoiceId)}`,
    c.signal,
  );
  let sum = 0n;
  for (const row of rows) {
    const v = parseAmount(text(row.TRX_PAYMENTAMOUNT) || '0', currency);
    if (v.ok) sum += v.value;
  }
  return sum;
}

/** Sets credit adjustments (and payments with something left) against invoices with apply_arpayment. */
export async function createAllocations(c: DocumentContext, items: TargetAllocation[]): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  for (const d of items) {
    const r = d.record;
    const amount = parseAmount(r.amount, r.currency);
    if (!amount.ok || amount.value <= 0n) {
      out.push(
        failed({
          code: 'AMOUNT_INVALID',
          message: `Allocation ${r.sourceId}: ${r.amount}`,
          retryable: false,
          field: 'amount',
        }),
      );
      continue;
    }
    const a = await c.api.call(
      {
        name: 'apply_arpayment',
        body: {
          arpaymentkey: d.fromTargetId,
          paymentdate: legacyDate(r.date),
          arpaymentitems: {
            arpaymentitem: [{ invoicekey: d.invoiceTargetId, amount: formatAmount(amount.value, r.currency) }],
          },
        },
      },
      { write: true, controlId: writeControlId(d.idempotencyKey, 'allocation'), signal: c.signal },
    );
    const id = applicationId(d.fromTargetId, d.invoiceTargetId, r.amount, r.date);
    if (a.duplicate) {
      if ((await applied(c, d.fromTargetId, d.invoiceTargetId, r.currency)) >= amount.value) {
        out.push(ok(id, { outcome: 'linked', message: 'already processed under the same control id; linked' }));
        continue;
      }
      throw new ConnectorError(SYSTEM, `allocation ${r.sourceId}: already processed, and not found yet`, {
        retryable: true,
      });
    }
    if (a.result.status !== 'success') {
      out.push(failed(refused(`the application of ${r.from}`, r.fromExternalReference, a)));
      continue;
    }
    out.push(ok(id, { outcome: 'created' }));
  }
  return out;
}

/**
 * Payments booked before the invoice they name (the legacy create_arpayment's overpayment; the
 * engine's note, src/sync/engine/early-payments.ts), set against it now that it is booked with
 * apply_arpayment: as much as the payment has left and the invoice still owes (their TOTALDUE),
 * both read just before, so that running it again after a lost answer applies nothing twice
 * (and the control id is the application's, so that a retried request is Intacct's duplicate).
 * Dated the later of the two. The invoice handed over must be the customer's under the named
 * reference, else that invoice is looked up by reference.
 */
export async function applyEarlyPayments(c: DocumentContext, items: EarlyPayment[]): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  for (const e of items) {
    const pay = (await c.api.query('ARPYMT', `RECORDNO = ${quote(e.paymentTargetId)}`, c.signal))[0];
    if (!pay) {
      out.push(paymentGone(e, SYSTEM));
      continue;
    }
    const customer = text(pay.CUSTOMERID);
    const named = (row: Row | null | undefined) =>
      row && text(row.DOCNUMBER) === e.invoiceReference && text(row.CUSTOMERID) === customer ? row : null;
    const inv =
      named((await c.api.query('ARINVOICE', `RECORDNO = ${quote(e.invoiceTargetId)}`, c.signal))[0]) ??
      named(await findDocument(c, 'invoice', e.invoiceReference, customer));
    if (!inv) {
      out.push(invoiceMissing(e, SYSTEM, customer));
      continue;
    }
    const currency = e.currency;
    const open = (row: Row) => {
      const v = parseAmount(text(row.TOTALDUE).replace(/^-/, '') || '0', currency);
      return v.ok ? v.value : 0n;
    };
    const [left, owed] = [open(pay), open(inv)];
    const take = minBig(left, owed);
    const invoiceId = text(inv.RECORDNO);
    const where = `${SYSTEM} ${text(inv.RECORDID) || e.invoiceReference}`;
    if (take <= 0n) {
      out.push(nothingToApply(e, where, left <= 0n));
      continue;
    }
    const paid = isoDate(text(pay.PAYMENTDATE));
    const invoiced = isoDate(text(inv.WHENCREATED));
    const amount = formatAmount(take, currency);
    const a = await c.api.call(
      {
        name: 'apply_arpayment',
        body: {
          arpaymentkey: e.paymentTargetId,
          paymentdate: legacyDate(paid > invoiced ? paid : invoiced),
          arpaymentitems: { arpaymentitem: [{ invoicekey: invoiceId, amount }] },
        },
      },
      {
        write: true,
        controlId: writeControlId(`${e.paymentTargetId}>${invoiceId}:${amount}`, 'early'),
        signal: c.signal,
      },
    );
    if (a.duplicate) {
      // Processed under the same control id: read again to see whether it took.
      if ((await applied(c, e.paymentTargetId, invoiceId, currency)) >= take) {
        out.push(ok(e.paymentTargetId, { outcome: 'unchanged', message: 'already applied under the same control id' }));
        continue;
      }
      throw new BatchInterrupted(
        out,
        new ConnectorError(SYSTEM, `payment ${e.paymentReference}: already processed, and not applied yet`, {
          retryable: true,
        }),
      );
    }
    if (a.result.status !== 'success') {
      out.push(failed(refused('the application of payment', e.paymentReference, a)));
      continue;
    }
    out.push(appliedEarly(e, where, amount, left > take ? 'the rest stays on the payment' : null));
  }
  return out;
}

/** An application Intacct already holds between the same documents for the amount, none of `taken`. */
export async function findAllocation(
  c: DocumentContext,
  d: TargetAllocation,
  taken: ReadonlySet<string>,
): Promise<FoundDocument | null> {
  const r = d.record;
  const amount = parseAmount(r.amount, r.currency);
  const id = applicationId(d.fromTargetId, d.invoiceTargetId, r.amount, r.date);
  if (!amount.ok || taken.has(id)) return null;
  return (await applied(c, d.fromTargetId, d.invoiceTargetId, r.currency)) >= amount.value ? { targetId: id } : null;
}
