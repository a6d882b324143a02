import { LosslessNumber } from 'lossless-json';

/*
 * What the simulated Zoho Books checks of every request body, since Zoho publishes no contract we
 * may copy (platform-contracts.md §5): the fields each endpoint takes, which are required, and
 * that amounts and quantities are JSON numbers. A request breaking it is recorded as a violation
 * (tests assert none) and still answered as Zoho would.
 */

type Shape = { [key: string]: 'string' | 'number' | 'object' | 'array' | Shape[] };

const LINE: Shape = {
  item_id: 'string',
  name: 'string',
  description: 'string',
  quantity: 'number',
  rate: 'number',
  tax_id: 'string',
};
const APPLIED: Shape = { invoice_id: 'string', amount_applied: 'number' };

const CONTACT: Shape = {
  contact_name: 'string',
  contact_number: 'string',
  contact_type: 'string',
  email: 'string',
  phone: 'string',
  tax_reg_no: 'string',
  language_code: 'string',
  billing_address: 'object',
};
const ITEM: Shape = {
  name: 'string',
  sku: 'string',
  rate: 'number',
  product_type: 'string',
  description: 'string',
  tax_id: 'string',
};
const INVOICE: Shape = {
  customer_id: 'string',
  reference_number: 'string',
  date: 'string',
  due_date: 'string',
  notes: 'string',
  line_items: [LINE],
};
const CREDIT_NOTE: Shape = {
  customer_id: 'string',
  reference_number: 'string',
  date: 'string',
  notes: 'string',
  line_items: [LINE],
};
const PAYMENT: Shape = {
  customer_id: 'string',
  payment_mode: 'string',
  amount: 'number',
  bank_charges: 'number',
  date: 'string',
  reference_number: 'string',
  description: 'string',
  account_id: 'string',
  invoices: [APPLIED],
};

/** A refund of a payment's unused amount (POST /customerpayments/{id}/refunds). */
const PAYMENT_REFUND: Shape = {
  date: 'string',
  refund_mode: 'string',
  reference_number: 'string',
  amount: 'number',
  from_account_id: 'string',
  description: 'string',
};

/** The body shape and required fields of each write, by route pattern. */
export const CONTRACT: { route: RegExp; shape: Shape; required: string[] }[] = [
  { route: /^POST \/contacts$/, shape: CONTACT, required: ['contact_name'] },
  { route: /^PUT \/contacts\/\d+$/, shape: CONTACT, required: ['contact_name'] },
  { route: /^POST \/items$/, shape: ITEM, required: ['name', 'rate'] },
  { route: /^PUT \/items\/\d+$/, shape: ITEM, required: ['name'] },
  { route: /^POST \/invoices$/, shape: INVOICE, required: ['customer_id', 'line_items'] },
  { route: /^POST \/creditnotes$/, shape: CREDIT_NOTE, required: ['customer_id', 'line_items'] },
  { route: /^POST \/creditnotes\/\d+\/invoices$/, shape: { invoices: [APPLIED] }, required: ['invoices'] },
  { route: /^POST \/customerpayments$/, shape: PAYMENT, required: ['customer_id', 'amount', 'date'] },
  { route: /^PUT \/customerpayments\/\d+$/, shape: PAYMENT, required: ['customer_id', 'amount'] },
  {
    route: /^POST \/customerpayments\/\d+\/refunds$/,
    shape: PAYMENT_REFUND,
    required: ['date', 'amount', 'from_account_id'],
  },
];

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
      else v.forEach((x, i) => check(x, want[0]!, `${at}[${i}]`, out));
    } else if (want === 'number' && !(v instanceof LosslessNumber)) out.push(`${at}: not a JSON number`);
    else if (want === 'string' && typeof v !== 'string') out.push(`${at}: not a string`);
    else if (want === 'object' && (v === null || typeof v !== 'object' || Array.isArray(v)))
      out.push(`${at}: not an object`);
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
