import { LosslessNumber } from 'lossless-json';

/*
 * What the simulated FreshBooks checks of every request body, since FreshBooks publishes no
 * machine-readable contract: the fields each endpoint takes (freshbooks.com/api/clients, /items,
 * /invoices, /credits, /payments, and the field names of freshbooks/freshbooks-nodejs-sdk's
 * models), which are required, that ids and quantities are JSON numbers and that amounts are
 * money objects with a decimal string (`{"amount": "121.00", "code": "EUR"}`). A request breaking
 * it is recorded as a violation (tests assert none) and still answered as FreshBooks would.
 */

type Kind = 'string' | 'number' | 'boolean' | 'money';
type Shape = { [key: string]: Kind | Shape | [Shape] };

const LINE: Shape = {
  type: 'number',
  name: 'string',
  description: 'string',
  qty: 'number',
  unit_cost: 'money',
  taxName1: 'string',
  taxAmount1: 'string',
};
const CLIENT: Shape = {
  organization: 'string',
  fname: 'string',
  lname: 'string',
  email: 'string',
  bus_phone: 'string',
  vat_number: 'string',
  language: 'string',
  p_street: 'string',
  p_city: 'string',
  p_code: 'string',
  p_country: 'string',
  note: 'string',
};
const ITEM: Shape = { name: 'string', sku: 'string', description: 'string', qty: 'number', unit_cost: 'money' };
const INVOICE: Shape = {
  customerid: 'number',
  create_date: 'string',
  due_offset_days: 'number',
  po_number: 'string',
  currency_code: 'string',
  notes: 'string',
  lines: [LINE],
};
const CREDIT_NOTE: Shape = {
  clientid: 'number',
  create_date: 'string',
  currency_code: 'string',
  credit_type: 'string',
  notes: 'string',
  lines: [LINE],
};
const PAYMENT: Shape = { invoiceid: 'number', amount: 'money', date: 'string', type: 'string', note: 'string' };
// The SDK's Expense request (freshbooks-nodejs-sdk, models/Expense.ts): the fields a fee uses.
const EXPENSE: Shape = {
  categoryid: 'number',
  staffid: 'number',
  date: 'string',
  amount: 'money',
  vendor: 'string',
  notes: 'string',
  clientid: 'number',
};

/** The body of each write, by route pattern: its one wrapping key, its shape and its required fields. */
export const CONTRACT: { route: RegExp; key: string; shape: Shape; required: string[] }[] = [
  { route: /^POST \/users\/clients$/, key: 'client', shape: CLIENT, required: ['organization'] },
  { route: /^PUT \/users\/clients\/\d+$/, key: 'client', shape: CLIENT, required: [] },
  { route: /^POST \/items\/items$/, key: 'item', shape: ITEM, required: ['name'] },
  { route: /^PUT \/items\/items\/\d+$/, key: 'item', shape: ITEM, required: [] },
  {
    route: /^POST \/invoices\/invoices$/,
    key: 'invoice',
    shape: INVOICE,
    required: ['customerid', 'create_date', 'lines'],
  },
  {
    route: /^PUT \/invoices\/invoices\/\d+$/,
    key: 'invoice',
    shape: { action_mark_as_sent: 'boolean' },
    required: ['action_mark_as_sent'],
  },
  {
    route: /^POST \/credit_notes\/credit_notes$/,
    key: 'credit_note',
    shape: CREDIT_NOTE,
    required: ['clientid', 'create_date', 'lines'],
  },
  { route: /^POST \/payments\/payments$/, key: 'payment', shape: PAYMENT, required: ['invoiceid', 'amount', 'date'] },
  {
    route: /^POST \/expenses\/expenses$/,
    key: 'expense',
    shape: EXPENSE,
    required: ['categoryid', 'staffid', 'date', 'amount'],
  },
];

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function check(value: unknown, shape: Shape, path: string, out: string[]): void {
  if (!isObject(value)) {
    out.push(`${path}: not an object`);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    const want = shape[k];
    const at = `${path}.${k}`;
    if (want === undefined) out.push(`${at}: not a field of this endpoint`);
    else if (Array.isArray(want)) {
      if (!Array.isArray(v)) out.push(`${at}: not an array`);
      else v.forEach((x, i) => check(x, want[0], `${at}[${i}]`, out));
    } else if (typeof want === 'object') check(v, want, at, out);
    else if (want === 'number' && !(v instanceof LosslessNumber)) out.push(`${at}: not a JSON number`);
    else if (want === 'string' && typeof v !== 'string') out.push(`${at}: not a string`);
    else if (want === 'boolean' && typeof v !== 'boolean') out.push(`${at}: not a boolean`);
    else if (
      want === 'money' &&
      !(isObject(v) && typeof v.amount === 'string' && /^-?\d+(\.\d+)?$/.test(v.amount) && typeof v.code === 'string')
    )
      out.push(`${at}: not a money object with a decimal string amount`);
  }
}

/** What is wrong with a write's body against the contract; empty when it is right or the route takes no body. */
export function violationsOf(route: string, body: unknown): string[] {
  const rule = CONTRACT.find((r) => r.route.test(route));
  if (!rule) return [];
  const out: string[] = [];
  if (!isObject(body) || Object.keys(body).length !== 1 || !(rule.key in body))
    return [`body: not wrapped as {"${rule.key}": {…}}`];
  const inner = body[rule.key];
  check(inner, rule.shape, rule.key, out);
  if (isObject(inner)) for (const k of rule.required) if (!(k in inner)) out.push(`${rule.key}.${k}: required`);
  return out;
}
