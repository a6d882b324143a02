import type { Logger } from 'pino';
import { ConnectorError } from '../connector.ts';
import { type GuardOptions, isOutboundRefused, outboundRequest, safeReason } from '../http.ts';
import type { RatePermit, RemoteClientOptions, RemoteRequest, RemoteResponse } from './contracts.ts';

/*
 * The one HTTP client every remote connector talks through (docs/connectors/remote-targets.md):
 * the guarded keep-alive transport of src/sync/http.ts, a timeout per attempt that covers reading
 * the body, the rate planner before each attempt, bearer auth refreshed once on a 401, Retry-After
 * obeyed, backoff with jitter on failures that may be retried, and secrets redacted from every
 * error and log line. What an answer means is left to the connector: any 2xx, 3xx or 4xx other
 * than 401 and 429 is returned as it is, and so is a 5xx the connector's `refusal5xx` says is a
 * refusal.
 */

/** Retry-After is either delay-seconds or an HTTP date (RFC 9110 §10.2.3); null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const done = () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// Failures where the request never reached the server: asking again cannot do anything twice.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function errnoCode(err: unknown): string | undefined {
  for (let e: unknown = err, i = 0; e instanceof Error && i < 5; e = e.cause, i++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

type Outcome =
  | { type: 'answer'; res: RemoteResponse; token: string | null }
  | { type: 'failure'; problem: string; cause: unknown; sent: boolean; token: string | null };

export class RemoteClient {
  private readonly system: string;
  private readonly base: URL;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly retryAfterMaxMs: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly log: Logger | undefined;
  private readonly guard: GuardOptions;

  constructor(private readonly opts: RemoteClientOptions) {
    this.system = opts.system;
    this.base = new URL(opts.baseUrl);
    // The base's path is a prefix every relative path goes under (`/api.xro/2.0` + `/Invoices`).
    this.prefix = this.base.pathname.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
    this.backoffBaseMs = opts.backoffBaseMs ?? 500;
    this.backoffMaxMs = opts.backoffMaxMs ?? 30_000;
    this.retryAfterMaxMs = opts.retryAfterMaxMs ?? 120_000;
    this.sleep = opts.sleep ?? abortableSleep;
    this.random = opts.random ?? Math.random;
    this.log = opts.log;
    this.guard = opts.guard ?? {};
  }

  /**
   * The pause after failed attempt `attempt` (1-based): exponential, capped, with jitter (full by
   * default: anywhere up to the ceiling, so clients that failed together do not return together).
   */
  backoffMs(attempt: number): number {
    const ceiling = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (attempt - 1));
    if (this.opts.jitter === 'equal') return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
    return Math.round(this.random() * ceiling);
  }

  /** The URL a request goes to: the base's origin and path prefix, the path, then `query`. */
  url(req: Pick<RemoteRequest, 'path' | 'query'>): URL {
    let url: URL;
    if (/^[a-z][a-z0-9+.-]*:/i.test(req.path)) {
      url = new URL(req.path);
      // A programming error, not a remote failure: a full URL must stay with the configured system.
      if (url.origin !== this.base.origin)
        throw new Error(`${this.system}: ${url.origin} is not the configured origin ${this.base.origin}`);
    } else {
      const rel = req.path.startsWith('/') ? req.path : `/${req.path}`;
      url = new URL(`${this.base.origin}${this.prefix}${rel}`);
    }
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v !== undefined) url.searchParams.append(k, String(v));
    }
    return url;
  }

  /** Every value that must never leave this client: the token source's, the options', and the token in use. */
  private secrets(token: string | null): string[] {
    const all = [...(this.opts.auth?.secrets() ?? []), ...(this.opts.secrets?.() ?? [])];
    if (token) all.push(token);
    // Longest first, so that a secret containing another is replaced whole.
    return [...new Set(all.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
  }

  /** Replaces every secret in `text` with `[redacted]`. */
  redact(text: string, token: string | null = null): string {
    let out = text;
    for (const s of this.secrets(token)) out = out.split(s).join('[redacted]');
    return out;
  }

  private fail(
    what: string,
    message: string,
    token: string | null,
    o: {
      status?: number | null;
      retryable: boolean;
      retryAfterMs?: number | null;
      cause?: unknown;
      code?: ConnectorError['code'];
    },
  ): ConnectorError {
    // The cause is kept only as its redacted message: a transport error can hold the request, headers included.
    const cause = o.cause instanceof Error ? this.redact(o.cause.message, token) : undefined;
    return new ConnectorError(this.system, this.redact(`${what} ${message}`, token), { ...o, cause });
  }

  /**
   * Sends `req` and returns the answer (any 2xx, 3xx or 4xx other than 401 and 429, and a 5xx
   * `refusal5xx` recognises), retrying
   * what may be retried (see docs/connectors/remote-targets.md). Throws a ConnectorError for the
   * rest, never carrying a secret.
   *
   * `signal` ends the waits (a rate-limit permit, a Retry-After, a backoff, a token refresh
   * others share) and stops any further attempt, with a retryable "was cancelled". An exchange
   * already sent is let run to its answer or its timeout: cutting it off would turn an outcome
   * that is about to be known into an unknown one.
   */
  async request(req: RemoteRequest, signal?: AbortSignal): Promise<RemoteResponse> {
    const url = this.url(req);
    const what = `${req.method} ${url.pathname}`;
    let refreshed = false;
    let token: string | null = null;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(req, url, what, attempt, signal);
      token = outcome.token;
      if (outcome.type === 'failure') {
        const { problem, cause } = outcome;
        if (!outcome.sent) {
          // Refused by the policy: nothing was sent and asking again cannot change that.
          if (isOutboundRefused(cause)) throw this.fail(what, `was not sent: ${problem}`, token, { retryable: false });
        }
        if (outcome.sent && !req.retrySafe) throw this.unknownOutcome(what, problem, token, null, cause);
        if (signal?.aborted) throw this.cancelled(what, token, cause);
        if (attempt >= this.maxAttempts)
          throw this.fail(what, `${problem} (gave up after ${attempt} attempts)`, token, { retryable: true, cause });
        await this.pauseFor(this.backoffMs(attempt), what, token, signal);
        continue;
      }
      const { res } = outcome;
      const { status } = res;
      if (status === 401 && this.opts.auth && token !== null) {
        if (!refreshed) {
          // One refresh: a token revoked or expired early gets a new one; a second 401 means the grant is gone.
          this.opts.auth.invalidate(token);
          refreshed = true;
          attempt--; // the refresh does not use up an attempt
          continue;
        }
        throw this.fail(
          what,
          `refused the connection's credentials twice (401): the connection was revoked or expired; reconnect the pipeline (GET /v1/connections/{pipeline}/oauth/start)`,
          token,
          { status, retryable: false, code: 'TARGET_AUTH_REVOKED' },
        );
      }
      const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
      if (status === 429 || (status === 503 && retryAfter !== null)) {
        // The platform says it did not process the request: sending it again is safe even for a plain write.
        const reason = safeReason(res.text);
        const said = `answered ${status}${reason ? ` (${reason})` : ''}`;
        if (retryAfter !== null && retryAfter > this.retryAfterMaxMs && this.opts.longRetryAfter !== 'clamp') {
          await this.pausePlanner(retryAfter, what);
          throw this.fail(what, `${said} and asks to wait ${Math.ceil(retryAfter / 1000)} s`, token, {
            status,
            retryable: true,
            retryAfterMs: retryAfter,
          });
        }
        // Never less than our own backoff: a storm that answers "Retry-After: 0" must not be hammered.
        const wait = Math.max(Math.min(retryAfter ?? 0, this.retryAfterMaxMs), this.backoffMs(attempt));
        await this.pausePlanner(wait, what);
        if (attempt >= this.maxAttempts)
          throw this.fail(what, `${said} (gave up after ${attempt} attempts)`, token, {
            status,
            retryable: true,
            retryAfterMs: wait,
          });
        await this.pauseFor(wait, what, token, signal);
        continue;
      }
      if (status >= 500 && this.opts.refusal5xx?.(res)) return res;
      if (status >= 500) {
        const reason = safeReason(res.text);
        const said = `answered ${status}${reason ? ` (${reason})` : ''}`;
        if (!req.retrySafe) throw this.unknownOutcome(what, said, token, status, undefined);
        if (attempt >= this.maxAttempts)
          throw this.fail(what, `${said} (gave up after ${attempt} attempts)`, token, { status, retryable: true });
        await this.pauseFor(this.backoffMs(attempt), what, token, signal);
        continue;
      }
      return res;
    }
  }

  private unknownOutcome(
    what: string,
    problem: string,
    token: string | null,
    status: number | null,
    cause: unknown,
  ): ConnectorError {
    return this.fail(
      what,
      `${problem}; whether it was carried out is unknown, so it is not sent again before the documents are looked up`,
      token,
      { status, retryable: true, cause },
    );
  }

  private async pausePlanner(ms: number, what: string): Promise<void> {
    const rate = this.opts.rate;
    if (!rate || ms <= 0) return;
    try {
      await rate.planner.pause(
        rate.scopes.map((s) => s.key),
        ms,
      );
    } catch (err) {
      this.log?.warn({ system: this.system, request: what, err: String(err) }, 'rate pause not recorded');
    }
  }

  private async pauseFor(ms: number, what: string, token: string | null, signal?: AbortSignal): Promise<void> {
    try {
      await this.sleep(ms, signal);
    } catch (err) {
      throw this.cancelled(what, token, err);
    }
  }

  private cancelled(what: string, token: string | null, cause: unknown): ConnectorError {
    return this.fail(what, 'was cancelled', token, { retryable: true, cause });
  }

  /** One exchange: token, permit, the request under its own deadline, the permit released, the rate headers observed. */
  private async attempt(
    req: RemoteRequest,
    url: URL,
    what: string,
    attempt: number,
    signal?: AbortSignal,
  ): Promise<Outcome> {
    let token: string | null = null;
    let permit: RatePermit | null = null;
    const rate = this.opts.rate;
    // Everything before the exchange is a wait the signal ends: nothing has been sent yet.
    if (signal?.aborted) throw this.cancelled(what, token, signal.reason);
    try {
      if (this.opts.auth) token = await this.opts.auth.accessToken(signal);
      if (rate) permit = await rate.planner.acquire(rate.scopes, req.kind, signal);
    } catch (err) {
      if (signal?.aborted) throw this.cancelled(what, token, err);
      throw err;
    }
    const started = Date.now();
    // The exchange itself runs under its own deadline only (see `request`).
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const payload = req.json !== undefined ? JSON.stringify(req.json) : req.body;
    const headers: Record<string, string> = {
      accept: req.accept ?? 'application/json',
      ...(req.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...req.headers,
      ...(token !== null ? { authorization: `${this.opts.authScheme ?? 'Bearer'} ${token}` } : {}),
      ...(this.opts.authorize ? { authorization: this.opts.authorize(req.method, url) } : {}),
    };
    try {
      const a = await outboundRequest(url, { method: req.method, headers, body: payload, signal: timeout }, this.guard);
      this.logExchange(what, a.status, attempt, started, token);
      await this.observe(a.headers, what);
      return { type: 'answer', res: { status: a.status, headers: a.headers, body: a.body, text: a.text }, token };
    } catch (err) {
      this.logExchange(what, null, attempt, started, token);
      if (isOutboundRefused(err)) return { type: 'failure', problem: err.message, cause: err, sent: false, token };
      const code = errnoCode(err);
      const sent = !(code !== undefined && NOT_SENT.has(code));
      const problem = timeout.aborted
        ? `timed out after ${this.timeoutMs} ms`
        : `failed: ${err instanceof Error ? err.message : String(err)}`;
      return { type: 'failure', problem, cause: err, sent, token };
    } finally {
      if (permit) {
        await permit.release().catch((err: unknown) => {
          // The slot's lease expires by itself; the exchange's outcome matters more than this.
          this.log?.warn(
            { system: this.system, request: what, err: this.redact(String(err), token) },
            'rate permit not released',
          );
        });
      }
    }
  }

  private async observe(headers: Headers, what: string): Promise<void> {
    const rate = this.opts.rate;
    if (!rate?.remaining) return;
    try {
      for (const { scopeKey, ...left } of rate.remaining(headers)) await rate.planner.observe(scopeKey, left);
    } catch (err) {
      // The answer stands; only the pacing hint is lost.
      this.log?.warn({ system: this.system, request: what, err: String(err) }, 'rate headers not recorded');
    }
  }

  private logExchange(
    what: string,
    status: number | null,
    attempt: number,
    started: number,
    token: string | null,
  ): void {
    this.log?.debug(
      { system: this.system, request: this.redact(what, token), status, attempt, ms: Date.now() - started },
      `${this.system} call`,
    );
  }
}
