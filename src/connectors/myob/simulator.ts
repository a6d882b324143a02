import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { type LocalServer, readBody, startLocalServer } from '../../sync/local-server.ts';
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { headerViolations, violationsOf } from './simulator-contract.ts';
import { matcher } from './simulator-odata.ts';
import { type CompanyOptions, CompanyFile, MyobRefusal, type Sale } from './simulator-store.ts';
import { seeded } from '../../sync/seeded.ts';
import { onePagePdf } from '../../sync/remote/simulated-pdf.ts';

/*
 * A local MYOB for tests: its token endpoint (secure.myob.com/oauth2/v1/authorize: a refresh
 * token exchanged for an access token of `expires_in` seconds and a new refresh token, client id
 * and secret in the form, `invalid_grant` once revoked), the API under /accountright for one or
 * more company files (bearer token, `x-myobapi-key`, `x-myobapi-version: v2`, and the company
 * file's `x-myobapi-cftoken` where it has credentials), the API key's limits per second and per
 * day answered 403 `RateLimitError` in MYOB's body, writes answered 201 with a Location, and
 * faults on demand: a write committed and its answer lost (`dropNext`, `dropAfterCommitRate`),
 * a status answered before anything is done (`failNext`). Spend money (Banking/SpendMoneyTxn) is
 * kept and listed like the rest, credit refunds (Sale/CreditRefund) likewise; a sale, payment or
 * refund deleted (DELETE, `deleteSale`, `deletePayment`) is gone, as MYOB keeps no void. Lists take
 * OData `$filter`s (simulator-odata.ts), `$top` (at most 1,000) and `$skip`. `duplicates()` lists records held twice
 * under one reference; `violations` the requests that broke the contract (simulator-contract.ts).
 */

export interface MyobSimulatorOptions {
  clientId: string;
  clientSecret: string;
  companyFiles: Record<string, CompanyOptions>;
  /** Access-token lifetime in seconds (MYOB: 1200). */
  accessTokenSeconds?: number | undefined;
  /** Calls a second and a day per API key (MYOB: 8 and 1,000,000); `secondMs` scales the second. */
  limits?: { perSecond?: number; perDay?: number; secondMs?: number } | undefined;
  seed?: number | undefined;
  /** The share of writes committed and then answered by dropping the connection. */
  dropAfterCommitRate?: number | undefined;
  /**
   * API keys created since 12 March 2025: the consent sends the chosen company file back in the
   * redirect (`businessId`, `businessName`) and GET /accountright/ lists none.
   */
  businessIdInRedirect?: string | undefined;
}

type Obj = Record<string, unknown>;

/** A one-page PDF whose text holds the sale's number and total. */
export function salePdf(number: string, total: string): Buffer {
  return onePagePdf(`Tax invoice ${number} total ${total}`);
}

export interface SimulatedRequest {
  method: string;
  /** Under the company file (`Sale/Invoice/Service`), without the query. */
  route: string;
  query: URLSearchParams;
  body: string;
}

const errors = (name: string, message: string, code: number | null = null, details: string | null = null) => ({
  Errors: [{ Name: name, Message: message, AdditionalDetails: details, ErrorCode: code, Severity: 'Error' }],
});

/** IIS's default limit on a query string, which the simulator takes MYOB to keep *(unverified)*. */
const QUERY_MAX = 2048;

export class MyobSimulator {
  url = '';
  readonly violations: { route: string; problems: string[] }[] = [];
  readonly requests: SimulatedRequest[] = [];
  readonly stats = { calls: 0, writes: 0, dropped: 0, rateRefused: 0, refreshes: 0 };
  readonly #files = new Map<string, CompanyFile>();
  readonly #refresh = new Map<string, { revoked: boolean }>();
  readonly #access = new Map<string, number>();
  readonly #codes = new Map<string, string>();
  #calls: number[] = [];
  #drops: { n: number; when: (r: SimulatedRequest) => boolean }[] = [];
  #fails: number[] = [];
  readonly #random: () => number;
  #server: LocalServer | null = null;

  constructor(readonly options: MyobSimulatorOptions) {
    this.#random = seeded(options.seed ?? 1);
    for (const [id, o] of Object.entries(options.companyFiles))
      this.#files.set(id.toLowerCase(), new CompanyFile(id, o));
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

  get baseUrl(): string {
    return `${this.url}/accountright`;
  }
  get tokenUrl(): string {
    return `${this.url}/oauth2/v1/authorize`;
  }
  get authorizeUrl(): string {
    return `${this.url}/oauth2/account/authorize`;
  }

  file(id: string): CompanyFile {
    const f = this.#files.get(id.toLowerCase());
    if (!f) throw new Error(`no simulated company file ${id}`);
    return f;
  }

  /** A refresh token, as the code exchange of a consent gives one. */
  issueRefreshToken(): string {
    const t = randomBytes(24).toString('base64url');
    this.#refresh.set(t, { revoked: false });
    return t;
  }

  /** The user removed the app's access: the refresh token is refused, and its access tokens too. */
  revoke(refreshToken: string): void {
    const r = this.#refresh.get(refreshToken);
    if (r) r.revoked = true;
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

  /** The next requests are answered with these statuses (500, or 403 for a rate storm) before anything is done. */
  failNext(...statuses: number[]): void {
    this.#fails.push(...statuses);
  }

  /**
   * Sales (invoices, credits) held twice under one reference for one customer, payments likewise,
   * spend money twice under one memo with the same line memos (a fee booked twice), and customer
   * cards twice under one name.
   */
  duplicates(fileId?: string): string[] {
    const out: string[] = [];
    for (const f of fileId ? [this.file(fileId)] : [...this.#files.values()]) {
      const twice = (what: string, refs: string[]) => {
        const seen = new Set<string>();
        for (const r of refs) {
          if (r !== '' && seen.has(r)) out.push(`${f.id} ${what} ${r}`);
          seen.add(r);
        }
      };
      // A reference is unique per customer, and an invoice's apart from a credit's (the sign of its
      // total): two customers' sales may share one, as MYOB's Customer PO # is a free text field.
      const sales = [...f.sales.values()];
      const ofCustomer = (x: Sale) => (x.reference === '' ? '' : `${x.reference} of customer ${x.customerUid}`);
      twice('sale', sales.filter((x) => x.total >= 0n).map(ofCustomer));
      twice('sales credit', sales.filter((x) => x.total < 0n).map(ofCustomer));
      twice(
        'payment',
        [...f.payments.values()].map((p) => (p.memo === '' ? '' : `${p.memo} of customer ${p.customerUid}`)),
      );
      twice(
        'spend money',
        [...f.spendMoney.values()].map((x) =>
          x.memo === '' ? '' : `${x.memo} (${x.lines.map((l) => l.memo).join(' | ')})`,
        ),
      );
      twice(
        'customer',
        [...f.customers.values()].map((c) => c.name.toLowerCase()),
      );
    }
    return out;
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(body === undefined ? '' : stringifyLossless(body));
  }

  /** The consent page: the user signs in to my.MYOB and is sent back with a single-use code. */
  private authorize(res: http.ServerResponse, url: URL): void {
    const q = url.searchParams;
    const redirect = q.get('redirect_uri') ?? '';
    if (q.get('client_id') !== this.options.clientId || q.get('response_type') !== 'code' || !redirect)
      return this.send(res, 400, { error: 'invalid_request' });
    const code = randomBytes(16).toString('base64url');
    this.#codes.set(code, redirect);
    const back = new URL(redirect);
    back.searchParams.set('code', code);
    if (q.get('state') !== null) back.searchParams.set('state', q.get('state')!);
    const business = this.options.businessIdInRedirect;
    if (business) {
      back.searchParams.set('businessId', business);
      back.searchParams.set('businessName', 'MYOB Shared Sandbox');
    }
    res.writeHead(302, { location: back.href });
    res.end();
  }

  private token(res: http.ServerResponse, raw: string): void {
    const p = new URLSearchParams(raw);
    if (p.get('client_id') !== this.options.clientId || p.get('client_secret') !== this.options.clientSecret)
      return this.send(res, 400, { error: 'invalid_client' });
    let grant: { revoked: boolean } | undefined;
    if (p.get('grant_type') === 'authorization_code') {
      const redirect = this.#codes.get(p.get('code') ?? '');
      this.#codes.delete(p.get('code') ?? '');
      if (redirect === undefined || redirect !== p.get('redirect_uri'))
        return this.send(res, 400, { error: 'invalid_grant' });
      grant = { revoked: false };
    } else if (p.get('grant_type') === 'refresh_token') grant = this.#refresh.get(p.get('refresh_token') ?? '');
    else return this.send(res, 400, { error: 'unsupported_grant_type' });
    if (!grant || grant.revoked) return this.send(res, 400, { error: 'invalid_grant' });
    this.stats.refreshes++;
    const seconds = this.options.accessTokenSeconds ?? 1200;
    const access = randomBytes(32).toString('base64url');
    this.#access.set(access, Date.now() + seconds * 1000);
    // MYOB answers each refresh with a refresh token; the one sent is spent.
    grant.revoked = true;
    const next = this.issueRefreshToken();
    this.send(res, 200, {
      access_token: access,
      token_type: 'bearer',
      expires_in: String(seconds),
      refresh_token: next,
      scope: 'CompanyFile',
    });
  }

  /** The API key's rolling second and day; null when the call may go, else MYOB's refusal message. */
  private overLimit(): string | null {
    const l = this.options.limits ?? {};
    const now = Date.now();
    this.#calls = this.#calls.filter((t) => t > now - 86_400_000);
    if (this.#calls.length >= (l.perDay ?? 1_000_000)) return 'API key has exceeded the daily rate limit';
    if (this.#calls.filter((t) => t > now - (l.secondMs ?? 1000)).length >= (l.perSecond ?? 8))
      return 'API key has exceeded the per-second rate limit';
    this.#calls.push(now);
    return null;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    const url = new URL(req.url ?? '/', 'http://sim');
    const method = req.method ?? 'GET';
    if (url.pathname === '/oauth2/v1/authorize' && method === 'POST') return this.token(res, raw);
    if (url.pathname === '/oauth2/account/authorize' && method === 'GET') return this.authorize(res, url);
    if (!url.pathname.startsWith('/accountright/')) return this.send(res, 404, errors('NotFound', 'Not found'));
    const auth = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '');
    const expires = auth ? this.#access.get(auth[1]!) : undefined;
    if (expires === undefined || expires < Date.now())
      return this.send(res, 401, errors('OAuthTokenIsInvalid', 'The supplied OAuth token (Bearer) is not valid'));
    if (req.headers['x-myobapi-key'] !== this.options.clientId)
      return this.send(res, 403, errors('DeveloperInactive', 'API key is missing or inactive'));
    const rest = url.pathname.slice('/accountright/'.length).replace(/\/+$/, '');
    if (rest === '' && method === 'GET')
      return this.send(
        res,
        200,
        [...this.#files.values()]
          .filter(() => this.options.businessIdInRedirect === undefined)
          .map((f) => ({
            Id: f.id,
            Name: `Company ${f.id.slice(0, 8)}`,
            Uri: `${this.baseUrl}/${f.id}`,
          })),
      );
    const [fileId, ...parts] = rest.split('/');
    const file = this.#files.get((fileId ?? '').toLowerCase());
    if (!file) return this.send(res, 404, errors('NotFound', 'Company file not found'));
    const route = parts.join('/');
    const r: SimulatedRequest = { method, route, query: url.searchParams, body: raw };
    this.requests.push(r);
    this.stats.calls++;
    const headerProblems = headerViolations(req.headers, raw !== '');
    if (url.search.length - 1 > QUERY_MAX)
      headerProblems.push(`query string of ${url.search.length - 1} characters, more than ${QUERY_MAX}`);
    if (headerProblems.length > 0) this.violations.push({ route: `${method} ${route}`, problems: headerProblems });
    const creds = file.options.credentials;
    if (creds && req.headers['x-myobapi-cftoken'] !== Buffer.from(`${creds.user}:${creds.password}`).toString('base64'))
      return this.send(
        res,
        401,
        errors(
          'InvalidCredentials',
          'The supplied company file credentials are not valid',
          1,
          'Header: x-myobapi-cftoken',
        ),
      );
    const fail = this.#fails.shift();
    const over = fail === 403 ? 'API key has exceeded the per-second rate limit' : this.overLimit();
    if (over) {
      this.stats.rateRefused++;
      return this.send(res, 403, errors('RateLimitError', over, null, 'Header: x-myobapi-key'));
    }
    if (fail) return this.send(res, fail, errors('InternalError', 'An internal error occurred'));
    let body: Obj = {};
    const write = method === 'POST' || method === 'PUT';
    if (write) {
      this.stats.writes++;
      try {
        body = parseLossless(raw) as Obj;
      } catch {
        return this.send(res, 400, errors('SerializationError', 'Error converting value', 50));
      }
      const problems = violationsOf(`${method} ${route}`, body);
      if (problems.length > 0) this.violations.push({ route: `${method} ${route}`, problems });
    }
    let answer: { status: number; body?: unknown; location?: string; pdf?: Buffer };
    try {
      answer = this.route(file, method, route, url.searchParams, body, req.headers.accept ?? '');
    } catch (err) {
      if (err instanceof MyobRefusal)
        return this.send(res, err.status, errors(err.errorName, err.message, err.errorCode));
      throw err;
    }
    if (write) {
      const drop = this.#drops.find((d) => d.n > 0 && d.when(r));
      if (drop) drop.n--;
      if (drop || this.#random() < (this.options.dropAfterCommitRate ?? 0)) {
        this.stats.dropped++;
        req.socket.destroy();
        return;
      }
    }
    if (answer.pdf) {
      res.writeHead(200, { 'content-type': 'application/pdf' });
      res.end(answer.pdf);
      return;
    }
    const location = answer.location ? { location: `${this.baseUrl}/${file.id}/${answer.location}` } : undefined;
    this.send(res, answer.status, answer.body, location);
  }

  private route(
    f: CompanyFile,
    method: string,
    route: string,
    q: URLSearchParams,
    body: Obj,
    accept: string,
  ): { status: number; body?: unknown; location?: string; pdf?: Buffer } {
    const list = (rows: Obj[]) => {
      const filtered = rows.filter(matcher(q.get('$filter')));
      const top = Math.min(1000, Number(q.get('$top') ?? 400) || 400);
      const skip = Number(q.get('$skip') ?? 0) || 0;
      const more = filtered.length > skip + top;
      return {
        status: 200,
        body: {
          Items: filtered.slice(skip, skip + top),
          NextPageLink: more ? `${this.baseUrl}/${f.id}/${route}?$top=${top}&$skip=${skip + top}` : null,
          Count: filtered.length,
        },
      };
    };
    const one = (v: Obj | undefined) => {
      if (!v) throw new MyobRefusal(404, 'NotFound', 'The record was not found', 150);
      return { status: 200, body: v };
    };
    const cards = (kind: 'customer' | 'item', path: string) => {
      const map = kind === 'customer' ? f.customers : f.items;
      if (route === path && method === 'GET') return list([...map.values()].map((c) => f.cardView(kind, c)));
      if (route === path && method === 'POST')
        return { status: 201, location: `${path}/${f.upsertCard(kind, null, body).UID}` };
      const m = new RegExp(`^${path}/([0-9a-f-]{36})$`).exec(route);
      if (m && method === 'GET') {
        const c = map.get(m[1]!);
        return one(c && f.cardView(kind, c));
      }
      if (m && method === 'PUT') {
        f.upsertCard(kind, m[1]!, body);
        return { status: 200 };
      }
      return null;
    };
    const card = cards('customer', 'Contact/Customer') ?? cards('item', 'Inventory/Item');
    if (card) return card;
    if (route === 'GeneralLedger/TaxCode' && method === 'GET') return list(f.taxCodes.map((t) => ({ ...t })));
    if (route === 'GeneralLedger/Account' && method === 'GET') return list(f.accounts.map((a) => f.accountView(a)));
    const SALE = 'Sale/Invoice/Service';
    if (route === SALE && method === 'GET') return list([...f.sales.values()].map((s) => f.saleView(s)));
    // Every layout's sales, each naming its layout (the simulator keeps only Service sales).
    if (route === 'Sale/Invoice' && method === 'GET')
      return list([...f.sales.values()].map((s) => ({ ...f.saleView(s), InvoiceType: 'Service' })));
    if (route === SALE && method === 'POST') return { status: 201, location: `${SALE}/${f.createSale(body).UID}` };
    let m = /^Sale\/Invoice\/Service\/([0-9a-f-]{36})$/.exec(route);
    if (m && method === 'GET') {
      const s = f.sales.get(m[1]!);
      if (s && q.get('format') === 'pdf') {
        if (!/application\/pdf/.test(accept)) throw new MyobRefusal(406, 'NotAcceptable', 'Accept application/pdf');
        return { status: 200, pdf: salePdf(s.Number, String(f.saleView(s).TotalAmount)) };
      }
      return one(s && f.saleView(s));
    }
    if (m && method === 'DELETE') {
      f.deleteSale(m[1]!);
      return { status: 200 };
    }
    if (route === 'Sale/CustomerPayment' && method === 'GET')
      return list([...f.payments.values()].map((p) => f.paymentView(p)));
    if (route === 'Sale/CustomerPayment' && method === 'POST')
      return { status: 201, location: `Sale/CustomerPayment/${f.createPayment(body).UID}` };
    m = /^Sale\/CustomerPayment\/([0-9a-f-]{36})$/.exec(route);
    if (m && method === 'GET') {
      const p = f.payments.get(m[1]!);
      return one(p && f.paymentView(p));
    }
    if (m && method === 'DELETE') {
      f.deletePayment(m[1]!);
      return { status: 200 };
    }
    const REFUND = 'Sale/CreditRefund';
    if (route === REFUND && method === 'GET') return list([...f.refunds.values()].map((x) => f.refundView(x)));
    if (route === REFUND && method === 'POST')
      return { status: 201, location: `${REFUND}/${f.createRefund(body).UID}` };
    m = /^Sale\/CreditRefund\/([0-9a-f-]{36})$/.exec(route);
    if (m && method === 'GET') {
      const x = f.refunds.get(m[1]!);
      return one(x && f.refundView(x));
    }
    if (m && method === 'DELETE') {
      f.deleteRefund(m[1]!);
      return { status: 200 };
    }
    if (route === 'Sale/CreditSettlement' && method === 'GET')
      return list([...f.settlements.values()].map((s) => f.settlementView(s)));
    if (route === 'Sale/CreditSettlement' && method === 'POST')
      return { status: 201, location: `Sale/CreditSettlement/${f.createSettlement(body).UID}` };
    const SPEND = 'Banking/SpendMoneyTxn';
    if (route === SPEND && method === 'GET') return list([...f.spendMoney.values()].map((x) => f.spendMoneyView(x)));
    if (route === SPEND && method === 'POST')
      return { status: 201, location: `${SPEND}/${f.createSpendMoney(body).UID}` };
    m = /^Banking\/SpendMoneyTxn\/([0-9a-f-]{36})$/.exec(route);
    if (m && method === 'GET') {
      const x = f.spendMoney.get(m[1]!);
      return one(x && f.spendMoneyView(x));
    }
    throw new MyobRefusal(404, 'NotFound', `No resource ${method} ${route}`);
  }
}

/** Starts a simulated MYOB (and its token endpoint) on 127.0.0.1. */
export function startMyobSimulator(options: MyobSimulatorOptions): Promise<MyobSimulator> {
  return new MyobSimulator(options).start();
}
