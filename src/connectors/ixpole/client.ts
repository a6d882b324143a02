import type { Logger } from 'pino';
import { parseJsonExact } from '../../domain/json.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { type GuardOptions, isOutboundRefused, outboundRequest, safeReason } from '../../sync/http.ts';

export const SYSTEM = 'iXpole';

/** Statuses a well-behaved client waits out and asks again: rate limits and gateway trouble. */
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

export interface IxpoleClientOptions {
  /** The customer's iXpole address, e.g. https://club.ixpole.example/ ("api/…" is appended). */
  baseUrl: string;
  apiKey: string;
  /** Per attempt, the whole exchange (headers and body). */
  timeoutMs?: number | undefined;
  /** Attempts per request, the first included. */
  maxAttempts?: number | undefined;
  /** Backoff before attempt n+1 is about base·2^(n-1), with jitter, capped at max. */
  backoffBaseMs?: number | undefined;
  backoffMaxMs?: number | undefined;
  /** A server asking for a longer pause than this is waited this long, so a bad header cannot stall a run for hours. */
  retryAfterMaxMs?: number | undefined;
  /** Replaceable for tests: the pause between attempts, and the jitter source. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  random?: (() => number) | undefined;
  /** Where what iXpole answered to a failed request goes (debug, key redacted): it never goes into an error. */
  log?: Logger | undefined;
  /** Replaceable for tests: the outbound policy and name resolution (src/sync/http.ts). */
  guard?: GuardOptions | undefined;
}

export interface IxpoleResponse {
  status: number;
  /** The parsed JSON body (decimals kept as text), or null when there was none. */
  body: unknown;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
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

/** Retry-After is either delay-seconds or an HTTP date (RFC 9110 §10.2.3); null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * A small HTTP client for the iXpole API: bearer auth, a timeout per attempt, and a bounded
 * number of attempts with exponential backoff and jitter on 429/502/503/504 and network failures,
 * honouring Retry-After. Whatever fails comes out as a ConnectorError that never carries the key.
 */
export class IxpoleClient {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly retryAfterMaxMs: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly log: Logger | undefined;
  private readonly guard: GuardOptions;

  constructor(o: IxpoleClientOptions) {
    // Without the trailing slash, new URL('api/x', base) would drop the base's last path segment.
    this.baseUrl = o.baseUrl.endsWith('/') ? o.baseUrl : `${o.baseUrl}/`;
    this.apiKey = o.apiKey;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.maxAttempts = Math.max(1, o.maxAttempts ?? 5);
    this.backoffBaseMs = o.backoffBaseMs ?? 500;
    this.backoffMaxMs = o.backoffMaxMs ?? 30_000;
    this.retryAfterMaxMs = o.retryAfterMaxMs ?? 120_000;
    this.sleep = o.sleep ?? abortableSleep;
    this.random = o.random ?? Math.random;
    this.log = o.log;
    this.guard = o.guard ?? {};
  }

  /** The pause before attempt `attempt + 1`: "equal jitter", so waits grow but clients do not move in step. */
  backoffMs(attempt: number): number {
    const ceiling = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  /** Removes the key from any text that leaves this client (a server may echo headers in an error page). */
  private redact(text: string): string {
    return this.apiKey ? text.split(this.apiKey).join('[redacted]') : text;
  }

  private fail(
    what: string,
    message: string,
    opts: { status?: number | null; retryable: boolean; retryAfterMs?: number | null; cause?: unknown },
  ): ConnectorError {
    // The cause is kept only as its message: an undici error can hold the request, headers included.
    const cause = opts.cause instanceof Error ? this.redact(opts.cause.message) : undefined;
    return new ConnectorError(SYSTEM, this.redact(`${what} ${message}`), { ...opts, cause });
  }

  /** What a failed answer said, for the operator's debug log only: an error shows the status and at most a code. */
  private logAnswer(what: string, status: number, text: string): void {
    this.log?.debug({ request: what, status, body: this.redact(text.slice(0, 2000)) }, 'iXpole answer');
  }

  /**
   * Sends one request and returns any answer that is not worth retrying (2xx, or a 4xx the
   * caller may want to read, such as a 404). Throws a ConnectorError for the rest.
   */
  async request(
    method: 'GET' | 'PUT' | 'PATCH',
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<IxpoleResponse> {
    const url = new URL(path, this.baseUrl);
    const what = `${method} ${path}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      let status: number | null = null;
      let retryAfterMs: number | null = null;
      let problem: string;
      let cause: unknown;
      const attemptSignal = signal
        ? AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)])
        : AbortSignal.timeout(this.timeoutMs);
      try {
        const res = await outboundRequest(
          url,
          {
            method,
            headers: {
              authorization: `Bearer ${this.apiKey}`,
              accept: 'application/json',
              ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
            },
            body: payload,
            // The body is read under the same deadline: a server that stalls mid-body is as slow as one that never answers.
            signal: attemptSignal,
          },
          this.guard,
        );
        const { text } = res;
        status = res.status;
        if ((status >= 200 && status < 300) || (status >= 400 && status < 500 && status !== 429)) {
          let parsed: unknown = null;
          if (text.trim() !== '') {
            try {
              parsed = parseJsonExact(text);
            } catch {
              this.logAnswer(what, status, text);
              if (status < 300)
                throw this.fail(what, `answered ${status} with a body that is not JSON`, { status, retryable: true });
              parsed = null;
            }
          }
          if (status >= 300) this.logAnswer(what, status, text);
          return { status, body: parsed };
        }
        this.logAnswer(what, status, text);
        retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
        problem = `answered ${status}`;
        if (!RETRY_STATUSES.has(status)) {
          // A 500 says the server broke on this request; asking again at once rarely helps, but a later run may.
          throw this.fail(what, problem, { status, retryable: true });
        }
      } catch (err) {
        if (err instanceof ConnectorError) throw err;
        // Nothing was sent, and asking again cannot change the answer: the pipeline's address must change.
        if (isOutboundRefused(err)) throw this.fail(what, `was not sent: ${err.message}`, { retryable: false });
        if (signal?.aborted) throw this.fail(what, 'was cancelled', { retryable: true, cause: err });
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        problem = timedOut
          ? `timed out after ${this.timeoutMs} ms`
          : `failed: ${err instanceof Error ? err.message : String(err)}`;
        cause = err;
      }
      if (attempt >= this.maxAttempts) {
        throw this.fail(what, `${problem} (gave up after ${attempt} attempts)`, {
          status,
          retryable: true,
          retryAfterMs,
          cause,
        });
      }
      // Retry-After is waited out (up to the clamp), but never less than our own backoff: a storm
      // that answers "Retry-After: 0" must not be hammered.
      const backoff = this.backoffMs(attempt);
      const wait = retryAfterMs !== null ? Math.max(Math.min(retryAfterMs, this.retryAfterMaxMs), backoff) : backoff;
      try {
        await this.sleep(wait, signal);
      } catch (err) {
        throw this.fail(what, 'was cancelled', { retryable: true, cause: err });
      }
    }
  }

  /** The error for an answer the caller cannot use (a 4xx): never retried, since asking again gets the same. */
  refusal(method: string, path: string, res: IxpoleResponse): ConnectorError {
    // The status and at most a code-like token of the body: what a server says goes to the debug log, not to users.
    const code = safeReason(res.body);
    const hint = res.status === 401 || res.status === 403 ? ' (check the API key)' : '';
    return this.fail(`${method} ${path}`, `answered ${res.status}${hint}${code ? ` (${code})` : ''}`, {
      status: res.status,
      retryable: false,
    });
  }

  /** Like request, but anything other than 2xx is an error (404 included). */
  async expectOk(
    method: 'GET' | 'PUT' | 'PATCH',
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const res = await this.request(method, path, body, signal);
    if (res.status >= 200 && res.status < 300) return res.body;
    throw this.refusal(method, path, res);
  }
}
