import { h } from 'preact';
import { OverviewPage, loadOverview } from '../pages/overview.tsx';
import { sendPage } from '../render.ts';
import type { Dashboard } from '../plugin.ts';

/** GET /: the overview. */
export function registerOverview(d: Dashboard): void {
  d.page('/', async (ctx, _request, reply) => {
    const data = await loadOverview(d.services.db, d.services.sync.box, ctx.viewer.entity.id, ctx.now);
    return sendPage(reply, h(OverviewPage, { ctx, data }));
  });
}
