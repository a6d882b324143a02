import { h } from 'preact';
import { z } from 'zod';
import { DomainError } from '../../domain/errors.ts';
import { startManualRun } from '../../sync/manual-run.ts';
import { auditAs } from '../../sync/pipelines.ts';
import { cancelRun } from '../../sync/run-cancel.ts';
import { getRun } from '../../sync/runs.ts';
import { RunProgress } from '../components/runs.tsx';
import { RunDetailPage, RunRecordsQuery, RunsPage, RunsQuery, loadRunDetail, loadRuns } from '../pages/runs.tsx';
import type { Dashboard } from '../plugin.ts';
import { sendFragment, sendPage } from '../render.ts';
import { assertMayChange } from '../session.ts';

const RunId = z.object({ runId: z.string().uuid() });
const PipelineName = z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/) });

function parsed<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new DomainError('NOT_FOUND', `No ${what} here: the address is not right.`);
  return r.data;
}

/**
 * GET /runs, /runs/{id}, the live progress fragment, POST /pipelines/{name}/run ("Run now") and
 * POST /runs/{id}/cancel ("Cancel run").
 */
export function registerRunPages(d: Dashboard): void {
  const { services } = d;
  d.page('/runs', async (ctx, request, reply) => {
    const query = RunsQuery.parse(request.query ?? {});
    const data = await loadRuns(services.db, services.sync.box, ctx.viewer.entity.id, query);
    return sendPage(reply, h(RunsPage, { ctx, data }));
  });

  d.page('/runs/:runId', async (ctx, request, reply) => {
    const { runId } = parsed(RunId, request.params, 'run');
    const run = await getRun(services.db, runId, ctx.viewer.entity.id);
    if (!run) throw new DomainError('NOT_FOUND', `No run ${runId} in ${ctx.viewer.entity.name}.`);
    const { page, problems } = RunRecordsQuery.parse(request.query ?? {});
    return sendPage(reply, h(RunDetailPage, { ctx, data: await loadRunDetail(services.db, run, page, problems) }));
  });

  d.page('/runs/:runId/progress', async (ctx, request, reply) => {
    const { runId } = parsed(RunId, request.params, 'run');
    const run = await getRun(services.db, runId, ctx.viewer.entity.id);
    if (!run) throw new DomainError('NOT_FOUND', `No run ${runId} in ${ctx.viewer.entity.name}.`);
    return sendFragment(reply, h(RunProgress, { ctx, run }));
  });

  d.action('/pipelines/:name/run', async (ctx, request, reply) => {
    assertMayChange(request, services, ctx.viewer, 'accountant');
    const { name } = parsed(PipelineName, request.params, 'pipeline');
    const started = await startManualRun(
      services.db,
      services.sync,
      name,
      ctx.viewer.entity.id,
      ctx.viewer.actor,
      'pipeline',
    );
    const run = await getRun(services.db, started.runId, ctx.viewer.entity.id);
    if (!run) throw new DomainError('NOT_FOUND', `No run ${started.runId}`);
    return sendFragment(reply, h(RunProgress, { ctx, run }));
  });

  d.action('/runs/:runId/cancel', async (ctx, request, reply) => {
    assertMayChange(request, services, ctx.viewer, 'accountant');
    const { runId } = parsed(RunId, request.params, 'run');
    const { run } = await services.db.transaction((tx) =>
      cancelRun(tx, runId, {
        entityId: ctx.viewer.entity.id,
        actor: ctx.viewer.actor,
        leaseSeconds: services.sync.liveness.leaseSeconds,
        audit: auditAs(tx, ctx.viewer.actor),
      }),
    );
    return sendFragment(reply, h(RunProgress, { ctx, run }));
  });
}
