import { LosslessNumber } from 'lossless-json';
import { formatAmount } from '../../domain/money.ts';
import type { Account, Customer, GlAccount, Item, Journal, Payment, Refund, Txn } from './simulator-store.ts';

/*
 * What the simulated NetSuite answers for each record: body fields, references as
 * `{"id", "refName"}`, amounts as exact JSON numbers, sublists expanded (`{"items": [...]}`) or as
 * links, as "Format of Sublists and Subrecords" shows.
 */

type Obj = Record<string, unknown>;
const amt = (a: Account, m: bigint) => new LosslessNumber(formatAmount(m, a.currency));
const ref = (id: string, refName?: string) => ({ id, ...(refName !== undefined ? { refName } : {}) });

export function refundView(a: Account, r: Refund): Obj {
  const total = [...r.apply.values()].reduce((s, a) => s + a, 0n);
  return {
    id: r.id,
    externalId: r.externalId,
    tranId: r.tranId,
    customer: ref(r.customer, a.customers.get(r.customer)?.companyName),
    tranDate: r.tranDate,
    total: amt(a, total),
    ...(r.account ? { account: ref(r.account) } : {}),
    currency: ref('1', a.currency),
  };
}

function applyView(a: Account, apply: Map<string, bigint>, customer: string): Obj[] {
  return a
    .invoices()
    .filter((i) => i.entity === customer && (apply.has(i.id) || a.remaining(i) > 0n))
    .map((i) => ({
      doc: ref(i.id, i.tranId),
      apply: apply.has(i.id),
      amount: amt(a, apply.get(i.id) ?? 0n),
      due: amt(a, a.remaining(i) + (apply.get(i.id) ?? 0n)),
      total: amt(a, i.total),
    }));
}

export function customerView(a: Account, c: Customer): Obj {
  return {
    id: c.id,
    entityId: c.entityId,
    ...(c.externalId ? { externalId: c.externalId } : {}),
    companyName: c.companyName,
    email: c.email,
    phone: c.phone,
    isPerson: false,
    currency: ref('1', a.currency),
    ...(c.subsidiary ? { subsidiary: ref(c.subsidiary) } : {}),
  };
}

export function itemView(i: Item): Obj {
  return {
    id: i.id,
    itemId: i.itemId,
    displayName: i.displayName,
    itemType: i.type,
    ...(i.externalId ? { externalId: i.externalId } : {}),
  };
}

export function txnView(a: Account, t: Txn, expand: boolean, link: string): Obj {
  const sub = (items: Obj[]) => (expand ? { items } : { links: [{ rel: 'self', href: link }] });
  const applied = [...t.apply.values()].reduce((s, a) => s + a, 0n);
  return {
    id: t.id,
    externalId: t.externalId,
    tranId: t.tranId,
    entity: ref(t.entity, a.customers.get(t.entity)?.companyName),
    tranDate: t.tranDate,
    ...(t.dueDate ? { dueDate: t.dueDate } : {}),
    memo: t.memo,
    currency: ref('1', a.currency),
    subtotal: amt(
      a,
      t.lines.reduce((s, l) => s + l.net, 0n),
    ),
    taxTotal: amt(
      a,
      t.lines.reduce((s, l) => s + l.tax, 0n),
    ),
    total: amt(a, t.total),
    // The status NetSuite shows: a voided invoice keeps its record, "Voided", its amounts zero.
    ...(t.type === 'invoice' ? { status: invoiceStatus(a, t) } : {}),
    ...(t.type === 'invoice'
      ? { amountRemaining: amt(a, a.remaining(t)) }
      : { applied: amt(a, applied), unapplied: amt(a, t.total - applied) }),
    item: sub(
      t.lines.map((l, n) => ({
        line: n + 1,
        item: ref(l.item, a.items.get(l.item)?.itemId),
        description: l.description,
        quantity: new LosslessNumber(l.quantity),
        rate: new LosslessNumber(l.rate),
        amount: amt(a, l.net),
        ...(l.taxCode ? { taxCode: ref(l.taxCode) } : {}),
      })),
    ),
    ...(t.type === 'creditMemo' ? { apply: sub(applyView(a, t.apply, t.entity)) } : {}),
  };
}

/** An invoice's status (`CustInvc:A` Open, `B` Paid In Full, `V` Voided) as the record service answers it *(unverified: the id's form)*. */
function invoiceStatus(a: Account, t: Txn): Obj {
  if (t.voided) return ref('V', 'Voided');
  return a.remaining(t) > 0n ? ref('A', 'Open') : ref('B', 'Paid In Full');
}

export function paymentView(a: Account, p: Payment, expand: boolean, link: string): Obj {
  const applied = [...p.apply.values()].reduce((s, a) => s + a, 0n);
  return {
    id: p.id,
    externalId: p.externalId,
    tranId: p.tranId,
    customer: ref(p.customer, a.customers.get(p.customer)?.companyName),
    tranDate: p.tranDate,
    payment: amt(a, p.payment),
    applied: amt(a, applied),
    unapplied: amt(a, a.unapplied(p)),
    undepFunds: p.undepFunds,
    ...(p.account ? { account: ref(p.account) } : {}),
    currency: ref('1', a.currency),
    apply: expand ? { items: applyView(a, p.apply, p.customer) } : { links: [{ rel: 'self', href: link }] },
  };
}

export function accountView(g: GlAccount): Obj {
  return {
    id: g.id,
    acctNumber: g.acctNumber,
    acctName: g.acctName,
    acctType: ref(g.acctType, g.acctType),
    isInactive: g.isInactive,
  };
}

/** A journal entry: its `line` sublist with each line's account, debit or credit, memo and name. */
export function journalView(a: Account, j: Journal, expand: boolean, link: string): Obj {
  return {
    id: j.id,
    externalId: j.externalId,
    tranId: j.tranId,
    tranDate: j.tranDate,
    memo: j.memo,
    currency: ref('1', a.currency),
    ...(j.subsidiary ? { subsidiary: ref(j.subsidiary) } : {}),
    line: expand
      ? {
          items: j.lines.map((l, n) => ({
            line: n,
            account: ref(l.account, a.chart.get(l.account)?.acctName),
            ...(l.debit > 0n ? { debit: amt(a, l.debit) } : {}),
            ...(l.credit > 0n ? { credit: amt(a, l.credit) } : {}),
            memo: l.memo,
            ...(l.entity ? { entity: ref(l.entity, a.customers.get(l.entity)?.companyName) } : {}),
          })),
        }
      : { links: [{ rel: 'self', href: link }] },
  };
}

/** A SuiteQL row of `account` as the query reads it: lower-case column names, every value text. */
export function accountRow(g: GlAccount): Obj {
  return {
    links: [],
    id: g.id,
    acctnumber: g.acctNumber,
    fullname: g.acctName,
    accttype: g.acctType,
    isinactive: g.isInactive ? 'T' : 'F',
  };
}

/*
 * SuiteQL rows of `transaction`, as the documents' and fees' queries read them: lower-case column
 * names, every value text, a column that is null left out. `foreigntotal` is in the transaction's
 * currency, a credit memo's negative; `voided` 'T' for a voided transaction, whose total is zero.
 */
const text = (a: Account, m: bigint) => formatAmount(m, a.currency);
const txnBase = (id: string, recordtype: string, tranId: string, externalId: string, entity: string | null) => ({
  links: [],
  id,
  recordtype,
  tranid: tranId,
  ...(externalId ? { externalid: externalId } : {}),
  ...(entity ? { entity } : {}),
});

export function txnRow(a: Account, t: Txn): Obj {
  return {
    ...txnBase(t.id, t.type.toLowerCase(), t.tranId, t.externalId, t.entity),
    trandate: t.tranDate,
    ...(t.dueDate ? { duedate: t.dueDate } : {}),
    foreigntotal: text(a, t.type === 'creditMemo' ? -t.total : t.total),
    voided: t.voided ? 'T' : 'F',
    lines: String(t.lines.length),
  };
}

export function paymentRow(a: Account, p: Payment): Obj {
  return {
    ...txnBase(p.id, 'customerpayment', p.tranId, p.externalId, p.customer),
    trandate: p.tranDate,
    foreigntotal: text(a, p.payment),
    voided: 'F',
    lines: '0',
  };
}

export function refundRow(a: Account, r: Refund): Obj {
  return {
    ...txnBase(r.id, 'customerrefund', r.tranId, r.externalId, r.customer),
    trandate: r.tranDate,
    foreigntotal: text(
      a,
      [...r.apply.values()].reduce((s, x) => s + x, 0n),
    ),
    voided: r.voided ? 'T' : 'F',
    lines: '0',
  };
}

/** A journal entry: as a transaction row (its total the debits), and with `debit` for the fees' query. */
export function journalRow(a: Account, j: Journal): Obj {
  const debits = j.lines.reduce((s, l) => s + l.debit, 0n);
  return {
    ...txnBase(j.id, 'journalentry', j.tranId, j.externalId, null),
    trandate: j.tranDate,
    foreigntotal: text(a, debits),
    voided: 'F',
    lines: String(j.lines.length),
    debit: text(a, debits),
  };
}

/** A number as SuiteQL writes one: no trailing zeros, no leading zero before the point ("60.5", ".5", "-12"). */
const suiteNumber = (decimal: string): string =>
  decimal.includes('.')
    ? decimal
        .replace(/0+$/, '')
        .replace(/\.$/, '')
        .replace(/^(-?)0\./, '$1.')
    : decimal;

/**
 * The A/R posting lines of the account, as `transactionaccountingline` joined to its
 * `transactionline` holds them (primary book), each with the customer the query counts it for
 * (`NVL(tl.entity, t.entity)`): an invoice debits A/R its total, a credit memo credits it its
 * total, a customer payment credits it its payment (applied or not), a customer refund debits it
 * what it refunds, a journal entry's line on an A/R account debits or credits it for the customer
 * the line names (none: no customer's). A direct void left the transaction's amounts zero; one by
 * reversing journal left them, and its journal's lines reverse them on the day of the void. The
 * fees' journal entries post to the fees and bank accounts, never to A/R.
 */
function arLines(a: Account): { entity: string | null; tranDate: string; amount: bigint }[] {
  const receivable = new Set([...a.chart.values()].filter((g) => g.acctType === 'AcctRec').map((g) => g.id));
  return [
    ...[...a.txns.values()].map((t) => ({
      entity: t.entity,
      tranDate: t.tranDate,
      amount: t.type === 'invoice' ? t.total : -t.total,
    })),
    ...[...a.payments.values()].map((p) => ({ entity: p.customer, tranDate: p.tranDate, amount: -p.payment })),
    ...[...a.refunds.values()].map((r) => ({
      entity: r.customer,
      tranDate: r.tranDate,
      amount: [...r.apply.values()].reduce((s, x) => s + x, 0n),
    })),
    ...[...a.journals.values()].flatMap((j) =>
      j.lines
        .filter((l) => receivable.has(l.account))
        .map((l) => ({ entity: l.entity, tranDate: j.tranDate, amount: l.debit - l.credit })),
    ),
  ];
}

/**
 * The rows of the open balances' query (balances.ts): per customer of `entities` and currency
 * (the account's one), the A/R debits less credits of the lines counted for it dated up to `asAt`,
 * voided transactions' as they stand; ordered by customer. A customer with no such line has no row.
 */
export function balanceRows(a: Account, entities: Set<string>, asAt: string): Obj[] {
  const sums = new Map<string, bigint>();
  for (const l of arLines(a))
    if (l.entity !== null && entities.has(l.entity) && l.tranDate <= asAt)
      sums.set(l.entity, (sums.get(l.entity) ?? 0n) + l.amount);
  return [...sums]
    .sort(([x], [y]) => Number(x) - Number(y))
    .map(([entity, sum]) => ({
      links: [],
      entity,
      currency: a.currency,
      balance: suiteNumber(text(a, sum)),
    }));
}
