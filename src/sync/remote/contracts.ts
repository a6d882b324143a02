import type { Logger } from 'pino';
import type { GuardOptions } from '../http.ts';

/*
 * The parts every remote target (Xero, QuickBooks Online, and the platforms after them) shares,
 * as contracts: a rate planner whose budget lives in PostgreSQL (src/sync/remote/rate-planner.ts),
 * one resilient HTTP client (src/sync/remote/client.ts), and OAuth 2.0 connections whose tokens
 * are sealed at rest (src/sync/remote/oauth.ts). A connector composes them in its target factory;
 * the engine knows none of them.
 */

/** Whether a call reads or writes: part of the daily quota is kept for writes. */
export type CallKind = 'read' | 'write';

/**
 * A platform's published limits for one scope (a tenant, a company, an app across tenants), as
 * data beside its connector and overridable in a pipeline's `target.limits`. Every limit is a
 * rolling window: no second, minute or day ever holds more calls than it allows.
 */
export interface RateLimits {
  callsPerSecond?: number | undefined;
  callsPerMinute?: number | undefined;
  callsPerDay?: number | undefined;
  /** Calls in flight at once, across every worker. */
  concurrent?: number | undefined;
  /** The share of `callsPerDay` reads may not use, kept for writes (0 to 1; default 0.2). */
  writeReserve?: number | undefined;
}

/** One budget: `xero:tenant:<id>`, `xero:app:<clientId>`, `quickbooks:realm:<id>`. */
export interface RateScope {
  key: string;
  limits: RateLimits;
}

/** A granted call: its concurrency slot is held until `release`, which must always be called. */
export interface RatePermit {
  release(): Promise<void>;
}

/**
 * Paces calls below the limits before the platform has to refuse them, shared by every pipeline
 * and worker talking to the same scope: the counts live in PostgreSQL.
 */
export interface RatePlanner {
  /**
   * Waits until every scope allows one more call of this kind, records it, and takes a
   * concurrency slot in each. Rejects only when `signal` aborts.
   */
  acquire(scopes: RateScope[], kind: CallKind, signal?: AbortSignal): Promise<RatePermit>;
  /** The platform refused anyway (429) or said when to come back: no call to these scopes before then, in any worker. */
  pause(scopeKeys: string[], ms: number): Promise<void>;
  /**
   * What the platform says is left (its rate headers): when it has counted more calls than we
   * have (another app, a user's script), the planner slows down to match.
   */
  observe(scopeKey: string, remaining: { minute?: number | undefined; day?: number | undefined }): Promise<void>;
}

/** Gives the bearer token for a call; asked again once after a 401 with `invalidate` first. */
export interface TokenSource {
  /** A valid access token, refreshed ahead of expiry. Throws a ConnectorError with code TARGET_AUTH_REVOKED when the connection is gone. */
  accessToken(signal?: AbortSignal): Promise<string>;
  /** The platform refused this token (401): the next `accessToken` refreshes instead of reusing it. */
  invalidate(token: string): void;
  /** Values that must never appear in a log line or an error (tokens, client secret). */
  secrets(): string[];
}

export interface RemoteRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Relative to the client's base URL (`/Invoices`), or a full URL on the same origin. */
  path: string;
  query?: Record<string, string | number | boolean | undefined> | undefined;
  headers?: Record<string, string> | undefined;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is (form-encoded bodies); `json` wins when both are given. */
  body?: string | undefined;
  kind: CallKind;
  /**
   * Sending it again after an unknown outcome (a timeout, a reset, a 5xx) cannot do anything twice:
   * reads, and writes the platform deduplicates (an `Idempotency-Key`, a `requestid`). The client
   * retries those itself; any other write fails with a retryable ConnectorError, and the engine
   * looks the documents up before sending them again.
   */
  retrySafe: boolean;
  /** `Accept`; default `application/json`. */
  accept?: string | undefined;
}

export interface RemoteResponse {
  status: number;
  headers: Headers;
  /** The body's bytes (a PDF), and as UTF-8 text. */
  body: Buffer;
  text: string;
}

export interface RemoteClientOptions {
  /** Named in errors and logs: `Xero`, `QuickBooks Online`. */
  system: string;
  baseUrl: string;
  auth?: TokenSource | undefined;
  /**
   * The scheme of the `Authorization` header the token source's token is sent with: `Bearer` (the
   * default, RFC 6750), or a platform's own (Zoho's `Zoho-oauthtoken`).
   */
  authScheme?: string | undefined;
  /**
   * The `Authorization` header computed for each request from its method and URL (query
   * included), for platforms that sign every request instead of sending a bearer token (OAuth
   * 1.0a, as NetSuite's token-based authentication). Used instead of `auth`'s token; a 401 is then
   * returned to the connector as is. Default: none.
   */
  authorize?: ((method: string, url: URL) => string) | undefined;
  rate?:
    | {
        planner: RatePlanner;
        scopes: RateScope[];
        /** Reads the platform's rate headers after each answer (Xero's X-MinLimit-Remaining). */
        remaining?:
          | ((headers: Headers) => { scopeKey: string; minute?: number | undefined; day?: number | undefined }[])
          | undefined;
      }
    | undefined;
  /**
   * Whether a 5xx answer is a refusal of a request the platform did not carry out (AccountsIQ's
   * `soap:Client` fault, sent with 500): such an answer is returned to the connector as it is, to
   * be refused with the platform's reason, instead of being retried or reported as an unknown
   * outcome. Any other 5xx keeps its meaning. Default: none is.
   */
  refusal5xx?: ((res: RemoteResponse) => boolean) | undefined;
  /** More values to redact from errors and logs, besides the token source's. */
  secrets?: (() => string[]) | undefined;
  /** Per attempt, the whole exchange. Default 30 s. */
  timeoutMs?: number | undefined;
  /** Attempts of a retry-safe request, the first included. Default 5. */
  maxAttempts?: number | undefined;
  backoffBaseMs?: number | undefined;
  backoffMaxMs?: number | undefined;
  /** The longest Retry-After honoured in one wait; a longer one fails the call as retryable with that delay. */
  retryAfterMaxMs?: number | undefined;
  /**
   * What a Retry-After beyond `retryAfterMaxMs` does: `fail` (default, the engine retries the
   * document later) or `clamp` (wait `retryAfterMaxMs` and ask again, as the iXpole source always has).
   */
  longRetryAfter?: 'fail' | 'clamp' | undefined;
  /**
   * The backoff's jitter: `full` (default; a random wait in [0, ceiling]) or `equal` (in
   * [ceiling/2, ceiling], so waits never shrink to nothing).
   */
  jitter?: 'full' | 'equal' | undefined;
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  random?: (() => number) | undefined;
  log?: Logger | undefined;
  /** The outbound policy and name resolution (src/sync/http.ts); replaced in tests. */
  guard?: GuardOptions | undefined;
}

/** A tenant (Xero organisation, QuickBooks company) a consent gave access to. */
export interface OAuthTenant {
  tenantId: string;
  tenantName?: string | undefined;
}

/**
 * How a platform does OAuth 2.0 (authorization code grant), as data beside its connector: the
 * connection routes (`/v1/connections/{pipeline}/oauth/...`) and the token source read it from the
 * target's definition in the registry.
 */
export interface OAuthProvider {
  /** The consent page; overridable in the pipeline's target settings (`authorizeUrl`). */
  authorizeUrl: string;
  /** The token endpoint; overridable in the pipeline's target settings (`tokenUrl`). */
  tokenUrl: string;
  scopes: readonly string[];
  /** Whether the platform takes PKCE (`code_challenge`, S256). */
  pkce: boolean;
  /**
   * How the app authenticates at the token endpoint when a consent's code is exchanged
   * (src/sync/remote/oauth-endpoint.ts): `basic` (the default, RFC 6749 §2.3.1) or `body` (client
   * id and secret in the form, as FreshBooks, MYOB and Zoho take them).
   */
  clientAuthentication?: 'basic' | 'body' | undefined;
  /** Refusals of the token endpoint that mean the grant is gone, besides `invalid_grant` (Zoho: `invalid_code`). */
  grantGoneErrors?: readonly string[] | undefined;
  /**
   * Whether a refresh also carries the consent's `redirect_uri` (the pipeline's callback), beyond
   * RFC 6749 §6: FreshBooks' SDKs refresh that way.
   */
  refreshWithRedirectUri?: boolean | undefined;
  /**
   * Where a refresh token is revoked when a connection is deleted (RFC 7009), and how the token is
   * sent: Xero takes a form (`token=`), Intuit JSON (`{"token": ...}`). Absent: tokens are only forgotten.
   */
  revocation?: { url: string; body: 'form' | 'json' } | undefined;
  /**
   * After the code exchange, the tenants the consent covers: QuickBooks names its company in the
   * callback (`realmId`); Xero lists them at its connections endpoint, asked with the new token.
   */
  tenants(input: {
    callback: URLSearchParams;
    accessToken: string;
    /** The target settings the pipeline has (a `baseUrl` pointing at a sandbox or simulator). */
    settings: Record<string, unknown>;
    request: (url: string, init: { headers: Record<string, string> }) => Promise<RemoteResponse>;
  }): Promise<OAuthTenant[]>;
}
