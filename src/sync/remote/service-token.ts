import type { TokenSource } from './contracts.ts';
import { type TokenEndpoint, postTokenGrant } from './oauth-endpoint.ts';

/*
 * A token an app gets for itself, with no consent page and no refresh token to keep: the OAuth 2.0
 * client credentials grant (Entra ID for Business Central, Acumatica's connected applications,
 * NetSuite's machine-to-machine flow with a signed client assertion) or the resource-owner
 * password grant. The shared token-endpoint call (oauth-endpoint.ts) classifies every answer and
 * never lets a token or secret into a message. Tokens live in memory only: there is nothing to
 * rotate or store, and every worker asks for its own when the last one expires or is refused.
 */

export interface ServiceTokenOptions extends TokenEndpoint {
  /**
   * The grant's form fields, asked for on every fetch (a signed assertion is made fresh each time):
   * `{ grant_type: 'client_credentials', scope }`. The client's own credentials are added as the
   * endpoint's `clientAuthentication` says.
   */
  grant: () => Record<string, string>;
  /** Values besides the client secret and the tokens that must never reach a log line or an error (a password). */
  secrets?: (() => string[]) | undefined;
  /** How long before its expiry a token is replaced. Default 5 minutes. */
  aheadMs?: number | undefined;
  now?: (() => number) | undefined;
}

/** A TokenSource over a grant that needs no stored state: one token cached until shortly before its expiry, one fetch at a time. */
export function serviceTokenSource(o: ServiceTokenOptions): TokenSource {
  const now = o.now ?? Date.now;
  const ahead = o.aheadMs ?? 5 * 60_000;
  let current: { token: string; expiresAt: number } | null = null;
  let pending: Promise<string> | null = null;
  const seen: string[] = [];

  async function fetchToken(signal?: AbortSignal): Promise<string> {
    // A final refusal (invalid_client, invalid_grant, unauthorized_client) means the credentials
    // in the pipeline's settings no longer work: the documents wait for a person to fix them.
    const answer = await postTokenGrant({ ...o, credentialsAreTheGrant: true }, o.grant(), signal);
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
    secrets: () => [o.clientSecret, ...(o.secrets?.() ?? []), ...seen].filter((s) => s.length > 0),
  };
}
