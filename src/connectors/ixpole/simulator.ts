import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalServer } from '../../sync/local-server.ts';
import { z } from 'zod';
import {
  OpenSet,
  type SimCustomer,
  type SimInstalment,
  type SimProduct,
  generateCustomers,
  generateInstalment,
  generateProducts,
  instalmentIndex,
} from './simulator-data.ts';
import { type IxpoleDefect, type IxpoleRoute, type Rule, routeOf, spoil, take } from './simulator-faults.ts';

export type { IxpoleDefect, IxpoleRoute } from './simulator-faults.ts';

/*
 * A local iXpole: the API ledgerlink's iXpole source talks to, with generated data and the ways
 * real servers misbehave, switchable at run time. Used by the tests, the benchmark and the demo.
 */

export interface IxpoleSimulatorOptions {
  customers?: number;
  products?: number;
  instalments?: number;
  seed?: number;
  /** The bearer key the server accepts (a random one when not given). */
  apiKey?: string;
  host?: string;
  port?: number;
  /** Items per page unless the request asks for another size (?pageSize=, at most 1000). */
  pageSize?: number;
  /** VAT rates the products cycle through; the default suits an entity with a 21% and a 0% tax code. */
  vatRates?: string[];
  currency?: string;
  firstInvoiceDate?: string;
  /** Keep the Pdf of every write (default); false keeps only its length, for big runs. */
  recordPdf?: boolean;
}

export interface IxpoleWrite {
  seq: number;
  method: 'PUT' | 'PATCH';
  path: string;
  body: unknown;
}

export interface InstalmentState {
  listed: boolean;
  invoiceNumber: string | null;
  dueDate: string | null;
  pdfLength: number | null;
  paymentNo: string | null;
}

export interface IxpoleSimulatorControl {
  /** Answer `status` to the next `times` matching requests (after letting `after` through), with Retry-After when given. */
  fail(f: {
    status: number;
    times: number;
    after?: number;
    route?: IxpoleRoute;
    retryAfter?: number | Date | string;
  }): void;
  /** Hold the next `times` matching answers for `ms` (default: every one, until reset). */
  delay(d: { ms: number; times?: number; after?: number; route?: IxpoleRoute }): void;
  /** Carry out the next `times` matching requests, then drop the connection without an answer. */
  dropResponses(d: { times: number; after?: number; route?: IxpoleRoute }): void;
  /** List the last instalment invoiced again at the top of every page, as a lagging replica would. */
  repeatInvoiced(on: boolean): void;
  /** Customers and products (by id) that answer 404. */
  readonly missingCustomers: Set<string>;
  readonly missingProducts: Set<string>;
  /** Spoil (or, with null, mend) an instalment as it is listed. */
  malform(code: string, defect: IxpoleDefect | null): void;
  /** Back to a well-behaved server (data and writes are kept). */
  reset(): void;
  /** Requests received per route ("any": all of them), faults served, repeated items listed, answers dropped. */
  readonly stats: { requests: Record<IxpoleRoute, number>; faults: number; repeats: number; dropped: number };
}

export interface IxpoleSimulator {
  /** The base URL, ending in "/" (ledgerlink appends "api/…"). */
  url: string;
  apiKey: string;
  close(): Promise<void>;
  /** Every PUT and PATCH received and accepted, in order. */
  writes: IxpoleWrite[];
  control: IxpoleSimulatorControl;
  /** How many instalments exist, and how many are still listed. */
  readonly total: number;
  listed(): number;
  /** An instalment as generated (before any defect), by index from 0. */
  instalmentAt(index: number): SimInstalment;
  state(code: string): InstalmentState | null;
  customer(id: number | string): SimCustomer | null;
  product(id: number | string): SimProduct | null;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** One element of PUT api/instalments: an invoice (number, due date, PDF), a payment, or both. */
const InstalmentUpdate = z.object({
  InstalmentCode: z.string(),
  InvoiceNumber: z.string().trim().min(1, 'must not be empty').nullish(),
  InvoiceDueDate: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
    .nullish(),
  Pdf: z
    .string()
    .refine((v) => v.length % 4 === 0 && BASE64.test(v), 'must be base64')
    .nullish(),
  PaymentNo: z.string().trim().min(1, 'must not be empty').nullish(),
});
const MAX_BODY = 64 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts a local iXpole-compatible server on 127.0.0.1 (port 0: any free port). */
export async function startIxpoleSimulator(options: IxpoleSimulatorOptions = {}): Promise<IxpoleSimulator> {
  const seed = options.seed ?? 1;
  const customers = generateCustomers(seed, Math.max(1, options.customers ?? 25));
  const products = generateProducts(
    seed,
    Math.max(1, options.products ?? 6),
    options.vatRates ?? ['0.21', '0.21', '0'],
  );
  const total = Math.max(0, options.instalments ?? 120);
  const pageSizeDefault = options.pageSize ?? 100;
  const firstDate = options.firstInvoiceDate ?? '2026-01-05';
  const currency = options.currency ?? 'EUR';
  const recordPdf = options.recordPdf ?? true;
  const apiKey = options.apiKey ?? `ixsim_${randomBytes(12).toString('hex')}`;

  const open = new OpenSet(total);
  // Only what has been written back is stored, by instalment index.
  const invoiced = new Map<number, { number: string; dueDate: string | null; pdfLength: number | null }>();
  const paid = new Map<number, string>();
  const codes = new Map<string, string>();
  const writes: IxpoleWrite[] = [];
  let lastInvoiced: number | null = null;

  const failures: (Rule & { status: number; retryAfter?: number | Date | string | undefined })[] = [];
  const delays: (Rule & { ms: number })[] = [];
  const drops: Rule[] = [];
  let repeat = false;
  const defects = new Map<string, IxpoleDefect>();
  const stats = {
    requests: { instalments: 0, customer: 0, product: 0, put: 0, patch: 0, any: 0 },
    faults: 0,
    repeats: 0,
    dropped: 0,
  };

  const at = (i: number) => generateInstalment(seed, i, customers.length, products, firstDate, currency);
  const listedAs = (i: number): unknown => {
    const item = at(i);
    const defect = defects.get(item.InstalmentCode);
    return defect ? spoil(item, defect) : item;
  };
  const findCustomer = (id: string) => (/^\d+$/.test(id) ? (customers[Number(id) - 1] ?? null) : null);
  const findProduct = (id: string) => (/^\d+$/.test(id) ? (products[Number(id) - 1] ?? null) : null);

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };
  // ASP.NET Web API's error shape, which iXpole answers with.
  const message = (res: ServerResponse, status: number, text: string) => send(res, status, { Message: text });

  function listPage(url: URL, res: ServerResponse): void {
    const pageText = url.searchParams.get('page') ?? '1';
    const sizeText = url.searchParams.get('pageSize');
    if (!/^[1-9]\d{0,8}$/.test(pageText)) return message(res, 400, `The value '${pageText}' is not valid for page.`);
    if (sizeText !== null && !/^[1-9]\d{0,3}$/.test(sizeText))
      return message(res, 400, `The value '${sizeText}' is not valid for pageSize.`);
    const page = Number(pageText);
    const size = Math.min(1000, sizeText ? Number(sizeText) : pageSizeDefault);
    const items: unknown[] = [];
    if (repeat && lastInvoiced !== null) {
      items.push(at(lastInvoiced));
      stats.repeats++;
    }
    const from = (page - 1) * size;
    for (let k = from; k < from + size; k++) {
      const i = open.nth(k);
      if (i < 0) break;
      items.push(listedAs(i));
    }
    send(res, 200, { items, nextPage: open.size > from + size ? page + 1 : null });
  }

  function putInstalments(body: unknown, res: ServerResponse): void {
    if (!Array.isArray(body) || body.length === 0) {
      return message(res, 400, 'The request body must be a non-empty array of instalment updates.');
    }
    const updates: (z.output<typeof InstalmentUpdate> & { index: number })[] = [];
    for (const [n, raw] of body.entries()) {
      const r = InstalmentUpdate.safeParse(raw);
      if (!r.success) {
        const issue = r.error.issues[0]!;
        return message(res, 400, `Item ${n}: ${issue.path.join('.') || 'item'}: ${issue.message}`);
      }
      const u = r.data;
      const index = instalmentIndex(u.InstalmentCode, total);
      if (index === null) return message(res, 400, `Item ${n}: unknown InstalmentCode ${u.InstalmentCode}`);
      if (!u.InvoiceNumber && !u.PaymentNo) {
        return message(res, 400, `Item ${n}: nothing to update: give InvoiceNumber or PaymentNo`);
      }
      if (u.PaymentNo && !u.InvoiceNumber && !invoiced.has(index)) {
        return message(res, 400, `Item ${n}: instalment ${u.InstalmentCode} has not been invoiced`);
      }
      updates.push({ ...u, index });
    }
    // All or nothing, as one database transaction on the real server would be.
    for (const u of updates) {
      if (u.InvoiceNumber) {
        // "D" + number marks a draft (pending): it leaves the list all the same.
        invoiced.set(u.index, {
          number: u.InvoiceNumber,
          dueDate: u.InvoiceDueDate ?? null,
          pdfLength: u.Pdf ? Buffer.byteLength(u.Pdf, 'base64') : null,
        });
        open.close(u.index);
        lastInvoiced = u.index;
      }
      if (u.PaymentNo) paid.set(u.index, u.PaymentNo);
    }
    const recorded = recordPdf
      ? body
      : (body as Record<string, unknown>[]).map((u) =>
          typeof u.Pdf === 'string' ? { ...u, Pdf: `<${u.Pdf.length} base64 characters>` } : u,
        );
    writes.push({ seq: writes.length + 1, method: 'PUT', path: '/api/instalments', body: recorded });
    send(res, 200, { Updated: updates.length });
  }

  function patchCustomer(id: string, body: unknown, path: string, res: ServerResponse): void {
    const customer = findCustomer(id);
    if (!customer || control.missingCustomers.has(id)) return message(res, 404, `Customer ${id} not found.`);
    const code = (body as { CustomerCode?: unknown } | null)?.CustomerCode;
    if (typeof code !== 'string' || code.trim() === '' || code.length > 50) {
      return message(res, 400, 'CustomerCode must be a string of 1 to 50 characters.');
    }
    codes.set(id, code);
    writes.push({ seq: writes.length + 1, method: 'PATCH', path, body });
    send(res, 200, { ...customer, CustomerCode: code });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const found = routeOf(req.method ?? 'GET', url.pathname);
    const route = found?.route ?? 'any';
    if (route !== 'any') stats.requests[route]++;
    stats.requests.any++;
    const body = req.method === 'PUT' || req.method === 'PATCH' ? await readBody(req) : '';

    const delay = take(delays, route);
    if (delay) await new Promise((r) => setTimeout(r, delay.ms));
    if (res.destroyed) return;
    const fault = take(failures, route);
    if (fault) {
      stats.faults++;
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined) {
        headers['retry-after'] =
          fault.retryAfter instanceof Date ? fault.retryAfter.toUTCString() : String(fault.retryAfter);
      }
      return send(
        res,
        fault.status,
        { Message: fault.status === 429 ? 'Too many requests.' : 'The service is temporarily unavailable.' },
        headers,
      );
    }
    if (req.headers.authorization !== `Bearer ${apiKey}`)
      return message(res, 401, 'Authorization has been denied for this request.');
    if (!found) return message(res, 404, `No HTTP resource was found that matches the request URI '${url.pathname}'.`);

    let parsed: unknown = null;
    if (body !== '') {
      try {
        parsed = JSON.parse(body) as unknown;
      } catch {
        return message(res, 400, 'The request body is not valid JSON.');
      }
    }
    switch (found.route) {
      case 'instalments':
        listPage(url, res);
        break;
      case 'customer': {
        const c = findCustomer(found.id!);
        if (!c || control.missingCustomers.has(found.id!)) return message(res, 404, `Customer ${found.id} not found.`);
        send(res, 200, { ...c, CustomerCode: codes.get(found.id!) ?? c.CustomerCode });
        break;
      }
      case 'product': {
        const p = findProduct(found.id!);
        if (!p || control.missingProducts.has(found.id!)) return message(res, 404, `Product ${found.id} not found.`);
        const { priceCents: _price, ...shown } = p;
        send(res, 200, shown);
        break;
      }
      case 'put':
        putInstalments(parsed, res);
        break;
      case 'patch':
        patchCustomer(found.id!, parsed, url.pathname, res);
        break;
      default:
        break;
    }
  }

  const server = await startLocalServer((req, res) => {
    // A dropped response: the request is carried out, the answer never arrives.
    const route = routeOf(req.method ?? 'GET', new URL(req.url ?? '/', 'http://simulator').pathname)?.route ?? 'any';
    const drop = take(drops, route);
    if (drop) {
      stats.dropped++;
      res.end = (() => {
        req.socket.destroy();
        return res;
      }) as typeof res.end;
    }
    handle(req, res).catch(() => {
      if (!res.headersSent && !res.destroyed) message(res, 500, 'An error has occurred.');
    });
  }, options);
  server.server.keepAliveTimeout = 5_000;

  const control: IxpoleSimulatorControl = {
    fail: (f) =>
      failures.push({
        route: f.route ?? 'any',
        after: f.after ?? 0,
        times: f.times,
        status: f.status,
        retryAfter: f.retryAfter,
      }),
    delay: (d) =>
      delays.push({
        route: d.route ?? 'any',
        after: d.after ?? 0,
        times: d.times ?? Number.POSITIVE_INFINITY,
        ms: d.ms,
      }),
    dropResponses: (d) => drops.push({ route: d.route ?? 'any', after: d.after ?? 0, times: d.times }),
    repeatInvoiced: (on) => {
      repeat = on;
    },
    missingCustomers: new Set<string>(),
    missingProducts: new Set<string>(),
    malform: (code, defect) => {
      if (defect) defects.set(code, defect);
      else defects.delete(code);
    },
    reset: () => {
      failures.length = 0;
      delays.length = 0;
      drops.length = 0;
      repeat = false;
      defects.clear();
      control.missingCustomers.clear();
      control.missingProducts.clear();
    },
    stats,
  };

  return {
    url: `${server.origin}/`,
    apiKey,
    writes,
    control,
    total,
    listed: () => open.size,
    instalmentAt: (i) => at(i),
    state: (code) => {
      const i = instalmentIndex(code, total);
      if (i === null) return null;
      const inv = invoiced.get(i);
      return {
        listed: open.isOpen(i),
        invoiceNumber: inv?.number ?? null,
        dueDate: inv?.dueDate ?? null,
        pdfLength: inv?.pdfLength ?? null,
        paymentNo: paid.get(i) ?? null,
      };
    },
    customer: (id) => {
      const c = findCustomer(String(id));
      return c ? { ...c, CustomerCode: codes.get(String(id)) ?? c.CustomerCode } : null;
    },
    product: (id) => findProduct(String(id)),
    close: () => server.close(),
  };
}
