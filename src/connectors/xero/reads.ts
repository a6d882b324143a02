import { ConnectorError } from '../../sync/connector.ts';
import type { TargetCallContext, TargetDocument, UnlinkedScope } from '../../sync/target.ts';
import { type Json, type XeroApi, lit, str } from './api.ts';
import { minorUnits, xeroDate } from './map.ts';
import { XERO } from './settings.ts';

/*
 * What reconciliation reads back from Xero (docs/connectors/xero.md, "Reconciliation"): the
 * documents of the pipeline's contacts or references dated in a window that no pipeline booked,
 * and each contact's balance as at a date, per currency. Xero has no "balance as at" of a
 * contact, and its Aged Receivables report takes one contact a call (GET
 * /Reports/AgedReceivablesByContact?contactId=: 5,000 contacts would be a day's allowance), so the
 * balance is worked out from the documents themselves: what the customer was invoiced less what
 * was credited, paid or received on account, each dated up to that day, cash refunds added back.
 *
 * Every list is read in pages of 1,000 (`pageSize`, Xero's largest) with the filters Xero
 * optimises (Type, Status, Date, Contact.ContactID, ContactIDs). For each list the cheaper of two
 * ways is taken, decided by the first page: the organisation's whole list (filtered here) when it
 * has no more pages than the contact groups would need calls, else contact by contact in groups.
 */

/** Xero's largest page (`pageSize`); an answer shorter than this is the last page. */
export const PAGE_SIZE = 1000;
/** Contacts per `ContactIDs=` (GUIDs of 37 characters: a URL well under 2,000 characters). */
const CONTACT_IDS_PER_CALL = 50;
/** Contacts or references per `where` clause of ORs (longer clauses are slow at Xero). */
const CLAUSES_PER_CALL = 25;

/** Xero's date literal: `DateTime(2026, 11, 30)`. */
export const dateTime = (date: string) => {
  const [y, m, d] = date.split('-');
  return `DateTime(${y}, ${m}, ${d})`;
};

function groups<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

const contactOf = (e: Json, via?: string): string => {
  const holder = via ? (e[via] as Json | undefined) : e;
  return str((holder?.Contact as Json | undefined)?.ContactID).toLowerCase();
};

/** An amount Xero answered, in minor units; one that is not an amount stops the read, never counts as zero. */
function money(value: unknown, currency: string, what: string): bigint {
  if (!/^[A-Z]{3}$/.test(currency))
    throw new ConnectorError(XERO.system, `${what} answered a document without its currency`, { retryable: false });
  const v = minorUnits(value ?? '0', currency);
  if (v === null)
    throw new ConnectorError(XERO.system, `${what} answered an amount that is not one: ${String(value)}`, {
      retryable: false,
    });
  return v;
}

/** One list of Xero's: its path, envelope key, base filter, and how to ask for a group of contacts. */
interface ListRead {
  path: string;
  key: string;
  where: string;
  extra?: Record<string, string>;
  /** Contact groups as queries; none when the list has no contact filter (payments). */
  byContacts?: { size: number; query: (ids: string[]) => Record<string, string> };
  /** More queries for the scope beyond contacts (references). */
  more?: Record<string, string>[];
  /** Whether an element of the whole list belongs to the scope. */
  keep: (e: Json) => boolean;
}

/** The pages of one query, to the end. */
async function allPages(
  x: XeroApi,
  path: string,
  key: string,
  query: Record<string, string>,
  signal: AbortSignal | undefined,
  from = 1,
  until = Number.POSITIVE_INFINITY,
): Promise<Json[]> {
  const out: Json[] = [];
  for (let page = from; page <= until; page++) {
    const body = await x.get(path, { ...query, page: String(page), pageSize: String(PAGE_SIZE) }, signal);
    const list = Array.isArray(body[key]) ? (body[key] as Json[]) : [];
    out.push(...list);
    if (list.length < PAGE_SIZE) break;
  }
  return out;
}

/** The elements of a list in scope: the whole list or group by group, whichever costs fewer calls. */
async function readList(x: XeroApi, r: ListRead, contacts: string[], signal?: AbortSignal): Promise<Json[]> {
  const base = { ...r.extra, where: r.where };
  const scoped = [
    ...(r.byContacts
      ? groups(contacts, r.byContacts.size).map((g) => ({ ...r.extra, ...r.byContacts!.query(g) }))
      : []),
    ...(r.more ?? []),
  ];
  if (r.byContacts && scoped.length === 1) return allPages(x, r.path, r.key, scoped[0]!, signal);
  const first = await x.get(r.path, { ...base, page: '1', pageSize: String(PAGE_SIZE) }, signal);
  const page = Array.isArray(first[r.key]) ? (first[r.key] as Json[]) : [];
  const pageCount = Number((first.pagination as Json | undefined)?.pageCount ?? Number.NaN);
  let whole: Json[] | null = null;
  if (page.length < PAGE_SIZE) whole = page;
  else if (!r.byContacts || (Number.isFinite(pageCount) && pageCount - 1 <= scoped.length))
    whole = [...page, ...(await allPages(x, r.path, r.key, base, signal, 2))];
  if (whole) return whole.filter(r.keep);
  const out = new Map<string, Json>();
  for (const q of scoped) for (const e of await allPages(x, r.path, r.key, q, signal)) out.set(JSON.stringify(e), e);
  return [...out.values()];
}

const inContacts = (ids: string[], where: string) => ({
  where: `${where} AND (${ids.map((id) => `Contact.ContactID==Guid(${lit(id)})`).join(' OR ')})`,
});

/** Cash paid against a document up to a day (its Payments: cash refunds of credit, or receipts of an invoice). */
function paidBy(doc: Json, asAt: string, currency: string, what: string): bigint {
  let sum = 0n;
  for (const p of Array.isArray(doc.Payments) ? (doc.Payments as Json[]) : []) {
    if (p.Status === 'DELETED') continue;
    const date = xeroDate(p.DateString ?? p.Date);
    if (date !== null && date <= asAt) sum += money(p.Amount, currency, what);
  }
  return sum;
}

/**
 * Each contact's balance in Xero as at `asAt`, per currency, in minor units: its approved
 * invoices dated up to then, less its approved credit notes, overpayments and prepayments dated
 * up to then, less receipts against those invoices and plus cash refunds of that credit, each
 * dated up to then. Allocations move money between a contact's own documents and change nothing.
 */
export async function openBalances(
  x: XeroApi,
  ctx: TargetCallContext,
  contactIds: string[],
  asAt: string,
): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]> {
  const ids = [...new Set(contactIds.filter((id) => /^[0-9a-f-]{36}$/i.test(id)))];
  if (ids.length === 0) return [];
  const scope = new Set(ids.map((id) => id.toLowerCase()));
  const original = new Map(ids.map((id) => [id.toLowerCase(), id]));
  const upTo = `Date<=${dateTime(asAt)}`;
  const approved = '(Status=="AUTHORISED" OR Status=="PAID")';
  const sums = new Map<string, bigint>();
  const add = (contact: string, currency: string, v: bigint) => {
    const k = `${contact}\u0000${currency}`;
    sums.set(k, (sums.get(k) ?? 0n) + v);
  };
  const invoices = await readList(
    x,
    {
      path: '/Invoices',
      key: 'Invoices',
      where: `Type=="ACCREC" AND ${upTo}`,
      extra: { Statuses: 'AUTHORISED,PAID' },
      byContacts: {
        size: CONTACT_IDS_PER_CALL,
        query: (g) => ({ ContactIDs: g.join(','), where: `Type=="ACCREC" AND ${upTo}` }),
      },
      keep: (e) => scope.has(contactOf(e)),
    },
    ids,
    ctx.signal,
  );
  for (const d of invoices) {
    const currency = str(d.CurrencyCode);
    const what = `GET /Invoices (${str(d.InvoiceNumber)})`;
    add(contactOf(d), currency, money(d.Total, currency, what) - paidBy(d, asAt, currency, what));
  }
  for (const [path, key, where] of [
    ['/CreditNotes', 'CreditNotes', `Type=="ACCRECCREDIT" AND ${approved} AND ${upTo}`],
    ['/Overpayments', 'Overpayments', `Type=="RECEIVE-OVERPAYMENT" AND ${approved} AND ${upTo}`],
    ['/Prepayments', 'Prepayments', `Type=="RECEIVE-PREPAYMENT" AND ${approved} AND ${upTo}`],
  ] as const) {
    const credit = await readList(
      x,
      {
        path,
        key,
        where,
        byContacts: { size: CLAUSES_PER_CALL, query: (g) => inContacts(g, where) },
        keep: (e) => scope.has(contactOf(e)),
      },
      ids,
      ctx.signal,
    );
    for (const c of credit) {
      const currency = str(c.CurrencyCode);
      const what = `GET ${path}`;
      add(contactOf(c), currency, paidBy(c, asAt, currency, what) - money(c.Total, currency, what));
    }
  }
  return [...sums]
    .map(([k, balance]) => {
      const [contact, currency] = k.split('\u0000') as [string, string];
      return { customerTargetId: original.get(contact) ?? contact, currency, balance };
    })
    .sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId) || a.currency.localeCompare(b.currency));
}

/** A document of a list as reconciliation counts it. */
function toDocument(
  id: string,
  kind: TargetDocument['kind'],
  e: Json,
  o: { number: string; contact: string; currency: string; gross: bigint },
): TargetDocument {
  return {
    targetId: id,
    kind,
    number: o.number,
    customerTargetId: o.contact,
    externalReference: str(e.Reference),
    date: xeroDate(e.DateString ?? e.Date) ?? '',
    dueDate: xeroDate(e.DueDateString ?? e.DueDate),
    currency: o.currency,
    gross: o.gross,
    lines: Array.isArray(e.LineItems) ? e.LineItems.length : 0,
  };
}

/**
 * Invoices, credit notes, receipts against invoices, overpayments and
 * prepayments dated in [from, to] of these contacts or carrying one of these references, that
 * no pipeline booked (typed into Xero by hand, or brought in some other way). Payments have no
 * contact filter in Xero: the window's receipts are read whole and kept here by their invoice's
 * contact or their reference.
 */
export async function unlinkedDocuments(
  x: XeroApi,
  ctx: TargetCallContext,
  scope: UnlinkedScope,
  from: string,
  to: string,
  overpaymentPrefix: string,
): Promise<TargetDocument[]> {
  const linked = new Set(scope.linkedTargetIds.map((id) => id.toLowerCase()));
  const ids = [...new Set(scope.customerTargetIds.filter((id) => /^[0-9a-f-]{36}$/i.test(id)))];
  const contacts = new Set(ids.map((id) => id.toLowerCase()));
  const references = [...new Set(scope.references.filter((r) => r !== ''))];
  const refs = new Set(references);
  if (contacts.size === 0 && refs.size === 0) return [];
  const dated = `Date>=${dateTime(from)} AND Date<=${dateTime(to)}`;
  const inScope = (contact: string, reference: unknown) => contacts.has(contact) || refs.has(str(reference));
  const byReference = (where: string) =>
    groups(references, CLAUSES_PER_CALL).map((g) => ({
      where: `${where} AND (${g.map((r) => `Reference==${lit(r)}`).join(' OR ')})`,
    }));
  const out = new Map<string, TargetDocument>();
  const put = (d: TargetDocument) => {
    if (!linked.has(d.targetId.toLowerCase()) && !out.has(d.targetId)) out.set(d.targetId, d);
  };

  const invoiceWhere = `Type=="ACCREC" AND ${dated}`;
  for (const d of await readList(
    x,
    {
      path: '/Invoices',
      key: 'Invoices',
      where: invoiceWhere,
      extra: { Statuses: 'AUTHORISED,PAID' },
      byContacts: { size: CONTACT_IDS_PER_CALL, query: (g) => ({ ContactIDs: g.join(','), where: invoiceWhere }) },
      more: byReference(invoiceWhere).map((q) => ({ ...q, Statuses: 'AUTHORISED,PAID' })),
      keep: (e) => inScope(contactOf(e), e.Reference),
    },
    ids,
    ctx.signal,
  )) {
    const currency = str(d.CurrencyCode);
    put(
      toDocument(str(d.InvoiceID), 'invoice', d, {
        number: str(d.InvoiceNumber),
        contact: str((d.Contact as Json | undefined)?.ContactID),
        currency,
        gross: money(d.Total, currency, 'GET /Invoices'),
      }),
    );
  }

  const approved = '(Status=="AUTHORISED" OR Status=="PAID")';
  for (const [path, key, type, idKey, numberKey, prefix] of [
    ['/CreditNotes', 'CreditNotes', 'ACCRECCREDIT', 'CreditNoteID', 'CreditNoteNumber', ''],
    ['/Overpayments', 'Overpayments', 'RECEIVE-OVERPAYMENT', 'OverpaymentID', 'Reference', overpaymentPrefix],
    ['/Prepayments', 'Prepayments', 'RECEIVE-PREPAYMENT', 'PrepaymentID', 'Reference', ''],
  ] as const) {
    const where = `Type==${lit(type)} AND ${approved} AND ${dated}`;
    for (const c of await readList(
      x,
      {
        path,
        key,
        where,
        byContacts: { size: CLAUSES_PER_CALL, query: (g) => inContacts(g, where) },
        more: byReference(where),
        keep: (e) => inScope(contactOf(e), e.Reference),
      },
      ids,
      ctx.signal,
    )) {
      const currency = str(c.CurrencyCode);
      const gross = money(c.Total, currency, `GET ${path}`);
      put(
        toDocument(prefix + str(c[idKey]), type === 'ACCRECCREDIT' ? 'creditNote' : 'payment', c, {
          number: str(c[numberKey]),
          contact: str((c.Contact as Json | undefined)?.ContactID),
          currency,
          gross,
        }),
      );
    }
  }

  for (const p of await readList(
    x,
    {
      path: '/Payments',
      key: 'Payments',
      where: `PaymentType=="ACCRECPAYMENT" AND Status=="AUTHORISED" AND ${dated}`,
      keep: (e) => inScope(contactOf(e, 'Invoice'), e.Reference),
    },
    ids,
    ctx.signal,
  )) {
    const invoice = p.Invoice as Json | undefined;
    const currency = str(invoice?.CurrencyCode);
    put(
      toDocument(str(p.PaymentID), 'payment', p, {
        number: str(p.Reference),
        contact: str((invoice?.Contact as Json | undefined)?.ContactID),
        currency,
        gross: money(p.Amount, currency, 'GET /Payments'),
      }),
    );
  }
  return [...out.values()].sort((a, b) => a.date.localeCompare(b.date) || a.targetId.localeCompare(b.targetId));
}
