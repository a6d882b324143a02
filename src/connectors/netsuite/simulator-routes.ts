import { type Account, NsRefusal } from './simulator-store.ts';
import {
  accountRow,
  journalRow,
  paymentRow,
  refundRow,
  txnRow,
  balanceRows,
  accountView,
  customerView,
  itemView,
  journalView,
  paymentView,
  refundView,
  txnView,
} from './simulator-views.ts';

/*
 * The record service of the simulated NetSuite: GET, PUT (upsert by `eid:`) and PATCH of
 * `/{type}/{id}` for the records this target writes, POST `/{type}` of its transactions (the
 * external id in the body, refused when a record of the type holds it), GET of a customer list
 * page. Writes answer
 * 204 with the record's URL in `Location` and no body ("Creating a Record Instance"); reads
 * answer the record, its sublists as links unless `expandSubResources=true`.
 */

type Obj = Record<string, unknown>;
const ITEM_TYPES = new Set(['nonInventorySaleItem', 'serviceSaleItem']);
const TYPES = new Set([
  'customer',
  'invoice',
  'creditMemo',
  'customerPayment',
  'customerRefund',
  'journalEntry',
  'account',
  ...ITEM_TYPES,
]);

/**
 * SuiteQL, as far as this target asks it: the chart of accounts (`SELECT … FROM account`), its
 * documents by internal id (reads.ts), its customers' or references' documents dated in a window,
 * not voided, in id order (reads.ts), its fees' journal entries by external id (fees.ts) and its
 * customers' A/R balances as at a day (balances.ts, from the A/R lines of the store's
 * transactions and journal entries, each counted for the customer its line names), a
 * page of `limit` rows from `offset`; any other query is refused as NetSuite refuses one it cannot
 * run, and so is an IN list of more than 1,000 (Oracle's ORA-01795).
 */
export function suiteql(a: Account, q: URLSearchParams, body: Obj): Obj {
  const text = typeof body.q === 'string' ? body.q : '';
  const all = rowsOf(a, text);
  const limit = Math.max(1, Math.min(1000, Number(q.get('limit') ?? 1000) || 1000));
  const offset = Math.max(0, Number(q.get('offset') ?? 0) || 0);
  const page = all.slice(offset, offset + limit);
  return {
    links: [],
    count: page.length,
    hasMore: offset + page.length < all.length,
    items: page,
    offset,
    totalResults: all.length,
  };
}

const ACCOUNTS = /^SELECT id, acctnumber, fullname, accttype, isinactive FROM account ORDER BY id$/;
const TRANSACTIONS = new RegExp(
  '^' +
    literal(
      "SELECT t.id, t.recordtype, t.tranid, t.externalid, t.entity, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, " +
        "TO_CHAR(t.duedate, 'YYYY-MM-DD') AS duedate, t.foreigntotal, t.voided, COUNT(l.id) AS lines " +
        "FROM transaction t LEFT JOIN transactionline l ON l.transaction = t.id AND l.mainline = 'F' AND l.taxline = 'F' AND (l.iscogs = 'F' OR l.iscogs IS NULL) " +
        'WHERE t.id IN (',
    ) +
    '(\\d+(?:, \\d+)*)' +
    literal(
      ') GROUP BY t.id, t.recordtype, t.tranid, t.externalid, t.entity, t.trandate, t.duedate, t.foreigntotal, t.voided',
    ) +
    '$',
);
const JOURNALS = new RegExp(
  '^' +
    literal(
      'SELECT t.id, t.tranid, t.externalid, t.voided, SUM(l.debitforeignamount) AS debit ' +
        'FROM transaction t JOIN transactionline l ON l.transaction = t.id ' +
        "WHERE t.recordtype = 'journalentry' AND t.externalid IN (",
    ) +
    "('[A-Za-z0-9_-]+'(?:, '[A-Za-z0-9_-]+')*)" +
    literal(') GROUP BY t.id, t.tranid, t.externalid, t.voided') +
    '$',
);

const BALANCES = new RegExp(
  '^' +
    literal(
      'SELECT NVL(tl.entity, t.entity) AS entity, cu.symbol AS currency, ' +
        'SUM(NVL(tl.debitforeignamount, 0) - NVL(tl.creditforeignamount, 0)) AS balance ' +
        'FROM transaction t ' +
        'JOIN transactionaccountingline tal ON tal.transaction = t.id ' +
        "JOIN accountingbook b ON b.id = tal.accountingbook AND b.isprimary = 'T' " +
        "JOIN account a ON a.id = tal.account AND a.accttype = 'AcctRec' " +
        'JOIN transactionline tl ON tl.transaction = tal.transaction AND tl.id = tal.transactionline ' +
        'JOIN currency cu ON cu.id = t.currency ' +
        'WHERE NVL(tl.entity, t.entity) IN (',
    ) +
    '(\\d+(?:, \\d+)*)' +
    literal(") AND t.trandate <= TO_DATE('") +
    '(\\d{4}-\\d{2}-\\d{2})' +
    literal(
      "', 'YYYY-MM-DD') AND tal.posting = 'T' " +
        'GROUP BY NVL(tl.entity, t.entity), cu.symbol ORDER BY NVL(tl.entity, t.entity), cu.symbol',
    ) +
    '$',
);

/**
 * Reconciliation's transactions of customers (`t.entity IN`) or references (`t.externalid IN`)
 * dated in a window (reads.ts `windowQuery`): the same columns as TRANSACTIONS.
 */
const windowPattern = (field: string, value: string) =>
  new RegExp(
    '^' +
      literal(
        "SELECT t.id, t.recordtype, t.tranid, t.externalid, t.entity, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, " +
          "TO_CHAR(t.duedate, 'YYYY-MM-DD') AS duedate, t.foreigntotal, t.voided, COUNT(l.id) AS lines " +
          "FROM transaction t LEFT JOIN transactionline l ON l.transaction = t.id AND l.mainline = 'F' AND l.taxline = 'F' AND (l.iscogs = 'F' OR l.iscogs IS NULL) " +
          `WHERE t.${field} IN (`,
      ) +
      `(${value}(?:, ${value})*)` +
      literal(") AND t.trandate >= TO_DATE('") +
      '(\\d{4}-\\d{2}-\\d{2})' +
      literal("', 'YYYY-MM-DD') AND t.trandate <= TO_DATE('") +
      '(\\d{4}-\\d{2}-\\d{2})' +
      literal(
        "', 'YYYY-MM-DD') AND t.voided = 'F' AND t.recordtype IN ('invoice', 'creditmemo', 'customerpayment', 'customerrefund') " +
          'GROUP BY t.id, t.recordtype, t.tranid, t.externalid, t.entity, t.trandate, t.duedate, t.foreigntotal, t.voided ORDER BY t.id',
      ) +
      '$',
  );
const WINDOW_BY_ENTITY = windowPattern('entity', '\\d+');
const WINDOW_BY_EXTERNAL_ID = windowPattern('externalid', "'[A-Za-z0-9_-]+'");

function literal(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function inList(list: string): string[] {
  const values = list.split(', ').map((v) => v.replace(/^'|'$/g, ''));
  if (values.length > 1000)
    throw new NsRefusal(
      400,
      'INVALID_PARAMETER',
      'Invalid search query: maximum number of expressions in a list is 1000.',
    );
  return values;
}

function rowsOf(a: Account, text: string): Obj[] {
  if (ACCOUNTS.test(text)) return [...a.chart.values()].sort((x, y) => Number(x.id) - Number(y.id)).map(accountRow);
  const t = TRANSACTIONS.exec(text);
  if (t) {
    const ids = new Set(inList(t[1]!));
    return [
      ...[...a.txns.values()].filter((x) => ids.has(x.id)).map((x) => txnRow(a, x)),
      ...[...a.payments.values()].filter((x) => ids.has(x.id)).map((x) => paymentRow(a, x)),
      ...[...a.refunds.values()].filter((x) => ids.has(x.id)).map((x) => refundRow(a, x)),
      ...[...a.journals.values()].filter((x) => ids.has(x.id)).map((x) => journalRow(a, x)),
    ];
  }
  const byEntity = WINDOW_BY_ENTITY.exec(text);
  const w = byEntity ?? WINDOW_BY_EXTERNAL_ID.exec(text);
  if (w) {
    const values = new Set(inList(w[1]!));
    const [from, to] = [w[2]!, w[3]!];
    const rows = [
      ...[...a.txns.values()].map((x) => txnRow(a, x)),
      ...[...a.payments.values()].map((x) => paymentRow(a, x)),
      ...[...a.refunds.values()].map((x) => refundRow(a, x)),
    ];
    return rows
      .filter((r) => values.has(String(byEntity ? r.entity : r.externalid)))
      .filter((r) => String(r.trandate) >= from && String(r.trandate) <= to && r.voided === 'F')
      .sort((x, y) => Number(x.id) - Number(y.id));
  }
  const b = BALANCES.exec(text);
  if (b) return balanceRows(a, new Set(inList(b[1]!)), b[2]!);
  const j = JOURNALS.exec(text);
  if (j) {
    const ids = new Set(inList(j[1]!));
    return [...a.journals.values()].filter((x) => ids.has(x.externalId)).map((x) => journalRow(a, x));
  }
  throw new NsRefusal(400, 'INVALID_PARAMETER', 'Invalid search query. Detailed unprocessed description follows.');
}

const notFound = () =>
  new NsRefusal(404, 'NONEXISTENT_ID', 'The record instance does not exist. Provide a valid record instance ID.');

export function route(
  a: Account,
  method: string,
  path: string,
  q: URLSearchParams,
  body: Obj,
  base: string,
): { status: number; body: Obj | null; location?: string } {
  if (method === 'GET' && path === '/customer') {
    const limit = Math.max(1, Math.min(1000, Number(q.get('limit') ?? 1000) || 1000));
    const ids = [...a.customers.keys()].slice(0, limit);
    return {
      status: 200,
      body: {
        links: [],
        count: ids.length,
        hasMore: a.customers.size > ids.length,
        items: ids.map((id) => ({ links: [{ rel: 'self', href: `${base}/customer/${id}` }], id })),
        offset: 0,
        totalResults: a.customers.size,
      },
    };
  }
  if (method === 'POST') return create(a, path, body, base);
  const m = /^\/([A-Za-z]+)\/(eid:[^/]+|\d+)$/.exec(path);
  if (!m || !TYPES.has(m[1]!)) throw new NsRefusal(404, 'INVALID_URL', 'The requested URL is not valid.');
  const type = m[1]!;
  const key = m[2]!;
  const byEid = key.startsWith('eid:');
  const externalId = byEid ? decodeURIComponent(key.slice(4)) : '';
  if (byEid && !/^[A-Za-z0-9_-]+$/.test(externalId))
    throw new NsRefusal(400, 'INVALID_ID', `Invalid external ID ${externalId}.`);
  if (byEid && method === 'PATCH') throw new NsRefusal(400, 'USER_ERROR', 'Use PUT to upsert a record by external ID.');
  if (!byEid && method === 'PUT')
    throw new NsRefusal(400, 'USER_ERROR', 'The upsert operation requires an external ID.');
  const expand = q.get('expandSubResources') === 'true';
  const link = `${base}${path}`;
  const find = <T extends { id: string; externalId: string }>(all: Iterable<T>): T | null => {
    for (const x of all) if (byEid ? x.externalId === externalId : x.id === key) return x;
    return null;
  };
  const done = (id: string) => ({ status: 204, body: null, location: `${base}/${type}/${id}` });

  if (type === 'customer') {
    const c = find(a.customers.values());
    if (method === 'GET') {
      if (!c) throw notFound();
      return { status: 200, body: customerView(a, c) };
    }
    if (!c && !byEid) throw notFound();
    return done(a.upsertCustomer(c, externalId, body).id);
  }
  if (ITEM_TYPES.has(type)) {
    const i = find([...a.items.values()].filter((x) => x.type === type));
    if (method === 'GET') {
      if (!i) throw notFound();
      return { status: 200, body: itemView(i) };
    }
    if (!i && !byEid) throw notFound();
    return done(a.upsertItem(type, i, externalId, body).id);
  }
  if (type === 'invoice' || type === 'creditMemo') {
    const t = find(a.txns.values());
    const own = t && t.type === type ? t : null;
    if (method === 'GET') {
      if (!own) throw notFound();
      return { status: 200, body: txnView(a, own, expand, link) };
    }
    if (!own && !byEid) throw notFound();
    if (method === 'PATCH' && own) {
      if (own.voided) throw new NsRefusal(400, 'USER_ERROR', 'You cannot change a voided transaction.');
      if (type !== 'creditMemo')
        throw new NsRefusal(400, 'USER_ERROR', 'This simulator patches only the apply sublist.');
      a.applyLines(own.apply, own.entity, own.total, body.apply);
      return done(own.id);
    }
    return done(a.upsertTxn(type, own, externalId, body).id);
  }
  if (type === 'account') {
    if (method !== 'GET' || byEid)
      throw new NsRefusal(400, 'USER_ERROR', 'This simulator reads accounts by internal id only.');
    const g = a.chart.get(key);
    if (!g) throw notFound();
    return { status: 200, body: accountView(g) };
  }
  if (type === 'journalEntry') {
    const j = find(a.journals.values());
    if (method === 'GET') {
      if (!j) throw notFound();
      return { status: 200, body: journalView(a, j, expand, link) };
    }
    if (!j && !byEid) throw notFound();
    if (method === 'PATCH') throw new NsRefusal(400, 'USER_ERROR', 'This simulator upserts journal entries only.');
    return done(a.upsertJournal(j, externalId, body).id);
  }
  if (type === 'customerRefund') {
    const r = find(a.refunds.values());
    if (method === 'GET') {
      if (!r) throw notFound();
      return { status: 200, body: refundView(a, r) };
    }
    if (!r && !byEid) throw notFound();
    if (method === 'PATCH') throw new NsRefusal(400, 'USER_ERROR', 'This simulator upserts refunds only.');
    return done(a.upsertRefund(r, externalId, body).id);
  }
  const p = find(a.payments.values());
  if (method === 'GET') {
    if (!p) throw notFound();
    return { status: 200, body: paymentView(a, p, expand, link) };
  }
  if (!p && !byEid) throw notFound();
  if (method === 'PATCH' && p) {
    a.applyLines(p.apply, p.customer, p.payment - a.refunded(p.id), body.apply);
    return done(p.id);
  }
  return done(a.upsertPayment(p, externalId, body).id);
}

/** Transactions created by POST, the external id in the body ("Using External IDs"). */
const CREATED = new Set(['invoice', 'creditMemo', 'customerPayment', 'customerRefund']);

/**
 * POST `/{type}`: a new record, its external id taken from the body. A record of the type is
 * identified by its external id, so a second one with the same is refused and nothing is written
 * (the words are the simulator's: NetSuite's own for this refusal are not documented).
 */
function create(a: Account, path: string, body: Obj, base: string): { status: number; body: null; location: string } {
  const type = path.slice(1);
  if (!CREATED.has(type)) throw new NsRefusal(404, 'INVALID_URL', 'The requested URL is not valid.');
  const { externalId, ...fields } = body;
  if (typeof externalId !== 'string' || !/^[A-Za-z0-9_-]+$/.test(externalId))
    throw new NsRefusal(400, 'INVALID_ID', `Invalid external ID ${String(externalId)}.`);
  const held =
    type === 'customerPayment'
      ? [...a.payments.values()]
      : type === 'customerRefund'
        ? [...a.refunds.values()]
        : [...a.txns.values()].filter((t) => t.type === type);
  if (held.some((x) => x.externalId === externalId))
    throw new NsRefusal(400, 'USER_ERROR', `A ${type} record with external ID ${externalId} already exists.`);
  const id =
    type === 'customerPayment'
      ? a.upsertPayment(null, externalId, fields).id
      : type === 'customerRefund'
        ? a.upsertRefund(null, externalId, fields).id
        : a.upsertTxn(type as 'invoice' | 'creditMemo', null, externalId, fields).id;
  return { status: 204, body: null, location: `${base}/${type}/${id}` };
}
