import type { SimInstalment } from './simulator-data.ts';

/*
 * The misbehaviours of the iXpole simulator: which request a rule applies to, when it fires, and
 * how a malformed instalment is spoiled.
 */

/** Which requests a fault, delay or dropped response applies to. */
export type IxpoleRoute = 'instalments' | 'customer' | 'product' | 'put' | 'patch' | 'any';

/** How a malformed instalment is spoiled when it is listed. */
export type IxpoleDefect = 'amount' | 'date' | 'currency' | 'vat-rate' | 'no-code' | 'not-an-object';

/** A misbehaviour that fires on `times` matching requests, once `after` of them have gone by. */
export interface Rule {
  route: IxpoleRoute;
  after: number;
  times: number;
}

/** The instalment as listed with this defect. */
export function spoil(item: SimInstalment, defect: IxpoleDefect): unknown {
  switch (defect) {
    case 'amount':
      return { ...item, NetAmount: item.NetAmount.replace('.', ',') };
    case 'date':
      return { ...item, InvoiceDate: item.InvoiceDate.split('-').reverse().join('/') };
    case 'currency':
      return { ...item, Currency: 'EURO' };
    case 'vat-rate':
      return { ...item, VatRate: '21' };
    case 'no-code': {
      const { InstalmentCode: _drop, ...rest } = item;
      return rest;
    }
    case 'not-an-object':
      return `${item.InstalmentCode};${item.NetAmount}`;
  }
}

/** The route of a request, with the id in its path; null for a path iXpole does not have. */
export function routeOf(method: string, path: string): { route: IxpoleRoute; id?: string } | null {
  if (method === 'GET' && path === '/api/instalments') return { route: 'instalments' };
  if (method === 'PUT' && path === '/api/instalments') return { route: 'put' };
  let m = /^\/api\/customer\/([^/]+)$/.exec(path);
  if (method === 'GET' && m) return { route: 'customer', id: decodeURIComponent(m[1]!) };
  m = /^\/api\/products\/([^/]+)$/.exec(path);
  if (method === 'GET' && m) return { route: 'product', id: decodeURIComponent(m[1]!) };
  m = /^\/api\/customers\/([^/]+)$/.exec(path);
  if (method === 'PATCH' && m) return { route: 'patch', id: decodeURIComponent(m[1]!) };
  return null;
}

/**
 * Every rule matching this request counts it against its `after`; the first rule already past
 * its `after` fires (one use taken) and is returned.
 */
export function take<T extends Rule>(rules: T[], route: IxpoleRoute): T | null {
  let fired: T | null = null;
  for (const rule of [...rules]) {
    if (rule.route !== 'any' && rule.route !== route) continue;
    if (rule.after > 0) {
      rule.after--;
      continue;
    }
    if (fired) continue;
    fired = rule;
    rule.times--;
    if (rule.times <= 0) rules.splice(rules.indexOf(rule), 1);
  }
  return fired;
}
