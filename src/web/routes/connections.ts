import { h } from 'preact';
import { z } from 'zod';
import { DomainError } from '../../domain/errors.ts';
import { roleAtLeast } from '../../domain/roles.ts';
import { testConnection } from '../../sync/connection-test.ts';
import { requirePipeline } from '../../sync/pipelines.ts';
import { disconnect, startConsent } from '../../sync/remote/oauth-connect.ts';
import { SuccessNotice } from '../components/common.tsx';
import {
  ConnectionTestResult,
  ConnectionsPage,
  OAuthState,
  loadConnectionState,
  loadConnections,
} from '../pages/connections.tsx';
import type { Dashboard } from '../plugin.ts';
import { sendFragment, sendPage } from '../render.ts';
import { assertMayChange } from '../session.ts';

const PipelineName = z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/) });

function nameOf(params: unknown): string {
  const r = PipelineName.safeParse(params);
  if (!r.success) throw new DomainError('NOT_FOUND', 'No pipeline here: the address is not right.');
  return r.data.name;
}

/**
 * GET /connections: the pipelines' settings to every role, as GET /v1/pipelines; their OAuth connections
 * and rate budgets to owners only, as GET /v1/connections/{pipeline}. POST test, connect (OAuth consent) and disconnect, each for owners only, with
 * the CSRF token: the same functions as POST /v1/connections/{pipeline}/test, GET …/oauth/start
 * and DELETE /v1/connections/{pipeline}.
 */
export function registerConnectionPages(d: Dashboard): void {
  const { services } = d;
  const { db } = services;
  // Per request, as the API's routes read it: a server without the sync engine still serves the other pages.
  const box = () => services.sync.box;

  d.page('/connections', async (ctx, _request, reply) => {
    const owner = roleAtLeast(ctx.viewer.role, 'owner');
    const items = await loadConnections(db, box(), ctx.viewer.entity.id, { connection: owner });
    return sendPage(reply, h(ConnectionsPage, { ctx, items }));
  });

  d.action('/connections/:name/test', async (ctx, request, reply) => {
    assertMayChange(request, services, ctx.viewer, 'owner');
    const pipeline = await requirePipeline(db, box(), nameOf(request.params), ctx.viewer.entity.id, 'name');
    const result = await testConnection(
      { db, box: box(), log: services.sync.log },
      pipeline,
      AbortSignal.timeout(60_000),
    );
    return sendFragment(reply, h(ConnectionTestResult, { result }));
  });

  d.action('/connections/:name/connect', async (ctx, request, reply) => {
    assertMayChange(request, services, ctx.viewer, 'owner');
    const pipeline = await requirePipeline(db, box(), nameOf(request.params), ctx.viewer.entity.id, 'name');
    const config = services.config;
    const started = await startConsent(db, box(), {
      pipeline,
      publicUrl: config.publicUrl ?? `http://localhost:${config.port}`,
      actor: ctx.viewer.actor,
    });
    // htmx navigates there itself (a form's redirect to another site would be stopped by form-action 'self').
    if (request.headers['hx-request']) return reply.status(200).header('hx-redirect', started.url).send('');
    return reply.redirect(started.url, 303);
  });

  d.action('/connections/:name/disconnect', async (ctx, request, reply) => {
    assertMayChange(request, services, ctx.viewer, 'owner');
    const pipeline = await requirePipeline(db, box(), nameOf(request.params), ctx.viewer.entity.id, 'name');
    const revokedAtPlatform = await disconnect(db, box(), {
      pipeline,
      actor: ctx.viewer.actor,
      log: services.sync.log,
      requestId: request.id,
    });
    const notice = h(
      SuccessNotice,
      null,
      revokedAtPlatform === true
        ? 'Disconnected: the tokens are forgotten and the platform confirmed the revocation.'
        : 'Disconnected: the tokens are forgotten.',
    );
    const oauth = await loadConnectionState(db, pipeline);
    return sendFragment(reply, h(OAuthState, { ctx, name: pipeline.name, oauth, notice }));
  });
}
