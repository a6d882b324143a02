import type { Logger } from 'pino';
import type { Queryable } from '../../db/database.ts';
import { publicBaseUrl } from '../../settings.ts';
import { ConnectorError } from '../connector.ts';
import type { GuardOptions } from '../http.ts';
import type { SecretBox } from '../secrets.ts';
import type { TargetDeps } from '../target.ts';
import type { OAuthProvider, TokenSource } from './contracts.ts';
import { postTokenGrant, type TokenEndpoint } from './oauth-endpoint.ts';
import {
  claimRefresh,
  readConnection,
  releaseRefresh,
  revokeConnection,
  saveRefreshed,
  seedFromSettings,
} from './oauth-store.ts';

/*
 * The access token of a pipeline's OAuth 2.0 connection, shared by every worker: the tokens live
 * sealed in `oauth_connections` (oauth-store.ts), the access token is refreshed ahead of its
 * expiry by one worker at a time (a claim on the row, taken and released outside any transaction,
 * so that no transaction stays open during the HTTP call), and the rotated refresh token is stored
 * with the new access token in one statement the moment the token endpoint's answer arrives: a
 * crash after that statement keeps the connection. See docs/connectors/oauth.md.
 */

export interface OAuthTokenSourceOptions {
  /** The database itself, not a transaction: each step must commit on its own. */
  db: Queryable;
  box: SecretBox;
  pipelineId: string;
  /** Named in errors: `Xero`, `QuickBooks Online`. */
  system: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** The settings' refresh token: seeds the connection when it has none, or reconnects when it is new. */
  refreshToken?: string | undefined;
  log?: Logger | undefined;
  guard?: GuardOptions | undefined;
  /** How long before its expiry an access token is replaced. Default 5 minutes. */
  refreshAheadMs?: number | undefined;
  /** How long a worker's refresh claim holds; longer than the token endpoint's timeout. Default 60 s. */
  claimMs?: number | undefined;
  /** The token endpoint's timeout. Default 30 s. */
  timeoutMs?: number | undefined;
  /** How often a worker waiting for another's refresh reads the row again. Default 100 ms. */
  pollMs?: number | undefined;
  /** Where people reconnect (named in the message of a revoked connection). Default: LEDGERLINK_PUBLIC_URL. */
  publicUrl?: string | undefined;
  /** How the client authenticates at the token endpoint (src/sync/remote/oauth-endpoint.ts); default `basic`. */
  clientAuthentication?: TokenEndpoint['clientAuthentication'];
  /** Refusals of the token endpoint that mean the grant is gone, besides `invalid_grant` (Zoho: `invalid_code`). */
  grantGoneErrors?: TokenEndpoint['grantGoneErrors'];
  /**
   * Whether a refresh also carries the consent's `redirect_uri` (this pipeline's callback under
   * `publicUrl`), beyond RFC 6749 §6: FreshBooks' SDKs refresh that way.
   */
  refreshWithRedirectUri?: boolean | undefined;
}

/** The path that starts a pipeline's consent flow (GET, with the entity's token). */
export function connectionStartPath(pipelineName: string): string {
  return `/v1/connections/${encodeURIComponent(pipelineName)}/oauth/start`;
}

/** The path the platform redirects the consent back to. */
export function connectionCallbackPath(pipelineName: string): string {
  return `/v1/connections/${encodeURIComponent(pipelineName)}/oauth/callback`;
}

const DEFAULT_AHEAD_MS = 5 * 60_000;
// An access token is still handed out while another worker refreshes it, if it lives this long yet.
const STILL_VALID_MS = 15_000;
// Tokens remembered for redaction: the current ones and a few before them.
const REMEMBERED = 16;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The promise, or the signal's abort, whichever comes first (the shared work goes on for the others). */
function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason as Error);
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    }),
  ]);
}

/**
 * A TokenSource over a pipeline's stored OAuth connection (seeded from the settings' refresh token
 * when it has none). Throws a ConnectorError with `code: 'TARGET_AUTH_REVOKED'` (not retryable),
 * whose message says how to reconnect, once the platform refuses the grant; a network failure or
 * a 5xx of the token endpoint is a retryable ConnectorError and keeps the connection.
 *
 * @example
 * const auth = oauthTokenSource({ db, box, pipelineId, system: 'Xero', tokenUrl, clientId, clientSecret, refreshToken });
 * const client = remoteClient({ system: 'Xero', baseUrl, auth });
 */
export function oauthTokenSource(o: OAuthTokenSourceOptions): TokenSource & { tenantId(): Promise<string | null> } {
  const ahead = o.refreshAheadMs ?? DEFAULT_AHEAD_MS;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const claimMs = Math.max(o.claimMs ?? 60_000, timeoutMs + 5_000);
  const pollMs = o.pollMs ?? 100;
  const endpoint: TokenEndpoint = {
    system: o.system,
    tokenUrl: o.tokenUrl,
    clientId: o.clientId,
    clientSecret: o.clientSecret,
    guard: o.guard,
    timeoutMs,
    clientAuthentication: o.clientAuthentication,
    grantGoneErrors: o.grantGoneErrors,
  };
  const seen: string[] = [];
  const remember = (...tokens: string[]) => {
    for (const t of tokens) if (!seen.includes(t)) seen.push(t);
    seen.splice(0, Math.max(0, seen.length - REMEMBERED));
  };
  const invalidated = new Set<string>();
  let cached: { token: string; expiresAt: number; ahead: number } | null = null;
  let seeded: Promise<void> | null = null;
  let inflight: Promise<string> | null = null;

  const pipelineName = async (): Promise<string> => {
    const { rows } = await o.db.query<{ name: string }>(`SELECT name FROM pipelines WHERE id = $1`, [o.pipelineId]);
    return rows[0]?.name ?? o.pipelineId;
  };

  const reconnectError = async (why: string, status: number | null = null): Promise<ConnectorError> => {
    const name = await pipelineName();
    const start = `${o.publicUrl ?? publicBaseUrl()}${connectionStartPath(name)}`;
    return new ConnectorError(
      o.system,
      `pipeline ${name} is not connected: ${why}. Reconnect: open ${start} signed in as the pipeline's entity ` +
        `(or set a new refreshToken in the pipeline's target settings), then retry the parked documents.`,
      { status, retryable: false, code: 'TARGET_AUTH_REVOKED' },
    );
  };

  const refresh = async (sealed: string, current: string): Promise<string> => {
    let answer;
    try {
      const redirect: Record<string, string> = o.refreshWithRedirectUri
        ? { redirect_uri: `${o.publicUrl ?? publicBaseUrl()}${connectionCallbackPath(await pipelineName())}` }
        : {};
      answer = await postTokenGrant(endpoint, { ...redirect, grant_type: 'refresh_token', refresh_token: current });
    } catch (err) {
      if (err instanceof ConnectorError && err.code === 'TARGET_AUTH_REVOKED') {
        const reason = `the platform refused the refresh token (invalid_grant): the user revoked the connection, or it expired`;
        await revokeConnection(o.db, o.pipelineId, reason, sealed);
        o.log?.warn({ pipelineId: o.pipelineId, system: o.system }, 'OAuth connection revoked by the platform');
        throw await reconnectError(reason, err.status);
      }
      // Recorded for the Connections page: a ConnectorError's message is redacted; anything else is not shown.
      const why = err instanceof ConnectorError ? err.message : 'the token endpoint failed (see the server log)';
      await releaseRefresh(o.db, o.pipelineId, sealed, why).catch((releaseErr: unknown) =>
        o.log?.warn({ err: releaseErr, pipelineId: o.pipelineId }, 'could not release an OAuth refresh claim'),
      );
      throw err;
    }
    const next = {
      accessToken: answer.accessToken,
      refreshToken: answer.refreshToken ?? current,
      expiresAt: new Date(Date.now() + answer.expiresInSeconds * 1000),
      scopes: answer.scopes,
    };
    remember(next.accessToken, next.refreshToken);
    // The answer is stored before anything else happens: the refresh token sent is already spent.
    const stored = await saveRefreshed(o.db, o.box, o.pipelineId, sealed, next);
    if (!stored)
      o.log?.warn(
        { pipelineId: o.pipelineId, system: o.system },
        'the OAuth connection was replaced during a refresh; the new connection is kept',
      );
    o.log?.debug({ pipelineId: o.pipelineId, system: o.system, expiresAt: next.expiresAt }, 'OAuth token refreshed');
    cached = {
      token: next.accessToken,
      expiresAt: next.expiresAt.getTime(),
      ahead: Math.min(ahead, (answer.expiresInSeconds * 1000) / 2),
    };
    return next.accessToken;
  };

  const obtain = async (): Promise<string> => {
    if (o.refreshToken) {
      remember(o.refreshToken);
      seeded ??= seedFromSettings(o.db, o.box, o.pipelineId, o.refreshToken).then(
        (did) => {
          if (did) o.log?.info({ pipelineId: o.pipelineId, system: o.system }, 'OAuth connection seeded from settings');
        },
        (err: unknown) => {
          seeded = null;
          throw err;
        },
      );
      await seeded;
    }
    const deadline = Date.now() + claimMs + timeoutMs;
    for (;;) {
      const row = await readConnection(o.db, o.pipelineId);
      if (!row) throw await reconnectError('it was never connected');
      if (row.status === 'revoked') throw await reconnectError(row.revoked_reason ?? 'the connection was revoked');
      const access = row.access_token === null ? null : o.box.tryDecrypt(row.access_token);
      const expiresAt = row.expires_at?.getTime() ?? 0;
      const now = Date.now();
      const valid = access !== null && !invalidated.has(access) && expiresAt - now > STILL_VALID_MS;
      if (valid) remember(access);
      // A platform (or a simulator's scaled clock) granting shorter lives than `ahead`: half its life.
      const issuedAt = (row.refreshed_at ?? row.connected_at).getTime();
      const aheadOfThis = Math.min(ahead, Math.max(0, (expiresAt - issuedAt) / 2));
      if (valid && expiresAt - now > aheadOfThis) {
        cached = { token: access, expiresAt, ahead: aheadOfThis };
        return access;
      }
      const current = o.box.tryDecrypt(row.refresh_token!);
      if (current === null)
        throw await reconnectError('its refresh token was stored with another encryption key and cannot be read');
      remember(current);
      if (await claimRefresh(o.db, o.pipelineId, row.refresh_token!, claimMs))
        return refresh(row.refresh_token!, current);
      // Another worker is refreshing: its token is read back from the row once stored.
      if (valid) return access;
      if (Date.now() > deadline)
        throw new ConnectorError(o.system, 'another worker has been refreshing the access token for too long', {
          retryable: true,
        });
      await sleep(pollMs);
    }
  };

  return {
    async accessToken(signal?: AbortSignal): Promise<string> {
      signal?.throwIfAborted();
      if (cached && !invalidated.has(cached.token) && cached.expiresAt - Date.now() > cached.ahead) return cached.token;
      // One refresh at a time in this process too; each caller may stop waiting on its own signal.
      inflight ??= obtain().finally(() => {
        inflight = null;
      });
      return untilAborted(inflight, signal);
    },
    invalidate(token: string): void {
      invalidated.add(token);
      if (cached?.token === token) cached = null;
    },
    secrets(): string[] {
      return [o.clientSecret, ...seen];
    },
    async tenantId(): Promise<string | null> {
      return (await readConnection(o.db, o.pipelineId))?.tenant_id ?? null;
    },
  };
}

function setting(settings: Record<string, unknown>, key: string): string | undefined {
  const v = settings[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** What refreshing a platform's tokens needs of its OAuth description. */
export type TokenRefreshProvider = Pick<
  OAuthProvider,
  'tokenUrl' | 'clientAuthentication' | 'grantGoneErrors' | 'refreshWithRedirectUri'
>;

/**
 * The token source of a target connected with OAuth 2.0, from its settings (the
 * `remoteTargetSettings` of src/sync/remote/settings.ts: clientId, clientSecret, refreshToken,
 * tokenUrl overriding the provider's). The provider says how its token endpoint is spoken to.
 */
export function oauthTokenSourceFor(
  deps: Pick<TargetDeps, 'db' | 'box' | 'pipelineId' | 'settings' | 'log'>,
  o: {
    system: string;
    provider: TokenRefreshProvider;
    guard?: GuardOptions | undefined;
    refreshAheadMs?: number | undefined;
  },
): TokenSource & { tenantId(): Promise<string | null> } {
  const clientId = setting(deps.settings, 'clientId');
  const clientSecret = setting(deps.settings, 'clientSecret');
  if (!clientId || !clientSecret)
    throw new ConnectorError(o.system, 'the target settings need clientId and clientSecret (the app’s credentials)', {
      retryable: false,
      code: 'TARGET_SETTING_MISSING',
    });
  return oauthTokenSource({
    db: deps.db,
    box: deps.box,
    pipelineId: deps.pipelineId,
    system: o.system,
    tokenUrl: setting(deps.settings, 'tokenUrl') ?? o.provider.tokenUrl,
    clientId,
    clientSecret,
    refreshToken: setting(deps.settings, 'refreshToken'),
    log: deps.log,
    guard: o.guard,
    refreshAheadMs: o.refreshAheadMs,
    clientAuthentication: o.provider.clientAuthentication,
    grantGoneErrors: o.provider.grantGoneErrors,
    refreshWithRedirectUri: o.provider.refreshWithRedirectUri,
  });
}
