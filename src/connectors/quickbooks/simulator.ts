import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalServer } from '../../sync/local-server.ts';
import { existsSync } from 'node:fs';
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import type { OAuthSimulator } from '../../sync/remote/oauth-simulator.ts';
import {
  Books,
  type CompanySetup,
  str,
  ENTITY_TYPES,
  type Entity,
  type EntityType,
  Fault,
  WRITABLE,
  type WriteOptions,
} from './simulator-books.ts';
import { RealmLimiter, authBody, invoicePdf, readBody, seeded, throttleBody, validatorsFor } from './simulator-wire.ts';
import { QueryError, matches, parseQuery, fieldValue } from './simulator-query.ts';

export { Books, Fault } from './simulator-books.ts';
export type { CompanySetup, Entity, EntityType } from './simulator-books.ts';

/*
 * A local, stateful QuickBooks Online Accounting API v3 (node:http) for tests, benchmarks and the
 * demo: `/v3/company/{realmId}/…` with Customer, Item, Invoice, Payment (Line[].LinkedTxn to
 * invoices and credit memos, created or updated, never applying more than a transaction has open),
 * CreditMemo (Balance and RemainingCredit as payments apply it), RefundReceipt, Purchase (a
 * provider's fee), JournalEntry (a refund of a customer's credit: its A/R charge linked by a
 * Payment line; or keyed by hand, and voided by hand with `books().voidByHand`), TaxCode/TaxRate,
 * Account (`books().addAccount` adds one, a foreign A/R say), CompanyInfo and Preferences; an
 * invoice voided (`operation=void`: kept, its amounts zeroed, "Voided" in its PrivateNote); `query`,
 * `batch` (at most 30 items, each with its own Fault), `cdc`, the invoice PDF; `requestid` replay
 * (the same id answers the first answer again, per realm); SyncToken checks (5010 Stale Object
 * Error); `minorversion` 75 or later required; QuickBooks' error bodies. Its limits (500 calls a
 * minute and 10 a second per realm, 40 batch calls a minute) are enforced on a clock tests may
 * scale, answering 429 with QuickBooks' throttle body; faults are injected on demand (commit a write
 * and drop the connection, 5xx before committing), seeded so a failing test replays.
 *
 * Every entity written is validated against the official XSD types (../shared/specs/quickbooks,
 * turned into JSON Schema by src/sync/remote/xsd-json-schema.ts, every object closed), and a
 * violation is both refused (400 ValidationFault, as QuickBooks refuses an unknown property) and
 * recorded in `violations` for tests to assert on.
 */

export interface QuickBooksSimulatorOptions {
  /** Companies by realm id (default one US company, realm "9130350000000001"). */
  realms?: Record<string, CompanySetup>;
  /** Whether a bearer token is valid (default: the simulator's `accessToken`). */
  auth?: ((token: string, realmId: string) => boolean) | undefined;
  /**
   * An OAuth 2.0 server (src/sync/remote/oauth-simulator.ts) mounted at its paths: its access tokens
   * are the ones taken, for the realms their grant covers.
   */
  oauth?: OAuthSimulator | undefined;
  /** Extra routes mounted first: answers true when it handled the request. */
  mount?: ((req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> | boolean) | undefined;
  /** The root XSD (IntuitRestServiceDef.xsd); `null` skips validation. Default ../shared/specs/quickbooks from the repo root. */
  xsd?: string | null | undefined;
  limits?: Partial<SimulatorLimits> | undefined;
  seed?: number | undefined;
  /** Share of write requests (POST) committed and then answered by dropping the connection. */
  dropAfterCommitRate?: number | undefined;
  /** Share of write requests answered 503 before anything is committed. */
  failRate?: number | undefined;
  /** The oldest minorversion taken (default 75). */
  minMinorVersion?: number | undefined;
  /** Seconds QuickBooks asks to wait after a 429 (Retry-After); default from the window. */
  clock?: (() => Date) | undefined;
  host?: string | undefined;
  port?: number | undefined;
}

export interface SimulatorLimits {
  callsPerSecond: number;
  callsPerMinute: number;
  batchPerMinute: number;
  /** Length of a "second" and a "minute" in real ms: scaled down in tests. */
  secondMs: number;
  minuteMs: number;
  /** Items per batch request (QuickBooks: 30). */
  batchItems: number;
}

export interface SimulatorStats {
  calls: number;
  batchCalls: number;
  batchItems: number;
  writes: number;
  /** Most calls seen in one rolling second / minute of one realm, and batch calls in one minute. */
  maxPerSecond: number;
  maxPerMinute: number;
  maxBatchPerMinute: number;
  throttled: number;
  /** Which window refused: a second, a minute, or the batch budget. */
  throttledBy: { second: number; minute: number; batch: number };
  dropped: number;
  failed: number;
  replays: number;
  unauthorized: number;
}

export interface QuickBooksSimulator {
  url: string;
  /** The base URL a connector is configured with (no /v3). */
  baseUrl: string;
  accessToken: string;
  realmIds: string[];
  books(realmId?: string): Books;
  stats: SimulatorStats;
  /** Requests whose entity broke the XSD contract (empty when every request was valid). */
  violations: { path: string; entity: string; errors: string[] }[];
  /** Whether requests were checked against the XSD (false when ../shared is absent). */
  validating: boolean;
  log: { method: string; path: string; requestid: string | null; status: number | 'dropped'; bIds?: string[] }[];
  /**
   * The next `n` write requests commit and then drop the connection; with `when`, the next `n`
   * whose body it accepts (a batch that updates a Payment, say).
   */
  dropNext(n?: number, when?: (body: string) => boolean): void;
  /** The next `n` requests are answered with this status before anything happens. */
  failNext(status: number, n?: number): void;
  /** Every token is refused from now on (a revoked connection). */
  revoke(): void;
  /** Documents of one kind sharing a DocNumber / PaymentRefNum for one customer: empty when nothing was written twice. */
  duplicates(
    type: 'Invoice' | 'Payment' | 'CreditMemo' | 'RefundReceipt' | 'Purchase' | 'JournalEntry',
    realmId?: string,
  ): string[];
  close(): Promise<void>;
}

const DEFAULT_REALM = '9130350000000001';
const REPO_ROOT = new URL('../../../', import.meta.url).pathname;
/** Where the tests find the official XSDs: ../shared/specs/quickbooks beside the repository. */
export const DEFAULT_XSD = `${REPO_ROOT}../shared/specs/quickbooks/IntuitRestServiceDef.xsd`;

/** Path segment → entity type (`/invoice`, `/creditmemo`). */
const BY_PATH = new Map<string, EntityType>(ENTITY_TYPES.map((t) => [t.toLowerCase(), t]));

/** The customer a journal entry's lines name (a refund out of a customer's credit names one), or ''. */
function journalCustomer(e: Entity): string {
  const lines = (e.Line as { JournalEntryLineDetail?: { Entity?: { EntityRef?: { value?: string } } } }[]) ?? [];
  for (const l of lines) {
    const id = l.JournalEntryLineDetail?.Entity?.EntityRef?.value;
    if (id) return id;
  }
  return '';
}

/** Whether a batch body holds queries only (no entity written). */
function readsOnly(body: string): boolean {
  try {
    const items = (JSON.parse(body) as { BatchItemRequest?: unknown }).BatchItemRequest;
    return (
      Array.isArray(items) &&
      items.length > 0 &&
      items.every((i) => typeof i === 'object' && i !== null && typeof (i as { Query?: unknown }).Query === 'string')
    );
  } catch {
    return false;
  }
}

/** Starts a simulator on a free port. */
export async function startQuickBooksSimulator(options: QuickBooksSimulatorOptions = {}): Promise<QuickBooksSimulator> {
  const clock = options.clock ?? (() => new Date());
  const realms = new Map(
    Object.entries(options.realms ?? { [DEFAULT_REALM]: { country: 'US', currency: 'USD' } }).map(([id, setup]) => [
      id,
      new Books(id, setup, clock),
    ]),
  );
  const limits: SimulatorLimits = {
    callsPerSecond: 10,
    callsPerMinute: 500,
    batchPerMinute: 40,
    secondMs: 1000,
    minuteMs: 60_000,
    batchItems: 30,
    ...options.limits,
  };
  const xsd = options.xsd === undefined ? DEFAULT_XSD : options.xsd;
  const validating = xsd !== null && existsSync(xsd);
  const validators = validating ? validatorsFor(xsd) : null;
  const random = seeded(options.seed ?? 1);
  const minMinor = options.minMinorVersion ?? 75;
  const accessToken = `sim-qbo-${Math.floor(random() * 1e12).toString(36)}`;
  let revoked = false;
  const oauth = options.oauth;
  const auth =
    options.auth ??
    ((token: string, realmId: string) => {
      if (token === accessToken) return true;
      const grant = oauth?.validAccessToken(token);
      return Boolean(grant && grant.tenants.some((t) => t.tenantId === realmId));
    });
  const stats: SimulatorStats = {
    calls: 0,
    batchCalls: 0,
    batchItems: 0,
    writes: 0,
    maxPerSecond: 0,
    maxPerMinute: 0,
    maxBatchPerMinute: 0,
    throttled: 0,
    throttledBy: { second: 0, minute: 0, batch: 0 },
    dropped: 0,
    failed: 0,
    replays: 0,
    unauthorized: 0,
  };
  const violations: QuickBooksSimulator['violations'] = [];
  const log: QuickBooksSimulator['log'] = [];
  const replay = new Map<string, { status: number; body: string }>();
  let dropsLeft = 0;
  const targetedDrops: { left: number; when: (body: string) => boolean }[] = [];
  let failures: { status: number; left: number } = { status: 503, left: 0 };

  const now = () => clock().toISOString();
  const limiter = new RealmLimiter(limits, stats);
  const admit = (realm: string, batch: boolean) => limiter.admit(realm, batch);

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    const text = typeof body === 'string' ? body : stringifyLossless(body)!;
    res.writeHead(status, {
      'content-type': 'application/json;charset=UTF-8',
      intuit_tid: `sim-${Date.now()}`,
      ...headers,
    });
    res.end(text);
    return text;
  }

  const faultBody = (f: Fault) => ({ Fault: f.json(), time: now() });

  /** Checks an entity against its XSD type; a violation is refused like an unknown property. */
  function validate(path: string, type: EntityType, entity: unknown): void {
    const v = validators?.get(type);
    if (!v || v(entity)) return;
    const errors = (v.errors ?? []).map(
      (e) =>
        `${e.instancePath || '/'} ${e.message ?? ''}${e.params && 'additionalProperty' in e.params ? `: ${String(e.params.additionalProperty)}` : ''}`,
    );
    violations.push({ path, entity: type, errors });
    throw new Fault('ValidationFault', [
      {
        Message: 'Request has invalid or unsupported property',
        Detail: `Property Name:${errors[0] ?? ''} specified is unsupported or invalid`,
        code: '2010',
      },
    ]);
  }

  function write(
    books: Books,
    path: string,
    type: EntityType,
    operation: string,
    plain: unknown,
    exact: unknown,
    options: WriteOptions = {},
  ): Entity {
    if (!WRITABLE.has(type)) {
      throw new Fault('ValidationFault', [
        { Message: 'Unsupported Operation', Detail: `Operation ${operation} is not supported on ${type}`, code: '500' },
      ]);
    }
    validate(path, type, plain);
    stats.writes++;
    return books.write(type, operation, exact as Record<string, unknown>, options);
  }

  function query(books: Books, text: string): Record<string, unknown> {
    let q;
    try {
      q = parseQuery(text);
    } catch (err) {
      if (!(err instanceof QueryError)) throw err;
      throw new Fault('ValidationFault', [
        { Message: 'Error parsing query', Detail: `QueryParserError: ${err.message}`, code: '4000' },
      ]);
    }
    const type = ENTITY_TYPES.find((t) => t.toLowerCase() === q.entity.toLowerCase());
    if (!type)
      throw new Fault('ValidationFault', [
        { Message: 'Error parsing query', Detail: `QueryValidationError: Unknown entity ${q.entity}`, code: '4001' },
      ]);
    let rows = books.all(type).filter((e) => matches(e, q.where));
    if (q.count) return { totalCount: rows.length };
    if (q.orderBy) {
      const { field, desc } = q.orderBy;
      rows = [...rows].sort((a, b) => {
        const x = fieldValue(a, field) ?? '';
        const y = fieldValue(b, field) ?? '';
        const c = x === y ? 0 : x < y ? -1 : 1;
        return desc ? -c : c;
      });
    }
    const page = rows.slice(Math.max(0, q.start - 1), Math.max(0, q.start - 1) + q.max);
    return page.length === 0 ? {} : { [type]: page, startPosition: q.start, maxResults: page.length };
  }

  function batch(books: Books, path: string, plain: unknown, exact: unknown) {
    const items = (exact as { BatchItemRequest?: Record<string, unknown>[] }).BatchItemRequest;
    const plainItems = (plain as { BatchItemRequest?: Record<string, unknown>[] }).BatchItemRequest;
    if (!Array.isArray(items) || items.length === 0) {
      throw new Fault('ValidationFault', [
        {
          Message: 'Request has invalid or unsupported property',
          Detail: 'BatchItemRequest is required',
          code: '2010',
        },
      ]);
    }
    if (items.length > limits.batchItems) {
      throw new Fault('ValidationFault', [
        {
          Message: 'Request has invalid or unsupported property',
          Detail: `Batch request size exceeds the limit: ${items.length} items, at most ${limits.batchItems}`,
          code: '2010',
        },
      ]);
    }
    stats.batchItems += items.length;
    const seen = new Set<string>();
    const BatchItemResponse = items.map((item, n) => {
      const bId = str(item.bId);
      try {
        if (!bId || bId.length > 10 || seen.has(bId)) {
          throw new Fault('ValidationFault', [
            {
              Message: 'Invalid bId',
              Detail: `bId "${bId}" is missing, longer than 10 characters or repeated`,
              code: '2010',
            },
          ]);
        }
        seen.add(bId);
        if (typeof item.Query === 'string') return { bId, QueryResponse: query(books, item.Query) };
        const type = ENTITY_TYPES.find((t) => t in item);
        if (!type)
          throw new Fault('ValidationFault', [
            {
              Message: 'Request has invalid or unsupported property',
              Detail: 'no entity in the batch item',
              code: '2010',
            },
          ]);
        const operation = str(item.operation) || 'create';
        const e = write(books, path, type, operation, plainItems![n]![type], item[type]);
        return { bId, [type]: e };
      } catch (err) {
        if (err instanceof Fault) return { bId, Fault: err.json() };
        throw err;
      }
    });
    return { BatchItemResponse, time: now() };
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://simulator');
    if (oauth?.handle(req, res)) return;
    if (options.mount && (await options.mount(req, res, url))) return;
    const m = /^\/v3\/company\/([^/]+)\/(.+)$/.exec(url.pathname);
    const entry: QuickBooksSimulator['log'][number] = {
      method: req.method ?? 'GET',
      path: url.pathname,
      requestid: url.searchParams.get('requestid'),
      status: 0,
    };
    log.push(entry);
    const answer = (status: number, body: unknown, headers?: Record<string, string>) => {
      entry.status = status;
      return send(res, status, body, headers);
    };
    if (!m)
      return answer(404, {
        Fault: { Error: [{ Message: 'Not found', Detail: url.pathname, code: '404' }], type: 'SystemFault' },
      });
    const realmId = decodeURIComponent(m[1]!);
    const rest = m[2]!.toLowerCase();
    const body = req.method === 'POST' ? await readBody(req) : '';
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (revoked || !token || !auth(token, realmId)) {
      stats.unauthorized++;
      return answer(401, authBody(now()), { 'www-authenticate': 'Bearer realm="Intuit", error="invalid_token"' });
    }
    const books = realms.get(realmId);
    if (!books) {
      return answer(403, {
        Fault: {
          Error: [
            {
              Message: 'ApplicationAuthorizationFailed',
              Detail: `realm ${realmId} is not authorised for this token`,
              code: '003100',
            },
          ],
          type: 'AuthorizationFault',
        },
        time: now(),
      });
    }
    if (failures.left > 0) {
      failures.left--;
      stats.failed++;
      return answer(
        failures.status,
        failures.status === 429
          ? throttleBody(now())
          : {
              Fault: {
                Error: [{ Message: 'Service unavailable', Detail: 'injected failure', code: '10000' }],
                type: 'SystemFault',
              },
              time: now(),
            },
      );
    }
    const isBatch = rest === 'batch';
    const wait = admit(realmId, isBatch);
    if (wait !== null) {
      stats.throttled++;
      return answer(429, throttleBody(now()), { 'retry-after': String(Math.max(1, Math.ceil(wait / 1000))) });
    }
    stats.calls++;
    if (isBatch) stats.batchCalls++;
    const minor = Number(url.searchParams.get('minorversion') ?? '0');
    if (!(minor >= minMinor)) {
      return answer(
        400,
        faultBody(
          new Fault('ValidationFault', [
            {
              Message: 'Invalid minorversion',
              Detail: `minorversion ${url.searchParams.get('minorversion') ?? '(none)'} is not supported: use ${minMinor} or later`,
              code: '2010',
              element: 'minorversion',
            },
          ]),
        ),
      );
    }
    const requestid = url.searchParams.get('requestid');
    // A batch of queries only reads: it commits nothing, so it is neither replayed nor dropped after a commit.
    const isWrite = req.method === 'POST' && rest !== 'query' && !(isBatch && readsOnly(body));
    if (isWrite && requestid) {
      if (requestid.length > (isBatch ? 36 : 50)) {
        return answer(
          400,
          faultBody(
            new Fault('ValidationFault', [
              {
                Message: 'Invalid requestid',
                Detail: `requestid is longer than ${isBatch ? 36 : 50} characters`,
                code: '2010',
              },
            ]),
          ),
        );
      }
      const stored = replay.get(`${realmId}\u0000${requestid}`);
      if (stored) {
        stats.replays++;
        return answer(stored.status, stored.body);
      }
    }
    if (isWrite && random() < (options.failRate ?? 0)) {
      stats.failed++;
      return answer(503, {
        Fault: {
          Error: [{ Message: 'Service unavailable', Detail: 'try again later', code: '10000' }],
          type: 'SystemFault',
        },
        time: now(),
      });
    }
    const dropDraw = isWrite ? random() : 1;
    let status = 200;
    let out: unknown;
    try {
      out = route(books, req.method ?? 'GET', rest, url, body);
      if (out instanceof Buffer) {
        entry.status = 200;
        res.writeHead(200, { 'content-type': 'application/pdf' });
        res.end(out);
        return;
      }
    } catch (err) {
      if (!(err instanceof Fault)) throw err;
      status = 400;
      out = faultBody(err);
    }
    const text = stringifyLossless(out)!;
    if (isWrite && requestid) replay.set(`${realmId}\u0000${requestid}`, { status, body: text });
    const targeted = isWrite ? targetedDrops.find((d) => d.left > 0 && d.when(body)) : undefined;
    if (isWrite && (targeted || dropsLeft > 0 || dropDraw < (options.dropAfterCommitRate ?? 0))) {
      if (targeted) targeted.left--;
      else if (dropsLeft > 0) dropsLeft--;
      stats.dropped++;
      entry.status = 'dropped';
      req.socket.destroy();
      return;
    }
    return answer(status, text);
  }

  function route(books: Books, method: string, rest: string, url: URL, body: string): unknown {
    const parts = rest.split('/');
    const parse = () => {
      try {
        return { plain: JSON.parse(body) as unknown, exact: parseLossless(body) };
      } catch {
        throw new Fault('ValidationFault', [
          { Message: 'Request has invalid or unsupported property', Detail: 'The body is not JSON', code: '2010' },
        ]);
      }
    };
    if (parts[0] === 'query') {
      const text = method === 'POST' ? body : (url.searchParams.get('query') ?? '');
      return { QueryResponse: query(books, text), time: now() };
    }
    if (parts[0] === 'batch' && method === 'POST') {
      const { plain, exact } = parse();
      return batch(books, url.pathname, plain, exact);
    }
    if (parts[0] === 'cdc' && method === 'GET') {
      const since = url.searchParams.get('changedSince') ?? '';
      if (!/^\d{4}-\d{2}-\d{2}/.test(since))
        throw new Fault('ValidationFault', [
          { Message: 'Invalid changedSince', Detail: 'changedSince is required', code: '2010' },
        ]);
      const types = (url.searchParams.get('entities') ?? '')
        .split(',')
        .map((t) => ENTITY_TYPES.find((x) => x.toLowerCase() === t.trim().toLowerCase()));
      if (types.some((t) => !t))
        throw new Fault('ValidationFault', [
          { Message: 'Invalid entities', Detail: 'unknown entity in entities', code: '2010' },
        ]);
      const sinceTime = new Date(since).getTime();
      return {
        CDCResponse: [
          {
            QueryResponse: types.map((t) => {
              const rows = books
                .all(t!)
                .filter(
                  (e) => new Date((e.MetaData as { LastUpdatedTime: string }).LastUpdatedTime).getTime() >= sinceTime,
                );
              return rows.length === 0
                ? {}
                : { [t!]: rows.slice(0, 1000), startPosition: 1, maxResults: Math.min(rows.length, 1000) };
            }),
          },
        ],
        time: now(),
      };
    }
    if (parts[0] === 'preferences' && method === 'GET')
      return { Preferences: books.all('Preferences')[0], time: now() };
    if (parts[0] === 'companyinfo' && method === 'GET')
      return { CompanyInfo: books.all('CompanyInfo')[0], time: now() };
    const type = BY_PATH.get(parts[0]!);
    if (!type)
      throw new Fault('ValidationFault', [
        { Message: 'Unsupported Operation', Detail: `no resource ${parts[0]}`, code: '500' },
      ]);
    if (method === 'GET' && parts.length === 2) {
      const e = books.get(type, parts[1]!);
      if (!e)
        throw new Fault('ValidationFault', [
          { Message: 'Object Not Found', Detail: `Object Not Found : ${type} ${parts[1]}`, code: '610' },
        ]);
      return { [type]: e, time: now() };
    }
    if (method === 'GET' && parts.length === 3 && parts[2] === 'pdf' && type === 'Invoice') {
      const e = books.get(type, parts[1]!);
      if (!e)
        throw new Fault('ValidationFault', [
          { Message: 'Object Not Found', Detail: `Object Not Found : Invoice ${parts[1]}`, code: '610' },
        ]);
      return invoicePdf(e);
    }
    if (method === 'POST' && parts.length === 1) {
      const { plain, exact } = parse();
      const operation =
        url.searchParams.get('operation') ?? ((exact as { Id?: unknown }).Id !== undefined ? 'update' : 'create');
      // Intuit's documented way to supply a DocNumber the company's duplicate check would refuse.
      const include = (url.searchParams.get('include') ?? '').split(',').map((x) => x.trim().toLowerCase());
      const options = { allowDuplicateDocNumber: include.includes('allowduplicatedocnum') };
      return { [type]: write(books, url.pathname, type, operation, plain, exact, options), time: now() };
    }
    throw new Fault('ValidationFault', [
      { Message: 'Unsupported Operation', Detail: `${method} ${rest}`, code: '500' },
    ]);
  }

  const server = await startLocalServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        send(res, 500, {
          Fault: { Error: [{ Message: 'Internal error', Detail: String(err), code: '10000' }], type: 'SystemFault' },
        });
      else res.destroy();
    });
  }, options);
  server.server.keepAliveTimeout = 5000;
  const base = server.origin;

  return {
    url: base,
    baseUrl: base,
    accessToken,
    realmIds: [...realms.keys()],
    books: (realmId) => {
      const b = realms.get(realmId ?? [...realms.keys()][0]!);
      if (!b) throw new Error(`no realm ${realmId}`);
      return b;
    },
    stats,
    violations,
    validating,
    log,
    dropNext: (n = 1, when) => {
      if (when) targetedDrops.push({ left: n, when });
      else dropsLeft += n;
    },
    failNext: (status, n = 1) => {
      failures = { status, left: n };
    },
    revoke: () => {
      revoked = true;
    },
    duplicates: (type, realmId) => {
      const books = realms.get(realmId ?? [...realms.keys()][0]!)!;
      const key = type === 'Payment' ? 'PaymentRefNum' : 'DocNumber';
      const seen = new Map<string, number>();
      // A reference is unique per customer: two customers' documents may share one, and so may their
      // fees (a Purchase names its payment's customer in its memo) and refunds out of their credit (a
      // JournalEntry names the customer on its receivable line).
      const whose = (e: Entity) =>
        type === 'Purchase'
          ? (/^ledgerlink customer: (\S+)$/m.exec(typeof e.PrivateNote === 'string' ? e.PrivateNote : '')?.[1] ?? '')
          : type === 'JournalEntry'
            ? journalCustomer(e)
            : ((e.CustomerRef as { value?: string } | undefined)?.value ?? '');
      // A Payment of 0 that applies a credit memo carries no reference: not a duplicate of another.
      for (const e of books.all(type))
        if (typeof e[key] === 'string') {
          const k = whose(e) ? `${e[key]} (customer ${whose(e)})` : e[key];
          seen.set(k, (seen.get(k) ?? 0) + 1);
        }
      return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
    },
    close: () => server.close(),
  };
}
