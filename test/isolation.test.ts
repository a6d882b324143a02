import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allRoutes } from '../src/api/routes/index.ts';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp, type TestResponse } from './helpers/app.ts';
import { postInvoice, postReceipt } from './helpers/ledger.ts';
import { multipart } from './helpers/uploads.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';

/*
 * Issue #14, entity isolation: entity A, with its own token, aims every entity route of the
 * registry at entity B's objects. Whatever it asks, it gets B's objects neither in an answer nor
 * changed: a read by B's id is 404, a list holds only A's rows, a write by B's id is refused with a
 * stable code and leaves every row of B as it was, and a write by a code (codes are per entity)
 * makes A's own row. CASES names the case of every route; a route added to the registry without a
 * case fails the first test, so isolation is decided for each new endpoint, not assumed.
 */

let t: TestApp;
let a: Client;
let b: Client;
/** An owner user of A (password sign-in), for the /users/me routes a key pair cannot use. */
let aUser: Browser;
let aKey: string;
/** A second session of A's, for the logout route (which ends the session it is called with). */
let aSpare: string;
let aSpareBrowser: Browser;
let A: World;
let B: World;

/** What one entity holds: the ids and codes a route's path or body can name. */
interface World {
  client: Client;
  code: string;
  /** Text only this entity's data holds (names, descriptions, references): never in the other's answers. */
  marker: string;
  customer: string;
  item: string;
  taxCode: string;
  glAccount: string;
  bankAccount: string;
  department: string;
  supplier: string;
  invoiceId: number;
  receiptId: number;
  draftInvoiceId: number;
  itemInvoiceId: number;
  postedItemInvoiceId: number;
  creditNoteDraftId: number;
  journalId: number;
  purchaseId: number;
  transactionAttachmentId: number;
  customerAttachmentId: number;
  userId: string;
  apiKeyId: string;
  pipeline: string;
  runId: number;
  exceptionId: number;
  reconciliationId: string;
}

async function ok(res: Promise<TestResponse>, what: string): Promise<any> {
  const r = await res;
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function sendForm(token: string, path: string, fields: Record<string, string>, content?: string) {
  const form = multipart(fields, content === undefined ? undefined : { name: 'data.csv', content });
  const res = await t.app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': form.contentType, authorization: `Bearer ${token}` },
    payload: form.payload,
  });
  const type = String(res.headers['content-type'] ?? '');
  return {
    status: res.statusCode,
    body: type.includes('json') ? res.json() : res.body,
    headers: res.headers as Record<string, unknown>,
  };
}

/** Gives an entity one of everything a route can name, each carrying the entity's marker. */
async function build(c: Client, p: 'A' | 'B'): Promise<World> {
  const m = p === 'A' ? 'ALPHAOWN' : 'BRAVOSECRET';
  const put = (path: string, body: unknown) => ok(c.put(path, body), `PUT ${path}`);
  const post = (path: string, body: unknown) => ok(c.post(path, body), `POST ${path}`);
  const customer = `${p}CUST`;
  await put(`/v1/customers/${customer}`, { name: `${m} customer`, email: `${p.toLowerCase()}@customer.example` });
  await put(`/v1/customers/${p}HIDDEN`, { name: `${m} hidden customer` });
  await put(`/v1/items/${p}ITEM`, {
    description: `${m} item`,
    unitPrice: '10.00',
    glAccountCode: '4000',
    taxCode: 'STD',
  });
  await put(`/v1/tax-codes/${p}TAX`, { name: `${m} tax`, rate: '0.1', glAccountCode: '2200' });
  const glAccount = p === 'A' ? '4901' : '4902';
  await put(`/v1/gl-accounts/${glAccount}`, { name: `${m} gl`, type: 'income', isPosting: true });
  await put(`/v1/bank-accounts/${p}BANK`, { name: `${m} bank`, glAccountCode: '1200', currency: 'EUR' });
  await put(`/v1/departments/${p}DEPT`, { name: `${m} department` });
  await put('/v1/analysis-dimensions/1', { name: `${m} dimension`, codes: [{ code: `${p}REG`, name: `${m} region` }] });
  await put(`/v1/customers/${customer}/e-invoicing`, { peppolId: '0208:0987654321', buyerReference: `${m}-buyer` });
  await put('/v1/settings', { branding: { companyName: `${m} Ltd` } });
  await put('/v1/currencies/USD/rates/2026-11-01', { rate: p === 'A' ? '1.1' : '1.2' });
  const supplier = `${p}SUPP`;
  await put(`/v1/suppliers/${supplier}`, {
    name: `${m} supplier`,
    currency: 'EUR',
    defaultTaxCode: 'STD',
    defaultGlAccountCode: '5000',
  });

  const invoiceId = (await postInvoice(c, customer, '100.00', { description: `${m} invoice` })).transactionId;
  const receiptId = (await postReceipt(c, customer, '50.00', { description: `${m} receipt` })).transactionId;
  await post('/v1/allocations', {
    transactionId1: invoiceId,
    transactionId2: receiptId,
    amount: '50.00',
    date: '2026-11-05',
    reference: `${m}-alloc`,
  });
  const lines = [
    { glAccountCode: '4000', taxCode: 'STD', description: `${m} line`, netAmount: '10.00', taxRate: '0.21' },
  ];
  const draftInvoiceId = (
    await post('/v1/sales/draft-invoices', {
      customerCode: customer,
      invoiceDate: '2026-11-01',
      externalReference: `${p}-DRAFT`,
      description: `${m} draft`,
      lines,
    })
  ).draftId;
  const itemInvoice = () =>
    post('/v1/sales/invoices', {
      customerCode: customer,
      date: '2026-11-01',
      lines: [{ itemCode: `${p}ITEM`, quantity: '2', note: `${m} note` }],
    });
  const itemInvoiceId = (await itemInvoice()).draftId;
  const postedItemInvoiceId = (await itemInvoice()).draftId;
  const posted = await post(`/v1/sales/invoices/${postedItemInvoiceId}/post`, undefined);
  const creditNoteDraftId = (
    await post('/v1/sales/credit-notes/drafts', {
      fromInvoiceTransactionId: posted.transactionId,
      date: '2026-11-20',
      externalReference: `${p}-RMA`,
    })
  ).draftId;
  const journalId = (
    await post('/v1/journals', {
      date: '2026-11-30',
      reference: `${p}-ACCR`,
      description: `${m} journal`,
      lines: [
        { glAccountCode: '5000', debit: '15.00' },
        { glAccountCode: '2300', credit: '15.00' },
      ],
    })
  ).transactionId;
  const purchaseId = (
    await post('/v1/purchases/invoices', {
      supplierCode: supplier,
      invoiceDate: '2026-11-03',
      supplierReference: `${p}-SUPREF`,
      description: `${m} purchase`,
      lines: [
        { glAccountCode: '5000', taxCode: 'STD', description: `${m} seats`, netAmount: '20.00', taxRate: '0.21' },
      ],
    })
  ).transactionId;
  const csv = `job,amount\r\n${m} job,1.00\r\n`;
  const txAttachment = await sendForm(c.token, `/v1/transactions/${invoiceId}/attachments`, {}, csv);
  const customerAttachment = await sendForm(c.token, `/v1/customers/${customer}/attachments`, {}, csv);
  if (txAttachment.status !== 201 || customerAttachment.status !== 201)
    throw new Error(`attachments: ${JSON.stringify([txAttachment.body, customerAttachment.body])}`);

  const user = await addUser(t, c, `${p.toLowerCase()}-owner@${p.toLowerCase()}.example`, 'owner');
  const browser = await signIn(t, user.email, user.password);
  const key = await browser.request('POST', '/v1/users/me/api-keys', { name: `${m} key`, role: 'owner' });
  if (key.status !== 201) throw new Error(`api key: ${JSON.stringify(key.body)}`);

  const pipeline = `${p.toLowerCase()}pipe`;
  await put(`/v1/pipelines/${pipeline}`, { source: { type: 'file' } });
  const bad = `invoice_reference,customer_id,invoice_date,currency,description,net_amount,vat_rate\r\n${p}-BAD,${customer},2026-13-45,EUR,${m} row,1.00,0.21\r\n`;
  const imported = await sendForm(c.token, '/v1/imports', { pipeline }, bad);
  if (imported.status !== 200) throw new Error(`import: ${JSON.stringify(imported.body)}`);
  const reconciliation = await post(`/v1/pipelines/${pipeline}/reconciliations`, {
    from: '2026-11-01',
    to: '2026-11-30',
  });

  if (p === 'A') {
    aUser = browser;
    aKey = key.body.key;
  }
  return {
    client: c,
    code: p === 'A' ? 'ISOA' : 'ISOB',
    marker: m,
    customer,
    item: `${p}ITEM`,
    taxCode: `${p}TAX`,
    glAccount,
    bankAccount: `${p}BANK`,
    department: `${p}DEPT`,
    supplier,
    invoiceId,
    receiptId,
    draftInvoiceId,
    itemInvoiceId,
    postedItemInvoiceId,
    creditNoteDraftId,
    journalId,
    purchaseId,
    transactionAttachmentId: txAttachment.body.attachmentId,
    customerAttachmentId: customerAttachment.body.attachmentId,
    userId: user.id,
    apiKeyId: key.body.id,
    pipeline,
    runId: imported.body.runId,
    exceptionId: imported.body.rows[0].exceptionId,
    reconciliationId: reconciliation.reconciliationId,
  };
}

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 10 });
  a = await t.entity('ISOA', 'EUR');
  b = await t.entity('ISOB', 'EUR');
  A = await build(a, 'A');
  B = await build(b, 'B');
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const pair = await ok(t.request('POST', '/v1/admin/entities/ISOA/keys', {}, admin), 'keys');
  const login = await ok(
    t.request('POST', '/v1/auth/login', { entityId: a.entityId, partnerKey: pair.partnerKey, userKey: pair.userKey }),
    'login',
  );
  aSpare = login.token;
  aSpareBrowser = await signIn(t, 'a-owner@a.example', 'a long passphrase 4 tests');
}, 60_000);
afterAll(async () => t.close());

/*
 * Every row of B, in every table that has an entity_id, as text: a write of A's that changed any
 * of them shows here. The open items and GL balances caches are left out: the server refreshes
 * them in the background every minute, which is not a change made by A (on a busy machine the file
 * runs past that minute, and B's caches catch up with B's own postings from the setup).
 */
async function rowsOf(entityId: string): Promise<string> {
  const { rows: tables } = await t.db.query<{ table_name: string }>(
    `SELECT c.table_name FROM information_schema.columns c
       JOIN information_schema.tables s ON s.table_schema = c.table_schema AND s.table_name = c.table_name
      WHERE c.column_name = 'entity_id' AND c.table_schema = current_schema() AND s.table_type = 'BASE TABLE'
      ORDER BY c.table_name`,
  );
  const out: string[] = [];
  for (const { table_name } of tables) {
    if (
      table_name.startsWith('open_item') ||
      table_name.startsWith('gl_balances_') ||
      table_name === 'gl_daily_balances'
    )
      continue;
    const { rows } = await t.db.query(`SELECT * FROM ${table_name} WHERE entity_id = $1`, [entityId]);
    const text = rows.map((r) => JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
    out.push(`${table_name}: ${text.sort().join('\n')}`);
  }
  return out.join('\n');
}

/** How a route is aimed at B, and what A must get. */
interface Case {
  /** Path parameters, from B's world (and A's, where a route needs A's own object to name B's). */
  params?: (b: World, a: World) => Record<string, string | number>;
  query?: (b: World) => string;
  body?: (b: World, a: World) => unknown;
  /** A multipart form (uploads), with a small CSV file. */
  form?: (b: World) => Record<string, string>;
  /** Sent as A's owner user (its API key) instead of A's key pair: the /users/me routes need a user. */
  asUser?: true;
  /** Another token of A's. */
  token?: () => string;
  /** Sent from a browser session of A's owner user (cookie and CSRF token). */
  browser?: () => Browser;
  /** Text the answer must hold (an error code inside a per-item result, A's own object). */
  contains?: string;
  /**
   * `refused`: a 4xx with a stable code (default 404), B's data untouched.
   * `list`: 200 with A's rows only (when `mine`, A's marker is in the answer: the list is not just empty).
   * `own`: the write lands on A's own object of that code (codes are per entity), never on B's.
   */
  expect: 'refused' | 'list' | 'own';
  status?: number[];
  code?: string;
  mine?: true;
}

const tx = (id: keyof World) => (w: World) => ({ id: w[id] as number });
const notFound: Pick<Case, 'expect' | 'status'> = { expect: 'refused', status: [404] };
/** A transaction named in the body: B's id is unknown to A. */
const noTransaction: Pick<Case, 'expect' | 'status' | 'code'> = {
  expect: 'refused',
  status: [422],
  code: 'TRANSACTION_DOES_NOT_EXIST',
};

export const CASES: Record<string, Case> = {
  // Ends the session it is called with (A's spare one): it names nothing of B.
  'POST /v1/auth/logout': { expect: 'own', status: [204], token: () => aSpare },
  // Ends A's spare browser session: it names nothing of B.
  'POST /v1/auth/sign-out': { expect: 'own', status: [204], browser: () => aSpareBrowser },
  'GET /v1/auth/me': { expect: 'list', contains: '"code":"ISOA"' },
  'POST /v1/auth/entity': {
    expect: 'refused',
    browser: () => aUser,
    body: (b) => ({ entityCode: b.code }),
    status: [404],
    code: 'ENTITY_DOES_NOT_EXIST',
  },
  'GET /v1/users': { expect: 'list', contains: 'a-owner@a.example' },
  'POST /v1/users': { expect: 'own', status: [201], body: () => ({ email: 'new-member@a.example', role: 'viewer' }) },
  'PUT /v1/users/{id}': { ...notFound, params: (b) => ({ id: b.userId }), body: () => ({ role: 'viewer' }) },
  'POST /v1/users/{id}/sign-in-link': { ...notFound, params: (b) => ({ id: b.userId }) },
  'POST /v1/users/me/api-keys': {
    expect: 'own',
    browser: () => aUser,
    status: [201],
    body: () => ({ name: 'k', role: 'viewer' }),
  },
  'GET /v1/users/me/api-keys': { expect: 'list', asUser: true, mine: true },
  'DELETE /v1/users/me/api-keys/{id}': { ...notFound, asUser: true, params: (b) => ({ id: b.apiKeyId }) },
  'GET /v1/gl-accounts': { expect: 'list', mine: true },
  'GET /v1/gl-accounts/{code}': { ...notFound, params: (b) => ({ code: b.glAccount }) },
  'PUT /v1/gl-accounts/{code}': {
    expect: 'own',
    params: (b) => ({ code: b.glAccount }),
    body: () => ({ name: 'A took this code', type: 'income', isPosting: true }),
  },
  'GET /v1/tax-codes': { expect: 'list', mine: true },
  'GET /v1/tax-codes/{code}': { ...notFound, params: (b) => ({ code: b.taxCode }) },
  'PUT /v1/tax-codes/{code}': {
    expect: 'own',
    params: (b) => ({ code: b.taxCode }),
    body: () => ({ name: 'A', rate: '0.2', glAccountCode: '2200' }),
  },
  'GET /v1/bank-accounts': { expect: 'list', mine: true },
  'GET /v1/bank-accounts/{code}': { ...notFound, params: (b) => ({ code: b.bankAccount }) },
  'PUT /v1/bank-accounts/{code}': {
    expect: 'own',
    params: (b) => ({ code: b.bankAccount }),
    body: () => ({ name: 'A', glAccountCode: '1200', currency: 'EUR' }),
  },
  'GET /v1/departments': { expect: 'list', mine: true },
  'GET /v1/departments/{id}': { ...notFound, params: (b) => ({ id: b.department }) },
  'PUT /v1/departments/{id}': { expect: 'own', params: (b) => ({ id: b.department }), body: () => ({ name: 'A' }) },
  'GET /v1/analysis-dimensions': { expect: 'list', mine: true },
  // Dimensions are numbered 1 to 3 in every entity: A's number 1 is its own.
  'GET /v1/analysis-dimensions/{n}': { expect: 'list', mine: true, params: () => ({ n: 1 }) },
  'PUT /v1/analysis-dimensions/{n}': {
    expect: 'own',
    params: () => ({ n: 1 }),
    body: () => ({ name: 'A dimension', codes: [{ code: 'AREG', name: 'ALPHAOWN region' }] }),
  },
  'GET /v1/customers/new': { expect: 'list' },
  'GET /v1/customers/{code}': { ...notFound, params: (b) => ({ code: b.customer }) },
  'GET /v1/customers': { expect: 'list', mine: true },
  'PUT /v1/customers/{code}': { expect: 'own', params: (b) => ({ code: b.customer }), body: () => ({ name: 'A' }) },
  'GET /v1/items': { expect: 'list', mine: true },
  'GET /v1/items/{code}': { ...notFound, params: (b) => ({ code: b.item }) },
  'PUT /v1/items/{code}': {
    expect: 'own',
    params: (b) => ({ code: b.item }),
    body: () => ({ description: 'A', unitPrice: '1.00', glAccountCode: '4000', taxCode: 'STD' }),
  },
  'GET /v1/settings': { expect: 'list', mine: true },
  'PUT /v1/settings': { expect: 'own', body: () => ({ branding: { companyName: 'ALPHAOWN Ltd' } }) },
  'GET /v1/currencies': { expect: 'list' },
  'GET /v1/currencies/{code}/rates': { expect: 'list', params: () => ({ code: 'USD' }) },
  'PUT /v1/currencies/{code}/rates/{date}': {
    expect: 'own',
    params: () => ({ code: 'USD', date: '2026-11-01' }),
    body: () => ({ rate: '1.3' }),
  },
  'POST /v1/sales/batch-invoices': {
    expect: 'refused',
    status: [422],
    body: (b) => ({
      customerCode: b.customer,
      invoiceDate: '2026-11-01',
      externalReference: 'X-1',
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '1.00', taxRate: '0.21' }],
    }),
  },
  'POST /v1/sales/receipts': {
    expect: 'refused',
    status: [422],
    body: (b) => ({
      customerCode: b.customer,
      checkReference: 'X-2',
      paymentAmount: '1.00',
      bankAccountCode: 'BANK',
      paymentDate: '2026-11-05',
    }),
  },
  'POST /v1/sales/credit-notes': {
    ...noTransaction,
    body: (b) => ({ fromInvoiceTransactionId: b.invoiceId, creditNoteDate: '2026-11-10', externalReference: 'X-3' }),
  },
  'POST /v1/sales/debit-journals': {
    expect: 'refused',
    status: [422],
    body: (b) => ({
      customerCode: b.customer,
      transactionDate: '2026-11-12',
      externalReference: 'X-4',
      lines: [{ bankAccountCode: 'BANK', amount: '1.00' }],
    }),
  },
  'POST /v1/sales/credit-journals': {
    expect: 'refused',
    status: [422],
    body: (b) => ({
      customerCode: b.customer,
      transactionDate: '2026-11-12',
      externalReference: 'X-5',
      lines: [{ bankAccountCode: 'BANK', amount: '1.00' }],
    }),
  },
  'POST /v1/sales/post-pay-allocate': { expect: 'refused', status: [422], body: (b) => postPayAllocate(b) },
  'POST /v1/sales/post-pay-allocate/bulk': {
    // The bulk answer is 200 with a result per query: the one query is refused inside it.
    expect: 'own',
    status: [200],
    body: (b) => ({ queries: [postPayAllocate(b)] }),
  },
  'POST /v1/allocations': {
    ...noTransaction,
    body: (b) => ({
      transactionId1: b.invoiceId,
      transactionId2: b.receiptId,
      amount: '1.00',
      date: '2026-11-05',
      reference: 'X-6',
    }),
  },
  // A result per transaction: B's is refused inside a 200.
  'POST /v1/allocations/unallocate': {
    expect: 'refused',
    status: [200],
    contains: '"errorCode":"TRANSACTION_DOES_NOT_EXIST"',
    body: (b) => ({ transactionIds: [b.invoiceId] }),
  },
  'POST /v1/sales/draft-invoices': {
    expect: 'refused',
    status: [422],
    body: (b) => ({
      customerCode: b.customer,
      invoiceDate: '2026-11-01',
      externalReference: 'X-7',
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '1.00', taxRate: '0.21' }],
    }),
  },
  'GET /v1/sales/draft-invoices': { expect: 'list', mine: true },
  'GET /v1/sales/draft-invoices/{id}': { ...notFound, params: tx('draftInvoiceId') },
  'PUT /v1/sales/draft-invoices/{id}': {
    ...notFound,
    params: tx('draftInvoiceId'),
    body: (b) => ({
      customerCode: b.customer,
      invoiceDate: '2026-11-01',
      externalReference: 'X-8',
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '1.00', taxRate: '0.21' }],
    }),
  },
  'POST /v1/sales/draft-invoices/{id}/post': { ...notFound, params: tx('draftInvoiceId') },
  'POST /v1/sales/draft-invoices/{id}/cancel': { ...notFound, params: tx('draftInvoiceId') },
  'GET /v1/sales/invoices/new': {
    expect: 'refused',
    status: [422],
    code: 'CUSTOMER_CODE_DOES_NOT_EXIST',
    query: (b) => `?customerCode=${b.customer}`,
  },
  'POST /v1/sales/invoices': {
    expect: 'refused',
    status: [422],
    body: (b) => ({ customerCode: b.customer, date: '2026-11-01', lines: [{ itemCode: b.item, quantity: '1' }] }),
  },
  'GET /v1/sales/invoices': { expect: 'list', mine: true },
  'GET /v1/sales/invoices/{id}': { ...notFound, params: tx('itemInvoiceId') },
  'PUT /v1/sales/invoices/{id}': { ...notFound, params: tx('itemInvoiceId'), body: () => ({ orderNumber: 'X' }) },
  'POST /v1/sales/invoices/{id}/post': { ...notFound, params: tx('itemInvoiceId') },
  'POST /v1/sales/invoices/{id}/cancel': { ...notFound, params: tx('itemInvoiceId') },
  'POST /v1/sales/credit-notes/drafts': {
    ...noTransaction,
    body: (b) => ({ fromInvoiceTransactionId: b.invoiceId, date: '2026-11-20', externalReference: 'X-9' }),
  },
  'GET /v1/sales/credit-notes/drafts': { expect: 'list', mine: true },
  'GET /v1/sales/credit-notes/drafts/{id}': { ...notFound, params: tx('creditNoteDraftId') },
  'PUT /v1/sales/credit-notes/drafts/{id}': {
    ...notFound,
    params: tx('creditNoteDraftId'),
    body: () => ({ orderNumber: 'X' }),
  },
  'POST /v1/sales/credit-notes/drafts/{id}/post': { ...notFound, params: tx('creditNoteDraftId') },
  'POST /v1/sales/credit-notes/drafts/{id}/cancel': { ...notFound, params: tx('creditNoteDraftId') },
  'POST /v1/journals': {
    expect: 'refused',
    status: [422],
    body: (b) => ({
      date: '2026-11-30',
      reference: 'X-10',
      lines: [
        { glAccountCode: b.glAccount, debit: '1.00', departmentId: b.department },
        { glAccountCode: '2300', credit: '1.00' },
      ],
    }),
  },
  'GET /v1/journals/{id}': { ...notFound, params: tx('journalId') },
  'POST /v1/journals/{id}/reverse': { ...notFound, params: tx('journalId'), body: () => ({}) },
  'GET /v1/transactions/{id}/fee': { ...notFound, params: tx('receiptId') },
  'PUT /v1/transactions/{id}/fee': { ...notFound, params: tx('receiptId'), body: (b) => ({ journalId: b.journalId }) },
  'GET /v1/transactions': { expect: 'list', contains: '"customerCode":"ACUST"' },
  'GET /v1/transactions/{id}': { ...notFound, params: tx('invoiceId') },
  'GET /v1/transactions/{id}/allocations': { ...notFound, params: tx('invoiceId') },
  'GET /v1/allocations': { expect: 'list', mine: true },
  'GET /v1/customers/statements': { expect: 'list', mine: true },
  'GET /v1/customers/balances': {
    ...notFound,
    query: (b) => `?codes=${b.customer}`,
  },
  'GET /v1/customers/{code}/statement': { ...notFound, params: (b) => ({ code: b.customer }) },
  'GET /v1/customers/{code}/balance': { ...notFound, params: (b) => ({ code: b.customer }) },
  'GET /v1/reports/trial-balance': { expect: 'list' },
  'GET /v1/reports/aged-debtors': { expect: 'list', mine: true, query: () => '?showZeros=true' },
  'GET /v1/reports/vat': { expect: 'list', query: () => '?from=2026-11-01&to=2026-11-30' },
  'GET /v1/reports/analysis': { expect: 'list', query: () => '?dimension=1&from=2026-11-01&to=2026-11-30' },
  'GET /v1/transactions/{id}/pdf': { ...notFound, params: tx('invoiceId') },
  'GET /v1/customers/{code}/statement.pdf': { ...notFound, params: (b) => ({ code: b.customer }) },
  'POST /v1/deferrals/release': { expect: 'own', body: () => ({ upTo: '2026-11-30' }) },
  'GET /v1/reports/deferrals': { expect: 'list' },
  'GET /v1/reports/revaluation': { expect: 'list', query: () => '?at=2026-12-31' },
  'POST /v1/revaluations': { expect: 'own', body: () => ({ at: '2026-12-31' }) },
  'POST /v1/transactions/{id}/attachments': { ...notFound, params: tx('invoiceId'), form: () => ({}) },
  'GET /v1/transactions/{id}/attachments': { ...notFound, params: tx('invoiceId') },
  'GET /v1/transactions/{id}/attachments/{attachmentId}': {
    ...notFound,
    params: (b) => ({ id: b.invoiceId, attachmentId: b.transactionAttachmentId }),
  },
  'POST /v1/transactions/{id}/attachments/breakdown': { ...notFound, params: tx('invoiceId') },
  'POST /v1/customers/{code}/attachments': { ...notFound, params: (b) => ({ code: b.customer }), form: () => ({}) },
  'GET /v1/customers/{code}/attachments': { ...notFound, params: (b) => ({ code: b.customer }) },
  'GET /v1/customers/{code}/attachments/{attachmentId}': {
    ...notFound,
    params: (b) => ({ code: b.customer, attachmentId: b.customerAttachmentId }),
  },
  'POST /v1/transactions/{id}/dispute': {
    ...notFound,
    params: tx('invoiceId'),
    body: () => ({ disputed: true, reason: 'x' }),
  },
  'PUT /v1/transactions/{id}/due-date': {
    ...notFound,
    params: tx('invoiceId'),
    body: () => ({ dueDate: '2026-12-31' }),
  },
  'GET /v1/transactions/{id}/ubl': { ...notFound, params: tx('invoiceId') },
  'GET /v1/settings/e-invoicing': { expect: 'list' },
  'PUT /v1/settings/e-invoicing': { expect: 'own', body: () => ({ peppolId: '0208:0123456789' }) },
  'GET /v1/customers/{code}/e-invoicing': { ...notFound, params: (b) => ({ code: b.customer }) },
  'PUT /v1/customers/{code}/e-invoicing': {
    ...notFound,
    params: (b) => ({ code: b.customer }),
    body: () => ({ peppolId: '0208:0987654321' }),
  },
  'GET /v1/suppliers': { expect: 'list', mine: true },
  'GET /v1/suppliers/{code}': { ...notFound, params: (b) => ({ code: b.supplier }) },
  'PUT /v1/suppliers/{code}': {
    expect: 'own',
    params: (b) => ({ code: b.supplier }),
    body: () => ({ name: 'A', currency: 'EUR', defaultTaxCode: 'STD', defaultGlAccountCode: '5000' }),
  },
  'POST /v1/purchases/invoices': {
    expect: 'refused',
    status: [422],
    body: (b) => ({
      supplierCode: b.supplier,
      invoiceDate: '2026-11-03',
      supplierReference: 'X-11',
      lines: [{ glAccountCode: '5000', taxCode: 'STD', netAmount: '1.00', taxRate: '0.21' }],
    }),
  },
  'GET /v1/purchases/invoices': { expect: 'list', mine: true },
  'GET /v1/purchases/invoices/{id}': { ...notFound, params: tx('purchaseId') },
  'POST /v1/back-to-back': {
    expect: 'refused',
    status: [422],
    body: (b) => ({
      purchase: {
        supplierCode: b.supplier,
        invoiceDate: '2026-11-03',
        supplierReference: 'X-12',
        lines: [{ glAccountCode: '5000', taxCode: 'STD', netAmount: '1.00', taxRate: '0.21' }],
      },
      sales: { customerCode: b.customer, externalReference: 'X-13', markupRate: '0.25', glAccountCode: '4000' },
    }),
  },
  'GET /v1/transactions/{id}/link': { ...notFound, params: tx('purchaseId') },
  'GET /v1/intercompany/connections': { expect: 'list' },
  // A's half of a connection to B: B has not connected back, so it stays pending and posts nothing into B.
  'PUT /v1/intercompany/connections/{entityCode}': {
    expect: 'own',
    params: (b) => ({ entityCode: b.code }),
    body: (_b, a) => ({ customerCode: a.customer, supplierCode: a.supplier }),
  },
  'DELETE /v1/intercompany/connections/{entityCode}': { expect: 'own', params: (b) => ({ entityCode: b.code }) },
  'POST /v1/intercompany/invoices': {
    expect: 'refused',
    status: [409, 422],
    body: (b) => ({
      buyerEntityCode: b.code,
      invoiceDate: '2026-11-04',
      externalReference: 'X-14',
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '1.00', taxRate: '0.21' }],
    }),
  },
  'GET /v1/pipelines': { expect: 'list', contains: '"name":"apipe"' },
  'GET /v1/pipelines/{name}': { ...notFound, params: (b) => ({ name: b.pipeline }) },
  // Names are per entity: A's PUT makes A's own pipeline of that name.
  'PUT /v1/pipelines/{name}': {
    expect: 'own',
    params: (b) => ({ name: b.pipeline }),
    body: () => ({ source: { type: 'file' } }),
  },
  'DELETE /v1/pipelines/{name}': { expect: 'own', params: (b) => ({ name: b.pipeline }) },
  'GET /v1/connections/{pipeline}/oauth/start': { ...notFound, params: (b) => ({ pipeline: b.pipeline }) },
  'GET /v1/connections/{pipeline}': { ...notFound, params: (b) => ({ pipeline: b.pipeline }) },
  'DELETE /v1/connections/{pipeline}': { ...notFound, params: (b) => ({ pipeline: b.pipeline }) },
  'POST /v1/connections/{pipeline}/test': { ...notFound, params: (b) => ({ pipeline: b.pipeline }) },
  'POST /v1/pipelines/{name}/runs': { ...notFound, params: (b) => ({ name: b.pipeline }) },
  'GET /v1/runs/{runId}': { ...notFound, params: (b) => ({ runId: b.runId }) },
  'GET /v1/runs/{runId}/records': { ...notFound, params: (b) => ({ runId: b.runId }) },
  'POST /v1/runs/{runId}/cancel': { ...notFound, params: (b) => ({ runId: b.runId }) },
  'GET /v1/runs': { expect: 'list', contains: '"pipeline":"apipe"' },
  'GET /v1/exceptions': { expect: 'list', mine: true },
  'POST /v1/exceptions/{id}/retry': { ...notFound, params: (b) => ({ id: b.exceptionId }) },
  'POST /v1/exceptions/{id}/resolve': {
    ...notFound,
    params: (b) => ({ id: b.exceptionId }),
    body: () => ({ note: 'x' }),
  },
  'GET /v1/audit': { expect: 'list', mine: true },
  'POST /v1/imports': { ...notFound, form: (b) => ({ pipeline: b.pipeline }) },
  'GET /v1/pipelines/{name}/reconciliation': { ...notFound, params: (b) => ({ name: b.pipeline }) },
  'POST /v1/pipelines/{name}/reconciliations': {
    ...notFound,
    params: (b) => ({ name: b.pipeline }),
    body: () => ({ from: '2026-11-01', to: '2026-11-30' }),
  },
  'GET /v1/pipelines/{name}/reconciliations': { ...notFound, params: (b) => ({ name: b.pipeline }) },
  'GET /v1/reconciliations/{id}': { ...notFound, params: (b) => ({ id: b.reconciliationId }) },
  'POST /v1/pipelines/{name}/daily-summary': {
    ...notFound,
    params: (b) => ({ name: b.pipeline }),
    body: () => ({ date: '2026-11-21' }),
  },
};

function postPayAllocate(b: World) {
  return {
    batchInvoice: {
      customerCode: b.customer,
      invoiceDate: '2026-11-01',
      externalReference: 'X-15',
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '1.00', taxRate: '0.21' }],
    },
    receipt: {
      customerCode: b.customer,
      checkReference: 'X-16',
      paymentAmount: '1.21',
      bankAccountCode: 'BANK',
      paymentDate: '2026-11-01',
    },
    performExternalReferenceDuplicateCheckOnInvoice: true,
    performExternalReferenceDuplicateCheckOnReceipt: true,
    performAllocation: true,
  };
}

/** Routes no entity token reaches, or that name no entity's object: why each needs no case. */
export const EXEMPT: Record<string, string> = {
  'GET /health': 'anonymous; answers no entity data',
  'GET /ready': 'anonymous; answers no entity data',
  'GET /metrics': 'its own token (LEDGERLINK_METRICS_TOKEN); counts only, no entity data',
  'POST /v1/admin/entities': 'admin only: an entity token is refused (tested below)',
  'POST /v1/admin/entities/{code}/keys': 'admin only: an entity token is refused (tested below)',
  'GET /v1/admin/entities/{code}/keys': 'admin only: an entity token is refused (tested below)',
  'DELETE /v1/admin/entities/{code}/keys/{keyId}': 'admin only: an entity token is refused (tested below)',
  'POST /v1/auth/login': "anonymous; proves an entity's key pair (test/auth.test.ts)",
  'POST /v1/auth/sign-in': "anonymous; proves a user's password (test/users.test.ts)",
  'POST /v1/auth/set-password': 'anonymous; proves a one-time link token (test/users.test.ts)',
  'POST /v1/auth/accept-invitation':
    'anonymous; proves an invitation token and the account’s password (test/user-invitations.test.ts)',
  'GET /v1/connections/{pipeline}/oauth/callback':
    'anonymous; the state names the pipeline (test/oauth-connections.test.ts)',
  'POST /v1/webhooks/{pipeline}': "anonymous; the pipeline's secret signs the body (test/pipeline-security.test.ts)",
  'POST /v1/webhooks/{pipeline}/stripe': "anonymous; the pipeline's Stripe secret signs the body",
  'POST /v1/webhooks/{pipeline}/quickbooks': "anonymous; the pipeline's verifier token signs the body",
  'POST /v1/webhooks/{pipeline}/xero': "anonymous; the pipeline's webhook key signs the body",
};

const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;

describe('the isolation table', () => {
  it('has a case for every entity route of the registry, and names every other route as exempt', () => {
    const entityRoutes = allRoutes.filter((r) => r.auth === 'entity' || r.auth === 'entityOrAdmin').map(key);
    const others = allRoutes.filter((r) => r.auth === 'none' || r.auth === 'admin').map(key);
    expect(
      entityRoutes.filter((k) => !(k in CASES)),
      'entity routes without an isolation case',
    ).toEqual([]);
    expect(
      others.filter((k) => !(k in EXEMPT)),
      'admin or anonymous routes not listed as exempt',
    ).toEqual([]);
    const known = new Set(allRoutes.map(key));
    expect(
      [...Object.keys(CASES), ...Object.keys(EXEMPT)].filter((k) => !known.has(k)),
      'stale entries',
    ).toEqual([]);
    expect(entityRoutes.length).toBeGreaterThan(100);
  });
});

function fill(path: string, params: Record<string, string | number>): string {
  return path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for {${name}} in ${path}`);
    return encodeURIComponent(String(value));
  });
}

async function call(route: { method: string; path: string }, c: Case): Promise<{ res: TestResponse; sent: string }> {
  const url = fill(route.path, c.params?.(B, A) ?? {}) + (c.query?.(B) ?? '');
  const token = c.token?.() ?? (c.asUser ? aKey : a.token);
  const browser = c.browser?.();
  if (browser) {
    const body = c.body?.(B, A);
    return { res: await browser.request(route.method, url, body), sent: url + JSON.stringify(body ?? null) };
  }
  if (c.form) {
    const fields = c.form(B);
    return { res: await sendForm(token, url, fields, 'job,amount\r\nx,1.00\r\n'), sent: url + JSON.stringify(fields) };
  }
  const body = c.body?.(B, A);
  const headers = { authorization: `Bearer ${token}` };
  const res = await t.request(route.method, url, body === undefined ? undefined : body, headers);
  return { res, sent: url + JSON.stringify(body ?? null) };
}

/** The answer's text: a PDF, CSV or UBL file as bytes, JSON as JSON. */
function textOf(res: TestResponse): string {
  return Buffer.isBuffer(res.body) ? res.body.toString('latin1') : JSON.stringify(res.body);
}

describe('entity A aims every entity route at entity B', () => {
  // A's writes by B's codes come last: once A has its own customer BCUST, a document for BCUST is A's.
  const ordered = [
    ...allRoutes.filter((r) => CASES[key(r)] && CASES[key(r)]!.expect !== 'own'),
    ...allRoutes.filter((r) => CASES[key(r)]?.expect === 'own'),
  ];
  for (const route of ordered) {
    const c = CASES[key(route)]!;
    it(`${key(route)}: ${c.expect}`, async () => {
      const before = await rowsOf(B.client.entityId);
      const { res, sent } = await call(route, c);
      const text = textOf(res);
      // Nothing of B's in the answer: its marker, its entity id (unless A sent them itself).
      for (const secret of [B.marker, B.client.entityId]) {
        if (!sent.includes(secret)) expect(text, `${key(route)} answered B's data`).not.toContain(secret);
      }
      const expected = c.status ?? (c.expect === 'refused' ? [404] : [200, 201, 204]);
      expect(expected, `${key(route)} answered ${res.status} ${text.slice(0, 300)}`).toContain(res.status);
      if (res.status >= 400) {
        expect(typeof res.body?.error?.code, 'a stable code').toBe('string');
        if (c.code) expect(res.body.error.code).toBe(c.code);
      }
      if (c.mine) expect(text, 'the list shows A its own rows').toContain(A.marker);
      if (c.contains) expect(text).toContain(c.contains);
      expect(await rowsOf(B.client.entityId), `${key(route)} changed B's rows`).toBe(before);
    });
  }
});

describe('other ways across', () => {
  it("A's token is refused on every admin route, and B's keys stay as they were", async () => {
    const before = await rowsOf(B.client.entityId);
    for (const route of allRoutes.filter((r) => r.auth === 'admin')) {
      const url = fill(route.path, { code: B.code, keyId: '00000000-0000-0000-0000-000000000000' });
      const body = route.method === 'POST' ? { code: 'EVIL', name: 'x', baseCurrency: 'EUR' } : undefined;
      for (const token of [a.token, aKey]) {
        const res = await t.request(route.method, url, body, { authorization: `Bearer ${token}` });
        expect(res.status, key(route)).toBe(401);
        expect(res.body.error.code, key(route)).toBe('ADMIN_TOKEN_REQUIRED');
      }
    }
    expect(await rowsOf(B.client.entityId)).toBe(before);
    const keys = await t.request('GET', `/v1/admin/entities/${B.code}/keys`, undefined, {
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect(keys.status).toBe(200);
  });

  it("a user of A with a browser session reaches none of B's objects, and cannot switch into B", async () => {
    // BHIDDEN: a code of B's that no case made A take for its own.
    expect((await aUser.request('GET', '/v1/customers/BHIDDEN')).status).toBe(404);
    expect((await aUser.request('GET', `/v1/transactions/${B.invoiceId}`)).status).toBe(404);
    expect((await aUser.request('GET', `/v1/runs/${B.runId}`)).status).toBe(404);
    expect((await aUser.request('GET', `/v1/reconciliations/${B.reconciliationId}`)).status).toBe(404);
    const list = await aUser.request('GET', '/v1/customers');
    expect(JSON.stringify(list.body)).toContain(A.marker);
    expect(JSON.stringify(list.body)).not.toContain(B.marker);
    const before = await rowsOf(B.client.entityId);
    const sw = await aUser.request('POST', '/v1/auth/entity', { entityCode: B.code });
    expect(sw.status).toBe(404);
    expect(sw.body.error.code).toBe('ENTITY_DOES_NOT_EXIST');
    expect((await aUser.request('GET', '/v1/auth/me')).body.entity.code).toBe(A.code);
    expect(await rowsOf(B.client.entityId)).toBe(before);
  });

  it("B's own data is all still there for B", async () => {
    expect((await b.get(`/v1/customers/${B.customer}`)).body.name).toBe(`${B.marker} customer`);
    expect((await b.get(`/v1/transactions/${B.invoiceId}`)).status).toBe(200);
    expect((await b.get(`/v1/pipelines/${B.pipeline}`)).status).toBe(200);
  });
});
