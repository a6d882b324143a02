import { formatAmount, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { mapAtMost } from '../../sync/remote/at-most.ts';
import type {
  FoundDocument,
  ItemError,
  ItemResult,
  TargetAllocation,
  TargetCreditNote,
  TargetInvoice,
  TargetKind,
  TargetPayment,
} from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type MyobAnswer, type MyobApi, type MyobObject, describe, literal, text } from './api.ts';
import { type Company, dateTime, minor, num, serviceLines, termsFor, tooLong } from './map.ts';
import { MAX, SYSTEM } from './settings.ts';
import { paymentFee } from '../../sync/fee-match.ts';
import { type FeesAccount, bookFee } from './fees.ts';

/*
 * Sales (invoices and credit notes), customer payments and credit settlements in MYOB, one request
 * each: MYOB has no batch endpoint and no idempotency key. MYOB numbers every sale itself (its
 * `Number`, written back); our reference goes in the sale's `CustomerPurchaseOrderNumber` and the
 * payment's `Memo`, and a lost answer is found again by listing with `$filter` on that field and
 * matching it exactly. A write answers 201 with the new record's URI in `Location`; the record is
 * then read for its number. Refusals are item failures carrying MYOB's error names and messages;
 * an unknown outcome is the RemoteClient's retryable ConnectorError, for the engine to look up.
 */

export interface DocumentContext {
  api: MyobApi;
  company: Company;
  taxRates: Record<string, string> | undefined;
  paymentMethod: string | undefined;
  /** The account payment providers' fees go to (fees.ts), resolved on first use. */
  feesAccount: () => Promise<FeesAccount | ItemError>;
  signal?: AbortSignal | undefined;
}

export const SALE = 'Sale/Invoice/Service';
export const PAYMENT = 'Sale/CustomerPayment';
export const SETTLEMENT = 'Sale/CreditSettlement';

const refused = (what: string, reference: string, a: Extract<MyobAnswer, { ok: false }>): ItemError => ({
  code: 'TARGET_REFUSED',
  message: `${SYSTEM} refused ${what} ${reference} (${describe(a)})`,
  retryable: false,
});

const currencyMismatch = (what: string, currency: string, company: Company): ItemError => ({
  code: 'CURRENCY_MISMATCH',
  message: `${what} is in ${currency}; this target books only the company file's currency (${company.currency})`,
  retryable: false,
  field: 'currency',
});

const uidOf = (v: unknown): string => text((v as MyobObject | undefined)?.UID);

/** The UID of a record a 201 created: from its Location. */
function createdUid(a: Extract<MyobAnswer, { ok: true }>, what: string): string {
  const uid = a.uid ?? uidOf(a.body);
  if (!uid)
    throw new ConnectorError(SYSTEM, `${what} answered ${a.status} without the new record's Location`, {
      retryable: false,
    });
  return uid;
}

/** The sale (invoice, or credit note: a negative sale) MYOB holds under our reference. */
export async function findSale(
  c: DocumentContext,
  kind: 'invoice' | 'creditNote',
  reference: string,
  customerUid: string | null | undefined,
): Promise<MyobObject | null> {
  const filter = [
    `CustomerPurchaseOrderNumber eq ${literal(reference)}`,
    ...(customerUid ? [`Customer/UID eq guid${literal(customerUid)}`] : []),
  ].join(' and ');
  const rows = await c.api.list(SALE, filter, c.signal);
  const exact = rows
    .filter(
      (r) => text(r.CustomerPurchaseOrderNumber) === reference && (!customerUid || uidOf(r.Customer) === customerUid),
    )
    .filter((r) => (minor(r.TotalAmount, c.company.currency) ?? 0n) < 0n === (kind === 'creditNote'))
    .sort((a, b) => text(a.UID).localeCompare(text(b.UID)));
  return exact[0] ?? null;
}

/** The customer payment MYOB holds under our reference (its Memo). */
export async function findPayment(
  c: DocumentContext,
  reference: string,
  customerUid: string | null | undefined,
): Promise<MyobObject | null> {
  const rows = await c.api.list(PAYMENT, `Memo eq ${literal(reference)}`, c.signal);
  const exact = rows
    .filter((r) => text(r.Memo) === reference && (!customerUid || uidOf(r.Customer) === customerUid))
    .sort((a, b) => text(a.UID).localeCompare(text(b.UID)));
  return exact[0] ?? null;
}

/** The lookup of the engine: the sale or payment under our reference. */
export async function lookUp(
  c: DocumentContext,
  kind: TargetKind,
  reference: string,
  customerTargetId: string | null | undefined,
): Promise<FoundDocument | null> {
  if (kind === 'invoice' || kind === 'creditNote') {
    const found = await findSale(c, kind, reference, customerTargetId);
    return found
      ? {
          targetId: text(found.UID),
          number: text(found.Number) || null,
          customerTargetId: uidOf(found.Customer) || null,
        }
      : null;
  }
  if (kind === 'payment') {
    const found = await findPayment(c, reference, customerTargetId);
    return found
      ? {
          targetId: text(found.UID),
          number: text(found.ReceiptNumber) || null,
          customerTargetId: uidOf(found.Customer) || null,
        }
      : null;
  }
  return null;
}

/** Books a sale (an invoice, or a credit note as a negative sale) and reads its number back. */
async function createSale(
  c: DocumentContext,
  what: 'Invoice' | 'Credit note',
  reference: string,
  customerUid: string,
  date: string,
  memo: string,
  lines: MyobObject[],
  terms: MyobObject | null = null,
): Promise<ItemResult> {
  const a = await c.api.call(
    {
      method: 'POST',
      path: SALE,
      json: {
        Date: dateTime(date),
        Customer: { UID: customerUid },
        CustomerPurchaseOrderNumber: reference,
        IsTaxInclusive: false,
        ...(terms ? { Terms: terms } : {}),
        ...(memo ? { JournalMemo: memo.slice(0, 255) } : {}),
        Lines: lines,
      },
    },
    c.signal,
  );
  if (!a.ok) return failed(refused(what.toLowerCase(), reference, a));
  const uid = createdUid(a, `POST ${SALE}`);
  const sale = await c.api.byUid(SALE, uid, c.signal);
  return ok(uid, { number: text(sale?.Number) || null, outcome: 'created' });
}

/** Books invoices one by one, as open Service-layout sales. */
export async function createInvoices(c: DocumentContext, items: TargetInvoice[]): Promise<ItemResult[]> {
  // One request a document: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    const problem =
      (r.currency !== c.company.currency
        ? currencyMismatch(`Invoice ${r.externalReference}`, r.currency, c.company)
        : null) ?? tooLong('Invoice reference', r.externalReference, MAX.reference, 'CustomerPurchaseOrderNumber');
    const terms = termsFor(r.invoiceDate, r.dueDate);
    const lines = problem ?? ('code' in terms ? terms : serviceLines(r.lines, c.company, c.taxRates, 1));
    if (!Array.isArray(lines)) return failed(lines);
    return createSale(
      c,
      'Invoice',
      r.externalReference,
      d.customerTargetId,
      r.invoiceDate,
      r.description,
      lines,
      'code' in terms ? null : terms.terms,
    );
  });
}

/** Books credit notes one by one, as negative sales open on the customer: what they settle is an allocation. */
export async function createCreditNotes(c: DocumentContext, items: TargetCreditNote[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    const problem =
      (r.currency !== c.company.currency
        ? currencyMismatch(`Credit note ${r.externalReference}`, r.currency, c.company)
        : null) ?? tooLong('Credit note reference', r.externalReference, MAX.reference, 'CustomerPurchaseOrderNumber');
    const lines = problem ?? serviceLines(r.lines, c.company, c.taxRates, -1);
    if (!Array.isArray(lines)) return failed(lines);
    return createSale(c, 'Credit note', r.externalReference, d.customerTargetId, r.date, r.description, lines);
  });
}

/**
 * Books customer payments one by one, each applied to the invoice it names. MYOB records a
 * payment as money applied to open sales (its `AmountReceived` is what the `Invoices` apply) and
 * takes no change of application afterwards: a payment naming no booked invoice, or more than
 * that invoice still owes, is refused with TARGET_CAPABILITY_MISSING rather than booked otherwise.
 * A payment provider's fee is spent first (fees.ts): a payment whose fee MYOB does not hold is not sent.
 */
export async function createPayments(c: DocumentContext, items: TargetPayment[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    if (r.currency !== c.company.currency)
      return failed(currencyMismatch(`Payment ${r.externalReference}`, r.currency, c.company));
    const long = tooLong('Payment reference', r.externalReference, MAX.reference, 'Memo');
    if (long) return failed(long);
    const amount = parseAmount(r.amount, r.currency);
    if (!amount.ok || amount.value <= 0n) {
      return failed({
        code: 'AMOUNT_INVALID',
        message: `Payment ${r.externalReference}: ${r.amount} is not an amount MYOB takes (more than zero)`,
        retryable: false,
        field: 'amount',
      });
    }
    // The invoice it pays is named but not booked yet (parked, say): the payment waits for it.
    if (!d.invoiceTargetId && r.invoiceExternalReference) {
      return failed({
        code: 'ALLOCATION_DOCUMENT_NOT_SYNCED',
        message: `Payment ${r.externalReference} pays invoice ${r.invoiceExternalReference}, which is not booked in MYOB by this pipeline yet; MYOB applies a customer payment only to open invoices`,
        retryable: false,
        field: 'invoiceExternalReference',
        needs: { kind: 'invoice', customerTargetId: d.customerTargetId, reference: r.invoiceExternalReference },
      });
    }
    const sale = d.invoiceTargetId ? await c.api.byUid(SALE, d.invoiceTargetId, c.signal) : null;
    const balance = sale ? (minor(sale.BalanceDueAmount, r.currency) ?? 0n) : 0n;
    if (!sale || amount.value > balance) {
      return failed({
        code: 'TARGET_CAPABILITY_MISSING',
        message: sale
          ? `Payment ${r.externalReference} of ${r.amount} is more than invoice ${text(sale.Number)} still owes (${formatAmount(balance, r.currency)}); MYOB applies a customer payment in full to open invoices and keeps no unapplied payment`
          : `Payment ${r.externalReference} names no invoice booked in MYOB; MYOB applies a customer payment in full to open invoices and keeps no unapplied payment`,
        retryable: false,
      });
    }
    const fee = paymentFee(d.record);
    if (fee !== null && typeof fee !== 'bigint') return failed(fee);
    const booked = fee === null ? null : await bookFee(c, d, fee, items);
    if (booked && 'code' in booked) return failed(booked);
    const applied = num(formatAmount(amount.value, r.currency));
    const a = await c.api.call(
      {
        method: 'POST',
        path: PAYMENT,
        json: {
          DepositTo: 'Account',
          Account: { UID: c.company.bankAccountUid },
          Customer: { UID: d.customerTargetId },
          Memo: r.externalReference,
          Date: dateTime(r.date),
          AmountReceived: applied,
          ...(c.paymentMethod ? { PaymentMethod: c.paymentMethod } : {}),
          Invoices: [{ UID: d.invoiceTargetId, Type: 'Invoice', AmountApplied: applied }],
        },
      },
      c.signal,
    );
    if (!a.ok) {
      const why = refused('payment', r.externalReference, a);
      // Said, so that nobody spends the fee again by hand: it is found when the payment is sent again.
      if (booked)
        why.message += ` (its fee ${booked.label} is booked as spend money ${booked.id} and is not booked again when the payment is sent again)`;
      return failed(why);
    }
    const uid = createdUid(a, `POST ${PAYMENT}`);
    const pay = await c.api.byUid(PAYMENT, uid, c.signal);
    return ok(uid, {
      number: text(pay?.ReceiptNumber) || r.externalReference,
      outcome: 'created',
      ...(booked
        ? { message: `fee ${booked.label} ${booked.found ? 'already booked' : 'booked'} as spend money ${booked.id}` }
        : {}),
    });
  });
}

/** The settlements of a credit (a negative sale) that apply `amount` to the invoice. */
async function settlementsOf(c: DocumentContext, creditUid: string): Promise<MyobObject[]> {
  return c.api.list(SETTLEMENT, `CreditFromInvoice/UID eq guid${literal(creditUid)}`, c.signal);
}

function settles(s: MyobObject, invoiceUid: string, amount: bigint, currency: string): boolean {
  const lines = Array.isArray(s.Lines) ? (s.Lines as MyobObject[]) : [];
  return lines.some((l) => uidOf(l.Sale) === invoiceUid && minor(l.AmountApplied, currency) === amount);
}

/**
 * Sets credit notes against invoices with a credit settlement (POST Sale/CreditSettlement); its
 * UID is the allocation's id. A payment set against an invoice later is refused: MYOB takes no
 * change of a customer payment's application.
 */
export async function createAllocations(c: DocumentContext, items: TargetAllocation[]): Promise<ItemResult[]> {
  return mapAtMost(items, 1, async (d) => {
    const r = d.record;
    const amount = parseAmount(r.amount, r.currency);
    if (!amount.ok || amount.value <= 0n) {
      return failed({
        code: 'AMOUNT_INVALID',
        message: `Allocation ${r.sourceId}: ${r.amount}`,
        retryable: false,
        field: 'amount',
      });
    }
    if (r.from !== 'creditNote') {
      return failed({
        code: 'TARGET_CAPABILITY_MISSING',
        message: `Allocation ${r.sourceId}: MYOB cannot apply a customer payment to an invoice after it was recorded; record the payment against the invoice instead`,
        retryable: false,
      });
    }
    const a = await c.api.call(
      {
        method: 'POST',
        path: SETTLEMENT,
        json: {
          CreditFromInvoice: { UID: d.fromTargetId },
          Customer: { UID: d.customerTargetId },
          Date: dateTime(r.date),
          CreditAmount: num(formatAmount(amount.value, r.currency)),
          Memo: r.sourceId.slice(0, 255),
          Lines: [
            {
              Type: 'Invoice',
              Sale: { UID: d.invoiceTargetId },
              AmountApplied: num(formatAmount(amount.value, r.currency)),
            },
          ],
        },
      },
      c.signal,
    );
    if (!a.ok) return failed(refused('the credit settlement of', r.fromExternalReference, a));
    return ok(createdUid(a, `POST ${SETTLEMENT}`), { outcome: 'created' });
  });
}

/** A settlement MYOB already holds from the same credit to the same invoice for the same amount, none of `taken`. */
export async function findAllocation(
  c: DocumentContext,
  d: TargetAllocation,
  taken: ReadonlySet<string>,
): Promise<FoundDocument | null> {
  const r = d.record;
  const amount = parseAmount(r.amount, r.currency);
  if (!amount.ok || r.from !== 'creditNote') return null;
  const found = (await settlementsOf(c, d.fromTargetId))
    .filter((s) => settles(s, d.invoiceTargetId, amount.value, r.currency) && !taken.has(text(s.UID)))
    .sort((x, y) => text(x.UID).localeCompare(text(y.UID)))[0];
  return found ? { targetId: text(found.UID) } : null;
}
