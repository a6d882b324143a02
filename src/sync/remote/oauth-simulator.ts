import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OAuthTenant } from './contracts.ts';

/*
 * A stateful OAuth 2.0 authorization server (RFC 6749 authorization code grant, RFC 7636 PKCE)
 * behaving as Xero's and Intuit's do, for tests and the platform simulators, which mount it at
 * their authorize, token and revocation paths. It issues codes (the simulated user consents at
 * once, or refuses), exchanges them checking the client's HTTP Basic credentials, the
 * redirect_uri and the PKCE verifier, rotates the refresh token on every refresh and refuses a used
 * one with the platforms' `400 {"error":"invalid_grant"}`, can revoke a grant, and can commit a
 * refresh and then drop the connection without answering (fault injection). The resource server
 * asks `validAccessToken(token)`.
 */

export interface OAuthSimulatorOptions {
  clientId: string;
  clientSecret: string;
  /** The tenants consents cover at first (see `tenants`). Default one, `tenant-1`. */
  tenants?: OAuthTenant[] | undefined;
  /** Access-token lifetime in seconds (Xero 1800, QuickBooks 3600). Default 1800. */
  accessTokenSeconds?: number | undefined;
  /** Paths served; defaults `/authorize`, `/token`, `/revoke`. */
  paths?: { authorize?: string; token?: string; revoke?: string } | undefined;
  /** Name of a tenant id parameter added to the consent's redirect (QuickBooks: `realmId`). */
  callbackTenantParam?: string | undefined;
  /** Whether PKCE is required on every authorization request. Default false (checked when sent). */
  requirePkce?: boolean | undefined;
}

/** One consent: its tenants, current refresh token, access tokens issued. */
export interface SimulatedGrant {
  id: string;
  tenants: OAuthTenant[];
  scope: string;
  refreshToken: string;
  /** Refresh tokens this grant used to have: presenting one is refused (`invalid_grant`) after the grace period. */
  used: Set<string>;
  /** When each used refresh token was rotated away (ms since the epoch). */
  usedAt: Map<string, number>;
  revoked: boolean;
}

interface PendingCode {
  grant: SimulatedGrant;
  redirectUri: string;
  challenge: string | null;
  method: string | null;
  expiresAt: number;
}

/** What the token endpoint did with one request, for tests to wait on and count. */
export interface TokenEvent {
  grantType: string;
  status: number;
  /** The error token of a refusal (`invalid_grant`). */
  error?: string | undefined;
  grantId?: string | undefined;
  /** The connection was dropped after the refresh was committed: the client never saw the answer. */
  dropped?: boolean | undefined;
}

const token = (prefix: string) => `${prefix}_${randomBytes(24).toString('base64url')}`;

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** RFC 6749 §2.3.1 client credentials from `Authorization: Basic`, or null. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | null {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const at = text.indexOf(':');
  if (at < 0) return null;
  const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
  try {
    return { id: dec(text.slice(0, at)), secret: dec(text.slice(at + 1)) };
  } catch {
    return null;
  }
}

export class OAuthSimulator {
  readonly paths: { authorize: string; token: string; revoke: string };
  /** Every token-endpoint request, in order. */
  readonly events: TokenEvent[] = [];
  /** Refreshes to commit and then answer by dropping the connection (fault injection). */
  dropRefreshAnswers = 0;
  /** Statuses the next token requests are answered with, without doing anything (503, 429). */
  failNext: number[] = [];
  /** Delay before the token endpoint answers, in ms (to make concurrent refreshes overlap). */
  tokenDelayMs = 0;
  /**
   * How long a refresh token stays usable after it was rotated away, in ms. 0 (the default) is
   * strict rotation; Xero documents a grace period (30 minutes) for a client that lost the answer.
   */
  reuseGraceMs = 0;
  /** Whether the simulated user refuses the next consents (`error=access_denied`). */
  denyConsent = false;
  accessTokenSeconds: number;
  /** The tenants the next consents cover (Xero organisations, a QuickBooks company). */
  tenants: OAuthTenant[];
  readonly #grants = new Map<string, SimulatedGrant>();
  readonly #codes = new Map<string, PendingCode>();
  readonly #access = new Map<string, { grant: SimulatedGrant; expiresAt: number }>();
  readonly #listeners: ((e: TokenEvent) => void)[] = [];

  constructor(readonly options: OAuthSimulatorOptions) {
    this.paths = {
      authorize: options.paths?.authorize ?? '/authorize',
      token: options.paths?.token ?? '/token',
      revoke: options.paths?.revoke ?? '/revoke',
    };
    this.accessTokenSeconds = options.accessTokenSeconds ?? 1800;
    this.tenants = options.tenants ?? [{ tenantId: 'tenant-1', tenantName: 'Demo Company' }];
  }

  /** A consent given outside the flow (a refresh token pasted into the settings): its refresh token. */
  issueGrant(tenants: OAuthTenant[] = this.tenants): SimulatedGrant {
    const grant: SimulatedGrant = {
      id: token('grant'),
      tenants,
      scope: 'offline_access',
      refreshToken: token('rt'),
      used: new Set(),
      usedAt: new Map(),
      revoked: false,
    };
    this.#grants.set(grant.id, grant);
    return grant;
  }

  /** The grant holding this refresh token (current or used), if any. */
  grantOfRefreshToken(refreshToken: string): SimulatedGrant | null {
    for (const g of this.#grants.values()) if (g.refreshToken === refreshToken || g.used.has(refreshToken)) return g;
    return null;
  }

  /** The user disconnects the app: its refresh and access tokens stop working. */
  revoke(grant: SimulatedGrant | string): void {
    const g = typeof grant === 'string' ? this.grantOfRefreshToken(grant) : grant;
    if (g) g.revoked = true;
  }

  /** Whether a bearer token is valid now, and the grant (tenants) behind it. */
  validAccessToken(bearer: string): SimulatedGrant | null {
    const a = this.#access.get(bearer);
    if (!a || a.grant.revoked || a.expiresAt <= Date.now()) return null;
    return a.grant;
  }

  /** Expires every access token issued so far (the next call must refresh). */
  expireAccessTokens(): void {
    for (const a of this.#access.values()) a.expiresAt = 0;
  }

  /** Called after each token-endpoint request (after the answer is sent, or the connection dropped). */
  onToken(listener: (e: TokenEvent) => void): void {
    this.#listeners.push(listener);
  }

  /** Refresh-token grants answered with 200 (dropped ones included). */
  get refreshes(): number {
    return this.events.filter((e) => e.grantType === 'refresh_token' && e.status === 200).length;
  }

  /** Serves the request if it is for one of this server's paths; returns whether it did. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://simulator');
    if (req.method === 'GET' && url.pathname === this.paths.authorize) {
      this.#authorize(url.searchParams, res);
      return true;
    }
    if (req.method === 'POST' && url.pathname === this.paths.token) {
      void readBody(req).then((body) => this.#token(req, res, new URLSearchParams(body)));
      return true;
    }
    if (req.method === 'POST' && url.pathname === this.paths.revoke) {
      void readBody(req).then((body) => this.#revoke(req, res, body));
      return true;
    }
    return false;
  }

  #authorize(q: URLSearchParams, res: http.ServerResponse): void {
    const redirectUri = q.get('redirect_uri');
    if (q.get('client_id') !== this.options.clientId || !redirectUri)
      return json(res, 400, { error: 'invalid_request', error_description: 'unknown client_id or no redirect_uri' });
    const back = new URL(redirectUri);
    const state = q.get('state');
    if (state !== null) back.searchParams.set('state', state);
    const challenge = q.get('code_challenge');
    const method = q.get('code_challenge_method');
    const refuse = (error: string) => {
      back.searchParams.set('error', error);
      res.writeHead(302, { location: back.href }).end();
    };
    if (q.get('response_type') !== 'code') return refuse('unsupported_response_type');
    if ((this.options.requirePkce && !challenge) || (challenge && method !== 'S256')) return refuse('invalid_request');
    if (this.denyConsent) return refuse('access_denied');
    const grant = this.issueGrant();
    grant.scope = q.get('scope') ?? '';
    const code = token('code');
    this.#codes.set(code, { grant, redirectUri, challenge, method, expiresAt: Date.now() + 5 * 60_000 });
    back.searchParams.set('code', code);
    const param = this.options.callbackTenantParam;
    if (param && grant.tenants[0]) back.searchParams.set(param, grant.tenants[0].tenantId);
    res.writeHead(302, { location: back.href }).end();
  }

  #issue(grant: SimulatedGrant): Record<string, unknown> {
    const access = token('at');
    this.#access.set(access, { grant, expiresAt: Date.now() + this.accessTokenSeconds * 1000 });
    return {
      access_token: access,
      refresh_token: grant.refreshToken,
      expires_in: this.accessTokenSeconds,
      token_type: 'Bearer',
      scope: grant.scope,
    };
  }

  async #token(req: http.IncomingMessage, res: http.ServerResponse, form: URLSearchParams): Promise<void> {
    const grantType = form.get('grant_type') ?? '';
    const answer = (status: number, body: Record<string, unknown>, grant?: SimulatedGrant) => {
      const event: TokenEvent = { grantType, status, grantId: grant?.id };
      if (typeof body.error === 'string') event.error = body.error;
      this.events.push(event);
      if (status === 200 && grantType === 'refresh_token' && this.dropRefreshAnswers > 0) {
        this.dropRefreshAnswers--;
        event.dropped = true;
        req.socket.destroy();
      } else json(res, status, body);
      for (const l of this.#listeners) l(event);
    };
    if (this.tokenDelayMs) await new Promise((r) => setTimeout(r, this.tokenDelayMs));
    const failure = this.failNext.shift();
    if (failure !== undefined) return answer(failure, { error: failure === 429 ? 'rate_limited' : 'server_error' });
    const client = basicCredentials(req.headers.authorization);
    if (!client || client.id !== this.options.clientId || client.secret !== this.options.clientSecret)
      return answer(401, { error: 'invalid_client' });
    if (grantType === 'authorization_code') {
      const code = form.get('code') ?? '';
      const pending = this.#codes.get(code);
      this.#codes.delete(code); // single use, whatever the outcome
      if (!pending || pending.expiresAt <= Date.now() || pending.grant.revoked)
        return answer(400, { error: 'invalid_grant' });
      if (form.get('redirect_uri') !== pending.redirectUri) return answer(400, { error: 'invalid_grant' });
      if (pending.challenge !== null) {
        const verifier = form.get('code_verifier') ?? '';
        const computed = createHash('sha256').update(verifier).digest('base64url');
        if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || computed !== pending.challenge)
          return answer(400, { error: 'invalid_grant' });
      }
      return answer(200, this.#issue(pending.grant), pending.grant);
    }
    if (grantType === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const grant = this.grantOfRefreshToken(presented);
      const inGrace =
        grant !== null &&
        grant.refreshToken !== presented &&
        Date.now() - (grant.usedAt.get(presented) ?? -Infinity) < this.reuseGraceMs;
      if (!grant || grant.revoked || (grant.refreshToken !== presented && !inGrace))
        return answer(400, { error: 'invalid_grant' });
      // Rotation: the token presented is spent the moment it is answered.
      if (!grant.used.has(presented)) grant.usedAt.set(presented, Date.now());
      grant.used.add(presented);
      grant.used.add(grant.refreshToken);
      if (!grant.usedAt.has(grant.refreshToken)) grant.usedAt.set(grant.refreshToken, Date.now());
      grant.refreshToken = token('rt');
      return answer(200, this.#issue(grant), grant);
    }
    return answer(400, { error: 'unsupported_grant_type' });
  }

  #revoke(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const client = basicCredentials(req.headers.authorization);
    if (!client || client.id !== this.options.clientId || client.secret !== this.options.clientSecret)
      return json(res, 401, { error: 'invalid_client' });
    let presented: string | null = null;
    try {
      // Xero takes a form (`token=`), Intuit JSON (`{"token": ...}`).
      if (body.trimStart().startsWith('{')) {
        const t = (JSON.parse(body) as { token?: unknown }).token;
        presented = typeof t === 'string' ? t : null;
      } else presented = new URLSearchParams(body).get('token');
    } catch {
      presented = null;
    }
    if (!presented) return json(res, 400, { error: 'invalid_request' });
    const grant = this.grantOfRefreshToken(presented) ?? this.#access.get(presented)?.grant ?? null;
    if (grant) grant.revoked = true;
    res.writeHead(200).end();
  }
}

/** The simulator on its own HTTP server at 127.0.0.1 (for tests that need nothing else). */
export async function startOAuthSimulator(
  options: OAuthSimulatorOptions,
): Promise<{ sim: OAuthSimulator; url: string; close: () => Promise<void> }> {
  const sim = new OAuthSimulator(options);
  const server = http.createServer((req, res) => {
    if (!sim.handle(req, res)) json(res, 404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    sim,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
