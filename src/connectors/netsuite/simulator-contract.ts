import { LosslessNumber } from 'lossless-json';

/*
 * What the simulated NetSuite checks of every write, since Oracle publishes the record schemas
 * only per account (the REST API Browser, the metadata catalog) and none we may copy: the fields
 * each record takes from this target, references as `{"id": "<digits>"}`, sublists as
 * `{"items": [...]}`, amounts and quantities as JSON numbers, dates as YYYY-MM-DD, the upsert
 * only by external id, and the client assertion of the token request
 * ("The Request Token Structure"). A request breaking it is recorded as a violation (tests assert
 * none) and still answered as NetSuite would.
 */

type Kind = 'string' | 'number' | 'boolean' | 'ref' | 'date';
type Shape = { [key: string]: Kind | { sublist: Shape } };

const LINE: Shape = { item: 'ref', description: 'string', quantity: 'number', rate: 'number', taxCode: 'ref' };
const APPLY: Shape = { doc: 'ref', apply: 'boolean', amount: 'number' };

const CUSTOMER: Shape = {
  companyName: 'string',
  isPerson: 'boolean',
  subsidiary: 'ref',
  email: 'string',
  phone: 'string',
};
const ITEM: Shape = { itemId: 'string', displayName: 'string', incomeAccount: 'ref' };
const INVOICE: Shape = {
  entity: 'ref',
  tranDate: 'date',
  dueDate: 'date',
  memo: 'string',
  otherRefNum: 'string',
  item: { sublist: LINE },
};
const CREDIT_MEMO: Shape = { ...INVOICE, apply: { sublist: APPLY } };
const PAYMENT: Shape = {
  customer: 'ref',
  payment: 'number',
  tranDate: 'date',
  memo: 'string',
  undepFunds: 'boolean',
  account: 'ref',
  apply: { sublist: APPLY },
};

const REFUND: Shape = { customer: 'ref', tranDate: 'date', memo: 'string', account: 'ref', apply: { sublist: APPLY } };

const JOURNAL_LINE: Shape = { account: 'ref', debit: 'number', credit: 'number', memo: 'string', entity: 'ref' };
const JOURNAL: Shape = { tranDate: 'date', memo: 'string', subsidiary: 'ref', line: { sublist: JOURNAL_LINE } };

const EID = 'eid:[^/]+';
/** The body shape, required fields and `replace` each write takes, by route. */
export const CONTRACT: { route: RegExp; shape: Shape; required: string[]; replace?: string }[] = [
  { route: new RegExp(`^PUT /customer/${EID}$`), shape: CUSTOMER, required: ['companyName'] },
  { route: /^PATCH \/customer\/\d+$/, shape: CUSTOMER, required: [] },
  { route: new RegExp(`^PUT /(nonInventorySaleItem|serviceSaleItem)/${EID}$`), shape: ITEM, required: ['itemId'] },
  { route: /^PATCH \/(nonInventorySaleItem|serviceSaleItem)\/\d+$/, shape: ITEM, required: [] },
  {
    route: new RegExp(`^PUT /invoice/${EID}$`),
    shape: INVOICE,
    required: ['entity', 'tranDate', 'item'],
    replace: 'item',
  },
  {
    route: new RegExp(`^PUT /creditMemo/${EID}$`),
    shape: CREDIT_MEMO,
    required: ['entity', 'tranDate', 'item'],
    replace: 'item',
  },
  { route: /^PATCH \/creditMemo\/\d+$/, shape: { apply: { sublist: APPLY } }, required: ['apply'] },
  { route: new RegExp(`^PUT /customerPayment/${EID}$`), shape: PAYMENT, required: ['customer', 'payment', 'tranDate'] },
  { route: /^PATCH \/customerPayment\/\d+$/, shape: { apply: { sublist: APPLY } }, required: ['apply'] },
  { route: new RegExp(`^PUT /customerRefund/${EID}$`), shape: REFUND, required: ['customer', 'tranDate', 'apply'] },
  {
    route: new RegExp(`^PUT /journalEntry/${EID}$`),
    shape: JOURNAL,
    required: ['tranDate', 'line'],
    replace: 'line',
  },
  // Created by POST (a free reference, writeOwn): the same fields and the external id in the body.
  {
    route: /^POST \/invoice$/,
    shape: { ...INVOICE, externalId: 'string' },
    required: ['externalId', 'entity', 'tranDate', 'item'],
  },
  {
    route: /^POST \/creditMemo$/,
    shape: { ...CREDIT_MEMO, externalId: 'string' },
    required: ['externalId', 'entity', 'tranDate', 'item'],
  },
  {
    route: /^POST \/customerPayment$/,
    shape: { ...PAYMENT, externalId: 'string' },
    required: ['externalId', 'customer', 'payment', 'tranDate'],
  },
  {
    route: /^POST \/customerRefund$/,
    shape: { ...REFUND, externalId: 'string' },
    required: ['externalId', 'customer', 'tranDate', 'apply'],
  },
  { route: /^POST \/query\/v1\/suiteql$/, shape: { q: 'string' }, required: ['q'] },
];

function check(value: unknown, shape: Shape, path: string, out: string[]): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    out.push(`${path || 'body'}: not an object`);
    return;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const want = shape[k];
    const at = path ? `${path}.${k}` : k;
    if (want === undefined) out.push(`${at}: not a field this target may send`);
    else if (typeof want === 'object') {
      const items = v !== null && typeof v === 'object' ? (v as { items?: unknown }).items : undefined;
      if (!Array.isArray(items) || Object.keys(v as object).length !== 1)
        out.push(`${at}: not a sublist {"items": [...]}`);
      else items.forEach((x, i) => check(x, want.sublist, `${at}.items[${i}]`, out));
    } else if (want === 'number' && !(v instanceof LosslessNumber)) out.push(`${at}: not a JSON number`);
    else if (want === 'string' && typeof v !== 'string') out.push(`${at}: not a string`);
    else if (want === 'boolean' && typeof v !== 'boolean') out.push(`${at}: not a boolean`);
    else if (want === 'date' && (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v)))
      out.push(`${at}: not a date`);
    else if (
      want === 'ref' &&
      (v === null ||
        typeof v !== 'object' ||
        Object.keys(v).join() !== 'id' ||
        !/^\d+$/.test(String((v as { id: unknown }).id)))
    )
      out.push(`${at}: not a reference {"id": "<internal id>"}`);
  }
}

/** What is wrong with a write against the contract; empty when it is right. */
export function violationsOf(route: string, body: unknown, replace: string | null): string[] {
  const rule = CONTRACT.find((r) => r.route.test(route));
  if (!rule) return route.startsWith('GET ') ? [] : ['a write this target has no business making'];
  const out: string[] = [];
  check(body, rule.shape, '', out);
  if (body && typeof body === 'object') for (const k of rule.required) if (!(k in body)) out.push(`${k}: required`);
  if ((rule.replace ?? null) !== replace)
    out.push(`replace=${replace ?? '(none)'}: expected ${rule.replace ?? 'none'}`);
  return out;
}

/** What is wrong with a client credentials token request (form fields, its assertion decoded). */
export function tokenViolations(
  form: URLSearchParams,
  authorization: string | undefined,
  assertion: { header: Record<string, unknown>; payload: Record<string, unknown> } | null,
  tokenUrl: string,
): string[] {
  const out: string[] = [];
  if (authorization) out.push('Authorization header: the client authenticates by its assertion only');
  if (form.has('client_secret')) out.push('client_secret: not part of this grant');
  if (form.get('grant_type') !== 'client_credentials') out.push('grant_type: not client_credentials');
  if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
    out.push('client_assertion_type: not jwt-bearer');
  if (!assertion) return [...out, 'client_assertion: not a JWT'];
  const { header: h, payload: p } = assertion;
  if (h.typ !== 'JWT') out.push('typ: not JWT');
  if (typeof h.kid !== 'string' || h.kid === '') out.push('kid: missing');
  if (p.aud !== tokenUrl) out.push('aud: not the token endpoint');
  const iat = Number(p.iat);
  const exp = Number(p.exp);
  if (!Number.isInteger(iat) || !Number.isInteger(exp) || exp <= iat || exp - iat >= 3600)
    out.push('exp: must be after iat and less than 60 minutes after it');
  const scope = Array.isArray(p.scope) ? p.scope : typeof p.scope === 'string' ? p.scope.split(',') : [];
  if (!scope.includes('rest_webservices')) out.push('scope: without rest_webservices');
  return out;
}
