import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalServer } from '../../sync/local-server.ts';
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { type Contract, checkBody, loadContract } from './simulator-contract.ts';
import {
  GUID,
  docView,
  glJournalLineView,
  glView,
  invoicePdf,
  journalLineView,
  lineView,
  parseFilter,
  passes,
} from './simulator-views.ts';
import { Company, type CompanySetup, ODataError, type Row, notFound, str } from './simulator-store.ts';

export { Company, ODataError } from './simulator-store.ts';
export type { CompanySetup, GlJournalLine, JournalLine, PostedPayment, SalesDoc } from './simulator-store.ts';

/*
 * A local, stateful Business Central API v2.0 (node:http) for tests: Microsoft Entra ID's token
 * endpoint (`/{tenant}/oauth2/v2.0/token`, client credentials, tokens that expire), and under
 * `/v2.0/{tenant}/{environment}/api/v2.0/companies({id})/`: customers, items, salesInvoices and
 * salesCreditMemos (deep insert of lines, `Microsoft.NAV.post`, pdfDocument), customer payment
 * journals and their customerPayments, `journals({id})/Microsoft.NAV.post`, generalLedgerEntries;
 * `$filter` as Business Central takes it (comparisons, `contains`, `and`, `or` on one field), and
 * server-driven paging (`@odata.nextLink`, 20,000 rows a page unless told). Errors in Business Central's OData format; its limit (6,000
 * requests in 5 minutes per service principal, on a clock tests may scale) answered with 429 and
 * no Retry-After. Every request body is checked against the API v2.0 AL pages
 * (../shared/specs/business-central/apiv2): a property the page lacks or keeps read-only is refused
 * (400) and recorded in `violations`. Faults on demand: commit a write and drop the connection
 * (`dropNext`, `dropAfterCommitRate`, seeded), answer a status before doing anything (`failNext`).
 */

export interface BusinessCentralSimulatorOptions {
  tenantId?: string;
  environment?: string;
  company?: Partial<CompanySetup>;
  client?: { clientId: string; clientSecret: string };
  /** Lifetime of an access token, in seconds (default 3599, as Entra gives). */
  accessTokenSeconds?: number;
  /** Requests per window per client (default 6,000 in 300,000 ms). */
  limit?: { requests: number; windowMs: number };
  seed?: number;
  /** Share of writes committed and then answered by dropping the connection. */
  dropAfterCommitRate?: number;
  /** AL pages directory; null skips contract checks. */
  contractDir?: string | null;
  clock?: () => number;
  /** Rows a collection answers at most before `@odata.nextLink` (Business Central's API pages: 20,000). */
  pageSize?: number;
}

export interface SimulatorStats {
  calls: number;
  writes: number;
  tokens: number;
  dropped: number;
  failed: number;
  throttled: number;
  unauthorized: number;
}

export interface BusinessCentralSimulator {
  /** The origin; a pipeline's baseUrl is `${url}/v2.0`. */
  url: string;
  baseUrl: string;
  tokenUrl: string;
  tenantId: string;
  environment: string;
  companyId: string;
  client: { clientId: string; clientSecret: string };
  company: Company;
  stats: SimulatorStats;
  violations: { path: string; errors: string[] }[];
  validating: boolean;
  log: { method: string; path: string; status: number | 'dropped' }[];
  /** The next `n` writes (those `when` accepts) commit and drop the connection. */
  dropNext(n?: number, when?: (method: string, path: string, body: string) => boolean): void;
  /** The next `n` requests are answered with this status and nothing happens. */
  failNext(status: number, n?: number): void;
  /** The next `n` requests are answered 200 with a body that is not JSON (a proxy's error page). */
  malformNext(n?: number): void;
  /** Every access token issued so far expires now. */
  expireTokens(): void;
  /**
   * References held twice: invoices, credit memos, payments (posted or waiting) and providers' fees
   * (general journal lines, posted or waiting, by the customer their description names), per
   * customer for payments and fees. Empty when nothing was written twice.
   */
  duplicates(): string[];
  close(): Promise<void>;
}

/** A bank account as APIV2 - Bank Accounts shows it (its G/L posting account is not on the page). */
const bankView = (b: { id: string; number: string; displayName: string; currencyCode: string }): Row => ({
  id: b.id,
  number: b.number,
  displayName: b.displayName,
  currencyCode: b.currencyCode,
  blocked: false,
});

/** The customer a fee line's description names, "(ledgerlink customer <id>)", or null. */
export function feeCustomer(description: string): string | null {
  return /\(ledgerlink customer ([0-9a-fA-F-]{36})\)/.exec(description)?.[1] ?? null;
}

function seeded(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Starts a simulator on a free port. */
export async function startBusinessCentralSimulator(
  options: BusinessCentralSimulatorOptions = {},
): Promise<BusinessCentralSimulator> {
  const clock = options.clock ?? Date.now;
  const tenantId = options.tenantId ?? 'contoso.onmicrosoft.com';
  const environment = options.environment ?? 'production';
  const client = options.client ?? {
    clientId: 'ledgerlink-app',
    clientSecret: `secret-${randomBytes(8).toString('hex')}`,
  };
  const company = new Company({
    currency: 'EUR',
    taxCodes: { VAT21: '21', VAT9: '9', VAT0: '0' },
    accounts: ['40100', '40200'],
    journals: ['LEDGERLINK'],
    ...options.company,
  });
  const contract: Contract | null = options.contractDir === null ? null : loadContract(options.contractDir);
  const random = seeded(options.seed ?? 1);
  const limit = options.limit ?? { requests: 6000, windowMs: 300_000 };
  const pageSize = options.pageSize ?? 20_000;
  const tokens = new Map<string, number>();
  const calls: number[] = [];
  const stats: SimulatorStats = {
    calls: 0,
    writes: 0,
    tokens: 0,
    dropped: 0,
    failed: 0,
    throttled: 0,
    unauthorized: 0,
  };
  const violations: BusinessCentralSimulator['violations'] = [];
  const log: BusinessCentralSimulator['log'] = [];
  const drops: { left: number; when?: ((method: string, path: string, body: string) => boolean) | undefined }[] = [];
  let failures = { status: 503, left: 0 };
  let malformed = 0;
  const root = `/v2.0/${tenantId}/${environment}/api/v2.0`;

  function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json; odata.metadata=minimal', ...headers });
    res.end(stringifyLossless(body));
  }

  /**
   * The collection answer: rows a `$filter` keeps, a page of them at most (server-driven paging:
   * the rest behind `@odata.nextLink`, the same query with a `$skiptoken`).
   */
  function collection(rows: Row[], url: URL) {
    const filter = url.searchParams.get('$filter');
    const conditions = filter ? parseFilter(filter) : [];
    const kept = rows.filter((r) => conditions.every(([field, terms]) => terms.some((t) => passes(str(r[field]), t))));
    const token = url.searchParams.get('$skiptoken');
    const from = token === null ? 0 : Number(/^p(\d+)$/.exec(token)?.[1] ?? Number.NaN);
    if (!Number.isInteger(from)) throw new ODataError(400, 'BadRequest', `The skip token '${token}' is not valid.`);
    const value = kept.slice(from, from + pageSize);
    if (from + pageSize >= kept.length) return { value };
    const next = new URL(url.href);
    next.searchParams.set('$skiptoken', `p${from + pageSize}`);
    return { value, '@odata.nextLink': next.href };
  }

  function validate(set: string, path: string, body: Record<string, unknown>) {
    if (!contract) return;
    const errors = checkBody(contract, set, body);
    if (errors.length === 0) return;
    violations.push({ path, errors });
    throw new ODataError(
      400,
      'BadRequest',
      `The property '${errors[0]!.split(':')[0]!.split('/').pop()}' cannot be set on type 'Microsoft.NAV.${set.replace(/s$/, '')}': ${errors[0]}`,
    );
  }

  /** Routes one request under companies({id}); answers [status, body]. */
  function route(method: string, segments: string[], url: URL, body: Record<string, unknown>): [number, unknown] {
    const seg = segments.map((s) => {
      const m = /^([A-Za-z.]+)(?:\(([^)]*)\))?$/.exec(s);
      if (!m) throw new ODataError(400, 'BadRequest_NotFound', `The request URI is not valid: ${s}`);
      return { name: m[1]!, key: m[2] };
    });
    const [a, b, c, d] = seg;
    if (!a)
      return [
        200,
        { id: company.id, name: company.setup.name ?? 'CRONUS', displayName: company.setup.name ?? 'CRONUS' },
      ];
    if (a.key !== undefined && !GUID.test(a.key))
      throw new ODataError(400, 'BadRequest_InvalidKey', `Invalid key ${a.key}`);
    switch (a.name) {
      case 'customers':
      case 'items': {
        const map = a.name === 'customers' ? company.customers : company.items;
        if (!a.key) {
          if (method === 'GET') return [200, collection([...map.values()], url)];
          if (method === 'POST') {
            validate(a.name, url.pathname, body);
            return [201, company.upsertNumbered(a.name, body)];
          }
        } else {
          if (method === 'GET') {
            const r = map.get(a.key);
            if (!r) throw notFound(a.name.slice(0, -1));
            return [200, r];
          }
          if (method === 'PATCH') {
            validate(a.name, url.pathname, body);
            return [200, company.upsertNumbered(a.name, body, a.key)];
          }
        }
        break;
      }
      case 'salesInvoices':
      case 'salesCreditMemos': {
        const set = a.name;
        if (!a.key) {
          if (method === 'GET') {
            // `$expand=salesInvoiceLines` (or salesCreditMemoLines): each document with its lines.
            const linesSet = set === 'salesInvoices' ? 'salesInvoiceLines' : 'salesCreditMemoLines';
            const expand = (url.searchParams.get('$expand') ?? '').split(',').filter(Boolean);
            if (expand.some((x) => x !== linesSet))
              throw new ODataError(400, 'BadRequest_NotFound', `Could not find a property named '${expand[0]}'.`);
            return [
              200,
              collection(
                [...company.docs.values()]
                  .filter((x) => x.set === set)
                  .map((d) => ({ ...docView(company, d), ...(expand.length ? { [linesSet]: lineView(d) } : {}) })),
                url,
              ),
            ];
          }
          if (method === 'POST') {
            validate(set, url.pathname, body);
            return [201, docView(company, company.createDoc(set, body))];
          }
          break;
        }
        const doc = company.docs.get(a.key);
        if (!doc || doc.set !== set) throw notFound(set.slice(0, -1));
        if (!b) {
          if (method === 'GET') return [200, docView(company, doc)];
          if (method === 'DELETE') {
            if (doc.status !== 'Draft')
              throw new ODataError(400, 'Application_DialogException', 'A posted document cannot be deleted.');
            company.docs.delete(doc.id);
            return [204, undefined];
          }
        } else if (b.name === 'Microsoft.NAV.post' && method === 'POST') {
          company.postDoc(doc.id, set);
          return [204, undefined];
        } else if (b.name === 'Microsoft.NAV.cancel' && method === 'POST' && set === 'salesInvoices') {
          company.cancelInvoice(doc.id);
          return [204, undefined];
        } else if ((b.name === 'salesInvoiceLines' || b.name === 'salesCreditMemoLines') && method === 'GET') {
          return [200, collection(lineView(doc), url)];
        } else if (b.name === 'pdfDocument' && method === 'GET' && doc.status !== 'Draft') {
          const link = `${url.origin}${url.pathname.replace(/\/pdfDocument.*$/, '')}/pdfDocument(${doc.id})/pdfDocumentContent`;
          if (!c)
            return [
              200,
              {
                id: doc.id,
                parentId: doc.id,
                parentType: set === 'salesInvoices' ? 'Sales Invoice' : 'Sales Credit Memo',
                'pdfDocumentContent@odata.mediaReadLink': link,
              },
            ];
          if (c.name === 'pdfDocumentContent') return [200, invoicePdf(doc, company.total(doc))];
        }
        break;
      }
      case 'customerPaymentJournals': {
        if (!a.key) {
          if (method === 'GET') return [200, collection([...company.journals.values()], url)];
          break;
        }
        const j = company.journals.get(a.key);
        if (!j) throw notFound('customerPaymentJournal');
        if (b?.name !== 'customerPayments') break;
        if (!b.key) {
          if (method === 'GET')
            return [
              200,
              collection(
                [...company.journalLines.values()]
                  .filter((l) => l.journalId === j.id)
                  .map((l) => journalLineView(company, l)),
                url,
              ),
            ];
          if (method === 'POST') {
            validate('customerPayments', url.pathname, body);
            return [201, journalLineView(company, company.addJournalLine(j.id, body))];
          }
          break;
        }
        const line = company.journalLines.get(b.key);
        if (!line || line.journalId !== j.id) throw notFound('customerPayment');
        if (method === 'GET') return [200, journalLineView(company, line)];
        if (method === 'DELETE') {
          company.journalLines.delete(line.id);
          return [204, undefined];
        }
        break;
      }
      case 'journals': {
        // journals({id}) finds any journal batch by its id, a customer payment journal's too.
        if (!a.key) break;
        if (!company.journals.has(a.key)) throw notFound('journal');
        if (b?.name === 'Microsoft.NAV.post' && method === 'POST') {
          company.postJournal(a.key);
          return [204, undefined];
        }
        if (b?.name !== 'journalLines') break;
        const jid = a.key;
        if (!b.key) {
          if (method === 'GET')
            return [
              200,
              collection(
                [...company.glJournalLines.values()]
                  .filter((l) => l.journalId === jid)
                  .map((l) => glJournalLineView(company, l)),
                url,
              ),
            ];
          if (method === 'POST') {
            validate('journalLines', url.pathname, body);
            return [201, glJournalLineView(company, company.addGlJournalLine(jid, body))];
          }
          break;
        }
        const line = company.glJournalLines.get(b.key);
        if (!line || line.journalId !== jid) throw notFound('journalLine');
        if (method === 'GET') return [200, glJournalLineView(company, line)];
        if (method === 'DELETE') {
          company.glJournalLines.delete(line.id);
          return [204, undefined];
        }
        break;
      }
      case 'accounts':
        if (!a.key && method === 'GET')
          return [
            200,
            collection(
              [...company.accounts.values()].map((x) => ({ ...x })),
              url,
            ),
          ];
        break;
      case 'bankAccounts':
        if (!a.key && method === 'GET') return [200, collection([...company.banks.values()].map(bankView), url)];
        break;
      case 'companyInformation':
        // One row: the company, its local currency (General Ledger Setup's LCY Code).
        if (!a.key && method === 'GET')
          return [
            200,
            collection(
              [
                {
                  id: company.id,
                  displayName: company.setup.name ?? 'CRONUS',
                  currencyCode: company.setup.currency,
                },
              ],
              url,
            ),
          ];
        break;
      case 'generalLedgerEntries':
        if (!a.key && method === 'GET') return [200, collection(company.glEntries.map(glView), url)];
        break;
    }
    void d;
    throw new ODataError(
      400,
      'BadRequest_MethodNotAllowed',
      `${method} is not allowed on ${url.pathname.split('/').slice(-2).join('/')}`,
    );
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  function token(req: IncomingMessage, res: ServerResponse, raw: string) {
    const form = new URLSearchParams(raw);
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [id, secret] = basic
      ? Buffer.from(basic, 'base64')
          .toString('utf8')
          .split(':')
          .map((s) => decodeURIComponent(s.replace(/\+/g, ' ')))
      : [form.get('client_id'), form.get('client_secret')];
    if (form.get('grant_type') !== 'client_credentials')
      return send(res, 400, { error: 'unsupported_grant_type', error_description: 'AADSTS70003' });
    if (id !== client.clientId || secret !== client.clientSecret)
      return send(res, 401, {
        error: 'invalid_client',
        error_description: 'AADSTS7000215: Invalid client secret provided.',
      });
    if (form.get('scope') !== 'https://api.businesscentral.dynamics.com/.default')
      return send(res, 400, { error: 'invalid_scope', error_description: 'AADSTS70011' });
    const seconds = options.accessTokenSeconds ?? 3599;
    const t = `bc-at-${randomBytes(12).toString('hex')}`;
    tokens.set(t, clock() + seconds * 1000);
    stats.tokens++;
    send(res, 200, { token_type: 'Bearer', expires_in: seconds, ext_expires_in: seconds, access_token: t });
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://simulator');
    url.host = req.headers.host ?? url.host;
    const raw = await readBody(req);
    if (req.method === 'POST' && url.pathname === `/${tenantId}/oauth2/v2.0/token`) return token(req, res, raw);
    const method = req.method ?? 'GET';
    stats.calls++;
    const entry: BusinessCentralSimulator['log'][number] = { method, path: url.pathname, status: 0 };
    log.push(entry);
    const answer = (status: number, body?: unknown, headers?: Record<string, string>) => {
      entry.status = status;
      send(res, status, body, headers);
    };
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const expires = tokens.get(bearer);
    if (expires === undefined || expires <= clock()) {
      stats.unauthorized++;
      return answer(
        401,
        {
          error: {
            code: 'Authentication_InvalidCredentials',
            message: 'The server has rejected the client credentials.',
          },
        },
        { 'www-authenticate': 'Bearer realm=""' },
      );
    }
    // 6,000 requests in a sliding 5 minutes, then 429 without Retry-After.
    const now = clock();
    while (calls.length > 0 && calls[0]! <= now - limit.windowMs) calls.shift();
    if (calls.length >= limit.requests) {
      stats.throttled++;
      return answer(429, {
        error: {
          code: 'Application_TooManyRequests',
          message: `Too many requests reached. Actual (${calls.length + 1}). Maximum (${limit.requests}).`,
        },
      });
    }
    calls.push(now);
    if (failures.left > 0) {
      failures.left--;
      stats.failed++;
      const code =
        failures.status >= 500
          ? 'Internal_ServerError'
          : failures.status === 408
            ? 'Internal_RequestTimeout'
            : 'Application_TooManyRequests';
      return answer(failures.status, { error: { code, message: 'Something went wrong.' } });
    }
    if (malformed > 0) {
      malformed--;
      entry.status = 200;
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Service is temporarily unavailable</body></html>');
      return;
    }
    const prefix = `${root}/companies(${company.id})`;
    if (!url.pathname.startsWith(prefix))
      return answer(404, { error: { code: 'BadRequest_NotFound', message: 'The company does not exist.' } });
    const rest = url.pathname.slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent);
    const write = method !== 'GET';
    let body: Record<string, unknown> = {};
    if (write && raw.trim() !== '') {
      try {
        body = parseLossless(raw, undefined, (v) => v.toString()) as Record<string, unknown>;
      } catch {
        return answer(400, {
          error: { code: 'BadRequest_InvalidRequestBody', message: 'The request body is not valid JSON.' },
        });
      }
    }
    if ((method === 'PATCH' || method === 'DELETE') && !req.headers['if-match'])
      return answer(400, {
        error: { code: 'BadRequest', message: 'Could not save the changes: the If-Match header is missing.' },
      });
    let status: number;
    let out: unknown;
    try {
      [status, out] = route(method, rest, url, body);
    } catch (err) {
      if (!(err instanceof ODataError)) throw err;
      return answer(err.status, err.json());
    }
    if (write) {
      stats.writes++;
      const targeted = drops.find((d) => d.left > 0 && (!d.when || d.when(method, url.pathname, raw)));
      if (targeted || random() < (options.dropAfterCommitRate ?? 0)) {
        if (targeted) targeted.left--;
        stats.dropped++;
        entry.status = 'dropped';
        req.socket.destroy();
        return;
      }
    }
    if (Buffer.isBuffer(out)) {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'application/pdf' });
      res.end(out);
      return;
    }
    answer(status, out);
  }

  const server = await startLocalServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: { code: 'Internal_ServerError', message: String(err) } });
      else res.destroy();
    });
  });
  const origin = server.origin;

  return {
    url: origin,
    baseUrl: `${origin}/v2.0`,
    tokenUrl: `${origin}/${tenantId}/oauth2/v2.0/token`,
    tenantId,
    environment,
    companyId: company.id,
    client,
    company,
    stats,
    violations,
    validating: contract !== null,
    log,
    dropNext: (n = 1, when) => drops.push({ left: n, when }),
    failNext: (status, n = 1) => {
      failures = { status, left: n };
    },
    malformNext: (n = 1) => {
      malformed = n;
    },
    expireTokens: () => {
      for (const k of tokens.keys()) tokens.set(k, 0);
    },
    duplicates() {
      const out: string[] = [];
      const seen = (kind: string, refs: string[]) => {
        const count = new Map<string, number>();
        for (const r of refs) if (r) count.set(r, (count.get(r) ?? 0) + 1);
        for (const [r, n] of count) if (n > 1) out.push(`${kind} ${r} ×${n}`);
      };
      // A reference is unique per customer: two customers' invoices, credit memos and payments may
      // share one (a payment each with its own fee). Business Central refuses no second sales
      // document under an External Document No.: it checks duplicates only of a vendor's, on purchases.
      const ofCustomer = (ref: string, customerId: string | null) =>
        ref
          ? `${ref} (customer ${customerId === null ? '?' : str(company.customers.get(customerId)?.number, customerId)})`
          : '';
      for (const set of ['salesInvoices', 'salesCreditMemos'] as const)
        seen(
          set,
          [...company.docs.values()]
            .filter((d) => d.set === set)
            .map((d) => ofCustomer(d.externalDocumentNumber, d.customerId)),
        );
      seen('customerPayments', [
        ...company.payments.map((p) => ofCustomer(p.externalDocumentNumber, p.customerId)),
        ...[...company.journalLines.values()].map((l) => ofCustomer(l.externalDocumentNumber, l.customerId)),
      ]);
      seen(
        'fees',
        [...company.postedGlLines, ...company.glJournalLines.values()].map((l) =>
          ofCustomer(l.externalDocumentNumber, feeCustomer(l.description)),
        ),
      );
      return out;
    },
    close: () => server.close(),
  };
}
