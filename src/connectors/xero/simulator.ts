import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalServer } from '../../sync/local-server.ts';
import { stringify } from 'lossless-json';
import PDFDocument from 'pdfkit';
import { parseJsonExact } from '../../domain/json.ts';
import { OAuthSimulator } from '../../sync/remote/oauth-simulator.ts';
import { type Admission, type LimitProblem, RateLimiter, type SimLimits, XERO_LIMITS } from './simulator-limits.ts';
import { type Json, SimTenant, type TenantSetup } from './simulator-store.ts';
import {
  bankTransactionView,
  spendView,
  documentView,
  num,
  overpaymentView,
  paymentView,
  whereFilter,
} from './simulator-views.ts';
import { seeded as rng } from '../../sync/seeded.ts';

/*
 * A local, stateful Xero (Accounting API 2.0) for tests, benchmarks and the demo: contacts, items,
 * sales invoices, payments, credit notes and their allocations, overpayments, spend money (a
 * provider's fee), tax rates, accounts and tracking categories of one or more organisations
 * (tenants), with Xero's ways: the
 * `xero-tenant-id` header required; per-tenant and per-app limits answered with 429, Retry-After
 * and X-Rate-Limit-Problem, and the X-*Limit-Remaining headers on every answer; a 200 that holds
 * per-element validation errors with `summarizeErrors=false`; an `Idempotency-Key` that replays
 * the first answer; its error body `{ErrorNumber, Type, Message, Elements}`; the invoice as PDF.
 * And what real servers do on bad days, on demand: commit a write and drop the connection, 5xx.
 * A `validate` hook checks every request body against the official contract (test/helpers).
 */

export const API_PREFIX = '/api.xro/2.0';

/** Checks a request body against the contract; returns its violations (empty when it conforms). */
export type RequestValidator = (op: {
  method: string;
  path: string;
  body: unknown;
  query?: Record<string, string> | undefined;
}) => string[];

export interface XeroSimulatorOptions {
  tenants?: TenantSetup[] | undefined;
  limits?: Partial<SimLimits> | undefined;
  seed?: number | undefined;
  /** Writes that commit and then lose their answer (the connection is dropped). */
  dropAfterCommitRate?: number | undefined;
  /** Requests answered 500 before anything is done. */
  failRate?: number | undefined;
  /** Held before being answered (after admission: it counts as in flight). */
  latencyMs?: number | undefined;
  validate?: RequestValidator | undefined;
  /**
   * Xero's identity server beside the API (src/sync/remote/oauth-simulator.ts): the token endpoint at
   * `/connect/token`, the consent page at `/identity/connect/authorize`; a bearer token is then valid
   * only when that server issued it, for a grant covering the tenant asked for. Without it, any
   * non-empty token is taken (until `control.revokeAll()`).
   */
  oauth?: { clientId: string; clientSecret: string; accessTokenSeconds?: number | undefined } | undefined;
  /** Extra routes served before the API (an OAuth server's token and authorize endpoints); true when handled. */
  mount?: ((req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>) | undefined;
  now?: (() => number) | undefined;
}

export interface XeroSimStats {
  calls: number;
  writes: number;
  rateLimited: number;
  rateLimitedBy: Record<LimitProblem, number>;
  dropped: number;
  failed: number;
  replays: number;
  unauthorised: number;
  /** Each request whose body broke the contract, with its violations. */
  specViolations: { method: string; path: string; errors: string[] }[];
  /** Method and path template (`PUT /Invoices`) → calls. */
  byRoute: Record<string, number>;
  /** Elements per write request, in order (`PUT /Invoices` → [50, 50, 12]). */
  batches: Record<string, number[]>;
  /** The query string of each write request, in the same order (`PUT /Invoices` → ["summarizeErrors=false&unitdp=4"]). */
  writeQueries: Record<string, string[]>;
}

export interface XeroSimulatorControl {
  /** Commit the next `times` writes (to `route` when given, e.g. "PUT /Invoices"), then drop the connection. */
  dropNext(times: number, route?: string): void;
  /** Answer `status` to the next `times` requests before doing anything. */
  failNext(status: number, times: number, route?: string): void;
  /** Every access token is refused from now on (a revoked connection). */
  revokeAll(): void;
}

export interface XeroSimulator {
  /** The API base URL (`http://127.0.0.1:PORT/api.xro/2.0`), what the connector's `baseUrl` takes. */
  url: string;
  origin: string;
  tenantId: string;
  /** The identity server, when `oauth` was given. */
  oauth: OAuthSimulator | null;
  tokenUrl: string;
  authorizeUrl: string;
  tenant(id?: string): SimTenant;
  control: XeroSimulatorControl;
  stats: XeroSimStats;
  /** The most calls a tenant had in flight at once. */
  maxConcurrency(tenantId?: string): number;
  /** Groups of documents sharing a key they should not share (reference, contact number): empty when none was created twice. */
  duplicates(): { kind: string; key: string; count: number }[];
  close(): Promise<void>;
}

interface Answer {
  status: number;
  body: string | Buffer;
  contentType: string;
}

const json = (status: number, value: unknown): Answer => ({
  status,
  body: stringify(value) ?? 'null',
  contentType: 'application/json; charset=utf-8',
});

/** Xero's error body. */
const xeroError = (status: number, type: string, message: string, elements?: unknown[]): Answer =>
  json(status, {
    ErrorNumber: status === 400 ? 10 : status,
    Type: type,
    Message: message,
    ...(elements ? { Elements: elements } : {}),
  });

const envelope = (key: string, items: unknown[], extra: Json = {}): Json => ({
  Id: randomUUID(),
  Status: 'OK',
  ProviderName: 'ledgerlink',
  DateTimeUTC: `/Date(${Date.now()})/`,
  ...extra,
  [key]: items,
});

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Renders an invoice as a one-page PDF (what `Accept: application/pdf` returns). */
function renderPdf(t: SimTenant, view: Json): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const doc = new PDFDocument({ size: 'A4', margin: 50, info: { CreationDate: new Date(0) } });
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    doc.fontSize(18).text(t.name);
    doc.fontSize(14).text(`Invoice ${String(view.InvoiceNumber)}`);
    doc.fontSize(11).text(`Reference ${String(view.Reference)}`);
    doc.text(`Total ${String(view.CurrencyCode)} ${stringify(view.Total) ?? ''}`);
    doc.end();
  });
}

const LIST_PAGE = 100;

/** Starts a simulated Xero on 127.0.0.1 (any free port). */
export async function startXeroSimulator(options: XeroSimulatorOptions = {}): Promise<XeroSimulator> {
  const tenants = new Map<string, SimTenant>();
  for (const setup of options.tenants ?? [{}]) {
    const t = new SimTenant(setup);
    tenants.set(t.id, t);
  }
  const first = [...tenants.values()][0]!;
  const limiter = new RateLimiter({ ...XERO_LIMITS, ...options.limits }, options.now);
  const random = rng(options.seed ?? 1);
  const revoked = { all: false };
  const drops: { times: number; route?: string | undefined }[] = [];
  const fails: { status: number; times: number; route?: string | undefined }[] = [];
  const idempotency = new Map<string, Promise<Answer>>();
  const stats: XeroSimStats = {
    calls: 0,
    writes: 0,
    rateLimited: 0,
    rateLimitedBy: { concurrent: 0, minute: 0, day: 0, appminute: 0 },
    dropped: 0,
    failed: 0,
    replays: 0,
    unauthorised: 0,
    specViolations: [],
    byRoute: {},
    batches: {},
    writeQueries: {},
  };
  const oauth = options.oauth
    ? new OAuthSimulator({
        clientId: options.oauth.clientId,
        clientSecret: options.oauth.clientSecret,
        accessTokenSeconds: options.oauth.accessTokenSeconds,
        tenants: [...tenants.values()].map((t) => ({ tenantId: t.id, tenantName: t.name })),
        paths: { authorize: '/identity/connect/authorize', token: '/connect/token', revoke: '/connect/revocation' },
      })
    : null;
  /** Whether a token may act for a tenant (null: any tenant of its grant, as GET /connections asks). */
  const validToken = (token: string, tenantId: string | null): boolean => {
    if (!oauth) return token.length > 0;
    const grant = oauth.validAccessToken(token);
    return grant !== null && (tenantId === null || grant.tenants.some((t) => t.tenantId === tenantId));
  };

  const take = <T extends { times: number; route?: string | undefined }>(list: T[], route: string): T | null => {
    const f = list.find((x) => x.times > 0 && (!x.route || x.route === route));
    if (!f) return null;
    f.times--;
    return f;
  };

  /** One API request of one tenant, admitted: its answer. */
  async function handle(
    t: SimTenant,
    method: string,
    segments: string[],
    url: URL,
    accept: string,
    body: unknown,
    route: { name: string },
  ): Promise<Answer> {
    const q = url.searchParams;
    const [resource, id = '', sub] = segments;
    const summarize = q.get('summarizeErrors') !== 'false';
    const unitdp = q.get('unitdp') === '4' ? 4 : 2;
    const set = (name: string) => (route.name = `${method} ${name}`);

    /** A write of elements: each saved or refused; with summarizeErrors (Xero's default) one refusal refuses all. */
    const write = (key: string, elements: unknown, save: (el: Json) => { view?: Json; problems: string[] }): Answer => {
      const list = Array.isArray(elements) ? (elements as Json[]) : null;
      if (!list) return xeroError(400, 'ValidationException', `The request must have a ${key} array`);
      (stats.batches[route.name] ??= []).push(list.length);
      (stats.writeQueries[route.name] ??= []).push(q.toString());
      if (summarize) {
        // Xero saves nothing of a request with a refused element; the simulator cannot undo a save,
        // so it takes batches only with summarizeErrors=false (what the connector sends).
        if (list.length > 1)
          return xeroError(400, 'ValidationException', 'The simulator takes batches only with summarizeErrors=false');
        const r = list.length === 1 ? save(list[0]!) : { problems: [] };
        if (r.problems.length > 0)
          return xeroError(400, 'ValidationException', 'A validation exception occurred', [
            { ...list[0], ValidationErrors: r.problems.map((Message) => ({ Message })) },
          ]);
        return json(200, envelope(key, 'view' in r && r.view ? [r.view] : []));
      }
      return json(
        200,
        envelope(
          key,
          list.map((el) => {
            const r = save(el);
            if (r.problems.length === 0) return { ...r.view, StatusAttributeString: 'OK' };
            return {
              ...el,
              HasErrors: true,
              StatusAttributeString: 'ERROR',
              ValidationErrors: r.problems.map((Message) => ({ Message })),
            };
          }),
        ),
      );
    };

    const list = (key: string, views: Json[], paged: boolean): Answer => {
      const filter = whereFilter(q.get('where'));
      if ('error' in filter) return xeroError(400, 'QueryParseException', filter.error);
      const ids = q.get('IDs')?.split(',').filter(Boolean);
      let out = views.filter(filter);
      if (ids) out = out.filter((v) => ids.includes(String(v[`${key.replace(/s$/, '')}ID`] ?? v.PaymentID)));
      const contacts = q.get('ContactIDs')?.toLowerCase().split(',').filter(Boolean);
      if (contacts)
        out = out.filter((v) => contacts.includes(String((v.Contact as Json | undefined)?.ContactID).toLowerCase()));
      const numbers = q.get('InvoiceNumbers')?.split(',').filter(Boolean);
      if (numbers) out = out.filter((v) => numbers.includes(String(v.InvoiceNumber)));
      const statuses = q.get('Statuses')?.split(',').filter(Boolean);
      if (statuses) out = out.filter((v) => statuses.includes(String(v.Status)));
      const page = q.get('page');
      // The spec's `page` ("up to 100 invoices … with line items shown for each invoice"): a list
      // read without it carries no line items, as Xero's does.
      if (paged && page === null) out = out.map(({ LineItems: _lines, ...head }) => head);
      if (paged && page !== null) {
        const size = Math.min(1000, Number(q.get('pageSize') ?? LIST_PAGE) || LIST_PAGE);
        const p = Math.max(1, Number(page) || 1);
        const all = out.length;
        out = out.slice((p - 1) * size, p * size);
        return json(
          200,
          envelope(key, out, {
            pagination: { page: p, pageSize: size, pageCount: Math.ceil(all / size), itemCount: all },
          }),
        );
      }
      return json(200, envelope(key, out));
    };

    const docs = (type: 'ACCREC' | 'ACCRECCREDIT') => [...t.documents.values()].filter((d) => d.Type === type);
    const refs = (body: unknown, key: string) => (body as Json | null)?.[key];

    switch (resource) {
      case 'Contacts': {
        if (method === 'GET' && !id) return (set('/Contacts'), list('Contacts', [...t.contacts.values()], true));
        if (method === 'GET') {
          set('/Contacts/{ContactID}');
          const c = t.contacts.get(id);
          return c ? json(200, envelope('Contacts', [c])) : notFound();
        }
        if (method === 'PUT' && !id) {
          set('/Contacts');
          return write('Contacts', refs(body, 'Contacts'), (el) => {
            const r = t.saveContact(el, true);
            return { view: r.saved, problems: r.problems };
          });
        }
        if (method === 'POST') {
          set(id ? '/Contacts/{ContactID}' : '/Contacts');
          return write('Contacts', refs(body, 'Contacts'), (el) => {
            const r = t.saveContact(id ? { ...el, ContactID: id } : el, false);
            return { view: r.saved, problems: r.problems };
          });
        }
        break;
      }
      case 'Items': {
        if (method === 'GET' && !id) return (set('/Items'), list('Items', [...t.items.values()], false));
        if ((method === 'PUT' || method === 'POST') && !id) {
          set('/Items');
          return write('Items', refs(body, 'Items'), (el) => {
            const r = t.saveItem(el, method === 'PUT');
            return { view: r.saved, problems: r.problems };
          });
        }
        if (method === 'POST') {
          set('/Items/{ItemID}');
          return write('Items', refs(body, 'Items'), (el) => {
            const r = t.saveItem({ ...el, ItemID: id }, false);
            return { view: r.saved, problems: r.problems };
          });
        }
        break;
      }
      case 'Invoices': {
        if (method === 'GET' && !id)
          return (
            set('/Invoices'),
            list(
              'Invoices',
              docs('ACCREC').map((d) => documentView(t, d, unitdp)),
              true,
            )
          );
        if (method === 'GET') {
          set('/Invoices/{InvoiceID}');
          const d = t.documents.get(id) ?? docs('ACCREC').find((x) => x.Number === id);
          if (!d || d.Type !== 'ACCREC') return notFound();
          const view = documentView(t, d, unitdp);
          if (accept.includes('application/pdf'))
            return { status: 200, body: await renderPdf(t, view), contentType: 'application/pdf' };
          return json(200, envelope('Invoices', [view]));
        }
        if (method === 'PUT' && !id) {
          set('/Invoices');
          return write('Invoices', refs(body, 'Invoices'), (el) => {
            const r = t.createDocument(el, 'ACCREC', unitdp);
            return { view: r.saved && documentView(t, r.saved, unitdp), problems: r.problems };
          });
        }
        break;
      }
      case 'CreditNotes': {
        if (method === 'GET' && !id)
          return (
            set('/CreditNotes'),
            list(
              'CreditNotes',
              docs('ACCRECCREDIT').map((d) => documentView(t, d, unitdp)),
              true,
            )
          );
        if (method === 'PUT' && !id) {
          set('/CreditNotes');
          return write('CreditNotes', refs(body, 'CreditNotes'), (el) => {
            const r = t.createDocument(el, 'ACCRECCREDIT', unitdp);
            return { view: r.saved && documentView(t, r.saved, unitdp), problems: r.problems };
          });
        }
        if (method === 'PUT' && sub === 'Allocations') {
          set('/CreditNotes/{CreditNoteID}/Allocations');
          const d = t.documents.get(id);
          if (!d || d.Type !== 'ACCRECCREDIT') return notFound();
          return write('Allocations', refs(body, 'Allocations'), (el) => {
            const r = t.allocate({ kind: 'CREDITNOTE', doc: d }, el);
            return { view: r.saved && { ...r.saved, Amount: num(r.saved.Amount as never) }, problems: r.problems };
          });
        }
        break;
      }
      case 'Payments': {
        if (method === 'GET' && !id)
          return (
            set('/Payments'),
            list(
              'Payments',
              [...t.payments.values()].map((p) => paymentView(t, p)),
              true,
            )
          );
        if (method === 'PUT' && !id) {
          set('/Payments');
          return write('Payments', refs(body, 'Payments'), (el) => {
            const r = t.createPayment(el);
            return { view: r.saved && paymentView(t, r.saved), problems: r.problems };
          });
        }
        break;
      }
      case 'BankTransactions': {
        if (method === 'GET' && !id)
          return (
            set('/BankTransactions'),
            list(
              'BankTransactions',
              [
                ...[...t.overpayments.values()].map((o) => bankTransactionView(t, o)),
                ...[...t.spends.values()].map((s) => spendView(t, s)),
              ],
              true,
            )
          );
        if (method === 'PUT' && !id) {
          set('/BankTransactions');
          return write('BankTransactions', refs(body, 'BankTransactions'), (el) => {
            if (el.Type === 'SPEND') {
              const s = t.createSpend(el);
              return { view: s.saved && spendView(t, s.saved), problems: s.problems };
            }
            const r = t.createBankTransaction(el);
            return { view: r.saved && bankTransactionView(t, r.saved), problems: r.problems };
          });
        }
        break;
      }
      case 'Overpayments': {
        if (method === 'GET' && !id)
          return (
            set('/Overpayments'),
            list(
              'Overpayments',
              [...t.overpayments.values()].map((o) => overpaymentView(t, o)),
              true,
            )
          );
        if (method === 'PUT' && sub === 'Allocations') {
          set('/Overpayments/{OverpaymentID}/Allocations');
          const o = t.overpayments.get(id);
          if (!o) return notFound();
          return write('Allocations', refs(body, 'Allocations'), (el) => {
            const r = t.allocate({ kind: 'OVERPAYMENT', over: o }, el);
            return { view: r.saved && { ...r.saved, Amount: num(r.saved.Amount as never) }, problems: r.problems };
          });
        }
        break;
      }
      case 'Prepayments':
        // The simulator keeps no prepayments (the connector books none); a hand-made one is not modelled.
        if (method === 'GET' && !id) return (set('/Prepayments'), list('Prepayments', [], true));
        break;
      case 'TaxRates':
        if (method === 'GET')
          return (
            set('/TaxRates'),
            list(
              'TaxRates',
              t.taxRates.map((r) => ({ ...r })),
              false,
            )
          );
        break;
      case 'Accounts':
        if (method === 'GET')
          return (
            set('/Accounts'),
            list(
              'Accounts',
              t.accounts.map((a) => ({ ...a })),
              false,
            )
          );
        break;
      case 'TrackingCategories':
        if (method === 'GET')
          return (
            set('/TrackingCategories'),
            list(
              'TrackingCategories',
              t.tracking.map((c) => ({ ...c })),
              false,
            )
          );
        break;
      case 'Organisation':
        if (method === 'GET')
          return (
            set('/Organisation'),
            json(200, envelope('Organisations', [{ OrganisationID: t.id, Name: t.name, BaseCurrency: t.baseCurrency }]))
          );
        break;
    }
    return notFound();
  }

  const notFound = (): Answer =>
    json(404, { Title: 'Resource Not Found', Detail: "The resource you're looking for cannot be found", Status: 404 });

  function send(res: ServerResponse, a: Answer, headers: Record<string, string>) {
    res.writeHead(a.status, { 'content-type': a.contentType, ...headers });
    res.end(a.body);
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    if (options.mount && (await options.mount(req, res))) return;
    if (oauth?.handle(req, res)) return;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (url.pathname === '/connections' && method === 'GET') {
      if (revoked.all || !validToken(token, null)) return unauthorised(res);
      const list = [...tenants.values()].map((t) => ({
        id: randomUUID(),
        tenantId: t.id,
        tenantType: 'ORGANISATION',
        tenantName: t.name,
        createdDateUtc: '2026-01-01T00:00:00.0000000',
        updatedDateUtc: '2026-01-01T00:00:00.0000000',
      }));
      return send(res, json(200, list), {});
    }
    if (!url.pathname.startsWith(API_PREFIX + '/')) return send(res, notFound(), {});
    stats.calls++;
    if (revoked.all || !validToken(token, null)) return unauthorised(res);
    const tenantId = req.headers['xero-tenant-id'];
    const t = typeof tenantId === 'string' ? tenants.get(tenantId) : undefined;
    if (!t || !validToken(token, t.id))
      return send(
        res,
        json(403, { Type: null, Title: 'Forbidden', Status: 403, Detail: 'AuthorizationUnsuccessful' }),
        {},
      );
    const admission: Admission = limiter.admit(t.id);
    if (!admission.ok) {
      stats.rateLimited++;
      stats.rateLimitedBy[admission.problem]++;
      return send(res, json(429, { Title: 'Too Many Requests', Status: 429, Detail: 'TooManyRequests' }), {
        ...admission.headers,
        'Retry-After': String(admission.retryAfterSeconds),
        'X-Rate-Limit-Problem': admission.problem,
      });
    }
    try {
      const text = await readBody(req);
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      const segments = url.pathname
        .slice(API_PREFIX.length + 1)
        .split('/')
        .filter(Boolean)
        .map(decodeURIComponent);
      const isWrite = method === 'PUT' || method === 'POST';
      const route = { name: `${method} /${segments[0] ?? ''}` };
      const fail =
        take(fails, `${method} /${segments[0] ?? ''}`) ??
        (options.failRate && random() < options.failRate ? { status: 500 } : null);
      if (fail) {
        stats.failed++;
        return send(
          res,
          xeroError(fail.status, 'InternalServerError', 'An error occurred in Xero. Please try again.'),
          limiter.headers(t.id),
        );
      }
      let body: unknown = null;
      if (isWrite) {
        stats.writes++;
        try {
          body = text === '' ? null : parseJsonExact(text);
        } catch {
          return send(
            res,
            xeroError(400, 'PostDataInvalidException', 'The request body is not valid JSON'),
            limiter.headers(t.id),
          );
        }
      }
      const key = req.headers['idempotency-key'];
      const work = async (): Promise<Answer> => {
        const answer = await handle(t, method, segments, url, String(req.headers.accept ?? ''), body, route);
        stats.byRoute[route.name] = (stats.byRoute[route.name] ?? 0) + 1;
        if (options.validate) {
          // Checked against the contract as sent (amounts as JSON numbers, the query string's
          // parameters by name and type): a violation fails the request loudly.
          const errors = options.validate({
            method,
            path: route.name.slice(method.length + 1),
            body: isWrite ? (text === '' ? null : JSON.parse(text)) : undefined,
            query: Object.fromEntries(url.searchParams),
          });
          if (errors.length > 0) stats.specViolations.push({ method, path: route.name, errors });
        }
        return answer;
      };
      let answer: Answer;
      if (isWrite && typeof key === 'string' && key !== '') {
        if (key.length > 128)
          return send(
            res,
            xeroError(400, 'ValidationException', 'Idempotency-Key must be 128 characters or less'),
            limiter.headers(t.id),
          );
        const k = `${t.id}\u0000${key}`;
        const earlier = idempotency.get(k);
        if (earlier) {
          stats.replays++;
          answer = await earlier;
        } else {
          const p = work();
          idempotency.set(k, p);
          answer = await p;
          if (answer.status >= 500) idempotency.delete(k);
        }
      } else answer = await work();
      if (isWrite && answer.status < 300) {
        const drop =
          take(drops, route.name) ??
          (options.dropAfterCommitRate && random() < options.dropAfterCommitRate ? {} : null);
        if (drop) {
          // Committed, and the answer never arrives.
          stats.dropped++;
          res.socket?.destroy();
          return;
        }
      }
      send(res, answer, limiter.headers(t.id));
    } finally {
      admission.release();
    }
  }

  function unauthorised(res: ServerResponse) {
    stats.unauthorised++;
    send(res, json(401, { Type: null, Title: 'Unauthorized', Status: 401, Detail: 'AuthenticationUnsuccessful' }), {
      'WWW-Authenticate': 'Bearer',
    });
  }

  const server = await startLocalServer((req, res) => {
    serve(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, xeroError(500, 'InternalServerError', String(err)), {});
    });
  });
  const origin = server.origin;

  return {
    url: origin + API_PREFIX,
    origin,
    oauth,
    tokenUrl: `${origin}/connect/token`,
    authorizeUrl: `${origin}/identity/connect/authorize`,
    tenantId: first.id,
    tenant: (id) => (id ? tenants.get(id)! : first),
    control: {
      dropNext: (times, route) => drops.push({ times, route }),
      failNext: (status, times, route) => fails.push({ status, times, route }),
      revokeAll: () => {
        revoked.all = true;
      },
    },
    stats,
    maxConcurrency: (id) => limiter.maxConcurrency(id ?? first.id),
    duplicates() {
      const out: { kind: string; key: string; count: number }[] = [];
      for (const t of tenants.values()) {
        const count = (kind: string, keys: string[]) => {
          const seen = new Map<string, number>();
          for (const k of keys) if (k !== '') seen.set(k, (seen.get(k) ?? 0) + 1);
          for (const [key, n] of seen) if (n > 1) out.push({ kind, key, count: n });
        };
        // Xero holds Reference as free text ("additional reference number"; its own example lists
        // two invoices under one) and a reference is unique per customer: two customers' documents,
        // payments and fees may share one. Held twice for one contact is ours written twice.
        const of = (contact: string, reference: string) => (reference === '' ? '' : `${contact}:${reference}`);
        const docs = [...t.documents.values()].filter((d) => d.Status !== 'DELETED' && d.Status !== 'VOIDED');
        count(
          'invoice',
          docs.filter((d) => d.Type === 'ACCREC').map((d) => of(d.ContactID, d.Reference)),
        );
        count(
          'creditnote',
          docs.filter((d) => d.Type === 'ACCRECCREDIT').map((d) => of(d.ContactID, d.Reference)),
        );
        const contactOf = (p: { documentType: string; documentId: string }) =>
          (p.documentType === 'OVERPAYMENT'
            ? t.overpayments.get(p.documentId)?.ContactID
            : t.documents.get(p.documentId)?.ContactID) ?? '';
        count(
          'payment',
          [...t.payments.values()].map((p) => `${p.documentType}:${contactOf(p)}:${p.Reference}`),
        );
        count(
          'overpayment',
          [...t.overpayments.values()].map((o) => of(o.ContactID, o.Reference)),
        );
        count(
          'spend',
          [...t.spends.values()]
            .filter((s) => s.Status === 'AUTHORISED')
            .map((s) => `${s.Reference} ${s.Lines.map((l) => l.Description).join(' ')}`),
        );
        count(
          'contact',
          [...t.contacts.values()].map((c) => (typeof c.ContactNumber === 'string' ? c.ContactNumber : '')),
        );
        count(
          'item',
          [...t.items.values()].map((i) => i.Code),
        );
      }
      return out;
    },
    close: () => server.close(),
  };
}
