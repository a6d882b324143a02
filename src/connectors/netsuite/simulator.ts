import {
  type KeyObject,
  constants,
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  verify,
} from 'node:crypto';
import type http from 'node:http';
import { type LocalServer, readBody, startLocalServer } from '../../sync/local-server.ts';
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { verifyOptions } from './assertion.ts';
import { ALGORITHMS, type Algorithm } from './settings.ts';
import { type AccountOptions, Account, NsRefusal } from './simulator-store.ts';
import { tokenViolations, violationsOf } from './simulator-contract.ts';
import { route, suiteql } from './simulator-routes.ts';
import { seeded } from '../../sync/seeded.ts';

/*
 * A local NetSuite for tests: the OAuth 2.0 token endpoint of the client credentials flow (a JWT
 * client assertion verified against the certificate mapped for the integration, access tokens of
 * `accessTokenSeconds`, `invalid_grant` once the mapping is revoked), the REST record service
 * under /services/rest/record/v1 for one account and the SuiteQL queries the target asks
 * (/services/rest/query/v1/suiteql: the chart of accounts, documents by internal id, fees by
 * external id) (Bearer tokens, or requests signed with
 * token-based authentication when `tba` pairs are given; 401 INVALID_LOGIN otherwise),
 * the account's concurrency limit answered with 429 in NetSuite's error body, and faults on
 * demand: a write committed and its answer lost (`dropNext`, `dropAfterCommitRate`), a status
 * answered before anything is done (`failNext`, `failRate`). `duplicates()` lists external ids
 * held twice; `violations` the requests that broke the contract (simulator-contract.ts).
 */

export interface NetSuiteSimulatorOptions extends AccountOptions {
  accountId: string;
  /** Integrations with the certificate mapped for each (OAuth 2.0 Client Credentials (M2M) Setup). */
  clients: { clientId: string; certificateId: string; publicKey: string | KeyObject }[];
  /** Token-based authentication: consumer (integration) and token (user, role) pairs that may sign requests. */
  tba?: { consumerKey: string; consumerSecret: string; tokenId: string; tokenSecret: string }[] | undefined;
  /** Access-token lifetime in seconds (NetSuite: 3600). */
  accessTokenSeconds?: number | undefined;
  /** Calls an access token is good for before it is refused as expired: expiry in tests, whatever the clock. */
  accessTokenUses?: number | undefined;
  /** Requests in flight at once before 429 (the account's concurrency limit). */
  concurrency?: number | undefined;
  /** How long each request takes, so that requests overlap. */
  latencyMs?: number | undefined;
  seed?: number | undefined;
  dropAfterCommitRate?: number | undefined;
  failRate?: number | undefined;
}

type Obj = Record<string, unknown>;

export interface SimulatedRequest {
  method: string;
  /** Under /services/rest/record/v1 (or /query/v1/suiteql for SuiteQL), without the query. */
  route: string;
  query: URLSearchParams;
  body: string;
}

/**
 * Whether a request writes a record of the type by its external id: an upsert (PUT
 * `/{type}/eid:…`) or a creation (POST `/{type}`, the external id in the body); with `externalId`,
 * that record's only. For faults and counts that must not care which of the two the target sends.
 */
export function writes(r: SimulatedRequest, type: string, externalId?: string): boolean {
  if (r.method === 'PUT' && r.route.startsWith(`/${type}/eid:`))
    return externalId === undefined || decodeURIComponent(r.route.slice(type.length + 6)) === externalId;
  if (r.method !== 'POST' || r.route !== `/${type}`) return false;
  if (externalId === undefined) return true;
  try {
    return (JSON.parse(r.body) as { externalId?: unknown }).externalId === externalId;
  } catch {
    return false;
  }
}

/** A key pair as a certificate mapped in NetSuite would hold (RSA 2048 for PS*, P-256 for ES256). */
export function testKeyPair(kind: 'rsa' | 'ec' = 'rsa'): { privateKey: string; publicKey: string } {
  const pair =
    kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

/** NetSuite's error body ("Error Handling in REST Web Services"). */
export function errorBody(status: number, code: string, detail: string): Obj {
  return {
    type: `https://www.rfc-editor.org/rfc/rfc9110.html#section-15.${status >= 500 ? 6 : 5}.${status === 429 ? 29 : 1}`,
    title: TITLES[status] ?? 'Error',
    status,
    'o:errorDetails': [{ detail, 'o:errorCode': code }],
  };
}

const decodePart = (s: string): Obj | null => {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null;
  } catch {
    return null;
  }
};

export class NetSuiteSimulator {
  url = '';
  readonly account: Account;
  readonly violations: { route: string; problems: string[] }[] = [];
  readonly requests: SimulatedRequest[] = [];
  readonly stats = { calls: 0, writes: 0, dropped: 0, rateRefused: 0, tokens: 0, maxInFlight: 0 };
  readonly #clients = new Map<string, { certificateId: string; key: KeyObject; revoked: boolean }>();
  readonly #access = new Map<string, number>();
  readonly #uses = new Map<string, number>();
  readonly #revokedTokens = new Set<string>();
  readonly #nonces = new Set<string>();
  #inFlight = 0;
  #drops: { n: number; when: (r: SimulatedRequest) => boolean }[] = [];
  #fails: number[] = [];
  #outages: { when: (r: SimulatedRequest) => boolean; status: number }[] = [];
  #nextId = 1000;
  readonly #random: () => number;
  #server: LocalServer | null = null;

  constructor(readonly options: NetSuiteSimulatorOptions) {
    this.#random = seeded(options.seed ?? 1);
    this.account = new Account(options.accountId, () => String(++this.#nextId), options);
    for (const c of options.clients)
      this.#clients.set(c.clientId, {
        certificateId: c.certificateId,
        key: typeof c.publicKey === 'string' ? createPublicKey(c.publicKey) : c.publicKey,
        revoked: false,
      });
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

  /** `baseUrl` of the target (the account's /services/rest) and its token endpoint (`tokenUrl`). */
  get baseUrl(): string {
    return `${this.url}/services/rest`;
  }
  get tokenUrl(): string {
    return `${this.baseUrl}/auth/oauth2/v1/token`;
  }

  /** The administrator revoked the integration's certificate mapping: no token is granted, and the ones granted are refused. */
  revoke(clientId: string): void {
    const c = this.#clients.get(clientId);
    if (c) c.revoked = true;
    this.#access.clear();
  }

  /** A token of token-based authentication revoked (Setup → Users/Roles → Access Tokens). */
  revokeToken(tokenId: string): void {
    this.#revokedTokens.add(tokenId);
  }

  /** Every access token expires now (the next call is answered 401 and the client asks for a new one). */
  expireAccessTokens(): void {
    for (const k of this.#access.keys()) this.#access.set(k, 0);
  }

  /** The next `n` writes matching `when` are committed, then their connection dropped without an answer. */
  dropNext(n: number, when: (r: SimulatedRequest) => boolean = () => true): void {
    this.#drops.push({ n, when });
  }

  /** The next requests are answered with these statuses (429, 500) before anything is done. */
  failNext(...statuses: number[]): void {
    this.#fails.push(...statuses);
  }

  /**
   * An outage of some requests: every one matching `when` is answered `status` before anything is
   * done, until the function returned is called.
   */
  failWhile(when: (r: SimulatedRequest) => boolean, status = 503): () => void {
    const outage = { when, status };
    this.#outages.push(outage);
    return () => {
      this.#outages = this.#outages.filter((o) => o !== outage);
    };
  }

  /** External ids held twice within a record type (there must be none). */
  duplicates(): string[] {
    const out: string[] = [];
    const a = this.account;
    const groups: [string, string[]][] = [
      ['customer', [...a.customers.values()].map((c) => c.externalId)],
      ['item', [...a.items.values()].map((i) => i.externalId)],
      ['invoice', a.invoices().map((t) => t.externalId)],
      ['creditMemo', a.creditMemos().map((t) => t.externalId)],
      ['customerPayment', [...a.payments.values()].map((p) => p.externalId)],
      ['customerRefund', [...a.refunds.values()].map((r) => r.externalId)],
      ['journalEntry', [...a.journals.values()].map((j) => j.externalId)],
    ];
    for (const [what, ids] of groups) {
      const seen = new Set<string>();
      for (const id of ids) {
        if (id === '') continue;
        if (seen.has(id)) out.push(`${what} ${id}`);
        seen.add(id);
      }
    }
    return out;
  }

  private send(res: http.ServerResponse, status: number, body: Obj | null, headers: Record<string, string> = {}): void {
    if (body === null) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/vnd.oracle.resource+json; type=singular', ...headers });
    res.end(stringifyLossless(body));
  }

  private token(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    const form = new URLSearchParams(raw);
    const parts = (form.get('client_assertion') ?? '').split('.');
    const header = parts.length === 3 ? decodePart(parts[0]!) : null;
    const payload = parts.length === 3 ? decodePart(parts[1]!) : null;
    const jwt = header && payload ? { header, payload } : null;
    // The audience is the token endpoint as the client addressed it: behind a proxy (the fault
    // proxy of the conformance suite), the proxy's address, which the Host header carries.
    const addressed = req.headers.host ? `http://${req.headers.host}${req.url ?? ''}`.split('?')[0]! : this.tokenUrl;
    const problems = tokenViolations(form, req.headers.authorization, jwt, addressed);
    if (problems.length > 0) this.violations.push({ route: 'POST token', problems });
    const refuse = (status: number, error: string) => this.send(res, status, { error });
    if (!jwt || form.get('grant_type') !== 'client_credentials') return refuse(400, 'invalid_request');
    const client = this.#clients.get(String(jwt.payload.iss));
    const alg = String(jwt.header.alg) as Algorithm;
    if (!client || !ALGORITHMS.includes(alg) || jwt.header.kid !== client.certificateId)
      return refuse(401, 'invalid_client');
    const o = verifyOptions(alg);
    const signed = verify(
      o.hash,
      Buffer.from(`${parts[0]}.${parts[1]}`),
      o.pss
        ? { key: client.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: o.saltLength! }
        : { key: client.key, dsaEncoding: 'ieee-p1363' },
      Buffer.from(parts[2]!, 'base64url'),
    );
    if (!signed) return refuse(401, 'invalid_client');
    if (Number(jwt.payload.exp) * 1000 < Date.now()) return refuse(400, 'invalid_grant');
    if (client.revoked) return refuse(400, 'invalid_grant');
    this.stats.tokens++;
    const seconds = this.options.accessTokenSeconds ?? 3600;
    const access = `eyJ${randomBytes(24).toString('base64url')}.${randomBytes(24).toString('base64url')}`;
    this.#access.set(access, Date.now() + seconds * 1000);
    if (this.options.accessTokenUses !== undefined) this.#uses.set(access, this.options.accessTokenUses);
    this.send(res, 200, { access_token: access, expires_in: String(seconds), token_type: 'bearer' });
  }

  /** Checks an OAuth 1.0a signature as NetSuite would, recomputing it from the request (RFC 5849 §3.4). */
  private tbaValid(method: string, href: string, header: string): boolean {
    const fields = new Map<string, string>();
    for (const m of header.slice(6).matchAll(/([a-z_]+)="([^"]*)"/g)) fields.set(m[1]!, decodeURIComponent(m[2]!));
    const enc = (x: string) =>
      encodeURIComponent(x).replace(/[!'()*]/g, (ch) => '%' + ch.charCodeAt(0).toString(16).toUpperCase());
    const pair = (this.options.tba ?? []).find(
      (t) => t.consumerKey === fields.get('oauth_consumer_key') && t.tokenId === fields.get('oauth_token'),
    );
    const problems: string[] = [];
    if (fields.get('realm') !== this.options.accountId.toUpperCase()) problems.push('realm: not the account id');
    if (fields.get('oauth_signature_method') !== 'HMAC-SHA256')
      problems.push('oauth_signature_method: not HMAC-SHA256');
    if (fields.get('oauth_version') !== '1.0') problems.push('oauth_version: not 1.0');
    const nonce = fields.get('oauth_nonce') ?? '';
    if (nonce.length < 6 || this.#nonces.has(nonce)) problems.push('oauth_nonce: missing or used before');
    if (Math.abs(Number(fields.get('oauth_timestamp')) * 1000 - Date.now()) > 300_000)
      problems.push('oauth_timestamp: not within 5 minutes');
    if (problems.length > 0) this.violations.push({ route: 'TBA', problems });
    if (!pair || this.#revokedTokens.has(pair.tokenId) || problems.length > 0) return false;
    this.#nonces.add(nonce);
    const url = new URL(href);
    const params = [...url.searchParams, ...[...fields].filter(([k]) => k !== 'realm' && k !== 'oauth_signature')]
      .map(([k, v]) => `${enc(k)}=${enc(v)}`)
      .sort();
    const base = `${method}&${enc(`${url.origin}${url.pathname}`)}&${enc(params.join('&'))}`;
    const key = `${enc(pair.consumerSecret)}&${enc(pair.tokenSecret)}`;
    return createHmac('sha256', key).update(base).digest('base64') === fields.get('oauth_signature');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const method = req.method ?? 'GET';
    if (url.pathname === '/services/rest/auth/oauth2/v1/token' && method === 'POST') return this.token(req, res, raw);
    const prefix = '/services/rest/record/v1';
    const query = url.pathname === `/services/rest${SUITEQL}`;
    if (!url.pathname.startsWith(`${prefix}/`) && !query)
      return this.send(res, 404, errorBody(404, 'INVALID_URL', 'The requested URL is not valid.'));
    const r: SimulatedRequest = {
      method,
      route: query ? SUITEQL : url.pathname.slice(prefix.length),
      query: url.searchParams,
      body: raw,
    };
    this.requests.push(r);
    this.stats.calls++;
    const header = req.headers.authorization ?? '';
    const auth = /^Bearer (\S+)$/.exec(header);
    const left = auth ? this.#uses.get(auth[1]!) : undefined;
    if (left !== undefined) this.#uses.set(auth![1]!, left - 1);
    const expires = auth && left !== 0 ? this.#access.get(auth[1]!) : undefined;
    const signed = header.startsWith('OAuth ') && this.tbaValid(method, `${this.url}${req.url ?? '/'}`, header);
    if (!signed && (expires === undefined || expires < Date.now()))
      return this.send(
        res,
        401,
        errorBody(
          401,
          'INVALID_LOGIN',
          'Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.',
        ),
      );
    this.#inFlight++;
    try {
      this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.#inFlight);
      if (this.#inFlight > (this.options.concurrency ?? 5)) {
        this.stats.rateRefused++;
        return this.send(
          res,
          429,
          errorBody(429, 'CONCURRENCY_LIMIT_EXCEEDED', 'Concurrent request limit exceeded. Request blocked.'),
        );
      }
      if (this.options.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.options.latencyMs));
      const fail =
        this.#outages.find((o) => o.when(r))?.status ??
        this.#fails.shift() ??
        (this.#random() < (this.options.failRate ?? 0) ? 500 : undefined);
      if (fail === 429) {
        this.stats.rateRefused++;
        return this.send(
          res,
          429,
          errorBody(429, 'CONCURRENCY_LIMIT_EXCEEDED', 'Concurrent request limit exceeded. Request blocked.'),
        );
      }
      if (fail) return this.send(res, fail, errorBody(fail, 'UNEXPECTED_ERROR', 'An unexpected error occurred.'));
      this.serve(req, res, r, method, raw);
    } finally {
      this.#inFlight--;
    }
  }

  private serve(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    r: SimulatedRequest,
    method: string,
    raw: string,
  ): void {
    const query = r.route === SUITEQL;
    const write = method !== 'GET' && !query;
    let body: Obj = {};
    if (query && method !== 'POST')
      return this.send(res, 405, errorBody(400, 'INVALID_METHOD', 'SuiteQL takes POST only.'));
    if (query && !/\btransient\b/i.test(String(req.headers.prefer ?? '')))
      this.violations.push({ route: `POST ${r.route}`, problems: ['Prefer: transient missing'] });
    if (write || query) {
      if (write) this.stats.writes++;
      if (!/^application\/json/.test(req.headers['content-type'] ?? ''))
        this.violations.push({ route: `${method} ${r.route}`, problems: ['content-type: not application/json'] });
      try {
        body = parseLossless(raw) as Obj;
      } catch {
        return this.send(res, 400, errorBody(400, 'INVALID_CONTENT', 'The request body is not valid JSON.'));
      }
      const shape = `${method} ${r.route.replace(/\/eid:.*$/, '/eid:x')}`;
      const problems = violationsOf(shape, body, r.query.get('replace'));
      if (problems.length > 0) this.violations.push({ route: `${method} ${r.route}`, problems });
    }
    let answer: { status: number; body: Obj | null; location?: string };
    try {
      answer = query
        ? { status: 200, body: suiteql(this.account, r.query, body) }
        : route(this.account, method, r.route, r.query, body, `${this.baseUrl}/record/v1`);
    } catch (err) {
      if (err instanceof NsRefusal) return this.send(res, err.status, errorBody(err.status, err.code, err.message));
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
    this.send(res, answer.status, answer.body, answer.location ? { location: answer.location } : {});
  }
}

const SUITEQL = '/query/v1/suiteql';

/** Starts a simulated NetSuite account (and its token endpoint) on 127.0.0.1. */
export function startNetSuiteSimulator(options: NetSuiteSimulatorOptions): Promise<NetSuiteSimulator> {
  return new NetSuiteSimulator(options).start();
}
