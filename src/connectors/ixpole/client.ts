import type { Logger } from 'pino';
import { parseJsonExact } from '../../domain/json.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { type GuardOptions, safeReason } from '../../sync/http.ts';
import { RemoteClient } from '../../sync/remote/client.ts';

export { parseRetryAfter } from '../../sync/remote/client.ts';

export const SYSTEM = 'iXpole';

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

/**
 * The iXpole API on the shared client (src/sync/remote/client.ts): bearer auth with the API key,
 * a timeout per attempt, and a bounded number of attempts with exponential backoff and (equal)
 * jitter on 429, 5xx and network failures, honouring Retry-After (a longer one than
 * `retryAfterMaxMs` is waited that long). Every call is retry-safe: reads, and write-backs that set
 * fields to given values. Whatever fails comes out as a ConnectorError that never carries the key.
 */
export class IxpoleClient {
  private readonly remote: RemoteClient;
  private readonly apiKey: string;
  private readonly log: Logger | undefined;

  constructor(o: IxpoleClientOptions) {
    this.apiKey = o.apiKey;
    this.log = o.log;
    this.remote = new RemoteClient({
      system: SYSTEM,
      baseUrl: o.baseUrl,
      // A static key, not a token source: a 401 means the key is wrong, which a refresh cannot fix.
      secrets: () => [o.apiKey],
      timeoutMs: o.timeoutMs,
      maxAttempts: o.maxAttempts,
      backoffBaseMs: o.backoffBaseMs,
      backoffMaxMs: o.backoffMaxMs,
      retryAfterMaxMs: o.retryAfterMaxMs,
      longRetryAfter: 'clamp',
      jitter: 'equal',
      sleep: o.sleep,
      random: o.random,
      log: o.log,
      guard: o.guard,
    });
  }

  /** The pause before attempt `attempt + 1`: "equal jitter", so waits grow but clients do not move in step. */
  backoffMs(attempt: number): number {
    return this.remote.backoffMs(attempt);
  }

  private fail(what: string, message: string, opts: { status?: number | null; retryable: boolean }): ConnectorError {
    return new ConnectorError(SYSTEM, this.remote.redact(`${what} ${message}`), opts);
  }

  /** What a failed answer said, for the operator's debug log only: an error shows the status and at most a code. */
  private logAnswer(what: string, status: number, text: string): void {
    this.log?.debug({ request: what, status, body: this.remote.redact(text.slice(0, 2000)) }, 'iXpole answer');
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
    const what = `${method} ${path}`;
    const res = await this.remote.request(
      {
        method,
        path,
        json: body,
        headers: { authorization: `Bearer ${this.apiKey}` },
        kind: method === 'GET' ? 'read' : 'write',
        // PUT api/instalments sets the given fields of the instalments it names, PATCH a customer's
        // code: sending either again changes nothing more, so a lost answer is simply asked again.
        retrySafe: true,
      },
      signal,
    );
    const { status, text } = res;
    if (status >= 300 && status < 400) {
      this.logAnswer(what, status, text);
      throw this.fail(what, `answered ${status}`, { status, retryable: true });
    }
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
