import { h } from 'preact';
import { ReconciliationPage, ReconciliationQuery, loadReconciliation } from '../pages/reconciliation.tsx';
import type { Dashboard } from '../plugin.ts';
import { sendPage } from '../render.ts';

/** GET /reconciliation?pipeline=&from=&to=: source against target, by GET /v1/pipelines/{name}/reconciliation's function. */
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
}
