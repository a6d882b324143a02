import { LosslessNumber } from 'lossless-json';

/*
 * What the simulated MYOB checks of every request, since MYOB publishes no machine-readable
 * contract (platform-contracts.md §8): the fields each endpoint takes as its API reference lists
 * them (developer.myob.com/api/accountright/v2/…), which are required when posting, that amounts
 * are JSON numbers, dates `YYYY-MM-DDTHH:MM:SS`, references to other records `{UID}`, and the
 * headers every call carries. A request breaking it is recorded as a violation (tests assert
 * none) and still answered as MYOB would.
 */

type Kind = 'string' | 'number' | 'boolean' | 'date' | 'ref';
type Shape = { [key: string]: Kind | Shape | [Shape] };

const REF: Kind = 'ref';
const ADDRESS: Shape = {
  Location: 'number',
  Street: 'string',
  City: 'string',
  State: 'string',
  PostCode: 'string',
  Country: 'string',
  Phone1: 'string',
  Email: 'string',
};
const CUSTOMER: Shape = {
  UID: 'string',
  RowVersion: 'string',
  CompanyName: 'string',
  IsIndividual: 'boolean',
  IsActive: 'boolean',
  DisplayID: 'string',
  Addresses: [ADDRESS],
  SellingDetails: { TaxCode: REF, FreightTaxCode: REF, ABN: 'string' },
  URI: 'string',
};
const ITEM: Shape = {
  UID: 'string',
  RowVersion: 'string',
  Number: 'string',
  Name: 'string',
  IsActive: 'boolean',
  IsSold: 'boolean',
  IsBought: 'boolean',
  IsInventoried: 'boolean',
  IncomeAccount: REF,
  SellingDetails: { TaxCode: REF },
  URI: 'string',
};
const SALE_LINE: Shape = {
  Type: 'string',
  Description: 'string',
  Total: 'number',
  Account: REF,
  TaxCode: REF,
};
const SALE: Shape = {
  Date: 'date',
  Customer: REF,
  CustomerPurchaseOrderNumber: 'string',
  IsTaxInclusive: 'boolean',
  Terms: { PaymentIsDue: 'string', BalanceDueDate: 'number' },
  JournalMemo: 'string',
  Lines: [SALE_LINE],
};
const PAYMENT: Shape = {
  DepositTo: 'string',
  Account: REF,
  Customer: REF,
  Memo: 'string',
  Date: 'date',
  AmountReceived: 'number',
  PaymentMethod: 'string',
  Invoices: [{ UID: 'string', Type: 'string', AmountApplied: 'number' }],
};
const SETTLEMENT: Shape = {
  CreditFromInvoice: REF,
  Customer: REF,
  Date: 'date',
  CreditAmount: 'number',
  Memo: 'string',
  Lines: [{ Type: 'string', Sale: REF, AmountApplied: 'number' }],
};
const CREDIT_REFUND: Shape = {
  Account: REF,
  Invoice: REF,
  Customer: REF,
  Payee: 'string',
  Number: 'string',
  Date: 'date',
  Amount: 'number',
  Memo: 'string',
  ChequePrinted: 'boolean',
  DeliveryStatus: 'string',
};

const SPEND_MONEY: Shape = {
  PayFrom: 'string',
  Account: REF,
  Contact: REF,
  PaymentNumber: 'string',
  Date: 'date',
  IsTaxInclusive: 'boolean',
  Memo: 'string',
  Lines: [{ Account: REF, TaxCode: REF, Amount: 'number', Memo: 'string' }],
};

/** The body shape and required fields of each write, by route pattern. */
export const CONTRACT: { route: RegExp; shape: Shape; required: string[] }[] = [
  { route: /^POST Contact\/Customer$/, shape: CUSTOMER, required: ['CompanyName', 'IsIndividual', 'SellingDetails'] },
  { route: /^PUT Contact\/Customer\/[0-9a-f-]{36}$/, shape: CUSTOMER, required: ['UID', 'RowVersion', 'CompanyName'] },
  { route: /^POST Inventory\/Item$/, shape: ITEM, required: ['Number', 'Name', 'IncomeAccount'] },
  { route: /^PUT Inventory\/Item\/[0-9a-f-]{36}$/, shape: ITEM, required: ['UID', 'RowVersion', 'Number', 'Name'] },
  { route: /^POST Sale\/Invoice\/Service$/, shape: SALE, required: ['Date', 'Customer', 'Lines'] },
  {
    route: /^POST Sale\/CustomerPayment$/,
    shape: PAYMENT,
    required: ['DepositTo', 'Customer', 'Date', 'AmountReceived', 'Invoices'],
  },
  {
    route: /^POST Sale\/CreditSettlement$/,
    shape: SETTLEMENT,
    required: ['CreditFromInvoice', 'Customer', 'Date', 'CreditAmount', 'Lines'],
  },
  {
    route: /^POST Sale\/CreditRefund$/,
    shape: CREDIT_REFUND,
    required: ['Account', 'Invoice', 'Customer', 'Date', 'Amount'],
  },
  { route: /^POST Banking\/SpendMoneyTxn$/, shape: SPEND_MONEY, required: ['PayFrom', 'Account', 'Date', 'Lines'] },
];

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function check(value: unknown, shape: Shape, path: string, out: string[]): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    out.push(`${path || 'body'}: not an object`);
    return;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const want = shape[k];
    const at = path ? `${path}.${k}` : k;
    if (want === undefined) out.push(`${at}: not a field of this endpoint`);
    else if (Array.isArray(want)) {
      if (!Array.isArray(v)) out.push(`${at}: not an array`);
      else v.forEach((x, i) => check(x, want[0], `${at}[${i}]`, out));
    } else if (typeof want === 'object') check(v, want, at, out);
    else if (want === 'number' && !(v instanceof LosslessNumber)) out.push(`${at}: not a JSON number`);
    else if (want === 'string' && typeof v !== 'string') out.push(`${at}: not a string`);
    else if (want === 'boolean' && typeof v !== 'boolean') out.push(`${at}: not a boolean`);
    else if (want === 'date' && (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(v)))
      out.push(`${at}: not a date-time YYYY-MM-DDTHH:MM:SS`);
    else if (want === 'ref') {
      const uid = (v as { UID?: unknown } | null)?.UID;
      if (typeof uid !== 'string' || !GUID.test(uid)) out.push(`${at}: not a {UID} reference`);
    }
  }
}

/** What is wrong with a write's body against the contract; empty when it is right or the route takes no body. */
export function violationsOf(route: string, body: unknown): string[] {
  const rule = CONTRACT.find((r) => r.route.test(route));
  if (!rule) return [];
  const out: string[] = [];
  check(body, rule.shape, '', out);
  if (body && typeof body === 'object') for (const k of rule.required) if (!(k in body)) out.push(`${k}: required`);
  return out;
}

/** What is wrong with a request's headers: the API key, the version, JSON bodies. */
export function headerViolations(headers: Record<string, string | string[] | undefined>, hasBody: boolean): string[] {
  const out: string[] = [];
  if (headers['x-myobapi-version'] !== 'v2') out.push('x-myobapi-version: not v2');
  if (hasBody && !/^application\/json/.test(String(headers['content-type'] ?? '')))
    out.push('content-type: not application/json');
  return out;
}
