import { h } from 'preact';
import { z } from 'zod';
import { DomainError } from '../../domain/errors.ts';
import { IsoDate } from '../../domain/schemas.ts';
import { requirePipeline } from '../../sync/pipelines.ts';
import { reconcileWindow } from '../../sync/reconcile.ts';
import { getReconciliation } from '../../sync/reconciliations.ts';
import {
  ReconciliationPage,
  ReconciliationProgress,
  ReconciliationQuery,
  loadReconciliation,
} from '../pages/reconciliation.tsx';
import type { Dashboard } from '../plugin.ts';
import { sendFragment, sendPage } from '../render.ts';
import { assertMayChange } from '../session.ts';

const StartForm = z.object({
  pipeline: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/),
  from: IsoDate,
  to: IsoDate,
});
const ReconciliationId = z.object({ id: z.uuid() });

/** The start form's fields, or a refusal naming the first that is not right (nothing is queued). */
function startForm(body: unknown): z.output<typeof StartForm> {
  const r = StartForm.safeParse(body && typeof body === 'object' ? body : {});
  if (r.success) return r.data;
  const field = String(r.error.issues[0]?.path[0] ?? 'form');
  throw new DomainError('VALIDATION_ERROR', `${field}: ${r.error.issues[0]?.message ?? 'not valid'}`, [
    { field, message: r.error.issues[0]?.message ?? 'not valid' },
  ]);
}

/**
 * GET /reconciliation?pipeline=&from=&to=: source against target, by GET /v1/pipelines/{name}/reconciliation's
 * function, or (a target read over the network) by a worker: POST /reconciliation/start queues one
 * as POST /v1/pipelines/{name}/reconciliations does, and GET /reconciliation/progress/{id} is its
 * progress, asked for every second until it is done.
 */
export function registerReconciliationPages(d: Dashboard): void {
  const { services } = d;
  d.page('/reconciliation', async (ctx, request, reply) => {
    const query = ReconciliationQuery.parse(request.query ?? {});
    const data = await loadReconciliation(
      services.db,
      services.sync.box,
      services.sync.log,
      ctx.viewer.entity.id,
      query,
    );
    return sendPage(reply, h(ReconciliationPage, { ctx, data }));
  });

  d.action('/reconciliation/start', async (ctx, request, reply) => {
    // It only reads: whoever may see the reconciliation may have it done.
    assertMayChange(request, services, ctx.viewer, 'viewer');
    const form = startForm(request.body);
    const window = reconcileWindow(form.from, form.to);
    if (!window)
      throw new DomainError('VALIDATION_ERROR', 'The period ends before it starts.', [
        { field: 'from', message: 'after to' },
      ]);
    const pipeline = await requirePipeline(
      services.db,
      services.sync.box,
      form.pipeline,
      ctx.viewer.entity.id,
      'pipeline',
    );
    await services.sync.reconciliations.start(pipeline, window, ctx.viewer.actor);
    const next = `/reconciliation?${new URLSearchParams({ pipeline: pipeline.name, ...window }).toString()}`;
    if (request.headers['hx-request']) return reply.status(200).header('hx-redirect', next).send('');
    return reply.redirect(next, 303);
  });

  d.page('/reconciliation/progress/:id', async (ctx, request, reply) => {
    const id = ReconciliationId.safeParse(request.params).data?.id;
    const stored = id ? await getReconciliation(services.db, id, ctx.viewer.entity.id) : null;
    if (!stored) throw new DomainError('NOT_FOUND', `No such reconciliation in ${ctx.viewer.entity.name}.`);
    // Done: the page is loaded again, with the report.
    if (stored.status === 'succeeded' || stored.status === 'failed') reply.header('hx-refresh', 'true');
    return sendFragment(reply, h(ReconciliationProgress, { ctx, stored }));
  });
}
