import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import type { TokenSource } from '../../sync/remote/contracts.ts';
import { type AcumaticaSettings, SYSTEM, tokenUrlOf } from './settings.ts';

/*
 * OAuth 2.0 against an Acumatica instance's token endpoint (/identity/connect/token), with the
 * resource-owner password grant (the connected application's flow "Resource Owner Password
 * Credentials") or client credentials. No consent page and no refresh token to keep: a token is
 * asked for again when it expires or is refused, from the credentials in the pipeline's settings.
 */

export function passwordTokenSource(settings: AcumaticaSettings, instance: RemoteClient): TokenSource {
  let current: { token: string; expires: number } | null = null;
  let pending: Promise<string> | null = null;

  async function fetchToken(signal?: AbortSignal): Promise<string> {
    const form = new URLSearchParams({ grant_type: settings.grant, client_id: settings.clientId ?? '', scope: 'api' });
    form.set('client_secret', settings.clientSecret ?? '');
    if (settings.grant === 'password') {
      form.set('username', settings.username);
      form.set('password', settings.password);
    }
    const res = await instance.request(
      {
        method: 'POST',
        path: tokenUrlOf(settings),
        body: form.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        kind: 'read',
        retrySafe: true,
      },
      signal,
    );
    let body: { access_token?: unknown; expires_in?: unknown; error?: unknown } = {};
    try {
      body = JSON.parse(res.text) as typeof body;
    } catch {
      // judged below
    }
    if (res.status !== 200 || typeof body.access_token !== 'string') {
      const code = typeof body.error === 'string' && /^[a-z_]{1,40}$/.test(body.error) ? ` (${body.error})` : '';
      throw new ConnectorError(
        SYSTEM,
        `the token endpoint answered ${res.status}${code}: check clientId (with its @Tenant), clientSecret, username and password`,
        { status: res.status, retryable: res.status >= 500, code: res.status >= 500 ? null : 'TARGET_AUTH_REVOKED' },
      );
    }
    const seconds = typeof body.expires_in === 'number' ? body.expires_in : 3600;
    current = { token: body.access_token, expires: Date.now() + Math.max(10, seconds - 60) * 1000 };
    return body.access_token;
  }

  return {
    async accessToken(signal) {
      if (current && current.expires > Date.now()) return current.token;
      pending ??= fetchToken(signal).finally(() => {
        pending = null;
      });
      return pending;
    },
    invalidate(token) {
      if (current?.token === token) current = null;
    },
    secrets: () => [settings.password, settings.clientSecret ?? '', current?.token ?? ''].filter((s) => s.length > 0),
  };
}
