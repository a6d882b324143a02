import { z } from 'zod';
import { ConnectorError } from '../connector.ts';
import { type GuardOptions, isOutboundRefused, outboundRequest, safeReason } from '../http.ts';

/*
 * The platform's token endpoint (RFC 6749 §4.1.3 and §6): the authorization code and the refresh
 * token are exchanged there for tokens, the client authenticating with HTTP Basic as Xero and
 * Intuit document. Every answer is classified for the caller: the grant is gone, the client is
 * refused, or a retry may help. Nothing a token endpoint sends back beyond a code-like `error`
 * token ever reaches an error message, so neither tokens nor secrets can leak through one.
 */

export interface TokenEndpoint {
  /** Named in errors: `Xero`, `QuickBooks Online`. */
  system: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  guard?: GuardOptions | undefined;
  /** The whole exchange; default 30 s. */
  timeoutMs?: number | undefined;
  /**
   * How the client authenticates: `basic` (the default: HTTP Basic, as Xero and Intuit document),
   * `body` (`client_id` and `client_secret` in the form, as Zoho Accounts documents), or `none`
   * (the grant's own fields prove who the client is: NetSuite's signed `client_assertion`).
   */
  clientAuthentication?: 'basic' | 'body' | 'none' | undefined;
  /**
   * The `error` tokens that mean the grant is gone, besides `invalid_grant` (Zoho answers a
   * revoked or unknown refresh token with `invalid_code`).
   */
  grantGoneErrors?: readonly string[] | undefined;
  /**
   * Whether every final refusal means the grant is gone. A service token's grant is the app's own
   * credentials (client credentials, a signed assertion, a password): when the endpoint refuses
   * them for good, they no longer work, and the documents wait for a person to fix the settings.
   */
  credentialsAreTheGrant?: boolean | undefined;
}

/** What a token endpoint granted. */
export interface TokenAnswer {
  accessToken: string;
  /** The rotated refresh token; null when the platform kept the one that was sent. */
  refreshToken: string | null;
  expiresInSeconds: number;
  scopes: string | null;
}

const Answer = z.object({
  access_token: z.string().min(1).max(8000),
  refresh_token: z.string().min(1).max(8000).optional(),
  expires_in: z.union([
    z.number().int().positive(),
    z
      .string()
      .regex(/^\d{1,9}$/)
      .transform(Number),
  ]),
  token_type: z
    .string()
    .refine((t) => t.toLowerCase() === 'bearer', 'a Bearer token')
    .optional(),
  scope: z.string().max(2000).optional(),
});

/** The `error` of a token endpoint's refusal that means the grant (code or refresh token) is no longer valid. */
export const GRANT_GONE = 'invalid_grant';

/**
 * RFC 6749 §2.3.1: the client id and secret are form-encoded, joined by a colon, then base64.
 */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`, 'utf8').toString('base64');
}

function retryAfterMs(value: string | null): number | null {
  if (!value) return null;
  if (/^\d{1,7}$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

function hasErrorField(text: string): boolean {
  try {
    const b = JSON.parse(text) as unknown;
    return b !== null && typeof b === 'object' && typeof (b as { error?: unknown }).error === 'string';
  } catch {
    return false;
  }
}

/**
 * Posts a grant to the token endpoint. Throws a ConnectorError: `code: 'TARGET_AUTH_REVOKED'`
 * (not retryable) when the endpoint answers `invalid_grant`; retryable on a network failure, a
 * timeout, 408, 429 (with its Retry-After) and 5xx; not retryable for any other refusal (a client
 * id or secret the platform does not know, a malformed request).
 */
export async function postTokenGrant(
  ep: TokenEndpoint,
  form: Record<string, string>,
  signal?: AbortSignal,
): Promise<TokenAnswer> {
  const timeout = AbortSignal.timeout(ep.timeoutMs ?? 30_000);
  const inBody = ep.clientAuthentication === 'body';
  const basic = (ep.clientAuthentication ?? 'basic') === 'basic';
  const fields = inBody ? { ...form, client_id: ep.clientId, client_secret: ep.clientSecret } : form;
  let answer;
  try {
    answer = await outboundRequest(
      ep.tokenUrl,
      {
        method: 'POST',
        headers: {
          ...(basic ? { authorization: basicAuthorization(ep.clientId, ep.clientSecret) } : {}),
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams(fields).toString(),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        maxBytes: 256 * 1024,
      },
      ep.guard ?? {},
    );
  } catch (err) {
    if (signal?.aborted) throw err;
    if (isOutboundRefused(err))
      throw new ConnectorError(ep.system, `the token endpoint ${new URL(ep.tokenUrl).origin} may not be called`, {
        retryable: false,
        cause: err,
      });
    const what = timeout.aborted ? 'timed out' : 'could not be reached';
    // The cause is a network error (a reset, a refused connection): it carries no token.
    throw new ConnectorError(ep.system, `the token endpoint ${what}; the connection is kept, retry later`, {
      retryable: true,
      cause: err,
    });
  }
  const reason = safeReason(answer.text);
  const status = answer.status;
  const gone = (r: string | null) => r === GRANT_GONE || (r !== null && (ep.grantGoneErrors ?? []).includes(r));
  // Zoho Accounts answers a refusal with 200 and `{"error": ...}`: an `error` is a refusal whatever the status.
  const refusedIn200 = status === 200 && hasErrorField(answer.text);
  if (status === 200 && !refusedIn200) {
    let parsed: z.output<typeof Answer>;
    try {
      parsed = Answer.parse(JSON.parse(answer.text));
    } catch {
      throw new ConnectorError(ep.system, 'the token endpoint answered 200 without a usable Bearer token', {
        status,
        retryable: true,
      });
    }
    return {
      accessToken: parsed.access_token,
      refreshToken: parsed.refresh_token ?? null,
      expiresInSeconds: parsed.expires_in,
      scopes: parsed.scope ?? null,
    };
  }
  if (gone(reason))
    throw new ConnectorError(ep.system, `the token endpoint refused the grant (${status} ${reason})`, {
      status,
      retryable: false,
      code: 'TARGET_AUTH_REVOKED',
    });
  const finalCode = ep.credentialsAreTheGrant ? 'TARGET_AUTH_REVOKED' : null;
  if (status === 408 || status === 429 || status >= 500)
    throw new ConnectorError(
      ep.system,
      `the token endpoint answered ${status}${reason ? ` ${reason}` : ''}; the connection is kept, retry later`,
      { status, retryable: true, retryAfterMs: retryAfterMs(answer.headers.get('retry-after')) },
    );
  if (reason === 'invalid_client' || reason === 'unauthorized_client')
    throw new ConnectorError(
      ep.system,
      `the token endpoint refused the app's credentials (${status} ${reason}): check the target's clientId and clientSecret`,
      { status, retryable: false, code: finalCode },
    );
  throw new ConnectorError(
    ep.system,
    `the token endpoint refused the request (${status}${reason ? ` ${reason}` : ''})`,
    { status, retryable: false, code: finalCode },
  );
}
