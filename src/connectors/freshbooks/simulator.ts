import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { type LocalServer, readBody, startLocalServer } from '../../sync/local-server.ts';
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { formatAmount } from '../../domain/money.ts';
import { onePagePdf } from '../../sync/remote/simulated-pdf.ts';
import { violationsOf } from './simulator-contract.ts';
import { Account, type AccountOptions, FbRefusal } from './simulator-store.ts';
import { seeded } from '../../sync/seeded.ts';

/*
 * A local FreshBooks for tests: its token endpoint (an authorization code or a refresh token
 * exchanged for a Bearer token of `expires_in` seconds and a new refresh token: each refresh
 * token is single use, `invalid_grant` once used or revoked), the identity endpoint
 * (/auth/api/v1/users/me with the businesses' account ids), the accounting API under
 * /accounting/account/{accountId} for one or more accounts, a limit of calls a minute per account
 * answered 429 in FreshBooks' error body, and faults on demand: a write committed and its answer
 * lost (`dropNext`, `dropAfterCommitRate`), a status answered before anything is done
 * (`failNext`, `failRate`). `duplicates()` lists documents a client holds twice under one
 * reference; `violations` the requests that broke the contract (simulator-contract.ts).
 */

export interface FreshBooksSimulatorOptions {
  clientId: string;
  clientSecret: string;
  accounts: Record<string, AccountOptions>;
  /** Access-token lifetime in seconds (FreshBooks: 12 hours). */
  accessTokenSeconds?: number | undefined;
  /** Calls a minute per account before 429 (FreshBooks publishes none: the simulator's own). */
  limits?: { perMinute?: number; minuteMs?: number } | undefined;
  seed?: number | undefined;
  /** The share of writes committed and then answered by dropping the connection. */
  dropAfterCommitRate?: number | undefined;
  /** The share of requests answered 500 before anything is done. */
  failRate?: number | undefined;
}

type Obj = Record<string, unknown>;

export interface SimulatedRequest {
  method: string;
  /** Under /accounting/account/{accountId}, without the query. */
  route: string;
  query: URLSearchParams;
  body: string;
}

const errors = (errno: number, message: string, field?: string) => ({
  response: { errors: [{ errno, message, ...(field ? { field } : {}) }] },
});

export class FreshBooksSimulator {
  url = '';
  readonly violations: { route: string; problems: string[] }[] = [];
  readonly requests: SimulatedRequest[] = [];
  /** `rateRefused`: 429s past the minute's limit; `injected429`: 429s of `failNext`. */
  readonly stats = { calls: 0, writes: 0, dropped: 0, rateRefused: 0, injected429: 0, refreshes: 0 };
  /** The `redirect_uri` each refresh carried (FreshBooks' SDKs send the consent's), in order. */
  readonly refreshRedirects: (string | null)[] = [];
  readonly #accounts = new Map<string, Account>();
  readonly #refresh = new Map<string, { used: boolean }>();
  readonly #codes = new Set<string>();
  readonly #access = new Map<string, number>();
  readonly #calls = new Map<string, number[]>();
  #drops: { n: number; when: (r: SimulatedRequest) => boolean }[] = [];
  #fails: number[] = [];
  #nextId = 100000;
  readonly #random: () => number;
  #server: LocalServer | null = null;

  constructor(readonly options: FreshBooksSimulatorOptions) {
    this.#random = seeded(options.seed ?? 1);
    for (const [id, o] of Object.entries(options.accounts))
      this.#accounts.set(id, new Account(id, () => String(++this.#nextId), o));
  }

  async start(): Promise<this> {
    this.#server = await startLocalServer((req, res) => {
      void readBody(req).then((body) => this.handle(req, res, body));
    });
    this.url = this.#server.origin;
    return this;
  }

  async close(): Promise<void> {
    await this.#server?.close();
  }

  /** The API base URL (`baseUrl` of the target) and the token endpoint (`tokenUrl`). */
  get baseUrl(): string {
    return this.url;
  }
  get tokenUrl(): string {
    return `${this.url}/auth/oauth/token`;
  }

  account(id: string): Account {
    const a = this.#accounts.get(id);
    if (!a) throw new Error(`no simulated account ${id}`);
    return a;
  }

  /** A refresh token, as the code exchange of a consent gives one. */
  issueRefreshToken(): string {
    const t = randomBytes(32).toString('hex');
    this.#refresh.set(t, { used: false });
    return t;
  }

  /** An authorization code, as FreshBooks' consent page redirects back with. */
  issueCode(): string {
    const c = randomBytes(32).toString('hex');
    this.#codes.add(c);
    return c;
  }

  /** The user disconnected the app: every refresh token is refused and every access token too. */
  revokeAll(): void {
    for (const r of this.#refresh.values()) r.used = true;
    this.#access.clear();
  }

  /** Every access token expires now (the next call is answered 401 and the client refreshes). */
  expireAccessTokens(): void {
    for (const k of this.#access.keys()) this.#access.set(k, 0);
  }

  /** The next `n` writes matching `when` are committed, then their connection dropped without an answer. */
  dropNext(n: number, when: (r: SimulatedRequest) => boolean = () => true): void {
    this.#drops.push({ n, when });
  }

  /** The next requests are answered with these statuses (500, 429) before anything is done. */
  failNext(...statuses: number[]): void {
    this.#fails.push(...statuses);
  }

  /**
   * Documents one client holds twice under one reference (invoices, credit notes, payments;
   * expenses with the same notes: a fee booked twice), and clients named twice. FreshBooks keeps
   * neither `po_number` nor a note unique, so two clients' documents may share one reference
   * (two shops' order numbers).
   */
  duplicates(accountId?: string): string[] {
    const out: string[] = [];
    for (const a of accountId ? [this.account(accountId)] : [...this.#accounts.values()]) {
      const twice = (what: string, refs: string[]) => {
        const seen = new Set<string>();
        for (const r of refs) {
          if (r === '') continue;
          if (seen.has(r)) out.push(`${a.id} ${what} ${r}`);
          seen.add(r);
        }
      };
      const ref = (note: string) => /^ledgerlink-ref: (.*)$/m.exec(note)?.[1] ?? '';
      twice(
        'invoice',
        [...a.invoices.values()].map((d) => (d.po_number === '' ? '' : `${d.po_number} of client ${d.customerid}`)),
      );
      twice(
        'credit note',
        [...a.creditNotes.values()].map((d) => (ref(d.notes) === '' ? '' : `${ref(d.notes)} of client ${d.clientid}`)),
      );
      twice(
        'payment',
        [...a.payments.values()].map((p) => (ref(p.note) === '' ? '' : `${ref(p.note)} of client ${p.clientid}`)),
      );
      twice(
        'expense',
        [...a.expenses.values()].map((e) =>
          ref(e.notes) === '' ? '' : `${ref(e.notes)} (${e.notes.replace(/\n/g, ' | ')})`,
        ),
      );
      twice(
        'client',
        [...a.clients.values()].map((c) => c.organization.toLowerCase()),
      );
    }
    return out;
  }

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(stringifyLossless(body));
  }

  private token(res: http.ServerResponse, raw: string): void {
    const p = new URLSearchParams(raw);
    if (p.get('client_id') !== this.options.clientId || p.get('client_secret') !== this.options.clientSecret)
      return this.send(res, 401, { error: 'invalid_client', error_description: 'Client authentication failed.' });
    const grant = p.get('grant_type');
    if (grant === 'authorization_code') {
      if (!this.#codes.delete(p.get('code') ?? ''))
        return this.send(res, 400, {
          error: 'invalid_grant',
          error_description: 'The provided authorization grant is invalid.',
        });
    } else if (grant === 'refresh_token') {
      const r = this.#refresh.get(p.get('refresh_token') ?? '');
      if (!r || r.used)
        return this.send(res, 400, {
          error: 'invalid_grant',
          error_description: 'The provided authorization grant is invalid.',
        });
      // Single use: a refresh token is spent by the refresh that uses it.
      r.used = true;
      this.stats.refreshes++;
      this.refreshRedirects.push(p.get('redirect_uri'));
    } else return this.send(res, 400, { error: 'unsupported_grant_type' });
    const seconds = this.options.accessTokenSeconds ?? 43_200;
    const access = randomBytes(32).toString('hex');
    this.#access.set(access, Date.now() + seconds * 1000);
    this.send(res, 200, {
      access_token: access,
      token_type: 'Bearer',
      expires_in: seconds,
      refresh_token: this.issueRefreshToken(),
      scope: 'user:profile:read user:invoices:read user:invoices:write',
      created_at: Math.floor(Date.now() / 1000),
    });
  }

  private me(res: http.ServerResponse): void {
    this.send(res, 200, {
      response: {
        id: 1,
        first_name: 'Sim',
        last_name: 'User',
        business_memberships: [...this.#accounts.values()].map((a, i) => ({
          id: i + 1,
          role: 'owner',
          business: { id: i + 1, name: a.name, account_id: a.id },
        })),
      },
    });
  }

  /** The account's rolling minute: null when the call may go. */
  private overLimit(accountId: string): boolean {
    const l = this.options.limits ?? {};
    const minuteMs = l.minuteMs ?? 60_000;
    const now = Date.now();
    const calls = (this.#calls.get(accountId) ?? []).filter((t) => t > now - minuteMs);
    this.#calls.set(accountId, calls);
    if (calls.length >= (l.perMinute ?? 1_000_000)) return true;
    calls.push(now);
    return false;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    const url = new URL(req.url ?? '/', 'http://sim');
    const method = req.method ?? 'GET';
    if (url.pathname === '/auth/oauth/token' && method === 'POST') return this.token(res, raw);
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const expires = bearer ? this.#access.get(bearer[1]!) : undefined;
    const authorised = expires !== undefined && expires >= Date.now();
    if (url.pathname === '/auth/api/v1/users/me' && method === 'GET') {
      if (!authorised)
        return this.send(res, 401, {
          error: 'unauthenticated',
          error_description: 'This action requires authentication to continue.',
        });
      return this.me(res);
    }
    const m = /^\/accounting\/account\/([^/]+)(\/.*)$/.exec(url.pathname);
    if (!m) return this.send(res, 404, errors(1012, 'Not found.'));
    const route = m[2]!;
    const r: SimulatedRequest = { method, route, query: url.searchParams, body: raw };
    this.requests.push(r);
    this.stats.calls++;
    if (!authorised)
      return this.send(
        res,
        401,
        errors(1003, 'The server could not verify that you are authorized to access the URL requested.'),
      );
    const account = this.#accounts.get(m[1]!);
    if (!account) return this.send(res, 404, errors(1012, 'Account not found.', 'accountid'));
    if (this.overLimit(account.id)) {
      this.stats.rateRefused++;
      return this.send(res, 429, errors(429, 'Too many requests.'));
    }
    const fail = this.#fails.shift() ?? (this.#random() < (this.options.failRate ?? 0) ? 500 : undefined);
    if (fail === 429) this.stats.injected429++;
    if (fail !== undefined)
      return this.send(res, fail, fail === 429 ? errors(429, 'Too many requests.') : errors(1, 'Internal error.'));
    let body: Obj = {};
    if (method === 'POST' || method === 'PUT') {
      this.stats.writes++;
      if (!/^application\/json/.test(req.headers['content-type'] ?? ''))
        this.violations.push({ route: `${method} ${route}`, problems: ['content-type: not application/json'] });
      try {
        body = parseLossless(raw) as Obj;
      } catch {
        return this.send(res, 400, errors(2001, 'Invalid JSON.'));
      }
      const problems = violationsOf(`${method} ${route}`, body);
      if (problems.length > 0) this.violations.push({ route: `${method} ${route}`, problems });
    }
    let answer: { status: number; body: Obj | Buffer };
    try {
      answer = this.route(account, method, route, url.searchParams, body);
    } catch (err) {
      if (err instanceof FbRefusal) return this.send(res, err.status, errors(err.errno, err.message, err.field));
      throw err;
    }
    if (method === 'POST' || method === 'PUT') {
      const drop = this.#drops.find((d) => d.n > 0 && d.when(r));
      if (drop) drop.n--;
      if (drop || this.#random() < (this.options.dropAfterCommitRate ?? 0)) {
        this.stats.dropped++;
        req.socket.destroy();
        return;
      }
    }
    if (Buffer.isBuffer(answer.body)) {
      res.writeHead(200, { 'content-type': 'application/pdf' });
      res.end(answer.body);
      return;
    }
    this.send(res, answer.status, answer.body);
  }

  private route(
    a: Account,
    method: string,
    route: string,
    q: URLSearchParams,
    body: Obj,
  ): { status: number; body: Obj | Buffer } {
    const result = (r: Obj) => ({ status: 200, body: { response: { result: r } } });
    const s = (k: string) => q.get(`search[${k}]`);
    const page = <T>(rows: T[], key: string, view: (x: T) => Obj) => {
      const per = Math.min(100, Number(q.get('per_page') ?? 30) || 30);
      const n = Math.max(1, Number(q.get('page') ?? 1) || 1);
      return result({
        [key]: rows.slice((n - 1) * per, n * per).map(view),
        page: n,
        pages: Math.max(1, Math.ceil(rows.length / per)),
        per_page: per,
        total: rows.length,
      });
    };
    const eq = (v: string, k: string) => s(k) === null || s(k) === v;
    // An In search: one query argument an item (`search[logids][]=1&search[logids][]=2`).
    const within = (v: string, k: string) => {
      const all = q.getAll(`search[${k}][]`);
      return all.length === 0 || all.includes(v);
    };
    // Lists leave deleted objects out unless search[vis_state] asks for a state (freshbooks.com/api/active_deleted).
    const visible = (v: number) => (s('vis_state') === null ? v !== 1 : String(v) === s('vis_state'));
    const inner = (key: string) => (body[key] ?? {}) as Obj;
    // A Between search of dates: `_min` matches from the value, `_max` what is below it
    // (freshbooks.com/api/parameters), as the expenses list answers it.
    const between = (date: string) => {
      const [from, to] = [s('date_min'), s('date_max')];
      return (from === null || date >= from) && (to === null || date < to);
    };
    // A read answers a document's lines only when `include[]=lines` asks for them (freshbooks.com/api/parameters, "Includes").
    const lined = q.getAll('include[]').includes('lines');
    const shown = (view: Obj): Obj => {
      if (!lined) delete view.lines;
      return view;
    };
    // A date search takes a day (YYYY-MM-DD): anything else is refused, not read as no search.
    for (const k of ['date_min', 'date_max'])
      if (s(k) !== null && !/^\d{4}-\d{2}-\d{2}$/.test(s(k)!))
        throw new FbRefusal(400, 2001, k, `Invalid value for ${k}.`);
    let m: RegExpExecArray | null;
    const key = `${method} ${route}`;

    if (key === 'GET /taxes/taxes') return page(a.taxes, 'taxes', (t) => ({ ...t }));

    if (key === 'GET /users/clients') {
      const like = s('organization_like')?.toLowerCase();
      return page(
        [...a.clients.values()].filter((c) => like === undefined || c.organization.toLowerCase().includes(like)),
        'clients',
        (c) => a.clientView(c),
      );
    }
    if (key === 'POST /users/clients') return result({ client: a.clientView(a.upsertClient(null, inner('client'))) });
    if ((m = /^(GET|PUT) \/users\/clients\/(\d+)$/.exec(key))) {
      if (m[1] === 'PUT') return result({ client: a.clientView(a.upsertClient(m[2]!, inner('client'))) });
      const c = a.clients.get(m[2]!);
      if (!c) throw new FbRefusal(404, 1012, 'userid', 'Client not found.');
      return result({ client: a.clientView(c) });
    }

    if (key === 'GET /items/items')
      return page(
        [...a.items.values()].filter((i) => eq(i.name, 'name')),
        'items',
        (i) => a.itemView(i),
      );
    if (key === 'POST /items/items') return result({ item: a.itemView(a.upsertItem(null, inner('item'))) });
    if ((m = /^PUT \/items\/items\/(\d+)$/.exec(key)))
      return result({ item: a.itemView(a.upsertItem(m[1]!, inner('item'))) });

    if (key === 'GET /invoices/invoices')
      return page(
        [...a.invoices.values()].filter(
          (d) =>
            eq(d.customerid, 'customerid') &&
            within(d.customerid, 'customerids') &&
            within(d.id, 'invoiceids') &&
            between(d.create_date) &&
            visible(d.vis_state),
        ),
        'invoices',
        (d) => shown(a.invoiceView(d)),
      );
    if (key === 'POST /invoices/invoices') return result({ invoice: a.invoiceView(a.createInvoice(inner('invoice'))) });
    if ((m = /^(GET|PUT) \/invoices\/invoices\/(\d+)(\/pdf)?$/.exec(key))) {
      if (m[1] === 'PUT' && !m[3]) return result({ invoice: a.invoiceView(a.updateInvoice(m[2]!, inner('invoice'))) });
      const d = a.invoices.get(m[2]!);
      if (!d || m[1] === 'PUT') throw new FbRefusal(404, 1012, 'invoiceid', 'Invoice not found.');
      if (m[3])
        return {
          status: 200,
          body: onePagePdf(`Invoice ${d.invoice_number} total ${formatAmount(d.total, d.currency)} ${d.currency}`),
        };
      return result({ invoice: shown(a.invoiceView(d)) });
    }

    if (key === 'GET /credit_notes/credit_notes')
      return page(
        [...a.creditNotes.values()].filter(
          (n) => eq(n.clientid, 'clientid') && between(n.create_date) && visible(n.vis_state),
        ),
        'credit_notes',
        (n) => shown(a.creditView(n)),
      );
    if (key === 'POST /credit_notes/credit_notes')
      return result({ credit_notes: a.creditView(a.createCreditNote(inner('credit_note'))) });
    if ((m = /^GET \/credit_notes\/credit_notes\/(\d+)$/.exec(key))) {
      const n = a.creditNotes.get(m[1]!);
      if (!n) throw new FbRefusal(404, 1012, 'creditid', 'Credit note not found.');
      return result({ credit_notes: shown(a.creditView(n)) });
    }

    if (key === 'GET /payments/payments')
      return page(
        [...a.payments.values()].filter(
          (p) =>
            eq(p.clientid, 'clientid') &&
            eq(p.invoiceid, 'invoiceid') &&
            within(p.id, 'logids') &&
            between(p.date) &&
            visible(p.vis_state),
        ),
        'payments',
        (p) => a.paymentView(p),
      );
    if (key === 'POST /payments/payments') return result({ payment: a.paymentView(a.createPayment(inner('payment'))) });
    if ((m = /^GET \/payments\/payments\/(\d+)$/.exec(key))) {
      const p = a.payments.get(m[1]!);
      if (!p) throw new FbRefusal(404, 1012, 'paymentid', 'Payment not found.');
      return result({ payment: a.paymentView(p) });
    }
    if (key === 'GET /expenses/categories') return page(a.categories, 'categories', (c) => a.categoryView(c));
    if (key === 'GET /expenses/expenses') {
      return page(
        [...a.expenses.values()].filter(
          (e) => eq(e.categoryid, 'categoryid') && between(e.date) && visible(e.vis_state),
        ),
        'expenses',
        (e) => a.expenseView(e),
      );
    }
    if (key === 'POST /expenses/expenses') return result({ expense: a.expenseView(a.createExpense(inner('expense'))) });
    if ((m = /^GET \/expenses\/expenses\/(\d+)$/.exec(key))) {
      const e = a.expenses.get(m[1]!);
      if (!e) throw new FbRefusal(404, 1012, 'expenseid', 'Expense not found.');
      return result({ expense: a.expenseView(e) });
    }
    throw new FbRefusal(404, 1012, '', 'Not found.');
  }
}

/** Starts a simulated FreshBooks (and its token endpoint) on 127.0.0.1. */
export function startFreshBooksSimulator(options: FreshBooksSimulatorOptions): Promise<FreshBooksSimulator> {
  return new FreshBooksSimulator(options).start();
}
