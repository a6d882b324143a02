import { formatAmount, parseAmount } from '../../domain/money.ts';
import { ConnectorError } from '../../sync/connector.ts';
import {
  type EarlyPayment,
  type FoundDocument,
  type ItemError,
  type ItemResult,
  type TargetAllocation,
  type TargetCallContext,
  failed,
  ok,
} from '../../sync/target.ts';
import {
  type BatchAnswer,
  type BatchOperation,
  type QboEntity,
  type QuickBooksApi,
  describeFault,
  faultCode,
  quote,
  requestIdFor,
} from './api.ts';
import { type DocumentContext, EARLY_NOTE, invoicesByReference } from './documents.ts';
import { carriesReference, minorUnits, money, scalar } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Allocations for the QuickBooks target. QuickBooks has no allocation object: what sets money or
 * credit against an invoice is a Payment's `Line[].LinkedTxn` (Intuit, "Manage linked
 * transactions").
 * - A credit memo is applied with a Payment of TotalAmt 0 whose two lines link the invoice and the
 *   credit memo for the same amount: what QuickBooks' own Receive Payment screen saves when a
 *   credit is applied. That Payment's Id is the allocation's target id.
 * - A payment's unapplied money is applied by updating that Payment. Its Line array is replaced
 *   whole, so it is read just before and the application added to what it already applies (to the
 *   invoice's own line when it has one: QuickBooks keeps one line per invoice), with the SyncToken
 *   just read; a stale one (5010) is read again and retried once. A Payment booked against its
 *   invoice may still hold unapplied money in QuickBooks (the invoice owed less): that is applied
 *   the same way, never refused. Such an application has no id of its own in QuickBooks, so its
 *   target id is derived: `<payment>><invoice>:<amount>@<applied>`, where <applied> is what the
 *   Payment applies to the invoice with it.
 *
 * Neither carries a reference QuickBooks keeps, so a lost one is found again by what it is
 * (findAllocation), never by a note we would have to trust.
 */

const STALE = '5010';

interface Link {
  TxnId: string;
  TxnType: string;
  TxnLineId?: string;
}
interface PaymentLine {
  Amount?: unknown;
  LinkedTxn?: Link[];
}

const linesOf = (p: QboEntity) => (p.Line as PaymentLine[] | undefined) ?? [];
const linksTo = (l: PaymentLine, type: string, id: string) =>
  (l.LinkedTxn ?? []).some((t) => t.TxnType === type && t.TxnId === id);
const customerOf = (e: QboEntity) => (e.CustomerRef as { value?: string } | undefined)?.value;
const currencyOf = (e: QboEntity, home: string) => (e.CurrencyRef as { value?: string } | undefined)?.value ?? home;

/** What a Payment applies to one transaction, in minor units. */
function appliedTo(p: QboEntity, type: string, id: string, currency: string): bigint {
  return linesOf(p)
    .filter((l) => linksTo(l, type, id))
    .reduce((s, l) => s + (minorUnits(l.Amount, currency) ?? 0n), 0n);
}

/** The derived target id of a payment's application to an invoice. */
export const applicationId = (paymentId: string, invoiceId: string, amount: string, applied: string) =>
  `${paymentId}>${invoiceId}:${amount}@${applied}`;

const APPLICATION = /^([^>]+)>([^:]+):(-?[0-9.]+)@(-?[0-9.]+)$/;

/** Entities of several types by id: 100 ids a query, 30 queries a batch call. */
async function readAll(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  wanted: { entity: string; ids: string[] }[],
): Promise<Map<string, QboEntity>> {
  const ops: { entity: string; query: string }[] = [];
  for (const { entity, ids } of wanted) {
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += 100)
      ops.push({
        entity,
        query: `SELECT * FROM ${entity} WHERE Id IN (${unique
          .slice(i, i + 100)
          .map(quote)
          .join(', ')}) MAXRESULTS 1000`,
      });
  }
  const out = new Map<string, QboEntity>();
  for (let i = 0; i < ops.length; i += 30) {
    const chunk = ops.slice(i, i + 30);
    const answers = await api.batch(
      chunk.map((o) => ({ query: o.query })),
      null,
      ctx.signal,
    );
    answers.forEach((a, k) => {
      const entity = chunk[k]!.entity;
      if (!a.ok)
        throw new ConnectorError(SYSTEM, `refused a read of ${entity}: ${describeFault(a.fault)}`, {
          retryable: false,
        });
      for (const e of (a.query?.[entity] as QboEntity[] | undefined) ?? []) out.set(`${entity}:${e.Id}`, e);
    });
  }
  return out;
}

const refusal = (message: string, field?: string): ItemError => ({
  code: 'TARGET_REFUSED',
  message,
  retryable: false,
  field,
});

/** A Fault inside a batch answer, as the item's error. */
function faulted(a: Extract<BatchAnswer, { ok: false }>, what: string): ItemError {
  const code = faultCode(a.fault);
  return {
    code: 'TARGET_REFUSED',
    message: `QuickBooks refused the ${what}: ${describeFault(a.fault)}`,
    // A system fault inside a 200: nothing was written; the engine looks it up and sends it again.
    retryable: code === '10000' || /SystemFault/i.test(a.fault.type ?? ''),
    field: a.fault.Error?.[0]?.element || undefined,
  };
}

interface Planned {
  n: number;
  item: TargetAllocation;
  amount: bigint;
  retried: boolean;
}

/** One operation of a batch call and what its answer settles. */
interface Send {
  op: BatchOperation;
  key: string;
  settle(a: BatchAnswer): void;
}

/**
 * Sets credit memos and payments against invoices. What QuickBooks would refuse (more than the
 * invoice still owes, than the credit memo has left, than the payment holds unapplied; another
 * currency) is refused here with the amounts, so that one bad allocation never sinks the others
 * written in the same Payment update.
 */
export async function createAllocations(
  c: DocumentContext,
  ctx: TargetCallContext,
  items: TargetAllocation[],
): Promise<ItemResult[]> {
  const results: (ItemResult | undefined)[] = new Array<ItemResult | undefined>(items.length);
  const from = (i: TargetAllocation) => (i.record.from === 'creditNote' ? 'CreditMemo' : 'Payment');
  const read = await readAll(c.api, ctx, [
    { entity: 'Invoice', ids: items.map((i) => i.invoiceTargetId) },
    { entity: 'CreditMemo', ids: items.filter((i) => from(i) === 'CreditMemo').map((i) => i.fromTargetId) },
    { entity: 'Payment', ids: items.filter((i) => from(i) === 'Payment').map((i) => i.fromTargetId) },
  ]);
  // What is still open on each document as this batch uses it up, in minor units.
  const open = new Map<string, bigint>();
  const openOf = (key: string, e: QboEntity, field: string, currency: string) => {
    if (!open.has(key)) open.set(key, minorUnits(e[field], currency) ?? 0n);
    return open.get(key)!;
  };
  const memos: Planned[] = [];
  const queues = new Map<string, Planned[]>();
  items.forEach((item, n) => {
    const a = item.record;
    const amount = parseAmount(a.amount, a.currency);
    if (!amount.ok || amount.value <= 0n) {
      results[n] = failed({
        code: 'AMOUNT_INVALID',
        message: `amount "${a.amount}" is not an amount in ${a.currency} above zero`,
        retryable: false,
        field: 'amount',
      });
      return;
    }
    const invKey = `Invoice:${item.invoiceTargetId}`;
    const credit = from(item);
    const creditKey = `${credit}:${item.fromTargetId}`;
    const inv = read.get(invKey);
    const doc = read.get(creditKey);
    const what = credit === 'CreditMemo' ? 'credit memo' : 'payment';
    const refuse = (message: string, field?: string) => void (results[n] = failed(refusal(message, field)));
    if (!inv)
      return refuse(
        `invoice ${a.invoiceExternalReference} (QuickBooks Id ${item.invoiceTargetId}) is no longer in QuickBooks`,
        'invoiceExternalReference',
      );
    if (!doc)
      return refuse(
        `${what} ${a.fromExternalReference} (QuickBooks Id ${item.fromTargetId}) is no longer in QuickBooks`,
        'fromExternalReference',
      );
    const home = c.company.homeCurrency;
    if (currencyOf(inv, home) !== a.currency || currencyOf(doc, home) !== a.currency)
      return refuse(
        `the invoice is in ${currencyOf(inv, home)} and the ${what} in ${currencyOf(doc, home)}: QuickBooks applies only within one currency (the allocation is in ${a.currency})`,
        'currency',
      );
    const owed = openOf(invKey, inv, 'Balance', a.currency);
    const left = openOf(creditKey, doc, credit === 'CreditMemo' ? 'Balance' : 'UnappliedAmt', a.currency);
    const fmt = (v: bigint) => `${a.currency} ${formatAmount(v, a.currency)}`;
    if (amount.value > owed)
      return refuse(
        `invoice ${a.invoiceExternalReference} owes ${fmt(owed)} in QuickBooks, less than the ${fmt(amount.value)} to allocate`,
        'amount',
      );
    if (amount.value > left)
      return refuse(
        `${what} ${a.fromExternalReference} has ${fmt(left)} ${credit === 'CreditMemo' ? 'of credit left' : 'unapplied'} in QuickBooks, less than the ${fmt(amount.value)} to allocate`,
        'amount',
      );
    open.set(invKey, owed - amount.value);
    open.set(creditKey, left - amount.value);
    const planned = { n, item, amount: amount.value, retried: false };
    if (credit === 'CreditMemo') memos.push(planned);
    else queues.set(item.fromTargetId, [...(queues.get(item.fromTargetId) ?? []), planned]);
  });

  const first: Send[] = memos.map((p) => ({
    op: { entity: 'Payment', operation: 'create', body: creditApplication(p) },
    key: p.item.idempotencyKey,
    settle(a) {
      results[p.n] = a.ok
        ? ok(a.entity!.Id, { outcome: 'created' })
        : failed(faulted(a, `application of credit memo ${p.item.record.fromExternalReference}`));
    },
  }));
  let payments = new Map([...read].filter(([k]) => k.startsWith('Payment:')).map(([k, v]) => [k.slice(8), v]));
  const split = new Set<string>();
  for (let round = 0; round < items.length + 2; round++) {
    const sends: Send[] = round === 0 ? [...first] : [];
    for (const [paymentId, queue] of queues) {
      const p = payments.get(paymentId);
      if (!p) {
        for (const q of queue)
          results[q.n] = failed(refusal(`payment ${q.item.record.fromExternalReference} disappeared from QuickBooks`));
        queues.delete(paymentId);
        continue;
      }
      sends.push(paymentUpdate(p, queue, split.has(paymentId), results, queues, split));
    }
    if (sends.length === 0) break;
    for (let i = 0; i < sends.length; i += 30) {
      const chunk = sends.slice(i, i + 30);
      const answers = await c.api.batch(
        chunk.map((s) => s.op),
        requestIdFor(
          chunk.map((s) => s.key),
          `allocations:${round}`,
        ),
        ctx.signal,
      );
      answers.forEach((a, k) => chunk[k]!.settle(a));
    }
    if (queues.size === 0) break;
    // Each update changed its Payment's SyncToken: read them again for the next round.
    payments = new Map(
      [...(await readAll(c.api, ctx, [{ entity: 'Payment', ids: [...queues.keys()] }]))].map(([k, v]) => [
        k.slice(8),
        v,
      ]),
    );
  }
  for (const queue of queues.values())
    for (const q of queue)
      results[q.n] ??= failed({
        code: 'TARGET_REFUSED',
        message: `payment ${q.item.record.fromExternalReference} kept changing in QuickBooks while being applied`,
        retryable: true,
      });
  return results.map((r) => r ?? failed(refusal('not sent')));
}

/** The Payment of 0 that applies a credit memo to an invoice. */
function creditApplication(p: Planned): Record<string, unknown> {
  const a = p.item.record;
  const amount = money(p.amount, a.currency);
  return {
    CustomerRef: { value: p.item.customerTargetId },
    TxnDate: a.date,
    TotalAmt: money(0n, a.currency),
    CurrencyRef: { value: a.currency },
    PrivateNote: `ledgerlink: credit note ${a.fromExternalReference} applied to invoice ${a.invoiceExternalReference}`,
    Line: [
      { Amount: amount, LinkedTxn: [{ TxnId: p.item.invoiceTargetId, TxnType: 'Invoice' }] },
      { Amount: amount, LinkedTxn: [{ TxnId: p.item.fromTargetId, TxnType: 'CreditMemo' }] },
    ],
  };
}

/**
 * One sparse update of a Payment adding this round's applications to the lines it has: at most
 * one per invoice (the next waits for the next round, so that each update moves an invoice's line
 * by one allocation), and only one at all once a combined update was refused.
 */
function paymentUpdate(
  p: QboEntity,
  queue: Planned[],
  alone: boolean,
  results: (ItemResult | undefined)[],
  queues: Map<string, Planned[]>,
  split: Set<string>,
): Send {
  const group: Planned[] = [];
  const invoices = new Set<string>();
  for (const q of queue) {
    if (alone && group.length === 1) break;
    if (invoices.has(q.item.invoiceTargetId)) continue;
    invoices.add(q.item.invoiceTargetId);
    group.push(q);
  }
  const currency = group[0]!.item.record.currency;
  const lines: PaymentLine[] = linesOf(p).map((l) => ({
    Amount: l.Amount,
    LinkedTxn: (l.LinkedTxn ?? []).map((t) => ({
      TxnId: t.TxnId,
      TxnType: t.TxnType,
      ...(t.TxnLineId ? { TxnLineId: t.TxnLineId } : {}),
    })),
  }));
  const ids = group.map((q) => {
    const invoice = q.item.invoiceTargetId;
    const applied = appliedTo(p, 'Invoice', invoice, currency) + q.amount;
    const line = lines.find((l) => linksTo(l, 'Invoice', invoice));
    if (line) line.Amount = money((minorUnits(line.Amount, currency) ?? 0n) + q.amount, currency);
    else lines.push({ Amount: money(q.amount, currency), LinkedTxn: [{ TxnId: invoice, TxnType: 'Invoice' }] });
    return applicationId(p.Id, invoice, formatAmount(q.amount, currency), formatAmount(applied, currency));
  });
  const done = (q: Planned) => {
    const rest = (queues.get(p.Id) ?? []).filter((x) => x !== q);
    if (rest.length > 0) queues.set(p.Id, rest);
    else queues.delete(p.Id);
  };
  return {
    op: {
      entity: 'Payment',
      operation: 'update',
      body: { Id: p.Id, SyncToken: p.SyncToken, sparse: true, Line: lines },
    },
    // The SyncToken is part of the key: a retry after a stale token is a new request, not a replay.
    key: `${group.map((q) => q.item.idempotencyKey).join('\u0000')}\u0000${p.SyncToken}`,
    settle(a) {
      if (a.ok) {
        group.forEach((q, k) => {
          results[q.n] = ok(ids[k]!, { outcome: 'created' });
          done(q);
        });
        return;
      }
      if (faultCode(a.fault) === STALE && group.every((q) => !q.retried)) {
        // Someone changed the Payment since it was read: read again next round and retry once.
        for (const q of group) q.retried = true;
        return;
      }
      if (faultCode(a.fault) !== STALE && group.length > 1) {
        // One of them is refused: send them one by one to find out which.
        split.add(p.Id);
        return;
      }
      for (const q of group) {
        const error = faulted(a, `application of payment ${q.item.record.fromExternalReference}`);
        // Stale twice: someone keeps editing it; a later attempt (after a lookup) may go through.
        results[q.n] = failed(faultCode(a.fault) === STALE ? { ...error, retryable: true } : error);
        done(q);
      }
    },
  };
}

/**
 * The allocation QuickBooks holds that is this one and none of `taken`, after an answer was lost.
 * A credit memo's: a Payment of 0 of the customer on the allocation's date linking the invoice and
 * the credit memo for its amount. A payment's: QuickBooks keeps no date or line of its own for an
 * application, only what the Payment applies to the invoice in all; what the pipeline's mapped
 * allocations of that payment to that invoice do not account for, when it covers this amount, is
 * this one. (The amount a Payment applied when it was booked counts as not accounted for: the
 * embedded ledger books a receipt against an invoice only for its whole amount, so none is left
 * for a later allocation to the same invoice.)
 */
export async function findAllocation(
  c: DocumentContext,
  ctx: TargetCallContext,
  item: TargetAllocation,
  taken: ReadonlySet<string>,
): Promise<FoundDocument | null> {
  const a = item.record;
  const amount = parseAmount(a.amount, a.currency);
  if (!amount.ok) return null;
  if (a.from === 'creditNote') {
    const rows = await c.api.query(
      'Payment',
      `SELECT * FROM Payment WHERE CustomerRef = ${quote(item.customerTargetId)} AND TxnDate = ${quote(a.date)} MAXRESULTS 1000`,
      ctx.signal,
    );
    const found = rows
      .filter((p) => !taken.has(p.Id) && minorUnits(p.TotalAmt, a.currency) === 0n)
      .sort((x, y) => Number(x.Id) - Number(y.Id))
      .find(
        (p) =>
          appliedTo(p, 'Invoice', item.invoiceTargetId, a.currency) === amount.value &&
          appliedTo(p, 'CreditMemo', item.fromTargetId, a.currency) === amount.value,
      );
    return found ? { targetId: found.Id } : null;
  }
  const p = (await readAll(c.api, ctx, [{ entity: 'Payment', ids: [item.fromTargetId] }])).get(
    `Payment:${item.fromTargetId}`,
  );
  if (!p) return null;
  let accounted = 0n;
  for (const id of taken) {
    const m = APPLICATION.exec(id);
    if (!m || m[1] !== p.Id || m[2] !== item.invoiceTargetId) continue;
    const v = parseAmount(m[3]!, a.currency);
    if (v.ok) accounted += v.value;
  }
  const applied = appliedTo(p, 'Invoice', item.invoiceTargetId, a.currency);
  if (applied - accounted < amount.value) return null;
  const id = applicationId(
    p.Id,
    item.invoiceTargetId,
    formatAmount(amount.value, a.currency),
    formatAmount(accounted + amount.value, a.currency),
  );
  return taken.has(id) ? null : { targetId: id };
}

/**
 * Applies payments booked before their invoice (`EARLY_NOTE` in their PrivateNote) to that invoice,
 * now booked: as much as the payment holds unapplied and the invoice still owes, read just before,
 * through the same Payment update as an allocation. Sent again after a lost answer it reads what
 * the first one applied and applies nothing twice. A payment QuickBooks holds otherwise (applied
 * as it was booked, found again by reference after a lost answer) is left as it is.
 */
export async function applyEarlyPayments(
  c: DocumentContext,
  ctx: TargetCallContext,
  items: EarlyPayment[],
): Promise<ItemResult[]> {
  const read = await readAll(c.api, ctx, [
    { entity: 'Invoice', ids: items.map((i) => i.invoiceTargetId) },
    { entity: 'Payment', ids: items.map((i) => i.paymentTargetId) },
  ]);
  // The invoice named, in this company: the id handed over is another pipeline's booking, perhaps
  // into another company; one that is not the invoice named is looked for by its reference.
  const named = (item: EarlyPayment, e: QboEntity | undefined) =>
    e !== undefined && carriesReference(e, item.invoiceReference) && customerOf(e) === item.customerTargetId;
  const lookedUp = await invoicesByReference(
    c.api,
    ctx,
    items
      .filter((i) => !named(i, read.get(`Invoice:${i.invoiceTargetId}`)))
      .map((i) => ({ reference: i.invoiceReference, customerTargetId: i.customerTargetId })),
  );
  const invoiceOf = (item: EarlyPayment) => {
    const e = read.get(`Invoice:${item.invoiceTargetId}`);
    return named(item, e) ? e : lookedUp.get(`${item.customerTargetId}\u0000${item.invoiceReference}`);
  };
  const results: ItemResult[] = new Array<ItemResult>(items.length);
  const open = new Map<string, bigint>();
  const planned: { n: number; allocation: TargetAllocation; amount: string }[] = [];
  const home = c.company.homeCurrency;
  items.forEach((item, n) => {
    const pay = read.get(`Payment:${item.paymentTargetId}`);
    const inv = invoiceOf(item);
    const payment = `payment ${item.paymentReference} (QuickBooks Payment ${item.paymentTargetId})`;
    if (!pay) return void (results[n] = failed(refusal(`${payment} is no longer in QuickBooks`)));
    if (!inv)
      return void (results[n] = failed(
        refusal(
          `invoice ${item.invoiceReference} of customer ${item.customerTargetId} is not in this QuickBooks company`,
        ),
      ));
    const invoice = `invoice ${item.invoiceReference} (QuickBooks Invoice ${inv.Id})`;
    if (!scalar(pay.PrivateNote).startsWith(`${EARLY_NOTE}${item.invoiceReference}\n`))
      return void (results[n] = ok(pay.Id, {
        outcome: 'unchanged',
        message: `${payment} was not booked before ${invoice}: nothing to apply`,
      }));
    if (customerOf(pay) !== customerOf(inv))
      return void (results[n] = failed(
        refusal(
          `${payment} is now customer ${customerOf(pay)}'s in QuickBooks, and ${invoice} customer ${customerOf(inv)}'s`,
        ),
      ));
    const currency = currencyOf(pay, home);
    if (currencyOf(inv, home) !== currency)
      return void (results[n] = failed(
        refusal(
          `${payment} is in ${currency} and ${invoice} in ${currencyOf(inv, home)}: QuickBooks applies only within one currency`,
        ),
      ));
    const left = open.get(`Payment:${pay.Id}`) ?? minorUnits(pay.UnappliedAmt, currency) ?? 0n;
    const owed = open.get(`Invoice:${inv.Id}`) ?? minorUnits(inv.Balance, currency) ?? 0n;
    const take = left < owed ? left : owed;
    const already = appliedTo(pay, 'Invoice', inv.Id, currency);
    // Applied by an earlier attempt whose answer was lost: said as applied, nothing sent.
    if (take <= 0n && already > 0n)
      return void (results[n] = ok(pay.Id, {
        outcome: 'updated',
        message: `applied ${currency} ${formatAmount(already, currency)} to ${invoice}, booked after it`,
      }));
    if (take <= 0n)
      return void (results[n] = ok(pay.Id, {
        outcome: 'unchanged',
        message: `nothing to apply to ${invoice}: ${
          left <= 0n ? `${payment} holds nothing unapplied` : 'the invoice owes nothing'
        }`,
      }));
    open.set(`Payment:${pay.Id}`, left - take);
    open.set(`Invoice:${inv.Id}`, owed - take);
    const amount = formatAmount(take, currency);
    planned.push({
      n,
      amount: `${currency} ${amount}`,
      allocation: {
        sourceId: `early:${item.paymentSourceId}`,
        customerTargetId: item.customerTargetId,
        invoiceTargetId: inv.Id,
        fromTargetId: pay.Id,
        idempotencyKey: `early:${pay.Id}>${inv.Id}:${amount}`,
        record: {
          kind: 'allocation',
          sourceId: `early:${item.paymentSourceId}`,
          customerSourceId: item.customerTargetId,
          date: scalar(pay.TxnDate),
          currency,
          amount,
          invoiceExternalReference: item.invoiceReference,
          from: 'payment',
          fromExternalReference: item.paymentReference,
        },
      },
    });
  });
  const answers =
    planned.length > 0
      ? await createAllocations(
          c,
          ctx,
          planned.map((p) => p.allocation),
        )
      : [];
  answers.forEach((a, k) => {
    const { n, amount } = planned[k]!;
    const item = items[n]!;
    results[n] = a.ok
      ? ok(item.paymentTargetId, {
          outcome: 'updated',
          message: `applied ${amount} to invoice ${item.invoiceReference} (QuickBooks Invoice ${planned[k]!.allocation.invoiceTargetId}), booked after it${
            open.get(`Payment:${item.paymentTargetId}`)! > 0n ? '; the rest stays unapplied on the customer' : ''
          }`,
        })
      : a;
  });
  return results;
}
