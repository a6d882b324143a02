import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { type LocalServer, readBody, startLocalServer } from '../../sync/local-server.ts';
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { type OrgOptions, Organisation } from './simulator-store.ts';
import { ZohoRefusal } from './simulator-values.ts';
import { violationsOf } from './simulator-contract.ts';
import { onePagePdf } from '../../sync/remote/simulated-pdf.ts';
import { refundRoute } from './simulator-refunds.ts';
import { seeded } from '../../sync/seeded.ts';

/*
 * A local Zoho Books for tests: Zoho Accounts' token endpoint (a refresh token exchanged for an
 * access token of `expires_in` seconds, client credentials in the parameters, `{"error":
 * "invalid_code"}` once revoked), the Books API under /books/v3 for one or more organisations
 * (every request naming its `organization_id`, `Authorization: Zoho-oauthtoken …`), the
 * organisation's limits per minute and per day answered with 429 in Zoho's body, and faults on
 * demand: a write committed and its answer lost (`dropNext`, `dropAfterCommitRate`), a status
 * answered before anything is done (`failNext`). Refunds of a payment's unused amount are
 * simulator-refunds.ts. `duplicates()` lists documents a customer holds twice under one
 * reference; `violations` the requests that broke the contract (simulator-contract.ts).
 */

export interface ZohoSimulatorOptions {
  clientId: string;
  clientSecret: string;
  organisations: Record<string, OrgOptions>;
  /** Access-token lifetime in seconds (Zoho: 3600). */
  accessTokenSeconds?: number | undefined;
  /** Requests a minute and a day per organisation (Zoho: 100, and 1,000 to 10,000 by plan). */
  limits?: { perMinute?: number; perDay?: number; minuteMs?: number; dayMs?: number } | undefined;
  seed?: number | undefined;
  /** The share of writes committed and then answered by dropping the connection. */
  dropAfterCommitRate?: number | undefined;
  /** The share of requests answered 500 before anything is done. */
  failRate?: number | undefined;
}

type Obj = Record<string, unknown>;

export interface SimulatedRequest {
  method: string;
  /** Under /books/v3, without the query. */
  route: string;
  query: URLSearchParams;
  body: string;
}

export class ZohoBooksSimulator {
  url = '';
  /** Requests that broke the contract: method, route and what was wrong. */
  readonly violations: { route: string; problems: string[] }[] = [];
  readonly requests: SimulatedRequest[] = [];
  readonly stats = { calls: 0, writes: 0, dropped: 0, rateRefused: 0, refreshes: 0 };
  readonly #orgs = new Map<string, Organisation>();
  readonly #refresh = new Map<string, { revoked: boolean }>();
  readonly #access = new Map<string, number>();
  readonly #calls = new Map<string, number[]>();
  #drops: { n: number; when: (r: SimulatedRequest) => boolean }[] = [];
  #fails: { status: number; code: number; message: string }[] = [];
  #outages: { when: (r: SimulatedRequest) => boolean }[] = [];
  #nextId = 460000000000000;
  readonly #random: () => number;
  #server: LocalServer | null = null;

  constructor(readonly options: ZohoSimulatorOptions) {
    this.#random = seeded(options.seed ?? 1);
    for (const [id, o] of Object.entries(options.organisations))
      this.#orgs.set(id, new Organisation(id, () => String(++this.#nextId), o));
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
    return `${this.url}/books/v3`;
  }
  get tokenUrl(): string {
    return `${this.url}/oauth/v2/token`;
  }

  org(id: string): Organisation {
    const o = this.#orgs.get(id);
    if (!o) throw new Error(`no simulated organisation ${id}`);
    return o;
  }

  /** A refresh token, as a Self Client's code exchanged in Zoho's API console gives one. */
  issueRefreshToken(): string {
    const t = `1000.${randomBytes(16).toString('hex')}.${randomBytes(16).toString('hex')}`;
    this.#refresh.set(t, { revoked: false });
    return t;
  }

  /** The user removed the connection (Zoho Accounts → Connected Apps): the refresh token is refused and its access tokens too. */
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

  /**
   * An outage of some requests: every one matching `when` is answered 500 (Zoho's "Internal
   * error") before anything is done, until the function returned is called.
   */
  failWhile(when: (r: SimulatedRequest) => boolean): () => void {
    const outage = { when };
    this.#outages.push(outage);
    return () => {
      this.#outages = this.#outages.filter((o) => o !== outage);
    };
  }

  /** The next requests are answered with these statuses (500, 429) before anything is done. */
  failNext(...statuses: number[]): void {
    for (const status of statuses)
      this.#fails.push(
        status === 429
          ? {
              status,
              code: 45,
              message: 'You have made too many requests continuously. Please try again after some time.',
            }
          : { status, code: 1000, message: 'Internal error' },
      );
  }

  /**
   * Documents one customer holds twice under one reference (invoices, credit notes, payments,
   * refunds) and contacts named twice. Zoho keeps `reference_number` free (its docs hold only
   * `invoice_number`, which the target leaves to Zoho's numbering, unique in the organisation), so
   * two customers' documents may share one (two shops' order numbers).
   */
  duplicates(orgId?: string): string[] {
    const out: string[] = [];
    for (const o of orgId ? [this.org(orgId)] : [...this.#orgs.values()]) {
      const twice = (what: string, refs: string[]) => {
        const seen = new Set<string>();
        for (const r of refs) {
          if (r === '') continue;
          if (seen.has(r)) out.push(`${o.id} ${what} ${r}`);
          seen.add(r);
        }
      };
      const own = (reference: string, customer: string | undefined) =>
        reference ? `${reference} of ${customer ?? '?'}` : '';
      twice(
        'invoice',
        [...o.invoices.values()].map((d) => own(d.reference_number, d.customer_id)),
      );
      twice(
        'creditnote',
        [...o.creditNotes.values()].map((d) => own(d.reference_number, d.customer_id)),
      );
      twice(
        'payment',
        [...o.payments.values()].map((p) => own(p.reference_number, p.customer_id)),
      );
      // A refund is of one payment: its customer is the payment's.
      twice(
        'refund',
        o.refunds.map((r) => own(r.reference_number, o.payments.get(r.payment_id)?.customer_id)),
      );
      twice(
        'contact',
        [...o.contacts.values()].map((c) => c.contact_name.toLowerCase()),
      );
    }
    return out;
  }

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' });
    res.end(typeof body === 'string' ? body : stringifyLossless(body));
  }

  private token(res: http.ServerResponse, url: URL, body: string): void {
    const p = new URLSearchParams(url.search);
    for (const [k, v] of new URLSearchParams(body)) p.set(k, v);
    if (p.get('client_id') !== this.options.clientId || p.get('client_secret') !== this.options.clientSecret)
      return this.send(res, 200, { error: 'invalid_client' });
    if (p.get('grant_type') !== 'refresh_token') return this.send(res, 200, { error: 'unsupported_grant_type' });
    const grant = this.#refresh.get(p.get('refresh_token') ?? '');
    if (!grant || grant.revoked) return this.send(res, 200, { error: 'invalid_code' });
    this.stats.refreshes++;
    const seconds = this.options.accessTokenSeconds ?? 3600;
    const access = `1000.${randomBytes(16).toString('hex')}.${randomBytes(16).toString('hex')}`;
    this.#access.set(access, Date.now() + seconds * 1000);
    this.send(res, 200, { access_token: access, api_domain: this.url, token_type: 'Bearer', expires_in: seconds });
  }

  /** The organisation's rolling minute and day; null when the call may go, else the refusal. */
  private overLimit(orgId: string): { code: number; message: string } | null {
    const l = this.options.limits ?? {};
    const minuteMs = l.minuteMs ?? 60_000;
    const dayMs = l.dayMs ?? 86_400_000;
    const now = Date.now();
    const calls = (this.#calls.get(orgId) ?? []).filter((t) => t > now - dayMs);
    this.#calls.set(orgId, calls);
    if (calls.length >= (l.perDay ?? 1000))
      return { code: 45, message: 'You have reached the maximum number of API calls allowed for a day.' };
    if (calls.filter((t) => t > now - minuteMs).length >= (l.perMinute ?? 100))
      return { code: 45, message: 'You have made too many requests continuously. Please try again after some time.' };
    calls.push(now);
    return null;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    const url = new URL(req.url ?? '/', 'http://sim');
    const method = req.method ?? 'GET';
    if (url.pathname === '/oauth/v2/token' && method === 'POST') return this.token(res, url, raw);
    if (!url.pathname.startsWith('/books/v3/')) return this.send(res, 404, { code: 5, message: 'Invalid URL Passed' });
    const route = url.pathname.slice('/books/v3'.length);
    const r: SimulatedRequest = { method, route, query: url.searchParams, body: raw };
    this.requests.push(r);
    this.stats.calls++;
    const auth = /^Zoho-oauthtoken (\S+)$/.exec(req.headers.authorization ?? '');
    const expires = auth ? this.#access.get(auth[1]!) : undefined;
    if (expires === undefined || expires < Date.now())
      return this.send(res, 401, { code: 57, message: 'You are not authorized to perform this operation' });
    const orgId = url.searchParams.get('organization_id') ?? '';
    const org = this.#orgs.get(orgId);
    if (!org) return this.send(res, 400, { code: 6041, message: 'This user is not associated with the organization.' });
    const over = this.overLimit(orgId);
    if (over) {
      this.stats.rateRefused++;
      return this.send(res, 429, over);
    }
    const fail =
      (this.#outages.some((o) => o.when(r)) ? { status: 500, code: 1000, message: 'Internal error' } : undefined) ??
      this.#fails.shift() ??
      (this.#random() < (this.options.failRate ?? 0)
        ? { status: 500, code: 1000, message: 'Internal error' }
        : undefined);
    if (fail) return this.send(res, fail.status, { code: fail.code, message: fail.message });
    let body: Obj = {};
    if (method === 'POST' || method === 'PUT') {
      this.stats.writes++;
      if (raw !== '') {
        if (!/^application\/json/.test(req.headers['content-type'] ?? ''))
          this.violations.push({ route: `${method} ${route}`, problems: ['content-type: not application/json'] });
        try {
          body = parseLossless(raw) as Obj;
        } catch {
          return this.send(res, 400, { code: 4, message: 'Invalid value passed for JSONString' });
        }
      }
      const problems = violationsOf(`${method} ${route}`, body);
      if (problems.length > 0) this.violations.push({ route: `${method} ${route}`, problems });
    }
    let answer: { status: number; body: Obj | Buffer };
    try {
      answer = this.route(org, method, route, url.searchParams, body);
    } catch (err) {
      if (err instanceof ZohoRefusal) return this.send(res, err.status, { code: err.code, message: err.message });
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
      res.writeHead(200, {
        'content-type': 'application/pdf',
        'content-disposition': 'attachment; filename="invoice.pdf"',
      });
      res.end(answer.body);
      return;
    }
    this.send(res, answer.status, answer.body);
  }

  private route(
    org: Organisation,
    method: string,
    route: string,
    q: URLSearchParams,
    body: Obj,
  ): { status: number; body: Obj | Buffer } {
    const done = (message: string, more: Obj, status = 200) => ({ status, body: { code: 0, message, ...more } });
    const page = <T>(rows: T[], key: string, view: (x: T) => Obj) => {
      const per = Math.min(200, Number(q.get('per_page') ?? 200) || 200);
      const n = Math.max(1, Number(q.get('page') ?? 1) || 1);
      const slice = rows.slice((n - 1) * per, n * per);
      return done('success', {
        [key]: slice.map(view),
        page_context: { page: n, per_page: per, has_more_page: rows.length > n * per },
      });
    };
    // Zoho's list filters are loose (the reference filter matches a part): the connector matches exactly.
    const like = (value: string, wanted: string | null) =>
      wanted === null || value.toLowerCase().includes(wanted.toLowerCase());
    const customer = (id: string) => q.get('customer_id') === null || q.get('customer_id') === id;
    // Zoho's date filter and its variants: date (the day), date_start and date_end (from, up to,
    // inclusive), date_after and date_before (strictly after, strictly before).
    const dated = (date: string) => {
      const at = (k: string) => q.get(k);
      return (
        (at('date') === null || date === at('date')) &&
        (at('date_start') === null || date >= at('date_start')!) &&
        (at('date_end') === null || date <= at('date_end')!) &&
        (at('date_after') === null || date > at('date_after')!) &&
        (at('date_before') === null || date < at('date_before')!)
      );
    };
    for (const k of ['date', 'date_start', 'date_end', 'date_after', 'date_before'])
      if (q.get(k) !== null && !/^\d{4}-\d{2}-\d{2}$/.test(q.get(k)!))
        throw new ZohoRefusal(400, 2, `Invalid value passed for ${k}`);
    // `customer_id` names one contact: a list of them (or anything but an id) is refused, not read as none.
    if (q.get('customer_id') !== null && !/^\d+$/.test(q.get('customer_id')!))
      throw new ZohoRefusal(400, 2, 'Invalid value passed for customer_id');
    let m: RegExpExecArray | null;
    const key = `${method} ${route}`;

    if ((m = /^GET \/organizations\/(\d+)$/.exec(key))) {
      if (m[1] !== org.id) throw new ZohoRefusal(404, 1002, 'Organization does not exist.');
      return done('success', {
        organization: { organization_id: org.id, name: org.name, currency_code: org.currency },
      });
    }
    if (key === 'GET /organizations')
      return done('success', {
        organizations: [{ organization_id: org.id, name: org.name, currency_code: org.currency }],
      });
    if (key === 'GET /settings/taxes') return page(org.taxes, 'taxes', (t) => ({ ...t }));

    if (key === 'GET /contacts')
      return page(
        [...org.contacts.values()].filter(
          (c) =>
            q.get('contact_name') === null || c.contact_name.toLowerCase() === q.get('contact_name')!.toLowerCase(),
        ),
        'contacts',
        (c) => org.contactView(c),
      );
    if (key === 'POST /contacts')
      return done('The contact has been added.', { contact: org.contactView(org.upsertContact(null, body)) }, 201);
    if ((m = /^(GET|PUT) \/contacts\/(\d+)$/.exec(key))) {
      if (m[1] === 'PUT')
        return done('Contact has been updated.', { contact: org.contactView(org.upsertContact(m[2]!, body)) });
      const c = org.contacts.get(m[2]!);
      if (!c) throw new ZohoRefusal(404, 1002, 'Contact does not exist.');
      return done('success', { contact: org.contactView(c) });
    }

    if (key === 'GET /items')
      return page(
        [...org.items.values()].filter(
          (i) => q.get('name') === null || i.name.toLowerCase() === q.get('name')!.toLowerCase(),
        ),
        'items',
        (i) => org.itemView(i),
      );
    if (key === 'POST /items')
      return done('The item has been added.', { item: org.itemView(org.upsertItem(null, body)) }, 201);
    if ((m = /^PUT \/items\/(\d+)$/.exec(key)))
      return done('Item has been updated.', { item: org.itemView(org.upsertItem(m[1]!, body)) });

    if (key === 'GET /invoices')
      return page(
        [...org.invoices.values()].filter(
          (d) => like(d.reference_number, q.get('reference_number')) && customer(d.customer_id) && dated(d.date),
        ),
        'invoices',
        (d) => org.docView(d, 'invoice'),
      );
    if (key === 'POST /invoices')
      return done('The invoice has been created.', { invoice: org.docView(org.createInvoice(body), 'invoice') }, 201);
    if ((m = /^POST \/invoices\/(\d+)\/status\/sent$/.exec(key))) {
      org.markSent(m[1]!);
      return done('Invoice status has been changed to Sent.', {});
    }
    if ((m = /^GET \/invoices\/(\d+)$/.exec(key))) {
      const d = org.invoices.get(m[1]!);
      if (!d) throw new ZohoRefusal(404, 1002, 'Invoice does not exist.');
      const view = org.docView(d, 'invoice');
      if (q.get('accept') === 'pdf')
        return { status: 200, body: onePagePdf(`Invoice ${d.number} total ${String(view.total)} ${org.currency}`) };
      return done('success', { invoice: view });
    }

    if (key === 'GET /creditnotes')
      return page(
        [...org.creditNotes.values()].filter(
          (d) => like(d.reference_number, q.get('reference_number')) && customer(d.customer_id) && dated(d.date),
        ),
        'creditnotes',
        (d) => org.docView(d, 'creditnote'),
      );
    if (key === 'POST /creditnotes')
      return done(
        'Credit Note has been created.',
        { creditnote: org.docView(org.createCreditNote(body), 'creditnote') },
        201,
      );
    // Refunds of credit notes, the organisation's, or one customer's (`customer_id`); rows name no customer.
    if (key === 'GET /creditnotes/refunds')
      return page(
        org.creditNoteRefunds.filter((r) => customer(org.creditNotes.get(r.creditnote_id)!.customer_id)),
        'creditnote_refunds',
        (r) => org.creditNoteRefundView(r),
      );
    if ((m = /^GET \/creditnotes\/(\d+)$/.exec(key))) {
      const d = org.creditNotes.get(m[1]!);
      if (!d) throw new ZohoRefusal(404, 12004, 'Credit note does not exist.');
      return done('success', { creditnote: org.docView(d, 'creditnote') });
    }
    if ((m = /^(GET|POST) \/creditnotes\/(\d+)\/invoices$/.exec(key))) {
      if (m[1] === 'POST') {
        const applied = org.applyCredit(m[2]!, body);
        return done('Credits have been applied to the invoice(s).', {
          apply_to_invoices: {
            invoices: applied.map((c) => ({
              invoice_id: c.invoice_id,
              amount_applied: org.creditView(c).amount_applied,
            })),
          },
        });
      }
      if (!org.creditNotes.has(m[2]!)) throw new ZohoRefusal(404, 12004, 'Credit note does not exist.');
      return done('success', {
        invoices_credited: org.credits.filter((c) => c.creditnote_id === m![2]).map((c) => org.creditView(c)),
      });
    }

    if (key === 'GET /customerpayments')
      return page(
        [...org.payments.values()].filter(
          (p) => like(p.reference_number, q.get('reference_number')) && customer(p.customer_id) && dated(p.date),
        ),
        'customerpayments',
        (p) => org.paymentView(p),
      );
    if (key === 'POST /customerpayments')
      return done('The payment has been created.', { payment: org.paymentView(org.createPayment(body)) }, 201);
    if ((m = /^(GET|PUT) \/customerpayments\/(\d+)$/.exec(key))) {
      if (m[1] === 'PUT')
        return done('The payment has been updated.', { payment: org.paymentView(org.updatePayment(m[2]!, body)) });
      const p = org.payments.get(m[2]!);
      if (!p) throw new ZohoRefusal(404, 24001, 'Payment does not exist.');
      return done('success', { payment: org.paymentView(p) });
    }
    return refundRoute(org, key, body, () => String(++this.#nextId)) ?? fail404();
  }
}

function fail404(): never {
  throw new ZohoRefusal(404, 5, 'Invalid URL Passed');
}

/** Starts a simulated Zoho Books (and its Zoho Accounts) on 127.0.0.1. */
export function startZohoBooksSimulator(options: ZohoSimulatorOptions): Promise<ZohoBooksSimulator> {
  return new ZohoBooksSimulator(options).start();
}
