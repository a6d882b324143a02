import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalServer } from '../../sync/local-server.ts';
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { Books, type Json, type StoreOptions, type WriteAnswer, text } from './simulator-store.ts';
import { seeded as mulberry32 } from '../../sync/seeded.ts';
import { parseFilter } from './simulator-filter.ts';

/*
 * A local Acumatica instance for tests, following the contract-based REST API as documented
 * (docs/connectors/acumatica.md, "Sources"): cookie sessions from POST /entity/auth/login that
 * expire after an idle time and count against the licence's API users until signed out; OAuth 2.0
 * tokens from /identity/connect/token (password and client-credentials grants, client ids with an
 * @Tenant suffix); the Default endpoint's Customer, NonStockItem, StockItem, Invoice and Payment
 * (its Charges too: bank fees on an entry type) with PUT, GET (by key fields, or a list with
 * $filter, as simulator-filter.ts parses it, $expand, $select, $skip and $top), Account (the
 * chart) with GET, and the ReleaseInvoice and ReleasePayment actions (202 with a Location polled
 * until 204). A payment or refund voided on AR302000 is `Books.voidPayment`. Refusals come in the
 * platform's formats: HttpError on 400/401/404/412/429/500, the record with per-field `error`s on
 * 422. The licence's per-minute and concurrent request limits answer 429. Misbehaviour on demand:
 * commit then drop the connection (`dropNext`, seeded `dropAfterCommitRate`), fail before
 * committing (`failNext`). Every request is checked against the official contract when `validate`
 * is given.
 */

export const BASE = '/entity/Default/24.200.001';

export type Validator = (op: {
  method: string;
  path: string;
  body: unknown;
  query?: Record<string, string>;
}) => string[];

export interface AcumaticaSimulatorOptions extends Partial<StoreOptions> {
  users?: { name: string; password: string }[];
  tenant?: string;
  clients?: { clientId: string; clientSecret: string }[];
  /** Licence: API users signed in at once (a trial licence allows 2). */
  maxApiUsers?: number;
  requestsPerMinute?: number;
  concurrentRequests?: number;
  /** How long the licence's "minute" lasts (tests and the bench scale it); 60,000 ms. */
  minuteMs?: number;
  /** A session not used for this long is gone (Acumatica: about 20 minutes). */
  sessionIdleMs?: number;
  tokenSeconds?: number;
  /** How many status polls of an action answer 202 before 204. */
  actionPolls?: number;
  seed?: number;
  dropAfterCommitRate?: number;
  validate?: Validator | undefined;
}

interface Session {
  user: string;
  lastSeen: number;
}

type Predicate = (method: string, path: string, body: string) => boolean;

export interface AcumaticaSimulator {
  url: string;
  books: Books;
  violations: string[];
  /** `counted`: requests counted against the licence's minute (answered, not throttled). */
  stats: {
    requests: number;
    counted: number;
    logins: number;
    logouts: number;
    dropped: number;
    throttled: number;
    expired: number;
  };
  sessionsOpen(): number;
  /** Ends every session now, as the idle timeout would. */
  expireSessions(): void;
  /** Ends every session once the next request under the endpoint has been answered. */
  expireSessionsAfterNext(): void;
  dropNext(n?: number, when?: Predicate): void;
  failNext(status: number, o?: { retryAfter?: number; times?: number }): void;
  /** The next request under the endpoint answers 200 with a body that is not the API's (a proxy's page). */
  garbleNext(): void;
  duplicates(): string[];
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(body === undefined ? '' : stringifyLossless(body));
};
const httpError = (message: string, exceptionMessage?: string, modelState?: Record<string, string[]>) => ({
  message,
  ...(exceptionMessage ? { exceptionMessage, exceptionType: 'PX.Data.PXException' } : {}),
  ...(modelState ? { modelState } : {}),
});

/**
 * A record with only the fields `$select` names (top-level ones; the record's `id` always), and
 * the detail and linked entities `$expand` asked for; the whole record without `$select`.
 */
function selected(row: Json, select: string | null, expand: string[]): Json {
  if (!select) return row;
  const keep = new Set([...select.split(',').map((f) => f.trim()), ...expand, 'id']);
  return Object.fromEntries(Object.entries(row).filter(([k]) => keep.has(k)));
}

/** IIS's default `maxQueryString` (request filtering): the longest query string an instance takes. */
export const MAX_QUERY_STRING = 2048;

export async function startAcumaticaSimulator(o: AcumaticaSimulatorOptions = {}): Promise<AcumaticaSimulator> {
  const books = new Books({
    currency: o.currency ?? 'USD',
    taxCategories: o.taxCategories ?? {},
    cashAccounts: o.cashAccounts,
    closedBefore: o.closedBefore,
    entryTypes: o.entryTypes,
    accounts: o.accounts,
  });
  const users = o.users ?? [{ name: 'admin', password: 'setup' }];
  const tenant = o.tenant ?? 'Company';
  const sessions = new Map<string, Session>();
  const tokens = new Map<string, number>();
  const operations = new Map<string, number>();
  const minute: number[] = [];
  let inFlight = 0;
  const random = mulberry32(o.seed ?? 1);
  const drops: { left: number; when: Predicate | undefined }[] = [];
  const fails: { status: number; retryAfter?: number | undefined }[] = [];
  const violations: string[] = [];
  const stats = { requests: 0, counted: 0, logins: 0, logouts: 0, dropped: 0, throttled: 0, expired: 0 };
  const idle = o.sessionIdleMs ?? 20 * 60_000;
  let garble = false;
  let expireAfter = false;

  const live = (now = Date.now()) => {
    for (const [k, s] of sessions)
      if (now - s.lastSeen > idle) {
        sessions.delete(k);
        stats.expired++;
      }
    return sessions.size;
  };

  function cookiesOf(req: IncomingMessage): Map<string, string> {
    const out = new Map<string, string>();
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const at = part.indexOf('=');
      if (at > 0) out.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
    }
    return out;
  }

  function authorised(req: IncomingMessage): boolean {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer) return (tokens.get(bearer) ?? 0) > Date.now();
    live();
    const s = sessions.get(cookiesOf(req).get('.ASPXAUTH') ?? '');
    if (!s) return false;
    s.lastSeen = Date.now();
    return true;
  }

  function login(res: ServerResponse, body: Json) {
    const user = users.find((u) => u.name === body.name && u.password === body.password);
    if (!user || (body.tenant !== undefined && body.tenant !== tenant))
      return json(res, 500, httpError('An error has occurred.', 'Invalid credentials. Please try again.'));
    if (live() >= (o.maxApiUsers ?? 2)) return json(res, 429, httpError('An error has occurred.', 'API Login Limit'));
    const token = randomBytes(16).toString('hex');
    sessions.set(token, { user: user.name, lastSeen: Date.now() });
    stats.logins++;
    res.writeHead(204, {
      'set-cookie': [
        `.ASPXAUTH=${token}; path=/; HttpOnly`,
        `ASP.NET_SessionId=${randomBytes(12).toString('hex')}; path=/; HttpOnly`,
        `UserBranch=1; path=/`,
        `Locale=${typeof body.locale === 'string' ? body.locale : 'en-US'}; path=/`,
      ],
    });
    res.end();
  }

  function token(res: ServerResponse, raw: string) {
    const form = new URLSearchParams(raw);
    const client = (o.clients ?? []).find(
      (c) => c.clientId === form.get('client_id') && c.clientSecret === form.get('client_secret'),
    );
    if (!client || !client.clientId.endsWith(`@${tenant}`)) return json(res, 400, { error: 'invalid_client' });
    const grant = form.get('grant_type');
    if (grant === 'password') {
      if (!users.some((u) => u.name === form.get('username') && u.password === form.get('password')))
        return json(res, 400, { error: 'invalid_grant' });
    } else if (grant !== 'client_credentials') return json(res, 400, { error: 'unsupported_grant_type' });
    const access = randomBytes(24).toString('hex');
    const seconds = o.tokenSeconds ?? 3600;
    tokens.set(access, Date.now() + seconds * 1000);
    json(res, 200, { access_token: access, expires_in: seconds, token_type: 'Bearer', scope: 'api' });
  }

  /** The contract's path template of a request under the endpoint. */
  function template(method: string, segments: string[]): string {
    const [entity, ...rest] = segments;
    if (rest.length === 0) return `/${entity}`;
    if (method === 'POST') return `/${entity}/${rest[0]}`;
    if (rest.length === 1 && /^[0-9a-f-]{36}$/i.test(rest[0]!)) return `/${entity}/{id}`;
    return `/${entity}/{ids}`;
  }

  function write(
    method: string,
    segments: string[],
    body: Json,
  ): WriteAnswer | { status: 202; location: string } | null {
    const [entity, action] = segments;
    if (method === 'PUT' && segments.length === 1) {
      if (entity === 'Customer') return books.putCustomer(body);
      if (entity === 'NonStockItem' || entity === 'StockItem') return books.putItem(entity, body);
      if (entity === 'Invoice') return books.putInvoice(body);
      if (entity === 'Payment') return books.putPayment(body);
      return null;
    }
    if (method === 'POST' && segments.length === 2) {
      const record = (body.entity ?? {}) as Json;
      const key = `${text(record, 'Type')}/${text(record, 'ReferenceNbr')}`;
      let problem: string | null;
      if (entity === 'Invoice' && action === 'ReleaseInvoice') problem = books.releaseDocument(key);
      else if (entity === 'Payment' && action === 'ReleasePayment') problem = books.releasePayment(key);
      else return null;
      if (problem) return { status: 400, body: httpError('An error has occurred.', problem) };
      const op = randomUUID();
      operations.set(op, o.actionPolls ?? 1);
      return { status: 202, location: `${BASE}/${entity}/${action}/status/${op}` };
    }
    return null;
  }

  function read(res: ServerResponse, segments: string[], query: URLSearchParams) {
    const [entity, ...keys] = segments;
    const expand = (query.get('$expand') ?? '').split(',').map((s) => s.trim());
    if (keys[1] === 'status' && keys.length === 3) {
      const left = operations.get(keys[2]!);
      if (left === undefined) return json(res, 404, httpError('The operation cannot be found.'));
      if (left > 0) {
        operations.set(keys[2]!, left - 1);
        return json(res, 202, undefined, { location: `${BASE}/${segments.join('/')}` });
      }
      res.writeHead(204).end();
      return;
    }
    const all = (): Json[] => {
      if (entity === 'Customer') return [...books.customers.values()];
      if (entity === 'NonStockItem' || entity === 'StockItem')
        return [...books.items].filter(([k]) => k.startsWith(`${entity}/`)).map(([, x]) => x);
      if (entity === 'Invoice') return [...books.documents.values()].map((d) => books.documentView(d, expand));
      // Payments and Applications (AR302000) holds credit memos too, beside payments, refunds and voids.
      if (entity === 'Payment')
        return [
          ...books.payments.keys(),
          ...[...books.documents.values()].filter((d) => d.type === 'Credit Memo').map((d) => `${d.type}/${d.nbr}`),
        ].map((k) => books.paymentView(k, expand)!);
      if (entity === 'Account')
        return Object.entries(books.chart).map(([cd, a]) => ({
          id: randomUUID(),
          AccountCD: { value: cd },
          Description: { value: a.description },
          Type: { value: a.type },
          Active: { value: a.active },
        }));
      return [];
    };
    if (keys.length === 0) {
      let rows = all();
      const filter = query.get('$filter');
      if (filter) {
        const keep = parseFilter(filter);
        if (!keep) return json(res, 400, httpError('The $filter is not valid.', `Cannot parse ${filter}`));
        rows = rows.filter(keep);
      }
      // $skip, then $top, over the rows in key order (as they were numbered).
      const count = (name: string) => {
        const x = query.get(name);
        return x === null ? null : /^\d+$/.test(x) ? Number(x) : Number.NaN;
      };
      const [skip, top] = [count('$skip'), count('$top')];
      if (Number.isNaN(skip) || Number.isNaN(top))
        return json(res, 400, httpError('The request is invalid.', '$skip and $top take a whole number.'));
      rows = rows.slice(skip ?? 0, top === null ? undefined : (skip ?? 0) + top);
      return json(
        res,
        200,
        rows.map((r) => selected(r, query.get('$select'), expand)),
      );
    }
    const key = keys.map(decodeURIComponent).join('/');
    let found: Json | null | undefined;
    if (entity === 'Customer') found = books.customers.get(key);
    else if (entity === 'Invoice') {
      const d = books.documents.get(key);
      found = d ? books.documentView(d, expand) : null;
    } else if (entity === 'Payment') found = books.paymentView(key, expand);
    if (!found) return json(res, 404, httpError(`No entity satisfies the condition.`));
    json(res, 200, selected(found, query.get('$select'), expand));
  }

  function dropping(method: string, path: string, raw: string): boolean {
    const d = drops[0];
    if (d && (!d.when || d.when(method, path, raw))) {
      if (--d.left <= 0) drops.shift();
      return true;
    }
    return (o.dropAfterCommitRate ?? 0) > 0 && random() < (o.dropAfterCommitRate ?? 0);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, raw: string) {
    const url = new URL(req.url ?? '/', 'http://sim');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    stats.requests++;
    // IIS's request filtering (maxQueryString, 2,048 by default) refuses a longer query string
    // before Acumatica sees it: 404.15, an IIS page, not JSON.
    if (url.search.length - 1 > MAX_QUERY_STRING) {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end(
        '<html><head><title>HTTP Error 404.15 - Not Found</title></head><body><h3>HTTP Error 404.15 - Not Found</h3><h4>The request filtering module is configured to deny a request where the query string is too long.</h4></body></html>',
      );
      return;
    }
    let body: Json = {};
    if (raw && !(req.headers['content-type'] ?? '').includes('x-www-form-urlencoded')) {
      try {
        body = parseLossless(raw) as Json;
      } catch {
        return json(res, 400, httpError('The request is invalid.', 'The body is not JSON.'));
      }
    }
    if (method === 'POST' && path === '/identity/connect/token') return token(res, raw);
    if (method === 'POST' && path === '/entity/auth/login') return login(res, body);
    if (method === 'POST' && path === '/entity/auth/logout') {
      if (sessions.delete(cookiesOf(req).get('.ASPXAUTH') ?? '')) stats.logouts++;
      res.writeHead(204).end();
      return;
    }
    if (!path.startsWith(`${BASE}/`)) return json(res, 404, httpError('No HTTP resource was found.'));
    if (!authorised(req)) return json(res, 401, httpError('You are not logged in.'));
    const now = Date.now();
    while (minute.length > 0 && minute[0]! <= now - (o.minuteMs ?? 60_000)) minute.shift();
    if (minute.length >= (o.requestsPerMinute ?? 100_000) || inFlight > (o.concurrentRequests ?? 100)) {
      stats.throttled++;
      return json(
        res,
        429,
        httpError(
          'API requests limit exceeded.',
          'The number of API requests per minute or of concurrent API requests allowed by the license has been exceeded.',
        ),
      );
    }
    minute.push(now);
    stats.counted++;
    if (expireAfter) {
      expireAfter = false;
      res.on('finish', () => {
        stats.expired += sessions.size;
        sessions.clear();
      });
    }
    const segments = path
      .slice(BASE.length + 1)
      .split('/')
      .filter(Boolean);
    const isStatus = segments[2] === 'status';
    if (o.validate && !isStatus) {
      const query: Record<string, string> = {};
      for (const [k, x] of url.searchParams) query[k] = x;
      const problems = o.validate({
        method,
        path: template(method, segments),
        body: method === 'GET' ? undefined : JSON.parse(raw || 'null'),
        query,
      });
      violations.push(...problems);
    }
    if (garble) {
      garble = false;
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Maintenance</body></html>');
      return;
    }
    const fail = fails.shift();
    if (fail) {
      const headers: Record<string, string> =
        fail.retryAfter !== undefined ? { 'retry-after': String(fail.retryAfter) } : {};
      return json(res, fail.status, httpError('An error has occurred.', `Simulated ${fail.status}.`), headers);
    }
    if (method === 'GET') return read(res, segments, url.searchParams);
    const answer = write(method, segments, body);
    if (!answer) return json(res, 404, httpError('No HTTP resource was found that matches the request.'));
    const committed = answer.status === 200 || answer.status === 202;
    if (committed && dropping(method, path, raw)) {
      stats.dropped++;
      req.socket.destroy();
      return;
    }
    if (answer.status === 202) return json(res, 202, undefined, { location: answer.location });
    json(res, answer.status, answer.body);
  }

  const server = await startLocalServer((req, res) => {
    const chunks: Buffer[] = [];
    inFlight++;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8'))
        .catch((err: unknown) => {
          if (!res.headersSent) json(res, 500, httpError('An error has occurred.', String(err)));
        })
        .finally(() => {
          inFlight--;
        });
    });
  });
  server.server.keepAliveTimeout = 1000;

  return {
    url: server.origin,
    books,
    violations,
    stats,
    sessionsOpen: () => live(),
    expireSessions() {
      stats.expired += sessions.size;
      sessions.clear();
    },
    expireSessionsAfterNext() {
      expireAfter = true;
    },
    dropNext(n = 1, when) {
      drops.push({ left: n, when });
    },
    failNext(status, f = {}) {
      for (let i = 0; i < (f.times ?? 1); i++) fails.push({ status, retryAfter: f.retryAfter });
    },
    garbleNext() {
      garble = true;
    },
    duplicates: () => books.duplicates(),
    close: () => server.close(),
  };
}
