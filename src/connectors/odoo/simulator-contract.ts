import { LosslessNumber } from 'lossless-json';

/*
 * What the simulated Odoo checks of every call, since Odoo publishes no machine-readable contract
 * (its contract is the model source in odoo/odoo, LGPL-3.0, and `fields_get` at runtime;
 * platform-contracts.md §7): the methods this target may call on each model, and the fields each
 * model has in 16.0, 17.0 and 18.0, as read from addons/account/models/account_move.py,
 * account_move_line.py, account_payment.py, account_partial_reconcile.py,
 * addons/account/wizard/account_payment_register.py, odoo/addons/base/models/res_partner.py and
 * addons/product/models/product_product.py of each branch (only the fields this target touches
 * are listed: a field outside the list is one the target has no business sending). A call
 * breaking it is recorded as a violation (tests assert none) and answered as Odoo answers an
 * unknown field: `builtins.ValueError` "Invalid field …".
 */

export type Version = '16' | '17' | '18';
type Kind = 'char' | 'int' | 'm2o' | 'float' | 'date' | 'selection' | 'bool' | 'commands' | 'html' | 'writeoffs';

const common: Record<string, Record<string, Kind>> = {
  'res.partner': {
    id: 'int',
    name: 'char',
    ref: 'char',
    email: 'char',
    phone: 'char',
    vat: 'char',
    street: 'char',
    city: 'char',
    zip: 'char',
    country_id: 'm2o',
    customer_rank: 'int',
    company_id: 'm2o',
  },
  'product.product': {
    id: 'int',
    name: 'char',
    default_code: 'char',
    type: 'selection',
    sale_ok: 'bool',
    company_id: 'm2o',
  },
  'res.country': { id: 'int', code: 'char' },
  'res.users': { id: 'int', company_id: 'm2o' },
  'res.company': { id: 'int', name: 'char', currency_id: 'm2o' },
  'account.tax': {
    id: 'int',
    name: 'char',
    amount: 'float',
    type_tax_use: 'selection',
    amount_type: 'selection',
    company_id: 'm2o',
  },
  'account.move': {
    id: 'int',
    name: 'char',
    ref: 'char',
    state: 'selection',
    move_type: 'selection',
    partner_id: 'm2o',
    invoice_date: 'date',
    invoice_date_due: 'date',
    narration: 'html',
    journal_id: 'm2o',
    currency_id: 'm2o',
    reversed_entry_id: 'm2o',
    invoice_line_ids: 'commands',
    amount_total: 'float',
    amount_residual: 'float',
    payment_state: 'selection',
  },
  'account.move.line': {
    id: 'int',
    move_id: 'm2o',
    payment_id: 'm2o',
    account_id: 'm2o',
    account_type: 'selection',
    name: 'char',
    partner_id: 'm2o',
    balance: 'float',
    amount_residual: 'float',
    reconciled: 'bool',
    // Open balances (balances.ts): the entry's accounting date and state (related, stored), the
    // item's currency and its amount in it.
    date: 'date',
    parent_state: 'selection',
    currency_id: 'm2o',
    amount_currency: 'float',
  },
  // The fees account (fees.ts). `account_type` is 16.0's (it replaced `user_type_id`); `deprecated`
  // was not re-read in the 18.0 source (unverified there).
  'account.account': { id: 'int', name: 'char', code: 'char', account_type: 'selection', deprecated: 'bool' },
  'account.partial.reconcile': { id: 'int', debit_move_id: 'm2o', credit_move_id: 'm2o', amount: 'float' },
  'account.payment': {
    id: 'int',
    name: 'char',
    state: 'selection',
    // The journal entry: the move itself on 16 and 17 (`_inherits`), a Many2one of its own on 18.
    move_id: 'm2o',
    payment_type: 'selection',
    partner_type: 'selection',
    partner_id: 'm2o',
    amount: 'float',
    date: 'date',
    journal_id: 'm2o',
    currency_id: 'm2o',
    // Not a field: the write-off lines create pops from its values and adds to the payment's entry.
    write_off_line_vals: 'writeoffs',
  },
  'account.payment.register': {
    id: 'int',
    amount: 'float',
    payment_date: 'date',
    communication: 'char',
    journal_id: 'm2o',
    payment_difference_handling: 'selection',
  },
};

/** Where the versions differ: 18.0 renamed account.payment's `ref` to `memo`. */
const byVersion: Record<Version, Record<string, Record<string, Kind>>> = {
  '16': { 'account.payment': { ref: 'char' } },
  '17': { 'account.payment': { ref: 'char' } },
  '18': { 'account.payment': { memo: 'char' } },
};

/** The keys of a write-off line (`write_off_line_vals`, 16–18): line values, amounts in both columns. */
const WRITE_OFF: Record<string, Kind> = {
  name: 'char',
  account_id: 'm2o',
  partner_id: 'm2o',
  currency_id: 'm2o',
  amount_currency: 'float',
  balance: 'float',
};
const WRITE_OFF_REQUIRED = ['account_id', 'amount_currency', 'balance'];

/** The fields of the invoice line a `(0, 0, {…})` command may carry. */
const LINE: Record<string, Kind> = {
  product_id: 'm2o',
  name: 'char',
  quantity: 'float',
  price_unit: 'float',
  tax_ids: 'commands',
};

/**
 * The methods this target calls, per model. `account.move.js_remove_outstanding_partial` (the
 * "Unreconcile" of an invoice's payment widget, refund-reconcile.ts) was read in odoo/odoo
 * addons/account/models/account_move.py at 00059361d5cdeddf8a23c239b974986d16a640d9 (18.0 era),
 * and in 16.0- and 17.0-era modules that override it with the same signature and call it.
 */
export const METHODS: Record<string, string[]> = {
  'res.partner': ['search_read', 'create', 'write'],
  'product.product': ['search_read', 'create', 'write'],
  'res.country': ['search_read'],
  'res.users': ['search_read'],
  'res.company': ['search_read'],
  'account.tax': ['search_read'],
  'account.move': [
    'search_read',
    'read',
    'create',
    'action_post',
    'unlink',
    'js_assign_outstanding_line',
    'js_remove_outstanding_partial',
  ],
  'account.move.line': ['search_read', 'read_group'],
  'account.account': ['search_read'],
  'account.partial.reconcile': ['search_read'],
  'account.payment': ['search_read', 'read', 'create', 'action_post', 'unlink'],
  'account.payment.register': ['create', 'action_create_payments'],
};

/** The fields of a model in a version; null for a model this target has no business with. */
export function fieldsOf(model: string, version: Version): Record<string, Kind> | null {
  const base = common[model];
  return base ? { ...base, ...byVersion[version][model] } : null;
}

function checkValue(kind: Kind, v: unknown, at: string, out: string[]): void {
  if (v === false && kind !== 'bool' && kind !== 'commands') return; // Odoo's empty
  const isNum = v instanceof LosslessNumber || typeof v === 'number';
  if (kind === 'float' && !isNum) out.push(`${at}: not a JSON number`);
  if ((kind === 'int' || kind === 'm2o') && !(isNum && /^\d+$/.test(String(v instanceof LosslessNumber ? v.value : v))))
    out.push(`${at}: not an id`);
  if ((kind === 'char' || kind === 'selection' || kind === 'html') && typeof v !== 'string')
    out.push(`${at}: not a string`);
  if (kind === 'date' && !(typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v)))
    out.push(`${at}: not a date (YYYY-MM-DD)`);
  if (kind === 'bool' && typeof v !== 'boolean') out.push(`${at}: not a boolean`);
  if (kind === 'commands' && !Array.isArray(v)) out.push(`${at}: not a list of commands`);
  if (kind === 'writeoffs') {
    if (!Array.isArray(v)) {
      out.push(`${at}: not a list of line values (16.0 and later)`);
      return;
    }
    v.forEach((w, i) => {
      const line = (w ?? {}) as Record<string, unknown>;
      for (const [k, lv] of Object.entries(line)) {
        const lk = WRITE_OFF[k];
        if (!lk) out.push(`${at}[${i}].${k}: Invalid field`);
        else checkValue(lk, lv, `${at}[${i}].${k}`, out);
      }
      for (const k of WRITE_OFF_REQUIRED) if (!(k in line)) out.push(`${at}[${i}].${k}: required`);
    });
  }
}

/** What is wrong with the values of a `create` or `write` on a model; empty when they are right. */
export function valueViolations(model: string, version: Version, values: unknown): string[] {
  const fields = fieldsOf(model, version);
  if (!fields) return [`${model}: not a model this target uses`];
  if (values === null || typeof values !== 'object' || Array.isArray(values)) return ['values: not an object'];
  const out: string[] = [];
  for (const [k, v] of Object.entries(values as Record<string, unknown>)) {
    const kind = fields[k];
    if (kind === undefined || k === 'id') {
      out.push(`${model}.${k}: Invalid field`);
      continue;
    }
    checkValue(kind, v, `${model}.${k}`, out);
    if (model === 'account.move' && k === 'invoice_line_ids' && Array.isArray(v))
      v.forEach((cmd, i) => {
        if (!Array.isArray(cmd) || cmd[0] !== 0 || cmd[1] !== 0) {
          out.push(`invoice_line_ids[${i}]: not a (0, 0, values) command`);
          return;
        }
        const line = cmd[2] as Record<string, unknown>;
        for (const [lk, lv] of Object.entries(line ?? {})) {
          const lkind = LINE[lk];
          if (!lkind) out.push(`account.move.line.${lk}: Invalid field`);
          else checkValue(lkind, lv, `invoice_line_ids[${i}].${lk}`, out);
        }
        const taxes = line?.tax_ids as unknown[] | undefined;
        if (
          taxes !== undefined &&
          !(Array.isArray(taxes) && taxes.every((t) => Array.isArray(t) && t[0] === 6 && t[1] === 0))
        )
          out.push(`invoice_line_ids[${i}].tax_ids: not (6, 0, ids)`);
      });
  }
  return out;
}

/** Unknown fields among those named (a `fields` list, a domain's leaves). */
export function unknownFields(model: string, version: Version, names: string[]): string[] {
  const fields = fieldsOf(model, version);
  if (!fields) return [`${model}: not a model this target uses`];
  return names.filter((n) => fields[n] === undefined).map((n) => `${model}.${n}: Invalid field`);
}
