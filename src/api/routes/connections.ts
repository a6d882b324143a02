import { z } from 'zod';
import { testConnection } from '../../sync/connection-test.ts';
import { requirePipeline } from '../../sync/pipelines.ts';
import { readConnection } from '../../sync/remote/oauth-store.ts';
import {
  completeConsent,
  disconnect,
  oauthProviderOf,
  startConsent,
  STATE_TTL_MINUTES,
} from '../../sync/remote/oauth-connect.ts';
import { connectionStartPath } from '../../sync/remote/oauth.ts';
import { defineRoute, type AnyRoute, type RouteContext } from '../route.ts';
import { scopeOf } from './sync-shared.ts';

/*
 * OAuth 2.0 connections of pipelines whose target is an accounting platform (Xero, QuickBooks
 * Online): the consent flow (start, callback), the connection's status, and disconnecting. The
 * flow itself is src/sync/remote/oauth-connect.ts; docs/connectors/oauth.md tells the story.
 */

const PipelineParam = z.object({
  pipeline: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'not a pipeline name'),
});

const ConnectionView = z
  .object({
    pipeline: z.string(),
    targetType: z.string(),
    status: z.enum(['connected', 'revoked', 'not-connected']).meta({
      description:
        '`connected`: tokens are stored; `revoked`: the platform refused the grant or it was disconnected (reconnect through `startPath`); `not-connected`: never connected (a `refreshToken` in the settings connects at the first run).',
    }),
    origin: z.enum(['oauth', 'settings']).nullable().meta({
      description: 'How it was connected: the consent flow, or the refresh token of the target settings.',
    }),
    tenantId: z.string().nullable(),
    tenantName: z.string().nullable(),
    scopes: z.string().nullable(),
    connectedAt: z.string().nullable(),
    refreshedAt: z.string().nullable(),
    accessTokenExpiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    revokedReason: z.string().nullable(),
    lastRefreshError: z.string().nullable().meta({
      description:
        'Why the last refresh of the access token failed while the grant stands (the platform down, a timeout); null once a refresh succeeds.',
    }),
    lastRefreshErrorAt: z.string().nullable(),
    startPath: z.string().meta({ description: 'Where to (re)connect, with the entity’s token.' }),
  })
  .meta({ id: 'Connection', description: 'A pipeline’s OAuth 2.0 connection. Tokens are never returned.' });
type ConnectionView = z.output<typeof ConnectionView>;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The redirect URI's base: LEDGERLINK_PUBLIC_URL, or http://localhost:PORT. */
function publicUrl(ctx: RouteContext<unknown, unknown, unknown>): string {
  const config = ctx.services.config;
  return config.publicUrl ?? `http://localhost:${config.port}`;
}

async function view(ctx: RouteContext<unknown, unknown, unknown>, name: string): Promise<ConnectionView> {
  const pipeline = await requirePipeline(ctx.db, ctx.services.sync.box, name, scopeOf(ctx), 'params.pipeline');
  oauthProviderOf(pipeline);
  const row = await readConnection(ctx.db, pipeline.id);
  return {
    pipeline: pipeline.name,
    targetType: pipeline.targetType,
    status: !row ? 'not-connected' : row.status === 'active' ? 'connected' : 'revoked',
    origin: row?.origin ?? null,
    tenantId: row?.tenant_id ?? null,
    tenantName: row?.tenant_name ?? null,
    scopes: row?.scopes ?? null,
    connectedAt: iso(row?.connected_at ?? null),
    refreshedAt: iso(row?.refreshed_at ?? null),
    accessTokenExpiresAt: iso(row?.expires_at ?? null),
    revokedAt: iso(row?.revoked_at ?? null),
    revokedReason: row?.revoked_reason ?? null,
    lastRefreshError: row?.last_refresh_error ?? null,
    lastRefreshErrorAt: iso(row?.last_refresh_error_at ?? null),
    startPath: connectionStartPath(pipeline.name),
  };
}

const startRoute = defineRoute({
  method: 'GET',
  path: '/v1/connections/{pipeline}/oauth/start',
  operationId: 'startConnection',
  summary: 'Connect a pipeline to its platform (OAuth 2.0 consent)',
  description:
    "Redirects (302) to the platform's consent page for the pipeline's target (Xero, QuickBooks Online), asking the scopes " +
    `its connector needs, with a random \`state\` bound to this entity and pipeline (stored hashed, single use, valid ${STATE_TTL_MINUTES} minutes) ` +
    'and PKCE (S256) where the platform takes it. The platform sends the browser back to `/v1/connections/{pipeline}/oauth/callback` ' +
    '(built from LEDGERLINK_PUBLIC_URL, default http://localhost:PORT; register that redirect URL in the platform app). ' +
    'With `?format=json` the answer is `{url}` (200) instead, for the CLI and the dashboard. Connecting again replaces the connection.',
  tags: ['connections'],
  auth: 'entity',
  role: 'owner',
  params: PipelineParam,
  query: z.object({
    format: z.enum(['redirect', 'json']).default('redirect'),
  }),
  success: {
    status: 302,
    description: 'The consent page (`Location`); with `?format=json`, 200 and `{url, redirectUri, expiresAt}`.',
  },
  errors: ['PIPELINE_NOT_FOUND', 'CONNECTION_NOT_OAUTH', 'PIPELINE_TARGET_SETTINGS_INVALID', 'SECRET_UNREADABLE'],
  handler: async (ctx) => {
    const pipeline = await requirePipeline(
      ctx.db,
      ctx.services.sync.box,
      ctx.params.pipeline,
      ctx.entity.id,
      'params.pipeline',
    );
    const started = await startConsent(ctx.db, ctx.services.sync.box, {
      pipeline,
      publicUrl: publicUrl(ctx),
      actor: ctx.principal.actor,
    });
    if (ctx.query.format === 'json') {
      ctx.setStatus(200);
      return { url: started.url, redirectUri: started.redirectUri, expiresAt: started.expiresAt.toISOString() };
    }
    ctx.reply.header('location', started.url);
    return undefined;
  },
});

const callbackRoute = defineRoute({
  method: 'GET',
  path: '/v1/connections/{pipeline}/oauth/callback',
  operationId: 'completeConnection',
  summary: "The platform's redirect after a consent",
  description:
    'Where the platform sends the browser back (no Authorization header: the `state` authenticates it). Refused when the state is ' +
    'unknown, already used, expired or issued for another pipeline (OAUTH_STATE_INVALID), or when the user did not grant access. ' +
    "Otherwise the code is exchanged (with the PKCE verifier), the organisation or company is chosen (the only one the consent covers, or the one the target's `tenantId`/`realmId` names), " +
    'and the tokens are stored encrypted; the connection is audited, never its tokens.',
  tags: ['connections'],
  auth: 'none',
  params: PipelineParam,
  query: z.looseObject({
    code: z.string().max(4000).optional(),
    state: z.string().max(200).optional(),
    error: z.string().max(200).optional(),
    error_description: z.string().max(2000).optional(),
    realmId: z.string().max(200).optional(),
  }),
  success: {
    status: 200,
    description: 'Connected.',
    schema: z.object({
      connected: z.literal(true),
      pipeline: z.string(),
      tenantId: z.string(),
      tenantName: z.string().nullable(),
      accessTokenExpiresAt: z.string(),
    }),
  },
  errors: [
    'OAUTH_STATE_INVALID',
    'OAUTH_CONSENT_DENIED',
    'OAUTH_CODE_REJECTED',
    'OAUTH_PLATFORM_UNAVAILABLE',
    'OAUTH_TENANT_AMBIGUOUS',
    'OAUTH_TENANT_NOT_GRANTED',
    'CONNECTION_NOT_OAUTH',
    'PIPELINE_TARGET_SETTINGS_INVALID',
    'SECRET_UNREADABLE',
  ],
  handler: async (ctx) => {
    const callback = new URLSearchParams();
    for (const [k, v] of Object.entries(ctx.query)) if (typeof v === 'string') callback.set(k, v);
    const done = await completeConsent(ctx.db, ctx.services.sync.box, {
      pipelineName: ctx.params.pipeline,
      callback,
      log: ctx.log,
    });
    ctx.log.info({ pipeline: done.pipeline.name, tenantId: done.tenant.tenantId }, 'OAuth connection made');
    return {
      connected: true as const,
      pipeline: done.pipeline.name,
      tenantId: done.tenant.tenantId,
      tenantName: done.tenant.tenantName ?? null,
      accessTokenExpiresAt: done.expiresAt.toISOString(),
    };
  },
});

const getRoute = defineRoute({
  method: 'GET',
  path: '/v1/connections/{pipeline}',
  operationId: 'getConnection',
  summary: "Read a pipeline's connection",
  description:
    'Whether the pipeline is connected, to which organisation or company, until when its access token runs, and why it was revoked. Never a token.',
  tags: ['connections'],
  auth: 'entityOrAdmin',
  role: 'owner',
  params: PipelineParam,
  success: { status: 200, description: 'The connection.', schema: ConnectionView },
  errors: ['PIPELINE_NOT_FOUND', 'CONNECTION_NOT_OAUTH'],
  handler: async (ctx): Promise<ConnectionView> => view(ctx, ctx.params.pipeline),
});

const deleteRoute = defineRoute({
  method: 'DELETE',
  path: '/v1/connections/{pipeline}',
  operationId: 'deleteConnection',
  summary: 'Disconnect a pipeline from its platform',
  description:
    "Forgets the connection's tokens (it reads `revoked` until connected again; the pipeline's documents park with TARGET_AUTH_REVOKED meanwhile), " +
    'and revokes the refresh token at the platform where it has a revocation endpoint (`revokedAtPlatform`).',
  tags: ['connections'],
  auth: 'entityOrAdmin',
  role: 'owner',
  params: PipelineParam,
  write: false,
  success: {
    status: 200,
    description: 'The connection as it is now.',
    schema: ConnectionView.extend({
      revokedAtPlatform: z.boolean().nullable().meta({
        description:
          'Whether the platform confirmed the revocation; null when it was not asked (no endpoint, nothing connected).',
      }),
    }),
  },
  errors: ['PIPELINE_NOT_FOUND', 'CONNECTION_NOT_OAUTH'],
  handler: async (ctx) => {
    const pipeline = await requirePipeline(
      ctx.db,
      ctx.services.sync.box,
      ctx.params.pipeline,
      scopeOf(ctx),
      'params.pipeline',
    );
    const revokedAtPlatform = await disconnect(ctx.db, ctx.services.sync.box, {
      pipeline,
      actor: ctx.principal.actor,
      log: ctx.log,
      requestId: ctx.requestId,
    });
    return { ...(await view(ctx, pipeline.name)), revokedAtPlatform };
  },
});

const SideTestView = z.object({
  side: z.enum(['source', 'target']),
  type: z.string(),
  outcome: z.enum(['ok', 'failed', 'skipped']).meta({
    description:
      '`skipped`: the connector has nothing to call (a file or webhook source receives what is sent to ledgerlink).',
  }),
  message: z.string().meta({ description: 'What was reached, or what the system answered; never a credential.' }),
  code: z
    .enum([
      'CONNECTION_AUTH_FAILED',
      'CONNECTION_UNAVAILABLE',
      'CONNECTION_REFUSED',
      'OUTBOUND_REFUSED',
      'CONNECTION_SETTINGS_INVALID',
      'SECRET_UNREADABLE',
    ])
    .nullable()
    .meta({
      description:
        '`CONNECTION_AUTH_FAILED` credentials or grant refused (401, 403, a revoked connection); `CONNECTION_UNAVAILABLE` no answer or a passing failure (5xx, 429, timeout); ' +
        '`CONNECTION_REFUSED` any other refusal; `OUTBOUND_REFUSED` an address the outbound policy forbids; `CONNECTION_SETTINGS_INVALID` settings incomplete (a company id missing); ' +
        '`SECRET_UNREADABLE` a secret stored with another encryption key. Null unless failed.',
    }),
  reason: z
    .string()
    .nullable()
    .meta({ description: "The connector's own reason code, when it gave one (TARGET_AUTH_REVOKED)." }),
  next: z.string().nullable().meta({ description: 'What to do next, for a failure.' }),
  status: z.number().nullable().meta({ description: 'The remote status, when there was an answer.' }),
  durationMs: z.number(),
});

const testRoute = defineRoute({
  method: 'POST',
  path: '/v1/connections/{pipeline}/test',
  operationId: 'testConnection',
  summary: "Test a pipeline's source and target connections",
  description:
    "Makes the cheapest authenticated read each side offers, as a run would make it (the pipeline's settings, its OAuth connection, the outbound policy and the rate planner): " +
    'Xero GET /Organisation, QuickBooks Online companyinfo, iXpole a one-record page of instalments, Stripe the balance, the embedded ledger that the entity exists, ' +
    'a webhook target its lookup URL (a reference nothing was booked under, answered 404). A file or webhook source, and a webhook target without a lookup URL, have nothing to call (`skipped`). Answers 200 whether or not the systems accepted: `ok` says whether any side failed, ' +
    'and each failed side carries a stable code, the message and what to do next. Nothing is written and no credential is ever returned; ' +
    'with the rate planner, each read counts against the tenant’s budget like any call.',
  tags: ['connections'],
  auth: 'entityOrAdmin',
  role: 'owner',
  params: PipelineParam,
  // The rate planner may not run inside a transaction, and a test writes nothing.
  write: false,
  idempotency: { ignore: 'a test writes nothing and is made afresh each time.' },
  success: {
    status: 200,
    description: 'The outcome of each side.',
    schema: z
      .object({ pipeline: z.string(), ok: z.boolean(), source: SideTestView, target: SideTestView })
      .meta({ id: 'ConnectionTest' }),
  },
  errors: ['PIPELINE_NOT_FOUND'],
  handler: async (ctx) => {
    const pipeline = await requirePipeline(
      ctx.db,
      ctx.services.sync.box,
      ctx.params.pipeline,
      scopeOf(ctx),
      'params.pipeline',
    );
    const result = await testConnection(
      { db: ctx.db, box: ctx.services.sync.box, log: ctx.log },
      pipeline,
      AbortSignal.timeout(60_000),
    );
    ctx.log.info(
      { pipeline: pipeline.name, ok: result.ok, source: result.source.code, target: result.target.code },
      'connection tested',
    );
    return result;
  },
});

export const connectionRoutes: AnyRoute[] = [startRoute, callbackRoute, getRoute, deleteRoute, testRoute];
