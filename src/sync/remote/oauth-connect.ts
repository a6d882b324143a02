import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Queryable } from '../../db/database.ts';
import { DomainError } from '../../domain/errors.ts';
import { recordAudit } from '../../ledger/audit.ts';
import { ConnectorError } from '../connector.ts';
import { type GuardOptions, outboundRequest } from '../http.ts';
import { type Pipeline, assertSecretsReadable, findPipelineById } from '../pipelines.ts';
import { targetDefinition } from '../registry.ts';
import type { SecretBox } from '../secrets.ts';
import type { OAuthProvider, OAuthTenant, RemoteResponse } from './contracts.ts';
import { basicAuthorization, postTokenGrant, type TokenEndpoint } from './oauth-endpoint.ts';
import { readConnection, revokeConnection, storeConnection } from './oauth-store.ts';
import { connectionCallbackPath, connectionStartPath } from './oauth.ts';

/*
 * The consent flow of a pipeline's OAuth 2.0 connection (RFC 6749 §4.1 with PKCE, RFC 7636):
 * `startConsent` binds a random `state` (stored hashed, single use, 10 minutes) to the entity and
 * pipeline and builds the platform's consent URL; `completeConsent` takes the platform's redirect
 * back, authenticated by that state alone, exchanges the code, picks the tenant and stores the
 * tokens sealed. The HTTP routes (src/api/routes/connections.ts) are a thin layer over these.
 */

/** How long a started consent may take. */
export const STATE_TTL_MINUTES = 10;

const hashState = (state: string) => createHash('sha256').update(state, 'utf8').digest('hex');

function text(settings: Record<string, unknown>, key: string): string | undefined {
  const v = settings[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The OAuth provider of a pipeline's target, or CONNECTION_NOT_OAUTH. */
export function oauthProviderOf(pipeline: Pipeline): OAuthProvider {
  const provider = targetDefinition(pipeline.targetType).oauth;
  if (!provider)
    throw new DomainError(
      'CONNECTION_NOT_OAUTH',
      `Pipeline ${pipeline.name}: its target (${pipeline.targetType}) does not connect through OAuth 2.0`,
    );
  return provider;
}

/** The app credentials and endpoints of a pipeline's OAuth target, settings overriding the provider's. */
function appOf(pipeline: Pipeline, provider: OAuthProvider) {
  assertSecretsReadable(pipeline);
  const s = pipeline.targetConfig;
  const clientId = text(s, 'clientId');
  const clientSecret = text(s, 'clientSecret');
  if (!clientId || !clientSecret)
    throw new DomainError(
      'PIPELINE_TARGET_SETTINGS_INVALID',
      `Pipeline ${pipeline.name}: the target needs clientId and clientSecret (the platform app's credentials) to connect`,
      [
        ...(clientId ? [] : [{ field: 'target.clientId', message: 'required to connect' }]),
        ...(clientSecret ? [] : [{ field: 'target.clientSecret', message: 'required to connect' }]),
      ],
    );
  return {
    clientId,
    clientSecret,
    tokenUrl: text(s, 'tokenUrl') ?? provider.tokenUrl,
    authorizeUrl: text(s, 'authorizeUrl') ?? provider.authorizeUrl,
  };
}

/** The setting that names the tenant among those a consent covers: `realmId` where the target takes it, else `tenantId`. */
function tenantSetting(pipeline: Pipeline): 'tenantId' | 'realmId' {
  const schema = targetDefinition(pipeline.targetType).settings as unknown as { shape?: Record<string, unknown> };
  return schema.shape && 'realmId' in schema.shape ? 'realmId' : 'tenantId';
}

export interface ConsentStart {
  /** The platform's consent page, with response_type, client_id, redirect_uri, scope, state (and PKCE). */
  url: string;
  redirectUri: string;
  expiresAt: Date;
}

/**
 * Starts a consent for the pipeline: a random state, stored hashed and bound to the pipeline's
 * entity, and the URL of the platform's consent page.
 */
export async function startConsent(
  db: Queryable,
  box: SecretBox,
  o: { pipeline: Pipeline; publicUrl: string; actor: string },
): Promise<ConsentStart> {
  const provider = oauthProviderOf(o.pipeline);
  const app = appOf(o.pipeline, provider);
  const state = randomBytes(32).toString('base64url');
  const verifier = provider.pkce ? randomBytes(48).toString('base64url') : null;
  const redirectUri = `${o.publicUrl}${connectionCallbackPath(o.pipeline.name)}`;
  // Consents older than a day are of no use, not even to say "expired".
  await db.query(`DELETE FROM oauth_states WHERE expires_at < now() - interval '1 day'`);
  const { rows } = await db.query<{ expires_at: Date }>(
    `INSERT INTO oauth_states (state_hash, entity_id, pipeline_id, code_verifier, redirect_uri, actor, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(mins => $7)) RETURNING expires_at`,
    [
      hashState(state),
      o.pipeline.entityId,
      o.pipeline.id,
      verifier === null ? null : box.encrypt(verifier),
      redirectUri,
      o.actor.slice(0, 200),
      STATE_TTL_MINUTES,
    ],
  );
  const url = new URL(app.authorizeUrl);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', app.clientId);
  url.searchParams.set('redirect_uri', redirectUri);
  url.searchParams.set('scope', provider.scopes.join(' '));
  url.searchParams.set('state', state);
  if (verifier !== null) {
    url.searchParams.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return { url: url.href, redirectUri, expiresAt: rows[0]!.expires_at };
}

interface StateRow {
  entity_id: string;
  pipeline_id: string;
  code_verifier: string | null;
  redirect_uri: string;
  actor: string;
}

function stateRefused(reason: 'missing' | 'unknown' | 'used' | 'expired' | 'other-pipeline', pipeline: string) {
  const why = {
    missing: 'the redirect carries no state',
    unknown: 'this state was never issued here',
    used: 'this state was already used',
    expired: `this state has expired (a consent must be completed within ${STATE_TTL_MINUTES} minutes)`,
    'other-pipeline': 'this state was issued for another pipeline',
  }[reason];
  return new DomainError(
    'OAUTH_STATE_INVALID',
    `The consent cannot be accepted: ${why}. Nothing was stored. Start again: ${connectionStartPath(pipeline)}`,
    { reason },
  );
}

/**
 * Takes the state of a callback: valid, unused, not expired and issued for this pipeline, marked
 * used in the same statement (a replay finds it used). Refused with OAUTH_STATE_INVALID otherwise.
 */
async function takeState(db: Queryable, state: string | undefined, pipelineName: string): Promise<StateRow> {
  if (!state) throw stateRefused('missing', pipelineName);
  const hash = hashState(state);
  const { rows } = await db.query<StateRow>(
    `UPDATE oauth_states s SET used_at = now()
       FROM pipelines p
      WHERE s.state_hash = $1 AND p.id = s.pipeline_id AND p.name = $2 AND p.deleted_at IS NULL
        AND s.used_at IS NULL AND s.expires_at > now()
      RETURNING s.entity_id, s.pipeline_id, s.code_verifier, s.redirect_uri, s.actor`,
    [hash, pipelineName],
  );
  if (rows[0]) return rows[0];
  const { rows: why } = await db.query<{ used: boolean; expired: boolean; name: string | null }>(
    `SELECT s.used_at IS NOT NULL AS used, s.expires_at <= now() AS expired, p.name
       FROM oauth_states s LEFT JOIN pipelines p ON p.id = s.pipeline_id AND p.deleted_at IS NULL
      WHERE s.state_hash = $1`,
    [hash],
  );
  const found = why[0];
  if (!found) throw stateRefused('unknown', pipelineName);
  if (found.name !== pipelineName) throw stateRefused('other-pipeline', pipelineName);
  throw stateRefused(found.used ? 'used' : 'expired', pipelineName);
}

/** A failure of the platform during the exchange, as the API answers it. */
function platformRefusal(err: unknown, pipeline: string): never {
  if (err instanceof ConnectorError) {
    if (err.retryable)
      throw new DomainError('OAUTH_PLATFORM_UNAVAILABLE', `${err.message}. Nothing was stored; start again later.`);
    throw new DomainError(
      'OAUTH_CODE_REJECTED',
      `${err.message}. Nothing was stored; start again: ${connectionStartPath(pipeline)}`,
    );
  }
  throw err;
}

function chooseTenant(pipeline: Pipeline, tenants: OAuthTenant[]): OAuthTenant {
  const key = tenantSetting(pipeline);
  const named = text(pipeline.targetConfig, key);
  const listed = tenants.map((t) => ({ tenantId: t.tenantId, tenantName: t.tenantName ?? null }));
  const list = listed.map((t) => (t.tenantName ? `${t.tenantId} (${t.tenantName})` : t.tenantId)).join(', ');
  if (named !== undefined) {
    const match = tenants.find((t) => t.tenantId === named);
    if (match) return match;
    throw new DomainError(
      'OAUTH_TENANT_NOT_GRANTED',
      `The target's ${key} is ${named}, which this consent does not cover` +
        (tenants.length ? ` (it covers ${list}): choose it at the platform's consent page, or change ${key}` : ''),
      { setting: `target.${key}`, tenants: listed },
    );
  }
  if (tenants.length === 1) return tenants[0]!;
  if (tenants.length === 0)
    throw new DomainError(
      'OAUTH_TENANT_NOT_GRANTED',
      'The consent covers no organisation or company: nothing to connect to',
      {
        setting: `target.${key}`,
        tenants: [],
      },
    );
  throw new DomainError(
    'OAUTH_TENANT_AMBIGUOUS',
    `The consent covers ${tenants.length} organisations or companies: ${list}. Add ${key} to the pipeline's target ` +
      `with the one to use, then start the connection again. Nothing was stored.`,
    { setting: `target.${key}`, tenants: listed },
  );
}

export interface ConsentDone {
  pipeline: Pipeline;
  tenant: OAuthTenant;
  expiresAt: Date;
  scopes: string | null;
}

/**
 * Completes a consent from the platform's redirect (`code`, `state`, and whatever else it sends,
 * QuickBooks' `realmId`): the state is checked and spent, the code exchanged (with the PKCE
 * verifier), the tenant chosen, the tokens stored sealed and the connection audited (no token),
 * in one transaction. A refusal by the user (`error=access_denied`) stores nothing.
 */
export async function completeConsent(
  db: Queryable,
  box: SecretBox,
  o: { pipelineName: string; callback: URLSearchParams; guard?: GuardOptions | undefined; log?: Logger | undefined },
): Promise<ConsentDone> {
  const st = await takeState(db, o.callback.get('state') ?? undefined, o.pipelineName);
  const error = o.callback.get('error');
  if (error !== null) {
    const token = /^[A-Za-z0-9_.-]{1,64}$/.test(error) ? error : 'error';
    throw new DomainError(
      'OAUTH_CONSENT_DENIED',
      `The platform sent the consent back with ${token}${token === 'access_denied' ? ' (access was not granted)' : ''}. ` +
        `Nothing was stored; start again to connect: ${connectionStartPath(o.pipelineName)}`,
      { error: token },
    );
  }
  const code = o.callback.get('code');
  if (!code)
    throw new DomainError(
      'OAUTH_CODE_REJECTED',
      'The platform sent the consent back without a code. Nothing was stored.',
    );
  const pipeline = await findPipelineById(db, box, st.pipeline_id);
  if (!pipeline || pipeline.entityId !== st.entity_id) throw stateRefused('unknown', o.pipelineName);
  const provider = oauthProviderOf(pipeline);
  const app = appOf(pipeline, provider);
  const endpoint: TokenEndpoint = {
    system: pipeline.targetType,
    ...app,
    guard: o.guard,
    clientAuthentication: provider.clientAuthentication,
  };
  const verifier = st.code_verifier === null ? null : box.tryDecrypt(st.code_verifier);
  // Sealed with a key this server no longer has: the consent cannot be completed.
  if (st.code_verifier !== null && verifier === null) throw stateRefused('unknown', o.pipelineName);
  let answer;
  try {
    answer = await postTokenGrant(endpoint, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: st.redirect_uri,
      ...(verifier === null ? {} : { code_verifier: verifier }),
    });
  } catch (err) {
    platformRefusal(err, pipeline.name);
  }
  if (answer.refreshToken === null)
    throw new DomainError(
      'OAUTH_CODE_REJECTED',
      'The platform granted no refresh token (is offline access among the scopes the app may ask?). Nothing was stored.',
    );
  const request = async (url: string, init: { headers: Record<string, string> }): Promise<RemoteResponse> => {
    const a = await outboundRequest(
      url,
      { method: 'GET', headers: init.headers, signal: AbortSignal.timeout(30_000) },
      o.guard ?? {},
    );
    return { status: a.status, headers: a.headers, text: a.text, body: Buffer.from(a.text, 'utf8') };
  };
  let tenants: OAuthTenant[];
  try {
    tenants = await provider.tenants({
      callback: o.callback,
      accessToken: answer.accessToken,
      settings: pipeline.targetConfig,
      request,
    });
  } catch (err) {
    if (err instanceof DomainError) throw err;
    o.log?.warn(
      { err: err instanceof ConnectorError ? err.message : String(err), pipeline: pipeline.name },
      'OAuth tenants lookup failed',
    );
    throw new DomainError(
      'OAUTH_PLATFORM_UNAVAILABLE',
      `Reading which organisations the consent covers failed at ${pipeline.targetType}. Nothing was stored; start again later.`,
    );
  }
  const tenant = chooseTenant(pipeline, tenants);
  const expiresAt = new Date(Date.now() + answer.expiresInSeconds * 1000);
  const refreshToken = answer.refreshToken;
  await db.transaction(async (tx) => {
    await storeConnection(tx, box, {
      pipelineId: pipeline.id,
      accessToken: answer.accessToken,
      refreshToken,
      expiresAt,
      tenantId: tenant.tenantId,
      tenantName: tenant.tenantName ?? null,
      scopes: answer.scopes,
      settingsRefreshToken: text(pipeline.targetConfig, 'refreshToken') ?? null,
    });
    await recordAudit(tx, {
      entityId: pipeline.entityId,
      actor: st.actor,
      action: 'connection.connected',
      objectType: 'pipeline',
      objectId: pipeline.name,
      after: { tenantId: tenant.tenantId, tenantName: tenant.tenantName ?? null, scopes: answer.scopes, expiresAt },
    });
  });
  return { pipeline, tenant, expiresAt, scopes: answer.scopes };
}

/**
 * Forgets a pipeline's tokens (the connection reads as revoked until connected again), audited,
 * then asks the platform to revoke the refresh token when it has a revocation endpoint. Returns
 * whether the platform confirmed (null: not asked).
 */
export async function disconnect(
  db: Queryable,
  box: SecretBox,
  o: {
    pipeline: Pipeline;
    actor: string;
    requestId?: string | undefined;
    guard?: GuardOptions | undefined;
    log?: Logger | undefined;
  },
): Promise<boolean | null> {
  const provider = oauthProviderOf(o.pipeline);
  const row = await readConnection(db, o.pipeline.id);
  if (!row || row.status !== 'active') return null;
  const refreshToken = row.refresh_token === null ? null : box.tryDecrypt(row.refresh_token);
  await db.transaction(async (tx) => {
    await revokeConnection(tx, o.pipeline.id, `disconnected by ${o.actor}`);
    await recordAudit(tx, {
      entityId: o.pipeline.entityId,
      actor: o.actor,
      action: 'connection.disconnected',
      objectType: 'pipeline',
      objectId: o.pipeline.name,
      before: { status: 'active', tenantId: row.tenant_id },
      after: { status: 'revoked' },
      requestId: o.requestId,
    });
  });
  if (!provider.revocation || refreshToken === null) return null;
  try {
    const app = appOf(o.pipeline, provider);
    const { url, body } = provider.revocation;
    const a = await outboundRequest(
      url,
      {
        method: 'POST',
        headers: {
          authorization: basicAuthorization(app.clientId, app.clientSecret),
          'content-type': body === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body:
          body === 'json'
            ? JSON.stringify({ token: refreshToken })
            : new URLSearchParams({ token: refreshToken }).toString(),
        signal: AbortSignal.timeout(15_000),
      },
      o.guard ?? {},
    );
    return a.status >= 200 && a.status < 300;
  } catch (err) {
    o.log?.warn(
      { pipeline: o.pipeline.name, err: err instanceof Error ? err.name : 'error' },
      'revoking at the platform failed; the tokens are forgotten here',
    );
    return false;
  }
}
