import type { GuardOptions } from '../../sync/http.ts';
import type { TokenSource } from '../../sync/remote/contracts.ts';
import { postTokenGrant } from '../../sync/remote/oauth-endpoint.ts';

/*
 * The OAuth 2.0 client credentials grant of Microsoft Entra ID (service to service): the app
 * signs in as itself, gets an access token and no refresh token, and asks again when the token
 * expires or is refused. The shared token-endpoint call (src/sync/remote/oauth-endpoint.ts)
 * classifies every answer and never lets a token or secret into a message. Tokens are kept in
 * memory only: there is nothing to rotate or store, every worker asks for its own.
 */

export interface ClientCredentialsOptions {
  system: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  guard?: GuardOptions | undefined;
  timeoutMs?: number | undefined;
  /** How long before its expiry a token is replaced. Default 5 minutes (Entra tokens live about an hour). */
  aheadMs?: number | undefined;
  now?: (() => number) | undefined;
}

/** A TokenSource over the client credentials grant: one token cached until shortly before its expiry, one fetch at a time. */
export function clientCredentialsTokenSource(o: ClientCredentialsOptions): TokenSource {
  const now = o.now ?? Date.now;
  const ahead = o.aheadMs ?? 5 * 60_000;
  let current: { token: string; expiresAt: number } | null = null;
  let pending: Promise<string> | null = null;
  const seen: string[] = [];

  async function fetchToken(signal?: AbortSignal): Promise<string> {
    const answer = await postTokenGrant(
      {
        system: o.system,
        tokenUrl: o.tokenUrl,
        clientId: o.clientId,
        clientSecret: o.clientSecret,
        guard: o.guard,
        timeoutMs: o.timeoutMs,
      },
      // Entra takes the client's secret in HTTP Basic (RFC 6749 §2.3.1) as well as in the form.
      { grant_type: 'client_credentials', client_id: o.clientId, scope: o.scope },
      signal,
    );
    // A token shorter-lived than the margin is still used once rather than never.
    const life = answer.expiresInSeconds * 1000;
    current = { token: answer.accessToken, expiresAt: now() + Math.max(life - ahead, life / 2) };
    seen.push(answer.accessToken);
    if (seen.length > 8) seen.shift();
    return answer.accessToken;
  }

  return {
    accessToken(signal) {
      if (current && current.expiresAt > now()) return Promise.resolve(current.token);
      pending ??= fetchToken(signal).finally(() => {
        pending = null;
      });
      return pending;
    },
    invalidate(token) {
      if (current?.token === token) current = null;
    },
    secrets: () => [o.clientSecret, ...seen],
  };
}
